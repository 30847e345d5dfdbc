"""``cosell setup salesforce`` through the CLI, over an injected HTTP factory."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from org_fakes import TinyOrg

from cosell.cli.main import main
from cosell.cli.setup import choose_grant, split_login_url
from cosell.clients.salesforce_auth import ClientCredentialsGrant, JwtBearerGrant, PasswordGrant

ARGS = ["setup", "salesforce", "--login-url", "https://login.example", "--client-id", "cid"]


def run(org: TinyOrg, *extra: str) -> tuple[int, str]:
    def factory(base_url: str) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(org), base_url=base_url)

    env = {"COSELL_SF_CLIENT_SECRET": "csecret"}
    result = CliRunner().invoke(main, [*ARGS, *extra], obj={"http_factory": factory}, env=env)
    return result.exit_code, result.output


def test_setup_twice_then_nothing_to_change() -> None:
    org = TinyOrg()
    code, output = run(org)
    assert code == 0, output
    assert "Created: 1 object, 14 fields, 8 stages, 1 permission set, 1 assignment" in output
    assert "Granted: access to 1 object, access to 14 fields" in output
    code, output = run(org)
    assert code == 0, output
    assert "Nothing to change: 14 fields, 1 object, 12 stages, object and field access OK" in output


def test_check_exits_1_listing_missing_and_changes_nothing() -> None:
    org = TinyOrg()
    code, output = run(org, "--check")
    assert code == 1
    assert (
        "Missing: 1 object, 14 fields, 8 stages, 1 permission set, access to 1 object,"
        " access to 14 fields, 1 assignment" in output
    )
    assert "Microsoft_Solution__c" in output
    assert org.writes == []
    assert run(org)[0] == 0
    code, output = run(org, "--check")
    assert code == 0
    assert "Nothing to change" in output


def test_wrong_type_fails_the_run_and_is_left_alone() -> None:
    org = TinyOrg()
    org.add_field("Opportunity", "Audit__c", "string", length=255)
    code, output = run(org)
    assert code == 1
    assert "Differs: 1 field\n" in output
    assert org.objects["Opportunity"]["Audit__c"]["type"] == "string"


def test_login_failure_exits_2_without_secrets() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "invalid_client", "error_description": "bad"})

    def factory(base_url: str) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(refuse), base_url=base_url)

    env = {"COSELL_SF_CLIENT_SECRET": "csecret-XYZ"}
    result = CliRunner().invoke(main, ARGS, obj={"http_factory": factory}, env=env)
    assert result.exit_code == 2
    assert "invalid_client" in result.output
    assert "csecret-XYZ" not in result.output


def test_grant_is_chosen_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("COSELL_SF_JWT_KEY_FILE", "COSELL_SF_CLIENT_SECRET", "COSELL_SF_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COSELL_SF_CLIENT_SECRET", "s")
    assert isinstance(choose_grant("auto", "cid", None, "https://l"), ClientCredentialsGrant)
    monkeypatch.setenv("COSELL_SF_PASSWORD", "p")
    assert isinstance(choose_grant("auto", "cid", "u", "https://l"), PasswordGrant)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "key.pem").write_bytes(pem)
    monkeypatch.setenv("COSELL_SF_JWT_KEY_FILE", str(tmp_path / "key.pem"))
    grant = choose_grant("auto", "cid", "u", "https://l")
    assert isinstance(grant, JwtBearerGrant)
    assert grant.audience == "https://l"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "https://test.salesforce.com",
            ("https://test.salesforce.com", "https://test.salesforce.com/services/oauth2/token"),
        ),
        (
            "http://127.0.0.1:8602/services/oauth2/token",
            ("http://127.0.0.1:8602", "http://127.0.0.1:8602/services/oauth2/token"),
        ),
    ],
)
def test_login_url_forms(given: str, expected: tuple[str, str]) -> None:
    assert split_login_url(given) == expected
