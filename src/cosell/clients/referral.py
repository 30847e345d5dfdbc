"""The Partner Center referral as a typed model that never loses a field.

Every model allows extra keys and dumps them back untouched, and typed values keep their wire
form, so
``Referral.model_validate(doc).model_dump(by_alias=True, exclude_unset=True) == doc``.
Use :meth:`Referral.to_wire` to produce the JSON body for a write.

Wire values: ``dealValue`` arrives as a number or a string and timestamps carry seven fractional
digits; each parsed ``Decimal``/``datetime`` remembers its wire form and serialises back to it,
while values built in Python serialise canonically.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    SerializationInfo,
)
from pydantic.alias_generators import to_camel

_FRACTION = re.compile(r"(\.\d{6})\d+")


class WireDecimal(Decimal):
    """A ``Decimal`` read from JSON; ``wire`` is the number or string it came from."""

    wire: int | float | str


class WireDateTime(datetime):
    """An aware ``datetime`` read from JSON; ``wire`` is the ISO string it came from."""

    wire: str


def parse_decimal(value: object) -> Decimal:
    """A ``Decimal`` from a JSON number or numeric string, keeping the wire form."""
    if isinstance(value, Decimal) and not isinstance(value, WireDecimal):
        return value
    if isinstance(value, WireDecimal):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("a number or a numeric string is required")
    try:
        parsed = WireDecimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not parsed.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    parsed.wire = value
    return parsed


def parse_datetime(value: object) -> datetime:
    """An aware UTC ``datetime`` from an ISO-8601 string (any number of fractional digits)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("an ISO-8601 date-time string is required")
    try:  # Partner Center's own form (seven fractional digits, "Z") parses as it is
        wired = WireDateTime.fromisoformat(value)
    except ValueError:
        text = _FRACTION.sub(r"\1", value.strip())
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"not an ISO-8601 date-time: {value!r}") from exc
        wired = WireDateTime.fromisoformat(parsed.isoformat())
    if wired.tzinfo is None:
        wired = WireDateTime.fromisoformat(wired.replace(tzinfo=UTC).isoformat())
    wired.wire = value
    return wired


_TICKS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,7}))?(Z|[+-]\d\d:\d\d)?$")


def change_ticks(text: str) -> int | None:
    """A Partner Center time as 100-nanosecond ticks since 1970 (its times have seven
    fractional digits, one more than a ``datetime`` keeps), or ``None`` when it is not one."""
    found = _TICKS.match(text.strip())
    if found is None:
        return None
    whole, fraction, zone = found.groups()
    offset = "+00:00" if zone in (None, "Z") else zone
    try:
        moment = datetime.fromisoformat(whole + offset)
    except ValueError:
        return None
    seconds = int(moment.timestamp())
    return seconds * 10_000_000 + int((fraction or "").ljust(7, "0"))


def same_change(told: str | None, kept: str | None) -> bool:
    """Whether a webhook's ``ResourceChangeUtcDate`` names the very ``updatedDateTime`` kept
    for a referral version, to the tick (two writes of one referral do not share one)."""
    if not told or not kept:
        return False
    ticks = change_ticks(told)
    return ticks is not None and ticks == change_ticks(kept)


def dump_decimal(value: Decimal, info: SerializationInfo) -> Any:
    if isinstance(value, WireDecimal):
        return value.wire
    if info.mode == "json":
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def dump_datetime(value: datetime, info: SerializationInfo) -> Any:
    if isinstance(value, WireDateTime):
        return value.wire
    text = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text if info.mode == "json" else value


Amount = Annotated[
    Decimal,
    PlainValidator(parse_decimal),
    PlainSerializer(dump_decimal, when_used="always"),
]
Timestamp = Annotated[
    datetime,
    PlainValidator(parse_datetime),
    PlainSerializer(dump_datetime, when_used="always"),
]


ReferralStatus = Literal["None", "New", "Active", "Closed"]
ReferralSubstatus = Literal[
    "None", "Pending", "Received", "Accepted", "Won", "Lost", "Declined", "Expired"
]


