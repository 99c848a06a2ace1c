"""Benchmarks that print and keep numbers; nothing here passes or fails on speed.

Usage::

    uv run python -m benchmarks.bench [--runs 3] [--seconds 10] [--tiers] [--out benchmarks/results]
    uv run python -m benchmarks.bench --smoke --out /tmp/bench   # one quick pass: does it work?

Needs a Docker engine and the environment machine/prepare prints, exported
before the process starts, and wrk and hey (installed with apt-get when
missing).

Takes a default render of the template and packages the same service four
ways, on the same base image and the same uv-managed CPython, so that only
the packaging differs: ours; ours answering runtime_uv=no; cookiecutter-
django's production layout (cookiecutter-layout.Dockerfile); the naive
single stage many teams start from (naive.Dockerfile). It measures build
times (cold with ``--no-cache``, no-op, after a one-line code change, after
adding one small dependency, with the bytes the host received meanwhile),
image size by layer, time from ``docker run`` to ``/readyz`` 200 split into
Docker's start, gunicorn's start and the workers' (plus, inside our image,
what that start cannot go below), requests per second with p50/p99 latency
on ``/healthz`` and on ``/notes/`` (one database read), with wrk on
loopback, bounded in time, the container's CPU time per request (from its
cgroup: less swayed than requests/s by a busy neighbour), and its memory
idle and under that load. A visit where one gunicorn worker took nearly
every connection is repeated (``measured_load``). Ours is also served
without JSON logs and metrics, and through the production stack's proxy
(Caddy, HTTPS), saturated with wrk and at a fixed 100 requests/s with hey.

The machine is shared and noisy, so every build and serving measure runs in
``--runs`` rounds: each round visits every packaging (and variant) once, in
a fresh random order, with idle time before each visit, so a slow minute
lands on one visit of one round rather than on one packaging. The page
gives each comparison as a ratio per round (median, min, max over the
rounds) and calls a difference only where that range excludes 1; a goal is
met when its whole range meets it, missed when none of it does, and
undecided otherwise; a goal not met names its measured floor. Then the time
of ``copier copy`` and, with ``--tiers``, of each test tier, run in a clean
clone of HEAD (some 30 minutes more; CI's own run prints them too).

Writes ``results.json``, PNG charts and ``README.md`` (the results page,
led by the goals and whether each was met) to ``--out``. Exits non-zero
only when a step fails (an ``AssertionError`` naming the command).
"""

from __future__ import annotations

import argparse
import calendar
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.page import write_page
from harness import ROOT
from harness.docker import remove, serve, start_backing_services
from harness.http import http_get
from harness.proc import run
from harness.questions import default
from harness.render import render
from harness.stack import start, stop
from harness.wait import wait_until

HERE = Path(__file__).resolve().parent
CODE_FILE = "notes/views.py"
PACKAGINGS = {
    # label: (Dockerfile, or None for the render's own; which render)
    "ours": (None, "uv"),
    "ours, no uv in image": (None, "no-uv"),
    "cookiecutter-django layout": (HERE / "cookiecutter-layout.Dockerfile", "uv"),
    "naive single stage": (HERE / "naive.Dockerfile", "uv"),
}
BASELINES = ("cookiecutter-django layout", "naive single stage")


def spread(values: list[float]) -> dict[str, float]:
    """Median, min and max of ``values``."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def timed(cmd: list[str], **kwargs) -> float:
    """Run ``cmd`` (as harness.proc.run does); return its wall time in seconds."""
    started = time.monotonic()
    run(cmd, **kwargs)
    return time.monotonic() - started


def received_bytes() -> int:
    """Bytes the host has received on its non-loopback, non-Docker interfaces."""
    total = 0
    for line in Path("/proc/net/dev").read_text().splitlines()[2:]:
        name, data = line.split(":", 1)
        name = name.strip()
        if name == "lo" or name.startswith(("docker", "br-", "veth")):
            continue
        total += int(data.split()[0])
    return total


def build_cmd(
    tag: str, dockerfile: Path | None, context: Path, env: dict, *extra: str
) -> list[str]:
    """The `docker build` that `make image` runs (same arguments and secret),
    with another Dockerfile when ``dockerfile`` is given."""
    cmd = [
        "docker",
        "build",
        "--quiet",
        "--tag",
        tag,
        *extra,
        "--build-arg",
        "UV_PYTHON_DOWNLOADS_JSON_URL",
        "--build-arg",
        f"UV_IMAGE=ghcr.io/astral-sh/uv:{default('uv_version')}",
        "--secret",
        f"id=ca-bundle,src={env.get('CA_BUNDLE') or '/dev/null'}",
    ]
    if dockerfile:
        cmd += ["--file", str(dockerfile)]
    return [*cmd, str(context)]


def layers(tag: str) -> list[dict]:
    """The image's layers, oldest first: size in bytes and the instruction."""
    out = run(
        [
            "docker",
            "history",
            "--no-trunc",
            "--human=false",
            "--format",
            "{{.Size}}\t{{.CreatedBy}}",
            tag,
        ]
    ).stdout
    rows = []
    for line in reversed(out.splitlines()):
        size, _, created_by = line.partition("\t")
        if int(size) > 0:
            rows.append({"bytes": int(size), "instruction": re.sub(r"\s+", " ", created_by)[:140]})
    return rows


