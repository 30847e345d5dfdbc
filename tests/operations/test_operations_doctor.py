"""``cosell doctor`` against the emulator pair: all green once set up; a webhook registration
taken over by another URL, refused credentials and an old refresh token are caught with fixes."""

import json
import os
from datetime import timedelta
from pathlib import Path

from ops_world import HOOK_URL, PC, OpsWorld, make_world, routed

from cosell.clock import ManualClock
from cosell.operations.deployment import Deployment
from cosell.orgsetup.salesforce import OrgSetup
from cosell.orgsetup.spec import connector_spec
from cosell.settings import load_settings
from cosell.sync.core.mapping import default_mapping_text

OTHER_URL = "https://another-tool.example/partner-center/events"


def integration_user(world: OpsWorld) -> str:
    user: str = world.sf.state.emulator.org.integration_user_id
    return user


def set_up_org(world: OpsWorld, *, assign: bool = True) -> None:
    """``cosell setup salesforce``: the org's fields, object and the integration user's access."""
    settings = load_settings(world.config)
    assignee = integration_user(world) if assign else None
    with Deployment(settings, world.clock, routed(world.pc, world.sf)) as deployment:
        setup = OrgSetup(deployment.salesforce, connector_spec(), assignee_id=assignee)
        assert setup.apply().clean


def set_up(world: OpsWorld, *, assign: bool = True) -> None:
    """What an admin does once: the org, the webhook, the database."""
    set_up_org(world, assign=assign)
    settings = load_settings(world.config)
    with Deployment(settings, world.clock, routed(world.pc, world.sf)) as deployment:
        deployment.store.ensure_tenant("acme")
    assert world.cosell("webhooks", "register", "--url", HOOK_URL)[0] == 0


def checks(world: OpsWorld) -> tuple[int, dict[str, dict[str, str]]]:
    code, out, _ = world.cosell("doctor", "--json")
    return code, {c["name"]: c for c in json.loads(out)}


def test_all_green_after_setup(world: OpsWorld) -> None:
    set_up(world)
    code, found = checks(world)
    assert code == 0, found
    # the emulated tenant signs in with a password: MFA is only a warning against an emulator
    assert found.pop("Partner Center MFA")["level"] == "warn"
    assert {c["level"] for c in found.values()} == {"ok"}
    assert set(found) == {
        "Partner Center sign-in",
        "webhook registration",
        "Salesforce sign-in",
        "Salesforce org setup",
        "Salesforce access",
        "Mapping",
        "store schema",
        "queue",
    }


def test_webhook_taken_over_by_another_url_fails_with_the_fix(world: OpsWorld) -> None:
    set_up(world)
    args = ("webhooks", "register", "--url", OTHER_URL, "--overwrite")
    assert world.cosell(*args)[0] == 0

    code, out, _ = world.cosell("doctor")

    assert code == 1
    flat = " ".join(out.split())
    assert f"registration points at {OTHER_URL} — another tool took it over" in flat
    assert f"fix: run: cosell webhooks register --url {HOOK_URL} --overwrite" in flat


def test_missing_registration_and_org_fields_fail_with_their_commands(world: OpsWorld) -> None:
    code, found = checks(world)
    assert code == 1
    assert found["webhook registration"]["fix"] == f"run: cosell webhooks register --url {HOOK_URL}"
    org = found["Salesforce org setup"]
    assert (org["level"], org["fix"]) == ("fail", "run: cosell setup salesforce")
    assert "Referral_Identifier__c" in org["detail"] or "missing" in org["detail"]
    assert found["store"]["level"] == "warn"  # no database yet: cosell run creates it


def test_revoked_salesforce_session_and_bad_secret_fail(world: OpsWorld) -> None:
    set_up(world)
    assert world.sf_control().post("/_emulator/sessions/revoke").status_code < 300
    world.env["COSELL_SF_CLIENT_SECRET"] = "rotated-away"

    code, found = checks(world)

    assert code == 1
    sign_in = found["Salesforce sign-in"]
    assert sign_in["level"] == "fail"
    assert "invalid_client" in sign_in["detail"]
    assert "COSELL_SF_CLIENT_SECRET" in sign_in["fix"]
    assert found["Salesforce org setup"]["level"] == "skip"
    assert found["Salesforce access"]["level"] == "skip"
    assert found["Partner Center sign-in"]["level"] == "ok"


def refresh_token(world: OpsWorld) -> str:
    form = {
        "grant_type": "password",
        "client_id": PC.client_id,
        "client_secret": PC.client_secret,
        "username": PC.username,
        "password": PC.password,
        "resource": "https://api.partner.microsoft.com",
    }
    response = world.pc_control().post(f"/{PC.tenant}/oauth2/token", data=form)
    assert response.status_code == 200, response.text
    token: str = response.json()["refresh_token"]
    return token