class WireModel(BaseModel):
    """A camelCase JSON object that keeps unknown keys.

    An object inside a document (:class:`WireDocument`) is a value: it is replaced, never
    edited in place (it is frozen), so the document always knows when it was changed."""

    model_config = ConfigDict(
        extra="allow",
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        frozen=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body for this object: camelCase keys, only the fields that were set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class WireDocument(WireModel):
    """A whole JSON body an API answers with (or is sent): its fields may be set, and it keeps
    the body it was read from (:meth:`read`, :meth:`as_read`). Only a document has that
    memory: giving every nested object one cost a third of reading a referral."""

    model_config = ConfigDict(frozen=False)

    _read_from: dict[str, Any] | None = PrivateAttr(default=None)

    @classmethod
    def read(cls, body: Any) -> Self:
        """``body`` (a JSON value an API answered with) validated as this model, which keeps
        it for :meth:`as_read`."""
        model = cls.model_validate(body)
        if isinstance(body, dict):
            model._read_from = body
        return model

    def as_read(self) -> dict[str, Any]:
        """The JSON object this model was read from (:meth:`read`), which is what
        :meth:`to_wire` would build again from it (every key kept, every value in its wire
        form); :meth:`to_wire` for a model made here or a field set since. Building it again
        cost 40-55 us a referral, three times a referral in a backfill."""
        return self.to_wire() if self._read_from is None else self._read_from

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            self._read_from = None  # changed here: no longer what was read
        super().__setattr__(name, value)


class Member(WireModel):
    """A person on the partner's team or the customer's side."""

    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone_number: str | None = None
    title: str | None = None


class Address(WireModel):
    """A customer address; ``country`` is ISO 3166-1 alpha-2."""

    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class CustomerProfile(WireModel):
    """The customer: name, address and contacts."""

    name: str | None = None
    address: Address | None = None
    team: list[Member] | None = None


class Consent(WireModel):
    """Sharing switches; the co-sell visibility flag is one-way once granted."""

    consent_to_share_referral_with_microsoft_sellers: bool | None = None
    consent_to_contact: bool | None = None


class Solution(WireModel):
    """A solution on the deal (``id`` like ``SOL-…``)."""

    id: str | None = None
    name: str | None = None


class Requirements(WireModel):
    """What the customer needs; the sync uses ``solutions``."""

    solutions: list[Solution] | None = None


class Details(WireModel):
    """Deal value, currency, close date, notes and requirements."""

    deal_value: Amount | None = None
    currency: str | None = None
    closing_date_time: Timestamp | None = None
    notes: str | None = None
    requirements: Requirements | None = None


class InviteContext(WireModel):
    """How Microsoft is asked to help (``assistanceRequestCode``) and notes for its sellers."""

    assistance_request_code: str | None = None
    notes: str | None = None


class Link(WireModel):
    """A related resource: ``uri`` and ``method``."""

    uri: str | None = None
    method: str | None = None


class Links(WireModel):
    """Read-only links; removed before a PUT."""

    self_: Link | None = Field(default=None, alias="self")
    related_referrals: Link | None = None


class TrackingInfo(WireModel):
    """Microsoft-side identifiers, e.g. ``microsoftMsxId`` once Microsoft accepts."""

    microsoft_msx_id: str | None = None


class Referral(WireDocument):
    """One Partner Center referral, typed where the sync reads it, untouched elsewhere."""

    id: str | None = None
    engagement_id: str | None = None
    name: str | None = None
    external_reference_id: str | None = None
    status: str | None = None
    substatus: str | None = None
    status_reason: str | None = None
    type: str | None = None
    direction: str | None = None
    qualification: str | None = None
    customer_profile: CustomerProfile | None = None
    consent: Consent | None = None
    details: Details | None = None
    team: list[Member] | None = None
    invite_context: InviteContext | None = None
    e_tag: str | None = None
    created_date_time: Timestamp | None = None
    updated_date_time: Timestamp | None = None
    links: Links | None = None
    tracking_info: TrackingInfo | None = None

    @property
    def country(self) -> str | None:
        profile = self.customer_profile
        return profile.address.country if profile and profile.address else None

    @property
    def solution_ids(self) -> list[str]:
        details = self.details
        if not details or not details.requirements or not details.requirements.solutions:
            return []
        return [s.id for s in details.requirements.solutions if s.id]

    def for_put(self) -> dict[str, Any]:
        """The body of a full replacement: everything but the read-only ``links``."""
        body = self.to_wire()
        body.pop("links", None)
        return body


class ReferralView(WireDocument):
    """A partial referral, read with ``$select``: its fields are the properties it selects.

    Keys beyond them (a server that ignores ``$select`` sends whole referrals) are dropped, so a
    view never pretends to be a full :class:`Referral` and never carries what it did not ask for.
    """

    model_config = ConfigDict(extra="ignore")

    @classmethod
    def selection(cls) -> str:
        """The ``$select`` value: the wire names of this view's fields."""
        return ",".join(field.alias or name for name, field in cls.model_fields.items())


class ReferralStamp(ReferralView):
    """What a sweep reads of a referral: its id, when it last changed and its eTag."""

    id: str | None = None
    updated_date_time: Timestamp | None = None
    e_tag: str | None = None


class ReferralExternal(ReferralView):
    """A referral's id and the CRM record it was created from or linked to."""

    id: str | None = None
    external_reference_id: str | None = None
