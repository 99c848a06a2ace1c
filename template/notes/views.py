"""JSON views of the example ``notes`` app."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from notes.models import Note

LATEST_COUNT = 20


@require_safe
def note_list(request: HttpRequest) -> JsonResponse:
    """List the latest notes, newest first.

    Takes: a GET or HEAD request. Returns: 200 with ``{"notes": [{"id",
    "title", "body", "created_at"}, ...]}`` holding at most LATEST_COUNT notes,
    ``created_at`` in ISO 8601. Raises: ``django.db.Error`` when the database
    cannot be queried (Django turns it into a 500).
    """
    notes = Note.objects.values("id", "title", "body", "created_at")[:LATEST_COUNT]
    return JsonResponse({"notes": list(notes)})