def forget_download(package: str, env: dict) -> None:
    """Remove ``package`` from the uv cache mount the Dockerfiles share (its id
    is its target, /root/.cache/uv, in every build on this builder). A unique
    token, not --no-cache, defeats the layer cache: under --no-cache BuildKit
    hands the build fresh, empty cache mounts, which later builds then share."""
    dockerfile = (
        "ARG UV_IMAGE\nFROM ${UV_IMAGE} AS uv\nFROM debian:trixie-slim\n"
        "COPY --from=uv /uv /usr/local/bin/uv\n"
        f"RUN --mount=type=cache,target=/root/.cache/uv : {uuid.uuid4().hex} "
        f"&& uv cache clean --cache-dir /root/.cache/uv {package}\n"
    )
    image = f"ghcr.io/astral-sh/uv:{default('uv_version')}"
    run(
        ["docker", "build", "--quiet", "--build-arg", f"UV_IMAGE={image}", "-"],
        input=dockerfile,
        env=env,
    )


def tag_of(label: str) -> str:
    """The image tag the benchmark gives packaging ``label``."""
    return f"bench-{re.sub(r'[^a-z0-9]+', '-', label)}:latest"


def build_once(label: str, context: Path, env: dict, cold: bool = True) -> dict[str, float]:
    """One pass of each build measure of one packaging: cold, no-op,
    code-change and added-dependency builds, and the bytes received for the
    dependency (``cold=False``: the first build may use the layer cache, for
    a smoke run). Returns measure -> value; leaves ``context`` as it found it."""
    dockerfile, _ = PACKAGINGS[label]
    tag = tag_of(label)
    cmd = build_cmd(tag, dockerfile, context, env)
    results: dict[str, float] = {}
    code = context / CODE_FILE
    original_code = code.read_text()
    pyproject, lock = context / "pyproject.toml", context / "uv.lock"
    original = (pyproject.read_text(), lock.read_text())
    # No layer cache and, under --no-cache, fresh cache mounts: every
    # package and CPython is downloaded again, as on a new machine.
    no_cache = ["--no-cache"] if cold else []
    results["cold build (s)"] = timed(
        build_cmd(tag, dockerfile, context, env, *no_cache), env=env, timeout=3600
    )
    results["no-op rebuild (s)"] = timed(cmd, env=env)
    try:
        code.write_text(original_code + f"\n# bench {uuid.uuid4().hex}\n")
        results["rebuild after a one-line code change (s)"] = timed(cmd, env=env)
        code.write_text(original_code)
        run(["uv", "add", "--quiet", "humanize"], cwd=context, env=env)
        # A project state no earlier build has seen (BuildKit's layer cache
        # outlives runs), and humanize out of uv's cache mount, so the build
        # really installs it and the bytes are its download.
        pyproject.write_text(pyproject.read_text() + f"# bench {uuid.uuid4().hex}\n")
        forget_download("humanize", env)
        before = received_bytes()
        results["rebuild after adding a dependency (s)"] = timed(cmd, env=env, timeout=1800)
        results["bytes received while adding it (MB)"] = (received_bytes() - before) / 1e6
    finally:
        code.write_text(original_code)
        pyproject.write_text(original[0])
        lock.write_text(original[1])
    run(cmd, env=env)
    size = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", tag]).stdout)
    results["image size (MB)"] = size / 1e6
    return results


def measure_builds(
    renders: dict[str, Path], env: dict, rounds: int, idle: float, cold: bool = True
) -> tuple[dict, list[dict]]:
    """Every packaging's build measures, in ``rounds`` rounds, each visiting
    every packaging once in a fresh random order after ``idle`` seconds.
    Returns (label -> {"tag", "measures" (spread over rounds), "layers"}, and
    the rounds: one {label: {measure: value}} per round)."""
    per_round: list[dict] = []
    for number in range(rounds):
        measured = {}
        for label in random.sample(list(PACKAGINGS), len(PACKAGINGS)):
            time.sleep(idle)
            print(f"[bench] builds, round {number + 1}: {label}", file=sys.stderr)
            measured[label] = build_once(label, renders[PACKAGINGS[label][1]], env, cold)
        per_round.append(measured)
    builds = {
        label: {
            "tag": tag_of(label),
            "measures": _spread_over(per_round, label),
            "layers": layers(tag_of(label)),
        }
        for label in PACKAGINGS
    }
    return builds, per_round


def _spread_over(per_round: list[dict], label: str) -> dict[str, dict[str, float]]:
    """Median, min and max over the rounds of each of ``label``'s measures."""
    keys = per_round[0][label]
    return {key: spread([r[label][key] for r in per_round]) for key in keys}


