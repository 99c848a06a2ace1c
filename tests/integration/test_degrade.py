"""What the production stack keeps doing when a shared piece misbehaves, for
each integration variant: with Redis frozen, logged-in pages, login, the
notes list and readiness still answer 200 within the cache's 1 s timeout; a
cache.clear() leaves queued tasks alone (celery); a 404's django.request
line carries the request ID; a connection the proxy keeps alive between
requests is not closed under it.

Every request goes only to the loopback ports this test's own stack
publishes, a few at a time."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from harness.docker import createsuperuser, docker
from harness.http import log_in
from harness.questions import integration_variants
from harness.report import report
from harness.stack import Stack, wait_healthy
from harness.stores import redis_cli
from harness.wait import wait_until

# The cache's socket timeouts (settings.CACHES) plus a margin for a loaded machine.
WITHIN = 1.0 + 0.5


def timed(call):
    """``(seconds, what call() returned)``."""
    started = time.monotonic()
    result = call()
    return time.monotonic() - started, result


class Browser:
    """A cookie-keeping client of the stack's proxy, as a browser is."""

    def __init__(self, stack: Stack) -> None:
        self.client = stack.proxy_client(follow_redirects=True)
        self.base = str(self.client.base_url).rstrip("/")

    def get(self, path: str) -> tuple[int, str, str]:
        """GET ``path``; status, final URL and body (redirects followed)."""
        response = self.client.get(path)
        return response.status_code, str(response.url), response.text

    def log_in(self, username: str, password: str) -> tuple[int, str]:
        """Log into the admin with its form; status and final URL of the POST."""
        response = log_in(self.client, username, password)
        return response.status_code, str(response.url)


def superuser(stack: Stack) -> tuple[str, str]:
    """A new superuser's ``(username, password)``."""
    username, password = f"degrade{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    stack.docker.compose.run(**createsuperuser(username, password), remove=True, dependencies=False)
    return username, password


def test_with_redis_frozen_pages_login_and_readiness_still_answer(production):
    username, password = superuser(production)
    # One browser logged in before the freeze, one logging in during it.
    before = Browser(production)
    assert before.log_in(username, password)[1].endswith("/admin/")
    during = Browser(production)
    redis = production.container("redis")
    docker.pause(redis)
    try:
        admin = timed(lambda: before.get("/admin/"))
        notes = timed(lambda: before.get("/notes/"))
        ready = timed(lambda: production.direct("/readyz"))
        login = timed(lambda: during.log_in(username, password))
        admin_after_login = timed(lambda: during.get("/admin/"))
    finally:
        docker.unpause(redis)
    seconds = [f"{t:.2f} s" for t in (admin[0], notes[0], ready[0], login[0], admin_after_login[0])]
    report(
        "redis frozen: logged-in /admin/ {}, /notes/ {}, /readyz {}, login {}, "
        "/admin/ after that login {}".format(*seconds)
    )
    # Logged in: the admin index itself, not its login form.
    assert admin[1][0] == 200 and admin[1][1].endswith("/admin/"), admin[1][:2]
    assert notes[1][0] == 200
    assert ready[1].status_code == 200, ready[1].content
    assert json.loads(ready[1].content) == {"status": "ready"}
    assert login[1] == (200, during.base + "/admin/")
    assert admin_after_login[1][0] == 200 and admin_after_login[1][1].endswith("/admin/")
    # Login takes two requests (the form, then its POST).
    slowest = {"admin": admin[0], "notes": notes[0], "readyz": ready[0],
               "login": login[0] / 2, "admin after login": admin_after_login[0]}  # fmt: skip
    assert max(slowest.values()) < WITHIN, slowest


CELERY = [name for name, answers in integration_variants().items() if answers.get("celery")]


@pytest.mark.parametrize("variant", CELERY, indirect=True)
def test_clearing_the_cache_keeps_queued_tasks(production):
    # Queued while no worker takes it, and found again by its ID in the
    # database the app's broker URL names.
    send = (
        "from django.conf import settings; from config import celery_app; "
        "from config.settings import redis_database; "
        "print(redis_database(settings.CELERY_BROKER_URL)[2]); "
        "print(celery_app.send_task('notes.tasks.summarise_pending_notes').id)"
    )
    clear = (
        "from django.core.cache import cache; "
        "cache.set('tt-degrade', 1); cache.clear(); print(cache.get('tt-degrade'))"
    )
    production.docker.compose.stop("worker")
    try:
        out = production.django_shell(send)
        database, task_id = out.strip().splitlines()[-2:]

        def queued() -> str:
            return redis_cli(production, "-n", database, "lrange", "celery", "0", "-1")

        assert task_id in queued()
        cleared = production.django_shell(clear)
        # The cache really was emptied...
        assert cleared.strip().splitlines()[-1] == "None"
        # ...and the task is still waiting in the broker's database.
        assert task_id in queued()
        length = redis_cli(production, "-n", database, "llen", "celery")
        report(f"cache.clear(), worker stopped: task {task_id} still queued in database "
               f"{database} (LLEN {length})")  # fmt: skip
    finally:
        production.docker.compose.start("worker")
        wait_healthy(production, "worker", within=120)


def test_a_404_logs_its_request_id_on_the_django_request_line(production):
    marker = uuid.uuid4().hex
    response = production.through_proxy(f"/no-such-page-{marker}/")
    assert response.status_code == 404
    request_id = response.headers["X-Request-ID"]

    def line():
        for text in production.logs("web").splitlines():
            if marker in text and text.startswith("{"):
                record = json.loads(text)
                if record.get("logger") == "django.request":
                    return record
        return None

    record = wait_until(line, 10, f"django.request line for {marker}")
    report(f"404 django.request line: {json.dumps(record)}")
    assert record["request_id"] == request_id


def test_a_kept_alive_connection_is_not_closed_between_requests(production):
    # Spaced past gunicorn's old 2 s keep-alive: through the proxy, each on one
    # client connection, never a 502; straight to gunicorn, the same socket serves all.
    gap, count = 2.5, 4
    statuses: dict[str, list] = {"proxy": [], "direct": []}
    # The client's own address of each request: one per route when its connection is kept.
    sockets: dict[str, set] = {"proxy": set(), "direct": set()}
    direct = httpx.Client(base_url=production.web, timeout=10)
    with production.proxy_client() as proxied, direct:
        routes = (("proxy", proxied, "/notes/"), ("direct", direct, "/healthz"))
        for index in range(count):
            if index:
                time.sleep(gap)
            for name, client, path in routes:
                try:
                    response = client.get(path, headers={"Host": "localhost"})
                except httpx.TransportError as error:
                    statuses[name].append(type(error).__name__)
                    continue
                statuses[name].append(response.status_code)
                stream = response.extensions["network_stream"]
                sockets[name].add(stream.get_extra_info("client_addr"))
    report(f"keep-alive, {count} requests {gap} s apart on one connection: {statuses}")
    assert statuses == {"proxy": [200] * count, "direct": [200] * count}
    assert {name: len(seen) for name, seen in sockets.items()} == {"proxy": 1, "direct": 1}
