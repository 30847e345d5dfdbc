"""Lease owners name their host and process, so a gone process's leases can be let go."""

from __future__ import annotations

import os
import subprocess
import sys

from cosell.queue.owners import HOST, gone, owner_name


def test_this_process_is_not_gone() -> None:
    assert owner_name("batch-").startswith(f"{HOST}:{os.getpid()}:batch-")
    assert not gone(owner_name())


def test_a_process_that_ended_and_was_reaped_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert gone(f"{HOST}:{child.pid}:abc")


def test_a_zombie_nobody_reaped_is_gone_and_a_running_process_is_not() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        assert not gone(f"{HOST}:{child.pid}:abc")
        assert child.stdin is not None
        child.stdin.close()  # it ends; not waited for, it stays a zombie
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # ended, still unreaped
        assert gone(f"{HOST}:{child.pid}:abc")
    finally:
        child.wait()


def test_another_host_s_process_or_a_name_without_a_process_is_left_to_its_lease() -> None:
    assert not gone(f"{HOST}-elsewhere:1:abc")
    assert not gone("cosell-batch:0123456789ab")  # an owner named before hosts were named
