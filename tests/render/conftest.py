"""Render-tier fixtures: the template rendered for every answer set of the
matrix, without a Docker engine.

Every fixture here is package-scoped, so the engine is hidden (DOCKER_HOST
points nowhere) before any of them runs: a render-tier check that reached
for an engine would fail, not quietly pass on a machine that has one.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.proc import run
from harness.questions import Answers, choices, label, matrix
from harness.render import Locks, render_many, snapshot


@pytest.fixture(scope="package", autouse=True)
def no_engine():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DOCKER_HOST", "unix:///nonexistent/render-tier-needs-no-engine.sock")
        yield


@pytest.fixture(scope="package")
def cpython() -> None:
    """Every CPython the questions offer, for ``uv lock``; fails saying what
    is missing when uv can neither find nor download one."""
    for version in choices("python_version"):
        proc = run(["uv", "python", "install", version], check=False, timeout=600)
        if proc.returncode != 0:
            pytest.fail(
                f"uv cannot provide CPython {version}, which `uv lock` needs for a render "
                f"asking for it:\n{proc.stderr.strip()[-1500:]}\n"
                "Where github.com cannot be reached, run machine/prepare and export the "
                "UV_PYTHON_DOWNLOADS_JSON_URL it prints before starting pytest.",
                pytrace=False,
            )


@pytest.fixture(scope="package")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template as this checkout has it now, outside git."""
    return snapshot(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="package")
def locks(tmp_path_factory: pytest.TempPathFactory, cpython: None) -> Locks:
    return Locks(tmp_path_factory.mktemp("locks"))


MATRIX = matrix()


@pytest.fixture(scope="package")
def renders(tmp_path_factory, source: Path, locks: Locks) -> dict[str, tuple[Answers, Path]]:
    """Every answer set of the matrix rendered once, each with its uv.lock,
    keyed by its label."""
    base = tmp_path_factory.mktemp("matrix")
    jobs = [(base / f"r{index:03}" / "service", answers) for index, answers in enumerate(MATRIX)]
    render_many(source, jobs, workers=os.cpu_count() or 2)
    for dst, _ in jobs:
        locks.fill(dst)
    return {label(answers): (answers, dst) for dst, answers in jobs}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests taking ``rendered`` run once per answer set of the matrix."""
    if "rendered" in metafunc.fixturenames:
        metafunc.parametrize("rendered", [label(a) for a in MATRIX], indirect=True)


@pytest.fixture
def rendered(request, renders) -> tuple[Answers, Path]:
    """``(answers given, path)`` of one render of the matrix."""
    return renders[request.param]
