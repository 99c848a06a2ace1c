"""What a running production stack's data stores grant: the app's Postgres
role tried on privileged statements, and redis-cli with or without Redis's
password. Both run inside the stack's own containers (python-on-whales'
``compose.execute`` and ``execute``), so nothing leaves the stack's networks."""

from __future__ import annotations

import json

from harness.docker import DockerException, docker
from harness.stack import Stack

# Statements one SQL injection would reach for, each refused to the app's role.
PRIVILEGED = {
    "CREATE ROLE": "CREATE ROLE tt_intruder LOGIN",
    "ALTER SYSTEM": "ALTER SYSTEM SET work_mem = '1GB'",
    "COPY FROM PROGRAM": "CREATE TEMP TABLE tt_out (line text); COPY tt_out FROM PROGRAM 'id'",
    "CREATE DATABASE": "CREATE DATABASE tt_other",
}

# Run in web with the app's own settings; prints the outcome of each statement.
_AS_THE_APP = """
import json, sys, django
django.setup()
from django.db import connection, DatabaseError
results = {}
with connection.cursor() as cursor:
    cursor.execute(
        "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles"
        " WHERE rolname = current_user"
    )
    user, *attributes = cursor.fetchone()
    results["user"], results["attributes"] = user, attributes
    for name, sql in json.loads(sys.argv[1]).items():
        # Django's autocommit: each statement its own transaction (ALTER SYSTEM needs that).
        try:
            cursor.execute(sql)
            results[name] = "allowed"
        except DatabaseError as error:
            results[name] = str(error).splitlines()[0]
print(json.dumps(results))
"""


def as_the_app(stack: Stack) -> dict:
    """As web's DATABASE_URL role: ``user``, ``attributes`` ([superuser,
    createrole, createdb]) and, per PRIVILEGED name, "allowed" or the error."""
    command = ["python", "-c", _AS_THE_APP, json.dumps(PRIVILEGED)]
    out = stack.docker.compose.execute("web", command, tty=False)
    return json.loads(out.strip().splitlines()[-1])


def refused(outcome: str) -> bool:
    """Whether an ``as_the_app`` outcome is Postgres refusing the privilege."""
    return "permission denied" in outcome or "must be superuser" in outcome


def redis_cli(stack: Stack, *args: str, password: bool = True) -> str:
    """``redis-cli ARGS`` in the redis container (which holds the password in
    REDISCLI_AUTH); without the password when ``password`` is false. Returns
    what it printed (redis-cli prints refusals on stdout and exits 0); stdout
    and stderr when it exits non-zero."""
    unset = [] if password else ["env", "-u", "REDISCLI_AUTH"]
    try:
        return docker.execute(stack.container("redis"), [*unset, "redis-cli", *args]).strip()
    except DockerException as error:
        return f"{error.stdout}{error.stderr}".strip()
