import pytest
from sync_samples import MAPPING

from cosell.sync.core.stages import (
    is_closed,
    is_on_hold,
    stage_from_crm,
    stage_to_crm,
    transition_allowed,
)

STAGES = MAPPING.stages

# (Partner Center status pair, CRM stage written, pair read back from that stage)
TABLE = [
    ("New/Pending", "On Hold", "New/Pending"),
    ("New/Received", "On Hold", "New/Pending"),
    ("Active/Accepted", "Qualification", "Active/Accepted"),
    ("Closed/Declined", "Declined", "Closed/Declined"),
    ("Closed/Won", "Closed Won", "Closed/Won"),
    ("Closed/Lost", "Closed Lost", "Closed/Lost"),
    ("Closed/Expired", "Closed Lost", "Closed/Lost"),
]


@pytest.mark.parametrize(("status", "stage", "read_back"), TABLE)
def test_status_to_stage_and_back(status: str, stage: str, read_back: str) -> None:
    assert stage_to_crm(status, STAGES) == stage
    assert stage_from_crm(stage, STAGES) == read_back


@pytest.mark.parametrize(
    "stage", ["Prospecting", "Negotiation/Review", "Some Custom Stage", "qualification"]
)
def test_open_and_unknown_crm_stages_read_as_accepted(stage: str) -> None:
    assert stage_from_crm(stage, STAGES) == "Active/Accepted"


def test_a_distinct_expired_stage_reads_back_as_expired() -> None:
    stages = STAGES.model_copy(update={"expired": "Expired"})
    assert stage_to_crm("Closed/Expired", stages) == "Expired"
    assert stage_from_crm("Expired", stages) == "Closed/Expired"


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        ("New/Pending", "Active/Accepted", True),
        ("New/Received", "Closed/Declined", True),
        ("Active/Accepted", "Closed/Won", True),
        ("Active/Accepted", "New/Pending", False),
        ("Closed/Won", "Active/Accepted", False),
        ("New/Pending", "Closed/Bogus", False),
        (None, "New/Pending", True),
    ],
)
def test_partner_center_transitions(current: str | None, new: str, allowed: bool) -> None:
    assert transition_allowed(current, new) is allowed


def test_hold_and_closed_predicates() -> None:
    assert is_on_hold("New/Received")
    assert not is_on_hold("Active/Accepted")
    assert is_closed("Closed/Expired")
    assert not is_closed("New/Pending")
    assert not is_closed(None)
