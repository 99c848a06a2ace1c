"""The service's delivery pipeline as every render ships it: workflows pinned,
least-privilege and lint clean, dependabot and pre-commit valid, and
pre-commit passing on a fresh render. The integration tier runs the
workflows' commands; this tier checks what can be checked without Docker."""

from __future__ import annotations

import base64
import fnmatch
import os
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from harness.proc import init_repo, run
from harness.render import answers_of, distinct
from harness.workflows import problems, steps

WORKFLOWS = (".github/workflows/ci.yml", ".github/workflows/template-update.yml")
UPDATE = ".github/workflows/template-update.yml"
APP = "vars.TEMPLATE_UPDATE_APP_CLIENT_ID"


@pytest.fixture(scope="module")
def fresh(renders, tmp_path_factory) -> Path:
    """A default render, committed to git as a team's first commit."""
    _, service = renders["defaults"]
    repo = tmp_path_factory.mktemp("fresh") / "service"
    shutil.copytree(service, repo)
    init_repo(repo, "Service from the template")
    return repo


def test_workflows_are_pinned_least_privilege_and_lint_clean(renders, fresh):
    for name in WORKFLOWS:
        # One check per distinct file; a copy in the git repo actionlint needs.
        for key, workflow in distinct(renders, name).items():
            shutil.copy(workflow, fresh / name)
            assert problems([fresh / name], fresh) == [], (key, name)
    run(["git", "checkout", "--", "."], cwd=fresh)


def test_dependabot_covers_every_ecosystem_and_validates(renders):
    for key, config in distinct(renders, ".github/dependabot.yml").items():
        run(["check-jsonschema", "--builtin-schema", "vendor.dependabot", str(config)])
        # zizmor audits dependabot too (cooldowns).
        run(["zizmor", "--offline", "--no-progress", str(config.parent)])
        updates = yaml.safe_load(config.read_text())["updates"]
        ecosystems = {update["package-ecosystem"] for update in updates}
        assert ecosystems == {"uv", "docker", "docker-compose", "github-actions"}, key
        assert all(update.get("groups") for update in updates), key


def test_dependabot_never_proposes_a_major_of_the_compose_services(renders):
    """postgres 17 to 18 leaves the data volume unreadable; such a bump must
    be a person's decision, never part of the weekly group."""
    for key, config in distinct(renders, ".github/dependabot.yml").items():
        compose = next(u for u in yaml.safe_load(config.read_text())["updates"]
                       if u["package-ecosystem"] == "docker-compose")  # fmt: skip
        major = "version-update:semver-major"
        # A rule with no update-types ignores every bump, majors included.
        held = [rule["dependency-name"] for rule in compose.get("ignore", [])
                if major in rule.get("update-types", [major])]  # fmt: skip
        for image in ("postgres", "redis", "caddy"):
            assert any(fnmatch.fnmatch(image, name) for name in held), (key, image)
    # The names held are the ones the compose files use.
    used = set()
    for _, service in renders.values():
        for name in ("compose.yaml", "compose.production.yaml"):
            if (service / name).exists():
                for spec in yaml.safe_load((service / name).read_text())["services"].values():
                    used.add(str(spec.get("image", "")).split(":")[0])
    assert {"postgres", "redis", "caddy"} <= used


def update_step(service: Path, match) -> tuple[int, dict]:
    """Index and body of the one template-update step ``match`` accepts."""
    found = [(i, s) for i, s in enumerate(steps(service / UPDATE, "update")) if match(s)]
    assert len(found) == 1, found
    return found[0]


def copier_step(step: dict) -> bool:
    """The step that runs ``copier update`` (and with it the template's code)."""
    return re.search(r"^uvx copier@\S+ update ", step.get("run", ""), re.MULTILINE) is not None


