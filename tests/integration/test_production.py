"""The production stack (compose.production.yaml), run as the generated README
says, for each integration variant (both runtime_uv answers): what reaches
the app through the proxy and around it, and which faults it survives.

Every load here is bounded in requests and seconds and goes only to the
loopback ports this test's own containers publish (harness.stack says what
test plumbing the stack gets)."""

from __future__ import annotations

import ipaddress
import threading
import time
import uuid

import httpx

from harness.docker import docker, resolved_production_config, unread_bytes
from harness.http import http_get
from harness.load import Load, failures
from harness.report import report
from harness.stack import Stack, access_record, wait_healthy
from harness.wait import wait_until


def test_only_the_proxy_publishes_ports(production):
    published = {
        s: production.docker.compose.port(s, p)[1] for s, p in (("proxy", 443), ("proxy", 80))
    }
    assert all(published.values())
    config = resolved_production_config(production.path, production.env)
    with_ports = {name for name, svc in config["services"].items() if svc.get("ports")}
    assert with_ports == {"proxy"}


def test_spoofed_forwarded_headers_sent_around_the_proxy_change_nothing(production):
    # SCRIPT_NAME: honoured, /a/healthz would become the probe; it stays a
    # plain path, which over HTTP is redirected.
    assert production.direct("/healthz").status_code == 200
    assert production.direct("/a/healthz", SCRIPT_NAME="/a").status_code == 301
    # X-Forwarded-Proto: plain HTTP is still redirected to HTTPS...
    spoofed = production.direct("/notes/", **{"X-Forwarded-Proto": "https"})
    # ...to the Host the request named, not an X-Forwarded-Host.
    hosted = production.direct("/notes/", **{"X-Forwarded-Host": "evil.example"})
    assert (spoofed.status_code, spoofed.headers["Location"]) == (301, "https://localhost/notes/")
    assert (hosted.status_code, hosted.headers["Location"]) == (301, "https://localhost/notes/")
    # X-Forwarded-For: the app logs the real peer, not the claimed client.
    marker = uuid.uuid4().hex
    production.direct(f"/notes/?spoof={marker}", **{"X-Forwarded-For": "6.6.6.6"})
    assert access_record(production.container("web"), marker)["client"] != "6.6.6.6"


