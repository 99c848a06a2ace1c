"""How the service's log records are written: the one JSON format (the app's
lines and gunicorn's), and a filter that keeps a repeated record to one per
interval (an ignored cache error on every request while Redis is down).

The JSON is encoded by orjson, through python-json-logger's own
OrjsonFormatter: every request writes one access line, and the standard
library's encoder made that line cost about three times as much CPU.
"""

import json
import logging
import threading
import time

from pythonjsonlogger.json import JsonEncoder
from pythonjsonlogger.orjson import OrjsonFormatter


class JsonFormatter(OrjsonFormatter):
    """python-json-logger's OrjsonFormatter, falling back to the standard
    library's encoder for the rare record orjson refuses (an integer beyond
    64 bits), so that record is still written, as JSON, rather than lost.

    Takes what OrjsonFormatter takes. Returns, per record, one line of JSON.
    """

    def jsonify_log_record(self, log_data: dict) -> str:
        try:
            return super().jsonify_log_record(log_data)
        except TypeError:
            return json.dumps(log_data, cls=JsonEncoder)


def json_formatter(fields: tuple[str, ...] = ()) -> JsonFormatter:
    """A formatter writing each record as one JSON object: timestamp, level,
    logger, message, process, then the record attributes ``fields`` names
    (LOGGING adds ``request_id``). Extra attributes a call passes are added too
    (an object orjson cannot encode is written as its ``str``).
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
