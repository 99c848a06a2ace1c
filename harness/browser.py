"""A headless Chromium from Debian's archive, driven over the DevTools
protocol with websocket-client: load a page, log in, and read what the page
said on its console, Content Security Policy violations included.

The browser runs in a container built from chromium.Dockerfile (FROM
debian:trixie-slim, as every render's image is) on the host's network, so it
reaches a stack's published loopback port as a developer's browser does, and
the tests reach its DevTools port on the loopback too.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websocket

from harness.docker import DockerException, docker, remove
from harness.proc import run
from harness.wait import wait_until

RECIPE = Path(__file__).with_name("chromium.Dockerfile")
# Log levels that are no complaint: Chromium's hints about the page.
QUIET_LEVELS = {"verbose", "info"}
# Console calls that are complaints.
LOUD_CALLS = {"error", "warning", "assert"}


def chromium_image() -> tuple[str, float]:
    """The browser image's tag, built when this recipe has no image yet (it is
    kept between runs: built once per machine), and the seconds the build took."""
    tag = f"django-service-template-chromium:{hashlib.sha256(RECIPE.read_bytes()).hexdigest()[:12]}"
    started = time.monotonic()
    try:
        docker.image.inspect(tag)
    except DockerException:
        # No build context: the recipe copies nothing in.
        run(
            ["docker", "build", "--quiet", "--tag", tag, "-"],
            input=RECIPE.read_text(),
            timeout=1500,
        )
    return tag, time.monotonic() - started


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def chromium(image: str, name: str) -> Iterator[str]:
    """Run ``image`` as container ``name`` on the host's network; yield its
    DevTools address (``http://127.0.0.1:PORT``) once it answers, and remove
    the container afterwards."""
    port = free_port()
    docker.run(
        image, [f"--remote-debugging-port={port}", "about:blank"],
        detach=True, name=name, networks=["host"],
    )  # fmt: skip
    address = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until(
                lambda: httpx.get(f"{address}/json/version").is_success, 60, "Chromium's DevTools"
            )
        except AssertionError as error:
            raise AssertionError(f"{error}\n{docker.container.logs(name)[-3000:]}") from None
        yield address
    finally:
        remove(name)


@dataclass
class Visit:
    """What loading one URL showed: the page's title, the Content-Security-Policy
    header of its document, and every complaint the page logged."""

    url: str
    title: str
    policy: str | None
    complaints: list[str] = field(default_factory=list)


class Page:
    """One browser tab. Records every console message, log entry (CSP
    violations arrive as ``Log.entryAdded`` from source ``security``) and
    uncaught exception, and each document's response headers."""

    def __init__(self, devtools: str):
        target = httpx.put(f"{devtools}/json/new?about:blank").json()
        # No Origin header: Chromium refuses DevTools sockets from origins it was not told to allow.
        self.socket = websocket.create_connection(
            target["webSocketDebuggerUrl"], timeout=30, suppress_origin=True
        )
        self.sent = 0
        self.complaints: list[str] = []
        self.headers: dict[str, dict[str, str]] = {}
        self.loaded = False
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict:
        """Send a DevTools command; return its result, noting the events that
        arrive meanwhile. Raises ``RuntimeError`` with the protocol's error."""
        self.sent += 1
        self.socket.send(json.dumps({"id": self.sent, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.sent:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self._note(message)

    def _note(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Page.loadEventFired":
            self.loaded = True
        elif method == "Network.responseReceived" and params.get("type") == "Document":
            response = params["response"]
            self.headers[response["url"]] = {k.lower(): v for k, v in response["headers"].items()}
        elif method == "Log.entryAdded" and params["entry"]["level"] not in QUIET_LEVELS:
            entry = params["entry"]
            self.complaints.append(f"log {entry['level']} [{entry['source']}]: {entry['text']}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in LOUD_CALLS:
            words = " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            self.complaints.append(f"console.{params['type']}: {words}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            thrown = details.get("exception", {}).get("description", "")
            self.complaints.append(f"exception: {details.get('text', '')} {thrown}".strip())

    def _listen(self, done: Callable[[], bool], within: float) -> bool:
        """Note events until ``done()`` or ``within`` seconds; whether it was done."""
        end = time.monotonic() + within
        self.socket.settimeout(0.1)
        try:
            while not done() and time.monotonic() < end:
                with suppress(websocket.WebSocketTimeoutException):
                    self._note(json.loads(self.socket.recv()))
        finally:
            self.socket.settimeout(30)
        return done()

    def settle(self, quiet: float = 1.0, within: float = 15) -> None:
        """Wait for the current load to finish, then until no event has come
        for ``quiet`` seconds: violations a script causes late are counted too."""
        assert self._listen(lambda: self.loaded, within), "the page did not finish loading"
        heard = [time.monotonic()]
        count = [len(self.complaints)]

        def quiet_for() -> bool:
            if len(self.complaints) != count[0]:
                count[0], heard[0] = len(self.complaints), time.monotonic()
            return time.monotonic() - heard[0] >= quiet

        self._listen(quiet_for, within)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (DevTools runs it
        outside the page's policy, as a developer's console would)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def open(self, url: str) -> Visit:
        """Load ``url`` and wait for it to settle; what it showed."""
        before = len(self.complaints)
        self.loaded = False
        self.call("Page.navigate", url=url)
        self.settle()
        return self._visit(url, before)

    def submit(self, expression: str) -> Visit:
        """Run ``expression`` (one that submits a form) and wait for the page
        it leads to; what that page showed."""
        before = len(self.complaints)
        self.loaded = False
        self.evaluate(expression)
        self.settle()
        return self._visit(self.evaluate("location.href"), before)

    def _visit(self, url: str, before: int) -> Visit:
        here = self.evaluate("location.href")
        headers = self.headers.get(here, {})
        return Visit(
            here or url,
            self.evaluate("document.title"),
            headers.get("content-security-policy"),
            self.complaints[before:],
        )

    def close(self) -> None:
        self.socket.close()


def log_in_form(username: str, password: str) -> str:
    """JavaScript that fills the admin's login form and submits it."""
    return (
        f"document.querySelector('#id_username').value = {json.dumps(username)};"
        f"document.querySelector('#id_password').value = {json.dumps(password)};"
        "document.querySelector('#login-form').submit();"
    )
