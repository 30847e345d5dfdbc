"""Waiting in tests: poll a condition until it holds, and fail naming it after a deadline.

The test goes on as soon as the condition holds; the only sleep is the poll interval, which
starts at a few milliseconds (most waits in-process end at once) and doubles up to ``interval``
(a sandbox probed over HTTP is not asked more often than that)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
FIRST_INTERVAL = 0.005


def wait_until(
    probe: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "",
    *,
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """The first truthy value ``probe`` returns; an error of a type in ``ignoring`` counts as
    "not yet". After ``timeout`` seconds: AssertionError naming ``what`` and the last answer."""
    end = time.monotonic() + timeout
    pause = min(FIRST_INTERVAL, interval)
    while True:
        try:
            value = probe()
        except ignoring as error:
            last: object = error
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= end:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what or probe}: {last!r}"
            )
        time.sleep(pause)
        pause = min(pause * 2, interval)
