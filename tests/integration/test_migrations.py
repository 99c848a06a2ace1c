"""Migrations and Postgres connections in the production stack, on the
integration variants that answer celery (so worker and beat count too).

- A migration that needs a table's ACCESS EXCLUSIVE lock while a long
  transaction holds that table fails within its lock timeout (3 s, plus
  container start), saying which table is held, and requests to /notes/
  keep answering meanwhile: they queue behind the waiting ALTER for the lock
  timeout at most, not for the app's 30 s statement timeout.
- Retried with backoff, it succeeds once the long transaction ends.
- With web, worker, beat and a migration all busy, the stack holds no more
  Postgres connections than the README's budget counts for it.

The migration is a throwaway one (a nullable column on notes_note, the
ALTER TABLE every schema change is), bind-mounted into a one-off migrate
container and reversed at the end, so the image stays as built."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness.docker import docker
from harness.load import Load, failures
from harness.notes import new_note, queue
from harness.questions import integration_variants
from harness.report import report
from harness.stack import Stack
from harness.wait import wait_until

NAMES = [name for name, answers in integration_variants().items() if answers.get("celery")]
pytestmark = pytest.mark.parametrize("variant", NAMES, indirect=True)

LOCK_TIMEOUT_S = 3.0
# Starting a one-off container and Django, on two shared cores.
START_MARGIN_S = 10.0
PROBE = "0999_lock_probe"
MIGRATION = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("notes", "{previous}")]
    operations = [
        migrations.AddField("note", "lock_probe", models.TextField(null=True)),
    ]
"""


def psql(stack: Stack, sql: str) -> str:
    """``sql`` run by psql as the superuser in the db container; its bare output."""
    return stack.docker.compose.execute("db", ["sh", "-c",
        f'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAX -v ON_ERROR_STOP=1 -c "{sql}"',
    ], tty=False).strip()  # fmt: skip


def probe_column(stack: Stack) -> str:
    """How many lock_probe columns notes_note has: "0" or "1"."""
    return psql(
        stack,
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_name = 'notes_note' AND column_name = 'lock_probe'",
    )


def probe_migration(stack: Stack, tmp_path: Path) -> Path:
    """The throwaway migration's file, after the render's newest notes migration."""
    previous = max(
        p.stem for p in (stack.path / "notes" / "migrations").glob("0*.py") if p.stem != PROBE
    )
    path = tmp_path / f"{PROBE}.py"
    path.write_text(MIGRATION.format(previous=previous))
    path.chmod(0o644)
    return path


def previous_of(migration: Path) -> str:
    """The notes migration ``migration`` follows (its one dependency)."""
    return migration.read_text().split('("notes", "')[1].split('"')[0]


def migrate_command(stack: Stack, migration: Path | None, *args: str, **env: str) -> list[str]:
    """The argv of a one-off migrate container (the stack's own service, its
    environment and bounds), ``migration`` mounted, running config.migrate."""
    settings = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    mount = ["-v", f"{migration}:/app/notes/migrations/{migration.name}:ro"] if migration else []
    return stack.compose_command(
        "run", "--rm", "--no-deps", *settings, *mount,
        "migrate", "python", "-m", "config.migrate", *args,
    )  # fmt: skip


