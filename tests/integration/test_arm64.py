"""linux/arm64, under emulation on this amd64 machine (machine/prepare
registers qemu-aarch64): the production image serves /readyz against amd64
Postgres and Redis, starts through `uv run --offline --locked` and runs the
aarch64 CPython that `uv python install` put in the image; the development
image passes the service's own tests through `make test`.

Marked ``arm64``, so a default run leaves them out (emulation makes them
the slowest tests here): ``uv run pytest -m arm64`` runs them all,
``-m "arm64 and smoke"`` the production image's part, which CI runs.

The render's Dockerfile, Makefile and compose.yaml are used unchanged:
harness.platforms adds only the platform and, where machine/prepare built
them, named contexts that stand the arm64 twins in for the base images.
"""

from __future__ import annotations

import uuid

import pytest

from harness.docker import compose_client, docker, remove, serve, start_backing_services, unique
from harness.http import wait_for_status
from harness.platforms import arm64_build_flags, arm64_compose_file, elf_machine
from harness.proc import run
from harness.render import answers_of, render

pytestmark = pytest.mark.arm64

# Emulated, the interpreter and Django start several times slower than native.
EMULATED_START = 240


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """A default render, made as a user makes one (copy task: `uv lock`)."""
    return render(tmp_path_factory.mktemp("arm64") / "service", tasks=True)


@pytest.fixture(scope="module")
def app(service, build_env):
    """The production image built for linux/arm64 with `make image`, serving
    against Postgres and Redis on this machine's own platform."""
    answers = answers_of(service)
    tag = f"{unique('arm64')}:latest"
    flags = " ".join(arm64_build_flags(service))
    run(["make", "image", f"IMAGE={tag}", f"args={flags}"], cwd=service, env=build_env,
        timeout=1800)  # fmt: skip
    net, db, redis, name = (unique(f"arm64-{part}") for part in ("net", "db", "redis", "app"))
    docker.network.create(net)
    try:
        database_url = start_backing_services(
            net, db, redis, answers["postgres_version"], answers["redis_version"]
        )
        port = serve(tag, name, net, {
            "DJANGO_SECRET_KEY": uuid.uuid4().hex * 2,
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://{redis}:6379/0",
            "DJANGO_ALLOWED_HOSTS": "api.example.com",
        })  # fmt: skip
        yield {"tag": tag, "name": name, "db": db, "redis": redis,
               "url": f"http://127.0.0.1:{port}"}  # fmt: skip
    finally:
        remove(db, redis, name)
        docker.network.remove(net)
        docker.image.remove(tag, force=True)


def architecture(container: str) -> str:
    """The platform architecture of the image ``container`` runs."""
    return docker.image.inspect(docker.container.inspect(container).image).architecture


@pytest.mark.smoke
def test_the_arm64_image_serves_readyz_against_amd64_postgres_and_redis(app):
    assert docker.image.inspect(app["tag"]).architecture == "arm64"
    assert {architecture(app["db"]), architecture(app["redis"])} == {"amd64"}
    assert wait_for_status(app["url"] + "/readyz", within=EMULATED_START) == {"status": "ready"}


@pytest.mark.smoke
def test_uv_run_offline_locked_starts_it(app):
    wait_for_status(app["url"] + "/readyz", within=EMULATED_START)
    # Every process's command line, read by the image's own Python (no ps in it).
    listing = (
        "import glob; [print(open(p, 'rb').read().replace(b'\\0', b' ').decode()) "
        "for p in glob.glob('/proc/[0-9]*/cmdline')]"
    )
    lines = docker.execute(app["name"], ["python", "-c", listing]).splitlines()
    commands = [argv(line) for line in lines]
    assert any(c.startswith("uv run --offline --locked") for c in commands), commands
    assert any("gunicorn" in c and not c.startswith("uv ") for c in commands), commands


def argv(cmdline: str) -> str:
    """A process's own arguments: an emulated process's command line starts
    with the emulator and the program's path (binfmt_misc's P flag), then
    its argv."""
    words = cmdline.split(" ")
    return " ".join(words[2:]) if words[0].endswith("-binfmt-P") else cmdline


@pytest.mark.smoke
def test_the_venv_python_is_the_aarch64_one_uv_installed(app):
    probe = (
        "import os, sys; exe = os.path.realpath(sys.executable); "
        "print(exe, open(exe, 'rb').read(20).hex())"
    )
    exe, header = docker.execute(app["name"], ["/opt/venv/bin/python", "-c", probe]).split()
    assert elf_machine(bytes.fromhex(header)) == "aarch64"
    # `uv python install` names its folder after the build it chose.
    assert exe.startswith("/opt/python/cpython-") and "-linux-aarch64-gnu/" in exe, exe


def test_the_arm64_development_image_passes_the_service_tests(service, build_env, tmp_path):
    override = arm64_compose_file(service, ["web", "migrate"], tmp_path / "arm64.json")
    env = dict(build_env, COMPOSE_PROJECT_NAME=unique("arm64-dev"))
    files = ["compose.yaml", str(override)]
    try:
        # The Makefile's COMPOSE knob: the generated targets, with one more file.
        proc = run(
            ["make", "test", f"COMPOSE=docker compose -f {' -f '.join(files)}",
             "args=-q -p no:cacheprovider"],
            cwd=service, env=env, timeout=1800,
        )  # fmt: skip
        assert " passed" in proc.stdout and "failed" not in proc.stdout, proc.stdout[-3000:]
        image = f"{env['COMPOSE_PROJECT_NAME']}-web"
        assert docker.image.inspect(image).architecture == "arm64"
    finally:
        client = compose_client(service, env, files=files)
        client.compose.down(volumes=True)
        docker.image.remove(
            [f"{env['COMPOSE_PROJECT_NAME']}-{s}" for s in ("web", "migrate")], force=True
        )
