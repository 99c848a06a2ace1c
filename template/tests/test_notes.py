"""Tests of the example notes app: model, JSON view and migrations."""

from io import StringIO

import pytest
from django.core.management import call_command

from notes.models import Note


@pytest.mark.django_db
def test_note_is_saved_and_read_back():
    note = Note.objects.create(title="First", body="Hello")

    saved = Note.objects.get(pk=note.pk)

    assert saved.title == "First"
    assert saved.body == "Hello"
    assert saved.created_at is not None
    assert str(saved) == "First"


@pytest.mark.django_db
def test_notes_view_lists_notes_as_json(client):
    note = Note.objects.create(title="First", body="Hello")

    # secure=True: with DEBUG off the app redirects plain HTTP to HTTPS.
    response = client.get("/notes/", secure=True)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    notes = response.json()["notes"]
    assert [(n["id"], n["title"], n["body"]) for n in notes] == [(note.pk, "First", "Hello")]


@pytest.mark.django_db
def test_notes_view_lists_at_most_20(client):
    Note.objects.bulk_create(Note(title=f"Note {i}") for i in range(21))

    response = client.get("/notes/", secure=True)

    assert len(response.json()["notes"]) == 20


@pytest.mark.django_db
def test_no_missing_migrations():
    out = StringIO()

    # Exits with SystemExit(1) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db
def test_notes_view_refuses_writes(client):
    response = client.post("/notes/", {"title": "Sneaky"}, secure=True)

    assert response.status_code == 405
    assert not Note.objects.exists()
