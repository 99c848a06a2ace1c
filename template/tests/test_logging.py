"""Tests of the app's log lines: the request ID on them, and their JSON."""

import json
import logging

from ops.logs import json_formatter
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


class Unencodable:
    """A value no JSON encoder knows."""

    def __str__(self) -> str:
        return "unencodable"


def test_a_json_line_keeps_what_orjson_cannot_encode():
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "counted", None, None)
    # orjson refuses integers beyond 64 bits; the line must still be written.
    record.total = 2**70
    record.thing = Unencodable()

    line = json.loads(json_formatter(("total", "thing")).format(record))

    assert line["message"] == "counted"
    assert line["total"] == 2**70
    assert line["thing"] == "unencodable"
