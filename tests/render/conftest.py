"""Render-tier fixtures: the template rendered for every answer set of the
matrix, without a Docker engine.

Every fixture here is package-scoped, so the engine is hidden (DOCKER_HOST
points nowhere) before any of them runs: a render-tier check that reached
for an engine would fail, not quietly pass on a machine that has one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from harness.proc import run
from harness.questions import Answers, choices, label, matrix
from harness.render import Locks, answers_of, distinct, render_many, snapshot


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
    locks.fill_all([dst for dst, _ in jobs])
    return {label(answers): (answers, dst) for dst, answers in jobs}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests taking ``rendered`` run once per answer set of the matrix."""
    if "rendered" in metafunc.fixturenames:
        metafunc.parametrize("rendered", [label(a) for a in MATRIX], indirect=True)


@pytest.fixture
def rendered(request, renders) -> tuple[Answers, Path]:
    """``(answers given, path)`` of one render of the matrix."""
    return renders[request.param]


# Every overlay of the manifests, as kubectl kustomize builds it.
OVERLAYS = ("overlays/staging", "overlays/staging/migrate", "overlays/production",
            "overlays/production/migrate")  # fmt: skip


@pytest.fixture(scope="package")
def trees(renders, tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Each distinct tree of manifests: every overlay built to a file, by label."""
    built, seen = {}, set()
    for key, (_, service) in renders.items():
        if not answers_of(service)["kubernetes"]:
            continue
        tree = service / "deploy"
        digest = hashlib.sha256(
            b"".join(p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file())
        )
        if digest.hexdigest() in seen:
            continue
        seen.add(digest.hexdigest())
        folder = tmp_path_factory.mktemp("kustomized")
        built[key] = {}
        for overlay in OVERLAYS:
            out = run(["kubectl", "kustomize", str(service / "deploy" / "kubernetes" / overlay)])
            path = folder / (overlay.replace("/", "-") + ".yaml")
            path.write_text(out.stdout)
            built[key][overlay] = path
    assert built, "no render of the matrix asks for Kubernetes manifests"
    return built


@pytest.fixture(scope="package")
def checkov(renders, trees, tmp_path_factory) -> dict[str, list]:
    """checkov run once over every distinct Dockerfile and every built
    overlay; the failed checks by framework (empty lists when all pass)."""
    folder = tmp_path_factory.mktemp("checkov")
    for index, dockerfile in enumerate(distinct(renders, "Dockerfile").values()):
        (folder / f"d{index}").mkdir()
        shutil.copy(dockerfile, folder / f"d{index}" / "Dockerfile")
    for index, built in enumerate(trees.values()):
        for overlay, path in built.items():
            shutil.copy(path, folder / f"k{index}-{overlay.replace('/', '-')}.yaml")
    proc = run(
        [
            "checkov",
            "--directory",
            str(folder),
            "--framework",
            "dockerfile",
            "kubernetes",
            "--skip-download",
            "--quiet",
            "--compact",
            "--output",
            "json",
        ],
        check=False,
    )
    reports = json.loads(proc.stdout)
    failed: dict[str, list] = {"dockerfile": [], "kubernetes": []}
    for report in reports if isinstance(reports, list) else [reports]:
        for check in report.get("results", {}).get("failed_checks", []):
            failed[report["check_type"]].append((check["check_id"], check["file_path"]))
    return failed