def wrk(url: str, seconds: int, host: str = "localhost") -> dict[str, float]:
    """wrk on ``url`` (loopback only): requests/s, p50 and p99 latency (ms)."""
    assert re.match(r"https?://(127\.0\.0\.1|localhost)[:/]", url), url
    out = run(
        ["wrk", "--latency", "-t2", "-c16", f"-d{seconds}s", "-H", f"Host: {host}", url],
        timeout=seconds + 60,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", out).group(1)) for p in ("50", "99")}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert not errors, f"{url}: {errors.group(0)}"
    return {"requests/s": rate, "p50 (ms)": latency["50"], "p99 (ms)": latency["99"]}


def cpu_seconds(container: str) -> float:
    """CPU time (user + system) every process of ``container`` has used, in
    seconds, from its cgroup (v1 cgroupfs or v2). Raises ``FileNotFoundError``
    when neither layout holds it."""
    full = run(["docker", "inspect", "-f", "{{.Id}}", container]).stdout.strip()
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{full}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text()) / 1e9
    for v2 in (
        Path(f"/sys/fs/cgroup/system.slice/docker-{full}.scope/cpu.stat"),
        Path(f"/sys/fs/cgroup/docker/{full}/cpu.stat"),
    ):
        if v2.exists():
            usage = v2.read_text().split()
            return int(usage[usage.index("usage_usec") + 1]) / 1e6
    raise FileNotFoundError(f"no cgroup CPU figure for {container}")


def worker_cpu(container: str) -> dict[int, int]:
    """CPU clock ticks (user + system) each gunicorn worker of ``container``
    has used, by host PID (``docker top``; /proc/PID/stat, proc(5) fields 14
    and 15). Workers are the gunicorn processes whose parent is gunicorn."""
    rows = [
        line.split(None, 2)
        for line in run(["docker", "top", container, "-o", "pid,ppid,args"]).stdout.splitlines()[1:]
    ]
    # tini and uv run name gunicorn in their arguments too; they are not it.
    gunicorn = {int(pid) for pid, _, args in rows if "gunicorn" in args and "uv run" not in args}
    ticks = {}
    for pid, ppid, _ in rows:
        if int(pid) in gunicorn and int(ppid) in gunicorn:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks[int(pid)] = int(fields[11]) + int(fields[12])
    return ticks


# Above this share of the workers' CPU in one worker, a visit measured one worker.
LOPSIDED = 0.8


def measured_load(
    container: str, url: str, seconds: int, host: str = "localhost", tries: int = 3
) -> dict[str, float]:
    """wrk on ``url`` (as ``wrk``) plus the container's CPU time per request,
    repeated (``tries`` visits at most) while one gunicorn worker did more
    than LOPSIDED of the workers' CPU: wrk opens its connections at once, and
    one gthread worker can accept every one of them (seen in about one visit
    in ten here), so that visit measures one worker at twice the CPU per
    request, not the image. Returns wrk's figures, "CPU per request (ms)",
    the busiest worker's share of the CPU and how many visits were repeated."""
    repeated = 0
    while True:
        workers, before = worker_cpu(container), cpu_seconds(container)
        load = wrk(url, seconds, host)
        cpu = cpu_seconds(container) - before
        load["CPU per request (ms)"] = per_request_ms(cpu, load, seconds)
        after = worker_cpu(container)
        used = [after[pid] - ticks for pid, ticks in workers.items() if pid in after]
        share = max(used) / sum(used) if len(used) > 1 and sum(used) else 0.0
        if share <= LOPSIDED or repeated == tries - 1:
            break
        print(f"[bench] {url}: one worker did {share:.0%} of the work; again", file=sys.stderr)
        repeated += 1
        drain_time_wait()
        wrk(url, 1, host)  # warm-up again
    load["busiest worker's share of CPU"] = share
    load["visits repeated"] = repeated
    return load


def per_request_ms(cpu: float, load: dict[str, float], seconds: int) -> float:
    """``cpu`` seconds spread over the requests of one wrk ``load`` of
    ``seconds``: CPU time per request, in ms."""
    return 1000 * cpu / (load["requests/s"] * seconds)


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[unit]


def memory_mb(container: str, after: float = 0) -> float:
    """The container's memory use (its cgroup's), in MB, ``after`` seconds from now."""
    time.sleep(after)
    return _mb(
        run(["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", container]).stdout
    )


