"""The development stack, brought up as the generated README says, answers
and passes its own test suite and lint inside `web`."""

from __future__ import annotations

import pytest

from conftest import compose_project
from dockerlib import free_port, run, wait_for_status, web_exec

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def stack(rendered, docker_env):
    """`make up` (the generated README's command) in the render; `down -v` afterwards."""
    name, answers, path = rendered
    port = free_port()
    env = dict(docker_env, COMPOSE_PROJECT_NAME=compose_project(name), WEB_PORT=str(port))
    try:
        run(["make", "up"], cwd=path, env=env, timeout=1800)
        yield {"path": path, "env": env, "url": f"http://127.0.0.1:{port}", "answers": answers}
    finally:
        run(["docker", "compose", "down", "--volumes"], cwd=path, env=env, check=False)


def test_readyz_answers_200(stack):
    assert wait_for_status(stack["url"] + "/readyz", within=30) == {"status": "ready"}


def test_migrations_are_applied_by_the_time_web_answers(stack):
    web_exec(stack["path"], stack["env"], "python", "manage.py", "migrate", "--check")


def test_generated_test_suite_passes_inside_web(stack):
    proc = run(["make", "test", "args=-q -p no:cacheprovider"], cwd=stack["path"], env=stack["env"])
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_generated_lint_passes_inside_web(stack):
    run(["make", "lint"], cwd=stack["path"], env=stack["env"])


def test_web_runs_the_interpreter_the_render_asked_for(stack):
    version = stack["answers"].get("python_version", "3.13")
    code = "import sys; print(sys.prefix, sys.version)"
    out = web_exec(stack["path"], stack["env"], "python", "-c", code)
    assert out.startswith(f"/opt/venv {version}.")
