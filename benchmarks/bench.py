"""Benchmarks that print and keep numbers; nothing here passes or fails on speed.

Usage::

    uv run python -m benchmarks.bench [--runs 3] [--seconds 10] [--out benchmarks/results]
    uv run python -m benchmarks.bench --smoke --out /tmp/bench   # one quick pass: does it work?

Needs a Docker engine and the environment machine/prepare prints, exported
before the process starts, and wrk (installed with apt-get when missing).

Takes a default render of the template and packages the same service four
ways, on the same base image and the same uv-managed CPython, so that only
the packaging differs: ours; ours answering runtime_uv=no; cookiecutter-
django's production layout (cookiecutter-layout.Dockerfile); the naive
single stage many teams start from (naive.Dockerfile). For each, ``--runs``
times, it measures build times (cold with ``--no-cache``, no-op, after a
one-line code change, after adding one small dependency, with the bytes
the host received meanwhile), image size by layer, time from ``docker run``
to ``/readyz`` 200, requests per second with p50/p99 latency on ``/healthz``
and on ``/notes/`` (one database read), with wrk on loopback, bounded in
time, and the container's memory idle and under that load. Ours is also
measured through the production stack's proxy (Caddy, HTTPS), and without
JSON logs and metrics. Then the time of ``copier copy`` and, unless
``--smoke``, of each test tier, run in a clean clone of HEAD (about 20
minutes of the hour the full run takes).

Writes ``results.json``, PNG charts and ``README.md`` (the results page,
with the goals and whether each was met) to ``--out``. Exits non-zero only
when a step fails (an ``AssertionError`` naming the command).
"""

from __future__ import annotations

import argparse
import os
import platform
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
from harness.http import wait_for_status
from harness.proc import run
from harness.questions import default
from harness.render import render
from harness.stack import start, stop

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


def measure_builds(label: str, context: Path, env: dict, runs: int, cold: bool = True) -> dict:
    """Cold, no-op, code-change and added-dependency builds of one packaging
    (``cold=False``: the first build may use the layer cache, for a smoke run)."""
    dockerfile, _ = PACKAGINGS[label]
    tag = f"bench-{re.sub(r'[^a-z0-9]+', '-', label)}:latest"
    cmd = build_cmd(tag, dockerfile, context, env)
    results: dict[str, list[float]] = {
        "cold build (s)": [],
        "no-op rebuild (s)": [],
        "rebuild after a one-line code change (s)": [],
        "rebuild after adding a dependency (s)": [],
        "bytes received while adding it (MB)": [],
    }
    code = context / CODE_FILE
    original_code = code.read_text()
    pyproject, lock = context / "pyproject.toml", context / "uv.lock"
    original = (pyproject.read_text(), lock.read_text())
    for _ in range(runs):
        # No layer cache and, under --no-cache, fresh cache mounts: every
        # package and CPython is downloaded again, as on a new machine.
        no_cache = ["--no-cache"] if cold else []
        results["cold build (s)"].append(
            timed(build_cmd(tag, dockerfile, context, env, *no_cache), env=env, timeout=3600)
        )
        results["no-op rebuild (s)"].append(timed(cmd, env=env))
        code.write_text(original_code + f"\n# bench {uuid.uuid4().hex}\n")
        results["rebuild after a one-line code change (s)"].append(timed(cmd, env=env))
        code.write_text(original_code)
        run(["uv", "add", "--quiet", "humanize"], cwd=context, env=env)
        # A project state no earlier build has seen (BuildKit's layer cache
        # outlives runs), and humanize out of uv's cache mount, so the build
        # really installs it and the bytes are its download.
        pyproject.write_text(pyproject.read_text() + f"# bench {uuid.uuid4().hex}\n")
        forget_download("humanize", env)
        before = received_bytes()
        results["rebuild after adding a dependency (s)"].append(timed(cmd, env=env, timeout=1800))
        results["bytes received while adding it (MB)"].append((received_bytes() - before) / 1e6)
        pyproject.write_text(original[0])
        lock.write_text(original[1])
        run(cmd, env=env)
    size = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", tag]).stdout)
    measured = {key: spread(values) for key, values in results.items()}
    measured["image size (MB)"] = spread([size / 1e6])
    return {"tag": tag, "measures": measured, "layers": layers(tag)}


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


def measure_serving(
    tag: str, net: str, db: str, redis: str, runs: int, seconds: int, extra: dict | None = None
) -> dict:
    """Start ``tag`` against ``db`` and ``redis`` (with ``extra`` settings);
    readyz time, load, memory."""
    results: dict[str, list[float]] = {}
    env = {
        "DJANGO_SECRET_KEY": uuid.uuid4().hex * 2,
        "DATABASE_URL": f"postgres://svc:pw@{db}:5432/svc",
        "REDIS_URL": f"redis://{redis}:6379/0",
        "DJANGO_ALLOWED_HOSTS": "localhost",
        # Plain HTTP on loopback: no redirect to HTTPS for these measurements.
        "DJANGO_SECURE_SSL_REDIRECT": "false",
    }
    for attempt in range(runs):
        app = f"bench-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        port = serve(tag, app, net, {**env, **(extra or {})})
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_status(url + "/readyz", within=60)
            results.setdefault("docker run to /readyz 200 (s)", []).append(
                time.monotonic() - started
            )
            if attempt == 0:
                run(["docker", "exec", app, "python", "manage.py", "migrate", "-v0"])
            results.setdefault("memory idle (MB)", []).append(memory_mb(app, after=1))
            for path in ("/healthz", "/notes/"):
                drain_time_wait()
                with ThreadPoolExecutor(1) as sampler:
                    # Memory halfway through the load, while wrk runs.
                    loaded = sampler.submit(memory_mb, app, after=seconds / 2)
                    load = wrk(url + path, seconds)
                for key, value in load.items():
                    results.setdefault(f"{path} {key}", []).append(value)
                if path == "/notes/":
                    results.setdefault("memory under load (MB)", []).append(loaded.result())
        finally:
            remove(app)
    return {key: spread(values) for key, values in results.items()}