def test_template_update_runs_copier_with_no_credential_in_reach(fresh):
    """copier --trust runs the template's migrations: nothing it runs may find
    a token in .git/config or in its environment, so tokens appear only later."""
    all_steps = steps(fresh / UPDATE, "update")
    at, _ = update_step(fresh, copier_step)
    checkout = next(s for s in all_steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["persist-credentials"] is False
    assert "env" not in yaml.safe_load((fresh / UPDATE).read_text())["jobs"]["update"]
    for step in all_steps[: at + 1]:
        text = yaml.safe_dump(step)
        for token in ("secrets.", "github.token", "outputs.token", "extraheader", "credential."):
            assert token not in text, (token, step)
        assert "token" not in step.get("with", {}), step
    # Nothing after copier writes a token into the repository's config either.
    for step in all_steps[at + 1 :]:
        assert "git config" not in step.get("run", "") or "extraheader" not in step["run"], step
    assert "zizmor: ignore" not in (fresh / UPDATE).read_text()


class Recorder(BaseHTTPRequestHandler):
    """A git remote that records each request's Authorization and refuses it."""

    seen: list[str | None] = []

    def do_GET(self):
        Recorder.seen.append(self.headers.get("Authorization"))
        self.send_response(403)
        self.end_headers()

    def log_message(self, *args):
        pass


def push_step_run(fresh, tmp_path, app_slug: str, token: str, workflows: str):
    """Run the push step in a clone of ``fresh`` whose origin is a recorder;
    returns the process, the Authorization headers sent, the summary."""
    _, push = update_step(fresh, lambda s: s.get("name") == "push the update branch")
    repo, runner = tmp_path / "repo", tmp_path / "runner"
    runner.mkdir()
    run(["git", "clone", "--quiet", str(fresh), str(repo)])
    run(["git", "switch", "--quiet", "-c", "template-update/9.9.9"], cwd=repo)
    (runner / "workflows").write_text(workflows)
    server = HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    run(["git", "remote", "set-url", "origin", f"{url}/acme/service.git"], cwd=repo)
    Recorder.seen = []
    summary = runner / "summary.md"
    env = dict(os.environ, GITHUB_SERVER_URL=url, RUNNER_TEMP=str(runner), GIT_TERMINAL_PROMPT="0",
               GITHUB_STEP_SUMMARY=str(summary), GH_TOKEN=token, VERSION="9.9.9",
               APP_SLUG=app_slug)  # fmt: skip
    env.pop("DRY_RUN", None)
    try:
        proc = run(["bash", "-eo", "pipefail", "-c", push["run"]], cwd=repo, env=env, check=False)
    finally:
        server.shutdown()
    config = (repo / ".git" / "config").read_text()
    assert token not in config and "extraheader" not in config, config
    return proc, list(Recorder.seen), summary.read_text() if summary.exists() else ""


def test_template_update_pushes_with_the_app_token_when_one_is_configured(fresh, tmp_path):
    """Only an App's token may push workflow changes and start CI, so when
    the App is configured its token is the one git and gh present."""
    _, app = update_step(fresh, lambda s: s.get("id") == "app")
    at, _ = update_step(fresh, copier_step)
    assert update_step(fresh, lambda s: s.get("id") == "app")[0] > at
    assert app["uses"].startswith("actions/create-github-app-token@")
    assert f"{APP} != ''" in app["if"]
    assert app["with"]["client-id"] == "${{ vars.TEMPLATE_UPDATE_APP_CLIENT_ID }}"
    assert app["with"]["private-key"] == "${{ secrets.TEMPLATE_UPDATE_APP_PRIVATE_KEY }}"
    assert {k: v for k, v in app["with"].items() if k.startswith("permission-")} == {
        "permission-contents": "write",
        "permission-pull-requests": "write",
        "permission-workflows": "write",
    }
    for name in ("push the update branch", "open the pull request"):
        _, step = update_step(fresh, lambda s, name=name: s.get("name") == name)
        assert step["env"]["GH_TOKEN"] == "${{ steps.app.outputs.token || secrets.GITHUB_TOKEN }}"

    proc, seen, _ = push_step_run(fresh, tmp_path, "acme-template-updates", "ghs_apptoken",
                                  ".github/workflows/ci.yml\n")  # fmt: skip
    assert proc.returncode != 0  # the recorder refuses every push
    expected = base64.b64encode(b"x-access-token:ghs_apptoken").decode()
    assert seen and all(header == f"basic {expected}" for header in seen), seen


def test_template_update_without_an_app_warns_and_refuses_workflow_changes(fresh, tmp_path):
    """Without the App the run must say what it cannot do and how to fix it,
    and a release changing workflows fails it instead of a refused push."""
    at, warn = update_step(fresh, lambda s: APP in str(s.get("if", "")) and "run" in s)
    assert warn["if"] == f"{APP} == ''"
    assert at < update_step(fresh, copier_step)[0]  # a failed update still warns
    summary = tmp_path / "summary.md"
    proc = run(["bash", "-eo", "pipefail", "-c", warn["run"]], cwd=fresh,
               env=dict(os.environ, GITHUB_STEP_SUMMARY=str(summary)))  # fmt: skip
    assert proc.stdout.startswith("::warning")
    for text in (proc.stdout, summary.read_text()):
        assert ".github/workflows/" in text and "no CI" in text
    written = summary.read_text()
    for needed in ("TEMPLATE_UPDATE_APP_CLIENT_ID", "TEMPLATE_UPDATE_APP_PRIVATE_KEY",
                   "Contents: read and write", "Pull requests: read and write",
                   "Workflows: read and write"):  # fmt: skip
        assert needed in written, needed

    proc, seen, summary_text = push_step_run(fresh, tmp_path, "", "ghs_jobtoken",
                                             ".github/workflows/ci.yml\n")  # fmt: skip
    assert proc.returncode == 1 and seen == []
    assert "::error" in proc.stdout and ".github/workflows/ci.yml" in proc.stdout
    assert ".github/workflows/ci.yml" in summary_text


def test_template_update_without_an_app_still_pushes_other_changes(fresh, tmp_path):
    proc, seen, _ = push_step_run(fresh, tmp_path, "", "ghs_jobtoken", "")
    expected = base64.b64encode(b"x-access-token:ghs_jobtoken").decode()
    assert seen and all(header == f"basic {expected}" for header in seen), (seen, proc.stderr)


def test_template_update_pins_the_uv_the_service_pins(fresh, tmp_path):
    """An unpinned uv is whatever release came out last: uv.lock is re-locked
    after an update by the uv the service's Dockerfile names instead."""
    _, setup = update_step(fresh, lambda s: s.get("uses", "").startswith("astral-sh/setup-uv@"))
    assert setup["with"]["version"] == "${{ steps.uv.outputs.version }}"
    _, read = update_step(fresh, lambda s: s.get("id") == "uv")
    outputs = tmp_path / "outputs"
    for answers, expected in (
        ((fresh / ".copier-answers.yml").read_text(), answers_of(fresh)["uv_version"]),
        ("_commit: 1.0.0\nuv_version: '0.99.1'\n", "0.99.1"),
    ):
        (tmp_path / ".copier-answers.yml").write_text(answers)
        outputs.write_text("")
        run(["bash", "-eo", "pipefail", "-c", read["run"]], cwd=tmp_path,
            env=dict(os.environ, GITHUB_OUTPUT=str(outputs)))  # fmt: skip
        assert outputs.read_text() == f"version={expected}\n"
    assert f"ARG UV_IMAGE=ghcr.io/astral-sh/uv:{answers_of(fresh)['uv_version']}\n" in (
        (fresh / "Dockerfile").read_text()
    )
    # No answer recorded: the run fails rather than fall back to the newest uv.
    (tmp_path / ".copier-answers.yml").write_text("_commit: 1.0.0\n")
    proc = run(["bash", "-eo", "pipefail", "-c", read["run"]], cwd=tmp_path, check=False,
               env=dict(os.environ, GITHUB_OUTPUT=str(outputs)))  # fmt: skip
    assert proc.returncode != 0 and "::error" in proc.stdout


def test_ci_runs_the_make_targets_a_developer_runs(rendered):
    _, service = rendered
    ci = yaml.safe_load((service / ".github/workflows/ci.yml").read_text())
    commands = {step["run"] for job in ("lint", "test") for step in ci["jobs"][job]["steps"]
                if "run" in step}  # fmt: skip
    targets = {cmd.split()[1] for cmd in commands if cmd.startswith("make ")}
    makefile = (service / "Makefile").read_text()
    assert commands and all(cmd.startswith("make ") for cmd in commands)
    assert all(f"\n{target}:" in makefile for target in targets)
    assert {"lint", "test", "makemigrations", "check"} <= targets
    image = ci["jobs"]["image"]
    assert image["permissions"] == {"contents": "read", "packages": "write"}
    build = next(s for s in image["steps"] if s.get("uses", "").startswith("docker/build-push"))
    assert build["with"]["sbom"] is True and build["with"]["provenance"] == "mode=max"
    assert all("timeout-minutes" in job for job in ci["jobs"].values())


def test_pre_commit_config_is_valid_and_passes_on_a_fresh_render(fresh):
    run(["pre-commit", "validate-config"], cwd=fresh)
    proc = run(["pre-commit", "run", "--all-files", "--show-diff-on-failure"], cwd=fresh,
               check=False, timeout=900)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_devcontainer_runs_in_the_dev_stack(rendered):
    _, service = rendered
    text = (service / ".devcontainer/devcontainer.json").read_text()
    # JSON with comments: drop them, as the Dev Containers spec allows.
    config = yaml.safe_load("\n".join(line.split("//")[0] if line.lstrip().startswith("//")
                                      else line for line in text.splitlines()))  # fmt: skip
    compose = yaml.safe_load((service / "compose.yaml").read_text())
    assert config["service"] in compose["services"]
    assert config["workspaceFolder"] == "/app"
    assert config["customizations"]["vscode"]["settings"]["python.defaultInterpreterPath"] == (
        "/opt/venv/bin/python"
    )
    assert "features" not in config
