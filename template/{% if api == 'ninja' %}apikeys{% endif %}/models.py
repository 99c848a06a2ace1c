"""API keys for machine clients of the HTTP API (header X-API-Key).

Only a key's SHA-256 digest is stored: a key is 32 random bytes, so a fast
hash is enough (nothing to guess), and a database dump reveals no usable key.
The key itself is shown once, by ``manage.py api_key create NAME``.
"""

import hashlib
import secrets

from django.db import models

# Shown before the random part, so a leaked key is recognisable (secret scanners, logs).
PREFIX = "sk_"


def digest(key: str) -> str:
    """The hex SHA-256 of a key, as stored and looked up."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyManager(models.Manager):
    def issue(self, name: str) -> tuple["ApiKey", str]:
        """Make a key called ``name``, replacing any key of that name.

        Returns the stored row and the key itself, which is stored nowhere.
        """
        key = PREFIX + secrets.token_urlsafe(32)
        self.filter(name=name).delete()
        return self.create(name=name, digest=digest(key), hint=key[: len(PREFIX) + 4]), key

    def holder(self, key: str) -> "ApiKey | None":
        """The key row matching ``key``, or None for an unknown key."""
        return self.filter(digest=digest(key)).first()


class ApiKey(models.Model):
    """A machine client's key: who holds it (name), its digest, and the first
    characters of the key (hint), so a person can tell keys apart."""

    name = models.CharField(max_length=100, unique=True)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ApiKeyManager()

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        """Return the key's name and hint, as shown in the admin."""
        return f"{self.name} ({self.hint}…)"
