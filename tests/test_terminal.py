"""The command line's output sanitiser and its one-line error mapping."""

from __future__ import annotations

import faulthandler
import signal
from pathlib import Path

import pytest

from cosell.cli.terminal import PlainStream, error_line, exit_status, sanitise
from cosell.errors import AuthError, ConfigError


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain\ttext\n", "plain\ttext\n"),
        ("\x1b[31mred\x1b[0m", "red"),
        ("a\x1b]0;title\x07b", "ab"),
        ("a\x1b]8;;https://x.test\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),
        ("a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),
        ("a\x9b2Jb", "ab"),
        ("over\rwrite\x08\x7f", "overwrite"),
        ("\u202egnp.exe", "gnp.exe"),
        ("a\x1b]0;unterminated\nnext line", "a\nnext line"),
        ("東京 電力 € ✔", "東京 電力 € ✔"),
    ],
)
def test_sanitise_removes_escapes_and_controls_only(raw: str, shown: str) -> None:
    assert sanitise(raw) == shown


def test_errors_are_one_line_with_their_exit_status() -> None:
    auth = AuthError("invalid_grant:\nauthentication failure", status=400)
    assert "\n" not in error_line(auth)
    assert error_line(auth).startswith("error: sign-in failed:")
    assert exit_status(auth) == 1
    assert exit_status(ConfigError("sync.crm", "unknown CRM")) == 2


def test_the_plain_stream_keeps_the_wrapped_descriptor(tmp_path: Path) -> None:
    with (tmp_path / "out").open("w", encoding="utf-8") as handle:
        stream = PlainStream(handle)
        assert stream.fileno() == handle.fileno()
        faulthandler.register(signal.SIGUSR1, file=stream, all_threads=True)
        faulthandler.unregister(signal.SIGUSR1)
