"""The Docker CLI, as the integration tier and the benchmarks drive it.

Builds take their mirror hooks (UV_PYTHON_DOWNLOADS_JSON_URL, CA_BUNDLE, ...)
from the environment the process started with: machine/prepare prints them
and .ci/run exports them before pytest starts.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

from harness.http import wait_until
from harness.proc import run

# Names of this process's compose projects and containers: two runs on one
# engine never meet.
SESSION = uuid.uuid4().hex[:6]


def unique(name: str) -> str:
    """A compose project or container name unique to this process."""
    return f"tt-{SESSION}-{name}"


def engine_problem() -> str | None:
    """Why no Docker engine can be used from here, or None when one answers."""
    try:
        proc = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the docker CLI could not be run: {error}"
    if proc.returncode != 0:
        return f"no Docker engine answers: {proc.stderr.strip()[-500:]}"
    return None


def docker(*args: str, timeout: float = 600) -> str:
    """Run ``docker ARGS``; return stdout. Raises ``AssertionError`` on failure."""
    return run(["docker", *args], timeout=timeout).stdout


def host_port(container: str, port: int) -> int:
    """The loopback port Docker chose for ``container``'s ``port``
    (published as ``-p 127.0.0.1::PORT``)."""
    out = docker("port", container, f"{port}/tcp").split()[0]
    return int(out.rsplit(":", 1)[1])


def compose(project: Path, env: dict[str, str], *args: str, timeout: float = 900) -> str:
    """Run ``docker compose ARGS`` in ``project`` with ``env``; return stdout."""
    return run(["docker", "compose", *args], cwd=project, env=env, timeout=timeout).stdout


def resolved_production_config(project: Path, env: dict[str, str] | None = None) -> dict:
    """compose.production.yaml with .env.production, as Compose resolves it.

    Needs only the CLI, not an engine: ``docker compose config`` interpolates
    and merges without contacting the daemon.
    """
    out = run(
        [
            "docker",
            "compose",
            "--file",
            "compose.production.yaml",
            "--env-file",
            ".env.production",
            "config",
            "--format",
            "json",
        ],
        cwd=project,
        env=env,
    ).stdout
    return json.loads(out)


def compose_port(project: Path, env: dict[str, str], service: str, port: int) -> int:
    """The host port compose published for ``service``'s ``port``."""
    out = compose(project, env, "port", service, str(port)).strip()
    return int(out.rsplit(":", 1)[1])


def serve(image: str, name: str, network: str, env: dict[str, str], *extra: str) -> int:
    """Start ``image``'s default command as container ``name`` on ``network``
    with ``env`` (and ``extra`` docker run arguments); return the loopback
    port its 8000 was published on. The caller removes the container."""
    settings = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    docker(
        "run", "-d", "--name", name, "--network", network,
        "-p", "127.0.0.1::8000", *extra, *settings, image,
    )  # fmt: skip
    return host_port(name, 8000)


def createsuperuser(username: str, password: str) -> list[str]:
    """The tail of a ``compose exec``/``compose run`` that makes a Django
    superuser in the web service without a prompt (createsuperuser reads
    DJANGO_SUPERUSER_PASSWORD when given --noinput)."""
    return [
        "-e", f"DJANGO_SUPERUSER_PASSWORD={password}", "web",
        "python", "manage.py", "createsuperuser", "--noinput",
        "--username", username, "--email", f"{username}@example.com",
    ]  # fmt: skip


def healthy(container: str) -> bool:
    """Whether Docker's healthcheck currently reports ``container`` healthy."""
    return docker("inspect", "-f", "{{.State.Health.Status}}", container).strip() == "healthy"


def unread_bytes(container: str, port: int, ignore_peer: str = "") -> list[int]:
    """For each TCP connection established to ``port`` inside ``container``,
    the bytes received but not yet read by the server: 0 means the server has
    accepted it and read the request. Connections from ``ignore_peer`` (an
    IPv4 address, such as a proxy's kept-alive upstream connections) are left
    out. From /proc/net/tcp{,6} (state 01), read with the container's own
    python."""
    code = (
        "import socket, struct\n"
        "rows = [r.split() for f in ('/proc/net/tcp', '/proc/net/tcp6') "
        "for r in open(f).read().splitlines()[1:]]\n"
        "def peer(h):\n"
        "    h = h.split(':')[0]\n"
        "    return socket.inet_ntoa(struct.pack('<I', int(h, 16))) if len(h) == 8 else h\n"
        f"print(*[int(r[4].split(':')[1], 16) for r in rows "
        f"if r[3] == '01' and int(r[1].rsplit(':', 1)[1], 16) == {port} "
        f"and peer(r[2]) != {ignore_peer!r}])"
    )
    return [int(n) for n in docker("exec", container, "python", "-c", code).split()]


def start_backing_services(
    net: str, db: str, redis: str, postgres_major: object, redis_major: object, within: float = 60
) -> str:
    """Start Postgres and Redis containers named ``db`` and ``redis`` on ``net``.

    Returns the DATABASE_URL an app on ``net`` uses, once Postgres accepts TCP
    connections (``pg_isready -h 127.0.0.1``: the socket answers early, during
    first init) and Redis answers PONG. Raises ``AssertionError`` otherwise.
    """
    docker(
        "run",
        "-d",
        "--name",
        db,
        "--network",
        net,
        "-e",
        "POSTGRES_USER=svc",
        "-e",
        "POSTGRES_PASSWORD=pw",
        "-e",
        "POSTGRES_DB=svc",
        f"postgres:{postgres_major}",
    )
    docker("run", "-d", "--name", redis, "--network", net, f"redis:{redis_major}")

    def ready() -> bool:
        pg = run(["docker", "exec", db, "pg_isready", "-h", "127.0.0.1", "-U", "svc"], check=False)
        pong = run(["docker", "exec", redis, "redis-cli", "ping"], check=False).stdout.strip()
        return pg.returncode == 0 and pong == "PONG"

    wait_until(ready, within, f"{db} and {redis} ready", every=0.5)
    return f"postgres://svc:pw@{db}:5432/svc"


def remove(*containers: str) -> None:
    """Remove containers, running or not; missing ones are fine."""
    run(["docker", "rm", "-f", *containers], check=False)


def wait_exited(container: str, within: float = 30) -> int:
    """Wait until ``container`` has stopped; return its exit code."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        state = docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", container).split()
        if state[0] == "exited":
            return int(state[1])
        time.sleep(0.1)
    raise AssertionError(f"{container} still running after {within} s")
