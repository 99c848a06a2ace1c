"""What an operator sees of the production stack: JSON log lines carrying a
request ID, Prometheus metrics summed over every gunicorn worker and kept off
the proxy, and, where the answers add them, errors in Sentry and traces over
OTLP, received here by the stack's own fake listeners (harness.stack)."""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.docker import DockerException, createsuperuser, docker
from harness.questions import integration_variants
from harness.render import answers_of
from harness.stack import Stack, admin_session, wait_healthy
from harness.wait import wait_until

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def answers(stack: Stack) -> dict:
    return answers_of(stack.path)


def json_lines(stack: Stack, service: str = "web") -> list[dict]:
    """Every line the service wrote, parsed; a line that is not JSON fails."""
    lines = [line for line in stack.logs(service).splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def records_with(stack: Stack, marker: str, logger: str) -> list[dict]:
    def found():
        return [r for r in json_lines(stack) if r.get("logger") == logger and marker in str(r)]

    return wait_until(found, 10, f"{logger} records carrying {marker}")


def test_every_line_the_app_writes_is_json(production):
    production.through_proxy("/notes/")
    records = json_lines(production)
    assert records
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= record.keys(), record


def test_access_records_carry_the_request_id_status_and_duration(production):
    marker = uuid.uuid4().hex
    response = production.through_proxy(f"/notes/?via={marker}")
    request_id = response.headers["X-Request-ID"]
    # Caddy gave the request its ID (a UUID); the app kept it and returned it.
    assert UUID.fullmatch(request_id)
    (record,) = records_with(production, marker, "gunicorn.access")
    assert record["request_id"] == request_id
    assert record["status"] == 200 and record["method"] == "GET"
    assert isinstance(record["duration_ms"], float) and record["duration_ms"] > 0


def test_an_id_set_by_the_proxy_is_kept_and_reaches_app_log_lines(production):
    # As a proxy in front sends it: the app keeps it, on its own lines too.
    request_id = f"proxy-{uuid.uuid4().hex}"
    db = production.container("db")
    docker.pause(db)
    try:
        response = production.direct("/readyz", **{"X-Request-ID": request_id})
    finally:
        docker.unpause(db)
    assert response.status_code == 503
    assert response.headers["X-Request-ID"] == request_id
    warnings = records_with(production, request_id, "ops.probes")
    assert warnings[0]["request_id"] == request_id and warnings[0]["level"] == "WARNING"


def scrape(stack: Stack) -> dict[str, float]:
    """Every sample of the metrics port, read inside web (it is not published)."""
    # urllib: this runs in the production image, which has no httpx.
    code = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8001/metrics').read().decode())"
    text = docker.execute(stack.container("web"), ["python", "-c", code])
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def count(samples: dict[str, float], metric: str, **labels: str) -> float:
    """The sum of ``metric``'s samples whose labels include ``labels``."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(
        value
        for name, value in samples.items()
        if name.split("{")[0] == metric and all(w in name for w in wanted)
    )


def test_metrics_count_every_request_of_every_worker_and_leave_probes_out(production):
    before = scrape(production)
    marker = uuid.uuid4().hex
    # Through the proxy, as users come: the view and status are labelled.
    viewed = 20
    for index in range(viewed):
        assert production.through_proxy(f"/notes/?n={index}&m={marker}").status_code == 200
    # Around it, each on a new connection, in parallel: both workers take some
    # (over HTTP they are redirected to HTTPS, and counted all the same).
    direct = 40
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: production.direct(f"/notes/?d={n}&m={marker}"), range(direct)))
    for _ in range(10):
        production.direct("/healthz")
    after = scrape(production)
    served = wait_until(
        lambda: (
            (found := records_with(production, marker, "gunicorn.access"))
            and len(found) == viewed + direct
            and found
        ),
        10,
        "every request's access record",
    )
    by_view = "django_http_responses_total_by_status_view_method_total"
    labels = {"status": "200", "view": "note-list", "method": "GET"}
    assert count(after, by_view, **labels) - count(before, by_view, **labels) == viewed
    # Every request counted, summed over every worker; probes (answered before
    # the metrics middleware) not at all.
    assert len({record["process"] for record in served}) > 1
    every = "django_http_requests_before_middlewares_total"
    assert count(after, every) - count(before, every) == viewed + direct
    assert count(after, "django_db_execute_total") > count(before, "django_db_execute_total")
    # Latency, of the whole stack and by view (the metric families kept in ops/metrics.py).
    stack = "django_http_requests_latency_including_middlewares_seconds_count"
    assert count(after, stack) - count(before, stack) == viewed + direct
    by_view = "django_http_requests_latency_seconds_by_view_method_count"
    labels = {"view": "note-list", "method": "GET"}
    assert count(after, by_view, **labels) - count(before, by_view, **labels) == viewed


def test_metrics_are_not_served_through_the_proxy(production):
    assert production.through_proxy("/metrics").status_code == 404


def has_package(stack: Stack, module: str) -> bool:
    """Whether the production image can import ``module``."""
    try:
        docker.execute(stack.container("web"), ["python", "-c", f"import {module}"])
    except DockerException:
        return False
    return True


def test_sentry_and_opentelemetry_are_in_the_image_only_when_answered(production):
    assert has_package(production, "sentry_sdk") is answers(production)["sentry"]
    assert has_package(production, "opentelemetry.sdk") is answers(production)["opentelemetry"]


def answering(question: str) -> pytest.MarkDecorator:
    """Run the test on the integration variants that answer yes to ``question``."""
    names = [name for name, answers in integration_variants().items() if answers.get(question)]
    assert names, f"no integration variant answers {question}: yes"
    return pytest.mark.parametrize("variant", names, indirect=True)


def sentry_events(stack: Stack) -> list[dict]:
    """The error events in the envelopes fake-sentry received."""
    events = []
    for _, body in stack.received("fake-sentry"):
        lines = body.split(b"\n")
        for header, payload in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    return events


@answering("sentry")
def test_a_failing_view_sends_one_sentry_event_with_the_release(production):
    stack = production
    before = len(sentry_events(stack))
    db = stack.container("db")
    docker.stop(db)
    try:
        response = stack.through_proxy(f"/notes/?boom={uuid.uuid4().hex}")
    finally:
        docker.start(db)
        wait_healthy(stack, "db")
    assert response.status_code == 500

    def request_events() -> list[dict]:
        # Events about a request; with celery, a task beat started while the
        # database was down reports its own failure, which is not this one.
        return [event for event in sentry_events(stack)[before:] if "request" in event]

    wait_until(request_events, 15, "a Sentry event")
    time.sleep(2)  # a duplicate, if any, would arrive right behind it
    events = request_events()
    assert len(events) == 1
    assert events[0]["release"] == f"test-{stack.name}"
    assert "user" not in events[0] or "ip_address" not in events[0]["user"]


@answering("sentry")
def test_without_a_dsn_sentry_opens_no_connection(production):
    script = (
        "import socket, logging, django\n"
        "tried = []\n"
        "real = socket.socket.connect\n"
        "socket.socket.connect = lambda self, addr: (tried.append(addr), real(self, addr))[1]\n"
        "django.setup()\n"
        "import sentry_sdk\n"
        "try:\n    raise RuntimeError('boom')\n"
        "except RuntimeError:\n    logging.getLogger('probe').exception('failed')\n"
        "sentry_sdk.flush(timeout=2)\n"
        "print(sentry_sdk.get_client().is_active(), tried)\n"
    )
    out = production.docker.compose.run(
        "web", ["python", "-c", script], envs={"SENTRY_DSN": ""},
        remove=True, dependencies=False, tty=False,
    )  # fmt: skip
    assert out.strip().splitlines()[-1] == "False []"


@answering("opentelemetry")
def test_one_request_is_one_trace_with_django_database_and_redis_spans(production):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    password = uuid.uuid4().hex
    production.docker.compose.run(
        **createsuperuser("tracer", password), remove=True, dependencies=False
    )
    # Queueing a summary reads the note and the user's permission in Postgres
    # and sends the task through Redis: one request, both stores.
    session = admin_session(production, "tracer", password)
    note = (
        production.django_shell(
            "from notes.models import Note; print(Note.objects.create(title='t', body='b').pk)"
        )
        .strip()
        .splitlines()[-1]
    )
    queued = production.through_proxy(f"/notes/{note}/summary/", method="POST", **session)
    assert queued.status_code == 202, queued.content

    def traces():
        scopes: dict[bytes, set[str]] = {}
        for path, body in production.received("fake-otlp"):
            if path != "/v1/traces":
                continue
            export = ExportTraceServiceRequest.FromString(body)
            for resource in export.resource_spans:
                for scoped in resource.scope_spans:
                    for span in scoped.spans:
                        scopes.setdefault(span.trace_id, set()).add(scoped.scope.name)
        wanted = {
            "opentelemetry.instrumentation.django",
            "opentelemetry.instrumentation.psycopg2",
            "opentelemetry.instrumentation.redis",
        }
        return [trace for trace, names in scopes.items() if wanted <= names]

    assert wait_until(traces, 20, "a trace with Django, psycopg2 and Redis spans", every=1)
