"""Benchmarks that print numbers; nothing here passes or fails on speed.

Usage: ``uv run python -m benchmarks.bench [--no-cold] [--seconds N]``

Takes a default render of the template and measures, on this machine and in
one run, for our production image and for the same service packaged in
cookiecutter-django's layout (``cookiecutter-layout.Dockerfile``):
build time cold (``--no-cache``; the download caches of cache mounts stay
warm for both) and warm (nothing changed), rebuild
time and bytes of new layers after a one-line code change, image size,
time from ``docker run`` to ``/readyz`` answering 200, and requests per
second on ``/healthz`` (wrk, 2 threads, 16 connections). Then, for the
development stack: time from saving a view to the dev server serving it,
and from ``uv add`` to the package importable in ``web`` after ``up``.

Needs: a Docker engine and the environment machine/prepare prints, exported
before the process starts, and ``wrk`` (installed with apt-get when missing). Leaves the machine's
build cache alone. Exits non-zero (an ``AssertionError`` naming the command) when a step fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import copier

from harness import ROOT
from harness.docker import compose_port, host_port, start_backing_services
from harness.http import wait_for_status
from harness.proc import run
from harness.questions import default

HERE = Path(__file__).resolve().parent
CODE_FILE = "notes/views.py"


def timed(cmd: list[str], **kwargs) -> float:
    """Run ``cmd`` (as ``run`` does); return how long it took, in seconds."""
    started = time.monotonic()
    run(cmd, **kwargs)
    return time.monotonic() - started


def layer_sizes(image: str) -> dict[str, int]:
    """Map each layer's diffID to its uncompressed size, from ``docker save``."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "image.tar"
        run(["docker", "save", "--output", str(archive), image])
        with tarfile.open(archive) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))[0]
            return {
                "sha256:" + Path(layer).name: tar.getmember(layer).size
                for layer in manifest["Layers"]
            }


def build(name: str, dockerfile: str | None, context: Path, env: dict) -> list[str]:
    """The ``docker build`` command for image ``name``: the same build arguments
    and secret ``make image`` passes, and ``dockerfile`` when not the render's own."""
    cmd = [
        "docker",
        "build",
        "--quiet",
        "--tag",
        name,
        "--build-arg",
        "UV_PYTHON_DOWNLOADS_JSON_URL",
        "--build-arg",
        f"UV_IMAGE=ghcr.io/astral-sh/uv:{default('uv_version')}",
        "--secret",
        f"id=ca-bundle,src={env.get('CA_BUNDLE') or '/dev/null'}",
    ]
    if dockerfile:
        cmd += ["--file", dockerfile]
    return [*cmd, str(context)]


def measure_image(
    name: str, dockerfile: str | None, render: Path, env: dict, cold: bool
) -> dict[str, object]:
    """Build image ``name`` from ``render`` cold, warm and after a code change.

    Returns: the build measures, keyed by the row names the table prints.
    """
    tag = f"{name}:latest"
    cmd = build(tag, dockerfile, render, env)
    result: dict[str, object] = {}
    if cold:
        # No layer cache; BuildKit's cache mounts (uv's downloads) stay, for both.
        result["cold build, --no-cache (s)"] = timed([*cmd[:2], "--no-cache", *cmd[2:]], env=env)
    else:
        run(cmd, env=env)
    result["warm build, no change (s)"] = timed(cmd, env=env)
    before = layer_sizes(tag)
    code = render / CODE_FILE
    original = code.read_text()
    code.write_text(original + f"\n# bench {uuid.uuid4().hex}\n")
    try:
        result["rebuild after code change (s)"] = timed(cmd, env=env)
    finally:
        code.write_text(original)
    after = layer_sizes(tag)
    new = sum(size for digest, size in after.items() if digest not in before)
    result["new layer bytes after code change (MB)"] = new / 1e6
    size = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", tag]).stdout)
    result["image size (MB)"] = size / 1e6
    return result


