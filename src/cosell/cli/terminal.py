"""What the ``cosell`` command prints: plain text with no control characters, and one line per
error.

Record names, notes and reasons come from Partner Center and the CRM, so anyone who can name a
referral could put terminal escape sequences in ``cosell audit`` or ``cosell status`` (retitle
the window, hide lines, rewrite what was printed before, or answer back into the shell). The
command line therefore writes through :class:`PlainStream`, which removes every escape sequence,
every C0/C1 control character except newline and tab, and the Unicode controls that reorder text
(bidirectional overrides and isolates). It tells Rich it is not a terminal, so Rich draws tables
without colour or cursor movement rather than having its own sequences stripped half-way.

:func:`one_line_errors` is the shared mapping from cosell's errors to what a command prints: one
``error:`` line (sanitised like the rest) and exit status 2 for configuration, 1 otherwise.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from cosell.errors import AuthError, ConfigError, CosellError

_UNSAFE = re.compile(
    r"""
      \x1b\[[0-?]*[ -/]*[@-~]?            # CSI: colours, cursor movement, erase
    | \x9b[0-?]*[ -/]*[@-~]?              # the same introduced by the 8-bit CSI
    | (?:\x1b\]|\x9d)[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?  # OSC: title, hyperlink, clipboard
    | (?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c\n]*(?:\x1b\\|\x9c)?  # DCS, SOS, PM, APC
    | \x1b[ -/]*[0-~]?                    # any other escape sequence
    | [\x00-\x08\x0b-\x1f\x7f-\x9f]       # the remaining controls (not tab or newline)
    | [\u200e\u200f\u202a-\u202e\u2066-\u2069]  # text direction marks, overrides, isolates
    """,
    re.VERBOSE,
)


def sanitise(text: str) -> str:
    """``text`` without escape sequences or control characters (newline and tab are kept)."""
    return _UNSAFE.sub("", text)


class PlainStream(io.TextIOBase):
    """A text stream that sanitises everything written to the stream it wraps."""

    def __init__(self, wrapped: TextIO) -> None:
        super().__init__()
        self.wrapped = wrapped

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.wrapped, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.wrapped, "errors", None)

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        """The wrapped stream's descriptor (faulthandler and subprocesses write to it as is)."""
        return self.wrapped.fileno()

    def isatty(self) -> bool:
        return False  # no colours or cursor movement: they would be stripped anyway

    def write(self, text: str) -> int:
        self.wrapped.write(sanitise(text))
        return len(text)

    def flush(self) -> None:
        self.wrapped.flush()


@contextmanager
def plain_output() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` sanitised for the duration (once, when nested)."""
    if isinstance(sys.stdout, PlainStream):
        yield
        return
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PlainStream(out), PlainStream(err)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = out, err


def error_line(exc: CosellError) -> str:
    """The one line a command prints for ``exc``."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, AuthError):
        return f"error: sign-in failed: {message.removeprefix('-> ').strip()}"
    return f"error: {message}"


def exit_status(exc: CosellError) -> int:
    return 2 if isinstance(exc, ConfigError) else 1


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Any cosell error escaping a command: one ``error:`` line on stderr and its exit status."""
    try:
        yield
    except CosellError as exc:
        sys.stderr.write(sanitise(error_line(exc)) + "\n")
        sys.stderr.flush()
        raise SystemExit(exit_status(exc)) from None
