"""Django's own Redis cache, counted and timed for Prometheus.

django-prometheus counts cache reads for django-redis only; this does the
same for Django's built-in backend (same metric names, backend="redis") and
times every read and write.
"""

import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from django_prometheus.cache.metrics import (
    django_cache_get_fail_total,
    django_cache_get_total,
    django_cache_hits_total,
    django_cache_misses_total,
)
from prometheus_client import Histogram

OPERATION_SECONDS = Histogram(
    "django_cache_operation_duration_seconds",
    "Time spent in cache operations",
    ["backend", "operation"],
)
_MISSING = object()


class MeteredRedisCache(RedisCache):
    """RedisCache whose reads are counted (hits, misses, failures) and whose
    reads and writes are timed."""

    def get(self, key, default=None, version=None):
        django_cache_get_total.labels(backend="redis").inc()
        started = time.perf_counter()
        try:
            value = super().get(key, _MISSING, version)
        except Exception:
            django_cache_get_fail_total.labels(backend="redis").inc()
            raise
        finally:
            OPERATION_SECONDS.labels("redis", "get").observe(time.perf_counter() - started)
        if value is _MISSING:
            django_cache_misses_total.labels(backend="redis").inc()
            return default
        django_cache_hits_total.labels(backend="redis").inc()
        return value

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        started = time.perf_counter()
        try:
            return super().set(key, value, timeout, version)
        finally:
            OPERATION_SECONDS.labels("redis", "set").observe(time.perf_counter() - started)