def drain_time_wait(limit: int = 2000, within: float = 120) -> None:
    """Wait until few sockets sit in TIME_WAIT: a previous run's would slow the next."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if len(run(["ss", "-Htan", "state", "time-wait"]).stdout.splitlines()) < limit:
            return
        time.sleep(2)


# The app with neither JSON logs nor metrics: what observability costs per request.
WITHOUT_OBSERVABILITY = {
    "DJANGO_METRICS": "false",
    "DJANGO_LOG_FORMAT": "plain",
    "GUNICORN_CMD_ARGS": "--access-logfile=/dev/null",
}
# What is served: label -> (packaging whose image it runs, extra environment).
SERVED = {
    **{label: (label, {}) for label in PACKAGINGS},
    "ours, observability off": ("ours", WITHOUT_OBSERVABILITY),
}


def serve_once(
    tag: str,
    net: str,
    db: str,
    redis: str,
    seconds: int,
    extra: dict | None = None,
    migrate: bool = False,
) -> dict[str, float]:
    """Start ``tag`` against ``db`` and ``redis`` (with ``extra`` settings;
    ``migrate`` first when asked), measure it once, remove it. Returns
    measure -> value: readyz time, memory idle, load on /healthz and /notes/,
    memory under load. Raises ``AssertionError`` when a step fails."""
    results: dict[str, float] = {}
    env = {
        "DJANGO_SECRET_KEY": uuid.uuid4().hex * 2,
        "DATABASE_URL": f"postgres://svc:pw@{db}:5432/svc",
        "REDIS_URL": f"redis://{redis}:6379/0",
        "DJANGO_ALLOWED_HOSTS": "localhost",
        # Plain HTTP on loopback: no redirect to HTTPS for these measurements.
        "DJANGO_SECURE_SSL_REDIRECT": "false",
    }
    app = f"bench-{uuid.uuid4().hex[:8]}"
    started = time.time()
    port = serve(tag, app, net, {**env, **(extra or {})})
    try:
        url = f"http://127.0.0.1:{port}"
        # Polled every 10 ms: the harness's 200 ms would be most of the figure.
        wait_until(lambda: http_get(url + "/readyz", 1)[0] == 200, 60, "/readyz", every=0.01)
        ready = time.time()
        results["docker run to /readyz 200 (s)"] = ready - started
        results |= readiness_steps(app, started, ready)
        if migrate:
            run(["docker", "exec", app, "python", "manage.py", "migrate", "-v0"])
        results["memory idle (MB)"] = memory_mb(app, after=1)
        for path in ("/healthz", "/notes/"):
            drain_time_wait()
            # Warm-up: the first requests open connections and fill caches.
            wrk(url + path, 1)
            with ThreadPoolExecutor(1) as sampler:
                # Memory halfway through the load, while wrk runs.
                loaded = sampler.submit(memory_mb, app, after=seconds / 2)
                load = measured_load(app, url + path, seconds)
            for key, value in load.items():
                results[f"{path} {key}"] = value
            if path == "/notes/":
                results["memory under load (MB)"] = loaded.result()
    finally:
        remove(app)
    return results


def _docker_time(stamp: str) -> float:
    """Epoch seconds of one of Docker's RFC 3339 times (nanoseconds, ``Z``)."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    moment = time.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(moment) + float(f"0.{fraction or 0}")


def readiness_steps(container: str, started: float, ready: float) -> dict[str, float]:
    """Where the time from ``docker run`` (epoch ``started``) to /readyz 200
    (epoch ``ready``) went, from Docker's start time and the times Docker
    received gunicorn's "Listening at" and last "Booting worker" lines.
    Returns four steps in seconds; they sum to the whole."""
    started_at = _docker_time(
        run(["docker", "inspect", "-f", "{{.State.StartedAt}}", container]).stdout.strip()
    )
    # gunicorn writes to stderr or stdout depending on its log configuration.
    logs = run(["docker", "logs", "--timestamps", container])
    logged = logs.stdout.splitlines() + logs.stderr.splitlines()

    def when(marker: str, last: bool = False) -> float:
        times = [_docker_time(line.split()[0]) for line in logged if marker in line]
        assert times, f"{container}: no {marker!r} in its log"
        return max(times) if last else min(times)

    listening, forked = when("Listening at"), when("Booting worker", last=True)
    return {
        "readiness: docker run to container started (s)": started_at - started,
        "readiness: started to gunicorn listening (s)": listening - started_at,
        "readiness: listening to last worker forked (s)": forked - listening,
        "readiness: last worker forked to /readyz 200 (s)": ready - forked,
    }


# Timed inside the image: each command's wall time, the least of three.
STARTUP_STEPS = """
import subprocess, sys, time
def least(*cmd):
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return min(times)
bare = least("python", "-c", "pass")
print(bare)
print(least("uv", "run", "--offline", "--locked", "--no-dev", "python", "-c", "pass") - bare)
print(least("python", "-c", "import gunicorn.app.wsgiapp, ops.switches") - bare)
print(least("python", "-c", "import django; django.setup()") - bare)
"""
# The application layer's RUN (Dockerfile), one step at a time, as it runs in a build.
APP_LAYER_STEPS = """
import compileall, shutil, time
from django.conf import settings
started = time.perf_counter()
compileall.compile_dir("/app", quiet=1, force=True)
print(time.perf_counter() - started)
import django
from django.core.management import call_command
started = time.perf_counter()
django.setup()
print(time.perf_counter() - started)
shutil.rmtree(settings.STATIC_ROOT)
started = time.perf_counter()
call_command("collectstatic", interactive=False, verbosity=0)
print(time.perf_counter() - started)
started = time.perf_counter()
call_command("check", deploy=True, fail_level="WARNING")
print(time.perf_counter() - started)
"""


