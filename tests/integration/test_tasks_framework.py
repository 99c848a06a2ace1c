"""Background work with Django's Tasks framework (the django_tasks answer,
django-tasks-db) in the production stack of a render of its own: the
defaults plus django_tasks, so Django 5.2 and the django-tasks backport.
Its development stack passes the service's own tests (tests/test_tasks.py
among them). The Celery fault tests (test_celery.py), as far as the library allows: a
task enqueued through the example view runs once in the worker; `docker
stop` mid-task lets it finish, once; SIGKILL mid-task leaves it RUNNING for
good and no worker runs it again (the README says so: this pins it); a
Postgres restart under a stream of tasks loses none enqueued before or
after it and restarts no worker; pruning keeps what is not finished.
There are no periodic tasks to test: the framework has no scheduler.

Tasks are followed by their rows (django_tasks_db's DBTaskResult, read in
web) and by the worker's log lines: the example task logs "summarised note
N" once per note it summarises."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness import notes
from harness.docker import compose_client, docker, healthy, unique
from harness.proc import run
from harness.render import render
from harness.report import report
from harness.stack import Stack, start, stop, wait_healthy
from harness.wait import wait_until

ANSWERS = {"django_tasks": True}


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Path:
    """The django_tasks render, made as a user makes one (copy task included)."""
    return render(tmp_path_factory.mktemp("tasks") / "service", ANSWERS, tasks=True)


@pytest.fixture(scope="module")
def production(service, build_env):
    """The render's production stack, up for this module."""
    stack = start("tasks", service, build_env, {"NOTES_SLOW_WORK_ALLOWED": "true"})
    try:
        yield stack
    finally:
        stop(stack)


def test_the_development_stack_runs_the_worker_and_passes_its_own_tests(service, build_env):
    # `make up` as the generated README says; down again before the production stack starts.
    env = dict(build_env, COMPOSE_PROJECT_NAME=unique("dev-tasks"), WEB_PORT="0")
    try:
        run(["make", "up"], cwd=service, env=env, timeout=1800)
        client = compose_client(service, env)
        (worker,) = client.compose.ps(["worker"])
        assert healthy(worker.id)
        proc = run(["make", "test", "args=-q -rA -p no:cacheprovider"], cwd=service, env=env)
        summary = proc.stdout.strip().splitlines()[-1]  # -rA names tests saying "failed"
        assert " passed" in summary and "failed" not in summary and "error" not in summary
        # -rA lists each passed test: the Tasks-framework ones ran.
        assert "PASSED tests/test_tasks.py::test_the_view_queues_the_summary" in proc.stdout
    finally:
        # Its images too: three per run, of this render only.
        compose_client(service, env).compose.down(volumes=True, remove_images="local")


def statuses(stack: Stack, *tasks: str) -> dict[str, str]:
    """Each task's status (READY, RUNNING, SUCCESSFUL, FAILED), as its row says."""
    code = (
        "import json; from django_tasks_db.models import DBTaskResult; print(json.dumps({"
        "str(pk): status for pk, status in DBTaskResult.objects"
        f".filter(pk__in={list(tasks)!r}).values_list('pk', 'status')}}))"
    )
    return json.loads(stack.django_shell(code).strip().splitlines()[-1])


def status(stack: Stack, task: str) -> str:
    return statuses(stack, task)[task]


def test_a_task_enqueued_by_the_view_runs_once_and_its_effect_shows(production):
    note = notes.new_note(production, words=4)
    task = notes.queue(production, note)
    assert wait_until(lambda: notes.summary(production, note), 30, "the summary") == {"words": 4}
    assert wait_until(lambda: status(production, task) == "SUCCESSFUL", 10, f"task {task} done")
    assert notes.completions(production, note) == 1


def test_docker_stop_lets_the_running_task_finish_once(production):
    note, task, stopped, exit_code = notes.stop_the_worker_mid_task(production)
    worker = production.container("worker")
    finished = status(production, task)
    done = notes.completions(production, note)
    # The same container again (compose might make a new one, and its logs would be new).
    docker.start(worker)
    wait_healthy(production, "worker", within=120)
    report(
        f"tasks worker docker stop mid-task: stopped in {stopped:.1f} s (task had ~6 s left), "
        f"exit {exit_code}, task {finished} before exit, completed {done} time(s)"
    )
    assert exit_code == 0 and finished == "SUCCESSFUL"
    assert notes.summary(production, note) == {"words": 3}
    assert done == 1


