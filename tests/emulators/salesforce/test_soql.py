"""The emulator's SOQL engine: parsing, typed filtering, ordering, paging and row shapes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosell.emulators.salesforce.soql import (
    Comparison,
    FieldPath,
    Junction,
    Query,
    QueryResult,
    SoqlError,
    Subquery,
    execute,
    parse,
)

FIELD = "INVALID_FIELD"
NOW = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)  # a Saturday; weeks run Sunday to Saturday


def sfid(prefix: str, n: int) -> str:
    return f"{prefix}R00000{n:06d}AAA"


A1, A2, U1, U2 = sfid("001", 1), sfid("001", 2), sfid("005", 1), sfid("005", 2)
O1, O2, O3, O4 = (sfid("006", n) for n in range(1, 5))

SCHEMA: dict[str, dict[str, str]] = {
    "Opportunity": {
        "Id": "id",
        "Name": "string",
        "Amount": "currency",
        "CloseDate": "date",
        "StageName": "picklist",
        "IsPrivate": "boolean",
        "AccountId": "reference",
        "OwnerId": "reference",
        "Partner__c": "reference",
        "LastModifiedDate": "datetime",
        "Description": "textarea",
    },
    "Account": {"Id": "id", "Name": "string", "OwnerId": "reference"},
    "User": {"Id": "id", "Name": "string", "Email": "email"},
}
LINKS = {
    ("Opportunity", "account"): ("Account", "AccountId"),
    ("Opportunity", "owner"): ("User", "OwnerId"),
    ("Opportunity", "partner__r"): ("Account", "Partner__c"),
    ("Account", "owner"): ("User", "OwnerId"),
}
ACCOUNTS = {
    A1: {"Id": A1, "Name": "Acme Corp", "OwnerId": U1},
    A2: {"Id": A2, "Name": "Initech", "OwnerId": None},
}
USERS = {
    U1: {"Id": U1, "Name": "Ann", "Email": "ann@example.com"},
    U2: {"Id": U2, "Name": "Bob", "Email": "bob@example.org"},
}


def opportunity(oid: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"Id": oid, "Name": name} | fields


OPPORTUNITIES = [
    opportunity(
        O1,
        "Acme Expansion",
        Amount=5000,
        CloseDate="2026-03-15",
        StageName="Prospecting",
        IsPrivate=False,
        AccountId=A1,
        OwnerId=U1,
        Partner__c=A2,
        LastModifiedDate="2026-01-10T12:00:00.000+0000",
        Description="50% off_deal",
    ),
    opportunity(
        O2,
        "acme renewal",
        Amount=12000.5,
        CloseDate="2026-01-09",
        StageName="Closed Won",
        IsPrivate=True,
        AccountId=A1,
        OwnerId=U2,
        Partner__c=None,
        LastModifiedDate="2026-01-09T23:30:00.000+0000",
        Description=None,
    ),
    opportunity(
        O3,
        "Globex Deal",
        Amount=None,
        CloseDate=None,
        StageName="Prospecting",
        IsPrivate=False,
        AccountId=None,
        OwnerId=U1,
        Partner__c=None,
        LastModifiedDate="2025-12-31T23:59:59.000+0000",
        Description="it's \\ done",
    ),
    opportunity(
        O4,
        "Initech 'Quote'",
        Amount=700,
        CloseDate="2026-01-10",
        StageName="Negotiation",
        IsPrivate=False,
        AccountId=A2,
        OwnerId=U2,
        Partner__c=A1,
        LastModifiedDate="2026-01-10T00:00:00.000+0000",
        Description="multi\nline",
    ),
]
NAMES = {record["Id"]: record["Name"] for record in OPPORTUNITIES}
ALL = set(NAMES.values())


class FakeCatalog:
    """A three-object org: Opportunity, Account and User."""

    def canonical_object(self, name: str) -> str | None:
        return next((known for known in SCHEMA if known.lower() == name.lower()), None)

    def canonical_field(self, sobject: str, name: str) -> str | None:
        return next((known for known in SCHEMA[sobject] if known.lower() == name.lower()), None)

    def field_type(self, sobject: str, field: str) -> str:
        return SCHEMA[sobject][field]

    def relationship(self, sobject: str, name: str) -> tuple[str, str] | None:
        return LINKS.get((sobject, name.lower()))

    def targets(self, sobject: str, field: str) -> tuple[str, ...]:
        return tuple(t for (o, _), (t, f) in LINKS.items() if o == sobject and f == field)

    def get(self, sobject: str, record_id: str) -> Mapping[str, Any] | None:
        table: dict[str, dict[str, Any]] = {"Account": ACCOUNTS, "User": USERS}[sobject]
        return table.get(record_id)

    def attributes(self, sobject: str, record_id: str) -> dict[str, str]:
        return {"type": sobject, "url": f"/services/data/v62.0/sobjects/{sobject}/{record_id}"}

    def child_relationship(self, sobject: str, name: str) -> tuple[str, str, str] | None:
        if (sobject, name.lower()) == ("Account", "opportunities"):
            return "Opportunities", "Opportunity", "AccountId"
        return None

    def rows(self, sobject: str) -> list[dict[str, Any]]:
        return OPPORTUNITIES if sobject == "Opportunity" else list(ACCOUNTS.values())

    def matching(
        self, sobject: str, field: str, kind: str, keys: Sequence[Any], *, every: bool = False
    ) -> list[dict[str, Any]] | None:
        return None  # no index: every query reads all rows


def run(text: str, records: list[dict[str, Any]] | None = None) -> QueryResult:
    rows = OPPORTUNITIES if records is None else records
    return execute(parse(text), FakeCatalog(), rows, NOW)


def names_where(condition: str) -> set[str]:
    result = run(f"SELECT Name FROM Opportunity WHERE {condition}")  # noqa: S608
    return {row["Name"] for row in result.rows}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("Name = 'ACME EXPANSION'", {"Acme Expansion"}),
        ("name != 'acme expansion'", ALL - {"Acme Expansion"}),
        ("Name <> 'acme expansion'", ALL - {"Acme Expansion"}),
        ("Name < 'B'", {"Acme Expansion", "acme renewal"}),
        ("Amount > 1000", {"Acme Expansion", "acme renewal"}),
        ("Amount >= 700 AND Amount < 5000", {"Initech 'Quote'"}),
        ("Amount <= 700.0", {"Initech 'Quote'"}),
        ("Amount = 12000.5", {"acme renewal"}),
        ("Amount = null", {"Globex Deal"}),
        ("Amount != NULL", ALL - {"Globex Deal"}),
        ("Amount < 100000", ALL - {"Globex Deal"}),
        ("Amount != 700", ALL - {"Initech 'Quote'"}),
        ("Amount > null", set()),
        ("IsPrivate = true", {"acme renewal"}),
        ("IsPrivate = FALSE", ALL - {"acme renewal"}),
        ("StageName IN ('prospecting', 'Closed Won')", ALL - {"Initech 'Quote'"}),
        ("StageName NOT IN ('Prospecting')", {"acme renewal", "Initech 'Quote'"}),
        ("Amount IN (700, 5000)", {"Initech 'Quote'", "Acme Expansion"}),
        ("Description NOT IN ('multi\\nline')", ALL - {"Initech 'Quote'"}),
        ("Name LIKE 'acme%'", {"Acme Expansion", "acme renewal"}),
        ("Name LIKE '%_EAL'", {"Globex Deal"}),
        ("Name LIKE 'acme'", set()),
        ("Description LIKE '50\\% off\\_deal'", {"Acme Expansion"}),
        ("Description LIKE '50_ off%'", {"Acme Expansion"}),
        ("Description LIKE '50\\_%'", set()),
        ("Name = 'Initech \\'Quote\\''", {"Initech 'Quote'"}),
        ("Description = 'it\\'s \\\\ done'", {"Globex Deal"}),
        ("Description = 'multi\\nline'", {"Initech 'Quote'"}),
        ("NOT Name LIKE 'acme%'", {"Globex Deal", "Initech 'Quote'"}),
        # ORed LIKEs of one field are matched as one pattern: the same rows as each alone
        (
            "Name LIKE 'acme%' OR Name LIKE '%deal'",
            {"Acme Expansion", "acme renewal", "Globex Deal"},
        ),
        (
            "Name LIKE 'zzz%' OR Name LIKE '%_EAL' OR IsPrivate = true",
            {"Globex Deal", "acme renewal"},
        ),
        ("Name LIKE 'acme%' OR Description LIKE '50_ off%'", {"Acme Expansion", "acme renewal"}),
        ("NOT (Name LIKE 'acme%' OR Name LIKE 'globex%')", {"Initech 'Quote'"}),
        ("Name LIKE 'acme' OR Name LIKE 'expansion'", set()),
        (
            "(Amount > 1000 OR Amount = null) AND StageName = 'Prospecting'",
            {
                "Acme Expansion",
                "Globex Deal",
            },
        ),
        ("NOT (StageName = 'Prospecting' OR IsPrivate = true)", {"Initech 'Quote'"}),
        ("Amount > 0 AND (Name LIKE 'a%' AND IsPrivate = false)", {"Acme Expansion"}),
        ("CloseDate = 2026-01-09", {"acme renewal"}),
        ("CloseDate > 2026-01-09", {"Acme Expansion", "Initech 'Quote'"}),
        ("CloseDate != 2026-01-09", ALL - {"acme renewal"}),
        ("LastModifiedDate = 2026-01-10T07:00:00-05:00", {"Acme Expansion"}),
        ("LastModifiedDate = 2026-01-10T12:00:00.999Z", {"Acme Expansion"}),
        ("LastModifiedDate >= 2026-01-10T00:00:00Z", {"Acme Expansion", "Initech 'Quote'"}),
        ("LastModifiedDate < 2026-01-10T01:00:00+01:00", {"acme renewal", "Globex Deal"}),
        ("LastModifiedDate > 2026-01-09T23:29:59+00:00", ALL - {"Globex Deal"}),
        ("CloseDate = TODAY", {"Initech 'Quote'"}),
        ("CloseDate = yesterday", {"acme renewal"}),
        ("CloseDate < TODAY", {"acme renewal"}),
        ("CloseDate > TODAY", {"Acme Expansion"}),
        ("CloseDate <= TOMORROW", {"acme renewal", "Initech 'Quote'"}),
        ("CloseDate = LAST_N_DAYS:1", {"acme renewal", "Initech 'Quote'"}),
        ("CloseDate = N_DAYS_AGO:1", {"acme renewal"}),
        ("CloseDate = THIS_WEEK", {"acme renewal", "Initech 'Quote'"}),
        ("CloseDate = LAST_WEEK", set()),
        ("CloseDate = NEXT_N_MONTHS:3", {"Acme Expansion"}),
        ("CloseDate = THIS_MONTH", {"acme renewal", "Initech 'Quote'"}),
        ("CloseDate >= NEXT_MONTH", {"Acme Expansion"}),
        ("CloseDate = THIS_QUARTER", ALL - {"Globex Deal"}),
        ("CloseDate = NEXT_90_DAYS", {"Acme Expansion"}),
        ("LastModifiedDate = TODAY", {"Acme Expansion", "Initech 'Quote'"}),
        ("LastModifiedDate = LAST_N_DAYS:1", ALL - {"Globex Deal"}),
        ("LastModifiedDate < THIS_YEAR", {"Globex Deal"}),
        ("LastModifiedDate = LAST_YEAR", {"Globex Deal"}),
        ("LastModifiedDate = LAST_N_MONTHS:1", {"Globex Deal"}),
        ("LastModifiedDate > YESTERDAY", {"Acme Expansion", "Initech 'Quote'"}),
        ("LastModifiedDate >= YESTERDAY", ALL - {"Globex Deal"}),
        (f"Id = '{O1}'", {"Acme Expansion"}),
        (f"Id = '{O1[:15]}'", {"Acme Expansion"}),
        (f"Id = '{O1[:15]}ZZZ'", {"Acme Expansion"}),
        (f"Id = '{O1[:15].lower()}'", set()),
        (f"AccountId IN ('{A1}', '{A2[:15]}')", ALL - {"Globex Deal"}),
        ("AccountId = null", {"Globex Deal"}),
        # IN is one set lookup, NOT IN its complement with nulls kept: as the runs of = and !=
        (f"AccountId NOT IN ('{A1}')", ALL - {"Acme Expansion", "acme renewal"}),
        (f"AccountId != '{A1}'", ALL - {"Acme Expansion", "acme renewal"}),
        ("Name IN ('ACME EXPANSION', 'globex deal', 'nobody')", {"Acme Expansion", "Globex Deal"}),
        ("Amount IN (700, null)", {"Initech 'Quote'", "Globex Deal"}),
        ("Amount NOT IN (700, null)", ALL - {"Initech 'Quote'", "Globex Deal"}),
        ("CloseDate IN (2026-01-09, TODAY)", {"acme renewal", "Initech 'Quote'"}),
        ("Account.Name = 'acme corp'", {"Acme Expansion", "acme renewal"}),
        ("Account.Name != 'Acme Corp'", {"Globex Deal", "Initech 'Quote'"}),
        ("Owner.Email LIKE '%@example.com'", {"Acme Expansion", "Globex Deal"}),
        ("Partner__r.Name = 'Initech'", {"Acme Expansion"}),
        ("Account.Owner.Name = 'Ann'", {"Acme Expansion", "acme renewal"}),
        ("Account.Owner.Name = null", {"Globex Deal", "Initech 'Quote'"}),
    ],
)
def test_where_selects_the_matching_records(condition: str, expected: set[str]) -> None:
    assert names_where(condition) == expected


def every_day(first: date, last: date) -> list[dict[str, Any]]:
    days = [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]
    return [{"Id": sfid("006", n), "CloseDate": day.isoformat()} for n, day in enumerate(days)]


CALENDAR = every_day(date(2023, 12, 1), date(2028, 1, 31))


@pytest.mark.parametrize(
    ("literal", "first", "last"),
    [
        ("TODAY", "2026-01-10", "2026-01-10"),
        ("YESTERDAY", "2026-01-09", "2026-01-09"),
        ("TOMORROW", "2026-01-11", "2026-01-11"),
        ("THIS_WEEK", "2026-01-04", "2026-01-10"),
        ("LAST_WEEK", "2025-12-28", "2026-01-03"),
        ("NEXT_WEEK", "2026-01-11", "2026-01-17"),
        ("THIS_MONTH", "2026-01-01", "2026-01-31"),
        ("LAST_MONTH", "2025-12-01", "2025-12-31"),
        ("NEXT_MONTH", "2026-02-01", "2026-02-28"),
        ("LAST_90_DAYS", "2025-10-12", "2026-01-10"),
        ("NEXT_90_DAYS", "2026-01-11", "2026-04-10"),
        ("LAST_N_DAYS:3", "2026-01-07", "2026-01-10"),
        ("NEXT_N_DAYS:2", "2026-01-11", "2026-01-12"),
        ("N_DAYS_AGO:10", "2025-12-31", "2025-12-31"),
        ("LAST_N_WEEKS:2", "2025-12-21", "2026-01-03"),
        ("NEXT_N_WEEKS:1", "2026-01-11", "2026-01-17"),
        ("N_WEEKS_AGO:2", "2025-12-21", "2025-12-27"),
        ("LAST_N_MONTHS:2", "2025-11-01", "2025-12-31"),
        ("NEXT_N_MONTHS:1", "2026-02-01", "2026-02-28"),
        ("N_MONTHS_AGO:12", "2025-01-01", "2025-01-31"),
        ("THIS_QUARTER", "2026-01-01", "2026-03-31"),
        ("LAST_QUARTER", "2025-10-01", "2025-12-31"),
        ("NEXT_QUARTER", "2026-04-01", "2026-06-30"),
        ("LAST_N_QUARTERS:2", "2025-07-01", "2025-12-31"),
        ("NEXT_N_QUARTERS:1", "2026-04-01", "2026-06-30"),
        ("N_QUARTERS_AGO:1", "2025-10-01", "2025-12-31"),
        ("THIS_YEAR", "2026-01-01", "2026-12-31"),
        ("LAST_YEAR", "2025-01-01", "2025-12-31"),
        ("NEXT_YEAR", "2027-01-01", "2027-12-31"),
        ("LAST_N_YEARS:1", "2025-01-01", "2025-12-31"),
        ("NEXT_N_YEARS:1", "2027-01-01", "2027-12-31"),
        ("N_YEARS_AGO:2", "2024-01-01", "2024-12-31"),
        ("THIS_FISCAL_QUARTER", "2026-01-01", "2026-03-31"),
        ("LAST_FISCAL_YEAR", "2025-01-01", "2025-12-31"),
        ("NEXT_N_FISCAL_QUARTERS:2", "2026-04-01", "2026-09-30"),
        ("N_FISCAL_YEARS_AGO:1", "2025-01-01", "2025-12-31"),
    ],
)
def test_relative_date_literals_cover_whole_days(literal: str, first: str, last: str) -> None:
    span = run(f"SELECT CloseDate FROM Opportunity WHERE CloseDate = {literal}", CALENDAR)  # noqa: S608
    days = [row["CloseDate"] for row in span.rows]
    expected = date.fromisoformat(last).toordinal() - date.fromisoformat(first).toordinal() + 1
    assert (days[0], days[-1], len(days)) == (first, last, expected)
    before = run(f"SELECT COUNT() FROM Opportunity WHERE CloseDate < {literal}", CALENDAR)  # noqa: S608
    assert before.total_size == sum(record["CloseDate"] < first for record in CALENDAR)


@pytest.mark.parametrize(
    ("clauses", "expected"),
    [
        ("ORDER BY Amount", [O3, O4, O1, O2]),
        ("ORDER BY Amount ASC", [O3, O4, O1, O2]),
        ("ORDER BY Amount DESC", [O2, O1, O4, O3]),
        ("ORDER BY Amount ASC NULLS LAST", [O4, O1, O2, O3]),
        ("ORDER BY Amount DESC NULLS FIRST", [O3, O2, O1, O4]),
        ("order by Amount desc nulls last", [O2, O1, O4, O3]),
        ("ORDER BY StageName, Name DESC", [O2, O4, O3, O1]),
        ("ORDER BY Name", [O1, O2, O3, O4]),
        ("ORDER BY CloseDate DESC", [O1, O4, O2, O3]),
        ("ORDER BY LastModifiedDate", [O3, O2, O4, O1]),
        ("ORDER BY IsPrivate DESC, Name", [O2, O1, O3, O4]),
        ("ORDER BY Account.Name NULLS LAST, Name DESC", [O2, O1, O4, O3]),
        ("ORDER BY Name LIMIT 2", [O1, O2]),
        ("ORDER BY Name LIMIT 2 OFFSET 1", [O2, O3]),
        ("ORDER BY Name OFFSET 3", [O4]),
        ("ORDER BY Name LIMIT 0", []),
        ("ORDER BY Name OFFSET 10", []),
    ],
)
def test_order_limit_and_offset(clauses: str, expected: list[str]) -> None:
    result = run(f"SELECT Name FROM Opportunity {clauses}")  # noqa: S608
    assert [row["Name"] for row in result.rows] == [NAMES[oid] for oid in expected]
    assert result.total_size == len(expected)


def test_rows_carry_attributes_and_nested_parents_in_select_order() -> None:
    fields = "Id, name, ACCOUNT.name, Account.Owner.Email, Owner.Email, Account.Id"
    text = f"SELECT {fields} FROM opportunity WHERE Id IN ('{O1}', '{O3}') ORDER BY Name"  # noqa: S608
    first, second = run(text).rows
    catalog = FakeCatalog()
    assert first == {
        "attributes": catalog.attributes("Opportunity", O1),
        "Id": O1,
        "Name": "Acme Expansion",
        "Account": {
            "attributes": catalog.attributes("Account", A1),
            "Name": "Acme Corp",
            "Owner": {"attributes": catalog.attributes("User", U1), "Email": "ann@example.com"},
            "Id": A1,
        },
        "Owner": {"attributes": catalog.attributes("User", U1), "Email": "ann@example.com"},
    }
    assert list(first) == ["attributes", "Id", "Name", "Account", "Owner"]
    assert second["Account"] is None
    assert second["Owner"]["Email"] == "ann@example.com"


def test_custom_relationship_and_null_grandparent_shapes() -> None:
    text = f"SELECT Partner__r.Name, Partner__r.Owner.Name FROM Opportunity WHERE Id = '{O1}'"  # noqa: S608
    (row,) = run(text).rows
    assert row["Partner__r"]["Name"] == "Initech"
    assert row["Partner__r"]["Owner"] is None


def test_missing_keys_read_as_null() -> None:
    sparse = [{"Id": O1, "Name": "Sparse"}]
    result = run("SELECT Name, Amount FROM Opportunity WHERE Amount = null", sparse)
    assert result.rows[0]["Amount"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT COUNT() FROM Opportunity", 4),
        ("SELECT count() FROM Opportunity WHERE Amount > 0", 3),
        ("SELECT COUNT() FROM Opportunity WHERE Amount > 0 LIMIT 2", 2),
        ("SELECT COUNT() FROM Opportunity WHERE Name = 'nobody'", 0),
    ],
)
def test_count_returns_no_rows_and_the_count(text: str, expected: int) -> None:
    result = run(text)
    assert result.rows == []
    assert result.total_size == expected


def test_parse_builds_the_query_value() -> None:
    query = parse("select Id, Account.Name from Opportunity where Name = 'a\\'b' limit 5")
    assert query == Query(
        sobject="Opportunity",
        fields=(FieldPath(("Id",)), FieldPath(("Account", "Name"))),
        count=False,
        where=Comparison(FieldPath(("Name",)), "=", "a'b"),
        order_by=(),
        limit=5,
        offset=None,
    )


def test_a_text_is_parsed_once_and_its_relative_dates_follow_the_clock() -> None:
    """A client polls with the same query again and again: the emulator parses a text once.
    A relative date in it stays symbolic, so the cached query still means "today" tomorrow."""
    text = "SELECT CloseDate FROM Opportunity WHERE CloseDate = TODAY"
    assert parse(text) is parse(text)
    today = execute(parse(text), FakeCatalog(), CALENDAR, NOW)
    tomorrow = execute(parse(text), FakeCatalog(), CALENDAR, NOW + timedelta(days=1))
    assert [r["CloseDate"] for r in today.rows] == ["2026-01-10"]
    assert [r["CloseDate"] for r in tomorrow.rows] == ["2026-01-11"]


POLL = (
    "SELECT Id, (SELECT ContactId FROM OpportunityContactRoles WHERE SystemModstamp > {0}) "
    "FROM Opportunity WHERE (Name = 'at 2026-01-10T15:00:00Z' OR StageName != null) "
    "AND SystemModstamp >= {0} "
    "AND CreatedDate IN ({1}, 2026-01-02T00:00:01.250+02:00) "
    "AND AccountId IN (SELECT Id FROM Account WHERE LastModifiedDate < {1}) "
    "ORDER BY SystemModstamp, Id"
)


def test_a_poll_whose_watermark_moves_is_parsed_once_per_shape() -> None:
    """Each look of a poll names the watermark it has reached: the text differs, its shape
    does not. The literals are put back where they were, a quoted one is left as a string,
    and the result is what parsing the whole text gives."""
    from cosell.emulators.salesforce import soql_grammar

    stamps = ["2026-01-10T14:59:00Z", "2026-01-10T15:00:00Z", "2026-01-10T15:00:07.500Z"]
    before = soql_grammar._parsed.cache_info().misses
    looks = [parse(POLL.format(stamp, "2026-01-09T00:00:00Z")) for stamp in stamps]
    assert soql_grammar._parsed.cache_info().misses - before == 1
    for stamp, query in zip(stamps, looks, strict=True):
        text = POLL.format(stamp, "2026-01-09T00:00:00Z")
        assert query == soql_grammar._parsed(text)
    where = looks[2].where
    assert isinstance(where, Junction)
    moment = datetime(2026, 1, 10, 15, 0, 7, tzinfo=UTC)
    assert where.operands[1] == Comparison(FieldPath(("SystemModstamp",)), ">=", moment)
    assert where.operands[0].operands[0].value == "at 2026-01-10T15:00:00Z"  # type: ignore[union-attr]


def test_a_bad_datetime_literal_is_reported_where_the_client_wrote_it() -> None:
    with pytest.raises(SoqlError) as caught:
        parse("SELECT Id FROM Opportunity WHERE SystemModstamp >= 2026-13-45T00:00:00Z")
    assert caught.value.error_code == "MALFORMED_QUERY"
    assert "ERROR at Row:1:Column:52" in caught.value.message
    with pytest.raises(SoqlError) as caught:
        parse("SELECT Id FROM Opportunity WHERE SystemModstamp >= 2026-01-01T00:00:00Z AND")
    assert caught.value.message.endswith("unexpected token: '<EOF>'")


def test_parse_keeps_subqueries_and_their_place_in_the_select() -> None:
    query = parse("SELECT Id, (SELECT Name FROM Opportunities LIMIT 2), Name FROM Account")
    assert query.fields == (FieldPath(("Id",)), FieldPath(("Name",)))
    [subquery] = query.subqueries
    assert subquery == Subquery(
        Query("Opportunities", (FieldPath(("Name",)),), False, None, (), 2, None), position=1
    )


def test_subqueries_nest_children_in_select_order() -> None:
    text = (
        "SELECT Name, (SELECT Name FROM Opportunities WHERE Amount > 1000 ORDER BY Name), Id "
        "FROM Account ORDER BY Name"
    )
    result = execute(parse(text), FakeCatalog(), list(ACCOUNTS.values()), NOW)
    acme, initech = result.rows
    assert list(acme) == ["attributes", "Name", "Opportunities", "Id"]
    assert [r["Name"] for r in acme["Opportunities"]["records"]] == [
        "Acme Expansion",
        "acme renewal",
    ]
    assert acme["Opportunities"]["totalSize"] == 2
    assert initech["Opportunities"] is None


def test_literals_decode_to_typed_values() -> None:
    query = parse(
        "SELECT Id FROM Opportunity WHERE CloseDate IN "
        "(2026-01-01, 2026-01-01T10:00:00+02:00, 1.5, -3, true, null, '\\t')"
    )
    assert isinstance(query.where, object)
    values = query.where.values  # type: ignore[union-attr]
    assert values[0] == date(2026, 1, 1)
    assert values[1] == datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
    assert values[2:] == (1.5, -3, True, None, "\t")


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("SELECT Id FORM Opportunity", "FORM"),
        ("", "<EOF>"),
        ("SELECT", "<EOF>"),
        ("SELECT Id FROM", "<EOF>"),
        ("SELECT Id, FROM Opportunity", "FROM"),
        ("SELECT Id FROM Opportunity WHERE", "<EOF>"),
        ("SELECT Id FROM Opportunity WHERE Name = Foo", "Foo"),
        ("SELECT Id FROM Opportunity WHERE Name = 'open", "'"),
        ("SELECT Id FROM Opportunity WHERE Name = 'a' AND Amount = 1 OR Amount = 2", "OR"),
        ("SELECT Id FROM Opportunity WHERE Name = 'a' OR Amount = 1 AND Amount = 2", "AND"),
        ("SELECT Id FROM Opportunity LIMIT -1", "-1"),
        ("SELECT Id, Name FROM Opportunity WHERE Select = 1", "Select"),
        ("SELECT Id FROM Opportunity LIMIT 5 ORDER BY Name", "ORDER"),
        ("SELECT Id FROM Opportunity WHERE Name = 'bad \\q'", "'bad \\q'"),
        ("SELECT Id FROM Opportunity WHERE CloseDate = 2026-02-30", "2026-02-30"),
        ("SELECT Id FROM Opportunity WHERE CloseDate = LAST_N_DAYS", "LAST_N_DAYS"),
        ("SELECT Id FROM Opportunity WHERE CloseDate = TODAY:3", "TODAY:3"),
        ("SELECT Id FROM Opportunity WHERE CloseDate = N_DAYS:3", "N_DAYS:3"),
        ("SELECT Id FROM Opportunity WHERE CloseDate = LAST_N_DAYS_AGO:3", "LAST_N_DAYS_AGO:3"),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate = LAST_N_FISCAL_WEEKS:3",
            "LAST_N_FISCAL_WEEKS:3",
        ),
        ("SELECT Id FROM Opportunity WHERE CloseDate = LAST_N_FORTNIGHTS:3", "LAST_N_FORTNIGHTS:3"),
        ("SELECT Id FROM Opportunity WHERE Name LIKE 5", "5"),
        ("SELECT COUNT(), Id FROM Opportunity", ","),
        ("SELECT Id FROM Opportunity, Account", ","),
        ("SELECT Id FROM Opportunity WHEREX Name = 'a'", "WHEREX"),
        ("SELECT Id FROM Opportunity WHERE Name == 'a'", "="),
        ("SELECT Id FROM Opportunity ORDER BY Name UP", "UP"),
    ],
)
def test_malformed_queries_name_the_unexpected_token(text: str, token: str) -> None:
    with pytest.raises(SoqlError) as caught:
        parse(text)
    assert caught.value.error_code == "MALFORMED_QUERY"
    assert caught.value.message.endswith(f"unexpected token: '{token}'")
    assert "ERROR at Row:1:Column:" in caught.value.message


def test_unreserved_keywords_still_name_objects_and_fields() -> None:
    query = parse("SELECT Offset FROM Order WHERE Order = 1 ORDER BY Limits__c LIMIT 1")
    assert query.sobject == "Order"
    assert query.fields == (FieldPath(("Offset",)),)
    assert query.order_by[0].field == FieldPath(("Limits__c",))


def test_malformed_message_points_at_the_token() -> None:
    with pytest.raises(SoqlError) as caught:
        parse("SELECT Id\nFORM Opportunity")
    assert caught.value.message == (
        "\nFORM Opportunity\n^\nERROR at Row:2:Column:1\nunexpected token: 'FORM'"
    )


@pytest.mark.parametrize(
    ("text", "code", "start"),
    [
        ("SELECT Foo FROM Opportunity", FIELD, "No such column 'Foo' on entity 'Opportunity'."),
        ("SELECT Id FROM Opportunity WHERE Bogus__c = 1", FIELD, "No such column 'Bogus__c'"),
        ("SELECT Id FROM Opportunity ORDER BY Nope", FIELD, "No such column 'Nope'"),
        (
            "SELECT Account.Bogus FROM Opportunity",
            FIELD,
            "No such column 'Bogus' on entity 'Account'",
        ),
        ("SELECT Nope.Name FROM Opportunity", FIELD, "Didn't understand relationship 'Nope'"),
        ("SELECT Id FROM Opportunity WHERE Amount LIKE '5%'", FIELD, "invalid operator on field"),
        ("SELECT Id FROM Nope", "INVALID_TYPE", "sObject type 'Nope' is not supported."),
        ("SELECT COUNT() FROM Nope", "INVALID_TYPE", "sObject type 'Nope' is not supported."),
    ],
)
def test_queries_are_checked_against_the_schema(text: str, code: str, start: str) -> None:
    query = parse(text)
    with pytest.raises(SoqlError) as caught:
        execute(query, FakeCatalog(), [], NOW)
    assert caught.value.error_code == code
    assert caught.value.message.startswith(start)


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("Amount = '5'", "field 'Amount' must be of type double and should not be enclosed"),
        ("Name = 5", "field 'Name' must be of type string and should be enclosed in quotes"),
        ("CloseDate = 2026-01-01T00:00:00Z", "field 'CloseDate' must be of type date "),
        ("LastModifiedDate = 2026-01-01", "field 'LastModifiedDate' must be of type dateTime "),
        ("IsPrivate = 'true'", "field 'IsPrivate' must be of type boolean "),
        ("Name = TODAY", "field 'Name' must be of type string "),
        ("Amount IN (1, 'x')", "field 'Amount' must be of type double "),
        ("Account.Name = 1", "field 'Account.Name' must be of type string "),
    ],
)
def test_filter_values_must_match_the_field_type(condition: str, message: str) -> None:
    query = parse(f"SELECT Id FROM Opportunity WHERE {condition}")  # noqa: S608
    with pytest.raises(SoqlError) as caught:
        execute(query, FakeCatalog(), [], NOW)
    assert caught.value.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert caught.value.message.startswith(f"value of filter criterion for {message}")


def test_offset_is_capped_at_2000() -> None:
    assert run("SELECT Id FROM Opportunity OFFSET 2000").rows == []
    with pytest.raises(SoqlError) as caught:
        run("SELECT Id FROM Opportunity OFFSET 2001")
    assert caught.value.error_code == "NUMBER_OUTSIDE_VALID_RANGE"


def test_id_filters_must_be_15_or_18_characters() -> None:
    query = parse("SELECT Id FROM Opportunity WHERE AccountId = 'short'")
    with pytest.raises(SoqlError) as caught:
        execute(query, FakeCatalog(), OPPORTUNITIES, NOW)
    assert (caught.value.error_code, caught.value.message) == (
        "INVALID_QUERY_FILTER_OPERATOR",
        "invalid ID field: short",
    )


_FRAGMENTS = [
    "SELECT", "Id", "Name", "Account.Name", "COUNT()", ",", "FROM", "Opportunity", "WHERE",
    "=", "!=", "<", ">=", "LIKE", "IN", "NOT", "AND", "OR", "(", ")", "'x'", "'\\'", "null",
    "TRUE", "5", "-1.5", "2026-01-01", "2026-01-01T00:00:00Z", "TODAY", "LAST_N_DAYS:3",
    "ORDER BY", "ASC", "DESC", "NULLS FIRST", "LIMIT", "OFFSET", ".", ":", "\\",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(st.sampled_from(_FRAGMENTS), max_size=14).map(" ".join),
    )
)
def test_parse_raises_nothing_but_soql_errors(text: str) -> None:
    assert outcome_of_parse(text) in ("parsed", "MALFORMED_QUERY")


_VALUES = st.sampled_from([
    "'x'", "'a%b'", "'it\\'s'", "'\\q'", "'2026-01-01T00:00:00Z'", "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00.5+02:00", "2026-13-01T00:00:00Z", "2026-01-01", "null", "5", "TODAY",
])  # fmt: skip
_CONDITIONS = st.one_of(
    st.tuples(
        st.sampled_from(["Name", "SystemModstamp", "Account.Name"]),
        st.sampled_from(["=", "!=", ">=", "<", "LIKE"]),
        _VALUES,
    ).map(" ".join),
    st.lists(_VALUES, min_size=1, max_size=3).map(lambda v: f"Name IN ({', '.join(v)})"),
    _VALUES.map(lambda v: f"AccountId IN (SELECT Id FROM Account WHERE Name = {v})"),  # noqa: S608
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_CONDITIONS, min_size=1, max_size=4),
    st.sampled_from([" AND ", " OR "]),
    st.sampled_from(["", " ORDER BY Name LIMIT 5"]),
)
def test_a_text_parsed_by_its_shape_is_what_parsing_it_as_written_gives(
    conditions: list[str], connective: str, tail: str
) -> None:
    from cosell.emulators.salesforce import soql_grammar

    text = f"SELECT Id, (SELECT Id FROM Contacts WHERE {conditions[0]}) FROM Account"  # noqa: S608
    text += f" WHERE {connective.join(conditions)}{tail}"
    try:
        written: Query | str = soql_grammar._parsed(text)
    except SoqlError as error:
        written = error.message
    try:
        shaped: Query | str = parse(text)
    except SoqlError as error:
        shaped = error.message
    assert shaped == written


def outcome_of_parse(text: str) -> str:
    try:
        parse(text)
    except SoqlError as error:
        return error.error_code
    return "parsed"


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("AccountId IN (SELECT Id FROM Account WHERE Name = 'Acme Corp')", {O1, O2}),
        ("AccountId NOT IN (SELECT Id FROM Account WHERE Name = 'Acme Corp')", {O3, O4}),
        ("Partner__c IN (SELECT Id FROM Account)", {O1, O4}),
        ("Id IN (SELECT Id FROM Opportunity WHERE IsPrivate = true)", {O2}),
        (
            "StageName = 'Prospecting' "
            "AND AccountId IN (SELECT Id FROM Account WHERE OwnerId != null)",
            {O1},
        ),
        ("AccountId IN (SELECT Id FROM Account WHERE Name = 'Nobody')", set()),
    ],
)
def test_a_semi_join_keeps_the_records_whose_id_field_the_inner_query_returns(
    condition: str, expected: set[str]
) -> None:
    assert names_where(condition) == {NAMES[oid] for oid in expected}


@pytest.mark.parametrize(
    ("condition", "code", "message"),
    [
        (
            "AccountId IN (SELECT Name FROM Account)",
            "MALFORMED_QUERY",
            "semi join sub selects can only query id fields, cannot use: 'Name'",
        ),
        (
            "Name IN (SELECT Id FROM Account)",
            FIELD,
            "semi join sub selects can only be used with id fields, cannot use: 'Name'",
        ),
        (
            "AccountId IN (SELECT Id, OwnerId FROM Account)",
            "MALFORMED_QUERY",
            "a semi join sub select names exactly one id field",
        ),
        (
            "AccountId IN (SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Opportunity))",
            "MALFORMED_QUERY",
            "semi join sub selects cannot be nested",
        ),
    ],
)
def test_a_semi_join_selects_one_id_field_against_an_id_field(
    condition: str, code: str, message: str
) -> None:
    with pytest.raises(SoqlError) as caught:
        names_where(condition)
    assert (caught.value.error_code, caught.value.message) == (code, message)
