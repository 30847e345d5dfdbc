"""``cosell users``: add, list, set a role or password, issue a token, remove; and the console's
wiring (open access only on loopback, the session key file's mode)."""

from __future__ import annotations

import json
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from structlog.testing import capture_logs

from cosell.cli.main import main
from cosell.clock import ManualClock
from cosell.errors import ConfigError
from cosell.service.console import cached_expiring, console_auth, console_hosts, session_key
from cosell.settings import Settings
from cosell.store.sql import Store

ANY_ADDRESS = "0.0.0.0"  # noqa: S104 (a setting under test, nothing binds)


def config(tmp_path: Path) -> Path:
    path = tmp_path / "cosell.toml"
    path.write_text(f'[service]\nstate_dir = "{tmp_path / "state"}"\n')
    return path


def run(tmp_path: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["users", *args, "--config", str(config(tmp_path))], stdin)
    return result.exit_code, result.output


def test_users_lifecycle(tmp_path: Path) -> None:
    assert run(
        tmp_path,
        "add",
        "otto",
        "--role",
        "operator",
        "--password-stdin",
        stdin="operator-password-1\n",
    ) == (0, "added otto (operator)\n")
    assert run(tmp_path, "add", "sso-sam", "--sso")[0] == 0
    code, out = run(tmp_path, "add", "otto", "--password-stdin", stdin="another-password\n")
    assert code == 1
    assert "a user named 'otto' exists already" in out
    code, out = run(tmp_path, "add", "short", "--password-stdin", stdin="short\n")
    assert "at least 12 characters" in out
    assert run(tmp_path, "set-role", "otto", "admin") == (0, "otto is now admin\n")
    code, out = run(tmp_path, "list", "--json")
    assert json.loads(out) == [
        {"name": "otto", "role": "admin", "sign_in": "password"},
        {"name": "sso-sam", "role": "viewer", "sign_in": "sso"},
    ]
    code, token = run(tmp_path, "token", "otto", "script")
    assert code == 0
    assert token.startswith("cst_")
    assert run(tmp_path, "remove", "otto") == (0, "removed otto\n")
    assert run(tmp_path, "remove", "otto")[1] == "error: no user is named 'otto'\n"
    store = Store.open(f"sqlite:///{tmp_path / 'state' / 'cosell.db'}")
    with store.engine.connect() as conn:
        hashes = [row[0] for row in conn.exec_driver_sql("SELECT password_hash FROM users")]
    store.close()
    assert hashes == [None]  # only the single-sign-on user is left


def test_passwords_are_stored_as_argon2id_hashes(tmp_path: Path) -> None:
    run(tmp_path, "add", "vera", "--password-stdin", stdin="viewer-password-1\n")
    store = Store.open(f"sqlite:///{tmp_path / 'state' / 'cosell.db'}")
    with store.engine.connect() as conn:
        [stored] = [row[0] for row in conn.exec_driver_sql("SELECT password_hash FROM users")]
    store.close()
    assert stored.startswith("$argon2id$")
    assert "viewer-password-1" not in stored


def test_open_access_only_on_loopback(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'c.db'}")
    clock = ManualClock()
    service = {"state_dir": str(tmp_path), "dashboard_sign_in": False}
    assert console_auth(Settings(service=service), store, clock).open_access
    public = Settings(service=service | {"host": ANY_ADDRESS})
    with pytest.raises(ConfigError, match=r"service\.dashboard_sign_in"):
        console_auth(public, store, clock)
    assert not console_auth(
        Settings(service={"state_dir": str(tmp_path)}), store, clock
    ).open_access
    store.close()


def test_a_generated_session_key_is_private_and_kept(tmp_path: Path) -> None:
    settings = Settings(service={"state_dir": str(tmp_path)})
    key = session_key(settings)
    assert len(key) >= 48
    assert stat.S_IMODE((tmp_path / "session.key").stat().st_mode) == 0o600
    assert session_key(settings) == key


def test_processes_starting_together_share_one_session_key(tmp_path: Path) -> None:
    settings = Settings(service={"state_dir": str(tmp_path)})
    with ThreadPoolExecutor(max_workers=16) as pool:
        keys = set(pool.map(lambda _: session_key(settings), range(64)))
    assert len(keys) == 1
    assert len(keys.pop()) >= 48
    assert [p.name for p in tmp_path.iterdir()] == ["session.key"]


def test_allowed_hosts_cover_loopback_the_public_url_and_extras() -> None:
    settings = Settings(
        service={"host": ANY_ADDRESS, "allowed_hosts": ["cosell.internal"]},
        partner_center={"webhook_public_url": "https://hooks.example.com/webhooks/partner-center"},
    )
    hosts = console_hosts(settings)
    assert {"127.0.0.1", "localhost", "cosell.internal", "hooks.example.com"} <= set(hosts)
    assert ANY_ADDRESS not in hosts


def test_expiring_referrals_are_read_at_most_every_five_minutes() -> None:
    class Client:
        calls = 0

        def list_referrals(self, **_: object) -> list[object]:
            Client.calls += 1
            return []

    clock = ManualClock()
    read = cached_expiring(Client(), clock)  # type: ignore[arg-type]
    assert read().referrals == []
    read()
    assert Client.calls == 1
    clock.advance(301)
    read()
    assert Client.calls == 2


def test_a_wildcard_listener_without_public_names_is_warned_about() -> None:
    with capture_logs() as logs:
        hosts = console_hosts(Settings(service={"host": ANY_ADDRESS}))
    assert set(hosts) == {"127.0.0.1", "localhost", "[::1]", "::1"}
    assert [e["event"] for e in logs] == ["service.hosts_loopback_only"]


def test_with_several_tenants_users_belong_to_the_tenant_named(tmp_path: Path) -> None:
    path = config(tmp_path)
    path.write_text(path.read_text() + "[tenants.alpha]\n[tenants.beta]\n")

    def users(*args: str, stdin: str | None = None) -> tuple[int, str]:
        result = CliRunner().invoke(main, [*args, "--config", str(path)], stdin)
        return result.exit_code, result.output

    password = "a-long-password-1\n"
    code, out = users("users", "add", "ann", "--password-stdin", stdin=password)
    assert code == 2
    assert "several tenants: name one (alpha, beta)" in out
    added = users("--tenant", "alpha", "users", "add", "ann", "--password-stdin", stdin=password)
    assert added == (0, "added ann (viewer) to tenant alpha\n")
    assert users("--tenant", "beta", "users", "add", "bo", "--sso")[0] == 0
    assert users("--tenant", "alpha", "users", "list") == (0, "ann\tviewer\tpassword\n")
    assert users("--tenant", "beta", "users", "list") == (0, "bo\tviewer\tsso\n")
    code, out = users("--tenant", "beta", "users", "set-role", "ann", "admin")
    assert code == 1
    assert "no user is named 'ann'" in out
    code, out = users("--tenant", "beta", "users", "token", "ann", "script")
    assert code == 1
    assert users("--tenant", "beta", "users", "remove", "ann")[0] == 1
    assert users("--tenant", "alpha", "users", "remove", "ann") == (0, "removed ann\n")
