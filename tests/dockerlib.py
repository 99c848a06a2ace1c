"""Small helpers for the docker-marked tests, on top of the Docker CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

PREPARE = Path(__file__).resolve().parent / "docker" / "prepare"


def run(
    cmd: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` and return its completed process (stdout and stderr as text).

    Raises: ``AssertionError`` with the command's output when ``check`` and it
    exits non-zero, so a failing test shows why.
    """
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
        )
    return proc


def prepared_env(timeout: float = 3600) -> dict[str, str]:
    """Run ``tests/docker/prepare`` and return ``os.environ`` plus what it printed.

    Takes: a time limit in seconds. Returns: the environment a rendered
    project's builds need on this machine. Raises: ``RuntimeError`` with the
    script's last output when it fails (no engine, a stand-in build error).
    Relies on: prepare printing only ``KEY=value`` lines on stdout.
    """
    proc = run([str(PREPARE)], timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"tests/docker/prepare failed:\n{proc.stderr[-4000:]}")
    env = dict(os.environ)
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            env[key] = value
    return env


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 3) -> tuple[int, dict]:
    """GET ``url``; return ``(status, JSON body)``, also for 4xx/5xx answers.

    Raises: ``OSError`` (``URLError``) when nothing answers.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def wait_for_status(
    url: str, status: int = 200, within: float = 60, body_has: dict | None = None
) -> dict:
    """Poll ``url`` until it answers ``status`` (and a JSON body holding every
    item of ``body_has``); return that body. Connection errors count as "not yet".

    Raises: ``AssertionError`` naming the last answer or error after ``within`` s.
    """
    deadline = time.monotonic() + within
    last: object = None
    while time.monotonic() < deadline:
        try:
            code, body = http_get(url)
            if code == status and (body_has or {}).items() <= body.items():
                return body
            last = (code, body)
        except (OSError, ValueError) as error:
            last = error
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer {status} within {within} s; last: {last!r}")


def docker(*args: str, timeout: float = 600) -> str:
    """Run ``docker ARGS`` (as ``run`` does); return its stdout."""
    return run(["docker", *args], timeout=timeout).stdout


def start_backing_services(
    net: str,
    db: str,
    redis: str,
    postgres_major: object = 17,
    redis_major: object = 8,
    within: float = 60,
) -> str:
    """Start Postgres and Redis containers named ``db`` and ``redis`` on ``net``.

    Returns: the DATABASE_URL an app on ``net`` uses. Waits until Postgres
    accepts TCP connections (``pg_isready -h 127.0.0.1``: the socket answers
    too early during first init) and Redis answers PONG. Raises:
    ``RuntimeError`` if a container fails to start or is not ready within
    ``within`` seconds.
    """
    docker("run", "-d", "--name", db, "--network", net, "-e", "POSTGRES_USER=svc",
           "-e", "POSTGRES_PASSWORD=pw", "-e", "POSTGRES_DB=svc",
           f"postgres:{postgres_major}")  # fmt: skip
    docker("run", "-d", "--name", redis, "--network", net, f"redis:{redis_major}")
    pg_ready = ["docker", "exec", db, "pg_isready", "-h", "127.0.0.1", "-U", "svc"]
    redis_ping = ["docker", "exec", redis, "redis-cli", "ping"]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        postgres_up = subprocess.run(pg_ready, capture_output=True).returncode == 0
        pong = subprocess.run(redis_ping, capture_output=True, text=True).stdout.strip()
        if postgres_up and pong == "PONG":
            return f"postgres://svc:pw@{db}:5432/svc"
        time.sleep(0.5)
    raise RuntimeError(f"{db} or {redis} was not ready within {within} s")


def web_exec(project: Path, env: dict[str, str], *cmd: str) -> str:
    """Run ``cmd`` in the compose project's running ``web`` container; return stdout."""
    return run(["docker", "compose", "exec", "-T", "web", *cmd], cwd=project, env=env).stdout
