"""Liveness (/healthz) and readiness (/readyz) probes.

ProbeMiddleware answers both before any other middleware, so a probe that
arrives with the pod's IP or ``localhost`` as its Host header, or over plain
HTTP, is answered rather than refused by ALLOWED_HOSTS or redirected.
"""

import logging
import uuid

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
    """Run ``SELECT 1`` on the default database connection.

    Takes: nothing. Returns: None. Raises: whatever the driver raises when the
    database cannot be reached, typically ``django.db.OperationalError``.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


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


@csrf_exempt
@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Say whether the app can serve traffic: database and cache both answer.

    Takes: a GET or HEAD request. Returns: 200 with ``{"status": "ready"}``
    when every check passes, else 503 with ``{"status": "unavailable",
    "failed": {name: "ErrorClass"}}`` naming each failed dependency; the
    error's message, which may name hosts and users, goes only to the log.
    Raises: nothing; a failing check is reported, never raised.
    """
    failed = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # any failure means "not ready", whatever its class
            failed[name] = type(exc).__name__
            logger.warning("readiness check %r failed: %s", name, str(exc).strip())
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
