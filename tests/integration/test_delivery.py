"""The service's delivery pipeline, run here as far as github.com allows: the
CI workflow's lint and test commands, a dev container started by the Dev
Containers CLI, and the template-update workflow's steps, whose last one
(opening the pull request) runs as a dry run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from harness.docker import unique
from harness.proc import commit_all, git, init_repo, run
from harness.releases import clone_template
from harness.render import render
from harness.updates import make_service

CLI = Path(__file__).parent / "devcontainer"


def run_steps(workflow: Path, job: str) -> list[dict]:
    """The ``run:`` steps of ``job`` in ``workflow``, in order (``uses:``
    steps are what the runner provides: a checkout, uv)."""
    steps = yaml.safe_load(workflow.read_text())["jobs"][job]["steps"]
    return [step for step in steps if "run" in step]


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Path:
    """A default render, committed as CI checks it out (its `git diff` step needs git)."""
    path = render(tmp_path_factory.mktemp("delivery") / "service", tasks=True)
    init_repo(path, "Service from the template")
    return path


def test_ci_lint_and_test_jobs_pass_as_written(service, build_env):
    workflow = service / ".github/workflows/ci.yml"
    # WEB_PORT=0: `make up` (before api-fuzz) publishes on a free port.
    env = dict(build_env, COMPOSE_PROJECT_NAME=unique("ci"), WEB_PORT="0")
    ran = []
    try:
        for job in ("lint", "test"):
            for step in run_steps(workflow, job):
                if "if" in step:
                    continue  # only on failure
                run(
                    ["bash", "-eo", "pipefail", "-c", step["run"]],
                    cwd=service,
                    env=env,
                    timeout=1800,
                )
                ran.append(step["run"])
    finally:
        run(["docker", "compose", "down", "--volumes"], cwd=service, env=env, check=False)
    assert ran == [
        "make lint",
        "make test",
        "make test-production",
        'make makemigrations args="--check --dry-run"',
        "make check",
        "make api-schema && git diff --exit-code openapi.json",
        "make up && make api-fuzz",
    ]


@pytest.fixture(scope="module")
def devcontainer_cli(tmp_path_factory) -> Path:
    """The Dev Containers CLI from npm, exactly as package-lock.json pins it."""
    folder = tmp_path_factory.mktemp("devcontainer-cli")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(CLI / name, folder)
    run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=folder, timeout=600)
    return folder / "node_modules" / ".bin" / "devcontainer"


def test_devcontainer_starts_and_runs_the_tests(service, build_env, devcontainer_cli):
    env = dict(build_env, COMPOSE_PROJECT_NAME=unique("devcontainer"))
    workspace = ["--workspace-folder", str(service)]
    try:
        up = run([str(devcontainer_cli), "up", *workspace], env=env, timeout=1800)
        outcome = json.loads(up.stdout.strip().splitlines()[-1])
        assert outcome["outcome"] == "success" and outcome["remoteWorkspaceFolder"] == "/app"
        where = run(
            [
                str(devcontainer_cli),
                "exec",
                *workspace,
                "python",
                "-c",
                "import sys; print(sys.prefix)",
            ],
            env=env,
        ).stdout
        assert where.strip().endswith("/opt/venv")
        tests = run(
            [str(devcontainer_cli), "exec", *workspace, "pytest", "-q", "-p", "no:cacheprovider"],
            env=env,
            timeout=600,
        )
        assert re.search(r"\d+ passed", tests.stdout) and "failed" not in tests.stdout
    finally:
        project = outcome_project(service, env)
        run(
            ["docker", "compose", "--project-name", project, "down", "--volumes"],
            cwd=service,
            env=env,
            check=False,
        )


def outcome_project(service: Path, env: dict[str, str]) -> str:
    """The compose project the CLI used: COMPOSE_PROJECT_NAME when it honours
    it, else compose.yaml's own name."""
    listed = run(["docker", "compose", "ls", "--all", "--format", "json"], env=env).stdout
    names = {p["Name"] for p in json.loads(listed or "[]")}
    wanted = env["COMPOSE_PROJECT_NAME"]
    return (
        wanted
        if wanted in names
        else yaml.safe_load((service / "compose.yaml").read_text())["name"]
    )


