"""Least privilege in the production stack's data stores and at its edge, for
each integration variant: what the app's Postgres role, a client without
Redis's password and a client of the proxy are refused, and what the data
stores' containers may not do.

Traffic goes only to the loopback ports and containers of this test's own
stack, bounded in requests and seconds."""

from __future__ import annotations

import socket
import ssl
import time

import httpx
import pytest

from harness.docker import compose_client, docker, host_port, remove, unique
from harness.proc import run
from harness.stores import PRIVILEGED, as_the_app, redis_cli, refused
from harness.wait import wait_until


def test_the_app_role_is_refused_every_privileged_statement(production):
    results = as_the_app(production)
    # Not the superuser the postgres image makes from POSTGRES_USER.
    assert results.pop("user").endswith("_app")
    assert results.pop("attributes") == [False, False, False]
    for name in PRIVILEGED:
        assert refused(results[name]), (name, results[name])
    # Nor can code running in web read the superuser's password.
    # `; true`: printenv exits 1 on an unset variable, the outcome wanted.
    seen = docker.execute(
        production.container("web"), ["sh", "-c", "printenv POSTGRES_PASSWORD; true"]
    )
    assert seen == ""


def test_redis_refuses_a_client_without_its_password(production):
    assert "NOAUTH" in redis_cli(production, "ping", password=False)
    assert "NOAUTH" in redis_cli(production, "-n", "1", "llen", "celery", password=False)
    assert redis_cli(production, "ping") == "PONG"


def test_redis_evicts_cache_entries_and_never_a_queue(production):
    """Filled past its memory bound, Redis drops keys with an expiry (Django's
    cache entries) and keeps a list without one (how Celery queues a task)."""
    bound = redis_cli(production, "config", "get", "maxmemory").split()[-1]
    assert int(bound) > 0
    assert redis_cli(production, "config", "get", "maxmemory-policy").split()[-1] == "volatile-lru"
    used = int(
        next(
            line.split(":")[1]
            for line in redis_cli(production, "info", "memory").splitlines()
            if line.startswith("used_memory:")
        )
    )
    # Just above what it holds now, so a few hundred KB of cache overflow it.
    redis_cli(production, "config", "set", "maxmemory", str(used + 2_000_000))
    try:
        redis_cli(production, "-n", "9", "rpush", "tt-queue", *[f"task-{i}" for i in range(50)])
        fill = (
            "for i = 1, 500 do redis.call('SET', 'tt-cache:' .. ARGV[1] .. ':' .. i, "
            "string.rep('x', 2000), 'EX', 300) end return 1"
        )
        for batch in range(8):
            redis_cli(production, "-n", "9", "eval", fill, "0", str(batch))
        cached = int(redis_cli(production, "-n", "9", "eval",
                               "return #redis.call('KEYS', 'tt-cache:*')", "0"))  # fmt: skip
        evicted = int(
            next(
                line.split(":")[1]
                for line in redis_cli(production, "info", "stats").splitlines()
                if line.startswith("evicted_keys:")
            )
        )
        assert evicted > 0 and cached < 4000, (evicted, cached)
        assert redis_cli(production, "-n", "9", "llen", "tt-queue") == "50"
    finally:
        redis_cli(production, "config", "set", "maxmemory", bound)
        redis_cli(production, "-n", "9", "flushdb")


@pytest.mark.parametrize("service", ["db", "redis", "proxy"])
def test_data_stores_and_proxy_run_with_least_privilege(production, service):
    container = production.container(service)
    host = docker.container.inspect(container).host_config
    assert host.cap_drop == ["ALL"]
    assert "no-new-privileges:true" in host.security_opt
    assert host.memory > 0 and host.pids_limit > 0
    # The process serving is denied raw sockets and device nodes for good.
    bounding = int(docker.execute(container, ["grep", "CapBnd", "/proc/1/status"]).split()[1], 16)
    cap_net_raw, cap_mknod = 13, 27
    assert not bounding & (1 << cap_net_raw | 1 << cap_mknod), hex(bounding)


def test_the_proxy_keeps_probes_and_metrics_inside(production):
    for path in ("/readyz", "/metrics"):
        assert production.through_proxy(path).status_code == 404, path
    # The platform still reaches them directly.
    assert production.direct("/readyz").status_code == 200
    assert production.through_proxy("/healthz").status_code == 200


