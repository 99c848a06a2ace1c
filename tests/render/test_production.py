"""The production contract as every render writes it: the stack's compose
file, the build context's allow-list, gunicorn's trust, and checkov's
Dockerfile checks. The integration tier runs it; this tier reads it."""

from __future__ import annotations

import os
import re
import runpy
import shutil
from pathlib import Path

import pytest

from harness.docker import compose_client, resolved_production_config
from harness.proc import run
from harness.render import answers_of, distinct, gunicorn_settings

SECRETS = (
    "DOMAIN=api.example.com\nDJANGO_SECRET_KEY=s3cret-canary\nPOSTGRES_PASSWORD=pw-canary\n"
    "DATABASE_PASSWORD=app-canary\nREDIS_PASSWORD=redis-canary\n"
)


def production_config(service: Path, tmp_path: Path) -> dict:
    """compose.production.yaml as Compose resolves it, with example secrets."""
    work = tmp_path / "service"
    work.mkdir(parents=True)
    for name in ("compose.production.yaml", "compose.common.yaml"):
        shutil.copy(service / name, work)
    (work / ".env.production").write_text(SECRETS)
    return resolved_production_config(work)


def test_production_compose_files_are_valid(renders):
    files = [
        str(path)
        for name in ("compose.production.yaml", "compose.common.yaml")
        for path in distinct(renders, name).values()
    ]
    run(["check-jsonschema", "--builtin-schema", "vendor.compose-spec", *files])


def test_production_stack_is_locked_down(renders, tmp_path):
    for key, compose in distinct(renders, "compose.production.yaml").items():
        text = compose.read_text()
        assert "canary" not in text and "DJANGO_SECRET_KEY: ${DJANGO_SECRET_KEY:?" in text, key
        config = production_config(compose.parent, tmp_path / key)
        services = config["services"]
        # Only the proxy is reachable from outside the host's Docker networks.
        assert {name for name, svc in services.items() if svc.get("ports")} == {"proxy"}, key
        assert {p["target"] for p in services["proxy"]["ports"]} == {80, 443}, key
        # The data stores sit only on the network with no route out.
        assert config["networks"]["internal"]["internal"] is True, key
        for name in ("db", "redis", "db-roles"):
            assert set(services[name]["networks"]) == {"internal"}, (key, name)
        # Every other container drops what it need not keep, and is bounded.
        for name in ("db", "redis", "db-roles", "proxy"):
            store = services[name]
            assert store["cap_drop"] == ["ALL"], (key, name)
            assert "no-new-privileges:true" in store["security_opt"], (key, name)
            assert store["mem_limit"] and store["pids_limit"], (key, name)
        assert set(services["proxy"]["cap_add"]) == {"NET_BIND_SERVICE"}, key
        # Caddy's minor is pinned: a new one arrives as a reviewed bump.
        assert re.fullmatch(r"caddy:2\.\d+", services["proxy"]["image"]), key
        # The app logs in as its own role, never as the superuser.
        superuser = services["db"]["environment"]["POSTGRES_USER"]
        database_url = services["web"]["environment"]["DATABASE_URL"]
        assert database_url.startswith(f"postgres://{superuser}_app:app-canary@"), key
        assert services["db-roles"]["environment"]["PGPASSWORD"] == "pw-canary", key
        assert "pw-canary" not in str(services["web"]) + str(services["migrate"]), key
        # Redis wants a password, and evicts only keys with an expiry.
        assert services["web"]["environment"]["REDIS_URL"].startswith("redis://:redis-canary@")
        command = services["redis"]["command"]
        assert command[command.index("--requirepass") + 1] == "redis-canary", key
        assert command[command.index("--maxmemory-policy") + 1] == "volatile-lru", key
        for name in ("web", "migrate"):
            app = services[name]
            assert app["read_only"] is True and app["cap_drop"] == ["ALL"], (key, name)
            assert "no-new-privileges:true" in app["security_opt"], (key, name)
            assert any(t.startswith("/tmp") for t in app["tmpfs"]), (key, name)
            assert app["mem_limit"] and app["pids_limit"], (key, name)
            assert app["build"]["target"] == "production", (key, name)
        trusted = services["web"]["environment"]["FORWARDED_ALLOW_IPS"]
        assert trusted == services["proxy"]["networks"]["edge"]["ipv4_address"], key
        migrate_first = services["web"]["depends_on"]["migrate"]["condition"]
        assert migrate_first == "service_completed_successfully", key
        assert services["web"]["restart"] == "unless-stopped", key


def test_build_context_is_an_allow_list(rendered):
    _, service = rendered
    lines = [ln.strip() for ln in (service / ".dockerignore").read_text().splitlines()]
    rules = [ln for ln in lines if ln and not ln.startswith("#")]
    assert rules[0] == "*"
    last_allow = max(i for i, rule in enumerate(rules) if rule.startswith("!"))
    # Secrets stay out even inside an allowed folder: their rules come last.
    assert {"**/.env*", "**/*.pem", "**/id_rsa*"} <= set(rules[last_allow:])


