"""README.md's first command works as written, from a clone of this repository."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT, compose_project
from dockerlib import free_port, run, wait_for_status

pytestmark = pytest.mark.docker


def readme_commands() -> list[str]:
    """The commands of README.md's first code block, comments stripped."""
    block = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line]


def test_readme_gives_two_commands_the_second_is_ci_s():
    commands = readme_commands()
    assert len(commands) == 2
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert commands[1] in ci_lines


def test_first_command_generates_a_service_that_answers(tmp_path, docker_env):
    clone = tmp_path / "template"
    run(["git", "clone", "--quiet", str(ROOT), str(clone)])
    port = free_port()
    env = dict(docker_env, WEB_PORT=str(port), COMPOSE_PROJECT_NAME=compose_project("readme"))
    service = tmp_path / "my_service"
    try:
        run(["bash", "-ec", readme_commands()[0]], cwd=clone, env=env, timeout=1800)
        assert wait_for_status(f"http://127.0.0.1:{port}/readyz", within=30) == {"status": "ready"}
    finally:
        if service.exists():
            run(["docker", "compose", "down", "--volumes"], cwd=service, env=env, check=False)
