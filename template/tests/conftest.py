"""Fixtures every test of the service gets."""

import pytest

from ops import probes


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    """Static files under their plain names: the tests run without
    collectstatic, so the manifest that production's strict storage reads
    (WHITENOISE_MANIFEST_STRICT, on without DEBUG) does not exist."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def close_probe_connection():
    """Close /readyz's own database connection after each test: left open, it
    would keep pytest-django from dropping the test database."""
    yield
    probes.close_probe_connection()
