"""The production stack (compose.production.yaml), run as the generated README
says, for each integration variant (both runtime_uv answers): what reaches
the app through the proxy and around it, and which faults it survives.

Every load here is bounded in requests and seconds and goes only to the
loopback ports this test's own containers publish. Besides the stack's own
files, the test adds only test-ports.yaml, which publishes web on loopback
so requests can be sent around the proxy, as an attacker on the host
network would."""

from __future__ import annotations

import http.client
import ipaddress
import json
import secrets
import ssl
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.docker import compose, docker, unique
from harness.http import http_get, wait_until
from harness.load import Load, failures
from harness.proc import run
from harness.report import report


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 172.30.0.0/16 that no Docker network on this engine uses."""
    ids = docker("network", "ls", "-q").split()
    used = docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", *ids)
    taken = [ipaddress.ip_network(n) for n in used.split() if ":" not in n]
    for third in range(200, 0, -1):
        candidate = ipaddress.ip_network(f"172.30.{third}.0/24")
        if not any(candidate.overlaps(net) for net in taken):
            return candidate
    raise AssertionError("no free /24 left in 172.30.0.0/16")


@dataclass
class Stack:
    path: Path
    env: dict[str, str]
    files: list[str]
    subnet: ipaddress.IPv4Network

    def compose(self, *args: str, timeout: float = 900) -> str:
        return compose(self.path, self.env, *self.files, *args, timeout=timeout)

    def container(self, service: str) -> str:
        return self.compose("ps", "-q", service).strip()

    def port(self, service: str, port: int) -> int:
        return int(self.compose("port", service, str(port)).strip().rsplit(":", 1)[1])

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.port('web', 8000)}"

    def logs(self, service: str) -> str:
        """The service's output as Docker keeps it (no compose decoration)."""
        proc = run(["docker", "logs", self.container(service)])
        return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def stack(variant, build_env):
    """`prod-up`'s command on a render, plus test-ports.yaml; `down -v` afterwards."""
    name, path = variant
    subnet = free_subnet()
    (path / ".env.production").write_text(
        "DOMAIN=localhost\n"
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"POSTGRES_PASSWORD={secrets.token_hex(16)}\n"
        "HTTP_PUBLISH=127.0.0.1:0\nHTTPS_PUBLISH=127.0.0.1:0\n"
        f"EDGE_SUBNET={subnet}\nEDGE_DYNAMIC_RANGE={list(subnet.subnets())[1]}\n"
        f"PROXY_ADDRESS={subnet[2]}\n"
        f"IMAGE={unique(name)}-production\n"
    )
    (path / "test-ports.yaml").write_text('services:\n  web:\n    ports: ["127.0.0.1:0:8000"]\n')
    files = [
        "--file",
        "compose.production.yaml",
        "--file",
        "test-ports.yaml",
        "--env-file",
        ".env.production",
    ]
    stack = Stack(path, dict(build_env, COMPOSE_PROJECT_NAME=unique(f"prod-{name}")), files, subnet)
    try:
        stack.compose("up", "--build", "--detach", "--wait", timeout=1800)
        yield stack
    finally:
        stack.compose("down", "--volumes", "--rmi", "local")


def direct(stack: Stack, path: str, **headers: str) -> http.client.HTTPResponse:
    """GET ``path`` from web's own port, around the proxy, with Host: localhost."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.port("web", 8000), timeout=10)
    conn.request("GET", path, headers={"Host": "localhost", **headers})
    response = conn.getresponse()
    response.read()
    return response


def proxy_trust(stack: Stack) -> ssl.SSLContext:
    """A TLS context that trusts Caddy's own CA (it signs localhost's certificate)."""
    root = stack.compose("exec", "-T", "proxy", "cat", "/data/caddy/pki/authorities/local/root.crt")
    return ssl.create_default_context(cadata=root)


def through_proxy(stack: Stack, path: str, **headers: str) -> http.client.HTTPResponse:
    """GET https://localhost``path`` through Caddy."""
    conn = http.client.HTTPSConnection(
        "localhost", stack.port("proxy", 443), context=proxy_trust(stack), timeout=10
    )
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    return response