def drain_time_wait(limit: int = 1000, within: float = 120) -> None:
    """Wait until few TCP sockets sit in TIME_WAIT.

    gunicorn's sync workers close every connection, so a wrk run leaves tens
    of thousands of sockets in TIME_WAIT for 60 s, and the next run, hunting
    for free ephemeral ports, measured here at a third of its real rate.
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        count = len(run(["ss", "-Htan", "state", "time-wait"]).stdout.splitlines())
        if count < limit:
            return
        time.sleep(2)


def serve(tag: str, net: str, db: str, redis: str, seconds: int) -> dict[str, object]:
    """Run image ``tag`` against ``db`` and ``redis`` on ``net`` and measure it.

    Returns: seconds from ``docker run`` to ``/readyz`` 200, the best of two
    wrk runs' requests/s on ``/healthz`` (``seconds`` each), and ``docker stop``
    seconds. Raises: ``CalledProcessError`` or ``AssertionError`` when a step fails.
    """
    app = f"bench-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            app,
            "--network",
            net,
            "-p",
            "127.0.0.1::8000",
            "-e",
            "DJANGO_SECRET_KEY=" + uuid.uuid4().hex * 2,
            "-e",
            f"DATABASE_URL=postgres://svc:pw@{db}:5432/svc",
            "-e",
            f"REDIS_URL=redis://{redis}:6379/0",
            tag,
        ]
    )
    try:
        port = host_port(app, 8000)
        wait_for_status(f"http://127.0.0.1:{port}/readyz", within=60)
        result: dict[str, object] = {"docker run to /readyz 200 (s)": time.monotonic() - started}
        if shutil.which("wrk"):
            runs = []
            for _ in range(2):  # the better of two: one core is also driving wrk
                drain_time_wait()
                url = f"http://127.0.0.1:{port}/healthz"
                out = run(["wrk", "-t2", "-c16", f"-d{seconds}s", url]).stdout
                runs += [
                    float(line.split()[1])
                    for line in out.splitlines()
                    if line.startswith("Requests/sec:")
                ]
            result["requests/s on /healthz"] = max(runs)
        time.sleep(2)  # let the access log drain, so stop measures shutdown alone
        stop_started = time.monotonic()
        run(["docker", "stop", app])
        result["docker stop (s)"] = time.monotonic() - stop_started
        return result
    finally:
        run(["docker", "rm", "-f", app], check=False)


def dev_loop(render: Path, env: dict) -> dict[str, object]:
    """Bring the dev stack of ``render`` up with ``make up`` and time the loop.

    Returns: seconds for a warm ``make up``, from saving a view to the dev
    server serving it, and from ``uv add`` to the package importable in web.
    """
    env = dict(env, COMPOSE_PROJECT_NAME="bench-dev", WEB_PORT="0")
    result: dict[str, object] = {}
    try:
        result["make up, warm (s)"] = timed(["make", "up"], cwd=render, env=env)
        url = f"http://127.0.0.1:{compose_port(render, env, 'web', 8000)}"
        view = render / "config" / "health.py"
        original = view.read_text()
        time.sleep(2)  # the dev server's reloader takes its baseline on its first tick
        started = time.monotonic()
        view.write_text(
            original.replace(
                'JsonResponse({"status": "ok"})', 'JsonResponse({"status": "ok", "bench": 1})'
            )
        )
        wait_for_status(url + "/healthz", within=30, body_has={"bench": 1})
        result["saved edit to served (s)"] = time.monotonic() - started
        view.write_text(original)
        started = time.monotonic()
        run(["uv", "add", "--quiet", "humanize"], cwd=render, env=env)
        run(["docker", "compose", "up", "--wait"], cwd=render, env=env)
        run(
            ["docker", "compose", "exec", "-T", "web", "python", "-c", "import humanize"],
            cwd=render,
            env=env,
        )
        result["uv add to importable in web (s)"] = time.monotonic() - started
    finally:
        run(["docker", "compose", "down", "--volumes"], cwd=render, env=env, check=False)
    return result


def main() -> int:
    """Parse the options, run every measure, print the tables; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-cold", action="store_true", help="skip the cold builds")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per image")
    args = parser.parse_args()

    env = dict(os.environ)
    if not shutil.which("wrk"):
        run(["apt-get", "update", "-qq"], check=False)
        installed = run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
        if installed.returncode != 0:
            print("wrk could not be installed: requests/s will read n/a", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    render = work / "service"
    copier.run_copy(str(ROOT), str(render), defaults=True, unsafe=True, quiet=True, vcs_ref="HEAD")
    # The same service answering runtime_uv=no: no uv in the image.
    no_uv = work / "service-no-uv"
    copier.run_copy(
        str(ROOT),
        str(no_uv),
        data={"runtime_uv": False},
        defaults=True,
        unsafe=True,
        quiet=True,
        vcs_ref="HEAD",
    )
    baseline = str(HERE / "cookiecutter-layout.Dockerfile")

    # label -> (image name, Dockerfile or None for the render's own, build context)
    variants = {
        "this template": ("bench-this", None, render),
        "this, runtime_uv=no": ("bench-this-no-uv", None, no_uv),
        "cookiecutter layout": ("bench-cookiecutter", baseline, render),
    }
    results: dict[str, dict[str, object]] = {label: {} for label in variants}
    for label, (name, dockerfile, context) in variants.items():
        print(f"building: {label}", file=sys.stderr)
        results[label] |= measure_image(name, dockerfile, context, env, cold=not args.no_cold)

    net, db, redis = (f"bench-{part}" for part in ("net", "db", "redis"))
    try:
        run(["docker", "network", "create", net])
        start_backing_services(net, db, redis)
        for label, (name, _, _) in variants.items():
            print(f"serving: {label}", file=sys.stderr)
            results[label] |= serve(f"{name}:latest", net, db, redis, args.seconds)
    finally:
        run(["docker", "rm", "-f", db, redis], check=False)
        run(["docker", "network", "rm", net], check=False)

    print("development loop: this template", file=sys.stderr)
    loop = dev_loop(render, env)

    rows = list(dict.fromkeys(key for result in results.values() for key in result))
    print(f"\n{'measure':42}" + "".join(f"{label:>22}" for label in results))
    for row in rows:
        cells = [results[label].get(row) for label in results]
        text = [f"{c:.2f}" if isinstance(c, float) else str(c or "n/a") for c in cells]
        print(f"{row:42}" + "".join(f"{cell:>22}" for cell in text))
    print("\ndevelopment loop (this template)")
    for key, value in loop.items():
        print(f"{key:42} {value:>21.2f}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
