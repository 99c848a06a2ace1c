"""What each part of the template's observability costs a DB-backed request.

Usage::

    uv run python -m benchmarks.observability [--rounds 5] [--seconds 8] [--out DIR]
    uv run python -m benchmarks.observability --smoke     # two rounds of 2 s: does it work?

Needs what benchmarks.bench needs (a Docker engine, machine/prepare's
environment, wrk). Renders the defaults once, builds one production image
and starts one Postgres and one Redis, then one container per variant, all
of the same image: they differ only by environment variables the template
reads, or by a small file bind-mounted read-only (a settings module that
drops one middleware or swaps one backend, or a gunicorn.conf.py without
prometheus_client's multiprocess mode). Every container stays up for the
whole run, so each round visits every variant once, in a fresh random
order, with a warm-up and idle time before each wrk run; a slow minute on a
shared machine then lands on one variant of one round, not on one variant.

Each variant names a reference variant; the page gives, per variant, the
ratio of its /notes/ requests/s, p99 and CPU time per request (the
container's cgroup's, over the wrk run: less swayed than requests/s by a
busy neighbour) to its reference's in the same round: median, min and max
over the rounds, and calls a difference only where that range excludes 1.
With ``--head`` it also builds the last commit's image and runs it as shipped
and with everything off, to compare a change in this checkout with. Writes
``observability.json`` and ``observability.md`` to ``--out``, prints the
table, and exits non-zero only when a step fails (an ``AssertionError`` naming the command).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.bench import build_cmd, drain_time_wait, measured_load, spread, wrk
from harness import ROOT
from harness.docker import docker, host_port, remove
from harness.http import wait_for_status
from harness.proc import run
from harness.questions import default
from harness.render import render
from harness.wait import wait_until

TAG = "bench-observability:latest"
# The same service rendered from the last commit (--head): before and after a change.
HEAD_TAG = "bench-observability-head:latest"

# A settings module the variants can name (DJANGO_SETTINGS_MODULE): the
# service's own, minus what BENCH_* variables say, so one file covers them all.
SETTINGS = """\
import os

from config.service_settings import *  # noqa: F403

_drop = set(filter(None, os.environ.get("BENCH_DROP_MIDDLEWARE", "").split(",")))
MIDDLEWARE = [m for m in MIDDLEWARE if m not in _drop]  # noqa: F405
if os.environ.get("BENCH_PLAIN_DB"):
    DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"  # noqa: F405
if os.environ.get("BENCH_PLAIN_CACHE"):
    CACHES["default"]["BACKEND"] = "django_redis.cache.RedisCache"  # noqa: F405
