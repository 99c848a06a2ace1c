"""django-prometheus's request middleware, keeping the metric families an
operator reads and not the ones that repeat them.

Every family the middleware updates costs each request a label lookup and a
write to the worker's multiprocess file. Out of the box it updates twelve per
request; most repeat another (requests by method, by transport; responses by
status alone, before the middlewares) or describe what a JSON service
rarely asks (body-size histograms, charset, AJAX and streaming counts).
Through django-prometheus's own extension point (``metrics_cls`` and
``Metrics.register_metric``) this keeps four per request: requests counted
before the middlewares, their latency, and latency and responses by view,
method and status, plus the families updated only on an exception or a
template response. benchmarks/observability.py measures what that saves.
"""

from django_prometheus import middleware

# The families kept, by the names django-prometheus registers them under.
KEPT = frozenset(
    {
        # Updated on every request.
        "django_http_requests_before_middlewares_total",
        "django_http_requests_latency_including_middlewares_seconds",
        "django_http_requests_latency_seconds_by_view_method",
        "django_http_responses_total_by_status_view_method",
        # Updated only on an exception, a template response or an unknown latency.
        "django_http_exceptions_total_by_type",
        "django_http_exceptions_total_by_view",
        "django_http_responses_total_by_templatename",
        "django_http_requests_unknown_latency_total",
        "django_http_requests_unknown_latency_including_middlewares_total",
    }
)


class Unexported:
    """Stands in for a family not kept: takes every update, records nothing.

    ``labels`` returns the same object; ``inc`` and ``observe`` return None.
    """

    def labels(self, *args, **kwargs) -> "Unexported":
        return self

    def inc(self, amount: float = 1) -> None:
        return None

    def observe(self, amount: float) -> None:
        return None


UNEXPORTED = Unexported()


class Metrics(middleware.Metrics):
    """django-prometheus's request metrics, registering only the KEPT families.

    ``register_metric`` returns the registered metric for a kept name and
    UNEXPORTED for any other, so nothing is registered or written for those.
    """

    def register_metric(self, metric_cls, name, documentation, labelnames=(), **kwargs):
        if name not in KEPT:
            return UNEXPORTED
        return super().register_metric(metric_cls, name, documentation, labelnames, **kwargs)


class PrometheusBeforeMiddleware(middleware.PrometheusBeforeMiddleware):
    """django-prometheus's first middleware, with the KEPT families only."""

    metrics_cls = Metrics


class PrometheusAfterMiddleware(middleware.PrometheusAfterMiddleware):
    """django-prometheus's last middleware, with the KEPT families only."""

    metrics_cls = Metrics