def _mb(usage: str) -> float:
    """MB from the first figure of `docker stats`' MemUsage ("12.3MiB / 1GiB")."""
    value, unit = re.match(r"([\d.]+)(\w+)", usage.split("/")[0].strip()).groups()
    return float(value) * {"B": 1e-6, "KiB": 1.024e-3, "MiB": 1.048576, "GiB": 1073.741824}[unit]


def measure_proxy(render_path: Path, env: dict, runs: int, seconds: int) -> dict:
    """Ours in the production stack: the same loads direct to web and through Caddy."""
    stack = start("bench", render_path, env, {"DJANGO_SECURE_SSL_REDIRECT": "false"})
    results: dict[str, list[float]] = {}
    try:
        stack.docker.compose.execute("web", ["python", "manage.py", "migrate", "-v0"], tty=False)
        direct = stack.web
        proxied = f"https://localhost:{stack.port('proxy', 443)}"
        for _ in range(runs):
            for label, base in (("direct", direct), ("through the proxy", proxied)):
                for path in ("/healthz", "/notes/"):
                    drain_time_wait()
                    for key, value in wrk(base + path, seconds).items():
                        results.setdefault(f"{path} {label} {key}", []).append(value)
    finally:
        stop(stack)
    return {key: spread(values) for key, values in results.items()}


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


def goals(results: dict) -> list[dict]:
    """The goals the results page reports, each with its ratio and verdict."""
    m = {label: data["build"]["measures"] for label, data in results["packagings"].items()}
    served = {label: data["serving"] for label, data in results["packagings"].items()}

    def med(label, key, source=m):
        return source[label][key]["median"]

    rows = []
    for baseline in BASELINES:
        ratio = med(baseline, "rebuild after a one-line code change (s)") / med(
            "ours", "rebuild after a one-line code change (s)"
        )
        rows.append(
            {
                "goal": f"code-only rebuild at least 3x faster than the {baseline}",
                "value": f"{ratio:.1f}x faster",
                "met": ratio >= 3,
            }
        )
    cc = "cookiecutter-django layout"
    for label, limit in (("ours, no uv in image", 0.8), ("ours", 1.0)):
        ratio = med(label, "image size (MB)") / med(cc, "image size (MB)")
        rows.append(
            {
                "goal": f"image ({label}) at most {limit}x the {cc}",
                "value": f"{ratio:.2f}x",
                "met": ratio <= limit,
            }
        )
    ratio = med("ours", "cold build (s)") / med(cc, "cold build (s)")
    rows.append(
        {"goal": f"cold build at most 0.5x the {cc}", "value": f"{ratio:.2f}x", "met": ratio <= 0.5}
    )
    readyz = served["ours"]["docker run to /readyz 200 (s)"]["median"]
    rows.append(
        {
            "goal": "/readyz 200 within 0.5 s of docker run",
            "value": f"{readyz:.2f} s",
            "met": readyz <= 0.5,
        }
    )
    proxy = results["proxy"]
    ratio = (
        proxy["/healthz through the proxy requests/s"]["median"]
        / proxy["/healthz direct requests/s"]["median"]
    )
    rows.append(
        {
            "goal": "/healthz through the proxy at least 90 % of direct requests/s",
            "value": f"{ratio:.0%}",
            "met": ratio >= 0.9,
        }
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
        "--runs", type=int, default=3, help="runs of each measure (median, min, max)"
    )
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where the page goes")
    parser.add_argument(
        "--smoke", action="store_true", help="one short pass, cache allowed: check that it works"
    )
    args = parser.parse_args()
    runs, seconds = (1, 2) if args.smoke else (args.runs, args.seconds)
    env = dict(os.environ)
    if not shutil.which("wrk"):
        run(["apt-get", "install", "-y", "-qq", "wrk"], timeout=600)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    renders = {
        "uv": render(work / "service", tasks=True),
        "no-uv": render(work / "service-no-uv", {"runtime_uv": False}, tasks=True),
    }
    results: dict = {"machine": machine(), "runs": runs, "wrk seconds": seconds, "packagings": {}}
    net, db, redis = (f"bench-{uuid.uuid4().hex[:6]}-{p}" for p in ("net", "db", "redis"))
    run(["docker", "network", "create", net])
    try:
        start_backing_services(
            net, db, redis, default("postgres_version"), default("redis_version")
        )
        for label, (_, which) in PACKAGINGS.items():
            print(f"[bench] {label}", file=sys.stderr)
            build = measure_builds(label, renders[which], env, runs, cold=not args.smoke)
            serving = measure_serving(build["tag"], net, db, redis, runs, seconds)
            results["packagings"][label] = {"build": build, "serving": serving}
            if label == "ours":
                print("[bench] ours without JSON logs and metrics", file=sys.stderr)
                results["observability off"] = measure_serving(
                    build["tag"], net, db, redis, runs, seconds, WITHOUT_OBSERVABILITY
                )
    finally:
        remove(db, redis)
        run(["docker", "network", "rm", net], check=False)
    print("[bench] production stack", file=sys.stderr)
    results["proxy"] = measure_proxy(renders["uv"], env, runs, seconds)
    results["other"] = measure_copier(runs, env)
    if not args.smoke:
        results["other"] |= measure_tiers(env)
    results["goals"] = goals(results)
    write_page(results, args.out)
    for row in results["goals"]:
        print(f"{'met' if row['met'] else 'MISSED':6} {row['goal']}: {row['value']}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
