"""Account matching for incoming referrals: reuse the customer's account, never duplicate it.

In order, the first rule that finds anything decides:

1. **Linked**: an account already holding an opportunity linked to a referral, for the same
   customer (normalised name and country, postal code when both have one).
2. **DUNS**: the referral's ``customerProfile.ids`` entry of ``profileType`` "Duns" equals
   the account's ``DunsNumber`` (when the org has that field; digits compared, so
   ``"12-345-6789"`` matches ``"123456789"``).
3. **Name**: normalised name (case, accents, punctuation and legal suffixes such as "Inc." or
   "GmbH" ignored), plus the country and the postal code when both sides have one.

An account whose DUNS number differs from the referral's is never the customer, whatever its
name: the linked and name rules skip it. When a rule finds several accounts and some carry the
referral's DUNS number, only those count.

One account: it is used. None: a new account is created. Several: the choice is *ambiguous*.
The engine then parks the referral for review instead of guessing or creating a duplicate (see
:mod:`cosell.sync.engine.reconcile` and ``docs/lifecycle.md``).
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cosell.clients.salesforce import SalesforceClient
from cosell.clients.soql import WHERE_LIMIT, soql_literal
from cosell.sync.core.countries import to_iso2
from cosell.sync.sides.salesforce.planned import Planned, Row
from cosell.sync.sides.salesforce.schema import CrmSchema

DUNS_FIELD = "DunsNumber"
DUNS_LENGTH = 9
ACCOUNT_COLUMNS = ("Name", "BillingCountry", "BillingPostalCode")
LEGAL_SUFFIXES = frozenset(
    [
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "ltd",
        "limited",
        "llc",
        "llp",
        "plc",
        "gmbh",
        "ag",
        "sa",
        "sas",
        "sarl",
        "bv",
        "nv",
        "srl",
        "spa",
        "pty",
        "kk",
        "oy",
        "ab",
        "as",
    ]
)
NAMES_KEPT = 4096
"""Company names whose comparison form is kept (a backfill batch's customers, and more)."""
SEARCH_LIMIT = 200


@dataclass(frozen=True)
class Customer:
    """The customer of a referral, as matching sees it."""

    name: str | None
    country: str | None
    postal_code: str | None
    duns: str | None = None

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "country": self.country, "postal_code": self.postal_code}


@dataclass(frozen=True)
class Match:
    """The outcome: one account (``account_id``), none, or several ``candidates``."""

    rule: str
    account_id: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


def customer_of(referral: Mapping[str, Any]) -> Customer:
    """The matching keys of a referral's ``customerProfile``."""
    profile = referral.get("customerProfile") or {}
    address = profile.get("address") or {}
    country = address.get("country")
    return Customer(
        profile.get("name"),
        to_iso2(str(country)) if country else None,
        address.get("postalCode"),
        duns_of(profile.get("ids")),
    )


def new_account_fields(
    referral: Mapping[str, Any], account_fields: frozenset[str]
) -> dict[str, str]:
    """What an account created for ``referral`` carries beyond the mapping: its DUNS number
    (when the org has the field and the number is a whole one), so the next referral of the
    same customer finds it by DUNS."""
    duns = customer_of(referral).duns
    if duns and len(duns) == DUNS_LENGTH and DUNS_FIELD in account_fields:
        return {DUNS_FIELD: duns}
    return {}


def duns_of(ids: Any) -> str | None:
    """The DUNS number among a customer profile's ids (``{profileType: "Duns", id}``)."""
    for entry in ids if isinstance(ids, list) else []:
        if isinstance(entry, dict) and str(entry.get("profileType")).casefold() == "duns":
            digits = duns_digits(entry.get("id"))
            if digits:
                return digits
    return None


def duns_digits(value: Any) -> str:
    """A DUNS number's digits (``"12-345-6789"`` → ``"123456789"``); empty when none."""
    return re.sub(r"\D", "", str(value or ""))