def test_a_killed_workers_task_stays_running_and_never_runs_again(production):
    # What the README documents: the framework has no redelivery, unlike Celery.
    note, task, killed = notes.kill_the_worker_mid_task(production)
    # Well past the task's 6 s and the worker's 1 s poll, the row is still claimed.
    later = notes.new_note(production)
    after = notes.queue(production, later)
    wait_until(lambda: status(production, after) == "SUCCESSFUL", 30, "a task after the kill")
    time.sleep(max(0.0, 15 - (time.monotonic() - killed)))
    stuck = status(production, task)
    report(
        f"tasks worker killed mid-task: {time.monotonic() - killed:.0f} s later the task is "
        f"{stuck}, completed {notes.completions(production, note)} time(s); a new worker ran "
        "a later task; Celery would have delivered it again"
    )
    assert stuck == "RUNNING"
    assert notes.completions(production, note) == 0 and notes.summary(production, note) is None
    # The README's way back: enqueue the (idempotent) work again.
    again = notes.queue(production, note)
    wait_until(lambda: status(production, again) == "SUCCESSFUL", 30, "the task enqueued again")
    assert (
        notes.summary(production, note) == {"words": 3} and notes.completions(production, note) == 1
    )
    assert status(production, task) == "RUNNING"


def test_postgres_restarted_under_a_stream_of_tasks_loses_none_enqueued_before_or_after(
    production,
):
    worker = production.container("worker")
    worker_started = docker.container.inspect(worker).state.started_at
    accepted, refused, restart_at, back_at = notes.restart_under_a_task_stream(production, "db")
    before = [(note, task) for at, note, task in accepted if at < restart_at]
    after = [(note, task) for at, note, task in accepted if at > back_at]
    assert len(after) >= 5, f"{len(after)} tasks accepted after Postgres was back; {refused}"
    assert before, "no task was accepted before the restart"
    tasks = [task for _, task in before + after]
    try:
        wait_until(
            lambda: set(statuses(production, *tasks).values()) == {"SUCCESSFUL"},
            60,
            "every task enqueued before or after done",
        )
    except AssertionError:
        # Which did not finish: the measurement, kept in the failure.
        found = statuses(production, *tasks)
        raise AssertionError(f"{found}\n{production.logs('worker')[-4000:]}") from None
    # Accepted while Postgres went down or came back: measured, not required.
    during = [task for at, _, task in accepted if restart_at <= at <= back_at]
    during_statuses = sorted(statuses(production, *during).values()) if during else []
    twice = [note for note, _ in before + after if notes.completions(production, note) != 1]
    restarted = docker.container.inspect(worker).state.started_at != worker_started
    report(
        f"tasks framework with Postgres restarted under a task stream: {len(before)} enqueued "
        f"before, {len(during)} during ({during_statuses}), {len(refused)} refused during the "
        f"{back_at - restart_at:.1f} s restart, {len(after)} after; every one before and after "
        f"ran, {len(twice)} not exactly once; worker restarted: {restarted}"
    )
    assert twice == []
    assert not restarted, "\n".join(production.logs("worker").splitlines()[-40:])


def test_pruning_deletes_old_finished_results_and_keeps_the_rest(production):
    finished, claimed = notes.new_note(production), notes.new_note(production)
    old, stuck = notes.queue(production, finished), notes.queue(production, claimed)
    wait_until(
        lambda: set(statuses(production, old, stuck).values()) == {"SUCCESSFUL"}, 30, "both done"
    )
    # One finished 15 days ago; one as a killed worker leaves it, claimed 15 days ago.
    age = (
        "from datetime import timedelta; from django.utils import timezone; "
        "from django_tasks_db.models import DBTaskResult; "
        "then = timezone.now() - timedelta(days=15); "
        f"DBTaskResult.objects.filter(pk={old!r}).update(finished_at=then); "
        f"DBTaskResult.objects.filter(pk={stuck!r}).update("
        "status='RUNNING', started_at=then, finished_at=None)"
    )
    production.django_shell(age)
    # The command migrate runs (and, with the manifests, the daily CronJob).
    production.docker.compose.execute(
        "web", ["python", "manage.py", "prune_db_task_results"], tty=False
    )
    # A RUNNING row is never finished, so never pruned: it waits for someone to look.
    assert statuses(production, old, stuck) == {stuck: "RUNNING"}