def client_address_logged(stack: Stack, marker: str) -> str:
    """The client address gunicorn's access log gives for the request whose
    path carries ``marker`` (waiting for the line to be written)."""

    def line():
        return next((ln for ln in stack.logs("web").splitlines() if marker in ln), None)

    return wait_until(line, 10, f"access log line for {marker}").split()[0]


def test_only_the_proxy_publishes_ports(stack):
    published = {
        s: stack.compose("port", s, str(p), timeout=60).strip()
        for s, p in (("proxy", 443), ("proxy", 80))
    }
    assert all(published.values())
    config = json.loads(
        run(
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
            cwd=stack.path,
            env=stack.env,
        ).stdout
    )
    with_ports = {name for name, svc in config["services"].items() if svc.get("ports")}
    assert with_ports == {"proxy"}


def test_spoofed_forwarded_headers_sent_around_the_proxy_change_nothing(stack):
    # SCRIPT_NAME: honoured, /a/healthz would become the probe; it stays a
    # plain path, which over HTTP is redirected.
    assert direct(stack, "/healthz").status == 200
    assert direct(stack, "/a/healthz", SCRIPT_NAME="/a").status == 301
    # X-Forwarded-Proto: plain HTTP is still redirected to HTTPS...
    spoofed = direct(stack, "/notes/", **{"X-Forwarded-Proto": "https"})
    # ...to the Host the request named, not an X-Forwarded-Host.
    hosted = direct(stack, "/notes/", **{"X-Forwarded-Host": "evil.example"})
    assert (spoofed.status, spoofed.headers["Location"]) == (301, "https://localhost/notes/")
    assert (hosted.status, hosted.headers["Location"]) == (301, "https://localhost/notes/")
    # X-Forwarded-For: the app logs the real peer, not the claimed client.
    marker = uuid.uuid4().hex
    direct(stack, f"/notes/?spoof={marker}", **{"X-Forwarded-For": "6.6.6.6"})
    assert client_address_logged(stack, marker) != "6.6.6.6"


