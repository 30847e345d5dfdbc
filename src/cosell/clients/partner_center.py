"""The Partner Center client: referrals and webhook registration over an injected ``httpx.Client``.

Auth lives on the ``httpx.Client`` (see :mod:`cosell.clients.entra_auth`), so this module only
speaks the REST protocol: correlation headers, paging, guarded writes and the error envelope.
Failures become :mod:`cosell.errors` classes; throttling, 5xx and transport failures are retried
through a :class:`RetryPolicy` (a create is retried only when it surely did not reach the server).
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Generic, Literal, NotRequired, TypedDict, TypeVar, cast, overload
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from cosell import handback, json_codec
from cosell.clients.partner_center_errors import error_for_exception, error_for_response
from cosell.clients.referral import (
    Referral,
    ReferralStamp,
    ReferralView,
    WireDocument,
    WireModel,
)
from cosell.clients.retry import RetryPolicy
from cosell.errors import APIError, Conflict, NotFound, RejectedError, RetryableError, Throttled
from cosell.webhooks.registration import (
    ValidationEvent,
    WebhookRegistration,
    registration_body,
)

REFERRALS = "/v1.0/engagements/referrals"
REGISTRATION = "/webhooks/v1/registration"
DEAL_REGISTRATION = "/registrations/0/"
PATCH_OPS = frozenset({"add", "replace"})
CHANGED_ORDER = "updatedDateTime asc"
LIST_PAGE = 100
"""Referrals a listing page holds at most."""
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Failures before a request left: sending it again cannot make a second referral."""
M = TypeVar("M", bound=BaseModel)
R = TypeVar("R", bound=WireModel)
V = TypeVar("V", bound=ReferralView)


class JsonPatchOp(TypedDict):
    """One RFC 6902 operation; Partner Center supports ``add`` and ``replace`` only."""

    op: Literal["add", "replace"]
    path: str
    value: NotRequired[Any]


@dataclass(frozen=True)
class ReferralPage(Generic[R]):
    """One page of a referral listing: whole referrals, or a :class:`ReferralView`."""

    referrals: list[R]
    next_link: str | None
    count: int | None = None


@dataclass
class _Call:
    """One logical request, possibly sent several times."""

    method: str
    path: str
    http: httpx.Client
    params: Mapping[str, str] | str | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    idempotent: bool = True


class _GiveUp(Exception):
    """Carries an error past the retry loop: it must not be retried here."""

    def __init__(self, error: APIError) -> None:
        self.error = error


