"""Calls at once: the limit comes from a probe's calls (CPU and the other side's wait), and
``each`` keeps that many calls running, every result or exception in its future."""

from __future__ import annotations

import gc
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import pytest

from cosell.clients.at_once import PROBE, PROBE_EVERY, CallsAtOnce


class Clocks:
    """A wall clock and a CPU clock that only the calls move: a call of ``cpu`` seconds that
    waited ``wait`` more for its answer."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def call(self, cpu: float, wait: float) -> float:
        self.cpu += cpu
        self.wall += cpu + wait
        return cpu


def gate(clocks: Clocks, most: int = 64, least: int = 2) -> CallsAtOnce:
    return CallsAtOnce(most, least, wall=lambda: clocks.wall, cpu=lambda: clocks.cpu)


def calls(at_once: CallsAtOnce, clocks: Clocks, n: int, cpu: float, wait: float) -> None:
    for _ in range(n):
        at_once.measured(lambda _: clocks.call(cpu, wait), None)


def test_a_probe_sets_the_limit_to_twice_the_calls_that_cover_the_other_side_s_wait() -> None:
    clocks = Clocks()
    near = gate(clocks)
    assert (near.limit, near.probing) == (2, True)

    calls(near, clocks, PROBE, cpu=0.001, wait=0.001)  # loopback: the answer in a millisecond

    assert not near.probing
    assert near.other_side_wait == pytest.approx(0.001)
    assert near.limit == 4  # 2 cover (1 ms of CPU, 1 ms waiting), twice that

    far = gate(clocks, most=32)
    calls(far, clocks, PROBE, cpu=0.001, wait=0.150)  # across the internet
    assert far.limit == 32


def test_the_least_wait_of_a_probe_is_the_other_side_s_not_a_queue_s() -> None:
    """One call of a probe that met no queue is enough: the others' longer waits are the
    connector's own queue, not the other side."""
    clocks = Clocks()
    at_once = gate(clocks)
    calls(at_once, clocks, PROBE - 1, cpu=0.001, wait=0.020)
    calls(at_once, clocks, 1, cpu=0.001, wait=0.003)
    assert at_once.limit == 8  # 4 cover 1 ms of CPU and 3 ms of waiting


def test_the_limit_holds_between_probes_and_a_probe_runs_the_least_at_once() -> None:
    clocks = Clocks()
    at_once = gate(clocks)
    calls(at_once, clocks, PROBE, cpu=0.001, wait=0.001)
    calls(at_once, clocks, PROBE * PROBE_EVERY - 1, cpu=0.001, wait=0.050)
    assert (at_once.limit, at_once.probing) == (4, False)

    calls(at_once, clocks, 1, cpu=0.001, wait=0.001)
    assert (at_once.limit, at_once.probing) == (2, True)

    calls(at_once, clocks, PROBE, cpu=0.001, wait=0.009)  # the other side moved away
    assert at_once.limit == 20


def test_a_call_that_began_before_a_probe_is_not_counted_in_it() -> None:
    """Calls still running when a probe begins started among more at once: their waits are
    the old window's, so the probe leaves them out."""
    clocks = Clocks()
    at_once = gate(clocks)
    calls(at_once, clocks, PROBE, cpu=0.001, wait=0.001)
    calls(at_once, clocks, PROBE * PROBE_EVERY - 1, cpu=0.001, wait=0.001)

    def long_call(_: None) -> None:
        calls(at_once, clocks, 1, cpu=0.001, wait=0.001)  # ends the window: a probe begins
        calls(at_once, clocks, PROBE - 1, cpu=0.001, wait=0.009)
        clocks.call(cpu=1.0, wait=0.0)  # counted, this would make the probe's CPU a call 126 ms

    at_once.measured(long_call, None)
    assert at_once.probing

    calls(at_once, clocks, 1, cpu=0.001, wait=0.009)
    assert at_once.limit == 20


def test_each_keeps_the_limit_s_calls_running_and_gives_every_result_in_order() -> None:
    """With the limit at two, the calls meet two by two at a barrier: a third at once would
    show in the count, one alone would break the barrier (its timeout)."""
    at_once = CallsAtOnce(2, 2)
    meet = threading.Barrier(2, timeout=10)
    lock = threading.Lock()
    inside, most_inside = 0, 0

    def call(n: int) -> int:
        nonlocal inside, most_inside
        with lock:
            inside += 1
            most_inside = max(most_inside, inside)
        try:
            meet.wait()
            if n == 5:
                raise ValueError("refused: 5")
            return n * n
        finally:
            with lock:
                inside -= 1

    with ThreadPoolExecutor(8) as pool:
        futures = at_once.each(call, list(range(10)), pool)
        results = [f.exception() or f.result() for f in futures]

    assert most_inside == 2
    assert [r for n, r in enumerate(results) if n != 5] == [n * n for n in range(10) if n != 5]
    assert str(results[5]) == "refused: 5"


def test_limits_that_cannot_be_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match="least <= most, not 3 and 2"):
        CallsAtOnce(2, 3)


def test_no_probe_while_the_other_side_is_far() -> None:
    """Across the internet the calls at the limit wait for the other side, not for one
    another: eight calls two at a time would take a second, so no probe is made while even the
    fastest of them wants more than twice ``most``; once it comes near, probing resumes."""
    clocks = Clocks()
    at_once = gate(clocks, most=16)
    calls(at_once, clocks, PROBE, cpu=0.001, wait=0.150)
    assert at_once.limit == 16
    calls(at_once, clocks, PROBE * PROBE_EVERY, cpu=0.001, wait=0.120)
    assert (at_once.limit, at_once.probing) == (16, False)

    calls(at_once, clocks, PROBE * PROBE_EVERY, cpu=0.001, wait=0.002)
    assert (at_once.limit, at_once.probing) == (2, True)


class Item:
    """An item a call is made for (weakly referable)."""


def test_the_items_and_futures_of_each_are_freed_when_their_caller_lets_them_go() -> None:
    """Nothing of ``each`` refers back to itself: once the calls are over and the caller drops
    its futures, the items go at once, by their reference counts, not at the garbage
    collector's next full collection (was: two closures referring to each other held a
    backfill batch's records, ~120 objects each, until the collector found them)."""
    items = [Item() for _ in range(20)]
    alive = [weakref.ref(item) for item in items]
    pool = ThreadPoolExecutor(4)
    enabled = gc.isenabled()
    gc.disable()
    try:
        futures = CallsAtOnce(4).each(lambda item: id(item), items, pool)
        assert [f.result() for f in futures] == [id(item) for item in items]
        pool.shutdown(wait=True)  # every thread done with the calls
        del futures, items
        assert [ref() for ref in alive] == [None] * 20
    finally:
        if enabled:
            gc.enable()
