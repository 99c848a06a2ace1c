"""The daily development loop, driven as a developer drives it: through the
generated Makefile and compose file, on a checkout owned by a non-root user
whose IDs the container takes (DEV_UID/DEV_GID)."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import compose_project, environment, render
from dockerlib import free_port, run, wait_for_status, web_exec

pytestmark = pytest.mark.docker

DEV_UID = 1234  # any non-root ID other than the image's, to tell owners apart
STARTUP_ERRORS = re.compile(r"OperationalError|could not connect|Connection refused|Traceback")


def _chown_tree(path: Path, uid: int) -> None:
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), uid, uid)
    os.lchown(path, uid, uid)


@pytest.fixture(scope="module")
def loop(tmp_path_factory, docker_env):
    """A default render owned by DEV_UID, brought up with `make up`."""
    with environment(docker_env):
        path = render(tmp_path_factory.mktemp("loop") / "service")
    _chown_tree(path, DEV_UID)
    port = free_port()
    env = dict(
        docker_env,
        COMPOSE_PROJECT_NAME=compose_project("loop"),
        WEB_PORT=str(port),
        DEV_UID=str(DEV_UID),
        DEV_GID=str(DEV_UID),
    )
    try:
        run(["make", "up"], cwd=path, env=env, timeout=1800)
        yield {"path": path, "env": env, "url": f"http://127.0.0.1:{port}"}
    finally:
        run(["docker", "compose", "down", "--volumes"], cwd=path, env=env, check=False)


def test_a_saved_edit_is_served_without_a_restart(loop):
    view = loop["path"] / "config" / "health.py"
    original = view.read_text()
    edited = original.replace(
        'JsonResponse({"status": "ok"})', 'JsonResponse({"status": "ok", "edited": True})'
    )
    assert edited != original
    # Django's StatReloader takes a file's first mtime as its baseline on its
    # first 1 s tick after the module loads: an edit before then goes unseen.
    time.sleep(2)
    view.write_text(edited)
    try:
        # The dev server polls for changes each second and restarts in about one.
        body = wait_for_status(loop["url"] + "/healthz", within=15, body_has={"edited": True})
        assert body == {"status": "ok", "edited": True}
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
    assert created[0].stat().st_uid == DEV_UID
    assert created[0].stat().st_gid == DEV_UID
    run(["make", "manage", "cmd=migrate --noinput"], cwd=loop["path"], env=loop["env"])


def test_an_added_dependency_is_importable_after_the_next_up(loop):
    # `uv add` on the host, as the generated README says; then a plain `up`.
    run(["uv", "add", "--quiet", "humanize"], cwd=loop["path"], env=loop["env"])
    assert "humanize" in (loop["path"] / "pyproject.toml").read_text()
    assert 'name = "humanize"' in (loop["path"] / "uv.lock").read_text()
    run(["docker", "compose", "up", "--wait"], cwd=loop["path"], env=loop["env"], timeout=900)
    code = "import humanize; print(humanize.intcomma(1234567))"
    out = web_exec(loop["path"], loop["env"], "python", "-c", code)
    assert out.strip() == "1,234,567"
    # No anonymous volume anywhere: nothing can hold an old venv.
    containers = run(
        ["docker", "compose", "ps", "--format", "{{.Name}}"], cwd=loop["path"], env=loop["env"]
    ).stdout.split()
    for container in containers:
        mounts = run(
            [
                "docker",
                "inspect",
                "-f",
                "{{range .Mounts}}{{.Type}}:{{.Name}}:{{.Destination}} {{end}}",
                container,
            ]
        ).stdout
        assert "/opt/venv" not in mounts, (container, mounts)


def test_the_admin_is_reachable_with_a_new_superuser(loop):
    run(
        [
            "docker",
            "compose",
            "exec",
            "-T",
            "-e",
            "DJANGO_SUPERUSER_PASSWORD=correct-horse-42",
            "web",
            "python",
            "manage.py",
            "createsuperuser",
            "--noinput",
            "--username",
            "admin",
            "--email",
            "admin@example.com",
        ],
        cwd=loop["path"],
        env=loop["env"],
    )
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = opener.open(loop["url"] + "/admin/login/?next=/admin/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login).group(1)
    form = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token,
            "username": "admin",
            "password": "correct-horse-42",
            "next": "/admin/",
        }
    )
    request = urllib.request.Request(
        loop["url"] + "/admin/login/?next=/admin/",
        data=form.encode(),
        headers={"Referer": loop["url"] + "/admin/login/"},
    )
    page = opener.open(request)
    assert page.geturl().endswith("/admin/")
    assert "Site administration" in page.read().decode()


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
        ["lock"],
        ["image", "IMAGE=tt-loop-image"],
    ):
        run(["make", *target], cwd=path, env=env, timeout=1800)
    shell = subprocess.run(
        ["make", "shell"],
        cwd=path,
        env=env,
        input="id -u\nexit\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.strip().endswith(str(DEV_UID))
    run(["make", "down"], cwd=path, env=env)
    assert run(["docker", "compose", "ps", "-q"], cwd=path, env=env).stdout.strip() == ""


def test_ten_fresh_ups_in_a_row_come_up_clean(loop):
    path, env = loop["path"], loop["env"]
    for attempt in range(10):
        run(["docker", "compose", "down", "--volumes"], cwd=path, env=env)
        run(["docker", "compose", "up", "--wait"], cwd=path, env=env, timeout=300)
        logs = run(
            ["docker", "compose", "logs", "--no-color", "migrate", "web"], cwd=path, env=env
        ).stdout
        assert not STARTUP_ERRORS.search(logs), f"attempt {attempt + 1}:\n{logs}"
        assert wait_for_status(loop["url"] + "/readyz", within=10) == {"status": "ready"}
