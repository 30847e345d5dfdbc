import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog

from cosell.service.logging import configure_logging


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_secrets_masked() -> None:
    out = io.StringIO()
    configure_logging("json", "info", out)
    log = structlog.get_logger("cosell.test")
    log.info("token.refreshed", password="hunter2", url="https://h/x?access_token=abc123", n=3)
    log.debug("not shown")
    [event] = lines(out)
    assert event["event"] == "token.refreshed"
    assert event["password"] == "***"
    assert event["url"] == "https://h/x?access_token=***"
    assert event["n"] == 3
    assert event["level"] == "info"
    assert "hunter2" not in out.getvalue()
    assert "abc123" not in out.getvalue()


def test_exception_text_is_redacted() -> None:
    out = io.StringIO()
    configure_logging("json", "info", out)
    try:
        raise RuntimeError("sent Authorization: Bearer eyJabc.def.ghi to the server")
    except RuntimeError:
        structlog.get_logger("cosell.test").exception("call.failed")
    [event] = lines(out)
    assert "RuntimeError" in str(event["exception"])
    assert "eyJabc" not in out.getvalue()


def test_stdlib_loggers_share_the_format_and_redaction() -> None:
    out = io.StringIO()
    configure_logging("json", "warning", out)
    logging.getLogger("uvicorn.error").warning("refused client_secret=%s", "s3cr3t")
    logging.getLogger("uvicorn.error").info("quiet")
    [event] = lines(out)
    assert event["logger"] == "uvicorn.error"
    assert event["event"] == "refused client_secret=***"


def test_console_format_is_readable_and_redacted() -> None:
    out = io.StringIO()
    configure_logging("console", "info", out)
    structlog.get_logger("cosell.test").info("signal.looked", enqueued=2, secret="x1y2")
    text = out.getvalue()
    assert "signal.looked" in text
    assert "enqueued=2" in text
    assert "x1y2" not in text


def test_procrastinate_says_only_what_an_operator_needs_at_info() -> None:
    out = io.StringIO()
    configure_logging("json", "info", out)
    logging.getLogger("procrastinate.jobs").info("Deferred 1 job")
    logging.getLogger("procrastinate.periodic").info("Registering task cosell.x")
    logging.getLogger("procrastinate.worker.worker").info("Starting worker on queues cosell")
    start = {"action": "start_job"}  # each tick of each signal: every second or two
    logging.getLogger("procrastinate.worker.worker").info("Starting job x[1]()", extra=start)
    logging.getLogger("procrastinate.jobs").warning("job failed")
    assert [e["event"] for e in lines(out)] == ["Starting worker on queues cosell", "job failed"]
    configure_logging("json", "warning", out := io.StringIO())
    logging.getLogger("procrastinate.worker.worker").info("Starting worker on queues cosell")
    assert lines(out) == []  # warning means warning, the library's floor notwithstanding
    configure_logging("json", "debug", out := io.StringIO())
    logging.getLogger("procrastinate.worker.worker").info("Starting job x[1]()", extra=start)
    assert [e["event"] for e in lines(out)] == ["Starting job x[1]()"]
    assert logging.getLogger("procrastinate.jobs").isEnabledFor(logging.DEBUG)
    logging.getLogger("procrastinate").setLevel(logging.NOTSET)
    logging.getLogger("procrastinate.worker.worker").setLevel(logging.NOTSET)


def test_http_request_lines_are_debug_only() -> None:
    def request() -> None:
        transport = httpx.MockTransport(lambda _: httpx.Response(200))
        with httpx.Client(transport=transport) as client:
            client.get("https://example.invalid/services/data/v62.0/query?q=SELECT+Id")

    out = io.StringIO()
    configure_logging("json", "info", out)
    request()
    logging.getLogger("cosell.sync.ledger").info("record state=synced")
    assert [e["event"] for e in lines(out)] == ["record state=synced"]
    debug = io.StringIO()
    configure_logging("json", "debug", debug)
    request()
    assert [e["event"] for e in lines(debug)][-1].startswith("HTTP Request: GET")
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)
