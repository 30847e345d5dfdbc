"""Dashboard users, their sign-in sessions and API tokens (SQL only).

A ``UserTable`` scoped to a tenant (a deployment of several) sees only that tenant's users: it
adds users to the tenant, and finds, changes, signs in or accepts the tokens of no other
tenant's. Unscoped (a deployment of one), it sees every user.

Session and API tokens are kept as SHA-256 digests: the database never holds a usable token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from cosell.store.schema import api_tokens, sessions, users


@dataclass(frozen=True)
class UserRecord:
    """One dashboard user (``password_hash`` is None for single-sign-on users)."""

    id: int
    name: str
    role: str
    password_hash: str | None
    created_at: datetime
    tenant: str | None = None


@dataclass(frozen=True)
class SessionRecord:
    """A signed-in browser: its user, CSRF token and expiry."""

    user: UserRecord
    csrf: str
    expires_at: datetime


class UserTable:
    """Users, sessions and API tokens over the store's engine (``tenant``: the scope)."""

    def __init__(self, engine: Engine, tenant: str | None = None) -> None:
        self._engine = engine
        self.tenant = tenant

    def _mine(self) -> sa.ColumnElement[bool]:
        """The users this table sees."""
        return sa.true() if self.tenant is None else users.c.tenant == self.tenant

    # --- users -----------------------------------------------------------------------------------

    def add(self, name: str, role: str, password_hash: str | None, now: datetime) -> UserRecord:
        """A new user (``ValueError`` when the name is taken)."""
        row: dict[str, Any] = {"name": name, "role": role, "password_hash": password_hash}
        row |= {"created_at": now, "updated_at": now, "tenant": self.tenant}
        try:
            with self._engine.begin() as conn:
                conn.execute(sa.insert(users).values(**row))
        except sa.exc.IntegrityError:
            raise ValueError(f"a user named {name!r} exists already") from None
        found = self.by_name(name)
        assert found is not None
        return found

    def by_name(self, name: str) -> UserRecord | None:
        with self._engine.connect() as conn:
            stmt = sa.select(users).where(users.c.name == name, self._mine())
            row = conn.execute(stmt).mappings().first()
        return None if row is None else _user(row)

    def listed(self) -> list[UserRecord]:
        with self._engine.connect() as conn:
            stmt = sa.select(users).where(self._mine()).order_by(users.c.name)
            rows = conn.execute(stmt).mappings().all()
        return [_user(row) for row in rows]

    def update(self, name: str, now: datetime, **values: Any) -> bool:
        """Change a user's role or password hash; False when there is no such user."""
        stmt = (
            sa.update(users)
            .where(users.c.name == name, self._mine())
            .values(updated_at=now, **values)
        )
        with self._engine.begin() as conn:
            return conn.execute(stmt).rowcount > 0

    def remove(self, name: str) -> bool:
        """Delete a user with their sessions and tokens; False when there is no such user."""
        with self._engine.begin() as conn:
            found = sa.select(users.c.id).where(users.c.name == name, self._mine())
            user_id = conn.execute(found).scalar()
            if user_id is None:
                return False
            conn.execute(sa.delete(sessions).where(sessions.c.user_id == user_id))
            conn.execute(sa.delete(api_tokens).where(api_tokens.c.user_id == user_id))
            conn.execute(sa.delete(users).where(users.c.id == user_id))
        return True

    # --- sessions --------------------------------------------------------------------------------

    def open_session(
        self, user_id: int, token_hash: str, csrf: str, now: datetime, expires_at: datetime
    ) -> None:
        row: dict[str, Any] = {"token_hash": token_hash, "user_id": user_id, "csrf": csrf}
        row |= {"created_at": now, "expires_at": expires_at}
        with self._engine.begin() as conn:
            conn.execute(sa.delete(sessions).where(sessions.c.expires_at <= now))
            conn.execute(sa.insert(sessions).values(**row))

    def session(self, token_hash: str, now: datetime) -> SessionRecord | None:
        """The live session with this token digest (None when unknown or expired)."""
        stmt = (
            sa.select(users, sessions.c.csrf, sessions.c.expires_at)
            .join(sessions, sessions.c.user_id == users.c.id)
            .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now, self._mine())
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else SessionRecord(_user(row), row["csrf"], row["expires_at"])

    def close_session(self, token_hash: str) -> None:
        mine = sa.select(users.c.id).where(self._mine())
        stmt = sa.delete(sessions).where(
            sessions.c.token_hash == token_hash, sessions.c.user_id.in_(mine)
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    # --- API tokens ------------------------------------------------------------------------------

    def add_token(self, user_id: int, name: str, token_hash: str, now: datetime) -> None:
        row: dict[str, Any] = {"user_id": user_id, "name": name, "token_hash": token_hash}
        row["created_at"] = now
        try:
            with self._engine.begin() as conn:
                conn.execute(sa.insert(api_tokens).values(**row))
        except sa.exc.IntegrityError:
            raise ValueError(f"this user has a token named {name!r} already") from None

    def by_token(self, token_hash: str) -> UserRecord | None:
        stmt = (
            sa.select(users)
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(api_tokens.c.token_hash == token_hash, self._mine())
        )
        with self._engine.connect() as conn:
            row = conn.execute(stmt).mappings().first()
        return None if row is None else _user(row)


def _user(row: Any) -> UserRecord:
    return UserRecord(
        row["id"], row["name"], row["role"], row["password_hash"], row["created_at"], row["tenant"]
    )
