"""The two tiers of the template's tests, and the wall time of each.

- render tier (``tests/render``): copier, uv and linters; no Docker engine,
  no root. ``uv run pytest -m "not docker"`` runs it alone.
- integration tier (``tests/integration``, marked ``docker`` here): builds and
  runs images; needs an engine (machine/prepare makes one ready).
- ``soak`` marks the long repetitions; CI runs them, ``-m "not soak"`` skips
  them on a laptop.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness import report
from harness.docker import engine_problem

INTEGRATION = Path(__file__).parent / "integration"
_tier_clock: dict[str, list[float]] = {}


def tier(item: pytest.Item) -> str:
    return "integration" if item.get_closest_marker("docker") else "render"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION in Path(item.path).parents:
            item.add_marker(pytest.mark.docker)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    started = time.monotonic()
    try:
        return (yield)
    finally:
        clock = _tier_clock.setdefault(tier(item), [started, started])
        clock[1] = time.monotonic()


def pytest_terminal_summary(terminalreporter) -> None:
    if report.LINES:
        terminalreporter.section("measured")
        for line in report.LINES:
            terminalreporter.write_line(line)
    for name, (start, end) in _tier_clock.items():
        terminalreporter.write_line(f"{name} tier: {end - start:.0f} s wall time")


@pytest.fixture(scope="session")
def engine() -> None:
    """Fail (never skip) when no Docker engine answers: the integration tier
    cannot run, and saying so loudly is the point."""
    problem = engine_problem()
    if problem:
        pytest.fail(f"{problem}\nRun machine/prepare first (see README.md).", pytrace=False)
