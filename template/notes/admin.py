"""Admin registration of the example ``notes`` app."""

from django.contrib import admin

from notes.models import Note


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    """Lists notes by title and creation time."""

    list_display = ["title", "created_at"]
    search_fields = ["title", "body"]
