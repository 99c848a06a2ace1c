"""Background work in the production stack, on the integration variants that
answer celery: tasks queued through the example view run in the worker
against the real Redis and Postgres; beat sends the periodic task; a worker
stopped or killed mid-task loses no task and completes none twice; a Redis
restart under a stream of tasks loses none queued after it is back; Redis
hung longer than the liveness limit restarts no worker.

The stack runs with a 20 s visibility timeout and a 5 s beat interval
(tests/integration/conftest.py), where the example view accepts
``?work_seconds=N``. Summaries are queued as a staff user holding
notes.add_notesummary, logged in through the admin's form. Tasks are followed
by their IDs in the worker's JSON log lines; the example task logs
"summarised note N" once per note it summarises (a second delivery logs
"already summarised")."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import yaml

from harness.docker import docker
from harness.notes import (
    completions,
    kill_the_worker_mid_task,
    new_note,
    queue,
    restart_under_a_task_stream,
    stop_the_worker_mid_task,
    succeeded,
    summary,
)
from harness.questions import integration_variants
from harness.report import report
from harness.stack import wait_healthy
from harness.wait import wait_until

NAMES = [name for name, answers in integration_variants().items() if answers.get("celery")]
pytestmark = pytest.mark.parametrize("variant", NAMES, indirect=True)


def test_a_task_queued_by_the_view_runs_and_its_effect_shows(production):
    note = new_note(production, words=4)
    task = queue(production, note)
    assert wait_until(lambda: summary(production, note), 30, "the summary") == {"words": 4}
    assert wait_until(lambda: succeeded(production, task), 10, f"task {task} in the log")


def test_beat_sends_the_periodic_task_within_its_interval(production):
    note = new_note(production, words=2)  # never queued by hand
    started = time.monotonic()
    assert wait_until(lambda: summary(production, note), 15, "beat's summary") == {"words": 2}
    report(
        f"celery beat: a pending note summarised {time.monotonic() - started:.1f} s after it "
        "was made (interval 5 s)"
    )


def test_docker_stop_lets_the_running_task_finish(production):
    note, task, stopped, exit_code = stop_the_worker_mid_task(production)
    worker = production.container("worker")
    finished = succeeded(production, task)
    done_once = completions(production, note) == 1
    # The same container again (compose might make a new one, and its logs would be new).
    docker.start(worker)
    wait_healthy(production, "worker", within=120)
    report(
        f"celery worker docker stop mid-task: stopped in {stopped:.1f} s (task had ~6 s left), "
        f"exit {exit_code}, task finished before exit: {finished}"
    )
    assert exit_code == 0 and finished
    assert summary(production, note) == {"words": 3}
    assert done_once


def test_a_killed_workers_task_is_delivered_again_and_completes_once(production):
    note, task, killed = kill_the_worker_mid_task(production)
    wait_until(lambda: succeeded(production, task), 60, f"task {task} delivered again")
    report(
        f"celery worker killed mid-task: the task ran again and succeeded "
        f"{time.monotonic() - killed:.1f} s later (visibility timeout 20 s)"
    )
    assert summary(production, note) == {"words": 3}
    assert completions(production, note) == 1


def test_redis_restarted_under_a_stream_of_tasks_loses_none_queued_after(production):
    worker = production.container("worker")
    worker_started = docker.container.inspect(worker).state.started_at
    accepted, refused, restart_at, back_at = restart_under_a_task_stream(production, "redis")
    after = [task for at, _, task in accepted if at > back_at]
    assert len(after) >= 5, f"{len(after)} tasks accepted after Redis was back; refused: {refused}"
    try:
        wait_until(
            lambda: all(succeeded(production, task) for task in after),
            60,
            "every task queued after the restart",
        )
    except AssertionError as error:  # the worker's own account of the outage
        raise AssertionError(f"{error}\n{production.logs('worker')[-4000:]}") from None
    before = [task for at, _, task in accepted if at < restart_at]
    report(
        f"celery with Redis restarted under a task stream: {len(before)} queued before, "
        f"{len(accepted) - len(before) - len(after)} during, {len(refused)} refused during the "
        f"{back_at - restart_at:.1f} s restart, {len(after)} after, all of which ran; "
        "worker not restarted"
    )
    restarted = docker.container.inspect(worker).state.started_at != worker_started
    assert not restarted, "\n".join(production.logs("worker").splitlines()[-40:])


def exit_status(container: str, *command: str, timeout: float = 30) -> int | None:
    """``command``'s exit status in ``container``; None when it did not end in time."""
    # The CLI itself: python-on-whales' execute has no timeout.
    try:
        return subprocess.run(
            ["docker", "exec", container, *command], capture_output=True, timeout=timeout
        ).returncode
    except subprocess.TimeoutExpired:
        return None


