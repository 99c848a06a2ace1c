"""Docker and Compose, as the integration tier and the benchmarks drive them,
through python-on-whales (``docker`` below is its client on this engine).

python-on-whales runs the docker CLI with this process's environment, so
builds take their mirror hooks (UV_PYTHON_DOWNLOADS_JSON_URL, CA_BUNDLE, ...)
from the environment the process started with: machine/prepare prints them
and .ci/run exports them before pytest starts.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from python_on_whales import DockerClient, DockerException, docker

from harness.wait import wait_until

__all__ = ["DockerClient", "DockerException", "docker"]

# Names of this process's compose projects and containers: two runs on one
# engine never meet.
SESSION = uuid.uuid4().hex[:6]


def unique(name: str) -> str:
    """A compose project or container name unique to this process."""
    return f"tt-{SESSION}-{name}"


def engine_problem() -> str | None:
    """Why no Docker engine can be used from here, or None when one answers
    (``docker info`` raises when the CLI is missing or no daemon answers)."""
    try:
        docker.info()
    except Exception as error:  # ClientNotFoundError, DockerException: both mean "none"
        return f"no Docker engine answers: {str(error)[-500:]}"
    return None


def compose_client(
    project: Path,
    env: Mapping[str, str] | None = None,
    files: Sequence[str] | None = None,
    env_files: Sequence[str] = (),
) -> DockerClient:
    """A python-on-whales client for the compose project in ``project``: its
    ``files`` and ``env_files`` (relative to ``project``), named by ``env``'s
    COMPOSE_PROJECT_NAME when set. No ``files`` means what a bare ``docker
    compose`` reads: compose.yaml, then compose.override.yaml if there is one.

    Variables of ``env`` that this process's environment lacks or holds
    otherwise (WEB_PORT, DEV_UID, ...) reach Compose's interpolation too.
    """
    env = dict(env or os.environ)
    name = env.pop("COMPOSE_PROJECT_NAME", None)
    extra = [f"{k}={v}" for k, v in env.items() if os.environ.get(k) != v]
    if files is None:
        files = [f for f in ("compose.yaml", "compose.override.yaml") if (project / f).exists()]
    return DockerClient(
        compose_files=[project / f for f in files],
        compose_env_files=[project / f for f in env_files],
        compose_project_name=name,
        compose_project_directory=project,
        # python-on-whales runs the CLI with os.environ only: `env` carries the rest.
        client_call=["env", *extra, "docker"] if extra else ["docker"],
    )


def resolved_production_config(project: Path, env: Mapping[str, str] | None = None) -> dict:
    """compose.production.yaml with .env.production, as Compose resolves it
    (``compose.config(return_json=True)``).

    Needs only the CLI, not an engine: ``docker compose config`` interpolates
    and merges without contacting the daemon.
    """
    client = compose_client(project, env, ["compose.production.yaml"], [".env.production"])
    return client.compose.config(return_json=True)


def host_port(container: str, port: int) -> int:
    """The loopback port Docker chose for ``container``'s ``port`` (published
    as ``127.0.0.1::PORT``), from its inspect data: python-on-whales has no
    ``docker port``."""
    ports = docker.container.inspect(container).network_settings.ports
    return int(ports[f"{port}/tcp"][0]["HostPort"])


def serve(image: str, name: str, network: str, env: Mapping[str, str]) -> int:
    """Start ``image``'s default command as container ``name`` on ``network``
    with ``env``; return the loopback port its 8000 was published on. The
    caller removes the container."""
    docker.run(
        image, detach=True, name=name, networks=[network], envs=env,
        publish=[("127.0.0.1::8000",)],
    )  # fmt: skip
    return host_port(name, 8000)


def createsuperuser(username: str, password: str) -> dict:
    """Keyword arguments for ``compose.execute`` or ``compose.run`` that make a
    Django superuser in the web service without a prompt (createsuperuser
    reads DJANGO_SUPERUSER_PASSWORD when given --noinput)."""
    return {
        "service": "web",
        "command": ["python", "manage.py", "createsuperuser", "--noinput",
                    "--username", username, "--email", f"{username}@example.com"],
        "envs": {"DJANGO_SUPERUSER_PASSWORD": password},
        "tty": False,
    }  # fmt: skip


def healthy(container: str) -> bool:
    """Whether Docker's healthcheck currently reports ``container`` healthy."""
    return docker.container.inspect(container).state.health.status == "healthy"


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
    return [int(n) for n in docker.execute(container, ["python", "-c", code]).split()]


def start_backing_services(
    net: str, db: str, redis: str, postgres_major: object, redis_major: object, within: float = 60
) -> str:
    """Start Postgres and Redis containers named ``db`` and ``redis`` on ``net``.

    Returns the DATABASE_URL an app on ``net`` uses, once Postgres accepts TCP
    connections (``pg_isready -h 127.0.0.1``: the socket answers early, during
    first init) and Redis answers PONG. Raises ``AssertionError`` otherwise.
    """
    settings = {"POSTGRES_USER": "svc", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "svc"}
    docker.run(f"postgres:{postgres_major}", detach=True, name=db, networks=[net], envs=settings)
    docker.run(f"redis:{redis_major}", detach=True, name=redis, networks=[net])

    def ready() -> bool:
        # execute raises while pg_isready exits non-zero: "not yet" to wait_until.
        docker.execute(db, ["pg_isready", "-h", "127.0.0.1", "-U", "svc"])
        return docker.execute(redis, ["redis-cli", "ping"]).strip() == "PONG"

    wait_until(ready, within, f"{db} and {redis} ready", every=0.5)
    return f"postgres://svc:pw@{db}:5432/svc"


def remove(*containers: str) -> None:
    """Remove containers, running or not; missing ones are fine (the CLI
    removes the others before it fails on them)."""
    with suppress(DockerException):
        docker.container.remove(list(containers), force=True)
