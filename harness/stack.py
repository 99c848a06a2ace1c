"""The production stack (compose.production.yaml) of a render, run for tests
as `make prod-up` runs it, plus one override file of test plumbing:

- web's port published on loopback, so requests can go around the proxy;
- ``fake-sentry`` and ``fake-otlp``: listeners on the stack's internal
  network, from the production image's own Python, that print every request
  body they receive (base64, one JSON line each) for the tests to read.

Traffic stays on loopback and the stack's own networks.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import ssl
from contextlib import suppress
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import httpx

from harness.docker import DockerClient, DockerException, compose_client, docker, healthy, unique
from harness.http import log_in
from harness.wait import wait_until

# A listener that answers 200 to everything and prints what it was sent.
# Ours on http.server: it runs in the production image, which has no test libraries.
LISTENER = """
import base64, gzip, http.server, json, sys, zlib
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        print(json.dumps({"path": self.path, "body": base64.b64encode(body).decode()}), flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler).serve_forever()
"""


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 172.16.0.0/16 that no Docker network on this engine uses
    (Docker's own address pools start at 172.17.0.0/16)."""
    configs = [c for net in docker.network.list() for c in net.ipam.config or []]
    taken = [ipaddress.ip_network(c["Subnet"]) for c in configs if ":" not in c.get("Subnet", ":")]
    for third in range(200, 0, -1):
        candidate = ipaddress.ip_network(f"172.16.{third}.0/24")
        if not any(candidate.overlaps(net) for net in taken):
            return candidate
    raise AssertionError("no free /24 left in 172.16.0.0/16")


@dataclass
class Stack:
    """A running production stack, and ways to talk to it."""

    name: str
    path: Path
    env: dict[str, str]
    files: list[str]
    env_files: list[str]
    subnet: ipaddress.IPv4Network

    @cached_property
    def docker(self) -> DockerClient:
        """python-on-whales' client of this stack: ``.compose`` runs Compose on
        its ``files`` (relative to ``path``), ``env_files`` and ``env``."""
        return compose_client(self.path, self.env, self.files, self.env_files)

    def compose_command(self, *args: str) -> list[str]:
        """The ``docker compose ARGS`` argv of this stack, for a process that
        runs in the background (python-on-whales' calls block until done)."""
        return [str(part) for part in self.docker.compose.docker_compose_cmd] + list(args)

    def container(self, service: str) -> str:
        """The ID of ``service``'s container, running or not."""
        return self.docker.compose.ps([service], all=True)[0].id

    def port(self, service: str, port: int) -> int:
        """The host port Compose published for ``service``'s ``port``."""
        return self.docker.compose.port(service, port)[1]

    @property
    def web(self) -> str:
        """web's own address on loopback, around the proxy."""
        return f"http://127.0.0.1:{self.port('web', 8000)}"

    def logs(self, service: str) -> str:
        """The service's output as Docker keeps it (no compose decoration)."""
        return docker.container.logs(self.container(service))

    def django_shell(self, code: str, run: bool = False) -> str:
        """Run ``code`` in ``manage.py shell`` in web (``run``: in a throwaway
        web container, without dependencies); return what it printed. Raises
        ``DockerException`` when the command exits non-zero."""
        command = ["python", "manage.py", "shell", "-c", code]
        if run:
            return self.docker.compose.run(
                "web", command, remove=True, dependencies=False, tty=False
            )
        return self.docker.compose.execute("web", command, tty=False)

    def received(self, fake: str) -> list[tuple[str, bytes]]:
        """``(path, body)`` of every request ``fake-sentry``/``fake-otlp`` got."""
        lines = [json.loads(line) for line in self.logs(fake).splitlines() if line.startswith("{")]
        return [(line["path"], base64.b64decode(line["body"])) for line in lines]

    def proxy_trust(self) -> ssl.SSLContext:
        """A TLS context that trusts Caddy's own CA (it signs localhost's certificate)."""
        root = self.docker.compose.execute(
            "proxy", ["cat", "/data/caddy/pki/authorities/local/root.crt"], tty=False
        )
        return ssl.create_default_context(cadata=root)

    def proxy_client(self, **options) -> httpx.Client:
        """An httpx client of https://localhost through Caddy, trusting its CA,
        10 s timeouts; ``options`` go to ``httpx.Client`` (it follows no
        redirects and keeps its connection alive unless told otherwise)."""
        return httpx.Client(
            base_url=f"https://localhost:{self.port('proxy', 443)}",
            verify=self.proxy_trust(),
            timeout=10,
            **options,
        )

    def direct(self, path: str, **headers: str) -> httpx.Response:
        """GET ``path`` from web's own port, around the proxy, with Host: localhost.
        Raises ``httpx.TransportError`` when web does not answer."""
        return httpx.get(self.web + path, headers={"Host": "localhost", **headers}, timeout=10)

    def through_proxy(self, path: str, method: str = "GET", **headers: str) -> httpx.Response:
        """``method`` https://localhost``path`` through Caddy; the response, its
        body read. Raises ``httpx.TransportError`` when Caddy does not answer."""
        with self.proxy_client() as client:
            return client.request(method, path, headers=headers)