def inside(tag: str, script: str, names: tuple[str, ...], *options: str) -> dict[str, float]:
    """Run Python ``script`` in image ``tag`` (with docker run ``options``)
    and name the numbers it prints, one per line: ``names`` -> seconds.
    Raises ``ValueError`` when it prints another count of numbers."""
    # Settings only read: nothing connects.
    settings = {
        "DJANGO_SECRET_KEY": uuid.uuid4().hex * 2,
        "DATABASE_URL": "postgres://svc:pw@db:5432/svc",
        "REDIS_URL": "redis://redis:6379/0",
    }
    out = run(
        ["docker", "run", "--rm", *(f"--env={k}={v}" for k, v in settings.items()), *options,
         "--entrypoint", "python", tag, "-c", script],
    ).stdout.splitlines()  # fmt: skip
    # Django's check prints its verdict too: only the lines that are numbers.
    numbers = [line for line in out if re.fullmatch(r"[\d.e-]+", line.strip())]
    return {f"{name} (s)": float(value) for name, value in zip(names, numbers, strict=True)}


def startup_floor(tag: str) -> dict[str, float]:
    """What readiness cannot go below, timed inside image ``tag`` (which has
    uv): the interpreter's start, what ``uv run`` adds, importing gunicorn
    and its configuration, and ``django.setup()``. Returns seconds each."""
    names = ("interpreter start", "uv run adds", "gunicorn and its config import", "django.setup()")
    return inside(tag, STARTUP_STEPS, names)


def app_layer_steps(tag: str) -> dict[str, float]:
    """The application layer's RUN in image ``tag``, step by step (as root,
    as in a build: collectstatic rewrites STATIC_ROOT). Returns seconds each."""
    names = ("compileall", "django.setup()", "collectstatic", "check --deploy")
    return {
        f"app layer: {k}": v for k, v in inside(tag, APP_LAYER_STEPS, names, "--user=0").items()
    }


def measure_serving(
    net: str, db: str, redis: str, rounds: int, seconds: int, idle: float
) -> tuple[dict, list[dict]]:
    """Every SERVED label, in ``rounds`` rounds, each visiting every label once
    in a fresh random order after ``idle`` seconds. Returns (label -> measure
    -> spread over rounds, and the rounds: one {label: {measure: value}} each)."""
    per_round: list[dict] = []
    migrated = False
    for number in range(rounds):
        measured = {}
        for label in random.sample(list(SERVED), len(SERVED)):
            time.sleep(idle)
            print(f"[bench] serving, round {number + 1}: {label}", file=sys.stderr)
            packaging, extra = SERVED[label]
            measured[label] = serve_once(
                tag_of(packaging), net, db, redis, seconds, extra, migrate=not migrated
            )
            migrated = True
        per_round.append(measured)
    return {label: _spread_over(per_round, label) for label in SERVED}, per_round


def _mb(usage: str) -> float:
    """MB from the first figure of `docker stats`' MemUsage ("12.3MiB / 1GiB")."""
    value, unit = re.match(r"([\d.]+)(\w+)", usage.split("/")[0].strip()).groups()
    return float(value) * {"B": 1e-6, "KiB": 1.024e-3, "MiB": 1.048576, "GiB": 1073.741824}[unit]


# A fixed rate well under what either route serves (some 500 requests/s and up):
# the latency the proxy adds, not what saturating two shared cores leaves.
FIXED_RATE = 100


def fixed_rate(url: str, seconds: int, rate: float = FIXED_RATE, clients: int = 4) -> dict:
    """hey (Debian's) on ``url`` (loopback only) for ``seconds``: ``clients``
    keep-alive connections, each paced to ``rate / clients`` requests/s.
    Returns p50 and p99 latency (ms) and the rate reached: below ``rate``
    when a late reply made hey skip a send (its pacing drops the ticks a
    busy client misses), so the run was partly closed-loop. Raises
    ``AssertionError`` on an answer other than 200 or a failed request."""
    assert re.match(r"https?://(127\.0\.0\.1|localhost)[:/]", url), url
    out = run(
        ["hey", "-z", f"{seconds}s", "-c", str(clients), "-q", str(rate / clients),
         "-host", "localhost", url],
        timeout=seconds + 60,
    ).stdout  # fmt: skip
    codes = dict(re.findall(r"\[(\d+)\]\s+(\d+) responses", out))
    assert set(codes) == {"200"} and "Error distribution" not in out, f"{url}: {out[-1500:]}"
    reached = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {
        p: 1000 * float(re.search(rf"{p}% in ([\d.]+) secs", out).group(1)) for p in ("50", "99")
    }
    return {"p50 (ms)": latency["50"], "p99 (ms)": latency["99"], "requests/s reached": reached}


