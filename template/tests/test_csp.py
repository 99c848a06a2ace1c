"""The Content Security Policy every page carries, and the endpoint browsers
report violations to. Over HTTPS (secure=True), so they pass with DEBUG off too."""

import json
import logging

# What the admin (and every page of the template) needs, and no more.
STRICT = {
    "default-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "report-uri": "/csp-report/",
}
REPORT = {
    "csp-report": {
        "document-uri": "http://localhost:8000/admin/",
        "effective-directive": "script-src-elem",
        "blocked-uri": "inline",
    }
}


def directives(policy: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def test_pages_carry_the_strict_policy(client):
    response = client.get("/admin/login/", secure=True)
    assert response.status_code == 200
    assert directives(response.headers["Content-Security-Policy"]) == STRICT
    assert "Content-Security-Policy-Report-Only" not in response.headers


def test_a_reported_violation_is_logged(client, caplog):
    with caplog.at_level(logging.WARNING, logger="ops.csp"):
        response = client.post(
            "/csp-report/", json.dumps(REPORT), content_type="application/csp-report", secure=True
        )
    assert response.status_code == 204
    (record,) = [r for r in caplog.records if r.name == "ops.csp"]
    assert "script-src-elem blocked 'inline'" in record.getMessage()


def test_the_report_endpoint_takes_reports_only(client):
    assert client.get("/csp-report/", secure=True).status_code == 405
    for body in ("not json", "[]", "{}", '{"csp-report": {}}'):
        response = client.post(
            "/csp-report/", body, content_type="application/csp-report", secure=True
        )
        assert response.status_code == 400, body
