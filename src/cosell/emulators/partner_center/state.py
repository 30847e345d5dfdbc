"""The emulator's in-memory store, optionally kept in a JSON file: a snapshot, and a journal of
the referrals and settings written since (see :class:`cosell.files.JournaledFile`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cosell.files import JournaledFile


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
    """Loads and saves :class:`StoreData`; a ``None`` path keeps it in memory.

    A save appends the referrals that changed (found by their eTag, which every write renews, or
    named by the caller) and the rest of the store when it changed; the whole store is written
    again once the journal outgrows it.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file = None if path is None else JournaledFile(path, prefix=".pc-state-")
        self._etags: dict[str, str] = {}  # each referral's eTag as last written
        self._settings = ""  # the rest of the store as last written

    def load(self) -> StoreData:
        found = None if self._file is None else self._file.read()
        if found is None:
            return StoreData()
        text, entries = found
        raw = json.loads(text)
        referrals: dict[str, dict[str, Any]] = raw.get("referrals", {})
        for entry in entries:
            if "referral" in entry:
                referral_id, value = entry["referral"]
                if value is None:
                    referrals.pop(referral_id, None)
                else:
                    referrals[referral_id] = value
            else:
                raw.update(entry["settings"])
        data = StoreData(
            referrals=referrals,
            registration=raw.get("registration"),
            tokens={k: TokenGrant(**v) for k, v in raw.get("tokens", {}).items()},
            device_codes={k: DeviceCode(**v) for k, v in raw.get("device_codes", {}).items()},
            validation_events=raw.get("validation_events", {}),
            keys=raw.get("keys", {}),
            clock_offset_seconds=float(raw.get("clock_offset_seconds", 0.0)),
        )
        self._etags = {k: str(v.get("eTag")) for k, v in referrals.items()}
        self._settings = _dumps(_settings(data))
        return data

    def save(self, data: StoreData, referrals: Iterable[str] | None = None) -> None:
        """Keep ``data``: the referrals named in ``referrals`` changed (None: look for them)."""
        if self._file is None:
            return
        if self._file.due():
            self._rewrite(data)
            return
        lines = []
        for referral_id in self._changed(data) if referrals is None else referrals:
            value = data.referrals.get(referral_id)
            lines.append(_dumps({"referral": [referral_id, value]}))
            if value is None:
                self._etags.pop(referral_id, None)
            else:
                self._etags[referral_id] = str(value.get("eTag"))
        settings = _dumps(_settings(data))
        if settings != self._settings:
            lines.append(_dumps({"settings": _settings(data)}))
            self._settings = settings
        self._file.append(lines)

    def _changed(self, data: StoreData) -> list[str]:
        written = self._etags
        gone = [k for k in written if k not in data.referrals]
        return gone + [k for k, v in data.referrals.items() if written.get(k) != v.get("eTag")]

    def _rewrite(self, data: StoreData) -> None:
        assert self._file is not None
        settings = _settings(data)
        self._file.rewrite(_dumps({"referrals": data.referrals, **settings}, indent=1))
        self._etags = {k: str(v.get("eTag")) for k, v in data.referrals.items()}
        self._settings = _dumps(settings)


def _settings(data: StoreData) -> dict[str, Any]:
    """Everything but the referrals, as JSON values."""
    return {
        "registration": data.registration,
        "tokens": {k: asdict(v) for k, v in data.tokens.items()},
        "device_codes": {k: asdict(v) for k, v in data.device_codes.items()},
        "validation_events": data.validation_events,
        "keys": data.keys,
        "clock_offset_seconds": data.clock_offset_seconds,
    }


def _dumps(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, sort_keys=True)
