"""Liveness (/healthz) and readiness (/readyz) probes.

ProbeMiddleware answers both before any other middleware, so a probe that
arrives with the pod's IP or ``localhost`` as its Host header, or over plain
HTTP, is answered rather than refused by ALLOWED_HOSTS or redirected.

Readiness reports only what keeps this pod from serving: the database, which
every page needs. Redis is not checked: the site serves without it (cache
errors read as misses, sessions live in Postgres), and as a dependency every
pod shares, a Redis outage would take every pod out of its Service at once,
turning a slower site into no site. Its errors show in the logs and in the
django_cache_get_fail_total metric instead.

Readiness checks run on their own threads, each waited for at most
READINESS_TIMEOUT seconds: a frozen database costs a probe that long, and
never more than one stuck thread, however many probes arrive meanwhile. The
database check keeps one connection of its own between probes (reopened only
when a health check finds it broken), so probing opens no connection every
few seconds, and a Postgres that refuses new connections (max_connections
reached) does not fail every pod's readiness together.
"""

import contextvars
import logging
import threading
from concurrent.futures import Future, wait

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@csrf_exempt
@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Say the process is up and serving requests; touch no dependency.

    Takes: a GET or HEAD request. Returns: 200 with ``{"status": "ok"}``.
    Raises: nothing (other methods get 405 from ``require_safe``).
    """
    return JsonResponse({"status": "ok"})


# The probe's own connection to the default database, kept between checks.
_connection = None


def probe_connection():
    """The connection the database check uses, made on first use.

    Not Django's per-thread one: each check runs on a new thread, which
    would open (and close) a new connection every probe. Only one check runs
    at a time (see ``_start``), so sharing it across those threads is safe.
    """
    global _connection
    if _connection is None:
        _connection = connections.create_connection(DEFAULT_DB_ALIAS)
        # Kept until it breaks, whatever CONN_MAX_AGE says: reconnecting is
        # what fails when Postgres is out of connections, and it is not this pod's fault.
        _connection.settings_dict = {**_connection.settings_dict, "CONN_MAX_AGE": None}
        _connection.inc_thread_sharing()
    return _connection


def close_probe_connection() -> None:
    """Close the probe's connection, if open (tests call this before the test
    database is dropped, which an open connection would block)."""
    if _connection is not None:
        _connection.close()


def check_database() -> None:
    """Run ``SELECT 1`` on the probe's own connection, reusing it as Django
    reuses a request's: closed after an error, checked before reuse
    (CONN_HEALTH_CHECKS), so a restarted Postgres costs no failed probe.

    Raises whatever the driver raises when the database cannot be reached,
    typically ``django.db.OperationalError``.
    """
    conn = probe_connection()
    # What Django does at each request's start for its own connections.
    conn.close_if_unusable_or_obsolete()
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


# What /readyz checks; Redis is left out on purpose (see above).
CHECKS = {"database": check_database}
# The run of each check in progress: a probe that arrives while one is stuck
# waits on that run instead of starting another.
_running: dict[str, Future] = {}
_lock = threading.Lock()


def _start(name: str) -> Future:
    """The check ``name`` in progress, or a new run of it when none is.

    Each run gets its own daemon thread, in the probe's context (its request
    ID and trace reach the check): a check stuck on a frozen dependency holds
    that thread alone, and never keeps a stopping worker from exiting.
    """
    with _lock:
        future = _running.get(name)
        if future is None or future.done():
            future = _running[name] = Future()
            context = contextvars.copy_context()
            thread = threading.Thread(
                target=_run,
                args=(future, context, CHECKS[name]),
                name=f"readyz-{name}",
                daemon=True,
            )
            thread.start()
        return future


def _run(future: Future, context: contextvars.Context, check) -> None:
    try:
        future.set_result(context.run(check))
    except Exception as error:  # reported by readyz, whatever its class
        future.set_exception(error)


@csrf_exempt
@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Say whether this pod can serve traffic: its database answers.

    Takes: a GET or HEAD request. Returns, within READINESS_TIMEOUT seconds:
    200 with ``{"status": "ready"}`` when every check passes, else 503 with
    ``{"status": "unavailable", "failed": {name: "ErrorClass"}}`` naming each
    failed dependency (``TimeoutError`` for one that did not answer in time);
    the error's message, which may name hosts and users, goes only to the
    log. Raises: nothing; a failing check is reported, never raised.
    """
    futures = {name: _start(name) for name in CHECKS}
    wait(futures.values(), timeout=settings.READINESS_TIMEOUT)
    failed = {}
    for name, future in futures.items():
        if not future.done():
            failed[name] = "TimeoutError"
            timeout = settings.READINESS_TIMEOUT
            logger.warning("readiness check %r: no answer within %s s", name, timeout)
        elif future.exception() is not None:  # any failure means "not ready", whatever its class
            error = future.exception()
            failed[name] = type(error).__name__
            logger.warning("readiness check %r failed: %s", name, str(error).strip())
    if failed:
        return JsonResponse({"status": "unavailable", "failed": failed}, status=503)
    return JsonResponse({"status": "ready"})


# Each probe's path and view; gunicorn's access log skips these paths' successes.
VIEWS = {"/healthz": healthz, "/readyz": readyz}


class ProbeMiddleware:
    """Answer ``/healthz`` and ``/readyz`` before host validation and redirects.

    Takes: the next handler (Django's middleware protocol). Returns, per
    request: the probe's response for the two probe paths, otherwise whatever
    the rest of the stack returns. Raises: nothing of its own.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        probe = VIEWS.get(request.path_info)
        if probe is not None:
            return probe(request)
        return self.get_response(request)
