"""What ``cosell sandbox`` prints once it is up: the URLs and how to act as each side."""

from __future__ import annotations

from typing import Any

API_VERSION = "62.0"
LIST_OPPORTUNITIES = (
    "SELECT Id, Name, StageName, Referral_Identifier__c, Co_sell_Sync_Status__c FROM Opportunity"
)


def instructions(content: dict[str, Any]) -> str:
    """The text shown to the user, with curl lines filled in for this sandbox."""
    if content.get("crm") == "hubspot":
        return hubspot_instructions(content)
    pc, sf, app = content["partner_center"], content["salesforce"], content["connector"]
    api = f"{sf['url']}/services/data/v{API_VERSION}"
    return "\n".join(
        [
            "cosell sandbox is up.",
            "",
            f"  connector status  {app['status_url']}",
            f"  Partner Center    {pc['url']}   (emulated; controls under /_emulator)",
            f"  Salesforce        {sf['url']}   (emulated; controls under /_emulator)",
            f"  state             {content['state_dir']}  (manifest: sandbox.json)",
            "",
            "Act as a Microsoft seller: share a referral, then change it",
            f"  curl -s -X POST {pc['url']}/_emulator/referrals -H 'Content-Type: application/json'"
            ' -d \'{"name": "Woodgrove: AI pilot", "type": "Shared",'
            ' "details": {"dealValue": 20000, "currency": "USD"}}\'',
            f"  curl -s -X PATCH {pc['url']}/_emulator/referrals/REFERRAL_ID"
            " -H 'Content-Type: application/json' -d '{\"details\": {\"dealValue\": 35000}}'",
            "",
            "Act as a partner seller in Salesforce: sign in, then flag an opportunity",
            f"  TOKEN=$(curl -s {sf['token_url']} -d grant_type=password"
            f" -d client_id={sf['client_id']} -d client_secret={sf['client_secret']}"
            f" -d username={sf['username']} -d password={sf['password']}"
            " | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
            f"  curl -s -X PATCH {api}/sobjects/Opportunity/OPPORTUNITY_ID"
            " -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json'"
            " -d '{\"Sync_with_Partner_Center__c\": true}'",
            f'  curl -s {api}/query -H "Authorization: Bearer $TOKEN" --get'
            f" --data-urlencode 'q={LIST_OPPORTUNITIES}'",
            "",
            "Watch the connector",
            f"  open {app['status_url']}   curl -s {app['health_url']}",
            f"  curl -s {pc['url']}/_emulator/calls   curl -s {pc['url']}/_emulator/deliveries",
            "",
            "Run other commands (status, audit, doctor, sync ...) against it",
            f"  cosell status --config {content['config_file']}   (its secrets: secrets.json)",
            "",
            "Stop with Ctrl-C (state is kept; run again to continue).",
        ]
    )


def hubspot_instructions(content: dict[str, Any]) -> str:
    """The text for a sandbox syncing with the HubSpot emulator."""
    pc, hs, app = content["partner_center"], content["hubspot"], content["connector"]
    auth = f"-H 'Authorization: Bearer {hs['token']}' -H 'Content-Type: application/json'"
    flagged = (
        '{"properties": {"dealname": "Contoso rollout", "dealstage": "qualifiedtobuy", '
        '"amount": "50000", "cosell_sync_with_partner_center": "true", '
        '"cosell_help_code": "Proof of concept or demo", "cosell_products": "SOL-1"}}'
    )
    return "\n".join(
        [
            "cosell sandbox is up (CRM: HubSpot).",
            "",
            f"  connector status  {app['status_url']}",
            f"  Partner Center    {pc['url']}   (emulated; controls under /_emulator)",
            f"  HubSpot           {hs['url']}   (emulated; controls under /_emulator)",
            "",
            "Flag a deal for co-sell in HubSpot:",
            f"  curl -s {auth} -d '{flagged}' {hs['url']}/crm/v3/objects/deals",
            "",
            f"Share a referral as a Microsoft seller: POST {pc['control_url']}/referrals",
            f"Settings: {content['config_file']}; stop with Ctrl-C.",
        ]
    )
