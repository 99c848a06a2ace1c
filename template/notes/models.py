"""Models of the example ``notes`` app."""

from django.db import models


class Note(models.Model):
    """A short titled text, newest first."""

    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        """Return the note's title, as shown in the admin."""
        return self.title
