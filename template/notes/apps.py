"""App configuration of the example ``notes`` app."""

from django.apps import AppConfig


class NotesConfig(AppConfig):
    """Registers the ``notes`` app with Django."""

    name = "notes"
