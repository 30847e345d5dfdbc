"""``UserDirectory``: who may use the dashboard and the API, and with which role.

Passwords are hashed with Argon2id (argon2-cffi's defaults, rehashed when they change). Roles
rank ``viewer`` (reads) < ``operator`` (retry, resolve, sync now, accept/decline) < ``admin``
(users and settings). Sessions and API tokens are random 256-bit values; only their SHA-256
digests are stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cosell.clock import Clock
from cosell.store.users import SessionRecord, UserRecord, UserTable

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
MIN_PASSWORD = 12
_hasher = PasswordHasher()
# Checked when the name is unknown, so a missing user costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def role_allows(role: str, needed: Role) -> bool:
    """Whether ``role`` ranks at least ``needed`` (an unknown role allows nothing)."""
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    """A session just opened: the token goes in the (signed) cookie, never in the store."""

    token: str
    csrf: str
    user: UserRecord


class UserDirectory:
    """Users, passwords, sessions and API tokens over the store's ``UserTable``."""

    def __init__(self, table: UserTable, clock: Clock, session_lifetime: timedelta) -> None:
        self.table = table
        self.clock = clock
        self.session_lifetime = session_lifetime

    def add(self, name: str, role: str, password: str | None) -> UserRecord:
        """A local user (with a password) or a single-sign-on user (without)."""
        if not name.strip():
            raise ValueError("a user needs a name")
        hashed = None if password is None else _hasher.hash(check_password(password))
        return self.table.add(name, check_role(role), hashed, self.clock.now())

    def set_role(self, name: str, role: str) -> None:
        if not self.table.update(name, self.clock.now(), role=check_role(role)):
            raise LookupError(f"no user is named {name!r}")

    def set_password(self, name: str, password: str) -> None:
        hashed = _hasher.hash(check_password(password))
        if not self.table.update(name, self.clock.now(), password_hash=hashed):
            raise LookupError(f"no user is named {name!r}")

    def remove(self, name: str) -> None:
        if not self.table.remove(name):
            raise LookupError(f"no user is named {name!r}")

    def listed(self) -> list[UserRecord]:
        return self.table.listed()

    def authenticate(self, name: str, password: str) -> UserRecord | None:
        """The user when the password matches (in constant-ish time either way)."""
        user = self.table.by_name(name)
        stored = user.password_hash if user is not None else None
        try:
            _hasher.verify(stored or _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or stored is None:
            return None
        if _hasher.check_needs_rehash(stored):
            self.table.update(name, self.clock.now(), password_hash=_hasher.hash(password))
        return user

    def open_session(self, user: UserRecord) -> NewSession:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = self.clock.now()
        self.table.open_session(user.id, digest(token), csrf, now, now + self.session_lifetime)
        return NewSession(token, csrf, user)

    def session(self, token: str) -> SessionRecord | None:
        return self.table.session(digest(token), self.clock.now())

    def close_session(self, token: str) -> None:
        self.table.close_session(digest(token))

    def issue_token(self, name: str, token_name: str) -> str:
        """A new API token for the user (shown once)."""
        user = self.table.by_name(name)
        if user is None:
            raise LookupError(f"no user is named {name!r}")
        token = "cst_" + secrets.token_urlsafe(32)
        self.table.add_token(user.id, token_name, digest(token), self.clock.now())
        return token

    def by_token(self, token: str) -> UserRecord | None:
        return self.table.by_token(digest(token))
