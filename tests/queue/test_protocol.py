from __future__ import annotations

import pytest

from cosell.queue.embedded import EmbeddedQueue
from cosell.queue.protocol import WorkQueue, parse_key, queue_key
from cosell.store import Job, Store


@pytest.mark.parametrize(
    ("kind", "record_id", "key"),
    [
        (
            "referral",
            "5f0c1a9e-0000-4000-8000-000000000001",
            "referral:5f0c1a9e-0000-4000-8000-000000000001",
        ),
        ("opportunity", "006Hs00001AbCdEIAV", "opportunity:006Hs00001AbCdEIAV"),
        ("opportunity", "with:colon", "opportunity:with:colon"),
    ],
)
def test_queue_keys_round_trip(kind: str, record_id: str, key: str) -> None:
    assert queue_key(kind, record_id) == key  # type: ignore[arg-type]
    assert parse_key(key) == (kind, record_id)


@pytest.mark.parametrize("key", ["", "referral", "referral:", "account:001", ":R1"])
def test_parse_key_rejects_other_strings(key: str) -> None:
    with pytest.raises(ValueError, match="not a queue key"):
        parse_key(key)


def _signal(queue: WorkQueue, store: Store) -> None:
    queue.enqueue(store.ensure_tenant("acme"), queue_key("referral", "R1"))


def test_store_and_embedded_queue_both_serve_as_work_queues(store: Store) -> None:
    seen: list[str] = []

    def handler(job: Job) -> None:
        seen.append(job.key)

    embedded = EmbeddedQueue(store, handler, workers=1)
    _signal(store, store)
    _signal(embedded, store)
    embedded.run_until_idle(10)
    assert seen == ["referral:R1"]
