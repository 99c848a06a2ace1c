"""Liveness (/healthz) and readiness (/readyz) probes.

ProbeMiddleware answers both before any other middleware, so a probe that
arrives with the pod's IP or ``localhost`` as its Host header, or over plain
HTTP, is answered rather than refused by ALLOWED_HOSTS or redirected.

Readiness checks run on their own threads, each waited for at most
READINESS_TIMEOUT seconds: a frozen database costs a probe that long, and
never more than one stuck thread, however many probes arrive meanwhile.
"""

import contextvars
import logging
import threading
import uuid
from concurrent.futures import Future, wait

from django.conf import settings
from django.core.cache import cache
from django.db import connection
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


def check_database() -> None:
    """Run ``SELECT 1`` on a new connection of this thread, closed after, so
    no probe holds a connection between checks.

    Raises whatever the driver raises when the database cannot be reached,
    typically ``django.db.OperationalError``.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def check_cache() -> None:
    """Write a short-lived key to the default cache (Redis) and read it back.

    Takes: nothing. Returns: None. Raises: redis-py's ``ConnectionError`` or
    ``TimeoutError`` when Redis cannot be reached, ``RuntimeError`` when the
    value read back is not the one written.
    """
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "ok", timeout=5)
    if cache.get(key) != "ok":
        raise RuntimeError("value read back from the cache differs from the one written")


CHECKS = {"database": check_database, "cache": check_cache}
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
    """Say whether the app can serve traffic: database and cache both answer.

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


PROBES = {"/healthz": healthz, "/readyz": readyz}


class ProbeMiddleware:
    """Answer ``/healthz`` and ``/readyz`` before host validation and redirects.

    Takes: the next handler (Django's middleware protocol). Returns, per
    request: the probe's response for the two probe paths, otherwise whatever
    the rest of the stack returns. Raises: nothing of its own.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        probe = PROBES.get(request.path_info)
        if probe is not None:
            return probe(request)
        return self.get_response(request)
