"""How the service's log records are written: the one JSON format (the app's
lines and gunicorn's), and a filter that keeps a repeated record to one per
interval (an ignored cache error on every request while Redis is down).
"""

import logging
import threading
import time

from pythonjsonlogger.json import JsonFormatter


def json_formatter(fields: tuple[str, ...] = ()) -> JsonFormatter:
    """A formatter writing each record as one JSON object: timestamp, level,
    logger, message, process, then the record attributes ``fields`` names
    (LOGGING adds ``request_id``). Extra attributes a call passes are added too.
    """
    return JsonFormatter(
        "{levelname}{name}{message}{process}" + "".join("{" + f + "}" for f in fields),
        style="{",
        timestamp=True,
        rename_fields={"levelname": "level", "name": "logger"},
    )


class RateLimitFilter(logging.Filter):
    """Let one record per logger through every ``seconds`` (per process),
    dropping the rest; the next one let through says in ``suppressed`` how
    many were dropped since the last.

    Takes ``seconds`` (default 60). Returns, per record, whether to emit it.
    On a logger (not a handler), so dropped records reach no handler at all,
    Sentry's included.
    """

    def __init__(self, seconds: float = 60.0) -> None:
        super().__init__()
        self.seconds = seconds
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}
        self._dropped: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        with self._lock:
            if now < self._next.get(record.name, 0.0):
                self._dropped[record.name] = self._dropped.get(record.name, 0) + 1
                return False
            self._next[record.name] = now + self.seconds
            record.suppressed = self._dropped.pop(record.name, 0)
        return True
