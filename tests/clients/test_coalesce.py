"""``Coalescer``: calls from concurrent threads go in one batch, each gets its own answer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from cosell.clients.coalesce import Coalescer, Room
from support.wait import wait_until

PATIENT = 30.0
"""A linger no test waits out: batches here go when every caller has come."""


def together(coalescer: Coalescer[Any, Any], items: Sequence[Any]) -> list[Any]:
    """Each item submitted from a thread of its own; the answers, or the errors raised."""

    def one(item: Any) -> Any:
        try:
            return coalescer.submit(item)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(len(items)) as pool:
        return list(pool.map(one, items))


def recording(answer: Callable[[Any], Any]) -> tuple[list[list[Any]], Any]:
    sent: list[list[Any]] = []
    lock = threading.Lock()

    def send(items: Sequence[Any]) -> list[Any]:
        with lock:
            sent.append(list(items))
        return [answer(item) for item in items]

    return sent, send


def test_concurrent_calls_go_in_one_batch_and_each_gets_its_own_answer() -> None:
    sent, send = recording(lambda item: item * 10)
    coalescer: Coalescer[int, int] = Coalescer(send, callers=4, linger=PATIENT)

    answers = together(coalescer, [1, 2, 3, 4])

    assert answers == [10, 20, 30, 40]
    assert [sorted(batch) for batch in sent] == [[1, 2, 3, 4]]
    assert coalescer.batches == 1


def test_an_error_for_one_item_is_raised_to_its_caller_only() -> None:
    refused = ValueError("item 2 refused")
    sent, send = recording(lambda item: refused if item == 2 else item)
    coalescer: Coalescer[int, int] = Coalescer(send, callers=3, linger=PATIENT)

    answers = together(coalescer, [1, 2, 3])

    assert answers == [1, refused, 3]
    assert len(sent) == 1


def test_a_request_that_fails_fails_every_call_it_carried() -> None:
    def send(items: Sequence[int]) -> list[int]:
        raise ConnectionError("connection reset")

    coalescer: Coalescer[int, int] = Coalescer(send, callers=3, linger=PATIENT)

    answers = together(coalescer, [1, 2, 3])

    assert [type(a) for a in answers] == [ConnectionError] * 3


def test_batches_hold_at_most_most_items() -> None:
    sent, send = recording(lambda item: item)
    coalescer: Coalescer[int, int] = Coalescer(send, callers=6, linger=PATIENT, most=3)

    answers = together(coalescer, list(range(6)))

    assert answers == list(range(6))
    assert sorted(len(batch) for batch in sent) == [3, 3]


def test_a_lone_call_goes_once_its_linger_is_over() -> None:
    sent, send = recording(lambda item: -item)
    coalescer: Coalescer[int, int] = Coalescer(send, callers=4, linger=0.0)

    assert coalescer.submit(7) == -7
    assert sent == [[7]]


def test_answers_must_match_the_items() -> None:
    coalescer: Coalescer[int, int] = Coalescer(lambda items: [], callers=1)
    with pytest.raises(RuntimeError, match="0 answers to 1 calls"):
        coalescer.submit(1)


def test_when_every_caller_waits_in_some_coalescer_the_batches_go_at_once() -> None:
    """Two workers at different steps (one creating, one reading) can never fill a batch of
    two: sharing a room, each batch goes as soon as both wait, not after the linger."""
    room = Room(2)
    creates: Coalescer[str, str] = Coalescer(
        lambda items: [f"made {i}" for i in items], callers=2, linger=PATIENT, room=room
    )
    reads: Coalescer[str, str] = Coalescer(
        lambda items: [f"read {i}" for i in items], callers=2, linger=PATIENT, room=room
    )
    answers: dict[str, str] = {}
    workers = [
        threading.Thread(target=lambda: answers.update(a=creates.submit("a"))),
        threading.Thread(target=lambda: answers.update(b=reads.submit("b"))),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=PATIENT / 3)  # a batch that lingered would still be waiting

    assert answers == {"a": "made a", "b": "read b"}
    assert (creates.batches, reads.batches, room.waiting) == (1, 1, 0)


def test_workers_that_finished_are_not_waited_for() -> None:
    """Four workers, three records left: a step goes once the three that still have work wait
    in it, not when a linger nobody waits out has passed."""
    room = Room(4)
    sent, send = recording(lambda item: item)
    coalescer: Coalescer[int, int] = Coalescer(send, callers=4, linger=PATIENT, room=room)
    room.expect(3)

    assert together(coalescer, [1, 2, 3]) == [1, 2, 3]
    assert [sorted(batch) for batch in sent] == [[1, 2, 3]]
    assert room.calls == 1  # went because everyone left was there


def test_a_worker_finishing_lets_the_waiting_ones_go() -> None:
    room = Room(3)
    sent, send = recording(lambda item: item)
    coalescer: Coalescer[int, int] = Coalescer(send, callers=3, linger=PATIENT, room=room)
    room.expect(3)

    with ThreadPoolExecutor(2) as pool:
        answers = [pool.submit(coalescer.submit, n) for n in (1, 2)]
        wait_until(lambda: room.waiting == 2)
        assert sent == []  # the third worker may still come
        room.done()  # it finished its record without this call
        assert [a.result(timeout=PATIENT) for a in answers] == [1, 2]
    assert [sorted(batch) for batch in sent] == [[1, 2]]


def test_a_step_waits_for_the_workers_whose_earlier_step_was_just_answered() -> None:
    """Eight workers make one shared request, then the next step's: a worker answered a
    moment before the others wake is not "waiting" (it is on its way to the next step), so the
    next step gathers all eight instead of going with whoever woke first."""
    room = Room(8)
    first: Coalescer[int, int] = Coalescer(
        lambda items: list(items), callers=8, linger=PATIENT, room=room
    )
    sent, send = recording(lambda item: item)
    second: Coalescer[int, int] = Coalescer(send, callers=8, linger=PATIENT, room=room)

    def worker(n: int) -> int:
        return second.submit(first.submit(n))

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(worker, range(8)))

    assert answers == list(range(8))
    assert (first.batches, second.batches) == (1, 1)
    assert [sorted(batch) for batch in sent] == [list(range(8))]
    assert room.waiting == 0


def test_a_batch_that_fills_a_request_goes_without_waiting_for_the_others() -> None:
    """``fills``: three items fill a request, so three of five callers are answered while the
    other two have not come (no linger waited out)."""
    sent, send = recording(lambda item: item)
    coalescer: Coalescer[int, int] = Coalescer(
        send, callers=5, linger=PATIENT, fills=lambda items: sum(items) >= 6
    )

    assert together(coalescer, [1, 2, 3]) == [1, 2, 3]
    assert [sorted(batch) for batch in sent] == [[1, 2, 3]]


def test_a_full_batch_going_does_not_send_the_next_steps_batch_early() -> None:
    """Two workers wait at the next step while the third fills this step's batch: its caller is
    then in flight, not waiting, so the next step waits for it and goes once, with all three.
    Counting it as waiting declared "everyone here" (``room.calls``), which let the next step's
    lingering caller send two items early, then one."""
    room = Room(3)
    first: Coalescer[int, int] = Coalescer(
        lambda items: list(items), callers=3, linger=PATIENT, most=1, room=room
    )
    sent, send = recording(lambda item: item)
    second: Coalescer[int, int] = Coalescer(send, callers=3, linger=PATIENT, room=room)

    with ThreadPoolExecutor(3) as pool:
        early = [pool.submit(second.submit, n) for n in (1, 2)]
        wait_until(lambda: room.waiting == 2)
        last = pool.submit(lambda: second.submit(first.submit(3)))
        answers = [a.result(timeout=PATIENT) for a in [*early, last]]

    assert answers == [1, 2, 3]
    assert [sorted(batch) for batch in sent] == [[1, 2, 3]]
    assert room.calls == 0  # never "everyone waiting": each batch went because it was full
    assert room.waiting == 0