@lru_cache(maxsize=NAMES_KEPT)
def normalise(name: str | None) -> str:
    """A company name for comparison, in any script: NFKC, case folded, Latin and Greek accents,
    punctuation and legal suffixes dropped (``"Müller GmbH"`` → ``"muller"``,
    ``"東京 電力"`` → ``"東京 電力"``). Empty when the name has no letter or digit. Kept for the
    most recent names: a record's customer is compared five times on its way (a character at a
    time, 10 us each)."""
    text = unicodedata.normalize("NFKC", _strip_accents(name or "")).casefold()
    words = "".join(c if _is_word_char(c) else " " for c in text).split()
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def name_token(name: str | None) -> str | None:
    """The longest run of letters and digits in a name, to narrow a search by pattern (the
    caller decides with :func:`same_customer`); ``None`` when the name has no letter or digit,
    so a name such as ``"%"`` never matches by pattern. Wildcards never reach the pattern."""
    runs = "".join(c if _is_word_char(c) else " " for c in name or "").split()
    return max(runs, key=len) if runs else None


def _strip_accents(text: str) -> str:
    """Combining accents after a Latin or Greek letter dropped (``ü`` → ``u``, ``ά`` → ``α``);
    marks that make another letter elsewhere (kana voicing, Cyrillic ``й``) are kept."""
    out: list[str] = []
    for char in unicodedata.normalize("NFD", text):
        if _ACCENTS.match(char) and out and _accented_script(out[-1]):
            continue
        out.append(char)
    return unicodedata.normalize("NFC", "".join(out))


def _accented_script(char: str) -> bool:
    return unicodedata.name(char, "").startswith(("LATIN", "GREEK"))


def _is_word_char(char: str) -> bool:
    return char.isalnum() or unicodedata.category(char).startswith("M")


_ACCENTS = re.compile("[\u0300-\u036f]")


def _postal(value: Any) -> str:
    return re.sub(r"\s+", "", str(value or "")).upper()


def same_customer(customer: Customer, account: Mapping[str, Any]) -> bool:
    """Normalised names equal and not empty; countries, postal codes and DUNS numbers too when
    both have one."""
    ours = normalise(customer.name)
    if not ours or ours != normalise(account.get("Name")):
        return False
    theirs_duns = duns_digits(account.get(DUNS_FIELD))
    if customer.duns and theirs_duns and theirs_duns != customer.duns:
        return False
    country = account.get("BillingCountry")
    if customer.country and country and to_iso2(str(country)) != customer.country:
        return False
    theirs, ours = _postal(account.get("BillingPostalCode")), _postal(customer.postal_code)
    return not (theirs and ours and theirs != ours)


@dataclass
class CreatedAccounts:
    """Accounts created meanwhile (a backfill batch's), held by what a rule of
    :meth:`AccountMatcher.match` could pick them on: their DUNS numbers and their names once
    normalised. The name rules ask country and postal code as well; this asks less, so it errs
    towards "could". An account no rule could pick does not change a match made without it."""

    names: set[str] = field(default_factory=set)
    duns: set[str] = field(default_factory=set)

    def add(self, account: Mapping[str, Any]) -> None:
        """An account created, as written (its ``Name``, and ``DunsNumber`` when written)."""
        if name := normalise(account.get("Name")):
            self.names.add(name)
        if digits := duns_digits(account.get(DUNS_FIELD)):
            self.duns.add(digits)

    def could_pick(self, customer: Customer) -> bool:
        if customer.duns and customer.duns in self.duns:
            return True
        ours = normalise(customer.name)
        return bool(ours) and ours in self.names


