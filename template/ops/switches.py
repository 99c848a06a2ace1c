"""What Django's settings and gunicorn.conf.py must decide alike, read from
the environment once, with django-environ.

gunicorn.conf.py imports this module, not Django's settings (which need a
database URL and a secret key); config/settings.py imports it too, so a
value such as ``DJANGO_METRICS=y`` means the same to both.
"""

import environ

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# One JSON object per line outside DEBUG (for log pipelines), readable text in
# development: the app's lines and gunicorn's own.
LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", default="plain" if DEBUG else "json")
# Prometheus metrics (django-prometheus): requests by view and status,
# database and cache timings. gunicorn serves them on METRICS_PORT.
METRICS = env.bool("DJANGO_METRICS", default=True)
# The reverse proxy's addresses, comma-separated: gunicorn trusts their
# X-Forwarded-Proto and ops.forwarded_for their X-Forwarded-For; none by default.
FORWARDED_ALLOW_IPS = env.str("FORWARDED_ALLOW_IPS", default="")
