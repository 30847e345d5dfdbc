"""Structured logs (structlog): JSON lines for machines, a readable console form for people.

Everything — cosell's own structlog calls and stdlib loggers such as uvicorn's and the work
queue's — goes through one handler, and every event passes a redaction step first, so tokens,
passwords and signatures never reach a log line even inside an exception's text.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from cosell.redaction import MASK, SECRET_KEYS, redact_mapping, redact_text
from cosell.settings import LogFormat

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}
LEVELS["error"] = logging.ERROR


def redact_event(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    """A structlog processor masking secret-named fields and secret-looking text."""
    for key, value in list(event.items()):
        event[key] = _redacted(key, value)
    return event


def _redacted(key: str, value: Any) -> Any:
    if key.lower() in SECRET_KEYS and value is not None:
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, MutableMapping):
        return redact_mapping(dict(value))
    return value


def _shared() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_event,
    ]


def _renderer(fmt: LogFormat, stream: TextIO) -> Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer(sort_keys=False)
    colors = bool(getattr(stream, "isatty", lambda: False)())
    return structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=_plain)


def _plain(stream: TextIO, exc_info: Any) -> None:  # exceptions are already text (redacted)
    return None


QUIET_BELOW_DEBUG = {
    "procrastinate": logging.WARNING,
    "procrastinate.worker.worker": logging.INFO,
    "psycopg.pool": logging.WARNING,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
}
"""Library loggers held above ``info`` unless ``log_level`` is ``debug``: procrastinate says
"Deferred 1 job" for every enqueue and names every task and periodic registration at start
(a worker starting and stopping is still told); httpx logs every request line at info, with
whole query URLs, which belong at debug beside cosell's own one line per reconcile outcome;
psycopg's pools tell each connection they close after a burst."""


PER_JOB = "procrastinate.worker.worker"
"""The logger that names a worker starting and stopping, and also every job it starts: on the
procrastinate queue each signal's periodic task ticks every second or two (see
:mod:`cosell.signals.pace`), so "Starting job" would be several lines a second of nothing."""


class _NoJobStarts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "action", None) != "start_job"


_NO_JOB_STARTS = _NoJobStarts()


def quiet(level: str) -> None:
    """Hold the chatty libraries' loggers at their level in ``QUIET_BELOW_DEBUG``, or at the
    configured ``level`` when it is higher (``debug`` lets everything through)."""
    configured = LEVELS.get(level, logging.INFO)
    for name, floor in QUIET_BELOW_DEBUG.items():
        logger = logging.getLogger(name)
        logger.setLevel(logging.NOTSET if level == "debug" else max(floor, configured))
    worker = logging.getLogger(PER_JOB)
    worker.removeFilter(_NO_JOB_STARTS)
    if level != "debug":
        worker.addFilter(_NO_JOB_STARTS)


def configure_logging(fmt: LogFormat, level: str = "info", stream: TextIO | None = None) -> None:
    """Send every log record, structlog's and the stdlib's, to ``stream`` in ``fmt``."""
    out = stream or sys.stderr
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _renderer(fmt, out),
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(LEVELS.get(level, logging.INFO))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    quiet(level)
    structlog.configure(
        processors=[*_shared(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
