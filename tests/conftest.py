"""Fixtures shared by the template's tests: rendering and Docker access.

Renders go through copier's Python API from this checkout's HEAD plus any
uncommitted change (copier's documented behaviour for ``vcs_ref="HEAD"``).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import copier
import pytest

from dockerlib import prepared_env

ROOT = Path(__file__).resolve().parent.parent

# Every non-default answer appears in ALTERNATE at least once, but for
# postgres_version 16: Debian packages no PostgreSQL 16 to build a stand-in
# from, so 16 is rendered only by test_questions' choice check.
VARIANTS: dict[str, dict[str, object]] = {
    "defaults": {},
    "alternate": {
        "project_name": "Billing-API",
        "description": "Bills customers",
        "python_version": "3.14",
        "postgres_version": 15,
        "redis_version": 7,
        "uv_version": "0.13.8",
        "runtime_uv": False,
    },
}


def render(dst: Path, skip_tasks: bool = False, **answers: object) -> Path:
    """Render the template into ``dst`` with ``answers`` over the defaults.

    Takes: a destination folder (created if missing), whether to skip the copy
    task (``uv lock``, which needs an interpreter for .python-version), and
    question answers.
    Returns: ``dst``. Raises: whatever ``copier.run_copy`` raises, e.g.
    ``ValueError`` for an answer a validator refuses.
    Relies on: copier running ``_tasks`` (``uv lock``) when ``unsafe=True``.
    """
    copier.run_copy(
        str(ROOT),
        str(dst),
        data=answers,
        defaults=True,
        unsafe=True,
        quiet=True,
        vcs_ref="HEAD",
        skip_tasks=skip_tasks,
    )
    return dst


@pytest.fixture(scope="session", params=list(VARIANTS))
def rendered(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    docker_env: dict[str, str],
):
    """A rendered service per variant, made once per session.

    The copy task ``uv lock`` needs an interpreter for .python-version; uv
    downloads one on a connected machine, and here finds prepare's stand-in
    CPython through the environment ``docker_env`` carries.
    Returns: ``(variant name, answers, path)``.
    """
    name = request.param
    answers = VARIANTS[name]
    with environment(docker_env):
        path = render(tmp_path_factory.mktemp(name) / "service", **answers)
    return name, answers, path


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Set ``env`` in ``os.environ`` for the block (copier's tasks inherit it)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield


@pytest.fixture(scope="session")
def docker_env() -> dict[str, str]:
    """The environment a rendered project's builds need on this machine.

    Runs ``tests/docker/prepare`` (idempotent: seconds on a warm machine),
    which starts an engine and provides stand-in images when no registry
    answers, and merges the ``KEY=value`` lines it prints into ``os.environ``.
    Fails (never skips) when Docker cannot be made ready.
    """
    try:
        env = prepared_env()
    except RuntimeError as error:
        pytest.fail(str(error))
    if shutil.which("docker", path=env.get("PATH")) is None:
        pytest.fail("no docker CLI after tests/docker/prepare; the docker-marked tests need it")
    return env


# Compose project names of this session: two runs on one engine never meet.
SESSION = uuid.uuid4().hex[:6]


def compose_project(name: str) -> str:
    """A compose project name unique to this test session."""
    return f"tt-{SESSION}-{name}"
