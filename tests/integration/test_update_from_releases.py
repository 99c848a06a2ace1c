"""Every past release, made into a service, edited by its team, then updated
to this checkout's committed HEAD: no conflict, every team edit kept, the
lock valid, and the production image still built."""

from __future__ import annotations

import time

import pytest
from packaging.version import Version

from harness.docker import docker, remove, serve, start_backing_services, unique
from harness.http import wait_for_status
from harness.proc import git, run
from harness.releases import clone_template, releases
from harness.render import answers_of
from harness.report import report
from harness.updates import TEAM_FILES, TEAM_LINES, make_service, problems, team_edits, update

RELEASES = [version for version, _ in releases()]


@pytest.fixture(scope="module", params=RELEASES or ["none"])
def updated(request, tmp_path_factory):
    """``(release, service, team's files before)``, updated to HEAD."""
    assert RELEASES, "no 'Release X.Y.Z' commit in this repository's history"
    release = request.param
    base = tmp_path_factory.mktemp(f"from-{release}")
    template = clone_template(base / "template")
    service = make_service(template, release, base / "service")
    before = team_edits(service)
    started = time.monotonic()
    update(service)
    elapsed = time.monotonic() - started
    changed = " ".join(line.strip() for line in git(service, "status", "--porcelain").splitlines())
    report(f"update {release} -> HEAD: {elapsed:.1f} s; changed: {changed}")
    return release, service, before


def test_update_keeps_every_team_edit_without_conflict(updated):
    release, service, before = updated
    assert problems(service) == []
    for name in TEAM_FILES:
        assert (service / name).read_bytes() == before[name], name
    # Files the template also changed merge both sides: the team's lines stay.
    for name, line in TEAM_LINES.items():
        assert line in (service / name).read_text(), (name, line)
    run(["uv", "lock", "--check", "--offline"], cwd=service)
    # 0.2.0's migration: the team's edited gunicorn settings moved with the file.
    assert not (service / "config" / "gunicorn.py").exists()
    gunicorn = (service / "gunicorn.conf.py").read_text()
    if Version(release) < Version("0.2.0"):
        assert "timeout = 60\n" in gunicorn
    # The team's own value survives; the settings it never touched are the
    # release's, 0.5.0's forwarded-header trust among them.
    assert 'forwarded_allow_ips = "*"' not in gunicorn
    # 0.5.0's allow-list: the team's own app is still in the build context.
    assert "!billing/" in (service / ".dockerignore").read_text().splitlines()


def test_updated_image_builds_on_the_new_base_and_serves(updated, build_env):
    release, service, _ = updated
    answers = answers_of(service)
    tag, net, db, redis, app = (
        unique(f"from-{release}-{p}") for p in ("image", "net", "db", "redis", "app")
    )
    # The build's own smoke test imports the project and runs the deploy check.
    run(["make", "image", f"IMAGE={tag}"], cwd=service, env=build_env, timeout=1800)
    docker.network.create(net)
    try:
        os_release = docker.run(tag, ["cat", "/etc/os-release"], remove=True)
        assert "VERSION_CODENAME=trixie" in os_release
        database_url = start_backing_services(
            net, db, redis, answers["postgres_version"], answers["redis_version"]
        )
        port = serve(
            tag,
            app,
            net,
            {
                "DJANGO_SECRET_KEY": f"{'k' * 20}{release}{'s' * 30}",
                "DATABASE_URL": database_url,
                "REDIS_URL": f"redis://{redis}:6379/0",
            },
        )
        url = f"http://127.0.0.1:{port}/readyz"
        assert wait_for_status(url, within=60) == {"status": "ready"}
    finally:
        remove(app, db, redis)
        docker.network.remove(net)
        docker.image.remove(tag)


def test_unedited_gunicorn_settings_take_the_template_file(tmp_path):
    template = clone_template(tmp_path / "template")
    service = make_service(template, "0.1.0", tmp_path / "service")

    update(service)

    shipped = (template / "template" / "gunicorn.conf.py").read_bytes()
    assert (service / "gunicorn.conf.py").read_bytes() == shipped
    assert not (service / "config" / "gunicorn.py").exists()
    assert problems(service) == []