class AccountMatcher:
    """Finds the account for a customer with the rules above (reads only)."""

    def __init__(self, client: SalesforceClient, schema: CrmSchema) -> None:
        self.client = client
        self.schema = schema

    def match(self, customer: Customer, candidates: list[dict[str, Any]] | None = None) -> Match:
        """The rules in order over the candidates of one query (``candidates``: already read,
        by :meth:`candidates_of_many`)."""
        if candidates is None:
            candidates = self._candidates(customer)
        for rule, found in (
            ("linked", self._linked),
            ("duns", self._duns),
            ("name", self._by_name),
        ):
            rows = _same_duns_first(customer, _unique(found(customer, candidates)))
            if len(rows) == 1:
                return Match(rule, str(rows[0]["Id"]), rows)
            if rows:
                return Match(rule, None, rows)
        return Match("none")

    def _candidates(self, customer: Customer) -> list[dict[str, Any]]:
        """Every account a rule could pick, with whether it holds a linked opportunity: one
        query (``Name LIKE`` the name's longest word, ``OR`` the DUNS number), the linked
        opportunities a parent-to-child subquery."""
        conditions = self._conditions(customer)
        if not conditions:
            return []
        return self._query(conditions, SEARCH_LIMIT)

    def candidates_of_many(self, customers: Iterable[Customer]) -> dict[Customer, list[Row]]:
        """The candidates of many customers from a few queries, one call each (see
        :meth:`plan_many`)."""
        return self.plan_many(customers).run(self.client)

    def plan_many(self, customers: Iterable[Customer]) -> Planned[dict[Customer, list[Row]]]:
        """The queries giving the candidates of many customers (as many conditions to one as a
        SOQL ``WHERE`` holds). Each row is given to every customer it could be a candidate
        of (its name holds the customer's word, ignoring case and accents, or its DUNS number
        is the customer's): a superset of what the customer's own query returns, which the
        rules narrow as usual. A customer is left out, to be matched by its own query, when
        its rows or the query's may have been cut by a ``LIMIT``."""
        wanted = {c: self._conditions(c) for c in dict.fromkeys(customers)}
        chunks = list(_where_chunks({c: cond for c, cond in wanted.items() if cond}))
        limits = [SEARCH_LIMIT * len(chunk) for chunk in chunks]
        soql = [
            self._soql(list(dict.fromkeys(cond for c in chunk for cond in wanted[c])), limit)
            for chunk, limit in zip(chunks, limits, strict=True)
        ]

        def finish(answers: list[list[Row]]) -> dict[Customer, list[Row]]:
            found: dict[Customer, list[Row]] = {c: [] for c, cond in wanted.items() if not cond}
            for chunk, limit, rows in zip(chunks, limits, answers, strict=True):
                if len(rows) >= limit:
                    continue
                held = [Held.of(row) for row in rows]
                for customer in chunk:
                    sought = Sought.of(customer)
                    mine = [row for row, h in zip(rows, held, strict=True) if sought.may_match(h)]
                    if len(mine) < SEARCH_LIMIT:
                        found[customer] = mine
            return found

        return Planned(soql, finish)

    def _conditions(self, customer: Customer) -> list[str]:
        token = name_token(customer.name)
        conditions = [f"Name LIKE {soql_literal(_like(token))}"] if token else []
        if customer.duns and DUNS_FIELD in self.schema.account_fields:
            conditions.append(f"{DUNS_FIELD} = {soql_literal(customer.duns)}")
        return conditions

    def _query(self, conditions: Sequence[str], limit: int) -> list[Row]:
        return [dict(row) for row in self.client.query(self._soql(conditions, limit))]

    def _soql(self, conditions: Sequence[str], limit: int) -> str:
        column = self.schema.names.referral_id_field
        linked = f"(SELECT Id FROM Opportunities WHERE {column} != null LIMIT 1)"  # noqa: S608
        return (
            f"SELECT {', '.join(self._columns())}, {linked} FROM Account "  # noqa: S608
            f"WHERE {' OR '.join(conditions)} ORDER BY CreatedDate LIMIT {limit}"
        )

    def _linked(self, customer: Customer, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        held = [r for r in rows if (r.get("Opportunities") or {}).get("records")]
        return [_account(r) for r in held if same_customer(customer, r)]

    def _duns(self, customer: Customer, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not customer.duns or DUNS_FIELD not in self.schema.account_fields:
            return []
        return [_account(r) for r in rows if duns_digits(r.get(DUNS_FIELD)) == customer.duns]

    def _by_name(self, customer: Customer, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if name_token(customer.name) is None:
            return []
        return [_account(r) for r in rows if same_customer(customer, r)]

    def _columns(self) -> list[str]:
        """The account columns matching reads (``DunsNumber`` when the org has it)."""
        duns = [DUNS_FIELD] if DUNS_FIELD in self.schema.account_fields else []
        return ["Id", *ACCOUNT_COLUMNS, *duns]


def _where_chunks(conditions: Mapping[Customer, list[str]]) -> Iterator[list[Customer]]:
    """Customers in groups whose conditions, joined by ``OR``, fit in one ``WHERE``."""
    chunk: list[Customer] = []
    size = 0
    for customer, mine in conditions.items():
        more = sum(len(c) + len(" OR ") for c in mine)
        if chunk and size + more > WHERE_LIMIT:
            yield chunk
            chunk, size = [], 0
        chunk.append(customer)
        size += more
    if chunk:
        yield chunk


def may_match(customer: Customer, row: Mapping[str, Any]) -> bool:
    """Whether the row could be one of the customer's candidates: its name holds the
    customer's word (ignoring case, and accents, more loosely than ``LIKE`` may), or its DUNS
    number is the customer's. To compare one customer with many rows, or many customers with
    the same rows, work each side out once: :class:`Sought` and :class:`Held`."""
    return Sought.of(customer).may_match(Held.of(row))


@dataclass(frozen=True)
class Sought:
    """What :func:`may_match` compares of a customer, worked out once: its name's word in both
    forms (loose: accents dropped, case folded; folded: case only), and its DUNS number."""

    word: tuple[str, str] | None
    duns: str | None

    @classmethod
    def of(cls, customer: Customer) -> Sought:
        token = name_token(customer.name)
        word = (_loose(token), token.casefold()) if token else None
        return cls(word, customer.duns or None)

    def may_match(self, row: Held) -> bool:
        if self.word is not None and (self.word[0] in row.loose or self.word[1] in row.folded):
            return True
        return self.duns is not None and self.duns in (row.duns, row.duns_digits)


@dataclass(frozen=True)
class Held:
    """What :func:`may_match` compares of an account row, worked out once."""

    loose: str
    folded: str
    duns: object
    duns_digits: str

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Held:
        name = str(row.get("Name") or "")
        theirs = row.get(DUNS_FIELD)
        return cls(_loose(name), name.casefold(), theirs, duns_digits(theirs))


def _loose(text: str) -> str:
    return _strip_accents(unicodedata.normalize("NFKC", text)).casefold()


def _like(token: str) -> str:
    """A LIKE pattern containing a name token (letters and digits only: no wildcard)."""
    return f"%{token}%"


def _account(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("Id", *ACCOUNT_COLUMNS, DUNS_FIELD)
    return {k: row.get(k) for k in keys if k in row}


def _same_duns_first(customer: Customer, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the rows whose DUNS number equals the customer's, when any does (a look-alike
    without a DUNS number does not make the choice ambiguous)."""
    same = [r for r in rows if customer.duns and duns_digits(r.get(DUNS_FIELD)) == customer.duns]
    return same or rows


def _unique(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({str(r["Id"]): r for r in rows}.values())


class _AccountsBegun:
    """How many account creates this process has begun: a match read before one began may
    miss the account it makes (a count, not the accounts: any create makes earlier matches
    stale, which costs only their query again)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def begin(self) -> None:
        with self._lock:
            self.count += 1


ACCOUNTS_BEGUN = _AccountsBegun()


@dataclass(frozen=True)
class ReadMatch:
    """A customer's account match read with a lookup, and the account creates begun in this
    process when it was read."""

    customer: Customer
    match: Match
    begun: int

    def serves(self, customer: Customer) -> bool:
        """Still the customer's match: no account create has begun since it was read."""
        return customer == self.customer and self.begun == ACCOUNTS_BEGUN.count
