"""The production image, built with the command the generated README gives,
run as a user would run it: against real Postgres and Redis containers on an
internal network (the app joins the default bridge too, only so Docker can
publish its port on loopback), configured with a real ALLOWED_HOSTS and a
platform-chosen PORT. A separate test starts it with no network at all, so
`uv run --offline --locked` is shown to need nothing from outside."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest

from harness.docker import (
    DockerException,
    docker,
    healthy,
    host_port,
    remove,
    start_backing_services,
    unique,
    unread_bytes,
)
from harness.http import http_get, wait_for_status
from harness.proc import run
from harness.render import answers_of
from harness.wait import wait_until


@pytest.fixture(scope="module")
def service(variant, build_env):
    """Build the image, start db, redis and the app; yield what tests need."""
    name, path = variant
    answers = answers_of(path)
    tag = f"{unique(name)}:latest"
    run(["make", "image", f"IMAGE={tag}"], cwd=path, env=build_env, timeout=1800)
    net, db, redis, app = (unique(f"{name}-{part}") for part in ("net", "db", "redis", "app"))
    # --internal: no route out of this network, as in an air-gapped cluster.
    # The CLI itself: python-on-whales' network.create has no --internal.
    run(["docker", "network", "create", "--internal", net])
    try:
        database_url = start_backing_services(
            net, db, redis, answers["postgres_version"], answers["redis_version"]
        )
        app_env = {
            "DJANGO_SECRET_KEY": uuid.uuid4().hex * 2,
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://{redis}:6379/0",
            # As deployed: a real host name, and a port of the platform's choosing.
            "DJANGO_ALLOWED_HOSTS": "api.example.com",
            "PORT": "8080",
        }
        url = start_app(app, net, app_env, tag)
        yield {
            "answers": answers,
            "tag": tag,
            "app": app,
            "db": db,
            "redis": redis,
            "net": net,
            "env": app_env,
            "url": url,
        }
    finally:
        remove(db, redis, app, f"{app}-stop", f"{app}-offline")
        docker.network.remove(net)
        docker.image.remove(tag)


def start_app(name: str, net: str, app_env: dict[str, str], tag: str) -> str:
    """Start the image as ``name`` on ``net``; return its URL on loopback."""
    docker.create(tag, name=name, networks=[net], envs=app_env, publish=[("127.0.0.1::8080",)])
    # A second network, not internal, only so the port can be published.
    docker.network.connect("bridge", name)
    docker.start(name)
    return f"http://127.0.0.1:{host_port(name, 8080)}"


def exec_in(service, *cmd: str) -> str:
    """``cmd``'s stdout in the app container; raises ``DockerException`` when it fails."""
    return docker.execute(service["app"], list(cmd))


def exits_zero(service, *cmd: str) -> bool:
    """Whether ``cmd`` exits 0 in the app container."""
    try:
        exec_in(service, *cmd)
    except DockerException:
        return False
    return True


def test_readyz_answers_200_against_real_postgres_and_redis(service):
    # Tables are not needed for readiness; migrate shows the DB really works.
    assert wait_for_status(service["url"] + "/readyz") == {"status": "ready"}
    exec_in(service, "python", "manage.py", "migrate", "--noinput")


def test_runs_as_a_fixed_non_root_user(service):
    wait_for_status(service["url"] + "/healthz")
    assert exec_in(service, "id", "-u").strip() == "10001"


def test_venv_python_resolves_into_the_uv_managed_interpreter(service):
    version = service["answers"]["python_version"]
    target = exec_in(service, "realpath", "/opt/venv/bin/python").strip()
    assert target.startswith(f"/opt/python/cpython-{version}."), target
    assert target.endswith(f"/bin/python{version}")


def test_image_has_no_compiler_build_tool_or_pip(service):
    probe = exec_in(
        service, "sh", "-c", "for t in cc gcc c++ make ld; do command -v $t; done; true"
    )
    assert probe.strip() == ""
    assert not exits_zero(service, "python", "-m", "pip", "--version")


def test_translations_work_without_their_po_sources(service):
    # The build drops every .po file from the venv; gettext reads the .mo files.
    assert exec_in(service, "find", "/opt/venv", "-name", "*.po") == ""
    code = (
        "import django; django.setup(); from django.utils import translation; "
        "translation.activate('fr'); print(translation.gettext('This field is required.'))"
    )
    assert exec_in(service, "python", "-c", code).strip() == "Ce champ est obligatoire."


def test_pid_1_is_tini_forwarding_to_gunicorn(service):
    # An init as PID 1 reaps orphans and passes docker stop's SIGTERM on.
    assert exec_in(service, "cat", "/proc/1/comm").strip() == "tini"
    children = exec_in(service, "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
    assert "gunicorn" in children


def test_bytecode_is_compiled_at_build_time(service):
    # Every module of the venv and the app has its .pyc: no container writes one at start.
    script = (
        "import pathlib, importlib.util as u; "
        "missing = [str(p) for root in ('/opt/venv/lib', '/app') "
        "for p in pathlib.Path(root).rglob('*.py') "
        "if not pathlib.Path(u.cache_from_source(str(p))).exists()]; "
        "print(len(missing), missing[:3])"
    )
    assert exec_in(service, "python", "-c", script).split()[0] == "0"


def test_image_trusts_public_certificate_authorities(service):
    code = "import ssl; print(ssl.create_default_context().cert_store_stats()['x509_ca'])"
    assert int(exec_in(service, "python", "-c", code)) > 50


def test_uv_is_in_the_image_only_when_the_answer_says_so(service):
    has_uv = exits_zero(service, "sh", "-c", "command -v uv")
    assert has_uv is service["answers"]["runtime_uv"]
    cmd = docker.image.inspect(service["tag"]).config.cmd
    assert (cmd[:4] == ["uv", "run", "--offline", "--locked"]) is has_uv


def test_docker_healthcheck_turns_healthy(service):
    wait_until(lambda: healthy(service["app"]), 60, f"{service['app']} healthy", every=1)


def test_serves_with_no_network_at_all(service):
    # --network none: only loopback. Starting must need nothing from outside.
    name = service["app"] + "-offline"
    docker.run(service["tag"], detach=True, name=name, networks=["none"], envs=service["env"])
    # urllib: this runs in the production image, which has no httpx.
    probe = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/healthz').read())"

    def answer():
        return docker.execute(name, ["python", "-c", probe]).strip()

    assert wait_until(answer, 30, f"{name} serving /healthz") == 'b\'{"status": "ok"}\''


def test_docker_stop_lets_a_request_in_flight_finish(service):
    name = service["app"] + "-stop"
    url = start_app(name, service["net"], service["env"], service["tag"])
    wait_for_status(url + "/readyz")
    # A paused Postgres holds /readyz for READINESS_TIMEOUT (2 s): a request in flight.
    docker.pause(service["db"])
    answers: list[object] = []

    def probe() -> None:
        try:
            answers.append(http_get(url + "/readyz", timeout=15))
        except httpx.TransportError as error:
            answers.append(error)

    request = threading.Thread(target=probe)
    try:
        request.start()
        # Stop only once gunicorn has accepted the connection and read the request.
        wait_until(lambda: unread_bytes(name, 8080) == [0], 10, "the request read", every=0.05)
        docker.stop(name)
        request.join(timeout=20)
    finally:
        docker.unpause(service["db"])
    assert len(answers) == 1
    status, body = answers[0]
    assert status == 503 and body["failed"] == {"database": "TimeoutError"}
    # 0, not 137: gunicorn finished the request and exited before Docker's SIGKILL.
    assert docker.container.wait(name) == 0
