"""The Content Security Policy each Django line gets: Django's own
(SECURE_CSP, ContentSecurityPolicyMiddleware) on 6.x, django-csp on 5.2 (a
dependency of those renders only), the same strict policy either way, and
the endpoint its violation reports go to."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from types import SimpleNamespace

from harness.render import answers_of

# The policy: nothing from elsewhere, nothing inline, never framed.
STRICT = {
    "default-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
    "report-uri": "/csp-report/",
}
# Django's CSP and django-csp's constants, as the strings they are.
NAMES = {
    "CSP": SimpleNamespace(SELF="'self'", NONE="'none'"),
    "SELF": "'self'",
    "NONE": "'none'",
}


def settings_of(service: Path) -> dict[str, object]:
    """Every top-level plain assignment of config/settings.py whose value
    evaluates with only the CSP constants in scope, by name."""
    tree = ast.parse((service / "config" / "settings.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                value = eval(compile(ast.Expression(node.value), "settings.py", "eval"), {}, NAMES)  # noqa: S307
            except Exception:  # noqa: BLE001, S112 (reads env, calls functions: not this test's)
                continue
            found[node.targets[0].id] = value
    return found


def test_each_django_line_sets_the_strict_policy_its_own_way(renders):
    lines = set()
    for _, service in renders.values():
        builtin = answers_of(service)["django_version"] != "5.2"
        lines.add(builtin)
        check_policy(service, builtin)
    # The matrix renders both lines.
    assert lines == {True, False}


def check_policy(service: Path, builtin: bool) -> None:
    settings = settings_of(service)
    middleware = settings["MIDDLEWARE"]
    dependencies = " ".join(
        tomllib.loads((service / "pyproject.toml").read_text())["project"]["dependencies"]
    )
    source = (service / "config" / "settings.py").read_text()
    security = middleware.index("django.middleware.security.SecurityMiddleware")
    if builtin:
        assert settings["SECURE_CSP"] == STRICT, service
        assert settings["SECURE_CSP_REPORT_ONLY"] == {}
        assert middleware[security + 1] == "django.middleware.csp.ContentSecurityPolicyMiddleware"
        assert "django-csp" not in dependencies and "CONTENT_SECURITY_POLICY" not in settings
        assert "from django.utils.csp import CSP" in source
    else:
        assert settings["CONTENT_SECURITY_POLICY"] == {"DIRECTIVES": STRICT}, service
        assert settings["CONTENT_SECURITY_POLICY_REPORT_ONLY"] == {}
        assert middleware[security + 1] == "csp.middleware.CSPMiddleware"
        assert "django-csp>=4" in dependencies and "SECURE_CSP" not in settings
        lock = tomllib.loads((service / "uv.lock").read_text())
        assert "django-csp" in {package["name"] for package in lock["package"]}
    assert "unsafe" not in source.lower(), service
    # Templates can use the nonce of whichever implementation is installed.
    nonce = "django.template.context_processors.csp" if builtin else "csp.context_processors.nonce"
    assert nonce in str(settings["TEMPLATES"])


def test_violation_reports_have_an_endpoint(rendered):
    _, service = rendered
    urls = (service / "config" / "urls.py").read_text()
    assert 'path("csp-report/", csp.report' in urls
    assert (service / "ops" / "csp.py").exists() and (service / "tests" / "test_csp.py").exists()