"""

OFF = {
    "DJANGO_METRICS": "false",
    "DJANGO_LOG_FORMAT": "plain",
    "GUNICORN_CMD_ARGS": "--access-logfile=/dev/null",
}
# django-prometheus's middleware, as the last release names it and as ops/metrics.py does.
PROMETHEUS_MIDDLEWARE = ",".join(
    f"{module}.Prometheus{when}Middleware"
    for module in ("django_prometheus.middleware", "ops.metrics")
    for when in ("Before", "After")
)
BENCH_SETTINGS = {"DJANGO_SETTINGS_MODULE": "config.bench_settings"}
# label: (reference label, environment, extra docker run options)
VARIANTS: dict[str, tuple[str | None, dict, dict]] = {
    "everything off": (None, OFF, {}),
    "as shipped": ("everything off", {}, {}),
    "off + JSON logs (access and app)": (
        "everything off",
        {**OFF, "DJANGO_LOG_FORMAT": "json", "GUNICORN_CMD_ARGS": ""},
        {},
    ),
    "off + plain access log": ("everything off", {**OFF, "GUNICORN_CMD_ARGS": ""}, {}),
    "off − request-ID middleware": (
        "everything off",
        {**OFF, **BENCH_SETTINGS, "BENCH_DROP_MIDDLEWARE": "ops.request_id.RequestIDMiddleware"},
        {"settings": True},
    ),
    "off + metrics (every family)": ("everything off", {**OFF, "DJANGO_METRICS": "true"}, {}),
    "shipped − prometheus middleware": (
        "as shipped",
        {**BENCH_SETTINGS, "BENCH_DROP_MIDDLEWARE": PROMETHEUS_MIDDLEWARE},
        {"settings": True},
    ),
    "shipped − prometheus DB wrapper": (
        "as shipped",
        {**BENCH_SETTINGS, "BENCH_PLAIN_DB": "1"},
        {"settings": True},
    ),
    "shipped − prometheus cache wrapper": (
        "as shipped",
        {**BENCH_SETTINGS, "BENCH_PLAIN_CACHE": "1"},
        {"settings": True},
    ),
    "shipped, multiprocess files in /dev/shm": (
        "as shipped",
        {"PROMETHEUS_MULTIPROC_DIR": "/dev/shm/prometheus"},
        {},
    ),
    "shipped, no multiprocess mode": ("as shipped", {}, {"single_process": True}),
    "shipped, gunicorn without uv run": ("as shipped", {}, {"command": ["gunicorn"]}),
    # Only with --head: the last commit's image, to compare a change with.
    "HEAD: everything off": (None, OFF, {"image": HEAD_TAG}),
    "HEAD: as shipped": ("HEAD: everything off", {}, {"image": HEAD_TAG}),
}
# Compared directly too, same round: this checkout over the last commit.
ACROSS = (("as shipped", "HEAD: as shipped"), ("everything off", "HEAD: everything off"))


def start_backing_services(net: str, db: str, redis: str, within: float = 60) -> None:
    """Start Postgres and Redis containers named ``db`` and ``redis`` on
    ``net``, as harness.docker.start_backing_services does, but with room for
    every variant's connections: each keeps one per gunicorn thread (2 x 4),
    and a dozen variants exceed Postgres' default 100. Returns once both
    answer; raises ``AssertionError`` otherwise."""
    settings = {"POSTGRES_USER": "svc", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "svc"}
    docker.run(
        f"postgres:{default('postgres_version')}", ["postgres", "-c", "max_connections=400"],
        detach=True, name=db, networks=[net], envs=settings,
    )  # fmt: skip
    docker.run(f"redis:{default('redis_version')}", detach=True, name=redis, networks=[net])

    def ready() -> bool:
        # execute raises while pg_isready exits non-zero: "not yet" to wait_until.
        docker.execute(db, ["pg_isready", "-h", "127.0.0.1", "-U", "svc"])
        return docker.execute(redis, ["redis-cli", "ping"]).strip() == "PONG"

    wait_until(ready, within, f"{db} and {redis} ready", every=0.5)


def single_process_conf(image: str, folder: Path) -> Path:
    """The image's gunicorn.conf.py with PROMETHEUS_MULTIPROC_DIR left unset
    (so prometheus_client keeps each worker's samples in memory) and no
    metrics port (its collector reads that folder), written to
    ``folder``; returns its path. Raises ``AssertionError`` if the line moved."""
    text = run(["docker", "run", "--rm", image, "cat", "/app/gunicorn.conf.py"]).stdout
    line = 'METRICS_DIR = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "/tmp/prometheus")'
    assert line in text, "gunicorn.conf.py no longer sets PROMETHEUS_MULTIPROC_DIR that way"
    path = folder / "gunicorn.conf.py"
    # The master's collector and child_exit need the folder: no metrics port here.
    text = text.replace(line, 'METRICS_DIR = "/tmp/prometheus"')
    path.write_text(text.replace("    if METRICS:\n", "    if False:\n"))
    return path


def start_variant(label: str, net: str, db: str, redis: str, files: dict[str, Path]) -> dict:
    """Start ``label``'s container; return its name and base URL once /readyz is 200."""
    _, extra_env, options = VARIANTS[label]
    name = f"bench-obs-{uuid.uuid4().hex[:8]}"
    env = {
        "DJANGO_SECRET_KEY": uuid.uuid4().hex * 2,
        "DATABASE_URL": f"postgres://svc:pw@{db}:5432/svc",
        "REDIS_URL": f"redis://{redis}:6379/0",
        "DJANGO_ALLOWED_HOSTS": "localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        **extra_env,
    }
    volumes = []
    if options.get("settings"):
        volumes.append((str(files["settings"]), "/app/config/bench_settings.py", "ro"))
    if options.get("single_process"):
        volumes.append((str(files["gunicorn"]), "/app/gunicorn.conf.py", "ro"))
    docker.run(
        options.get("image", TAG), options.get("command", []), detach=True, name=name,
        networks=[net], envs=env, publish=[("127.0.0.1::8000",)], volumes=volumes,
    )  # fmt: skip
    url = f"http://127.0.0.1:{host_port(name, 8000)}"
    try:
        wait_for_status(url + "/readyz", within=90)
    except AssertionError:
        print(f"[observability] {label}:\n{docker.logs(name)[-3000:]}", file=sys.stderr)
        remove(name)
        raise
    return {"name": name, "url": url}


def ratios(rounds: list[dict], label: str, key: str) -> list[float]:
    """Per round, ``label``'s ``key`` over its reference's in that round."""
    reference = VARIANTS[label][0]
    return [r[label][key] / r[reference][key] for r in rounds]


def settled_after(values: list[float], within: float = 0.02) -> int | None:
    """The first round count from which the running median stays within
    ``within`` (relative) of the final median; None for fewer than 2 values."""
    if len(values) < 2:
        return None
    final = statistics.median(values)
    for n in range(1, len(values) + 1):
        if all(
            abs(statistics.median(values[:k]) - final) <= within * final
            for k in range(n, len(values) + 1)
        ):
            return n
    return len(values)


def table(rounds: list[dict]) -> list[str]:
    """Markdown: one row per variant with a reference, ratios over the rounds."""
    rows = [
        "| variant | vs | /notes/ req/s | p99 | CPU per request | ratio range excludes 1 |",
        "|---|---|---|---|---|---|",
    ]
    for label in rounds[0]:
        reference = VARIANTS[label][0]
        if reference is None:
            continue
        rows.append(_row(label, reference, rounds))
    for label, other in ACROSS:
        if label in rounds[0] and other in rounds[0]:
            rows.append(_row(label, other, rounds, f"{label} (this checkout)"))
    return rows


def _row(label: str, reference: str, rounds: list[dict], name: str = "") -> str:
    """One table row: ``label`` over ``reference`` per round, for each measure,
    and the measures whose ratio range excludes 1."""
    cells = {
        short: spread([r[label][key] / r[reference][key] for r in rounds])
        for short, key in (
            ("req/s", "requests/s"),
            ("p99", "p99 (ms)"),
            ("CPU", "CPU per request (ms)"),
        )
    }
    differ = [short for short, s in cells.items() if s["min"] > 1 or s["max"] < 1]
    return (
        f"| {name or label} | {reference} | "
        + " | ".join(_range(s) for s in cells.values())
        + f" | {', '.join(differ) or 'none: every range spans 1'} |"
    )


def page(rounds: list[dict], seconds: int) -> list[str]:
    """The Markdown lines of the results: the table, and how many rounds each
    ratio took to settle."""
    labels = [label for label in rounds[0] if VARIANTS[label][0]]
    settle = {
        key: {label: settled_after(ratios(rounds, label, key)) for label in labels}
        for key in ("requests/s", "CPU per request (ms)")
    }
    return [
        f"{len(rounds)} rounds, wrk -t2 -c16 {seconds} s on /notes/; ratio = variant / "
        "reference, same round; median [min–max]. CPU: the container's CPU time per request.",
        "",
        *table(rounds),
        "",
        "Rounds until the running median of a ratio stays within 2 % of the final one:",
        "",
        *(
            f"- {key}: " + ", ".join(f"{label}: {n}" for label, n in found.items())
            for key, found in settle.items()
        ),
    ]


def _range(value: dict) -> str:
    return f"{value['median']:.3f} [{value['min']:.3f}–{value['max']:.3f}]"


def main() -> int:
    """Parse the options, measure, write and print the results; return 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds over every variant")
    parser.add_argument("--seconds", type=int, default=8, help="duration of each wrk run")
    parser.add_argument("--idle", type=float, default=2, help="idle seconds before each run")
    parser.add_argument(
        "--only", default="", help="labels to run, separated by ; (their references run too)"
    )
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "bench-obs")
    parser.add_argument(
        "--head", action="store_true", help="also the last commit's image, to compare with"
    )
    parser.add_argument("--smoke", action="store_true", help="two rounds of 2 s")
    parser.add_argument(
        "--report", type=Path, help="only redo the table from this observability.json"
    )
    args = parser.parse_args()
    if args.report:
        saved = json.loads(args.report.read_text())
        print("\n".join(page(saved["rounds"], saved["seconds"])))
        return 0
    rounds_wanted, seconds = (2, 2) if args.smoke else (args.rounds, args.seconds)
    labels = [
        label for label in VARIANTS if args.head or VARIANTS[label][2].get("image") != HEAD_TAG
    ]
    if args.only:
        wanted = set(args.only.split(";"))
        wanted |= {VARIANTS[w][0] for w in wanted if VARIANTS[w][0]}
        wanted |= {VARIANTS[w][0] for w in set(wanted) if VARIANTS[w][0]}
        labels = [label for label in labels if label in wanted]
    env = dict(os.environ)
    work = Path(tempfile.mkdtemp(prefix="bench-obs-"))
    service = render(work / "service", tasks=True)
    run(build_cmd(TAG, None, service, env), env=env, timeout=1800)
    if args.head:
        clone = work / "head"
        run(["git", "clone", "--quiet", str(ROOT), str(clone)])
        head = render(work / "head-service", src=clone, tasks=True)
        run(build_cmd(HEAD_TAG, None, head, env), env=env, timeout=1800)
    files = {"settings": work / "bench_settings.py"}
    files["settings"].write_text(SETTINGS)
    files["gunicorn"] = single_process_conf(TAG, work)
    for path in files.values():
        path.chmod(0o644)  # the container's user (10001) reads them
    net, db, redis = (f"bench-{uuid.uuid4().hex[:6]}-{p}" for p in ("net", "db", "redis"))
    containers: dict[str, dict] = {}
    rounds: list[dict] = []
    run(["docker", "network", "create", net])
    try:
        start_backing_services(net, db, redis)
        for label in labels:
            containers[label] = start_variant(label, net, db, redis, files)
        first = next(iter(containers.values()))["name"]
        run(["docker", "exec", first, "python", "manage.py", "migrate", "-v0"])
        for number in range(rounds_wanted):
            order = random.sample(labels, len(labels))
            measured = {}
            for label in order:
                url = containers[label]["url"] + "/notes/"
                wrk(url, 2)  # warm-up: connections, caches, the metrics' label sets
                drain_time_wait()
                time.sleep(args.idle)
                measured[label] = measured_load(containers[label]["name"], url, seconds)
            rounds.append(measured)
            print(f"[observability] round {number + 1}: {json.dumps(measured)}", file=sys.stderr)
    finally:
        remove(*(c["name"] for c in containers.values()), db, redis)
        run(["docker", "network", "rm", net], check=False)
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "observability.json").write_text(
        json.dumps({"seconds": seconds, "rounds": rounds}, indent=2)
    )
    lines = page(rounds, seconds)
    (args.out / "observability.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
