"""A team that customises through the extension points (a runtime and a
build-only Debian package, its own settings, a compose override) takes a
later release that changes the Dockerfile and the compose files: nothing
conflicts, and every customisation is still in effect."""

from __future__ import annotations

import pytest

from harness.docker import compose_client, docker, unique
from harness.proc import commit_all, git, run
from harness.releases import clone_template
from harness.updates import make_service, problems, update

OVERRIDE = """\
# The team's development additions; Compose merges this file by itself.
services:
  web:
    environment:
      INVOICE_PREFIX: DEV
  mail:
    image: redis:8
"""


def later_release(template, version: str) -> None:
    """Commit a release that rewrites lines around the extension points."""
    edits = {
        "template/Dockerfile.jinja": ("--interval=30s", "--interval=20s"),
        "template/compose.yaml.jinja": ("      start_period: 30s\n", "      start_period: 45s\n"),
        "template/compose.common.yaml.jinja": ("      retries: 5\n", "      retries: 6\n"),
    }
    for name, (old, new) in edits.items():
        path = template / name
        assert old in path.read_text(), (name, old)
        path.write_text(path.read_text().replace(old, new))
    commit_all(template, "A later release")
    git(template, "tag", version)


@pytest.fixture(scope="module")
def customised(tmp_path_factory):
    """A service from this release, customised only through its extension
    points, then updated to a later release."""
    base = tmp_path_factory.mktemp("extension-points")
    template = clone_template(base / "template")
    git(template, "tag", "999.0.0")
    service = make_service(template, "999.0.0", base / "service")
    with (service / "apt-runtime.txt").open("a") as runtime:
        runtime.write("libmagic1t64   # python-magic loads it\n")
    with (service / "apt-build.txt").open("a") as build:
        build.write("libpq-dev\n")
    with (service / "config" / "service_settings.py").open("a") as settings:
        settings.write(
            '\nINVOICE_PREFIX = env.str("INVOICE_PREFIX", default="INV")  # noqa: F405\n'
        )
    (service / "compose.override.yaml").write_text(OVERRIDE)
    commit_all(service, "Customise through the extension points")
    customised = {
        p: (service / p).read_bytes()
        for p in (
            "apt-runtime.txt",
            "apt-build.txt",
            "config/service_settings.py",
            "compose.override.yaml",
        )
    }
    later_release(template, "999.0.1")
    update(service, vcs_ref=None)
    return service, customised


def test_the_update_touches_no_customisation_and_conflicts_nowhere(customised):
    service, before = customised
    assert problems(service) == []
    for name, content in before.items():
        assert (service / name).read_bytes() == content, name
    assert "--interval=20s" in (service / "Dockerfile").read_text()


def test_the_override_still_applies(customised, build_env):
    service, _ = customised
    merged = compose_client(service, build_env).compose.config(return_json=True)
    assert merged["services"]["web"]["environment"]["INVOICE_PREFIX"] == "DEV"
    assert merged["services"]["mail"]["image"] == "redis:8"
    assert merged["services"]["web"]["healthcheck"]["start_period"] == "45s"
    assert merged["services"]["db"]["healthcheck"]["retries"] == 6


def test_the_production_image_has_the_runtime_package_only(customised, build_env):
    service, _ = customised
    tag = unique("extension-points")
    run(["make", "image", f"IMAGE={tag}"], cwd=service, env=build_env, timeout=1800)
    try:
        query = ["-W", "-f", "${Package} ${db:Status-Status}\\n"]
        installed = docker.run(tag, query, entrypoint="dpkg-query", remove=True)
        packages = dict(line.split() for line in installed.splitlines())
        assert packages.get("libmagic1t64") == "installed"
        assert "libpq-dev" not in packages  # build-only: never in production
        settings = "from django.conf import settings; print(settings.INVOICE_PREFIX)"
        env = {"DJANGO_DEBUG": "true", "DATABASE_URL": "postgres://u@db/x",
               "REDIS_URL": "redis://r:6379/0"}  # fmt: skip
        code = ["python", "-c", f"import django; django.setup(); {settings}"]
        out = docker.run(tag, code, envs=env, remove=True)
        assert out.strip() == "INV"
    finally:
        docker.image.remove(tag)
