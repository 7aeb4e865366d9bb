"""Errors the harness reports, and core's failure text made readable.

``HarnessError`` is what crosses to Rust when nothing can be replayed: a typed
``kind`` (one of ``ErrorKind``; Rust parses it into its own enum and treats any
other word as a bug), one line for the user and the traceback for ``-v``.
"""
from __future__ import annotations

import enum
import re


class ErrorKind(str, enum.Enum):
    """Why a session could not be made (the Rust side has the same list)."""

    MISSING_MODULE = "missing-module"
    IMPORT_ERROR = "import-error"
    NO_WORKFLOWS = "no-workflows"
    BAD_SPEC = "bad-spec"
    BAD_ATTR = "bad-attr"
    ENVIRONMENT = "environment"
    UNSUPPORTED_SDK = "unsupported-sdk"


class HarnessError(Exception):
    """A load-time problem the user has to fix (bad spec, import failure...).

    ``kind`` is an ``ErrorKind`` value; ``message`` is one line naming the
    module/file/spec and the fix; ``detail`` is the formatted traceback.
    """

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.kind = ErrorKind(kind).value  # an unknown kind is a bug here, not in Rust
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


_RUST_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_RUST_TYPE = re.compile(r'r#type: "((?:[^"\\]|\\.)*)"')


def _rust_unescape(s: str) -> str:
    def sub(m: re.Match) -> str:
        c = m.group(1)
        if c.startswith("u{"):
            try:
                return chr(int(c[2:-1], 16))
            except ValueError:
                return m.group(0)
        return {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}.get(c, c)

    return re.sub(r"\\(u\{[0-9a-fA-F]+\}|.)", sub, s)


def _core_message(raw: str) -> tuple[str, str]:
    """(message, failure type) out of the core's Rust debug dump."""
    m = _RUST_MESSAGE.search(raw)
    msg = _rust_unescape(m.group(1)) if m else raw
    t = _RUST_TYPE.search(raw)
    typ = _rust_unescape(t.group(1)) if t else ""
    return msg, typ


def _one_line(s: str, limit: int = 600) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."
