"""The example app is safe to leave deployed, on the integration variants
that answer celery: through the proxy, a summary POST from nobody logged in,
from a user without notes.add_notesummary, without the CSRF token, or with a
query parameter the view cannot read is refused, and none queues a task.

"No task queued" is checked on a note that already has its summary, so beat
leaves it alone: every task delivered for it logs "note N was already
summarised" in the worker. After the refused requests, one accepted POST is
the control: once its task has succeeded, the worker must have logged
exactly one delivery for the note, so any task queued before it would show.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.parse

import pytest

from harness.notes import succeeded, worker_lines, writer
from harness.questions import integration_variants
from harness.report import report
from harness.stack import Stack
from harness.wait import wait_until

NAMES = [name for name, answers in integration_variants().items() if answers.get("celery")]
pytestmark = pytest.mark.parametrize("variant", NAMES, indirect=True)

# Query strings the view must refuse, and the parameter its 400 must name.
BAD_QUERIES = [
    *(
        (f"work_seconds={urllib.parse.quote(value)}", "work_seconds")
        for value in [
            "nan", "NaN", "inf", "-inf", "Infinity", "-1", "-0.5", "abc", "1e309", "1e3", "",
            "31", "9" * 400, "0x10", "1_0", "+1", " 5", "\u0663",  # an Arabic-Indic three
        ]
    ),
    ("work_seconds=1&work_seconds=2", "work_seconds"),
    ("work_second=1", "work_second"),
    ("worker=celery@evil", "worker"),
]  # fmt: skip
FLOOD = 50


def summarised_note(stack: Stack) -> int:
    """A note made with its summary already in place, through the ORM in
    web; its ID. Beat queues nothing for it."""
    code = (
        "from notes.models import Note, NoteSummary\n"
        "note = Note.objects.create(title='t', body='one two')\n"
        "NoteSummary.objects.create(note=note, words=2)\n"
        "print(note.pk)\n"
    )
    return int(stack.django_shell(code).strip().splitlines()[-1])


def deliveries(stack: Stack, note: int) -> int:
    """How many of the example task's deliveries for ``note`` the worker logged."""
    said = {f"summarising note {note}", f"note {note} was already summarised"}
    return sum(record["message"] in said for record in worker_lines(stack))


def assert_nothing_was_queued(stack: Stack, note: int, before: int) -> None:
    """POST one accepted summary of ``note`` as the control; raise
    ``AssertionError`` unless the worker delivered that task alone since
    ``before`` deliveries were counted."""
    response = stack.through_proxy(f"/notes/{note}/summary/", method="POST", **writer(stack))
    assert response.status_code == 202, response.content
    task = json.loads(response.content)["task"]
    wait_until(lambda: succeeded(stack, task), 30, f"the control task {task}")
    assert deliveries(stack, note) == before + 1, "a refused request queued a task"


def post(stack: Stack, note: int, query: str = "", **headers: str) -> tuple[int, dict | str]:
    """POST ``note``'s summary through the proxy; the status and the body
    (parsed when it is JSON, Django's CSRF page is not)."""
    response = stack.through_proxy(f"/notes/{note}/summary/{query}", method="POST", **headers)
    body = response.content.decode(errors="replace")
    if response.headers.get("Content-Type", "").startswith("application/json"):
        return response.status_code, json.loads(body)
    return response.status_code, body


def test_nobody_logged_in_is_refused_and_queues_nothing(production):
    note = summarised_note(production)
    before = deliveries(production, note)
    session = writer(production)
    # The CSRF cookie and token without the session: what the view itself must refuse.
    anonymous = {
        "Cookie": "csrftoken=" + session["X-CSRFToken"],
        "X-CSRFToken": session["X-CSRFToken"],
        "Referer": session["Referer"],
    }

    bare_status, _ = post(production, note)
    status, body = post(production, note, **anonymous)

    assert bare_status == 403
    assert status == 403 and "log in" in body["error"], body
    assert_nothing_was_queued(production, note, before)


def test_a_user_without_the_permission_is_refused_and_queues_nothing(production):
    note = summarised_note(production)
    before = deliveries(production, note)

    status, body = post(production, note, **writer(production, permitted=False))

    assert status == 403 and "notes.add_notesummary" in body["error"], body
    assert_nothing_was_queued(production, note, before)


def test_a_session_post_without_the_csrf_token_is_refused(production):
    note = summarised_note(production)
    before = deliveries(production, note)
    session = writer(production)

    status, body = post(production, note, Cookie=session["Cookie"], Referer=session["Referer"])

    assert status == 403 and "CSRF" in body, body
    assert_nothing_was_queued(production, note, before)


def test_a_flood_of_bad_parameters_is_refused_naming_each_and_queues_nothing(production):
    note = summarised_note(production)
    before = deliveries(production, note)
    headers = writer(production)
    # One connection for the whole flood, as a script hammering the endpoint would use.
    wrong = []
    started = time.monotonic()
    with production.proxy_client() as client:
        for query, named in itertools.islice(itertools.cycle(BAD_QUERIES), FLOOD):
            response = client.post(f"/notes/{note}/summary/?{query}", headers=headers)
            body = response.content
            try:
                parameter = json.loads(body).get("parameter")
            except ValueError:
                parameter = None
            if response.status_code != 400 or parameter != named:
                wrong.append((query[:40], response.status_code, body[:200]))
    elapsed = time.monotonic() - started

    assert not wrong, wrong
    assert_nothing_was_queued(production, note, before)
    report(
        f"example app: {FLOOD} summary POSTs with bad parameters through the proxy, "
        f"each 400 naming its parameter, in {elapsed:.1f} s; no task queued"
    )
