"""`copier update` as a team lives it: a service made from an earlier
release, edited by the team, then updated to a release that fixes the
Dockerfile and compose file. Every step runs on a throwaway clone of this
template's committed HEAD (uncommitted template changes are not in it, unlike
in the other tests' renders), so the test can tag and commit freely.

Relies on copier's documented update: it needs the service in git with a
clean tree, an answers file with ``_commit``, and PEP 440 tags on the
template; it exits 0 even when conflicts remain, so the tests look for
markers, ``.rej`` files and unmerged paths themselves."""

from __future__ import annotations

import re
import time
from pathlib import Path

import copier
import pytest
from packaging.version import Version

from conftest import ROOT, environment
from dockerlib import run

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
}
# One line of each edit team_edits makes to a file the template ships.
TEAM_LINES = {
    "config/health.py": 'JsonResponse({"status": "ok", "team": "billing"})',
    "config/settings.py": 'INVOICE_PREFIX = env.str("INVOICE_PREFIX", default="INV")\n',
    "pyproject.toml": '"humanize>=',
}
RELEASE_SUBJECT = re.compile(r"^Release (\d+\.\d+\.\d+)$")
MARKERS = re.compile(rb"^(<<<<<<< |>>>>>>> )", re.MULTILINE)


@pytest.fixture(scope="module")
def env(docker_env):
    """The prepared machine's environment plus a git identity for commits.

    Copier's tasks and migrations (uv lock) inherit it from os.environ.
    """
    merged = dict(docker_env, **GIT_IDENTITY)
    with environment(merged):
        yield merged


def git(cwd: Path, *args: str) -> str:
    return run(["git", *args], cwd=cwd).stdout


def releases() -> list[tuple[str, str]]:
    """This repository's releases as ``(version, commit)``, oldest first.

    A release is a commit whose subject is ``Release X.Y.Z`` (and is tagged
    X.Y.Z); the subject is what a clone without tags still carries.
    """
    log = git(ROOT, "log", "--reverse", "--format=%H %s")
    found = []
    for line in log.splitlines():
        commit, _, subject = line.partition(" ")
        match = RELEASE_SUBJECT.match(subject)
        if match:
            found.append((match.group(1), commit))
    return found


def clone_template(dst: Path, tag_releases: bool = True) -> Path:
    """Clone this repository's HEAD to ``dst``, tags only on its releases."""
    run(["git", "clone", "--quiet", "--no-tags", str(ROOT), str(dst)])
    if tag_releases:
        for version, commit in releases():
            git(dst, "tag", version, commit)
    return dst


def make_service(template: Path, ref: str, dst: Path) -> Path:
    """Render ``template`` at ``ref`` into ``dst`` and commit it as a team would."""
    copier.run_copy(str(template), str(dst), vcs_ref=ref, defaults=True, unsafe=True, quiet=True)
    git(dst, "init", "--quiet", "--initial-branch=main")
    git(dst, "add", "--all")
    git(dst, "commit", "--quiet", "--message", "Service from the template")
    return dst


def team_edits(service: Path) -> dict[str, bytes]:
    """Make the edits a team makes, commit them; return each file's bytes."""
    run(["uv", "add", "--quiet", "humanize"], cwd=service)
    health = service / "config" / "health.py"
    health.write_text(
        health.read_text().replace(
            'JsonResponse({"status": "ok"})', 'JsonResponse({"status": "ok", "team": "billing"})'
        )
    )
    settings = service / "config" / "settings.py"
    settings.write_text(
        settings.read_text().replace('    "notes",\n', '    "notes",\n    "billing",\n')
        + '\nINVOICE_PREFIX = env.str("INVOICE_PREFIX", default="INV")\n'
    )
    app = service / "billing"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "apps.py").write_text(
        "from django.apps import AppConfig\n\n\n"
        'class BillingConfig(AppConfig):\n    name = "billing"\n'
    )
    gunicorn = service / "config" / "gunicorn.py"  # where releases before 0.2.0 put it
    if gunicorn.exists():
        tuned = gunicorn.read_text().replace("timeout = 30\n", "timeout = 60\n")
        assert "timeout = 60\n" in tuned
        gunicorn.write_text(tuned)
    git(service, "add", "--all")
    git(service, "commit", "--quiet", "--message", "Team work")
    edited = [
        "pyproject.toml",
        "uv.lock",
        "config/health.py",
        "config/settings.py",
        "billing/__init__.py",
        "billing/apps.py",
    ]
    return {name: (service / name).read_bytes() for name in edited}


