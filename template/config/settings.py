"""The template's Django settings, read from the environment with django-environ.

Every value that differs between machines comes from an environment variable;
nothing secret lives in this file. Required: DATABASE_URL, REDIS_URL, and
DJANGO_SECRET_KEY unless DJANGO_DEBUG is true. `copier update` maintains this
file; put your own settings in config/service_settings.py, which imports it.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# --- Core -------------------------------------------------------------------

DEBUG = env.bool("DJANGO_DEBUG", default=False)

if DEBUG:
    # Only for a developer's machine: anyone who knows this key can forge sessions.
    SECRET_KEY = env.str(
        "DJANGO_SECRET_KEY",
        default="django-insecure-development-only-key-never-use-in-production",
    )
else:
    # No default: django-environ raises ImproperlyConfigured naming the variable.
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "notes",
]

MIDDLEWARE = [
    # First: probes answer before host validation and the HTTPS redirect.
    "config.health.ProbeMiddleware",
    # The client's address from X-Forwarded-For, when the proxy sent it.
    "config.proxy.ForwardedForMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database (PostgreSQL) --------------------------------------------------

# DATABASE_URL looks like postgres://USER:PASSWORD@HOST:5432/NAME
DATABASES = {"default": env.db("DATABASE_URL")}
# Keep connections open between requests (seconds); 0 closes them after each request.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
# Test a kept connection before reusing it, so a restarted Postgres costs no failed request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# No dependency may hang a worker: every wait on Postgres has a bound.
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options.update(
    {
        # Give up connecting after this many seconds, not the OS default (minutes).
        "connect_timeout": env.int("DATABASE_CONNECT_TIMEOUT", default=5),
        # Probe idle connections, so a vanished server is noticed within a minute.
        "keepalives": 1,
        "keepalives_idle": env.int("DATABASE_KEEPALIVES_IDLE", default=30),
        "keepalives_interval": 10,
        "keepalives_count": 3,
        # Drop a connection whose sent data stays unacknowledged this long (ms).
        "tcp_user_timeout": env.int("DATABASE_TCP_USER_TIMEOUT_MS", default=10_000),
    }
)
# The server cancels any statement running longer than this (ms; 0 = never).
_statement_timeout = env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=30_000)
_db_options["options"] = (
    f"{_db_options.get('options', '')} -c statement_timeout={_statement_timeout}".strip()
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (Redis) ----------------------------------------------------------

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # REDIS_URL looks like redis://HOST:6379/0
        "LOCATION": env.str("REDIS_URL"),
        # Passed to redis-py's connection pool: a hung Redis costs ~1 s, not ~5 s.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

# --- Probes -----------------------------------------------------------------

# Each /readyz check gives up after this many seconds and reports its dependency down.
READINESS_TIMEOUT = env.float("DJANGO_READINESS_TIMEOUT", default=2.0)

# --- Passwords, language, time ----------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (served by WhiteNoise) ------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# A file missing from the manifest (no collectstatic yet, in tests or development)
# falls back to its plain name instead of raising.
WHITENOISE_MANIFEST_STRICT = False

# --- Security (strict unless DEBUG; each switch can be overridden) ----------

# HTTPS is known from gunicorn's wsgi.url_scheme, which it takes from
# X-Forwarded-Proto only when the proxy's address is in FORWARDED_ALLOW_IPS;
# Django never reads that header itself, so no client can claim HTTPS.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
# HSTS: browsers refuse plain HTTP to this host for this many seconds. On by
# default outside DEBUG; lower it while you first move a host to HTTPS.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
# Covers only this host's own subdomains (x.api.example.com), not its siblings.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
# Preloading is a promise for the whole registrable domain, made on its own
# apex: opt in with DJANGO_SECURE_HSTS_PRELOAD, not by default.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Logging ----------------------------------------------------------------

LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO").upper()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "{asctime} {levelname} {name}: {message}", "style": "{"},
    },
    "handlers": {
        # StreamHandler writes to stderr.
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Drop Django's own console/mail handlers; records reach the root handler once.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
    },
}
