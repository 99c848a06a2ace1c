"""Tests of the /healthz and /readyz probes against real Postgres and Redis."""

import threading
import time

import pytest
from django.db import OperationalError
from django.test import override_settings

from config import health

DEAD_REDIS_CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # Port 1 has no listener: connecting is refused at once.
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}


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
def test_readyz_names_the_cache_when_redis_is_down(client):
    # Changing CACHES makes Django drop its cache connections (setting_changed),
    # so the view connects to the dead port, and again to the real one afterwards.
    with override_settings(CACHES=DEAD_REDIS_CACHES):
        response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert set(body["failed"]) == {"cache"}
    assert body["failed"]["cache"] == "ConnectionError"


@pytest.mark.django_db
def test_readyz_names_the_database_when_postgres_fails(client, monkeypatch):
    def refuse():
        raise OperationalError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", refuse)

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

    monkeypatch.setitem(health.CHECKS, "cache", hang)
    try:
        started = time.monotonic()
        first = client.get("/readyz")
        second = client.get("/readyz")
        elapsed = time.monotonic() - started
    finally:
        release.set()

    assert first.status_code == second.status_code == 503
    assert second.json()["failed"] == {"cache": "TimeoutError"}
    assert elapsed < 1
    # The second probe waited on the run still in progress; it started none.
    assert calls == [1]
