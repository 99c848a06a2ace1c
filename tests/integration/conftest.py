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
def build_env() -> dict[str, str]:
    """The environment builds and compose run with: this process's own."""
    return dict(os.environ)
