"""The tests' one wait helper (tests/support/wait.py)."""

import itertools
import time

import pytest

from support.wait import wait_until


def test_returns_the_first_truthy_answer_as_soon_as_it_comes() -> None:
    answers = iter([None, 0, "", "ready", "later"])
    assert wait_until(lambda: next(answers), timeout=5) == "ready"


def test_fails_after_the_timeout_naming_what_it_waited_for_and_the_last_answer() -> None:
    count = itertools.count()
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"the queue to drain: 0") as failed:
        wait_until(lambda: next(count) and 0, timeout=0.05, what="the queue to drain")
    assert time.monotonic() - started >= 0.05
    assert "timed out after 0.05s" in str(failed.value)


def test_listed_errors_mean_not_yet_and_others_propagate() -> None:
    calls = itertools.count()

    def flaky() -> str:
        if next(calls) < 2:
            raise ConnectionError("not listening yet")
        return "up"

    assert wait_until(flaky, timeout=5, ignoring=(ConnectionError,)) == "up"
    with pytest.raises(KeyError):
        wait_until(lambda: {}["missing"], timeout=5, ignoring=(ConnectionError,))


def test_the_pause_grows_to_the_interval_and_no_further() -> None:
    stamps: list[float] = []

    def probe() -> bool:
        stamps.append(time.monotonic())
        return len(stamps) == 6

    wait_until(probe, timeout=5, interval=0.04)  # pauses 5, 10, 20, 40, 40 ms
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps[0] < 0.04 <= gaps[-1] < 0.5
