from pathlib import Path

import pytest

from cosell.errors import ConfigError
from cosell.settings import SECRET_ENV, load_settings

CONFIG = """
[service]
port = 9000
workers = 2

[salesforce]
instance_url = "https://acme.my.salesforce.com"
client_id = "connected-app"
username = "sync@acme.example"
auth_mode = "jwt"

[tenant]
name = "acme"
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("COSELL_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "cosell.toml"
    path.write_text(text)
    return path


def test_file_overrides_default(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path))
    assert settings.service.port == 9000
    assert settings.service.host == "127.0.0.1"
    assert settings.tenant.name == "acme"


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSELL_SERVICE__PORT", "9100")
    monkeypatch.setenv("COSELL_SALESFORCE__API_VERSION", "60.0")
    settings = load_settings(write(tmp_path))
    assert settings.service.port == 9100
    assert settings.salesforce.api_version == "60.0"
    assert settings.service.workers == 2


def test_database_defaults_to_sqlite_in_state_dir(tmp_path: Path) -> None:
    path = write(tmp_path, f'[service]\nstate_dir = "{tmp_path / "state"}"\n')
    assert load_settings(path).database_url == f"sqlite:///{tmp_path / 'state' / 'cosell.db'}"


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        ('[service]\nport = "http"\n', {}, "service.port"),
        ("[service]\nport = 80\n", {"COSELL_SERVICE__PORT": "x"}, "service.port"),
        ('[salesforce]\nauth_mode = "magic"\n', {}, "salesforce.auth_mode"),
        ('[salesforce]\napi_version = "v62"\n', {}, "salesforce.api_version"),
        ("[salesforce]\ninstance_urll = 'x'\n", {}, "salesforce.instance_urll"),
        ("[sync]\npoll_min_interval = 90\n", {}, "sync.poll_max_interval"),
        ("[sync]\nsettle_seconds = 0.5\n", {}, "sync.settle_seconds"),
        ("[nonsense]\nx = 1\n", {}, "nonsense"),
        ('[salesforce]\npassword = "hunter2"\n', {}, "salesforce.password"),
        ("[service\n", {}, "cosell.toml"),
    ],
)
def test_bad_value_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, env: dict[str, str], key: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text))
    assert caught.value.key.endswith(key)
    assert "hunter2" not in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "absent.toml")


def test_secrets_come_from_short_variables_and_never_print(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index, name in enumerate(SECRET_ENV):
        monkeypatch.setenv(name, f"s3cret-{index}")
    settings = load_settings(write(tmp_path))
    assert settings.salesforce.password is not None
    assert settings.salesforce.password.get_secret_value() == "s3cret-3"
    assert settings.partner_center.client_secret is not None
    assert settings.partner_center.client_secret.get_secret_value() == "s3cret-0"
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for index, name in enumerate(SECRET_ENV):
        if not name.endswith("_FILE"):
            assert f"s3cret-{index}" not in shown


@pytest.mark.parametrize(
    ("mode", "missing"),
    [
        ("jwt", "salesforce.jwt_key_file"),
        ("client_credentials", "salesforce.client_secret"),
        ("refresh_token", "salesforce.refresh_token"),
        ("password", "salesforce.client_secret"),
    ],
)
def test_salesforce_sign_in_needs_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, missing: str
) -> None:
    monkeypatch.setenv("COSELL_SALESFORCE__AUTH_MODE", mode)
    settings = load_settings(write(tmp_path))
    with pytest.raises(ConfigError) as caught:
        settings.require_salesforce()
    assert caught.value.key == missing


def test_complete_sign_in_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSELL_SF_CLIENT_SECRET", "x")
    monkeypatch.setenv("COSELL_SALESFORCE__AUTH_MODE", "client_credentials")
    monkeypatch.setenv("COSELL_PARTNER_CENTER__CLIENT_ID", "app")
    settings = load_settings(write(tmp_path))
    settings.require_salesforce()
    settings.require_partner_center()


def test_ropc_names_the_password_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSELL_PARTNER_CENTER__AUTH_MODE", "ropc")
    monkeypatch.setenv("COSELL_PARTNER_CENTER__CLIENT_ID", "app")
    monkeypatch.setenv("COSELL_PARTNER_CENTER__USERNAME", "me@partner.example")
    with pytest.raises(ConfigError, match="COSELL_PC_PASSWORD") as caught:
        load_settings(write(tmp_path)).require_partner_center()
    assert caught.value.key == "partner_center.password"


def test_hubspot_webhooks_need_the_apps_client_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSELL_SYNC__CRM", "hubspot")
    monkeypatch.setenv("COSELL_HS_TOKEN", "pat-x")
    monkeypatch.setenv("COSELL_HUBSPOT__WEBHOOKS", "true")
    with pytest.raises(ConfigError, match="COSELL_HS_CLIENT_SECRET") as caught:
        load_settings(write(tmp_path)).require_crm()
    assert caught.value.key == "hubspot.client_secret"
    monkeypatch.setenv("COSELL_HS_CLIENT_SECRET", "app-secret")
    load_settings(write(tmp_path)).require_crm()


def test_example_config_at_repo_root_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "cosell.example.toml"
    settings = load_settings(example)
    assert settings.sync.poll_max_interval >= 28.8


def test_session_key_comes_from_the_environment_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSELL_SESSION_KEY", "a-long-random-key")
    secret = load_settings(write(tmp_path)).service.session_key
    assert secret is not None
    assert secret.get_secret_value() == "a-long-random-key"
    assert "a-long-random-key" not in repr(secret)
    monkeypatch.delenv("COSELL_SESSION_KEY")
    with pytest.raises(ConfigError, match="COSELL_SESSION_KEY"):
        load_settings(write(tmp_path, '[service]\nsession_key = "x"\n'))


def test_a_secrets_file_fills_in_the_secrets_the_environment_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("COSELL_PC_PASSWORD", "COSELL_SF_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COSELL_SF_PASSWORD", "from-the-environment")
    secrets = tmp_path / "secrets.json"
    secrets.write_text(
        '{"COSELL_PC_PASSWORD": "from-the-file", "COSELL_SF_PASSWORD": "ignored"}',
        encoding="utf-8",
    )
    secrets.chmod(0o600)
    config = tmp_path / "cosell.toml"
    config.write_text(f'[service]\nsecrets_file = "{secrets}"\n', encoding="utf-8")
    settings = load_settings(config)
    assert settings.partner_center.password is not None
    assert settings.partner_center.password.get_secret_value() == "from-the-file"
    assert settings.salesforce.password is not None
    assert settings.salesforce.password.get_secret_value() == "from-the-environment"

    secrets.chmod(0o644)
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert refused.value.key == "service.secrets_file"
    assert "chmod 600" in str(refused.value)