def test_template_update_workflow_makes_one_commit_and_describes_the_release(tmp_path, build_env):
    template = clone_template(tmp_path / "template")
    git(template, "tag", "999.0.0")
    service = make_service(template, "999.0.0", tmp_path / "service")
    # The template's next release: a fix, and its CHANGELOG entry.
    makefile = template / "template" / "Makefile.jinja"
    makefile.write_text(makefile.read_text() + "# fixed in 999.0.1\n")
    changelog = template / "CHANGELOG.md"
    entry = "## 999.0.1\n\n- The Makefile gains a comment.\n\nNeeds a hand: nothing.\n\n"
    text = changelog.read_text()
    changelog.write_text(text.replace("## ", entry + "## ", 1))
    commit_all(template, "A fix")
    git(template, "tag", "999.0.1")

    runner_temp, summary = tmp_path / "runner", tmp_path / "summary.md"
    runner_temp.mkdir()
    env = dict(
        build_env,
        GITHUB_STEP_SUMMARY=str(summary),
        RUNNER_TEMP=str(runner_temp),
        DRY_RUN="1",
        GH_TOKEN="not-used-in-a-dry-run",
    )
    printed, produced = {}, {}  # stdout by step name; outputs by step id
    for index, step in enumerate(
        run_steps(service / ".github/workflows/template-update.yml", "update")
    ):
        if not holds(step.get("if", ""), produced):
            continue
        step_env = {
            k: re.sub(
                r"\$\{\{ steps\.(\w+)\.outputs\.([\w-]+) \}\}",
                lambda m: produced.get(m.group(1), {}).get(m.group(2), ""),
                str(v),
            )
            for k, v in step.get("env", {}).items()
            if "secrets." not in str(v)
        }
        outputs = runner_temp / f"outputs-{index}"
        outputs.touch()
        printed[step["name"]] = run(
            ["bash", "-eo", "pipefail", "-c", step["run"]],
            cwd=service,
            env=env | step_env | {"GITHUB_OUTPUT": str(outputs)},
            timeout=900,
        ).stdout
        lines = outputs.read_text().splitlines()
        produced[step.get("id", "")] = dict(line.split("=", 1) for line in lines)

    branch = "template-update/999.0.1"
    assert git(service, "rev-parse", "--abbrev-ref", "HEAD").strip() == branch
    assert git(service, "rev-list", "--count", f"main..{branch}").strip() == "1"
    changed = set(git(service, "diff", "--name-only", f"main..{branch}").split())
    assert {".copier-answers.yml", "Makefile"} <= changed
    assert git(service, "status", "--porcelain").strip() == ""
    body = printed["describe the release"]
    assert "Template release 999.0.1" in body and "- The Makefile gains a comment." in body
    assert "Conflicts" not in body
    # No GitHub App here: the run says so, and the pull request says CI has not run.
    assert "CI has not run" in body
    assert "TEMPLATE_UPDATE_APP_CLIENT_ID" in summary.read_text()
    assert printed["push the update branch"].startswith("Dry run")
    assert printed["open the pull request"].startswith("Dry run")


def holds(condition: str, produced: dict[str, dict[str, str]]) -> bool:
    """A step's ``if:`` as GitHub would decide it here: ``A == ''``/``A != ''``
    terms joined by ``&&``, step outputs as earlier steps wrote them, and no
    repository variables set (no GitHub App)."""
    for term in filter(None, (t.strip() for t in condition.split("&&"))):
        name, op = re.fullmatch(r"([\w.-]+) (==|!=) ''", term).groups()
        output = re.fullmatch(r"steps\.(\w+)\.outputs\.([\w-]+)", name)
        value = produced.get(output.group(1), {}).get(output.group(2), "") if output else ""
        if (value == "") != (op == "=="):
            return False
    return True
