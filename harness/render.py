"""Rendering the template with copier's Python API.

Relies on copier's documented behaviour: ``vcs_ref="HEAD"`` renders the
checkout's HEAD plus its uncommitted changes; a source that is not a git
repository is rendered as it is; ``_tasks`` (``uv lock``) run only when
``skip_tasks`` is false, through plumbum, whose environment is a copy taken
at import, so extra variables for them go through ``plumbum.local.env``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import copier
import plumbum
import yaml

from harness import ROOT
from harness.proc import run
from harness.questions import Answers

# What copier reads from this repository to render a service.
TEMPLATE_PARTS = ("copier.yml", "template", "update-scripts")


def render(
    dst: Path,
    answers: Answers | None = None,
    *,
    src: Path = ROOT,
    vcs_ref: str | None = "HEAD",
    tasks: bool = False,
    env: dict[str, str] | None = None,
) -> Path:
    """Render the template from ``src`` into ``dst`` with ``answers`` over the
    defaults; return ``dst``.

    ``tasks`` runs copier's copy task (``uv lock``, which needs a CPython for
    .python-version); ``env`` adds variables for it. Raises what
    ``copier.run_copy`` raises, e.g. ``ValueError`` naming the question when a
    validator refuses an answer (and then nothing is written).
    """
    with plumbum.local.env(**env) if env else nullcontext():
        copier.run_copy(
            str(src),
            str(dst),
            data=dict(answers or {}),
            defaults=True,
            unsafe=True,
            quiet=True,
            vcs_ref=vcs_ref,
            skip_tasks=not tasks,
        )
    return dst


def snapshot(dst: Path) -> Path:
    """Copy what copier reads of this checkout (as it is now) into ``dst``,
    outside git, so renders from it skip copier's clone of the repository."""
    dst.mkdir(parents=True, exist_ok=True)
    for part in TEMPLATE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, dst / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dst / part)
    return dst


def _render_one(job: tuple[Path, Path, Answers]) -> Path:
    src, dst, answers = job
    return render(dst, answers, src=src, vcs_ref=None)


def render_many(src: Path, jobs: Iterable[tuple[Path, Answers]], workers: int = 2) -> list[Path]:
    """Render each ``(destination, answers)`` from ``src`` (a snapshot), in
    ``workers`` processes; return the destinations. No copy task runs: give
    each render its lock with ``Locks``."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_render_one, [(src, dst, answers) for dst, answers in jobs]))


class Locks:
    """uv.lock files made once per distinct pyproject.toml.

    The lock depends only on pyproject.toml (uv locks for every Python the
    project allows), so renders that differ elsewhere share one.
    """

    def __init__(self, folder: Path | None = None):
        self.folder = folder or Path(tempfile.mkdtemp(prefix="locks-"))
        self.made: dict[str, Path] = {}

    def fill_all(self, services: list[Path], workers: int = 4) -> None:
        """``fill`` every service, locking each distinct pyproject.toml once,
        ``workers`` locks at a time (uv spends most of a lock waiting on the index)."""
        by_key: dict[str, list[Path]] = {}
        for service in services:
            by_key.setdefault(self._key(service), []).append(service)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda group: self.fill(group[0]), by_key.values()))
        for group in by_key.values():
            for service in group[1:]:
                self.fill(service)

    @staticmethod
    def _key(service: Path) -> str:
        return hashlib.sha256((service / "pyproject.toml").read_bytes()).hexdigest()[:16]

    def fill(self, service: Path) -> Path:
        """Give ``service`` its uv.lock, running ``uv lock`` only for a
        pyproject.toml not seen before; return the lock's path. Raises
        ``AssertionError`` with uv's output when locking fails."""
        key = self._key(service)
        if key not in self.made:
            run(["uv", "lock", "--quiet"], cwd=service, timeout=600)
            kept = self.folder / f"{key}.lock"
            shutil.copy2(service / "uv.lock", kept)
            self.made[key] = kept
        else:
            shutil.copy2(self.made[key], service / "uv.lock")
        return service / "uv.lock"


def answers_of(service: Path) -> dict:
    """The answers a render recorded in its answers file."""
    return yaml.safe_load((service / ".copier-answers.yml").read_text())


def gunicorn_settings(service: Path, **environ: str) -> dict:
    """The values a render's gunicorn.conf.py sets (those JSON can carry), run
    in a fresh interpreter in the service's folder, as gunicorn runs it there,
    with ``environ`` over this process's environment. Raises AssertionError
    with the traceback when it fails."""
    code = (
        "import json, runpy; values = runpy.run_path('gunicorn.conf.py'); "
        "print(json.dumps({k: v for k, v in values.items() if not k.startswith('_')}, "
        "default=lambda v: None))"
    )
    proc = run([sys.executable, "-c", code], cwd=service, env={**os.environ, **environ})
    return json.loads(proc.stdout)


def distinct(renders: dict, name: str) -> dict[str, Path]:
    """One copy of each distinct content of file ``name`` among the renders,
    keyed by the label of the first render that has it."""
    seen: dict[str, Path] = {}
    found = {}
    for key, (_, service) in renders.items():
        path = service / name
        if path.exists():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in seen:
                seen[digest] = path
                found[key] = path
    return found
