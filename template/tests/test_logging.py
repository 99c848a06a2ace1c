"""Tests of the request ID on the app's log lines."""

import logging

from ops.request_id import RequestIDFilter


def test_the_404_line_django_writes_carries_the_request_id(client, caplog):
    request_id = "test-4f1c2a9e7b3d"
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/no-such-page/", secure=True, HTTP_X_REQUEST_ID=request_id)

    assert response.status_code == 404
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    # Django writes this line after every middleware has returned; the
    # console handler's filter still finds the request's ID.
    RequestIDFilter().filter(record)
    assert record.request_id == request_id


def test_a_line_outside_any_request_has_no_request_id():
    record = logging.LogRecord("startup", logging.INFO, __file__, 1, "ready", None, None)

    RequestIDFilter().filter(record)

    assert record.request_id is None
