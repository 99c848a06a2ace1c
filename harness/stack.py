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
import http.client
import http.cookiejar
import ipaddress
import json
import re
import secrets
import ssl
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness.docker import compose, docker, unique
from harness.http import wait_until
from harness.proc import run

# A listener that answers 200 to everything and prints what it was sent.
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
    ids = docker("network", "ls", "-q").split()
    used = docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", *ids)
    taken = [ipaddress.ip_network(n) for n in used.split() if ":" not in n]
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
    subnet: ipaddress.IPv4Network

    def compose(self, *args: str, timeout: float = 900) -> str:
        return compose(self.path, self.env, *self.files, *args, timeout=timeout)

    def container(self, service: str) -> str:
        return self.compose("ps", "--all", "-q", service).strip()

    def port(self, service: str, port: int) -> int:
        return int(self.compose("port", service, str(port)).strip().rsplit(":", 1)[1])

    @property
    def web(self) -> str:
        """web's own address on loopback, around the proxy."""
        return f"http://127.0.0.1:{self.port('web', 8000)}"

    def logs(self, service: str) -> str:
        """The service's output as Docker keeps it (no compose decoration)."""
        proc = run(["docker", "logs", self.container(service)])
        return proc.stdout + proc.stderr

    def received(self, fake: str) -> list[tuple[str, bytes]]:
        """``(path, body)`` of every request ``fake-sentry``/``fake-otlp`` got."""
        lines = [json.loads(line) for line in self.logs(fake).splitlines() if line.startswith("{")]
        return [(line["path"], base64.b64decode(line["body"])) for line in lines]

    def proxy_trust(self) -> ssl.SSLContext:
        """A TLS context that trusts Caddy's own CA (it signs localhost's certificate)."""
        root = self.compose(
            "exec", "-T", "proxy", "cat", "/data/caddy/pki/authorities/local/root.crt"
        )
        return ssl.create_default_context(cadata=root)

    def direct(self, path: str, **headers: str) -> http.client.HTTPResponse:
        """GET ``path`` from web's own port, around the proxy, with Host: localhost."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port("web", 8000), timeout=10)
        return _request(conn, "GET", path, {"Host": "localhost", **headers})

    def through_proxy(
        self, path: str, method: str = "GET", **headers: str
    ) -> http.client.HTTPResponse:
        """``method`` https://localhost``path`` through Caddy; the response, its
        body read into ``.body``."""
        conn = http.client.HTTPSConnection(
            "localhost", self.port("proxy", 443), context=self.proxy_trust(), timeout=10
        )
        return _request(conn, method, path, headers)


def _request(
    conn: http.client.HTTPConnection, method: str, path: str, headers: dict
) -> http.client.HTTPResponse:
    conn.request(method, path, headers=headers)
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def start(name: str, path: Path, build_env: dict[str, str], settings: dict[str, str]) -> Stack:
    """Write .env.production (``settings`` over test defaults) and the test
    override next to the render's compose files, and bring the stack up as
    `make prod-up` does. Raises ``AssertionError`` when it does not come up."""
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
    files = [
        "--file",
        "compose.production.yaml",
        "--file",
        "test-overrides.yaml",
        "--env-file",
        ".env.production",
    ]
    stack = Stack(
        name, path, dict(build_env, COMPOSE_PROJECT_NAME=unique(f"prod-{name}")), files, subnet
    )
    try:
        stack.compose("up", "--build", "--detach", "--wait", timeout=1800)
    except AssertionError:
        stop(stack)
        raise
    return stack


def stop(stack: Stack) -> None:
    """Remove the stack, its volumes and the image it built."""
    stack.compose("down", "--volumes")
    run(["docker", "image", "rm", f"{unique(stack.name)}-production"], check=False)


def wait_healthy(stack: Stack, service: str, within: float = 60) -> None:
    """Wait until Docker reports ``service``'s healthcheck healthy."""
    container = stack.container(service)
    wait_until(
        lambda: docker("inspect", "-f", "{{.State.Health.Status}}", container).strip() == "healthy",
        within,
        f"{service} healthy",
        every=0.5,
    )


def access_record(container: str, marker: str) -> dict:
    """gunicorn's JSON access-log record, in ``container``'s output, of the
    request whose path carries ``marker`` (waiting up to 10 s for gunicorn
    to write it). Raises ``AssertionError`` when none appears."""

    def record():
        proc = run(["docker", "logs", container])
        for line in (proc.stdout + proc.stderr).splitlines():
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
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=stack.proxy_trust()),
        urllib.request.HTTPCookieProcessor(jar),
    )
    url = f"https://localhost:{stack.port('proxy', 443)}/admin/login/"
    page = opener.open(url).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    fields = {"csrfmiddlewaretoken": token, "username": username, "password": password}
    form = urllib.parse.urlencode({**fields, "next": "/admin/"})
    request = urllib.request.Request(url, data=form.encode(), headers={"Referer": url})
    with opener.open(request) as response:
        assert response.geturl().endswith("/admin/"), response.geturl()
    cookies = {cookie.name: cookie.value for cookie in jar}
    return {
        "Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items()),
        "X-CSRFToken": cookies["csrftoken"],
        "Referer": url,
    }
