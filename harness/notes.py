"""The generated example app (notes and their summary task), driven in a
running production stack: notes made through the ORM, a logged-in writer,
summaries queued through the proxy, and the worker's JSON log lines."""

from __future__ import annotations

import json
import threading
import time
import uuid

import httpx

from harness.docker import docker
from harness.stack import Stack, admin_session, wait_healthy
from harness.wait import wait_until


def new_note(stack: Stack, words: int = 3) -> int:
    """A note made through the ORM in a throwaway web container; its ID."""
    body = " ".join(["word"] * words)
    code = f"from notes.models import Note; print(Note.objects.create(title='t', body='{body}').pk)"
    return int(stack.django_shell(code, run=True).strip().splitlines()[-1])


def writer(stack: Stack, permitted: bool = True) -> dict[str, str]:
    """Headers that make a request through the proxy come from a logged-in
    staff user, holding notes.add_notesummary when ``permitted``: its
    cookies (session and CSRF), the CSRF token in X-CSRFToken, and a
    same-origin Referer, as a browser's script sends them. The user is made
    in web and logs in through the admin's form, once per stack and kind."""
    # Kept on the stack itself: a stack made again under the same project
    # name has a new database, where an older session does not exist.
    sessions = stack.__dict__.setdefault("writer_sessions", {})
    if permitted in sessions:
        return sessions[permitted]
    username, password = f"writer-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    code = (
        "from django.contrib.auth import get_user_model\n"
        "from django.contrib.auth.models import Permission\n"
        f"user = get_user_model().objects.create_user({username!r}, password={password!r}, "
        "is_staff=True)\n"
    )
    if permitted:
        code += (
            "user.user_permissions.add(Permission.objects.get("
            "content_type__app_label='notes', codename='add_notesummary'))\n"
        )
    stack.django_shell(code)
    sessions[permitted] = admin_session(stack, username, password)
    return sessions[permitted]


def queue(stack: Stack, note: int, work_seconds: float = 0) -> str:
    """POST the note's summary through the proxy as writer(); the queued task's ID."""
    query = f"?work_seconds={work_seconds}" if work_seconds else ""
    response = stack.through_proxy(f"/notes/{note}/summary/{query}", method="POST", **writer(stack))
    assert response.status_code == 202, response.content
    return json.loads(response.content)["task"]


def worker_lines(stack: Stack) -> list[dict]:
    """The worker's JSON log records, oldest first."""
    return [json.loads(line) for line in stack.logs("worker").splitlines() if line.startswith("{")]


def succeeded(stack: Stack, task: str) -> bool:
    """Whether the worker has logged ``task`` (an ID) as succeeded."""
    return any(task in r["message"] and "succeeded" in r["message"] for r in worker_lines(stack))


def stream_summaries(
    stack: Stack,
    notes: list[int],
    headers: dict[str, str],
    accepted: list[tuple[float, int, str]],
    refused: list[tuple[float, str]],
) -> None:
    """POST one summary request per note through the proxy, 0.3 s apart (about
    three a second, bounded by ``notes``): a thread's target while a test
    restarts a store. Appends ``(time, note, task)`` to ``accepted`` for each
    202 and ``(time, reason)`` to ``refused`` for anything else; a transport
    error is counted there, never raised."""
    for note in notes:
        try:
            response = stack.through_proxy(f"/notes/{note}/summary/", method="POST", **headers)
        except httpx.TransportError as error:
            refused.append((time.monotonic(), repr(error)))
        else:
            if response.status_code == 202:
                accepted.append((time.monotonic(), note, json.loads(response.content)["task"]))
            else:
                refused.append((time.monotonic(), f"HTTP {response.status_code}"))
        time.sleep(0.3)


def restart_under_a_task_stream(
    stack: Stack, service: str
) -> tuple[list[tuple[float, int, str]], list[tuple[float, str]], float, float]:
    """Send 20 summary requests (stream_summaries) and restart ``service``
    (db or redis) 1.5 s in, waiting for its healthcheck. Returns, once the
    stream ends, ``(accepted, refused, restart_at, back_at)``: what
    stream_summaries recorded, and the monotonic times of the restart and of
    the service's health again."""
    notes = [new_note(stack) for _ in range(20)]
    accepted: list[tuple[float, int, str]] = []
    refused: list[tuple[float, str]] = []
    # Logged in before the store goes away: sessions live in Postgres.
    headers = writer(stack)
    sender = threading.Thread(
        target=stream_summaries, args=(stack, notes, headers, accepted, refused)
    )
    sender.start()
    time.sleep(1.5)
    restart_at = time.monotonic()
    docker.restart(stack.container(service))
    wait_healthy(stack, service)
    back_at = time.monotonic()
    sender.join(60)
    return accepted, refused, restart_at, back_at


def slow_task_running(stack: Stack, work_seconds: float) -> tuple[int, str]:
    """A new note and the ID of its summary task (taking ``work_seconds``),
    once the worker has logged that it began it."""
    note = new_note(stack)
    task = queue(stack, note, work_seconds=work_seconds)
    wait_until(
        lambda: any(r["message"] == f"summarising note {note}" for r in worker_lines(stack)),
        20,
        "the task started",
    )
    return note, task


def completions(stack: Stack, note: int) -> int:
    """How many times the worker logged finishing ``note``'s summary."""
    return sum(r["message"] == f"summarised note {note}" for r in worker_lines(stack))


def summary(stack: Stack, note: int) -> dict | None:
    """``note``'s summary as the app serves it, or None while there is none."""
    response = stack.through_proxy(f"/notes/{note}/summary/")
    return json.loads(response.content) if response.status_code == 200 else None


def stop_the_worker_mid_task(stack: Stack) -> tuple[int, str, float, int]:
    """``docker stop`` the worker once it has begun a 6 s summary task.
    Returns ``(note, task, seconds the stop took, the worker's exit code)``;
    the worker stays stopped, for the caller to read what it left, then start."""
    note, task = slow_task_running(stack, work_seconds=6)
    worker = stack.container("worker")
    started = time.monotonic()
    docker.stop(worker)
    stopped = time.monotonic() - started
    return note, task, stopped, docker.container.inspect(worker).state.exit_code


def kill_the_worker_mid_task(stack: Stack) -> tuple[int, str, float]:
    """SIGKILL the worker once it has begun a 6 s summary task (no chance to
    finish or hand the task back), then start it again, as its restart policy
    would, and wait until it is healthy. Returns ``(note, task, monotonic time
    of the kill)``."""
    note, task = slow_task_running(stack, work_seconds=6)
    worker = stack.container("worker")
    docker.kill(worker)
    killed = time.monotonic()
    docker.start(worker)
    wait_healthy(stack, "worker", within=120)
    return note, task, killed