def measure_proxy(
    render_path: Path, env: dict, rounds: int, seconds: int, idle: float
) -> tuple[dict, list[dict]]:
    """Ours in the production stack: the same loads direct to web and through
    Caddy, in ``rounds`` rounds of the six (route, load) visits in a fresh
    random order: wrk (saturating) on /healthz and /notes/, and hey at
    FIXED_RATE on /notes/ for twice ``seconds``. Returns (measure -> spread,
    and the rounds: one {route: {measure: value}} each, route "direct" or
    "through the proxy")."""
    stack = start("bench", render_path, env, {"DJANGO_SECURE_SSL_REDIRECT": "false"})
    per_round: list[dict] = []
    paced = f"/notes/ at {FIXED_RATE} requests/s"
    try:
        stack.docker.compose.execute("web", ["python", "manage.py", "migrate", "-v0"], tty=False)
        bases = {
            "direct": stack.web,
            "through the proxy": f"https://localhost:{stack.port('proxy', 443)}",
        }
        loads = ("/healthz", "/notes/", paced)
        visits = [(route, load) for route in bases for load in loads]
        for _ in range(rounds):
            measured: dict[str, dict[str, float]] = {route: {} for route in bases}
            for route, load in random.sample(visits, len(visits)):
                time.sleep(idle)
                drain_time_wait()
                url = bases[route] + load.split()[0]
                wrk(url, 1)  # warm-up
                found = fixed_rate(url, 2 * seconds) if load == paced else wrk(url, seconds)
                for key, value in found.items():
                    measured[route][f"{load} {key}"] = value
            per_round.append(measured)
    finally:
        stop(stack)
    results = {
        f"{route}: {key}": value
        for route in ("direct", "through the proxy")
        for key, value in _spread_over(per_round, route).items()
    }
    return results, per_round


def measure_copier(runs: int, env: dict) -> dict:
    """`copier copy` of the defaults from this checkout, copy task (uv lock) included."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            times.append(
                timed(
                    [
                        "copier",
                        "copy",
                        "--trust",
                        "--defaults",
                        "--quiet",
                        "--vcs-ref",
                        "HEAD",
                        str(ROOT),
                        f"{tmp}/service",
                    ],
                    env=env,
                )
            )
    return {"copier copy (s)": spread(times)}


def measure_tiers(env: dict) -> dict:
    """Wall time of each test tier, run now as the README gives it, in a
    clean clone of HEAD (so edits in this checkout cannot change it). A tier
    that fails is timed all the same and named so on the page."""
    measured = {}
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "template"
        run(["git", "clone", "--quiet", str(ROOT), str(clone)])
        for name, marker in (("render", "not docker"), ("integration", "docker")):
            started = time.monotonic()
            proc = run(
                ["uv", "run", "pytest", "-m", marker, "-q", "-p", "no:cacheprovider"],
                cwd=clone,
                env=env,
                timeout=3600,
                check=False,
            )
            verdict = "" if proc.returncode == 0 else ", FAILED"
            if verdict:
                print(proc.stdout[-3000:], file=sys.stderr)
            measured[f"{name} tier (s){verdict}"] = spread([time.monotonic() - started])
    return measured


def per_round(rounds: list[dict], label: str, key: str) -> list[float]:
    """``label``'s ``key`` in each round."""
    return [r[label][key] for r in rounds]


def ratios(rounds: list[dict], numerator: str, denominator: str, key: str) -> list[float]:
    """Per round, ``numerator``'s ``key`` over ``denominator``'s in that round."""
    return [r[numerator][key] / r[denominator][key] for r in rounds]


def ratios_of(rounds: list[dict], numerator: str, key: str, denominator: str, other: str):
    """Per round, ``numerator``'s ``key`` over ``denominator``'s ``other``."""
    return [r[numerator][key] / r[denominator][other] for r in rounds]


def verdict(values: list[float], ok) -> str:
    """The verdict on ``values`` (one per round): "met" when every one
    satisfies ``ok``, "missed" when none does, "undecided" when they straddle it."""
    passed = [bool(ok(v)) for v in values]
    return "met" if all(passed) else "missed" if not any(passed) else "undecided"


def _goal(
    goal: str, values: list[float], ok, unit: str = "x", digits: int = 2, why: str = ""
) -> dict:
    """A goals row: the goal, its values' median [min–max], the verdict, and
    ``why`` (the measured floor and what stands between), shown unless met."""
    s = spread(values)
    text = f"{s['median']:.{digits}f}{unit}"
    if len(values) > 1:
        text += f" [{s['min']:.{digits}f}–{s['max']:.{digits}f}]"
    found = verdict(values, ok)
    return {
        "goal": goal, "value": text, "verdict": found, "met": found == "met", "spread": s,
        "why": "" if found == "met" else why,
    }  # fmt: skip


def _median(values: list[float]) -> float:
    return statistics.median(values)


