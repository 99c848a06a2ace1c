"""The one way the harness waits: poll a condition until it holds, on tenacity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tenacity


def wait_until(condition: Callable[[], Any], within: float, what: str, every: float = 0.2) -> Any:
    """Call ``condition`` every ``every`` seconds until it returns something
    truthy; return that.

    Exceptions count as "not yet". Raises ``AssertionError`` naming ``what``
    and the last value or error once ``within`` seconds have passed. Relies on
    tenacity's documented ``Retrying``: ``stop_after_delay`` counts from the
    first attempt, and ``retry_error_callback`` gets the last attempt's state.
    """

    def give_up(state: tenacity.RetryCallState) -> Any:
        outcome = state.outcome
        last = outcome.exception() if outcome.failed else outcome.result()
        raise AssertionError(f"{what}: not within {within} s; last: {last!r}")

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(within),
        wait=tenacity.wait_fixed(every),
        retry=tenacity.retry_if_exception_type() | tenacity.retry_if_not_result(bool),
        retry_error_callback=give_up,
    )
    return retrying(condition)
