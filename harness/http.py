"""HTTP from the tests to what they run, on httpx, with waits on conditions, not sleeps."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from harness.wait import wait_until


def http_get(
    url: str, timeout: float = 3, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """GET ``url``; return ``(status, body)``, also for 4xx/5xx answers.

    The body is parsed JSON when it parses, else text. Redirects are not
    followed (httpx's default). Raises ``httpx.TransportError`` (``ConnectError``,
    ``ReadTimeout``...) when nothing answers in ``timeout`` seconds.
    """
    response = httpx.get(url, timeout=timeout, headers=headers)
    return response.status_code, _body(response.content)


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return raw.decode(errors="replace")


def log_in(browser: httpx.Client, username: str, password: str) -> httpx.Response:
    """Log ``username`` into the Django admin as a browser does, with
    ``browser`` (an ``httpx.Client`` with a ``base_url``; it keeps the
    cookies): GET /admin/login/, then POST its CSRF token and the credentials
    with ``next=/admin/`` and a same-origin Referer, following redirects.

    Returns the last response (200 at /admin/ when the login worked). Raises
    ``AttributeError`` when the page holds no CSRF token, ``httpx.HTTPError``
    when nothing answers.
    """
    url = str(browser.base_url.join("/admin/login/"))
    page = browser.get(url).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"csrfmiddlewaretoken": token, "username": username, "password": password}
    return browser.post(
        url, data={**form, "next": "/admin/"}, headers={"Referer": url}, follow_redirects=True
    )


def wait_for_status(
    url: str, status: int = 200, within: float = 60, body_has: dict | None = None
) -> Any:
    """Poll ``url`` with ``harness.wait.wait_until`` until it answers ``status``
    (and a JSON body holding every item of ``body_has``); return that body.
    Raises ``AssertionError`` after ``within`` seconds."""

    def answered():
        code, body = http_get(url)
        if code == status and (not body_has or body_has.items() <= body.items()):
            return (body,)  # a one-item tuple is truthy even for an empty body
        raise ValueError((code, body))

    return wait_until(answered, within, f"{url} answering {status}")[0]
