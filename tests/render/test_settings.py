"""Settings the rendered service decides at start, checked without its
dependencies: the pure functions and assignments are lifted out of
config/settings.py and run alone."""

from __future__ import annotations

import ast
import urllib.parse
from pathlib import Path

import pytest

from harness.render import answers_of, gunicorn_settings

# Every REDIS_URL form, and the broker URL derived from it: another database
# on the same server, credentials, TLS and query options kept.
BROKER_FROM_REDIS_URL = {
    "redis://h:6379": "redis://h:6379/1",
    "redis://h:6379/": "redis://h:6379/1",
    "redis://h:6379/0": "redis://h:6379/1",
    "redis://h:6379/1": "redis://h:6379/2",
    "redis://h:6379/5?health_check_interval=10": "redis://h:6379/1?health_check_interval=10",
    "redis://h:6379/?db=1": "redis://h:6379/2",
    "redis://:s3cr%40t@h:6379/0": "redis://:s3cr%40t@h:6379/1",
    "rediss://user:pw@h:6380?ssl_cert_reqs=required": "rediss://user:pw@h:6380/1?ssl_cert_reqs=required",
}


class ImproperlyConfigured(Exception):
    """Stands in for Django's, which the lifted functions raise."""


def lifted(service: Path, *names: str) -> dict:
    """The top-level functions ``names`` of the render's config/settings.py,
    defined alone in a namespace holding only what they use."""
    tree = ast.parse((service / "config" / "settings.py").read_text())
    wanted = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    assert sorted(n.name for n in wanted) == sorted(names)
    namespace = {
        **{
            name: getattr(urllib.parse, name)
            for name in ("parse_qsl", "urlencode", "urlsplit", "urlunsplit")
        },
        "ImproperlyConfigured": ImproperlyConfigured,
    }
    exec(compile(ast.Module(wanted, type_ignores=[]), "settings.py", "exec"), namespace)  # noqa: S102
    return namespace


def assigned(service: Path, name: str, **given) -> object:
    """The value config/settings.py assigns to ``name``, its expression
    evaluated with ``given`` as the only names in scope."""
    tree = ast.parse((service / "config" / "settings.py").read_text())
    (value,) = [
        n.value
        for n in tree.body
        if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == name for t in n.targets)
    ]
    return eval(compile(ast.Expression(value), "settings.py", "eval"), {}, given)  # noqa: S307


def celery_renders(renders) -> list[Path]:
    return [path for _, path in renders.values() if answers_of(path)["celery"]]


@pytest.mark.parametrize(("redis_url", "broker"), BROKER_FROM_REDIS_URL.items())
def test_the_broker_never_lands_in_the_caches_database(renders, redis_url, broker):
    services = celery_renders(renders)
    assert services
    for service in services:
        functions = lifted(service, "redis_database", "broker_url")
        assert functions["broker_url"](redis_url) == broker
        cache = functions["redis_database"](redis_url)
        assert functions["redis_database"](broker)[:2] == cache[:2]
        assert functions["redis_database"](broker)[2] != cache[2]


def test_a_redis_url_of_another_scheme_needs_an_explicit_broker(renders):
    for service in celery_renders(renders):
        with pytest.raises(ImproperlyConfigured, match="CELERY_BROKER_URL"):
            lifted(service, "redis_database", "broker_url")["broker_url"]("unix:///run/redis.sock")


def test_the_static_manifest_is_strict_without_debug(rendered):
    _, service = rendered
    assert assigned(service, "WHITENOISE_MANIFEST_STRICT", DEBUG=False) is True
    assert assigned(service, "WHITENOISE_MANIFEST_STRICT", DEBUG=True) is False


def test_gunicorn_keeps_idle_connections_longer_than_the_proxy(rendered, monkeypatch):
    _, service = rendered
    monkeypatch.delenv("GUNICORN_KEEPALIVE", raising=False)
    settings = gunicorn_settings(service)
    # Caddy's reverse_proxy keeps an idle upstream connection for 2 minutes.
    assert settings["keepalive"] > 120


# What Django's settings and gunicorn.conf.py both decide, read once in ops.switches.
SHARED = {"DEBUG", "LOG_FORMAT", "METRICS", "FORWARDED_ALLOW_IPS"}
# Values of a boolean variable and what django-environ makes of them.
TRUE = ("y", "yes", "on", "ok", "1", "true", "TRUE")
FALSE = ("off", "0", "no", "false", "")
BOOLEANS = {value: True for value in TRUE} | {value: False for value in FALSE}


@pytest.fixture(scope="module")
def one_service(renders) -> Path:
    """A render: gunicorn.conf.py and ops/switches.py are the same in every one."""
    services = [path for _, path in renders.values()]
    for name in ("gunicorn.conf.py", "ops/switches.py"):
        assert len({(path / name).read_bytes() for path in services}) == 1, name
    return services[0]


@pytest.mark.parametrize(("value", "meaning"), BOOLEANS.items())
def test_gunicorn_reads_metrics_and_debug_as_django_environ_does(one_service, value, meaning):
    metrics = gunicorn_settings(one_service, DJANGO_METRICS=value)
    debug = gunicorn_settings(one_service, DJANGO_DEBUG=value)
    assert metrics["METRICS"] is meaning
    # Plain logs under DEBUG, gunicorn's JSON logger otherwise.
    assert ("logger_class" not in debug) is meaning


def test_settings_take_what_gunicorn_decides_from_ops_switches(rendered):
    _, service = rendered
    tree = ast.parse((service / "config" / "settings.py").read_text())
    imported = {
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "ops.switches"
        for alias in node.names
    }
    assigned_here = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert imported >= SHARED
    assert not SHARED & assigned_here
