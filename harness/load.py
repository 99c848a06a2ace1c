"""Steady HTTP load from the tests, bounded in requests and in time, aimed
only at loopback ports the tests' own containers publish.

Ours, on httpx: load tools (locust, vegeta) report aggregates, and the tests
need each request's own start, end and outcome to split them at an event.
"""

from __future__ import annotations

import ssl
import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class Outcome:
    """One request: when it started and ended (monotonic seconds), and its
    status, or the name of the error that ended it instead: httpx's exception
    class, or ``IncompleteRead`` when the headers came but the body was cut short."""

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
        host = httpx.URL(self.url).host
        if host not in {"127.0.0.1", "localhost", "::1"}:
            raise ValueError(f"load goes to loopback only, not {host}")
        # Keeping no idle connection: each request on a new one, as the docstring says.
        self._http = httpx.Client(
            verify=self.context or True,
            timeout=self.timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
        )
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
        self._http.close()

    def _client(self) -> None:
        interval = self.threads / self.rate
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            with self._lock:
                if self._sent >= self.max_requests:
                    return
                self._sent += 1
            start = time.monotonic()
            self.outcomes.append(self._one(start))
            self._stop.wait(max(0.0, interval - (time.monotonic() - start)))

    def _one(self, start: float) -> Outcome:
        try:
            with self._http.stream("GET", self.url, headers=self.headers) as response:
                try:
                    response.read()
                except httpx.HTTPError:
                    return Outcome(start, time.monotonic(), None, "IncompleteRead")
                return Outcome(start, time.monotonic(), response.status_code)
        except httpx.HTTPError as error:
            return Outcome(start, time.monotonic(), None, type(error).__name__)

    def between(self, begin: float, end: float) -> list[Outcome]:
        """The requests that started in ``[begin, end)``."""
        return [o for o in self.outcomes if begin <= o.start < end]


def failures(outcomes: list[Outcome], ok: int = 200) -> list[Outcome]:
    """The outcomes that are not a ``ok`` response."""
    return [o for o in outcomes if o.status != ok]