def ship_fix(template: Path, version: str) -> None:
    """Commit the kind of fix we ship (Dockerfile, compose, a dev dependency)
    to the template clone and tag it ``version``."""
    dockerfile = template / "template" / "Dockerfile.jinja"
    text = dockerfile.read_text()
    assert "--interval=30s" in text
    dockerfile.write_text(text.replace("--interval=30s", "--interval=15s"))
    compose = template / "template" / "compose.yaml.jinja"
    text = compose.read_text()
    assert "      retries: 5\n" in text
    compose.write_text(text.replace("      retries: 5\n", "      retries: 10\n"))
    pyproject = template / "template" / "pyproject.toml.jinja"
    text = pyproject.read_text()
    assert '    "pytest>=8",\n' in text
    pyproject.write_text(
        text.replace('    "pytest>=8",\n', '    "pytest>=8",\n    "pytest-xdist>=3",\n')
    )
    git(template, "commit", "--quiet", "--all", "--message", "Fix healthchecks; add pytest-xdist")
    git(template, "tag", version)


def update_to_head(service: Path) -> None:
    """`copier update` to the template clone's HEAD, as the API runs it."""
    copier.run_update(str(service), vcs_ref="HEAD", defaults=True, overwrite=True,
                      unsafe=True, conflict="inline", quiet=True)  # fmt: skip


def unmerged_or_rejected(service: Path) -> list[str]:
    """Paths git reports unmerged, ``.rej`` files, and files with conflict markers."""
    status = git(service, "status", "--porcelain", "--ignored", "--untracked-files=all")
    problems = [line for line in status.splitlines() if line[:2] in {"UU", "AA", "DU", "UD"}]
    problems += [str(p) for p in service.rglob("*.rej")]
    for path in service.rglob("*"):
        skipped = {".git", ".venv"} & set(path.relative_to(service).parts)
        if path.is_file() and not skipped and MARKERS.search(path.read_bytes()):
            problems.append(f"markers in {path.relative_to(service)}")
    return problems


@pytest.fixture(scope="module")
def clean_update(tmp_path_factory, env):
    """A service from release 1.0.0, edited, then `copier update` to 1.0.1."""
    base = tmp_path_factory.mktemp("clean-update")
    template = clone_template(base / "template", tag_releases=False)
    git(template, "tag", "1.0.0")
    service = make_service(template, "1.0.0", base / "service")
    before = team_edits(service)
    ship_fix(template, "1.0.1")
    started = time.monotonic()
    # The CLI, exactly as the generated README gives it.
    proc = run(["copier", "update", "--trust", "--defaults"], cwd=service, env=env)
    elapsed = time.monotonic() - started
    touched = sorted(git(service, "status", "--porcelain").splitlines())
    print(f"\ncopier update: {elapsed:.2f} s, {len(touched)} files touched: {touched}")
    return {"service": service, "before": before, "touched": touched, "output": proc}


def test_clean_update_leaves_no_conflict(clean_update):
    assert unmerged_or_rejected(clean_update["service"]) == []


def test_clean_update_keeps_every_team_edit_byte_for_byte(clean_update):
    service = clean_update["service"]
    for name, content in clean_update["before"].items():
        if name in {"pyproject.toml", "uv.lock"}:
            continue  # the template's new dev dependency merges in; checked below
        assert (service / name).read_bytes() == content, name


def test_clean_update_brings_the_template_fix(clean_update):
    service = clean_update["service"]
    assert "--interval=15s" in (service / "Dockerfile").read_text()
    assert "      retries: 10\n" in (service / "compose.yaml").read_text()
    answers = (service / ".copier-answers.yml").read_text()
    assert "_commit: 1.0.1\n" in answers


def test_clean_update_merges_pyproject_and_relocks(clean_update):
    service = clean_update["service"]
    pyproject = (service / "pyproject.toml").read_text()
    assert '"humanize>=' in pyproject and '"pytest-xdist>=3"' in pyproject
    lock = (service / "uv.lock").read_text()
    assert 'name = "humanize"' in lock and 'name = "pytest-xdist"' in lock
    run(["uv", "sync", "--locked"], cwd=service)


def test_clean_update_touches_only_what_changed(clean_update):
    touched = {line[3:] for line in clean_update["touched"]}
    assert touched == {
        ".copier-answers.yml",
        "Dockerfile",
        "compose.yaml",
        "pyproject.toml",
        "uv.lock",
    }


