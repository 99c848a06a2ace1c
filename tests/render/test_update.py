"""`copier update` from one release to the next, on a throwaway clone of this
template's committed HEAD (uncommitted template changes are not in it) that
the tests tag and commit in: the fix flows in, the team's edits stay, a
clash shows both sides, and a refused update changes nothing."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import pytest
import yaml

from harness.proc import commit_all, git, run
from harness.releases import clone_template
from harness.render import answers_of
from harness.updates import TEAM_FILES, make_service, problems, snapshot, team_edits, update


def ship_fix(template: Path, version: str) -> None:
    """Commit the kind of fix we ship (Dockerfile, compose, a dev dependency)
    to the template clone and tag it ``version``."""
    edits = {
        "template/Dockerfile.jinja": ("--interval=30s", "--interval=15s"),
        "template/compose.common.yaml.jinja": ("      retries: 5\n", "      retries: 10\n"),
        "template/pyproject.toml.jinja": (
            '    "pytest>=8",\n',
            '    "pytest>=8",\n    "pytest-xdist>=3",\n',
        ),
    }
    for name, (old, new) in edits.items():
        path = template / name
        assert old in path.read_text(), (name, old)
        path.write_text(path.read_text().replace(old, new, 1))
    commit_all(template, "Fix healthchecks; add pytest-xdist")
    git(template, "tag", version)


@pytest.fixture
def released(tmp_path, cpython):
    """A template clone tagged 1.0.0 at its HEAD, and a service made from it."""
    template = clone_template(tmp_path / "template", tag_releases=False)
    git(template, "tag", "1.0.0")
    return template, make_service(template, "1.0.0", tmp_path / "service")


@pytest.fixture
def clean_update(released):
    """The service, edited by the team, then updated with the CLI as the
    generated README gives it, to release 1.0.1."""
    template, service = released
    before = team_edits(service)
    ship_fix(template, "1.0.1")
    started = time.monotonic()
    run(["copier", "update", "--trust", "--defaults"], cwd=service)
    elapsed = time.monotonic() - started
    touched = sorted(line[3:] for line in git(service, "status", "--porcelain").splitlines())
    print(f"\ncopier update: {elapsed:.2f} s, {len(touched)} files touched: {touched}")
    return service, before, touched


def test_clean_update_brings_the_fix_and_keeps_every_team_edit(clean_update):
    service, before, touched = clean_update
    assert problems(service) == []
    assert touched == [
        ".copier-answers.yml",
        "Dockerfile",
        "compose.common.yaml",
        "pyproject.toml",
        "uv.lock",
    ]
    for name in ("ops/probes.py", "config/settings.py", *TEAM_FILES):
        assert (service / name).read_bytes() == before[name], name
    assert "--interval=15s" in (service / "Dockerfile").read_text()
    compose = yaml.safe_load((service / "compose.common.yaml").read_text())
    assert compose["services"]["db"]["healthcheck"]["retries"] == 10
    assert answers_of(service)["_commit"] == "1.0.1"


def test_clean_update_merges_pyproject_and_relocks(clean_update):
    service, _, _ = clean_update
    dev = tomllib.loads((service / "pyproject.toml").read_text())
    assert any(d.startswith("humanize>=") for d in dev["project"]["dependencies"])
    assert "pytest-xdist>=3" in dev["dependency-groups"]["dev"]
    locked = {p["name"] for p in tomllib.loads((service / "uv.lock").read_text())["package"]}
    assert {"humanize", "pytest-xdist"} <= locked
    run(["uv", "lock", "--check", "--offline"], cwd=service)


def test_conflicting_update_shows_both_sides_inline(released):
    template, service = released
    dockerfile = service / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("--interval=30s", "--interval=60s"))
    commit_all(service, "Probe less often")
    ship_fix(template, "1.0.1")

    update(service, vcs_ref=None)

    text = dockerfile.read_text()
    assert "<<<<<<< before updating" in text and ">>>>>>> after updating" in text
    assert "--interval=60s" in text and "--interval=15s" in text
    assert "UU Dockerfile" in git(service, "status", "--porcelain")
    assert not list(service.rglob("*.rej"))
    # problems() names the unmerged path and each of the three marker lines.
    found = problems(service)
    assert "UU Dockerfile" in found
    assert [line.split(": ", 1)[1] for line in found if line.startswith("Dockerfile:")] == [
        "Merge conflict string '<<<<<<<' found",
        "Merge conflict string '=======' found",
        "Merge conflict string '>>>>>>>' found",
    ]


def test_update_in_a_dirty_tree_is_refused_and_changes_nothing(released):
    template, service = released
    ship_fix(template, "1.0.1")
    (service / "config" / "settings.py").write_text("# work in progress\n", encoding="utf-8")
    before = snapshot(service)

    proc = run(["copier", "update", "--trust", "--defaults"], cwd=service, check=False)

    assert proc.returncode != 0
    assert "Destination repository is dirty" in proc.stderr
    assert snapshot(service) == before


def test_update_outside_a_service_is_refused_and_changes_nothing(tmp_path):
    project = tmp_path / "not-a-service"
    project.mkdir()
    (project / "app.py").write_text("print('hello')\n")
    git(project, "init", "--quiet")
    commit_all(project, "unrelated")
    before = snapshot(project)

    proc = run(["copier", "update", "--trust", "--defaults"], cwd=project, check=False)

    assert proc.returncode != 0
    assert proc.stderr.strip() == (
        "Cannot update because cannot obtain old template references from `.copier-answers.yml`."
    )
    assert snapshot(project) == before