def test_gunicorn_trusts_forwarded_headers_from_no_one_by_default(rendered, monkeypatch):
    _, service = rendered
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    settings = gunicorn_settings(service)
    assert settings["forwarded_allow_ips"] == ""
    assert settings["forwarder_headers"] == ""
    assert settings["secure_scheme_headers"] == {"X-FORWARDED-PROTO": "https"}
    # Threads: a request stuck on a dependency does not take /healthz down.
    assert settings["worker_class"] == "gthread" and settings["threads"] > 1


def test_dockerfiles_pass_checkov(checkov):
    # Its one skip, in the Dockerfile itself, says why.
    assert checkov["dockerfile"] == []


@pytest.mark.parametrize("name", ["Caddyfile", ".env.production.example"])
def test_production_files_are_rendered(rendered, name):
    _, service = rendered
    assert (service / name).is_file()


def test_migrate_waits_seconds_for_a_lock_and_worker_health_never_asks_redis(renders, tmp_path):
    for key, compose in distinct(renders, "compose.production.yaml").items():
        services = production_config(compose.parent, tmp_path / key)["services"]
        migrate = services["migrate"]
        # config.migrate bounds each lock wait and retries; then expired sessions go.
        # With the Tasks framework, old task results go too (it has no scheduler).
        prune = " && python manage.py prune_db_task_results"
        tasks = answers_of(compose.parent).get("django_tasks", False)
        assert migrate["command"][-1] == (
            "python -m config.migrate && python manage.py clearsessions" + (prune if tasks else "")
        ), migrate["command"]
        environment = migrate["environment"]
        # These bound clearsessions; config.migrate sets its own (next test).
        assert 0 < int(environment["DATABASE_LOCK_TIMEOUT_MS"]) <= 5000, environment
        assert 30_000 < int(environment["DATABASE_STATEMENT_TIMEOUT_MS"]) <= 600_000, environment
        # Everything else the app gets, it gets too (its own role, never the superuser).
        assert environment["DATABASE_URL"] == services["web"]["environment"]["DATABASE_URL"]
        assert environment["POSTGRES_PASSWORD"] == "", key
        if "worker" in services:
            check = " ".join(services["worker"]["healthcheck"]["test"])
            # A ping through Redis fails in every worker at once when Redis blips.
            assert "inspect" not in check and "-worker-heartbeat" in check, check


def test_migrate_bounds_its_locks_whatever_the_app_settings_say(renders, monkeypatch):
    # The app's own bounds reach the migrate container too (env_file, ConfigMap).
    monkeypatch.setenv("DATABASE_LOCK_TIMEOUT_MS", "0")
    monkeypatch.setenv("DATABASE_STATEMENT_TIMEOUT_MS", "30000")
    own = ("MIGRATE_LOCK_TIMEOUT_MS", "MIGRATE_STATEMENT_TIMEOUT_MS", "DJANGO_SETTINGS_MODULE")
    for name in own:
        monkeypatch.delenv(name, raising=False)
    for key, module in distinct(renders, "config/migrate.py").items():
        runpy.run_path(str(module))
        assert 0 < int(os.environ["DATABASE_LOCK_TIMEOUT_MS"]) <= 5000, key
        assert 30_000 < int(os.environ["DATABASE_STATEMENT_TIMEOUT_MS"]) <= 600_000, key
    # Its own knob moves it.
    monkeypatch.setenv("MIGRATE_LOCK_TIMEOUT_MS", "1500")
    runpy.run_path(str(module))
    assert os.environ["DATABASE_LOCK_TIMEOUT_MS"] == "1500"


def test_every_service_waited_on_has_a_healthcheck(renders, tmp_path):
    # Compose accepts `service_healthy` on a service with no healthcheck; it never starts.
    for key, compose in distinct(renders, "compose.yaml").items():
        work = tmp_path / "dev" / key
        work.mkdir(parents=True)
        for name in ("compose.yaml", "compose.common.yaml"):
            shutil.copy(compose.parent / name, work)
        development = compose_client(work).compose.config(return_json=True)
        production = production_config(compose.parent, tmp_path / "prod" / key)
        for config in (development, production):
            services = config["services"]
            for name, service in services.items():
                for dependency, wait in service.get("depends_on", {}).items():
                    # Our image brings its own HEALTHCHECK (test_image checks it turns healthy).
                    built = "build" in services[dependency]
                    if wait["condition"] == "service_healthy" and not built:
                        check = services[dependency].get("healthcheck", {})
                        assert check.get("test") and not check.get("disable"), (key, name)
            # TCP, not the socket: during init Postgres answers on its socket only.
            assert "-h 127.0.0.1" in " ".join(services["db"]["healthcheck"]["test"]), key
