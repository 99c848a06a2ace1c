"""The daily development loop, driven as a developer drives it: through the
generated Makefile and compose file, on a checkout owned by the developer,
whose IDs the container takes (DEV_UID/DEV_GID).

The developer is the user running the tests; CI runs them as a user whose
uid is neither the image's nor compose's default (1000), so ownership checks
tell them apart. Run as root, the render is handed to uid 1234 instead."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx
import pytest

from harness.docker import compose_client, createsuperuser, docker, unique
from harness.http import http_get, log_in, wait_for_status
from harness.proc import run
from harness.render import render
from harness.wait import wait_until

STARTUP_ERRORS = re.compile(r"OperationalError|could not connect|Connection refused|Traceback")


def developer_ids(path: Path) -> int:
    """The uid that owns the render (and so is DEV_UID and DEV_GID)."""
    if os.geteuid() != 0:
        return os.geteuid()
    for root, dirs, names in os.walk(path):
        for name in [*dirs, *names]:
            os.lchown(os.path.join(root, name), 1234, 1234)
    os.lchown(path, 1234, 1234)
    return 1234


@pytest.fixture(scope="module")
def loop(tmp_path_factory, build_env):
    """A default render owned by the developer, brought up with `make up`."""
    path = render(tmp_path_factory.mktemp("loop") / "service", tasks=True)
    uid = developer_ids(path)
    env = dict(
        build_env,
        COMPOSE_PROJECT_NAME=unique("loop"),
        WEB_PORT="0",
        DEV_UID=str(uid),
        DEV_GID=str(uid),
    )
    try:
        run(["make", "up"], cwd=path, env=env, timeout=1800)
        yield {"path": path, "env": env, "uid": uid, "client": compose_client(path, env)}
    finally:
        compose_client(path, env).compose.down(volumes=True)


def url(loop) -> str:
    """web's address now: Docker picks a new port whenever web is re-created."""
    return f"http://127.0.0.1:{loop['client'].compose.port('web', 8000)[1]}"


def web(loop, *cmd: str) -> str:
    return loop["client"].compose.execute("web", list(cmd), tty=False)


def test_a_saved_edit_is_served_without_a_restart(loop):
    view = loop["path"] / "ops" / "probes.py"
    original = view.read_text()
    edited = original.replace(
        'JsonResponse({"status": "ok"})', 'JsonResponse({"status": "ok", "edited": True})'
    )
    assert edited != original

    address = url(loop)

    written = [0.0]

    def served() -> bool:
        # Django's reloader ignores a change made before its first 1 s tick
        # (that mtime becomes its baseline), so write again every 2.5 s until it is served.
        if time.monotonic() - written[0] > 2.5:
            view.write_text(edited)
            written[0] = time.monotonic()
        return http_get(address + "/healthz")[1] == {"status": "ok", "edited": True}

    try:
        wait_until(served, 20, "the edited view served", every=0.1)
    finally:
        view.write_text(original)


def test_files_the_container_writes_belong_to_the_developer(loop):
    models = loop["path"] / "notes" / "models.py"
    field = "    body = models.TextField(blank=True)\n"
    pinned = "    pinned = models.BooleanField(default=False)\n"
    models.write_text(models.read_text().replace(field, field + pinned))
    run(["make", "makemigrations"], cwd=loop["path"], env=loop["env"])
    created = list((loop["path"] / "notes" / "migrations").glob("0002_*.py"))
    assert len(created) == 1
    assert (created[0].stat().st_uid, created[0].stat().st_gid) == (loop["uid"], loop["uid"])
    run(["make", "manage", "cmd=migrate --noinput"], cwd=loop["path"], env=loop["env"])


def test_an_added_dependency_is_importable_after_the_next_up(loop):
    # `uv add` on the host, as the generated README says; then a plain `up`.
    run(["uv", "add", "--quiet", "humanize"], cwd=loop["path"], env=loop["env"])
    loop["client"].compose.up(detach=True, wait=True)
    code = "import humanize; print(humanize.intcomma(1234567))"
    assert web(loop, "python", "-c", code).strip() == "1,234,567"
    # No anonymous volume anywhere: nothing can hold an old venv.
    for container in loop["client"].compose.ps():
        mounts = " ".join(mount.destination for mount in container.mounts)
        assert "/opt/venv" not in mounts, (container.name, mounts)


def test_the_admin_is_reachable_with_a_new_superuser(loop):
    loop["client"].compose.execute(**createsuperuser("admin", "correct-horse-42"))
    address = url(loop)
    with httpx.Client(base_url=address, timeout=30) as browser:
        page = log_in(browser, "admin", "correct-horse-42")
    assert (page.status_code, page.url.path) == (200, "/admin/"), page.url
    assert "Site administration" in page.text


def test_every_make_target_exits_zero(loop):
    path, env = loop["path"], loop["env"]
    for target in (
        ["help"],
        ["up"],
        ["logs", "args=--tail 5"],
        ["manage", "cmd=check"],
        ["makemigrations", "args=--check --dry-run"],
        ["test", "args=-q"],
        ["format"],
        ["lint"],
        ["check"],
        ["lock"],
        ["image", f"IMAGE={unique('loop-image')}"],
    ):
        run(["make", *target], cwd=path, env=env, timeout=1800)
    shell = run(["make", "shell"], cwd=path, env=env, input="id -u\nexit\n", timeout=60)
    assert shell.stdout.strip().endswith(str(loop["uid"]))
    run(["make", "down"], cwd=path, env=env)
    assert loop["client"].compose.ps() == []
    docker.image.remove(unique("loop-image"))


@pytest.mark.soak
def test_ten_fresh_ups_in_a_row_come_up_clean(loop):
    compose = loop["client"].compose
    for attempt in range(10):
        compose.down(volumes=True)
        compose.up(detach=True, wait=True)
        logs = compose.logs(["migrate", "web"])  # not a TTY: no colours
        assert not STARTUP_ERRORS.search(logs), f"attempt {attempt + 1}:\n{logs}"
        assert wait_for_status(url(loop) + "/readyz", within=10) == {"status": "ready"}