def test_through_the_proxy_the_app_sees_https_and_the_client(production):
    marker = uuid.uuid4().hex
    response = production.through_proxy(
        f"/notes/?via={marker}",
        **{"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "http"},
    )
    # HTTPS as far as the app knows: served, not redirected, with HSTS.
    assert response.status_code == 200
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    # The client Caddy saw (the host side of the edge network), neither the
    # spoofed address nor the proxy's own.
    client = access_record(production.container("web"), marker)["client"]
    addresses = {
        c: [
            n.ip_address
            for n in docker.container.inspect(
                production.container(c)
            ).network_settings.networks.values()
        ]
        for c in ("proxy", "web")
    }
    assert client not in {"6.6.6.6", str(production.subnet[2])}, addresses
    assert ipaddress.ip_address(client) in production.subnet, (client, addresses)
    assert production.direct("/readyz").status_code == 200


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
        except httpx.TransportError as error:
            status = type(error).__name__
        seen.append((time.monotonic() - started, status))
        time.sleep(max(0.0, every - (time.monotonic() - started)))
    return seen


def frozen(stack: Stack, service: str, ready_within: float, label: str) -> None:
    """Freeze ``service`` (every process stopped, as SIGSTOP): liveness keeps
    answering in under 1 s, readiness says 503 within ``ready_within`` s;
    thawed, readiness is back within 5 s, and nothing restarted."""
    web = stack.container("web")
    started_at = docker.container.inspect(web).state.started_at
    container = stack.container(service)
    docker.pause(container)
    try:
        live: list = []
        watcher = threading.Thread(
            target=lambda: live.extend(probe_times(stack.web + "/healthz", 8, every=0.2, timeout=1))
        )
        watcher.start()
        ready = probe_times(stack.web + "/readyz", 8, every=1, timeout=ready_within)
        watcher.join()
    finally:
        docker.unpause(container)
    thawed = time.monotonic()
    wait_until(
        lambda: http_get(stack.web + "/readyz")[0] == 200, 5, "/readyz 200 after thaw", every=0.1
    )
    back = time.monotonic() - thawed
    assert all(status == 200 for _, status in live), live
    assert all(status == 503 for _, status in ready), ready
    assert max(t for t, _ in live) < 1 and max(t for t, _ in ready) < ready_within
    assert docker.container.inspect(web).state.started_at == started_at
    assert "WORKER TIMEOUT" not in stack.logs("web")
    report(
        f"{label}: /healthz 200 x{len(live)} (slowest {max(t for t, _ in live):.2f} s); "
        f"/readyz 503 x{len(ready)} (slowest {max(t for t, _ in ready):.2f} s); "
        f"200 again {back:.2f} s after thaw; no restart"
    )


def test_postgres_frozen(production):
    frozen(production, "db", ready_within=3, label="postgres frozen")


def test_postgres_restarted_under_load(production):
    db = production.container("db")
    # A database read per request, through the proxy, as users send them.
    notes = f"https://localhost:{production.port('proxy', 443)}/notes/"
    with Load(
        notes, rate=30, max_seconds=45, max_requests=1400, context=production.proxy_trust()
    ) as load:
        time.sleep(2)
        down_at = time.monotonic()
        docker.stop(db)
        wait_until(
            lambda: http_get(production.web + "/readyz", timeout=5)[0] == 503,
            10,
            "/readyz 503 while Postgres is down",
        )
        docker.start(db)
        wait_until(
            # execute raises while pg_isready exits non-zero: "not yet" to wait_until.
            lambda: docker.execute(db, ["pg_isready", "-h", "127.0.0.1"]) is not None,
            60,
            "Postgres back",
        )
        back_at = time.monotonic()
        wait_until(lambda: http_get(production.web + "/readyz")[0] == 200, 10, "/readyz 200")
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


def test_docker_stop_under_load_lets_in_flight_requests_finish(production):
    web = production.container("web")
    db = production.container("db")
    # A frozen Postgres holds /readyz for its whole bound (2 s): requests
    # certainly in flight when the stop comes, beside the steady load.
    slow: list = []

    def slow_probe():
        try:
            slow.append(http_get(production.web + "/readyz", timeout=15)[0])
        except httpx.TransportError as error:
            slow.append(type(error).__name__)

    # Straight to gunicorn: its own graceful stop is what is measured.
    with Load(production.web + "/healthz", rate=40, max_seconds=20, max_requests=800) as load:
        time.sleep(2)
        docker.pause(db)
        try:
            probes = [threading.Thread(target=slow_probe) for _ in range(3)]
            for probe in probes:
                probe.start()
            # In flight means read by gunicorn: three connections whose request
            # it has taken in (the steady load's come and go in milliseconds;
            # the proxy's kept-alive upstream connections are idle, not ours).
            proxy = str(production.subnet[2])
            wait_until(
                lambda: sum(n == 0 for n in unread_bytes(web, 8000, proxy)) >= 3,
                5,
                "the slow requests read by gunicorn",
                every=0.05,
            )
            stopped_at = time.monotonic()
            docker.stop(web)
            for probe in probes:
                probe.join(20)
        finally:
            docker.unpause(db)
    exit_code = docker.container.inspect(web).state.exit_code
    before = load.between(0, stopped_at)
    after = load.between(stopped_at, float("inf"))
    refused = ", ".join(sorted({o.error or str(o.status) for o in failures(after)}))
    starter = "uv" if "uv" in docker.container.inspect(web).config.cmd else "gunicorn"
    report(
        f"docker stop under load ({starter} starts the app): {len(before)} requests sent before "
        f"the stop, {len(failures(before))} failed; {len(slow)} slow requests in flight at the "
        f"stop answered {slow}; after it, {len(after)} new connections, "
        f"{len(failures(after))} not accepted ({refused}); exit code {exit_code}"
    )
    # The stack serves the next tests again, once Postgres's healthcheck has
    # seen it back: the same web container, started again.
    wait_healthy(production, "db")
    docker.start(web)
    wait_healthy(production, "web")
    # gunicorn finished what it had taken on and exited before Docker's SIGKILL...
    assert exit_code == 0
    assert slow == [503, 503, 503]
    # ...and everything sent before the stop was answered in full.
    assert before and failures(before) == []
    assert [o for o in load.outcomes if o.error == "IncompleteRead"] == []
