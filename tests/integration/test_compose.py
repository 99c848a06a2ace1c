"""The development stack, brought up as the generated README says, answers
and passes its own test suite and lint inside `web`."""

from __future__ import annotations

import pytest

from harness.docker import compose_client, unique
from harness.http import wait_for_status
from harness.proc import run
from harness.render import answers_of


@pytest.fixture(scope="module")
def stack(variant, build_env):
    """`make up` (the generated README's command) in the render; `down -v` afterwards.

    WEB_PORT=0 lets Docker choose the loopback port; the test asks compose which.
    """
    name, path = variant
    env = dict(build_env, COMPOSE_PROJECT_NAME=unique(name), WEB_PORT="0")
    try:
        run(["make", "up"], cwd=path, env=env, timeout=1800)
        client = compose_client(path, env)
        url = f"http://127.0.0.1:{client.compose.port('web', 8000)[1]}"
        answers = answers_of(path)
        yield {"path": path, "env": env, "url": url, "answers": answers, "client": client}
    finally:
        compose_client(path, env).compose.down(volumes=True)


def test_readyz_answers_200(stack):
    assert wait_for_status(stack["url"] + "/readyz", within=30) == {"status": "ready"}


def test_migrations_are_applied_by_the_time_web_answers(stack):
    stack["client"].compose.execute("web", ["python", "manage.py", "migrate", "--check"], tty=False)


def test_generated_test_suite_passes_inside_web(stack):
    proc = run(["make", "test", "args=-q -p no:cacheprovider"], cwd=stack["path"], env=stack["env"])
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_generated_lint_passes_inside_web(stack):
    run(["make", "lint"], cwd=stack["path"], env=stack["env"])


def test_web_runs_the_interpreter_the_render_asked_for(stack):
    version = stack["answers"]["python_version"]
    code = "import sys; print(sys.prefix, sys.version)"
    out = stack["client"].compose.execute("web", ["python", "-c", code], tty=False)
    assert out.startswith(f"/opt/venv {version}.")
