"""Several tenants in one deployment: ``[tenants.<name>]`` over the shared defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosell.errors import ConfigError
from cosell.settings import load_settings

TWO = """
[service]
state_dir = "{state}"

[partner_center]
api_url = "https://pc.example"
client_id = "shared-app"

[salesforce]
auth_mode = "client_credentials"
client_id = "shared-sf"

[tenants.contoso.partner_center]
client_id = "contoso-app"
[tenants.contoso.salesforce]
instance_url = "https://contoso.my.salesforce.com"
[tenants.contoso.sync]
mapping_file = "contoso-mapping.toml"

[tenants.fabrikam]
secrets_file = "{secrets}"
[tenants.fabrikam.salesforce]
instance_url = "https://fabrikam.my.salesforce.com"
"""


def write(tmp_path: Path, text: str, secrets: str = "") -> Path:
    secrets_file = tmp_path / "fabrikam.env"
    secrets_file.write_text(secrets or "{}")
    secrets_file.chmod(0o600)
    config = tmp_path / "cosell.toml"
    config.write_text(text.format(state=tmp_path / "state", secrets=secrets_file))
    return config


def test_each_tenant_gets_its_own_settings_over_the_shared_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSELL_TENANT_CONTOSO_SF_CLIENT_SECRET", "contoso-secret")
    config = write(tmp_path, TWO, '{"COSELL_SF_CLIENT_SECRET": "fabrikam-secret"}')
    settings = load_settings(config)
    contoso, fabrikam = settings.tenant_settings()
    assert (contoso.tenant.name, fabrikam.tenant.name) == ("contoso", "fabrikam")
    assert contoso.partner_center.client_id == "contoso-app"
    assert fabrikam.partner_center.client_id == "shared-app"
    assert contoso.partner_center.api_url == fabrikam.partner_center.api_url == "https://pc.example"
    assert str(contoso.salesforce.instance_url) == "https://contoso.my.salesforce.com"
    assert str(fabrikam.salesforce.instance_url) == "https://fabrikam.my.salesforce.com"
    assert contoso.sync.mapping_file == Path("contoso-mapping.toml")
    assert fabrikam.sync.mapping_file is None
    assert contoso.salesforce.client_secret is not None
    assert contoso.salesforce.client_secret.get_secret_value() == "contoso-secret"
    assert fabrikam.salesforce.client_secret is not None
    assert fabrikam.salesforce.client_secret.get_secret_value() == "fabrikam-secret"
    # each tenant keeps its Partner Center refresh token apart
    assert contoso.refresh_token_path != fabrikam.refresh_token_path
    contoso.require_salesforce()
    assert not contoso.tenants
    assert contoso.database_url == settings.database_url


def test_a_tenant_never_runs_on_the_top_level_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSELL_SF_CLIENT_SECRET", "the-deployments-secret")
    settings = load_settings(write(tmp_path, TWO))
    for tenant in settings.tenant_settings():
        assert tenant.salesforce.client_secret is None
        with pytest.raises(ConfigError, match=r"salesforce\.client_secret"):
            tenant.require_salesforce()


def test_one_tenant_config_works_unchanged(tmp_path: Path) -> None:
    config = tmp_path / "cosell.toml"
    config.write_text('[tenant]\nname = "acme"\n')
    settings = load_settings(config)
    assert [s.tenant.name for s in settings.tenant_settings()] == ["acme"]
    assert settings.for_tenant(None) is settings
    assert settings.for_tenant("acme") is settings
    with pytest.raises(ConfigError, match="no tenant 'other'"):
        settings.for_tenant("other")


def test_choosing_a_tenant(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, TWO))
    assert settings.for_tenant("fabrikam").tenant.name == "fabrikam"
    with pytest.raises(ConfigError, match=r"several tenants: name one \(contoso, fabrikam\)"):
        settings.for_tenant(None)
    with pytest.raises(ConfigError, match="no tenant 'nope'"):
        settings.for_tenant("nope")


def test_bad_tenant_input_is_named(tmp_path: Path) -> None:
    config = write(tmp_path, TWO + '\n[tenants.bad.partner_center]\nclient_secret = "x"\n')
    with pytest.raises(ConfigError, match=r"tenants\.bad\.partner_center\.client_secret") as caught:
        load_settings(config).for_tenant("bad")
    assert "COSELL_TENANT_BAD_PC_CLIENT_SECRET" in str(caught.value)
    config = write(tmp_path, TWO + "\n[tenants.odd.sync]\npoll_min_interval = -1\n")
    with pytest.raises(ConfigError, match=r"tenants\.odd\.sync\.poll_min_interval"):
        load_settings(config).for_tenant("odd")
    config = write(tmp_path, TWO.replace("tenants.contoso", '"tenants"."has space"', 1))
    with pytest.raises(ConfigError, match="not a tenant name"):
        load_settings(config)


def test_a_secrets_file_others_may_read_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, TWO, '{"COSELL_SF_CLIENT_SECRET": "s3cret"}')
    (tmp_path / "fabrikam.env").chmod(0o644)
    with pytest.raises(ConfigError, match="readable by other users") as caught:
        load_settings(config).for_tenant("fabrikam")
    assert "s3cret" not in str(caught.value)
    (tmp_path / "fabrikam.env").chmod(0o600)
    (tmp_path / "fabrikam.env").write_text('{"COSELL_SESSION_KEY": "s3cret"}')
    with pytest.raises(ConfigError, match="not a tenant's secrets: COSELL_SESSION_KEY") as caught:
        load_settings(config).for_tenant("fabrikam")
    assert "s3cret" not in str(caught.value)