# The serving comparisons the page gives as ratios per round: ours over each other.
COMPARED_MEASURES = (
    "/notes/ requests/s",
    "/notes/ p99 (ms)",
    "/notes/ CPU per request (ms)",
    "/healthz requests/s",
    "/healthz p99 (ms)",
    "docker run to /readyz 200 (s)",
    "memory under load (MB)",
)


def comparisons(serving_rounds: list[dict]) -> list[dict]:
    """Ours over every other served label, per measure: the ratio's spread over
    the rounds, and whether its range excludes 1 (a difference; never with
    one round)."""
    rows = []
    for other in SERVED:
        if other == "ours":
            continue
        for key in COMPARED_MEASURES:
            values = ratios(serving_rounds, "ours", other, key)
            s = spread(values)
            rows.append(
                {
                    "comparison": f"ours / {other}",
                    "measure": key,
                    "ratio": s,
                    # One round has no range: it shows no difference either way.
                    "difference": len(values) > 1 and (s["min"] > 1 or s["max"] < 1),
                }
            )
    return rows


def goals(results: dict) -> list[dict]:
    """The goals the results page leads with: per goal, the ratio (or value)
    in each round as median [min–max], and met / missed / undecided."""
    builds, served = results["rounds"]["builds"], results["rounds"]["serving"]
    cc = "cookiecutter-django layout"
    code_change = "rebuild after a one-line code change (s)"
    floor = {key: value["median"] for key, value in results["startup floor"].items()}
    setup = floor["django.setup() (s)"]
    rows = []
    ours_change = _median(per_round(builds, "ours", code_change))
    noop = _median(per_round(builds, "ours", "no-op rebuild (s)"))
    for baseline in BASELINES:
        target = _median(per_round(builds, baseline, code_change)) / 3
        rows.append(
            _goal(
                f"code-only rebuild at least 3x faster than the {baseline}",
                ratios(builds, baseline, "ours", code_change),
                lambda r: r >= 3,
                "x faster",
                1,
                f"3x needs {target:.1f} s; ours takes {ours_change:.1f} s, of which "
                f"{noop:.1f} s is any rebuild's (a no-op one: BuildKit reading the context "
                "and exporting the image) and the rest the application layer: its COPY, "
                f"then collectstatic {floor['app layer: collectstatic (s)']:.2f} s (whitenoise "
                "hashing and compressing the admin's and django-ninja's files, which do not "
                f"change with our code; collected with the app's, in one manifest), "
                f"django.setup() {floor['app layer: django.setup() (s)']:.2f} s, the "
                f"deployment check {floor['app layer: check --deploy (s)']:.2f} s",
            )
        )
    uv_mb = sum(
        layer["bytes"] for layer in results["packagings"]["ours"]["build"]["layers"]
        if "/usr/local/bin/uv" in layer["instruction"]
    ) / 1e6  # fmt: skip
    # The application layer's RUN (compileall, then collectstatic) holds the static files.
    static_mb = sum(
        layer["bytes"] for layer in results["packagings"]["ours"]["build"]["layers"]
        if "compileall" in layer["instruction"]
    ) / 1e6  # fmt: skip
    sizes = {
        "ours, no uv in image": f"ours carries {static_mb:.0f} MB of collected static files "
        "the baseline does not collect (layers below; mostly django-ninja's Swagger UI and "
        "Redoc bundles, each in four copies: as found, hashed, and both gzipped); its "
        "CPython is smaller",
        "ours": f"the uv binary the runtime stage carries for `uv run`: {uv_mb:.0f} MB",
    }
    for label, limit in (("ours, no uv in image", 0.8), ("ours", 1.0)):
        rows.append(
            _goal(
                f"image ({label}) at most {limit}x the {cc}",
                ratios(builds, label, cc, "image size (MB)"),
                lambda r, limit=limit: r <= limit,
                why=sizes[label],
            )
        )
    rows.append(
        _goal(
            f"cold build at most 0.5x the {cc}",
            ratios(builds, "ours", cc, "cold build (s)"),
            lambda r: r <= 0.5,
            why="both spend a cold build on the same work (Debian packages, CPython, the "
            "same locked packages through the same uv); the stages differ by seconds",
        )
    )
    ready = _median(per_round(served, "ours", "readiness: docker run to container started (s)"))
    rows.append(
        _goal(
            "/readyz 200 within 0.5 s of docker run",
            per_round(served, "ours", "docker run to /readyz 200 (s)"),
            lambda v: v <= 0.5,
            " s",
            why=f"floor about {ready + floor['interpreter start (s)'] + setup:.2f} s for any "
            f"Django process in a container here: Docker's own container start {ready:.2f} s "
            f"and a cold interpreter's django.setup() {setup:.2f} s (Django, django-ninja "
            f"and pydantic imports); uv run adds {floor['uv run adds (s)']:.2f} s and "
            f"gunicorn with its config {floor['gunicorn and its config import (s)']:.2f} s, "
            "before any connection (Readiness, below)",
        )
    )
    off = "ours, observability off"
    proxy = results["rounds"]["proxy"]
    rows.append(
        _goal(
            "observability costs at most 5 % of /notes/ requests/s (ours / ours without it)",
            ratios(served, "ours", off, "/notes/ requests/s"),
            lambda r: r >= 0.95,
            why="the metrics: django-prometheus's middleware and its database cursor wrapper, "
            "through prometheus_client's multiprocess files (results/observability/README.md)",
        )
    )
    rows.append(
        _goal(
            "observability costs at most 5 % of /notes/ p99 (ours / ours without it)",
            ratios(served, "ours", off, "/notes/ p99 (ms)"),
            lambda r: r <= 1.05,
            why="the metrics: django-prometheus's middleware and its database cursor wrapper, "
            "through prometheus_client's multiprocess files (results/observability/README.md)",
        )
    )
    # The figure that can decide 5 % on a shared machine (page.py, "How many rounds").
    rows.append(
        _goal(
            "observability costs at most 5 % of /notes/ CPU time per request",
            ratios(served, "ours", off, "/notes/ CPU per request (ms)"),
            lambda r: r <= 1.05,
            why="the metrics: django-prometheus's middleware and its database cursor wrapper, "
            "through prometheus_client's multiprocess files (results/observability/README.md)",
        )
    )
    rows.append(
        _goal(
            "/healthz through the proxy at least 90 % of direct requests/s",
            ratios(
                results["rounds"]["proxy"], "through the proxy", "direct", "/healthz requests/s"
            ),
            lambda r: r >= 0.9,
            why="saturated: Caddy's TLS and proxying share the two cores with gunicorn and wrk",
        )
    )
    paced = f"/notes/ at {FIXED_RATE} requests/s"
    for quantile, limit in (("p50", 1), ("p99", 5)):
        key = f"{paced} {quantile} (ms)"
        rows.append(
            _goal(
                f"the proxy adds at most {limit} ms to {paced} at {quantile}",
                [r["through the proxy"][key] - r["direct"][key] for r in proxy],
                lambda d, limit=limit: d <= limit,
                " ms",
                why="one more hop, with TLS, on the same two cores as the app and hey; "
                "Caddy also compresses the response (hey asks for gzip, as browsers do). "
                "Not split further; p99 of 2,000 requests moves by several ms a round",
            )
        )
    return rows


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    docker = run(["docker", "version", "--format", "{{.Server.Version}}"]).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory (GiB)": round(memory, 1),
        "kernel": platform.release(),
        "docker engine": docker,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main() -> int:
    """Parse the options, measure, write the results; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=3, help="rounds of every measure (median, min, max)"
    )
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument(
        "--idle", type=float, default=5, help="idle seconds before each visit of a round"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where the page goes")
    parser.add_argument(
        "--smoke", action="store_true", help="one short round, cache allowed: check that it works"
    )
    parser.add_argument(
        "--tiers", action="store_true", help="also time each test tier (about 30 minutes more)"
    )
    args = parser.parse_args()
    runs, seconds, idle = (1, 2, 0.0) if args.smoke else (args.runs, args.seconds, args.idle)
    env = dict(os.environ)
    missing = [tool for tool in ("wrk", "hey") if not shutil.which(tool)]
    if missing:
        run(["apt-get", "install", "-y", "-qq", *missing], timeout=600)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    renders = {
        "uv": render(work / "service", tasks=True),
        "no-uv": render(work / "service-no-uv", {"runtime_uv": False}, tasks=True),
    }
    results: dict = {"machine": machine(), "runs": runs, "wrk seconds": seconds, "packagings": {}}
    builds, build_rounds = measure_builds(renders, env, runs, idle, cold=not args.smoke)
    net, db, redis = (f"bench-{uuid.uuid4().hex[:6]}-{p}" for p in ("net", "db", "redis"))
    run(["docker", "network", "create", net])
    try:
        start_backing_services(
            net, db, redis, default("postgres_version"), default("redis_version")
        )
        served, serving_rounds = measure_serving(net, db, redis, runs, seconds, idle)
    finally:
        remove(db, redis)
        run(["docker", "network", "rm", net], check=False)
    for label in PACKAGINGS:
        results["packagings"][label] = {"build": builds[label], "serving": served[label]}
    results["observability off"] = served["ours, observability off"]
    floors = [startup_floor(tag_of("ours")) | app_layer_steps(tag_of("ours")) for _ in range(runs)]
    results["startup floor"] = {key: spread([f[key] for f in floors]) for key in floors[0]}
    print("[bench] production stack", file=sys.stderr)
    results["proxy"], proxy_rounds = measure_proxy(renders["uv"], env, runs, seconds, idle)
    results["rounds"] = {"builds": build_rounds, "serving": serving_rounds, "proxy": proxy_rounds}
    results["comparisons"] = comparisons(serving_rounds)
    results["other"] = measure_copier(runs, env)
    if args.tiers:
        results["other"] |= measure_tiers(env)
    results["goals"] = goals(results)
    write_page(results, args.out)
    for row in results["goals"]:
        print(f"{row['verdict']:9} {row['goal']}: {row['value']}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
