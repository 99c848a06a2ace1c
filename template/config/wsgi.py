"""WSGI entry point: gunicorn serves ``config.wsgi:application``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.service_settings")

application = get_wsgi_application()
