"""Gunicorn settings. gunicorn reads ``gunicorn.conf.py`` from its working
directory (/app) by default, so a bare ``gunicorn`` serves config.wsgi.

Each value is read when gunicorn starts; the environment variables below
override the defaults without rebuilding the image. They are parsed by
django-environ, as Django's settings are; what both decide alike (debug, log
format, metrics, trusted proxies) comes from ops.switches, which settings
import too.
"""

import os
import shutil

from ops.switches import FORWARDED_ALLOW_IPS, LOG_FORMAT, METRICS, env

# The app to serve, so the command line needs no arguments.
wsgi_app = "config.wsgi:application"
# All interfaces: in a container, the published port only reaches 0.0.0.0.
bind = f"0.0.0.0:{env.int('PORT', default=8000)}"  # noqa: S104
# Worker processes; size to the CPUs the container gets (e.g. 2 x cores + 1).
workers = env.int("WEB_CONCURRENCY", default=2)
# Threads: a request stuck on a hung database holds one thread, not the
# worker, so /healthz keeps answering on the others.
worker_class = "gthread"
# Threads per worker; each may hold a database connection (DJANGO_CONN_MAX_AGE).
threads = env.int("GUNICORN_THREADS", default=4)
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
keepalive = env.int("GUNICORN_KEEPALIVE", default=125)
# X-Forwarded-* are trusted only from these addresses (the reverse proxy's,
# comma-separated); none by default, so a client that reaches the app
# directly cannot claim HTTPS or another path prefix.
forwarded_allow_ips = FORWARDED_ALLOW_IPS
# The one header the proxy sets that gunicorn acts on: the original scheme.
secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
# No proxy here rewrites SCRIPT_NAME or PATH_INFO: honour neither, from anyone.
forwarder_headers = ""
# No runtime control socket (gunicorn 25.1+; older ones ignore this): it would need a writable home.
control_socket_disable = True

# --- Logs and metrics -------------------------------------------------------

# JSON lines when the app's are (LOG_FORMAT).
if LOG_FORMAT == "json":
    logger_class = "ops.gunicorn_logger.JsonLogger"

# Prometheus metrics, on unless DJANGO_METRICS is false. Each worker writes its
# samples to files in this folder; the master serves their sum on
# METRICS_PORT, a port the proxy never forwards to.
METRICS_PORT = env.int("METRICS_PORT", default=8001)
# Set, not only read: prometheus_client finds the folder through it in each worker.
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
