"""A worker process for the distributed-queue tests: records each reconcile's start and end.

``python distributed_worker_proc.py URL GATE_DIR [TICK_CRON]``. A reconcile of a key named
``…:block…`` holds until the file ``GATE_DIR/<id>`` exists; others take 30 ms.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from cosell.queue.distributed import DistributedQueue
from cosell.store import Store
from cosell.store.records import Job, TenantId


def main() -> None:
    url, gate_dir = sys.argv[1], Path(sys.argv[2])
    tick_cron = sys.argv[3] if len(sys.argv) > 3 else None
    store = Store.open(url)
    queue = DistributedQueue(store, stalled_cron="* * * * * *")

    def handler(job: Job) -> None:
        with store.engine.begin() as conn:
            run_id = conn.execute(
                sa.text(
                    "INSERT INTO test_runs (key, pid, started) "
                    "VALUES (:key, :pid, clock_timestamp()) RETURNING id"
                ),
                {"key": job.key, "pid": os.getpid()},
            ).scalar_one()
        if "block" in job.key:
            gate = gate_dir / job.key.partition(":")[2]
            while not gate.exists():
                time.sleep(0.02)
        else:
            time.sleep(0.03)
        with store.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE test_runs SET finished = clock_timestamp() WHERE id = :id"),
                {"id": run_id},
            )

    def tick(tenant: TenantId, period: int) -> None:
        with store.engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO test_ticks (tenant, period, pid) VALUES (:t, :p, :pid)"),
                {"t": int(tenant), "p": period, "pid": os.getpid()},
            )

    if tick_cron:
        queue.add_periodic("tick", tick_cron, tick, [TenantId(1), TenantId(2)])
    queue.serve(handler, concurrency=4, heartbeat=0.5, stalled_worker_timeout=2.0, polling=0.2)


if __name__ == "__main__":
    main()
