"""HTTP from the tests to what they run, with waits on conditions, not sleeps."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any


def http_get(
    url: str, timeout: float = 3, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """GET ``url``; return ``(status, body)``, also for 4xx/5xx answers.

    The body is parsed JSON when it parses, else text. Redirects are not
    followed. Raises ``OSError`` (``URLError``, ``TimeoutError``) when nothing
    answers in ``timeout`` seconds.
    """
    request = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, _body(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _body(error.read())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return raw.decode(errors="replace")


def wait_until(condition: Callable[[], Any], within: float, what: str, every: float = 0.2) -> Any:
    """Call ``condition`` until it returns something truthy; return that.

    Exceptions count as "not yet". Raises ``AssertionError`` naming ``what``
    and the last value or error after ``within`` seconds.
    """
    deadline = time.monotonic() + within
    last: Any = None
    while True:
        try:
            value = condition()
            if value:
                return value
            last = value
        except Exception as error:  # any failure means "not yet"
            last = error
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {within} s; last: {last!r}")
        time.sleep(every)


def wait_for_status(
    url: str, status: int = 200, within: float = 60, body_has: dict | None = None
) -> Any:
    """Poll ``url`` until it answers ``status`` (and a JSON body holding every
    item of ``body_has``); return that body. Raises ``AssertionError``."""

    def answered():
        code, body = http_get(url)
        if code == status and (not body_has or body_has.items() <= body.items()):
            return (body,)  # a one-item tuple is truthy even for an empty body
        raise ValueError((code, body))

    return wait_until(answered, within, f"{url} answering {status}")[0]