def token_file(world: OpsWorld, token: str, age: timedelta) -> Path:
    path = load_settings(world.config).refresh_token_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(token)
    return age_file(world, path, age)


def age_file(world: OpsWorld, path: Path, age: timedelta) -> Path:
    stamp = (world.clock.now() - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_refresh_token_unused_for_70_days_warns(tmp_path: Path, clock: ManualClock) -> None:
    world = make_world(tmp_path, clock, pc_auth="app_user_refresh")
    path = token_file(world, refresh_token(world), timedelta(days=0))
    set_up(world)  # signs in: the token rotates
    age_file(world, path, timedelta(days=70))

    code, found = checks(world)

    token = found["Partner Center refresh token"]
    assert token["level"] == "warn"
    assert "70 days" in token["detail"]
    assert "90 days" in token["detail"]
    assert found["Partner Center sign-in"]["level"] == "ok"
    assert code == 0
    assert path.stat().st_mtime > clock.now().timestamp() - 60  # the sign-in renewed it


def test_expired_refresh_token_fails(tmp_path: Path, clock: ManualClock) -> None:
    world = make_world(tmp_path, clock, pc_auth="app_user_refresh")
    token_file(world, "refresh-token-nobody-issued", timedelta(days=91))

    code, found = checks(world)

    assert code == 1
    assert found["Partner Center refresh token"]["level"] == "fail"
    sign_in = found["Partner Center sign-in"]
    assert sign_in["level"] == "fail"
    assert "invalid_grant" in sign_in["detail"]
    assert "sign in again" in sign_in["fix"]
    assert found["webhook registration"]["level"] == "skip"


def test_an_unassigned_permission_set_fails_with_the_fix(world: OpsWorld) -> None:
    set_up(world, assign=False)
    code, found = checks(world)
    assert code == 1
    assert found["Salesforce org setup"]["level"] == "ok"
    access = found["Salesforce access"]
    assert access["level"] == "fail"
    assert "cosell Integration (assignment: missing)" in access["detail"]
    assert access["fix"].startswith("run: cosell setup salesforce")
    assert "assigns it to the integration user" in access["fix"]


def test_a_missing_object_grant_fails_naming_the_object_until_setup_runs(
    world: OpsWorld,
) -> None:
    set_up(world)
    rows = "SELECT Id FROM ObjectPermissions WHERE SobjectType = 'Microsoft_Solution__c'"
    settings = load_settings(world.config)
    with Deployment(settings, world.clock, routed(world.pc, world.sf)) as deployment:
        [grant] = list(deployment.salesforce.query(rows))
        deployment.salesforce.update("ObjectPermissions", grant["Id"], {"PermissionsDelete": False})

    code, found = checks(world)
    assert code == 1
    access = found["Salesforce access"]
    assert access["level"] == "fail"
    assert "Microsoft_Solution__c (object access: missing)" in access["detail"]

    set_up_org(world)
    code, found = checks(world)
    assert code == 0, found
    assert found["Salesforce access"]["level"] == "ok"


def test_doctor_checks_the_configured_mapping_not_the_shipped_one(
    world: OpsWorld, tmp_path: Path
) -> None:
    set_up(world)
    text = default_mapping_text().replace("crm: Description", "crm: Descriptoin")
    mapping = tmp_path / "custom-mapping.yaml"
    mapping.write_text(text)
    world.config.write_text(f'{world.config.read_text()}\n[sync]\nmapping_file = "{mapping}"\n')
    code, found = checks(world)
    assert code == 1
    assert found["Mapping"]["level"] == "fail"
    assert "fields.notes.crm: 'Descriptoin'" in found["Mapping"]["detail"]


def test_mfa_a_password_grant_cannot_satisfy_it_and_the_fix_is_named(world: OpsWorld) -> None:
    set_up(world)
    _, found = checks(world)
    mfa = found["Partner Center MFA"]
    assert mfa["level"] == "warn"  # the emulator's authority does not enforce it
    assert "password grant cannot satisfy" in mfa["detail"]
    assert 'auth_mode = "device_code"' in mfa["fix"]


def test_mfa_against_microsoft_s_authority_a_password_grant_fails(
    tmp_path: Path, clock: ManualClock
) -> None:
    world = make_world(tmp_path, clock)
    world.env["COSELL_PARTNER_CENTER__AUTHORITY"] = "https://login.microsoftonline.com"
    code, found = checks(world)
    assert code == 1
    assert found["Partner Center MFA"]["level"] == "fail"


def test_mfa_a_refresh_token_from_an_interactive_sign_in_can_satisfy_it(
    tmp_path: Path, clock: ManualClock
) -> None:
    world = make_world(tmp_path, clock, pc_auth="app_user_refresh")
    token_file(world, refresh_token(world), timedelta(days=0))
    _, found = checks(world)
    mfa = found["Partner Center MFA"]
    assert mfa["level"] == "ok"
    assert "interactive sign-in" in mfa["detail"]
