"""Integration-tier fixtures: renders that are built and run under Docker.

Builds read their mirror hooks from the environment pytest started with
(machine/prepare prints them; .ci/run exports them first), so copier's copy
task and every ``docker build`` see the same ones.
"""

from __future__ import annotations

import os

import pytest

from harness.questions import integration_variants
from harness.render import render
from harness.stack import start, stop


@pytest.fixture(scope="session", autouse=True)
def _engine(engine):
    """Every integration test needs the engine; the check fails loudly once."""


@pytest.fixture(scope="session", params=list(integration_variants()))
def variant(request, tmp_path_factory):
    """``(name, path)`` of a render per integration variant, made as a user
    makes one: from git HEAD, copy task (``uv lock``) included."""
    name = request.param
    path = render(
        tmp_path_factory.mktemp(name) / "service", integration_variants()[name], tasks=True
    )
    return name, path


@pytest.fixture(scope="session")
def production(variant, build_env):
    """The variant's production stack (harness.stack), up for the session:
    Sentry's and OpenTelemetry's settings point at the stack's fake listeners."""
    name, path = variant
    stack = start(name, path, build_env, {
        "SENTRY_DSN": "http://public@fake-sentry:9000/1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://fake-otlp:4318",
        "SERVICE_VERSION": f"test-{name}",
        # Background work, where answered: a killed worker's task comes back
        # in 20 s, and beat runs the example periodic task every 5 s.
        "CELERY_VISIBILITY_TIMEOUT": "20",
        "NOTES_SUMMARY_INTERVAL": "5",
        # The example view takes ?work_seconds=N, for the tests that need a slow task.
        "NOTES_SLOW_WORK_ALLOWED": "true",
    })  # fmt: skip
    try:
        yield stack
    finally:
        stop(stack)


@pytest.fixture(scope="session")
def build_env() -> dict[str, str]:
    """The environment builds and compose run with: this process's own."""
    return dict(os.environ)
