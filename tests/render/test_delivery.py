"""The service's delivery pipeline as every render ships it: workflows pinned,
least-privilege and lint clean, dependabot and pre-commit valid, and
pre-commit passing on a fresh render. The integration tier runs the
workflows' commands; this tier checks what can be checked without Docker."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from harness.proc import init_repo, run
from harness.render import distinct
from harness.workflows import problems

WORKFLOWS = (".github/workflows/ci.yml", ".github/workflows/template-update.yml")


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
