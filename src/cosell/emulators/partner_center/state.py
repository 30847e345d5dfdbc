"""The emulator's in-memory store, optionally mirrored to a JSON file after every write."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cosell.files import write_atomically


@dataclass
class TokenGrant:
    """An issued access or refresh token: who it is for and when it stops working."""

    kind: str  # "access" | "refresh"
    subject: str  # the user name, or "app" for client_credentials
    audience: str
    expires_at: float  # POSIX seconds on the emulator clock
    version: str = "v1"
    scope: str = ""


@dataclass
class DeviceCode:
    """A pending device-code sign-in; approved by the control surface or automatically."""

    device_code: str
    user_code: str
    client_id: str
    scope: str
    expires_at: float
    approved: bool = False


@dataclass
class StoreData:
    """Everything the emulator remembers; plain JSON-able values only."""

    referrals: dict[str, dict[str, Any]] = field(default_factory=dict)
    registration: dict[str, Any] | None = None
    tokens: dict[str, TokenGrant] = field(default_factory=dict)
    device_codes: dict[str, DeviceCode] = field(default_factory=dict)
    validation_events: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # PEM texts of the signing CA and leaf
    clock_offset_seconds: float = 0.0  # how far the emulator clock has been advanced in total


class StateFile:
    """Loads and atomically saves :class:`StoreData` as JSON; a ``None`` path keeps it in memory."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def load(self) -> StoreData:
        if self.path is None or not self.path.exists():
            return StoreData()
        raw = json.loads(self.path.read_text(encoding="utf-8"))
        return StoreData(
            referrals=raw.get("referrals", {}),
            registration=raw.get("registration"),
            tokens={k: TokenGrant(**v) for k, v in raw.get("tokens", {}).items()},
            device_codes={k: DeviceCode(**v) for k, v in raw.get("device_codes", {}).items()},
            validation_events=raw.get("validation_events", {}),
            keys=raw.get("keys", {}),
            clock_offset_seconds=float(raw.get("clock_offset_seconds", 0.0)),
        )

    def save(self, data: StoreData) -> None:
        if self.path is None:
            return
        text = json.dumps(asdict(data), indent=1, sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path, text, prefix=".pc-state-")
