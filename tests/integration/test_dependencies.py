"""The lock is the law in the image: a pyproject.toml edited without `uv lock`
fails `make image` with uv's own message, and the production venv holds
exactly the lock's runtime packages, none of its dev group."""

from __future__ import annotations

import re
import shutil

import pytest
from python_on_whales import docker

from harness.docker import unique
from harness.proc import run

# The venv's python prints one installed distribution's name a line.
LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'])"
)


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def exported(service, *flags: str) -> set[str]:
    """The names of the packages the service's lock installs with `flags`."""
    out = run(
        ["uv", "export", "--frozen", "--no-emit-project", "--no-hashes", "--no-header", *flags],
        cwd=service,
    ).stdout
    return {canonical(line.split("==")[0]) for line in out.splitlines() if "==" in line}


def test_stale_lock_fails_the_image_build(variant, build_env, tmp_path):
    _, path = variant
    service = tmp_path / "service"
    shutil.copytree(path, service)
    pyproject = service / "pyproject.toml"
    # A dependency added by hand, without `uv lock`: the lock no longer matches.
    pyproject.write_text(
        pyproject.read_text().replace("dependencies = [", 'dependencies = [\n    "six>=1.16",', 1)
    )
    tag = unique("stale-lock")
    build = run(
        ["make", "image", f"IMAGE={tag}"], cwd=service, env=build_env, check=False, timeout=1800
    )
    if build.returncode == 0:
        docker.image.remove(tag, force=True)
    assert build.returncode != 0
    assert "needs to be updated, but `--locked` was provided" in build.stdout + build.stderr


@pytest.fixture(scope="module")
def production_image(variant, build_env):
    """The variant's production image, built as `make image` builds it."""
    name, path = variant
    tag = unique(f"deps-{name}")
    run(["make", "image", f"IMAGE={tag}"], cwd=path, env=build_env, timeout=1800)
    yield path, tag
    docker.image.remove(tag, force=True)


def test_production_venv_holds_no_dev_group_package(production_image):
    path, tag = production_image
    runtime = exported(path, "--no-dev")
    dev_only = exported(path, "--only-group", "dev") - runtime
    assert {"pytest", "ruff", "pytest-django"} <= dev_only
    listed = docker.run(
        tag, ["-c", LIST_DISTRIBUTIONS], entrypoint="/opt/venv/bin/python", remove=True
    )
    installed = {canonical(name) for name in listed.split()}
    assert installed & dev_only == set()
    # Nothing from outside the lock either, and the lock's runtime packages are there.
    assert installed <= runtime
    assert {"django", "gunicorn"} <= installed