class PartnerCenterClient:
    """Partner Center referrals and webhook registration.

    ``http`` is based at the REST host (``https://api.partner.microsoft.com`` or an emulator);
    ``webhooks`` at the webhook API host (``https://api.partnercenter.microsoft.com``) and
    defaults to ``http``. Every call sends ``MS-CorrelationId`` (one per client, or per
    :meth:`correlated` block) and a fresh ``client-request-id``.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        webhooks: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        ids: Callable[[], str] | None = None,
        correlation_id: str | None = None,
    ) -> None:
        self._http = http
        self._webhooks = webhooks or http
        self._retry = retry or RetryPolicy()
        self._ids = ids or (lambda: str(uuid.uuid4()))
        self.correlation_id = correlation_id or self._ids()
        self._operation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
            "cosell_pc_correlation", default=None
        )

    @contextlib.contextmanager
    def correlated(self, correlation_id: str | None = None) -> Iterator[str]:
        """Send one correlation id (given or fresh) on every call made inside the block."""
        value = correlation_id or self._ids()
        token = self._operation.set(value)
        try:
            yield value
        finally:
            self._operation.reset(token)

    # -- referrals ---------------------------------------------------------------------------

    @overload
    def list_referrals(
        self, filter: str | None = None, orderby: str | None = None, top: int | None = None
    ) -> Iterator[Referral]: ...

    @overload
    def list_referrals(
        self,
        filter: str | None = None,
        orderby: str | None = None,
        top: int | None = None,
        *,
        select: type[V],
    ) -> Iterator[V]: ...

    def list_referrals(
        self,
        filter: str | None = None,
        orderby: str | None = None,
        top: int | None = None,
        *,
        select: type[ReferralView] | None = None,
    ) -> Iterator[Referral] | Iterator[ReferralView]:
        """Every matching referral, fetching pages lazily; at most ``top`` when given.

        With ``select`` (a :class:`ReferralView` such as :class:`ReferralStamp`) only the view's
        properties are asked for (``$select``) and each row is read as that view."""
        if select is None:
            return _rows(self._pages(filter, orderby, top, Referral), top)
        return _rows(self._pages(filter, orderby, top, select), top)

    def changed_since(self, since: datetime | None) -> Iterator[ReferralStamp]:
        """Stamps of the referrals whose ``updatedDateTime`` is at or after ``since`` (floored
        to the second; ``None`` lists every referral), oldest change first."""
        return self.list_referrals(_changed_filter(since), CHANGED_ORDER, select=ReferralStamp)

    @overload
    def list_pages(
        self,
        filter: str | None = None,
        orderby: str | None = None,
        top: int | None = None,
        *,
        patience: RetryPolicy | None = None,
        keep: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Iterator[ReferralPage[Referral]]: ...

    @overload
    def list_pages(
        self,
        filter: str | None = None,
        orderby: str | None = None,
        top: int | None = None,
        *,
        select: type[V],
        patience: RetryPolicy | None = None,
        keep: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Iterator[ReferralPage[V]]: ...

    def list_pages(
        self,
        filter: str | None = None,
        orderby: str | None = None,
        top: int | None = None,
        *,
        select: type[ReferralView] | None = None,
        patience: RetryPolicy | None = None,
        keep: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Iterator[ReferralPage[Any]]:
        """Pages of a listing, following ``@odata.nextLink`` only when the next one is needed.
        With ``patience``, a page this client gave up on is asked for again (the same link)
        under that policy: a long listing rides out a throttling storm instead of ending. With
        ``keep``, a page holds only the rows (as listed, before they are read as the model)
        it keeps: the others are not read at all."""
        if select is None:
            return self._pages(filter, orderby, top, Referral, patience, keep)
        return self._pages(filter, orderby, top, select, patience, keep)

    def _pages(
        self,
        filter: str | None,
        orderby: str | None,
        top: int | None,
        model: type[R],
        patience: RetryPolicy | None = None,
        keep: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> Iterator[ReferralPage[R]]:
        params: Mapping[str, str] | str = _list_params(filter, orderby, top, model)
        seen: set[str] = set()
        while True:
            call = _Call("GET", REFERRALS, self._http, params=params)
            body = patience.call(partial(self._json, call)) if patience else self._json(call)
            page = _page_of(body, model, keep)
            yield page
            if not page.next_link:
                return
            params = _next_query(page.next_link)
            if params in seen:
                raise APIError("referral listing repeats a next link", method="GET", url=REFERRALS)
            seen.add(params)

    def get_referral(self, referral_id: str) -> Referral:
        body = self._json(_Call("GET", _referral_path(referral_id), self._http))
        return _read(Referral, body)

    def create_referral(self, referral: Referral | Mapping[str, Any]) -> Referral:
        """POST a new referral. Not retried once it may have reached the server: the caller
        looks it up by ``externalReferenceId`` before creating again."""
        call = _Call("POST", REFERRALS, self._http, json=_wire(referral), idempotent=False)
        return _read(Referral, self._json(call))

    def patch_referral(
        self,
        referral_id: str,
        ops: Sequence[JsonPatchOp],
        if_match: str | None,
        return_representation: bool = False,
    ) -> Referral | None:
        """Apply JSON Patch ops, guarded by ``If-Match`` when given (412 → ``StaleWrite``)."""
        headers = {"Content-Type": "application/json-patch+json"}
        if if_match is not None:
            headers["If-Match"] = if_match
        if return_representation:
            headers["Prefer"] = "return=representation"
        if unsupported := [op.get("op") for op in ops if op.get("op") not in PATCH_OPS]:
            raise ValueError(f"Partner Center supports only add and replace, not {unsupported}")
        safe = if_match is not None or all(op["op"] == "replace" for op in ops)
        call = _Call("PATCH", _referral_path(referral_id), self._http, json=list(ops))
        call.headers, call.idempotent = headers, safe
        response = self._send(call)
        if not return_representation or not response.content:
            return None
        return _read(Referral, _decode(response))

    def put_referral(self, referral: Referral, if_match: str) -> Referral:
        """Replace a referral (deprecated by Partner Center in favour of PATCH)."""
        if not referral.id:
            raise ValueError("put_referral needs a referral with an id")
        call = _Call("PUT", _referral_path(referral.id), self._http, json=referral.for_put())
        call.headers = {"If-Match": if_match}
        return _read(Referral, self._json(call))

    def register_deal(
        self, referral_id: str, registration: Mapping[str, Any], if_match: str | None = None
    ) -> Referral:
        """Register a Won deal with Microsoft: ``add /registrations/-`` with a DealRegistration
        (``type``, ``contract``, ``solutionDetails``). Returns the referral as registered.
        Unguarded, it is not retried once it may have reached the server."""
        ops: list[JsonPatchOp] = [
            {"op": "add", "path": "/registrations/-", "value": dict(registration)}
        ]
        done = self.patch_referral(referral_id, ops, if_match, return_representation=True)
        return self.get_referral(referral_id) if done is None else done

    def update_deal_registration(
        self, referral_id: str, ops: Sequence[JsonPatchOp], if_match: str | None = None
    ) -> Referral:
        """Correct the deal registration: ops on ``/registrations/0/contract/*`` and
        ``/registrations/0/solutionDetails/0/*``. Returns the referral afterwards."""
        if stray := [op["path"] for op in ops if not op["path"].startswith(DEAL_REGISTRATION)]:
            raise ValueError(f"deal registration updates are under {DEAL_REGISTRATION}: {stray}")
        done = self.patch_referral(referral_id, ops, if_match, return_representation=True)
        return self.get_referral(referral_id) if done is None else done

    # -- webhook registration ----------------------------------------------------------------

    def get_registration(self) -> WebhookRegistration | None:
        """The tenant's registration, or ``None`` when there is none."""
        try:
            body = self._json(_Call("GET", REGISTRATION, self._webhooks))
        except NotFound:
            return None
        return _read(WebhookRegistration, body) if body else None

    def register_webhook(
        self, url: str, events: Sequence[str], signature_in_ms_header: bool = False
    ) -> WebhookRegistration:
        """Create the registration (409 ``Conflict`` when one exists)."""
        body = registration_body(url, list(events), signature_in_ms_header)
        return self._registration(_Call("POST", REGISTRATION, self._webhooks, json=body))

    def update_registration(
        self, url: str, events: Sequence[str], signature_in_ms_header: bool = False
    ) -> WebhookRegistration:
        """Replace the existing registration."""
        body = registration_body(url, list(events), signature_in_ms_header)
        return self._registration(_Call("PUT", REGISTRATION, self._webhooks, json=body))

    def register_or_overwrite(
        self,
        url: str,
        events: Sequence[str],
        overwrite: bool,
        signature_in_ms_header: bool = False,
    ) -> WebhookRegistration:
        """Register; when one exists, replace it if ``overwrite`` else raise ``Conflict``
        naming the URL already registered."""
        try:
            return self.register_webhook(url, events, signature_in_ms_header)
        except Conflict as exc:
            if overwrite:
                return self.update_registration(url, events, signature_in_ms_header)
            existing = self.get_registration()
            where = existing.webhook_url if existing else "an unknown URL"
            raise Conflict(
                f"a webhook registration already exists for {where}",
                method=exc.method,
                url=exc.url,
                status=exc.status,
                code=exc.code,
                request_id=exc.request_id,
            ) from exc

    def supported_events(self) -> list[str]:
        body = self._json(_Call("GET", f"{REGISTRATION}/events", self._webhooks))
        return [str(name) for name in body] if isinstance(body, list) else []

    def send_validation_event(self) -> str:
        """Ask Partner Center to send a ``test-created`` event; returns its correlation id."""
        path = f"{REGISTRATION}/validationEvents"
        body = self._json(_Call("POST", path, self._webhooks, idempotent=False))
        event = _read(ValidationEvent, body)
        if not event.correlation_id:
            raise APIError("validation event response has no correlationId", method="POST")
        return event.correlation_id

    def get_validation_event(self, correlation_id: str) -> ValidationEvent:
        path = f"{REGISTRATION}/validationEvents/{_segment(correlation_id)}"
        return _read(ValidationEvent, self._json(_Call("GET", path, self._webhooks)))

    # -- sending -----------------------------------------------------------------------------

    def _registration(self, call: _Call) -> WebhookRegistration:
        return _read(WebhookRegistration, self._json(call))

    def _json(self, call: _Call) -> Any:
        return _decode(self._send(call))

    def _send(self, call: _Call) -> httpx.Response:
        if call.method != "GET":
            handback.checkpoint(f"{call.method} {call.path}")
        try:
            return self._retry.call(lambda: self._attempt(call))
        except _GiveUp as stop:
            raise stop.error from stop.error.__cause__

    def _attempt(self, call: _Call) -> httpx.Response:
        headers = {**self._headers(), **call.headers}
        content = None
        if call.json is not None:
            content = json_codec.dumps(call.json)
            headers.update(json_codec.CONTENT_TYPE)
        try:
            response = call.http.request(
                call.method, call.path, params=call.params, content=content, headers=headers
            )
        except httpx.RequestError as exc:
            error = error_for_exception(exc)
            unsent = isinstance(exc, _UNSENT)
            if not (call.idempotent or unsent):
                error.__cause__ = exc
                raise _GiveUp(error) from exc
            raise error from exc
        if response.is_success:
            return response
        error = error_for_response(response, self._retry.clock)
        unsafe = not call.idempotent and not isinstance(error, Throttled)
        raise _GiveUp(error) if isinstance(error, RetryableError) and unsafe else error

    def _headers(self) -> dict[str, str]:
        return {
            "Accept": "application/json",
            "MS-CorrelationId": self._operation.get() or self.correlation_id,
            "client-request-id": self._ids(),
        }


def _list_params(
    filter: str | None, orderby: str | None, top: int | None, model: type[WireModel]
) -> dict[str, str]:
    named = {
        "$filter": filter,
        "$orderby": orderby,
        "$top": None if top is None else str(top),
        "$select": model.selection() if issubclass(model, ReferralView) else None,
    }
    return {key: value for key, value in named.items() if value is not None}


def _rows(pages: Iterator[ReferralPage[R]], top: int | None) -> Iterator[R]:
    items = (r for page in pages for r in page.referrals)
    return itertools.islice(items, top) if top is not None else items


def _changed_filter(since: datetime | None) -> str | None:
    if since is None:
        return None
    return f"updatedDateTime ge {since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _next_query(next_link: str) -> str:
    # Only the query of the next link is used, on our own base URL: the link may name another
    # host (documented samples use http://), and credentials must never follow it there.
    return urlsplit(next_link).query


def _page_of(
    body: Any, model: type[R], keep: Callable[[Mapping[str, Any]], bool] | None = None
) -> ReferralPage[R]:
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise APIError("referral listing has no 'value' array", method="GET", url=REFERRALS)
    count = body.get("@odata.count")
    rows = body["value"]
    if keep is not None:
        rows = [item for item in rows if isinstance(item, dict) and keep(item)]
    return ReferralPage(
        referrals=[_read(model, item) for item in rows],
        next_link=body.get("@odata.nextLink") or None,
        count=count if isinstance(count, int) else None,
    )


def _read(model: type[M], body: Any) -> M:
    """A response body as ``model``; a body that does not fit is the remote side's fault."""
    try:
        if issubclass(model, WireDocument):  # keeps the body it was read from (as_read)
            return cast("M", model.read(body))
        return model.model_validate(body)
    except ValidationError as exc:
        where = "; ".join(".".join(map(str, e["loc"])) + f": {e['msg']}" for e in exc.errors())
        raise RejectedError(f"{model.__name__} response does not fit: {where}") from exc


def _wire(referral: Referral | Mapping[str, Any]) -> Any:
    return referral.to_wire() if isinstance(referral, Referral) else dict(referral)


def _referral_path(referral_id: str) -> str:
    return f"{REFERRALS}/{_segment(referral_id)}"


def _segment(value: str) -> str:
    if not value or "/" in value or "?" in value or "#" in value or value in {".", ".."}:
        raise ValueError(f"not a valid id: {value!r}")
    return value


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return json_codec.loads(response.content)
    except ValueError as exc:
        request = response.request
        raise APIError(
            "response is not JSON",
            method=request.method,
            url=str(request.url),
            status=response.status_code,
            body=response.text,
        ) from exc
