"""The production image, built with the command the generated README gives,
run as a user would run it: against real Postgres and Redis containers on an
internal network (the app joins the default bridge too, only so its port can
be published), configured with a real ALLOWED_HOSTS and a platform-chosen
PORT. A separate test starts it with no network at all, so
`uv run --offline --locked` is shown to need nothing from outside."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from dockerlib import docker, free_port, http_get, run, start_backing_services, wait_for_status

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def service(rendered, docker_env):
    """Build the image, start db, redis and the app; yield what tests need."""
    name, answers, path = rendered
    tag = f"template-test-{name}:latest"
    run(["make", "image", f"IMAGE={tag}"], cwd=path, env=docker_env, timeout=1800)
    suffix = uuid.uuid4().hex[:8]
    net, db, redis, app = (f"tt-{suffix}-{part}" for part in ("net", "db", "redis", "app"))
    port = free_port()
    # --internal: no route out of this network, as in an air-gapped cluster.
    docker("network", "create", "--internal", net)
    try:
        database_url = start_backing_services(
            net, db, redis, answers.get("postgres_version", 17), answers.get("redis_version", 8)
        )
        app_env = [
            "-e", f"DJANGO_SECRET_KEY={uuid.uuid4().hex * 2}",
            "-e", f"DATABASE_URL={database_url}",
            "-e", f"REDIS_URL=redis://{redis}:6379/0",
            # As deployed: a real host name, and a port of the platform's choosing.
            "-e", "DJANGO_ALLOWED_HOSTS=api.example.com",
            "-e", "PORT=8080",
        ]  # fmt: skip
        start_app(app, net, port, app_env, tag)
        yield {"answers": answers, "tag": tag, "app": app, "redis": redis, "net": net,
               "env": app_env, "url": f"http://127.0.0.1:{port}"}  # fmt: skip
    finally:
        run(["docker", "rm", "-f", db, redis, app, f"{app}-stop", f"{app}-offline"], check=False)
        run(["docker", "network", "rm", net], check=False)


def start_app(name: str, net: str, port: int, app_env: list[str], tag: str) -> None:
    """Start the image as ``name`` on ``net``, published on 127.0.0.1:``port``."""
    docker("create", "--name", name, "--network", net, *app_env,
           "-p", f"127.0.0.1:{port}:8080", tag)  # fmt: skip
    # A second network, not internal, only to publish the port to the host.
    docker("network", "connect", "bridge", name)
    docker("start", name)


def test_readyz_answers_200_against_real_postgres_and_redis(service):
    # Tables are not needed for readiness; migrate shows the DB really works.
    assert wait_for_status(service["url"] + "/readyz") == {"status": "ready"}
    run(["docker", "exec", service["app"], "python", "manage.py", "migrate", "--noinput"])


def test_runs_as_a_fixed_non_root_user(service):
    wait_for_status(service["url"] + "/healthz")
    uid = run(["docker", "exec", service["app"], "id", "-u"]).stdout.strip()
    assert uid == "10001"


def test_venv_python_resolves_into_the_uv_managed_interpreter(service):
    version = service["answers"].get("python_version", "3.13")
    target = run(["docker", "exec", service["app"], "realpath", "/opt/venv/bin/python"]).stdout
    assert target.startswith(f"/opt/python/cpython-{version}."), target
    assert target.strip().endswith(f"/bin/python{version}")


def test_image_has_no_compiler_build_tool_or_pip(service):
    probe = run(
        [
            "docker",
            "exec",
            service["app"],
            "sh",
            "-c",
            "for t in cc gcc c++ make ld; do command -v $t; done; true",
        ]
    )
    assert probe.stdout.strip() == ""
    pip = run(["docker", "exec", service["app"], "python", "-m", "pip", "--version"], check=False)
    assert pip.returncode != 0


def test_image_trusts_public_certificate_authorities(service):
    count = run(
        [
            "docker",
            "exec",
            service["app"],
            "python",
            "-c",
            "import ssl; print(ssl.create_default_context().cert_store_stats()['x509_ca'])",
        ]
    ).stdout
    assert int(count) > 50


def test_uv_is_in_the_image_only_when_the_answer_says_so(service):
    has_uv = (
        run(["docker", "exec", service["app"], "sh", "-c", "command -v uv"], check=False).returncode
        == 0
    )
    assert has_uv is service["answers"].get("runtime_uv", True)
    cmd = run(["docker", "inspect", "-f", "{{json .Config.Cmd}}", service["tag"]]).stdout
    assert ('"--offline","--locked"' in cmd) is has_uv


def test_docker_healthcheck_turns_healthy(service):
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = run(
            ["docker", "inspect", "-f", "{{.State.Health.Status}}", service["app"]]
        ).stdout.strip()
        if status == "healthy":
            break
        time.sleep(1)
    assert status == "healthy"


def test_serves_with_no_network_at_all(service):
    # --network none: only loopback. Starting must need nothing from outside.
    name = service["app"] + "-offline"
    docker("run", "-d", "--name", name, "--network", "none", *service["env"], service["tag"])
    probe = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/healthz').read())"
    deadline = time.monotonic() + 30
    answer = None
    while time.monotonic() < deadline and answer is None:
        done = run(["docker", "exec", name, "python", "-c", probe], check=False)
        answer = done.stdout.strip() if done.returncode == 0 else None
        time.sleep(0.5)
    assert answer == 'b\'{"status": "ok"}\'', run(["docker", "logs", name]).stderr[-2000:]


def test_docker_stop_lets_a_request_in_flight_finish(service):
    name, port = service["app"] + "-stop", free_port()
    start_app(name, service["net"], port, service["env"], service["tag"])
    url = f"http://127.0.0.1:{port}"
    wait_for_status(url + "/readyz")
    pid = docker("inspect", "-f", "{{.State.Pid}}", name).strip()
    # A paused Redis holds /readyz for its 1 s socket timeout: a request in flight.
    run(["docker", "pause", service["redis"]])
    answers: list[object] = []

    def probe() -> None:
        try:
            answers.append(http_get(url + "/readyz", timeout=15))
        except OSError as error:
            answers.append(error)

    request = threading.Thread(target=probe)
    try:
        request.start()
        # Stop only once the request's connection is open inside the container.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            open_ = run(["nsenter", "-t", pid, "-n", "ss", "-Htn", "state", "established",
                         "( sport = :8080 )"]).stdout  # fmt: skip
            if open_.strip():
                break
            time.sleep(0.05)
        time.sleep(0.1)  # the idle worker accepts it at once
        run(["docker", "stop", name])
        request.join(timeout=20)
    finally:
        run(["docker", "unpause", service["redis"]], check=False)
    failed = {"status": "unavailable", "failed": {"cache": "TimeoutError"}}
    assert answers == [(503, failed)]
    # 0, not 137: gunicorn finished the request and exited before Docker's SIGKILL.
    exit_code = docker("inspect", "-f", "{{.State.ExitCode}}", name)
    assert exit_code.strip() == "0"
