"""Numbers the tests measure on the way, printed at the end of the run.

Tests append lines; tests/conftest.py prints them in pytest's summary, so a
CI log carries the measured times and counts without ``-s``.
"""

LINES: list[str] = []


def report(line: str) -> None:
    """Keep ``line`` for the end-of-run summary."""
    LINES.append(line)
