"""ASGI entry point (``config.asgi:application``) for an ASGI server, if one is ever used."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.service_settings")

application = get_asgi_application()
