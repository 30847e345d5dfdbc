"""Who holds a lease: ``host:pid:tag``, so that a lease of a process that no longer runs on
this host is let go at once instead of when it runs out.

A killed ``cosell sync`` (or service) leaves its keys leased for up to a lease's length
(minutes). The next pass on the same host sees the owner's process is gone (no such process, or
a zombie nobody reaped) and releases those leases before it starts, instead of reporting the
keys as held by a running service and leaving them undone. A process of another host, or one
whose process id is alive (perhaps reused by another program), is left to its lease: at worst
the keys wait as they did before. On PostgreSQL a pair's locks are the database's, so even a
lease released wrongly (two hosts of one name) lets no two reconciles of one pair interleave.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

HOST = socket.gethostname()


def owner_name(tag: str = "") -> str:
    """A lease owner's name for this process: its host, its process id, ``tag`` and a nonce."""
    return f"{HOST}:{os.getpid()}:{tag}{uuid.uuid4().hex[:8]}"


def gone(owner: str) -> bool:
    """Whether ``owner`` names a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: it runs
        return False
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """Ended but not reaped (Linux; elsewhere a process that answers is taken as running)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
