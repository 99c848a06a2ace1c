"""The Content Security Policy, seen by a browser: on each Django line's
render (6.x's own SECURE_CSP, django-csp on 5.2), headless Chromium from
Debian's archive loads the admin's login page, logs in, opens the index, a
change list and an add form, and the API's Swagger UI (DEBUG, api=ninja),
and reads the console: no violation, no error, and no report reaches the
service's /csp-report/. A page with an inline script, served under the same
policy, shows that the check can fail: the script is blocked, the console
names the directive, and the report is logged."""

from __future__ import annotations

import pytest

from harness.browser import Page, chromium, chromium_image, log_in_form
from harness.docker import compose_client, createsuperuser, unique
from harness.proc import run
from harness.questions import choices
from harness.render import render
from harness.report import report
from harness.wait import wait_until

# The policy every page must carry, in the header's own spelling.
STRICT = (
    "default-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "report-uri /csp-report/",
)
# The negative control, added to the render's URLs: an inline script the
# policy must block (it would retitle the page).
CONTROL = """

# The CSP test's negative control: a page whose inline script the policy blocks.
from django.http import HttpResponse  # noqa: E402

urlpatterns.append(
    path(
        "csp-control/",
        lambda request: HttpResponse(
            "<!doctype html><title>control</title>"
            "<script>document.title = 'inline script ran'</script>"
        ),
    )
)
"""
PASSWORD = "csp-check-21-horse"
LOGGED = "CSP violation"


@pytest.fixture(scope="module")
def browser():
    """Chromium's DevTools address, its image built once per machine."""
    image, seconds = chromium_image()
    report(f"CSP check: the Chromium image ready in {seconds:.0f} s")
    with chromium(image, unique("chromium")) as address:
        yield address


@pytest.fixture(scope="module", params=choices("django_version"))
def site(request, tmp_path_factory, build_env):
    """A render on Django ``param`` with the API, its dev stack up (`make
    up`), the negative control added and an admin user made."""
    # A compose project name takes no dot.
    name = "csp" + request.param.replace(".", "")
    path = render(
        tmp_path_factory.mktemp(name) / "service",
        {"django_version": request.param, "api": "ninja"},
        tasks=True,
    )
    with (path / "config" / "urls.py").open("a") as urls:
        urls.write(CONTROL)
    env = dict(build_env, COMPOSE_PROJECT_NAME=unique(name), WEB_PORT="0")
    client = compose_client(path, env)
    try:
        run(["make", "up"], cwd=path, env=env, timeout=1800)
        client.compose.execute(**createsuperuser("admin", PASSWORD))
        port = client.compose.port("web", 8000)[1]
        yield {"version": request.param, "url": f"http://127.0.0.1:{port}", "client": client}
    finally:
        client.compose.down(volumes=True)


def reports_logged(site) -> list[str]:
    """The violation reports the service has logged (ops/csp.py)."""
    logs = site["client"].compose.logs(["web"])
    return [line for line in logs.splitlines() if LOGGED in line]


def check(visit, title_has: str) -> None:
    assert title_has in visit.title, visit
    assert visit.policy and all(part in visit.policy for part in STRICT), visit
    assert "unsafe-inline" not in visit.policy
    assert visit.complaints == [], visit


def test_the_admin_and_the_api_docs_show_no_violation(site, browser):
    page = Page(browser)
    try:
        check(page.open(f"{site['url']}/admin/login/"), "Log in")
        check(page.submit(log_in_form("admin", PASSWORD)), "Site administration")
        check(page.open(f"{site['url']}/admin/"), "Site administration")
        check(page.open(f"{site['url']}/admin/notes/note/"), "Select note")
        check(page.open(f"{site['url']}/admin/notes/note/add/"), "Add note")
        check(page.open(f"{site['url']}/admin/auth/user/"), "Select user")
        check(page.open(f"{site['url']}/api/docs"), "")
        # Swagger UI's own scripts ran: the operations are on the page.
        operations = wait_until(
            lambda: page.evaluate("document.querySelectorAll('.opblock').length"),
            15,
            "Swagger UI to show the operations",
        )
        assert operations >= 3
        # Nothing more once it has drawn them, nor on any page before.
        page.settle()
        assert page.complaints == []
    finally:
        page.close()
    assert reports_logged(site) == []
    report(f"CSP check on Django {site['version']}: 7 pages, no violation, no report")


def test_an_inline_script_is_blocked_seen_and_reported(site, browser):
    page = Page(browser)
    try:
        visit = page.open(f"{site['url']}/csp-control/")
    finally:
        page.close()
    assert visit.title == "control", "the inline script ran"
    assert visit.policy and "default-src 'self'" in visit.policy
    # Chromium names the directive: default-src, script-src as its fallback.
    assert any("Content Security Policy" in c for c in visit.complaints), visit
    logged = wait_until(lambda: reports_logged(site), 15, "the violation report to be logged")
    assert "csp-control" in logged[0], logged
    report(
        f"CSP control on Django {site['version']}: inline script blocked; console: "
        f"{visit.complaints[0][:90]}...; logged: {logged[0].split(LOGGED + ': ')[1][:80]}"
    )
