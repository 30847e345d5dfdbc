"""The state behind one emulator app: org, sessions, usage, faults, calls and query cursors."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from cosell.clock import Clock
from cosell.emulators.faults import CallLog, FaultBook
from cosell.emulators.salesforce.config import SalesforceEmulatorConfig
from cosell.emulators.salesforce.cursors import CursorBook
from cosell.emulators.salesforce.limits import UsageMeter
from cosell.emulators.salesforce.oauth import SessionBook, TokenIssuer
from cosell.emulators.salesforce.org import Org
from cosell.emulators.salesforce.tooling_state import ToolingState

FAULT_KINDS = frozenset(
    {
        "unable_to_lock_row",
        "server_error",
        "rate_limited",
        "revoke_tokens",
        "limit_exhausted",
        "latency",
        "drop_connection",
    }
)


@dataclass
class SalesforceEmulator:
    """Everything one emulated org knows; ``app.state.emulator`` in tests."""

    config: SalesforceEmulatorConfig
    clock: Clock
    faults: FaultBook = field(default_factory=lambda: FaultBook(FAULT_KINDS))
    calls: CallLog = field(default_factory=lambda: CallLog(tracks_writes=True))
    call_options: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Back to a freshly seeded org; faults, calls, sessions and usage cleared."""
        with self.lock:
            self.org = Org(self.config, self.clock)
            self.tooling = ToolingState(self.org)
            self.sessions = SessionBook(self.config, self.clock)
            self.issuer = TokenIssuer(
                self.config, self.clock, self.sessions, self.org.integration_user_id
            )
            self.usage = UsageMeter(self.config.daily_api_limit, self.clock)
            self.cursors = CursorBook(self.clock, self.config.query_locator_ttl)
            self.faults.clear()
            self.calls.reset()
            self.call_options.clear()
