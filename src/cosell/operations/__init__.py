"""Day-2 operations: status, audit history, retries, conflicts and the doctor's checks."""

from cosell.operations.activity import Activity, RecordingStatus, read_activity
from cosell.operations.call_meter import CallMeter, calls_last_24h
from cosell.operations.checks import Check
from cosell.operations.conflicts import ConflictView, Resolution, open_conflicts, resolve
from cosell.operations.deployment import Deployment
from cosell.operations.doctor import Doctor
from cosell.operations.retry import retry_all, retry_one
from cosell.operations.status import StatusReport, build_status

__all__ = [
    "Activity",
    "CallMeter",
    "Check",
    "ConflictView",
    "Deployment",
    "Doctor",
    "RecordingStatus",
    "Resolution",
    "StatusReport",
    "build_status",
    "calls_last_24h",
    "open_conflicts",
    "read_activity",
    "resolve",
    "retry_all",
    "retry_one",
]
