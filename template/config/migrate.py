"""``python -m config.migrate [migrate's arguments]``: Django's ``migrate``
that never holds up traffic for long, run by compose's migrate service and
the Kubernetes migration Job in place of ``manage.py migrate``.

Postgres queues every query on a table behind an ALTER TABLE waiting for its
lock, so each statement here waits at most MIGRATE_LOCK_TIMEOUT_MS for a
lock (default 3000) and runs at most MIGRATE_STATEMENT_TIMEOUT_MS (default
300000), whatever the app's DATABASE_* bounds say. A lock not taken
in time fails the attempt, naming the table and who holds it, and the whole
``migrate`` is tried again after 2, 4, 8... s (at most RETRY_CAP_S),
MIGRATE_ATTEMPTS times in all (default 5).

Exit status: 0 when migrated; 75 (EX_TEMPFAIL) when every attempt met a held
lock; whatever ``migrate`` raises otherwise (a traceback, status 1).
"""

from __future__ import annotations

import os
import re
import sys
import time

# The migration's own bounds, over the app's (which env files and ConfigMaps hand
# it too), set before config/settings.py reads them.
LOCK_TIMEOUT_MS = int(os.environ.get("MIGRATE_LOCK_TIMEOUT_MS", "3000"))
STATEMENT_TIMEOUT_MS = int(os.environ.get("MIGRATE_STATEMENT_TIMEOUT_MS", "300000"))
os.environ["DATABASE_LOCK_TIMEOUT_MS"] = str(LOCK_TIMEOUT_MS)
os.environ["DATABASE_STATEMENT_TIMEOUT_MS"] = str(STATEMENT_TIMEOUT_MS)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.service_settings")

# The longest pause between attempts (s): the backoff doubles up to it.
RETRY_CAP_S = 30.0
# Postgres's SQLSTATE for "canceling statement due to lock timeout".
LOCK_NOT_AVAILABLE = "55P03"
# The table a DDL statement locks: the first quoted name after TABLE or ON.
TABLE = re.compile(r'\b(?:TABLE(?:\s+IF\s+EXISTS)?|ON)\s+(?:ONLY\s+)?"([^"]+)"', re.IGNORECASE)


def lock_timed_out(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is Postgres's lock timeout."""
    while error is not None:
        # psycopg2 calls it pgcode, psycopg 3 sqlstate.
        code = getattr(error, "pgcode", None) or getattr(error, "sqlstate", None)
        if code == LOCK_NOT_AVAILABLE:
            return True
        error = error.__cause__
    return False


def holders(connection, table: str) -> str:
    """The sessions holding a lock on ``table`` (``pid 123, 45 s in its
    transaction``), from a fresh connection; empty when none or unknown."""
    try:
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT l.pid, extract(epoch FROM now() - a.xact_start)::int"
                " FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.relation = to_regclass(%s) AND l.granted AND l.pid <> pg_backend_pid()"
                " ORDER BY a.xact_start NULLS LAST",
                [f'"{table}"'],
            )
            rows = cursor.fetchall()
    except Exception:  # a best-effort hint: the message stands without it
        return ""
    return ", ".join(
        f"pid {pid}" + (f", {age} s in its transaction" if age is not None else "")
        for pid, age in rows
    )


def migrate(argv: list[str], attempts: int, cap: float) -> int:
    """Run ``migrate --noinput`` with ``argv`` up to ``attempts`` times, backing
    off between attempts that met a held lock; return the exit status."""
    import django
    from django.core.management import call_command
    from django.db import connection

    django.setup()
    last_sql: list[str] = [""]

    def remember(execute, sql, params, many, context):
        last_sql[0] = sql
        return execute(sql, params, many, context)

    for attempt in range(1, attempts + 1):
        try:
            with connection.execute_wrapper(remember):
                call_command("migrate", "--noinput", *argv)
            return 0
        except Exception as error:
            if not lock_timed_out(error):
                raise
        found = TABLE.search(last_sql[0])
        table = found.group(1) if found else "a table this migration changes"
        who = holders(connection, found.group(1)) if found else ""
        delay = min(cap, 2.0**attempt)
        outcome = f"retrying in {delay:.0f} s" if attempt < attempts else "giving up"
        print(
            f"migrate could not take a lock within {LOCK_TIMEOUT_MS} ms: a long transaction "
            f"holds {table}{f' ({who})' if who else ''}; attempt {attempt} of {attempts}, "
            f"{outcome}",
            file=sys.stderr,
            flush=True,
        )
        connection.close()
        if attempt < attempts:
            time.sleep(delay)
    return 75


if __name__ == "__main__":
    sys.exit(
        migrate(
            sys.argv[1:],
            attempts=max(1, int(os.environ.get("MIGRATE_ATTEMPTS", "5"))),
            cap=RETRY_CAP_S,
        )
    )
