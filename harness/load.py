"""Steady HTTP load from the tests, bounded in requests and in time, aimed
only at loopback ports the tests' own containers publish."""

from __future__ import annotations

import http.client
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Outcome:
    """One request: when it started and ended (monotonic seconds), and its
    status, or the name of the error that ended it instead."""

    start: float
    end: float
    status: int | None
    error: str | None = None


@dataclass
class Load:
    """``threads`` clients sending GET ``url`` (with ``headers``) at ``rate``
    requests per second in all, each on a new connection, until stopped,
    ``max_seconds`` pass or ``max_requests`` are sent. Use as a context
    manager; ``outcomes`` holds every request once it ends.

    Loopback only: a load test here must never leave the machine.
    """

    url: str
    rate: float = 40
    threads: int = 4
    max_seconds: float = 60
    max_requests: int = 5000
    timeout: float = 10
    headers: dict[str, str] = field(default_factory=dict)
    # For https URLs: whom to trust (e.g. the test proxy's own CA).
    context: ssl.SSLContext | None = None
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self):
        parts = urllib.parse.urlsplit(self.url)
        if parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError(f"load goes to loopback only, not {parts.hostname}")
        self._parts = parts
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sent = 0
        self._workers = [
            threading.Thread(target=self._client, daemon=True) for _ in range(self.threads)
        ]

    def __enter__(self) -> Load:
        self._deadline = time.monotonic() + self.max_seconds
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sending, and wait for the requests in progress to end."""
        self._stop.set()
        for worker in self._workers:
            worker.join(self.timeout + 5)

    def _client(self) -> None:
        interval = self.threads / self.rate
        path = self._parts.path + (f"?{self._parts.query}" if self._parts.query else "")
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            with self._lock:
                if self._sent >= self.max_requests:
                    return
                self._sent += 1
            start = time.monotonic()
            self.outcomes.append(self._one(path, start))
            self._stop.wait(max(0.0, interval - (time.monotonic() - start)))

    def _one(self, path: str, start: float) -> Outcome:
        if self._parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                self._parts.hostname, self._parts.port, timeout=self.timeout, context=self.context
            )
        else:
            conn = http.client.HTTPConnection(
                self._parts.hostname, self._parts.port, timeout=self.timeout
            )
        try:
            conn.request("GET", path, headers=self.headers)
            response = conn.getresponse()
            response.read()
            return Outcome(start, time.monotonic(), response.status)
        except (OSError, http.client.HTTPException) as error:
            return Outcome(start, time.monotonic(), None, type(error).__name__)
        finally:
            conn.close()

    def between(self, begin: float, end: float) -> list[Outcome]:
        """The requests that started in ``[begin, end)``."""
        return [o for o in self.outcomes if begin <= o.start < end]


def failures(outcomes: list[Outcome], ok: int = 200) -> list[Outcome]:
    """The outcomes that are not a ``ok`` response."""
    return [o for o in outcomes if o.status != ok]
