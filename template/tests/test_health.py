"""Tests of the /healthz and /readyz probes against real Postgres and Redis,
and of how the app serves while Redis is down."""

import logging
import secrets
import threading
import time

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import OperationalError
from django.test import override_settings

from ops import probes
from ops.logs import RateLimitFilter

# The app's own cache settings, pointed at port 1, which has no listener:
# connecting is refused at once.
DEAD_REDIS_CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}


def test_healthz_says_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_head_and_refuses_post(client):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


@override_settings(SECURE_SSL_REDIRECT=True)
def test_probes_are_not_redirected_to_https(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/notes/").status_code == 301


@override_settings(ALLOWED_HOSTS=["api.example.com"])
def test_probes_answer_whatever_the_host_header(client):
    # Container and Kubernetes probes send localhost or the pod's IP as Host.
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/notes/", HTTP_HOST="10.1.2.3:8000").status_code == 400


@pytest.mark.django_db
def test_readyz_is_ready_when_database_and_cache_answer(client):
    response = client.get("/readyz")

    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ready"}


@pytest.mark.django_db
def test_readyz_stays_ready_when_redis_is_down(client):
    # Changing CACHES makes Django drop its cache connections (setting_changed),
    # so the view would connect to the dead port, and again to the real one afterwards.
    with override_settings(CACHES=DEAD_REDIS_CACHES):
        response = client.get("/readyz")

    # The site serves without Redis: no pod leaves its Service over it.
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ready"}


@pytest.mark.django_db
def test_readyz_reuses_one_database_connection(client):
    assert client.get("/readyz").status_code == 200
    first = probes.probe_connection().connection

    assert client.get("/readyz").status_code == 200

    # The same open connection: probing opens none every few seconds.
    assert first is not None and not first.closed
    assert probes.probe_connection().connection is first


@pytest.fixture
def cache_errors(caplog, monkeypatch):
    """The records of cache errors logged from here on, on a fresh copy of
    the configured rate limit (an earlier test's errors do not count)."""
    logger = logging.getLogger("django_redis.cache")
    (limit,) = [f for f in logger.filters if isinstance(f, RateLimitFilter)]
    monkeypatch.setattr(logger, "filters", [RateLimitFilter(limit.seconds)])
    caplog.set_level(logging.WARNING)
    return lambda: [r for r in caplog.records if r.name == "django_redis.cache"]


@pytest.mark.django_db
def test_a_cache_error_reads_as_a_miss_and_is_logged_once(cache_errors):
    with override_settings(CACHES=DEAD_REDIS_CACHES):
        assert cache.get("anything", "missed") == "missed"
        cache.set("anything", "value")  # skipped, not raised
        assert cache.get_or_set("other", "computed") == "computed"

    # One record for the burst of errors, not one per cache call.
    (record,) = cache_errors()
    assert record.levelno == logging.ERROR


@pytest.mark.django_db
def test_logged_in_pages_login_and_logout_never_touch_redis(client, cache_errors):
    password = secrets.token_urlsafe()
    user = get_user_model().objects.create_superuser("admin", password=password)
    with override_settings(CACHES=DEAD_REDIS_CACHES):
        logged_in = client.login(username="admin", password=password)
        page = client.get("/admin/", secure=True)
        out = client.post("/admin/logout/", secure=True)
        after = client.get("/admin/", secure=True)

    assert logged_in
    assert page.status_code == 200 and page.context["user"] == user
    assert out.status_code == 200
    # Logged out for real: the admin sends the anonymous visitor to its login page.
    assert after.status_code == 302 and "/admin/login/" in after["Location"]
    # Sessions live in Postgres alone: not one cache call failed on the way.
    assert cache_errors() == []


@pytest.mark.django_db
def test_readyz_names_the_database_when_postgres_fails(client, monkeypatch):
    def refuse():
        raise OperationalError("connection refused")

    monkeypatch.setitem(probes.CHECKS, "database", refuse)

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failed"] == {"database": "OperationalError"}


@pytest.mark.django_db
@override_settings(READINESS_TIMEOUT=0.2)
def test_a_hung_dependency_costs_one_timeout_and_one_thread(client, monkeypatch):
    release = threading.Event()
    calls = []

    def hang():
        calls.append(1)
        release.wait(10)

    monkeypatch.setitem(probes.CHECKS, "database", hang)
    try:
        started = time.monotonic()
        first = client.get("/readyz")
        second = client.get("/readyz")
        elapsed = time.monotonic() - started
    finally:
        release.set()

    assert first.status_code == second.status_code == 503
    assert second.json()["failed"] == {"database": "TimeoutError"}
    assert elapsed < 1
    # The second probe waited on the run still in progress; it started none.
    assert calls == [1]
