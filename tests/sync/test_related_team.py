"""The partner sales team ⇄ Opportunity team members, matched to users by email; members with no
user stay in Partner Center untouched and are reported."""

from __future__ import annotations

from engine_world import World

AVERY = {"firstName": "Avery", "lastName": "Stone", "email": "astone@partner.example"}
OUTSIDER = {"firstName": "Sam", "lastName": "Field", "email": "sam@reseller.example"}
BLAKE_EMAIL = "brivera@partner.example"


def team_emails(world: World, opp_id: str) -> set[str]:
    rows = world.query(
        "SELECT User.Email FROM OpportunityTeamMember "  # noqa: S608
        f"WHERE OpportunityId = '{opp_id}'"
    )
    return {row["User"]["Email"] for row in rows}


def referral_team(world: World, rid: str) -> set[str]:
    return {m["email"] for m in world.referral(rid)["team"]}


def user_id(world: World, email: str) -> str:
    [user] = world.query(f"SELECT Id FROM User WHERE Email = '{email}'")  # noqa: S608
    return str(user["Id"])


def test_team_members_are_matched_by_email_and_unmatched_ones_are_kept(world: World) -> None:
    referral = world.share_referral(
        details={"dealValue": 1, "closingDateTime": "2026-12-31T00:00:00Z"},
        customerProfile={"name": "Wingtip", "address": {"country": "US"}},
        team=[AVERY, OUTSIDER],
    )
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    assert team_emails(world, opp_id) == {AVERY["email"]}
    assert referral_team(world, rid) == {AVERY["email"], OUTSIDER["email"]}
    rows = world.store.audit_for(world.tenant, rid)
    assert any("sam@reseller.example matches no active" in r.message for r in rows)

    world.edit(opp_id, StageName="Qualification")  # accepted: CRM edits flow from now on
    world.sync(f"opportunity:{opp_id}")
    # A seller adds a colleague and removes Avery in the CRM.
    member = {"OpportunityId": opp_id, "UserId": user_id(world, BLAKE_EMAIL)}
    world.sf_client.create("OpportunityTeamMember", member)
    [avery] = world.query(
        "SELECT Id FROM OpportunityTeamMember "  # noqa: S608
        f"WHERE OpportunityId = '{opp_id}' AND User.Email = '{AVERY['email']}'"
    )
    world.sf_client.delete("OpportunityTeamMember", avery["Id"])
    world.sync(f"opportunity:{opp_id}")
    assert referral_team(world, rid) == {BLAKE_EMAIL, OUTSIDER["email"]}

    # Microsoft's side drops Blake again: the team member goes.
    world.microsoft_update(rid, team=[OUTSIDER])
    world.sync(f"referral:{rid}")
    assert team_emails(world, opp_id) == set()
    assert referral_team(world, rid) == {OUTSIDER["email"]}

    before = world.writes()
    world.sync(f"opportunity:{opp_id}")
    world.sync(f"referral:{rid}")
    assert world.writes() == before


def test_a_team_with_a_person_twice_or_without_an_email_reads_back_as_it_is(
    world: World,
) -> None:
    twice = {"firstName": "Av", "email": AVERY["email"].upper(), "phoneNumber": "+1 555"}
    no_email = {"firstName": "Kim", "lastName": "Ito"}
    team = [AVERY, twice, no_email, OUTSIDER]
    referral = world.share_referral(
        details={"dealValue": 1, "closingDateTime": "2026-12-31T00:00:00Z"},
        customerProfile={"name": "Wingtip", "address": {"country": "US"}},
        team=team,
    )
    rid = str(referral["id"])
    world.sync(f"referral:{rid}")
    opp_id = world.engine.crm.find_by_referral(rid)
    assert opp_id is not None
    assert team_emails(world, opp_id) == {AVERY["email"]}
    snap = world.engine.read("referral", rid)
    assert snap.crm_values is not None
    assert snap.crm_values["partner_team"] == world.link_for(opp_id).base["partner_team"]

    world.edit(opp_id, StageName="Qualification")
    world.sync(f"opportunity:{opp_id}")
    assert world.referral(rid)["team"] == referral["team"]
    before = world.writes()
    world.sync(f"referral:{rid}")
    world.full_pass()
    assert world.writes() == before