def test_through_the_proxy_the_app_sees_https_and_the_client(stack):
    marker = uuid.uuid4().hex
    response = through_proxy(
        stack,
        f"/notes/?via={marker}",
        **{"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "http"},
    )
    # HTTPS as far as the app knows: served, not redirected, with HSTS.
    assert response.status == 200
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    # The client Caddy saw (the host side of the edge network), neither the
    # spoofed address nor the proxy's own.
    client = client_address_logged(stack, marker)
    addresses = {
        c: docker(
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            stack.container(c),
        )
        for c in ("proxy", "web")
    }
    assert client not in {"6.6.6.6", str(stack.subnet[2])}, addresses
    assert ipaddress.ip_address(client) in stack.subnet, (client, addresses)
    assert through_proxy(stack, "/readyz").status == 200


def probe_times(
    url: str, seconds: float, every: float, timeout: float
) -> list[tuple[float, int | str]]:
    """GET ``url`` every ``every`` seconds for ``seconds``; ``(elapsed, status or error)`` each."""
    seen = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        try:
            status, _ = http_get(url, timeout=timeout)
        except OSError as error:
            status = type(error).__name__
        seen.append((time.monotonic() - started, status))
        time.sleep(max(0.0, every - (time.monotonic() - started)))
    return seen


def frozen(stack: Stack, service: str, ready_within: float, label: str) -> None:
    """Freeze ``service`` (every process stopped, as SIGSTOP): liveness keeps
    answering in under 1 s, readiness says 503 within ``ready_within`` s;
    thawed, readiness is back within 5 s, and nothing restarted."""
    web = stack.container("web")
    started_at = docker("inspect", "-f", "{{.State.StartedAt}}", web).strip()
    container = stack.container(service)
    docker("pause", container)
    try:
        live: list = []
        watcher = threading.Thread(
            target=lambda: live.extend(probe_times(stack.web + "/healthz", 8, every=0.2, timeout=1))
        )
        watcher.start()
        ready = probe_times(stack.web + "/readyz", 8, every=1, timeout=ready_within)
        watcher.join()
    finally:
        docker("unpause", container)
    thawed = time.monotonic()
    wait_until(
        lambda: http_get(stack.web + "/readyz")[0] == 200, 5, "/readyz 200 after thaw", every=0.1
    )
    back = time.monotonic() - thawed
    assert all(status == 200 for _, status in live), live
    assert all(status == 503 for _, status in ready), ready
    assert max(t for t, _ in live) < 1 and max(t for t, _ in ready) < ready_within
    assert docker("inspect", "-f", "{{.State.StartedAt}}", web).strip() == started_at
    assert "WORKER TIMEOUT" not in stack.logs("web")
    report(
        f"{label}: /healthz 200 x{len(live)} (slowest {max(t for t, _ in live):.2f} s); "
        f"/readyz 503 x{len(ready)} (slowest {max(t for t, _ in ready):.2f} s); "
        f"200 again {back:.2f} s after thaw; no restart"
    )


def test_redis_paused(stack):
    frozen(stack, "redis", ready_within=2, label="redis paused")


def test_postgres_frozen(stack):
    frozen(stack, "db", ready_within=3, label="postgres frozen")


def test_postgres_restarted_under_load(stack):
    db = stack.container("db")
    # A database read per request, through the proxy, as users send them.
    notes = f"https://localhost:{stack.port('proxy', 443)}/notes/"
    with Load(
        notes, rate=30, max_seconds=45, max_requests=1400, context=proxy_trust(stack)
    ) as load:
        time.sleep(2)
        down_at = time.monotonic()
        docker("stop", db)
        wait_until(
            lambda: http_get(stack.web + "/readyz", timeout=5)[0] == 503,
            10,
            "/readyz 503 while Postgres is down",
        )
        docker("start", db)
        wait_until(
            lambda: (
                run(["docker", "exec", db, "pg_isready", "-h", "127.0.0.1"], check=False).returncode
                == 0
            ),
            60,
            "Postgres back",
        )
        back_at = time.monotonic()
        wait_until(lambda: http_get(stack.web + "/readyz")[0] == 200, 10, "/readyz 200")
        time.sleep(5)
    before = load.between(0, down_at)
    outage = load.between(down_at, back_at)
    after = load.between(back_at, float("inf"))
    report(
        f"postgres restarted under load: before: {len(before)} requests, "
        f"{len(failures(before))} failed; outage: {back_at - down_at:.1f} s, {len(outage)} "
        f"requests, {len(failures(outage))} failed; after: {len(after)} requests, "
        f"{len(failures(after))} failed"
    )
    assert before and after
    assert failures(before) == [] and failures(after) == []


def test_docker_stop_under_load_lets_in_flight_requests_finish(stack):
    web = stack.container("web")
    redis = stack.container("redis")
    # A paused Redis holds /readyz on its check for a known time: requests
    # certainly in flight when the stop comes, beside the steady load.
    slow: list = []

    def slow_probe():
        try:
            slow.append(http_get(stack.web + "/readyz", timeout=15)[0])
        except OSError as error:
            slow.append(type(error).__name__)

    # Straight to gunicorn: its own graceful stop is what is measured.
    with Load(stack.web + "/healthz", rate=40, max_seconds=20, max_requests=800) as load:
        time.sleep(2)
        docker("pause", redis)
        try:
            probes = [threading.Thread(target=slow_probe) for _ in range(3)]
            for probe in probes:
                probe.start()
            time.sleep(0.5)  # the probes are on the wire; the steady load keeps going
            stopped_at = time.monotonic()
            run(["docker", "stop", web])
            for probe in probes:
                probe.join(20)
        finally:
            docker("unpause", redis)
    exit_code = int(docker("inspect", "-f", "{{.State.ExitCode}}", web))
    before = load.between(0, stopped_at)
    after = load.between(stopped_at, float("inf"))
    refused = ", ".join(sorted({o.error or str(o.status) for o in failures(after)}))
    starter = "uv" if "uv" in docker("inspect", "-f", "{{.Config.Cmd}}", web) else "gunicorn"
    report(
        f"docker stop under load ({starter} starts the app): {len(before)} requests sent before "
        f"the stop, {len(failures(before))} failed; {len(slow)} slow requests in flight at the "
        f"stop answered {slow}; after it, {len(after)} new connections, "
        f"{len(failures(after))} not accepted ({refused}); exit code {exit_code}"
    )
    # gunicorn finished what it had taken on and exited before Docker's SIGKILL...
    assert exit_code == 0
    assert slow == [503, 503, 503]
    # ...and everything sent before the stop was answered in full.
    assert before and failures(before) == []
    assert [o for o in load.outcomes if o.error == "IncompleteRead"] == []
