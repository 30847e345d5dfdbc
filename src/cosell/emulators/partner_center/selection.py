"""OData ``$select`` and ``$expand`` on referrals, parsed with a grammar and checked against the
Referral V3 shape.

``$select`` is a comma list of ``*`` or property paths (``id``, ``customerProfile/name``); a path
through a collection (``team/email``) selects that property of every member. The answer keeps only
the selected properties, plus ``id``, the entity key the service keeps on every entity. The
Referral type has no navigation properties (everything is inline), so ``$expand`` accepts only
``*`` (a no-op) and names nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedInput, VisitError

GRAMMAR = r"""
start: item ("," item)*
?item: STAR -> star
     | path
path: NAME ("/" NAME)*
STAR: "*"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
%ignore /\s+/
"""

KEY: Final = "id"


class _Open:
    """A free-form object: any nested path below it is accepted."""


OPEN: Final = _Open()
Shape = Mapping[str, "Shape | _Open | None"]
Tree = dict[str, "Tree | None"]


def _leaves(*names: str) -> dict[str, None]:
    return dict.fromkeys(names)


_MEMBER: Shape = {
    "firstName": None,
    "lastName": None,
    "phoneNumber": None,
    "email": None,
    "title": None,
    "contactPreference": {"locale": None, "disableNotifications": None},
}
_ID: Shape = {"id": None}
_LINK: Shape = {"uri": None, "method": None}
_SOLUTION: Shape = {
    **_ID,
    "name": None,
    "type": None,
    "price": None,
    "quantity": None,
    "currency": None,
    "publisherName": None,
    "solutionType": None,
    "closingDateTime": None,
}
_REGISTRATION: Shape = {
    "id": None,
    "type": None,
    "registrationDateTime": None,
    "status": None,
    "statusReason": None,
    "contract": OPEN,
    "solutionDetails": OPEN,
    "statusHistory": OPEN,
}
_SCALARS = (
    "id engagementId name organizationId organizationName lastModifiedVia lastRunId "
    "externalReferenceId createdDateTime updatedDateTime expirationDateTime acceptedDateTime "
    "closedDateTime status substatus statusReason qualification type referralSource eTag "
    "favorite campaignId salesStage quality isSpam direction mpnId referralProgram "
    "dealSensitivity createdVia callToAction registrationStatus"
)

REFERRAL: Shape = {
    **_leaves(*_SCALARS.split()),
    "tags": {"tag": None},
    "target": {"type": None, "id": None},
    "customerProfile": {
        "name": None,
        "size": None,
        "isMatchingComplete": None,
        "address": _leaves(
            "addressLine1", "addressLine2", "city", "state", "postalCode", "country", "region"
        ),
        "team": _MEMBER,
        "ids": {"profileType": None, "id": None},
    },
    "consent": _leaves(
        "consentToToShareInfoWithOthers",
        "consentToContact",
        "consentToShareReferralWithMicrosoftSellers",
        "consentToMicrosoftToContactSpecificPartners",
    ),
    "details": {
        **_leaves(
            "notes",
            "dealValue",
            "currency",
            "closingDateTime",
            "customerRequestedContact",
            "customerAction",
            "incentiveLevel",
        ),
        "requirements": {
            "industries": _ID,
            "products": _ID,
            "services": _ID,
            "solutions": _SOLUTION,
            "salesPlays": OPEN,
            "offers": OPEN,
            "additionalRequirements": OPEN,
        },
    },
    "team": _MEMBER,
    "inviteContext": {
        "notes": None,
        "assistanceRequestCode": None,
        "invitedMpnId": None,
        "invitedBy": {"organizationId": None, "organizationName": None},
    },
    "links": {"relatedReferrals": _LINK, "self": _LINK},
    "trackingInfo": _leaves(
        "microsoftMsxId",
        "microsoftUSFedOpportunityId",
        "microsoftUSFedLeadId",
        "migratedPSCDealId",
        "migratedPSCPartnerDealId",
    ),
    "registrations": _REGISTRATION,
}


class SelectionError(ValueError):
    """A ``$select`` or ``$expand`` that cannot be honoured; the message names the problem."""


_PARSER = Lark(GRAMMAR, parser="lalr")


class Selection:
    """The properties a ``$select`` keeps; :meth:`apply` projects one referral onto them."""

    def __init__(self, tree: Tree | None, paths: tuple[str, ...] = ()) -> None:
        self.tree = tree
        self.paths = paths

    @property
    def everything(self) -> bool:
        return self.tree is None

    def apply(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return dict(item) if self.tree is None else _project(item, self.tree)


def parse_select(text: str | None, shape: Shape = REFERRAL) -> Selection:
    """The selection ``text`` names; no text (or ``*``) keeps everything."""
    if text is None or not text.strip():
        return Selection(None)
    paths = _parse(text, "$select")
    if None in paths:
        return Selection(None)
    named = tuple(p for p in paths if p is not None)
    for segments in named:
        _check(segments, shape)
    tree: Tree = {KEY: None}
    for segments in named:
        _add(tree, segments)
    return Selection(tree, tuple("/".join(p) for p in named))


def check_expand(text: str | None) -> None:
    """Accept an empty ``$expand`` or ``*``: a referral has no navigation property to expand."""
    if text is None or not text.strip():
        return
    named = [p for p in _parse(text, "$expand") if p is not None]
    if named:
        raise SelectionError(
            f"$expand: {'/'.join(named[0])!r} is not a navigation property of Referral; "
            "every property of a referral is returned inline."
        )


def _parse(text: str, option: str) -> list[tuple[str, ...] | None]:
    try:
        items: list[tuple[str, ...] | None] = _Items().transform(_PARSER.parse(text))
    except UnexpectedInput as exc:
        column = max(exc.column, 1)
        raise SelectionError(f"{option} syntax error at position {column}: {text!r}") from exc
    except (VisitError, LarkError) as exc:
        raise SelectionError(f"{option} is invalid: {exc}") from exc
    return items


class _Items(Transformer[Token, Any]):
    def start(self, items: list[tuple[str, ...] | None]) -> list[tuple[str, ...] | None]:
        return items

    def star(self, _items: list[Token]) -> None:
        return None

    def path(self, names: list[Token]) -> tuple[str, ...]:
        return tuple(str(n) for n in names)


def _check(segments: tuple[str, ...], shape: Shape) -> None:
    current: Shape | _Open | None = shape
    for depth, name in enumerate(segments):
        if current is OPEN:
            return
        where = "/".join(segments[: depth + 1])
        if not isinstance(current, Mapping):
            parent = "/".join(segments[:depth])
            raise SelectionError(f"$select: {parent!r} has no property {name!r} ({where!r}).")
        if name not in current:
            raise SelectionError(f"$select: Referral has no property {where!r}.")
        current = current[name]


def _add(tree: Tree, segments: tuple[str, ...]) -> None:
    head, rest = segments[0], segments[1:]
    if head in tree and tree[head] is None:
        return  # the whole property is already selected
    if not rest:
        tree[head] = None
        return
    child = tree.setdefault(head, {})
    assert child is not None
    _add(child, rest)


def _project(item: Mapping[str, Any], tree: Tree) -> dict[str, Any]:
    return {key: _narrow(value, tree[key]) for key, value in item.items() if key in tree}


def _narrow(value: Any, tree: Tree | None) -> Any:
    if tree is None:
        return value
    if isinstance(value, Mapping):
        return _project(value, tree)
    if isinstance(value, list):
        return [_narrow(member, tree) for member in value]
    return value