def start_migrate(stack: Stack, migration: Path, **env: str) -> subprocess.Popen:
    """A one-off migrate container applying ``migration``, its output (both
    streams) readable line by line."""
    return subprocess.Popen(
        migrate_command(stack, migration, **env),
        cwd=stack.path, env=stack.env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def hold_lock(stack: Stack, seconds: int) -> subprocess.Popen:
    """A transaction holding ACCESS SHARE on notes_note for ``seconds``, in the
    background; returns once Postgres has granted the lock."""
    sql = f"BEGIN; LOCK TABLE notes_note IN ACCESS SHARE MODE; SELECT pg_sleep({seconds}); COMMIT;"
    holder = subprocess.Popen(
        stack.compose_command("exec", "-T", "db", "sh", "-c",
                              f'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -X -c "{sql}"'),
        cwd=stack.path, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    granted = (
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE l.relation = 'notes_note'::regclass AND l.granted "
        "AND a.query LIKE '%pg_sleep%' AND a.pid <> pg_backend_pid()"
    )
    wait_until(
        lambda: holder.poll() is not None or psql(stack, granted) != "0", 30, "the lock granted"
    )
    assert holder.poll() is None, holder.stdout.read()
    return holder


def release(stack: Stack, holder: subprocess.Popen) -> None:
    """End the long transaction (killing the exec client would leave psql running)."""
    psql(
        stack,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
    )
    holder.wait(30)


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def load_on_notes(stack: Stack, seconds: float) -> Load:
    """Steady GETs of /notes/ through the proxy: 20 a second on 8 clients."""
    return Load(
        f"https://localhost:{stack.port('proxy', 443)}/notes/",
        rate=20, threads=8, max_seconds=seconds, timeout=40, context=stack.proxy_trust(),
    )  # fmt: skip


def test_a_migration_blocked_by_a_long_transaction_fails_fast_and_traffic_flows(
    production, tmp_path
):
    migration = probe_migration(production, tmp_path)
    holder = hold_lock(production, 60)
    try:
        with load_on_notes(production, 60) as load:
            time.sleep(2)  # the load's baseline
            started = time.monotonic()
            proc = start_migrate(production, migration, MIGRATE_ATTEMPTS="1")
            lines = [(time.monotonic() - started, line.rstrip()) for line in proc.stdout]
            exit_code = proc.wait(60)
            ended = time.monotonic()
            time.sleep(2)
    finally:
        release(production, holder)
    elapsed = ended - started
    output = "\n".join(line for _, line in lines)
    message = [line for _, line in lines if "migrate could not take a lock within 3000 ms" in line]
    during = load.between(started, ended)
    latencies = [o.end - o.start for o in during if o.status == 200]
    report(
        f"migrate behind a long transaction on notes_note: failed after {elapsed:.1f} s "
        f"(lock timeout {LOCK_TIMEOUT_S:.0f} s, container start included), exit {exit_code}; "
        f"/notes/ meanwhile: {len(during)} requests, p99 {p99(latencies) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms, {len(failures(during))} failed"
    )
    # EX_TEMPFAIL, with a message naming the table that is held and who holds it.
    assert exit_code == 75, output
    assert message and "holds notes_note (pid " in message[0], output
    assert message[0].endswith("attempt 1 of 1, giving up"), output
    assert elapsed < LOCK_TIMEOUT_S + START_MARGIN_S, output
    # The app kept answering: queued at most the lock timeout, never failed.
    assert len(during) >= 20 and not failures(during), failures(during)[:5]
    assert p99(latencies) < LOCK_TIMEOUT_S + 2, sorted(latencies)[-5:]
    # Nothing of the attempt stayed.
    assert probe_column(production) == "0"


def test_a_migration_retries_with_backoff_and_succeeds_once_the_lock_is_free(production, tmp_path):
    migration = probe_migration(production, tmp_path)
    holder = hold_lock(production, 60)
    started = time.monotonic()
    lines: list[str] = []
    try:
        proc = start_migrate(production, migration, MIGRATE_ATTEMPTS="4")
        for line in proc.stdout:
            lines.append(line.rstrip())
            if "retrying in" in line and holder.poll() is None:
                release(production, holder)  # the long transaction ends during the backoff
        exit_code = proc.wait(120)
        elapsed = time.monotonic() - started
        output = "\n".join(lines)
        retries = [line for line in lines if "retrying in" in line]
        report(
            f"migrate behind a long transaction that ends after the first refusal: "
            f"{len(retries)} attempt(s) refused, then migrated, {elapsed:.1f} s in all"
        )
        assert exit_code == 0, output
        assert retries and retries[0].endswith("attempt 1 of 4, retrying in 2 s"), output
        assert probe_column(production) == "1", output
    finally:
        if holder.poll() is None:
            release(production, holder)
        # Back to the schema the image expects, for the tests after this one.
        subprocess.run(
            migrate_command(production, migration, "notes", previous_of(migration)),
            cwd=production.path, env=production.env, check=False, capture_output=True,
            timeout=300,
        )  # fmt: skip
    assert probe_column(production) == "0"


def test_the_stack_busy_everywhere_stays_within_its_connection_budget(production):
    usable = int(psql(production, "SHOW max_connections")) - int(
        psql(production, "SHOW superuser_reserved_connections")
    )
    config = production.docker.compose.execute(
        "web", ["sh", "-c", "echo $WEB_CONCURRENCY $GUNICORN_THREADS"], tty=False
    ).split()
    processes, threads = int(config[0]), int(config[1])
    command = docker.container.inspect(production.container("worker")).config.cmd
    concurrency = int(command[command.index("--concurrency") + 1])
    # The README's formula for this stack: web's threads and /readyz checks,
    # the worker's processes, beat, a migration.
    budget = processes * (threads + 1) + concurrency + 1 + 1
    samples: list[int] = []
    stop = threading.Event()
    count = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )

    def sample() -> None:
        while not stop.is_set():
            samples.append(int(psql(production, count)))
            time.sleep(0.2)

    notes = [new_note(production) for _ in range(4)]
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with load_on_notes(production, 30) as load:
            for note in notes:  # every worker process busy on a slow task
                queue(production, note, work_seconds=8)
            readiness = Load(
                f"{production.web}/readyz", rate=10, threads=4, max_seconds=20,
                headers={"Host": "localhost"},
            )  # fmt: skip
            with readiness:
                # A migration alongside: nothing to apply, but it connects and checks.
                subprocess.run(
                    migrate_command(production, None),
                    cwd=production.path, env=production.env, check=True,
                    capture_output=True, timeout=120,
                )  # fmt: skip
                time.sleep(10)
    finally:
        stop.set()
        sampler.join(10)
    peak = max(samples)
    report(
        f"postgres connections, production stack busy (web {processes}x{threads} threads "
        f"under load, {concurrency} worker processes on tasks, beat, a migration, /readyz): "
        f"peak {peak} of a budget of {budget}; {usable} usable of max_connections"
    )
    assert not failures(load.outcomes), failures(load.outcomes)[:5]
    assert not failures(readiness.outcomes), failures(readiness.outcomes)[:5]
    assert peak <= budget <= usable, (peak, budget, usable)