def start(name: str, path: Path, build_env: dict[str, str], settings: dict[str, str]) -> Stack:
    """Write .env.production (``settings`` over test defaults) and the test
    override next to the render's compose files, and bring the stack up as
    `make prod-up` does (``compose up --wait``). Raises python-on-whales'
    ``DockerException`` when it does not come up, after removing it."""
    subnet = free_subnet()
    image = f"{unique(name)}-production"
    values = {
        "DOMAIN": "localhost",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "DATABASE_PASSWORD": secrets.token_hex(16),
        "REDIS_PASSWORD": secrets.token_hex(16),
        "HTTP_PUBLISH": "127.0.0.1:0",
        "HTTPS_PUBLISH": "127.0.0.1:0",
        "EDGE_SUBNET": str(subnet),
        "EDGE_DYNAMIC_RANGE": str(list(subnet.subnets())[1]),
        "PROXY_ADDRESS": str(subnet[2]),
        "IMAGE": image,
        **settings,
    }
    (path / ".env.production").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    fakes = {
        fake: {
            "image": image,
            # The image web builds; never pulled.
            "pull_policy": "never",
            "entrypoint": ["python", "-c", LISTENER, str(port)],
            # Its own healthcheck (the image's probes the app): listening.
            "healthcheck": {
                "test": [
                    "CMD",
                    "python",
                    "-c",
                    f"import socket; socket.create_connection(('127.0.0.1', {port}))",
                ],
                "interval": "10s",
                "start_period": "10s",
                "start_interval": "1s",
            },
            "networks": ["internal"],
        }
        for fake, port in (("fake-sentry", 9000), ("fake-otlp", 4318))
    }
    override = {"services": {"web": {"ports": ["127.0.0.1:0:8000"]}, **fakes}}
    (path / "test-overrides.yaml").write_text(json.dumps(override, indent=2))
    files = ["compose.production.yaml", "test-overrides.yaml"]
    env = dict(build_env, COMPOSE_PROJECT_NAME=unique(f"prod-{name}"))
    stack = Stack(name, path, env, files, [".env.production"], subnet)
    try:
        stack.docker.compose.up(build=True, detach=True, wait=True)
    except DockerException:
        stop(stack)
        raise
    return stack


def stop(stack: Stack) -> None:
    """Remove the stack, its volumes and the image it built."""
    stack.docker.compose.down(volumes=True)
    with suppress(DockerException):  # not built when the stack failed before
        docker.image.remove(f"{unique(stack.name)}-production")


def wait_healthy(stack: Stack, service: str, within: float = 60) -> None:
    """Wait until Docker reports ``service``'s healthcheck healthy."""
    container = stack.container(service)
    wait_until(lambda: healthy(container), within, f"{service} healthy", every=0.5)


def access_record(container: str, marker: str) -> dict:
    """gunicorn's JSON access-log record, in ``container``'s output, of the
    request whose path carries ``marker`` (waiting up to 10 s for gunicorn
    to write it). Raises ``AssertionError`` when none appears."""

    def record():
        for line in docker.container.logs(container).splitlines():
            if marker in line and line.startswith("{"):
                entry = json.loads(line)
                if entry.get("logger") == "gunicorn.access":
                    return entry
        return None

    return wait_until(record, 10, f"access log record for {marker}")


def admin_session(stack: Stack, username: str, password: str) -> dict[str, str]:
    """Log ``username`` in through the proxy with the admin's form, as a
    browser does; return the headers that make later requests come from that
    session: its cookies (session and CSRF), the CSRF token in X-CSRFToken
    and a same-origin Referer. Raises ``AssertionError`` when the login does
    not land on /admin/."""
    with stack.proxy_client() as browser:
        landed = log_in(browser, username, password)
        assert (landed.status_code, landed.url.path) == (200, "/admin/"), landed.url
        cookies = {cookie.name: cookie.value for cookie in browser.cookies.jar}
    return {
        "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
        "X-CSRFToken": cookies["csrftoken"],
        "Referer": str(landed.url.join("/admin/login/")),
    }
