"""gunicorn's own log lines as JSON objects, one per line, like the app's.

gunicorn.conf.py names JsonLogger as gunicorn's logger class when the log
format is JSON (the default outside DEBUG). Its access log line carries the
fields an operator searches by: method, path, status, duration, client,
request ID (set by ops.request_id). Successful probes are not logged:
they would drown the rest (failed ones are).
"""

from gunicorn import glogging

from ops import probes
from ops.logs import json_formatter
from ops.request_id import ENVIRON_KEY


class JsonLogger(glogging.Logger):
    """gunicorn's logger, writing JSON: its handlers get the JSON formatter,
    and each access becomes one record with structured fields."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(json_formatter())

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        path = environ.get("PATH_INFO", "")
        status = resp.status_code
        if path in probes.VIEWS and status < 400:
            return
        query = environ.get("QUERY_STRING")
        self.access_log.info(
            "%s %s %s",
            req.method,
            path,
            status,
            extra={
                "method": req.method,
                "path": f"{path}?{query}" if query else path,
                "status": status,
                "duration_ms": round(request_time.total_seconds() * 1000, 2),
                "bytes": getattr(resp, "sent", None),
                "client": environ.get("REMOTE_ADDR"),
                "user_agent": environ.get("HTTP_USER_AGENT"),
                "request_id": environ.get(ENVIRON_KEY),
            },
        )
