"""README.md's path, as a newcomer walks it from a clone of this repository:
the first command makes a service and runs it; later, the service's own
`copier update` (README's command) takes the template's next release."""

from __future__ import annotations

from harness.docker import compose_client, unique
from harness.http import wait_for_status
from harness.proc import commit_all, git, init_repo, run
from harness.readme import commands
from harness.releases import clone_template
from harness.render import answers_of

# Newer than any real release, so the copy (newest tag) renders the commit under test.
UNDER_TEST, NEXT = "999.0.0", "999.0.1"


def test_first_command_runs_a_service_that_its_update_command_updates(tmp_path, build_env):
    template = clone_template(tmp_path / "template")
    git(template, "tag", UNDER_TEST)
    service = tmp_path / "my_service"
    env = dict(build_env, WEB_PORT="0", COMPOSE_PROJECT_NAME=unique("readme"))
    try:
        run(["bash", "-ec", commands("README.md")[0]], cwd=template, env=env, timeout=1800)
        url = f"http://127.0.0.1:{compose_client(service, env).compose.port('web', 8000)[1]}"
        assert wait_for_status(url + "/readyz", within=30) == {"status": "ready"}
    finally:
        compose_client(service, env).compose.down(volumes=True)
    # The commit under test, whichever of its tags copier recorded.
    recorded = answers_of(service)["_commit"]
    assert git(template, "rev-parse", f"{recorded}^{{commit}}") == git(
        template, "rev-parse", "HEAD"
    )

    # The team commits its service; the template moves on by a commit and a release.
    init_repo(service, "Service from the template")
    makefile = template / "template" / "Makefile.jinja"
    makefile.write_text(makefile.read_text() + "# a fix from the next release\n")
    commit_all(template, "A fix")
    git(template, "tag", NEXT)
    update = commands("README.md", "## Updating a service")[0]
    run(["bash", "-ec", update], cwd=service, env=env, timeout=600)

    assert answers_of(service)["_commit"] == NEXT
    assert (service / "Makefile").read_text().endswith("# a fix from the next release\n")
