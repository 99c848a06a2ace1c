"""Gunicorn settings. gunicorn reads ``gunicorn.conf.py`` from its working
directory (/app) by default, so a bare ``gunicorn`` serves config.wsgi.

Each value is read when gunicorn starts; the environment variables below
override the defaults without rebuilding the image.
"""

import os
import shutil

# The app to serve, so the command line needs no arguments.
wsgi_app = "config.wsgi:application"
# All interfaces: in a container, the published port only reaches 0.0.0.0.
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"  # noqa: S104
# Worker processes; size to the CPUs the container gets (e.g. 2 x cores + 1).
workers = int(os.environ.get("WEB_CONCURRENCY", 2))
# Threads: a request stuck on a hung database holds one thread, not the
# worker, so /healthz keeps answering on the others.
worker_class = "gthread"
# Threads per worker; each may hold a database connection (DJANGO_CONN_MAX_AGE).
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# Access log to stdout, so the container runtime collects it.
accesslog = "-"
# Error log to stderr, likewise.
errorlog = "-"
# Worker heartbeat files in memory: a disk-backed /tmp can stall workers.
# gunicorn makes them with mkstemp, so a shared directory is safe here.
worker_tmp_dir = "/dev/shm"  # noqa: S108
# Time in-flight requests get after SIGTERM: under docker stop's 10 s SIGKILL.
graceful_timeout = 8
# A worker silent this long (seconds) is killed and replaced.
timeout = 30
# Seconds an idle kept-alive connection stays open. It must outlast the
# proxy's own idle timeout for connections to us (Caddy's reverse_proxy: 2 min;
# ingress-nginx and AWS ALB: 60 s), or gunicorn closes one the proxy is
# reusing and that request gets a 502. Over 600 s behind Google's load balancers.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 125))
# X-Forwarded-* are trusted only from these addresses (the reverse proxy's,
# comma-separated); none by default, so a client that reaches the app
# directly cannot claim HTTPS or another path prefix.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "")
# The one header the proxy sets that gunicorn acts on: the original scheme.
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
# No proxy here rewrites SCRIPT_NAME or PATH_INFO: honour neither, from anyone.
forwarder_headers = ""
# No runtime control socket (gunicorn 25.1+; older ones ignore this): it would need a writable home.
control_socket_disable = True

# --- Logs and metrics -------------------------------------------------------

# JSON lines, like the app's logs: the same default (plain under DJANGO_DEBUG,
# read as django-environ reads it) and the same DJANGO_LOG_FORMAT override.
DEBUG = os.environ.get("DJANGO_DEBUG", "").lower() in {"true", "on", "ok", "y", "yes", "1"}
if os.environ.get("DJANGO_LOG_FORMAT", "plain" if DEBUG else "json") == "json":
    logger_class = "config.gunicorn_logging.JsonLogger"

# Prometheus metrics, on unless DJANGO_METRICS=false. Each worker writes its
# samples to files in this folder; the master serves their sum on
# METRICS_PORT, a port the proxy never forwards to.
METRICS = os.environ.get("DJANGO_METRICS", "true").lower() in {"1", "true", "yes", "on"}
METRICS_PORT = int(os.environ.get("METRICS_PORT", 8001))
METRICS_DIR = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", "/tmp/prometheus")  # noqa: S108


def on_starting(server):
    """Start from an empty metrics folder: a previous run's files would count twice."""
    shutil.rmtree(METRICS_DIR, ignore_errors=True)
    os.makedirs(METRICS_DIR)


def when_ready(server):
    """Serve every worker's metrics, summed, from the master on METRICS_PORT."""
    if METRICS:
        from prometheus_client import CollectorRegistry, multiprocess, start_http_server

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        start_http_server(METRICS_PORT, registry=registry)


def child_exit(server, worker):
    """Drop a finished worker's live gauges; its counters still count."""
    if METRICS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
