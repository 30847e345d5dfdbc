"""One error tree for cosell, named for what the caller does next.

::

    CosellError
    ├── ConfigError ................ halt at start-up; the message names the key
    ├── WebhookRejected ............ answer the caller 401/400; never enqueue
    └── APIError ................... a remote call failed (method, redacted URL, status, body)
        ├── RetryableError ......... retry with backoff (``retry_after`` when the server said)
        │   ├── Throttled .......... 429 / Salesforce 420 / REQUEST_LIMIT_EXCEEDED windows
        │   ├── ServerError ........ 5xx, HTML error pages, UNABLE_TO_LOCK_ROW
        │   ├── TransportError ..... timeouts, refused or dropped connections
        │   └── LimitReserveReached  our own API budget reserve: pause non-urgent work
        ├── StaleWrite ............. 412: re-read both sides and re-plan, never overwrite
        ├── RejectedError .......... 4xx on the record's data: dead-letter with the reason; retried
        │   │                        when the record changes
        │   ├── NotFound ........... 404
        │   ├── Conflict ........... 409 (e.g. a webhook registration already exists)
        │   └── Ambiguous .......... Salesforce 300: an external id matched several records
        └── FatalError ............. halt this tenant until an admin acts
            └── AuthError .......... 401/403 that a token refresh did not cure

``OUTCOME`` maps each class to the engine's action. ``error_for_status`` is the one table from an
HTTP status to a class; clients refine it (e.g. Salesforce's ``UNABLE_TO_LOCK_ROW``).
"""

from __future__ import annotations

from typing import Literal

from cosell.redaction import redact_text, redact_url

Outcome = Literal["retry", "reread", "dead_letter", "halt", "reject"]


class CosellError(Exception):
    """Root of every error cosell raises on purpose."""


class ConfigError(CosellError):
    """Configuration is invalid; ``key`` names the offending setting."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


class WebhookRejected(CosellError):
    """A webhook callback failed verification; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class APIError(CosellError):
    """A remote API call failed. Secrets are redacted from the URL and body excerpt."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
        code: str | None = None,
        body: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.method = method
        self.url = redact_url(url) if url else None
        self.status = status
        self.code = code
        self.body = redact_text(body)[:2000] if body else None
        self.request_id = request_id
        self.message = redact_text(message)
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = f"{self.method} {self.url}" if self.method and self.url else ""
        status = f" -> {self.status}" if self.status is not None else ""
        code = f" {self.code}" if self.code else ""
        head = f"{where}{status}{code}".strip()
        return f"{head}: {self.message}" if head else self.message


class RetryableError(APIError):
    """Try again later; ``retry_after`` is the server's hint in seconds, when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class Throttled(RetryableError):
    """The server asked us to slow down."""


class ServerError(RetryableError):
    """The server failed; the request may succeed later."""


class TransportError(RetryableError):
    """The request did not complete: timeout, refused or dropped connection."""


class LimitReserveReached(RetryableError):
    """Our configured reserve of the daily API allowance is reached; non-urgent work pauses."""


class StaleWrite(APIError):
    """A guarded write lost a race (412): re-read and re-plan."""


class RejectedError(APIError):
    """The remote side refused this record's data; keep it with the reason and retry on change."""


class NotFound(RejectedError):
    """The resource does not exist."""


class Conflict(RejectedError):
    """The resource already exists or conflicts with the current state."""


class Ambiguous(RejectedError):
    """An external id matched more than one record."""


class FatalError(APIError):
    """Stop work for this tenant until an admin fixes the cause."""


class AuthError(FatalError):
    """Authentication failed and refreshing the token did not help."""


OUTCOME: dict[type[CosellError], Outcome] = {
    RetryableError: "retry",
    StaleWrite: "reread",
    RejectedError: "dead_letter",
    FatalError: "halt",
    ConfigError: "halt",
    WebhookRejected: "reject",
}


def outcome_of(error: CosellError) -> Outcome:
    """The engine's action for an error: the entry of its nearest class in ``OUTCOME``."""
    for cls in type(error).__mro__:
        if cls in OUTCOME:
            return OUTCOME[cls]
    return "dead_letter"


_STATUS: dict[int, type[APIError]] = {
    400: RejectedError,
    401: AuthError,
    403: AuthError,
    404: NotFound,
    409: Conflict,
    412: StaleWrite,
    420: Throttled,
    429: Throttled,
    300: Ambiguous,
}


def error_for_status(status: int) -> type[APIError]:
    """The error class for an HTTP status: the one status→class table."""
    if status in _STATUS:
        return _STATUS[status]
    if status >= 500:
        return ServerError
    if 400 <= status < 500:
        return RejectedError
    return APIError
