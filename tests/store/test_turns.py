"""Writers' turns at SQLite's write lock: one at a time, reentrant, claims of work first."""

from __future__ import annotations

import threading

from cosell.store.turns import WriterTurns
from support.wait import wait_until


def test_an_urgent_writer_goes_before_writers_that_waited_longer() -> None:
    turns = WriterTurns()
    order: list[str] = []

    def write(name: str, *, urgent: bool = False) -> threading.Thread:
        def run() -> None:
            with turns.turn(urgent=urgent):
                order.append(name)

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    with turns.turn():
        first = write("commit")
        wait_until(lambda: turns.waiting == 1)
        second = write("claim", urgent=True)
        wait_until(lambda: turns.waiting == 2)
        assert order == []  # nobody writes while the turn is held
    for thread in (first, second):
        thread.join()

    assert order == ["claim", "commit"]
    assert turns.waiting == 0


def test_a_turn_is_reentrant_for_its_holder() -> None:
    turns = WriterTurns()
    with turns.turn(), turns.turn(urgent=True):
        held = True
    assert held
    done = threading.Event()

    def other() -> None:
        with turns.turn():
            done.set()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert done.is_set()  # released once the outer turn ended
