"""The Redis cache: django-redis, counted and timed for Prometheus.

django-redis rather than Django's built-in RedisCache for one reason: its
IGNORE_EXCEPTIONS option (settings.CACHES), which turns every cache error
into a miss (reads) or a no-op (writes), so a Redis outage slows pages by
the 1 s socket timeout instead of failing them. django-prometheus's backend
for it counts reads, hits, misses and failures; this adds the time of every
read and write (django_cache_operation_duration_seconds).
"""

import time

from django_prometheus.cache.backends.redis import RedisCache
from prometheus_client import Histogram

OPERATION_SECONDS = Histogram(
    "django_cache_operation_duration_seconds",
    "Time spent in cache operations",
    ["backend", "operation"],
)


class MeteredRedisCache(RedisCache):
    """django-redis's cache with django-prometheus's read counters (hits,
    misses, failures) and the time of every read and write.

    Takes what Django's cache backends take (LOCATION, OPTIONS). Its get and
    set return what django-redis's do; with IGNORE_EXCEPTIONS they raise
    nothing when Redis fails (get returns ``default``, set returns None).
    """

    def get(self, key, default=None, version=None, client=None):
        started = time.perf_counter()
        try:
            return super().get(key, default=default, version=version, client=client)
        finally:
            OPERATION_SECONDS.labels("redis", "get").observe(time.perf_counter() - started)

    def set(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return super().set(*args, **kwargs)
        finally:
            OPERATION_SECONDS.labels("redis", "set").observe(time.perf_counter() - started)
