"""The generated example app (notes and their summary task), driven in a
running production stack: notes made through the ORM, a logged-in writer,
summaries queued through the proxy, and the worker's JSON log lines."""

from __future__ import annotations

import json
import uuid

from harness.stack import Stack, admin_session


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