@pytest.mark.docker
def test_production_image_still_builds_after_update(clean_update, env):
    run(
        ["make", "image", "IMAGE=tt-updated:latest"],
        cwd=clean_update["service"],
        env=env,
        timeout=1800,
    )


def test_conflicting_update_shows_both_sides_inline(tmp_path, env):
    template = clone_template(tmp_path / "template", tag_releases=False)
    git(template, "tag", "1.0.0")
    service = make_service(template, "1.0.0", tmp_path / "service")
    dockerfile = service / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("--interval=30s", "--interval=60s"))
    git(service, "commit", "--quiet", "--all", "--message", "Probe less often")
    ship_fix(template, "1.0.1")

    copier.run_update(
        str(service), defaults=True, overwrite=True, unsafe=True, conflict="inline", quiet=True
    )

    text = dockerfile.read_text()
    assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text
    assert "--interval=60s" in text and "--interval=15s" in text
    status = git(service, "status", "--porcelain")
    assert "UU Dockerfile" in status
    assert not list(service.rglob("*.rej"))


RELEASES = releases()


@pytest.fixture(scope="module", params=[version for version, _ in RELEASES] or ["none"])
def updated_from_release(request, tmp_path_factory, env):
    """A service from each past release, edited by the team, updated to HEAD."""
    assert RELEASES, "no 'Release X.Y.Z' commit in this repository's history"
    release = request.param
    base = tmp_path_factory.mktemp(f"from-{release}")
    template = clone_template(base / "template")
    service = make_service(template, release, base / "service")
    before = team_edits(service)
    update_to_head(service)
    return release, service, before


def test_update_from_every_release_to_head(updated_from_release):
    release, service, before = updated_from_release
    assert unmerged_or_rejected(service) == []
    # Files the template also changed since that release merge both sides, so
    # the team's own lines are checked there; its new files must be untouched.
    for name in ("billing/__init__.py", "billing/apps.py"):
        assert (service / name).read_bytes() == before[name], name
    for name, line in TEAM_LINES.items():
        assert line in (service / name).read_text(), (name, line)
    run(["uv", "sync", "--locked"], cwd=service)
    # 0.2.0's migration: the team's edited gunicorn settings moved with the file.
    assert not (service / "config" / "gunicorn.py").exists()
    if Version(release) < Version("0.2.0"):
        assert "timeout = 60\n" in (service / "gunicorn.conf.py").read_text()


@pytest.mark.docker
def test_image_builds_after_update_from_every_release(updated_from_release, env):
    release, service, _ = updated_from_release
    # The build's own smoke test imports the project and runs check --deploy.
    run(["make", "image", f"IMAGE=tt-from-{release}:latest"], cwd=service, env=env, timeout=1800)


def test_unedited_gunicorn_settings_take_the_template_file(tmp_path, env):
    template = clone_template(tmp_path / "template")
    service = make_service(template, "0.1.0", tmp_path / "service")

    update_to_head(service)

    shipped = (template / "template" / "gunicorn.conf.py").read_bytes()
    assert (service / "gunicorn.conf.py").read_bytes() == shipped
    assert not (service / "config" / "gunicorn.py").exists()
    assert unmerged_or_rejected(service) == []


def test_update_in_a_dirty_tree_is_refused_and_changes_nothing(tmp_path, env):
    template = clone_template(tmp_path / "template", tag_releases=False)
    git(template, "tag", "1.0.0")
    service = make_service(template, "1.0.0", tmp_path / "service")
    ship_fix(template, "1.0.1")
    (service / "config" / "settings.py").write_text("# work in progress\n", encoding="utf-8")
    snapshot = _snapshot(service)

    proc = run(["copier", "update", "--trust", "--defaults"], cwd=service, check=False)

    assert proc.returncode != 0
    assert "dirty" in (proc.stdout + proc.stderr).lower()
    assert _snapshot(service) == snapshot


def test_update_outside_a_service_is_refused_and_changes_nothing(tmp_path, env):
    project = tmp_path / "not-a-service"
    project.mkdir()
    (project / "app.py").write_text("print('hello')\n")
    git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "--message", "unrelated")
    snapshot = _snapshot(project)

    proc = run(["copier", "update", "--trust", "--defaults"], cwd=project, check=False)

    assert proc.returncode != 0
    assert (
        "answers" in (proc.stdout + proc.stderr).lower()
        or "template" in (proc.stdout + proc.stderr).lower()
    )
    assert _snapshot(project) == snapshot


def _snapshot(tree: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(tree)): p.read_bytes()
        for p in tree.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(tree).parts
    }