# An upstream that reads every body to its end, as an upload view would (the
# example app's views answer before reading one, which hides the proxy's limit).
READER = """
import http.server
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        got = len(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Length", str(len(str(got))))
        self.end_headers()
        self.wfile.write(str(got).encode())
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
"""


def test_the_proxy_refuses_a_body_over_its_limit(production, tmp_path):
    """The stack's Caddyfile, served over plain HTTP in front of a reading
    upstream named ``web``: 1 MB passes, 11 MB never reaches it whole."""
    image, proxy_image = (
        docker.container.inspect(production.container(s)).config.image for s in ("web", "proxy")
    )
    net, web, proxy = unique("body-net"), unique("body-web"), unique("body-proxy")
    docker.network.create(net)
    try:
        docker.run(image, ["-c", READER], detach=True, name=web, networks=[net],
                   network_aliases=["web"], entrypoint="python")  # fmt: skip
        caddyfile = (production.path / "Caddyfile", "/etc/caddy/Caddyfile", "ro")
        docker.run(proxy_image, detach=True, name=proxy, networks=[net],
                   publish=[("127.0.0.1::8080",)], volumes=[caddyfile],
                   envs={"DOMAIN": ":8080", "ADMIN_ALLOWED_IPS": "127.0.0.1/32"})  # fmt: skip
        port = host_port(proxy, 8080)

        def post(size: int) -> tuple[int, bytes]:
            try:
                url = f"http://127.0.0.1:{port}/upload"
                response = httpx.post(url, content=b"x" * size, timeout=30)
            except httpx.TransportError:
                return 0, b""
            return response.status_code, response.content

        wait_until(lambda: post(10)[0] == 200, 30, "the proxy in front of the reader")
        assert post(1024 * 1024) == (200, str(1024 * 1024).encode())
        # Caddy stops reading at 10 MB: 413 since Caddy 2.7, 502 from the 2.6 stand-in.
        status, body = post(11 * 1024 * 1024)
        assert status in {413, 502}, (status, body)
        assert "request body too large" in docker.container.logs(proxy)
    finally:
        remove(web, proxy)
        docker.network.remove(net)


def test_the_proxy_drops_a_client_that_never_finishes_its_headers(production):
    # A raw socket: no HTTP client sends a request whose headers never end.
    context = production.proxy_trust()
    raw = socket.create_connection(("127.0.0.1", production.port("proxy", 443)), timeout=30)
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET /notes/ HTTP/1.1\r\nHost: localhost\r\n")
        started = time.monotonic()
        try:
            closed = tls.recv(1024)
        except (ConnectionError, ssl.SSLError):
            closed = b""
        held = time.monotonic() - started
    # read_header is 10 s: closed then (with or without a 408), not after 30 s.
    assert held < 20 and (closed == b"" or closed.startswith(b"HTTP/1.1 408")), (held, closed)


def test_the_admin_answers_only_the_allowed_addresses(production):
    # Through the proxy, from the host side of the edge network (private).
    assert production.through_proxy("/admin/login/").status_code == 200
    env = dict(production.env, ADMIN_ALLOWED_IPS="192.0.2.1/32")
    narrowed = compose_client(production.path, env, production.files, production.env_files)
    try:
        narrowed.compose.up(["proxy"], detach=True, wait=True, dependencies=False)
        assert production.through_proxy("/admin/login/").status_code == 403
        assert production.through_proxy("/notes/").status_code == 200
    finally:
        production.docker.compose.up(["proxy"], detach=True, wait=True, dependencies=False)
    assert production.through_proxy("/admin/login/").status_code == 200


def test_a_short_or_placeholder_secret_key_stops_the_app_at_start(production):
    image = docker.container.inspect(production.container("web")).config.image
    for key in ("too-short", "django-insecure-" + "x1y2z3" * 10):
        # The CLI itself, for its timeout: an accepted key would serve and never exit.
        proc = run(
            ["docker", "run", "--rm", "--network", "none",
             "-e", f"DJANGO_SECRET_KEY={key}", "-e", "DATABASE_URL=postgres://u@db/x",
             "-e", "REDIS_URL=redis://r:6379/0", image],
            check=False, timeout=120,
        )  # fmt: skip
        assert proc.returncode != 0
        assert "DJANGO_SECRET_KEY must be 50 or more random characters" in proc.stderr + proc.stdout