def test_a_redis_outage_past_the_liveness_limit_restarts_no_worker(production):
    worker = production.container("worker")
    inspected = docker.container.inspect(worker)
    before = (inspected.state.started_at, inspected.restart_count)
    # The checks as the stack and the manifests run them.
    (compose_check,) = inspected.config.healthcheck.test[1:]
    manifest = production.path / "deploy/kubernetes/base/worker.yaml"
    probes = [["sh", "-c", compose_check]]
    if manifest.exists():
        (deployment, *_) = yaml.safe_load_all(manifest.read_text())
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        probes.append(container["livenessProbe"]["exec"]["command"])
    old_ping = ["sh", "-c", "timeout 20 celery -A config inspect ping "
                "--destination celery@$HOSTNAME --timeout 5"]  # fmt: skip
    redis = production.container("redis")
    results: list[tuple[float, list[int | None]]] = []
    docker.pause(redis)  # hung, not gone: connections stay open and get no answer
    paused = time.monotonic()
    try:
        old = exit_status(worker, *old_ping)
        # Past the heartbeat's 60 s limit, and past three failures of the old 30 s probe.
        while time.monotonic() - paused < 95:
            results.append(
                (time.monotonic() - paused, [exit_status(worker, *probe) for probe in probes])
            )
            time.sleep(10)
        health = docker.container.inspect(worker).state.health.status
    finally:
        docker.unpause(redis)
    outage = time.monotonic() - paused
    inspected = docker.container.inspect(worker)
    after = (inspected.state.started_at, inspected.restart_count)
    report(
        f"celery worker with Redis paused {outage:.0f} s: old ping check exit {old}, "
        f"liveness checks {sum(all(s == 0 for s in r) for _, r in results)}/{len(results)} "
        f"passed, health {health}, restarted: {after != before}"
    )
    # The pause was real: the broker-bound check failed.
    assert old != 0
    assert all(status == [0] * len(probes) for _, status in results), results
    assert health == "healthy", health
    assert after == before, (before, after)
    wait_healthy(production, "worker", within=60)


def test_the_clear_sessions_task_deletes_expired_sessions_only(production):
    make = (
        "from datetime import timedelta\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from django.contrib.sessions.models import Session\n"
        "from django.utils import timezone\n"
        "keys = []\n"
        "for age in (-1, 1):\n"
        "    s = SessionStore(); s['probe'] = 1; s.create()\n"
        "    Session.objects.filter(pk=s.session_key).update("
        "expire_date=timezone.now() + timedelta(days=age))\n"
        "    keys.append(s.session_key)\n"
        "print(*keys)\n"
    )
    out = production.django_shell(make)
    expired, live = out.split()[-2:]
    present = (
        "from django.contrib.sessions.models import Session; print(sorted(Session.objects"
        f".filter(pk__in=[{expired!r}, {live!r}]).values_list('pk', flat=True)))"
    )

    def remaining() -> list[str]:
        return json.loads(production.django_shell(present).splitlines()[-1].replace("'", '"'))

    assert remaining() == sorted([expired, live])
    clear = ["celery", "-A", "config", "call", "config.clear_expired_sessions"]
    production.docker.compose.execute("worker", clear, tty=False)
    wait_until(lambda: expired not in remaining(), 30, "the expired session deleted")
    # The live one stays: nobody is logged out early.
    assert remaining() == [live]
