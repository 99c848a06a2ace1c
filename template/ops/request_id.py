"""Request IDs: one per request, on every log line it causes and in its response.

The ID comes from the X-Request-ID header when a proxy set one (Caddy in the
production stack sets its own for every request, replacing what a client
sent), else is made here; it is returned in X-Request-ID, put on every log
record of the request by RequestIDFilter, and left in the WSGI environ for
gunicorn's access log line and for django.request's line, which Django
writes after every middleware has returned.
"""

import contextvars
import logging
import re
import uuid

from django.http import HttpRequest

# The current request's ID, or None outside a request (startup, commands).
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
# What an incoming ID may look like: short, and nothing that could forge a log line.
ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{8,128}")
# Where gunicorn's access log (ops.gunicorn_logger) finds the ID.
ENVIRON_KEY = "service.request_id"


class RequestIDMiddleware:
    """Give each request an ID, expose it to logging and in the response.

    Takes the next handler (Django's middleware protocol). Returns, per
    request, the response of the rest of the stack with X-Request-ID set.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        offered = request.headers.get("X-Request-ID", "")
        current = offered if ACCEPTED.fullmatch(offered) else uuid.uuid4().hex
        request.META[ENVIRON_KEY] = current
        token = request_id.set(current)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = current
        return response


class RequestIDFilter(logging.Filter):
    """Add ``request_id`` to every record: the current request's, else that
    of the request the record names (django.request logs 4xx and 5xx
    responses with ``extra={"request": ...}`` once the middleware has
    returned), else None. Returns True: it drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = request_id.get()
        if current is None:
            meta = getattr(getattr(record, "request", None), "META", None)
            current = meta.get(ENVIRON_KEY) if isinstance(meta, dict) else None
        record.request_id = current
        return True
