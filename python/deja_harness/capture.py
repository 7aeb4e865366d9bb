"""What a replay says besides its verdict: the SDK's log records (they carry the
tracebacks), Python warnings and text the workflow printed, kept per replay and
never written to the terminal. Process-wide hooks, installed once.
"""
from __future__ import annotations

import logging
import sys
import threading
import warnings
from typing import Any

from .userfilter import _FILTER, _first_user_frame


class _Collector:
    """Everything recorded for one replay."""

    __slots__ = ("steps", "records", "warnings", "output", "deadlock", "update_rejections")

    def __init__(self) -> None:
        self.steps: list[dict] = []
        # Updates history accepted that the code's validator now rejects (recording.py).
        self.update_rejections: list[dict] = []
        self.records: list[logging.LogRecord] = []
        self.warnings: list[str] = []
        self.output: list[str] = []
        self.deadlock = threading.Event()


def _thread_gen() -> int | None:
    return getattr(threading.current_thread(), "deja_gen", None)


class _Capture(logging.Handler):
    """Receives the SDK's log records; keeps them for the current replay.

    Only records from the threads of the current pipeline generation are
    kept: an abandoned pipeline (uninterruptible deadlock) may still log when
    its thread finally wakes up, and that must not land in a later replay.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.sink: _Collector | None = None
        self.installed = False  # hooked into logging / warnings / sys streams
        self.gen: int | None = None

    def attach(self, sink: "_Collector | None", gen: int | None) -> None:
        self.sink = sink
        self.gen = gen

    def accepts(self) -> "_Collector | None":
        sink = self.sink
        if sink is not None and _thread_gen() == self.gen:
            return sink
        return None

    def emit(self, record: logging.LogRecord) -> None:
        sink = self.accepts()
        if sink is not None:
            sink.records.append(record)


# One per process: the SDK's logger and warnings.showwarning are process-wide.
_CAPTURE = _Capture()
_ORIG_SHOWWARNING = warnings.showwarning


def _install_capture() -> None:
    if _CAPTURE.installed:
        return
    lg = logging.getLogger("temporalio")
    lg.addHandler(_CAPTURE)
    lg.propagate = False
    if lg.getEffectiveLevel() > logging.WARNING:
        lg.setLevel(logging.WARNING)

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if _thread_gen() is not None:
            # Raised on a replay thread: part of that replay's result (or
            # dropped, for an abandoned pipeline), never printed.
            sink = _CAPTURE.accepts()
            if sink is not None:
                if not _FILTER.is_user(filename):
                    # Raised inside the SDK (its sandbox warns about asyncio.wait()):
                    # point at the user line that made the call.
                    user = _first_user_frame(sys._getframe(1))
                    if user is not None:
                        filename, lineno = user[0], user[1]
                sink.warnings.append(f"{filename}:{lineno}: {category.__name__}: {message}")
            return
        _ORIG_SHOWWARNING(message, category, filename, lineno, file, line)

    warnings.showwarning = showwarning
    if not isinstance(sys.stdout, _ReplayStream) and sys.stdout is not None:
        sys.stdout = _ReplayStream(sys.stdout)
    if not isinstance(sys.stderr, _ReplayStream) and sys.stderr is not None:
        sys.stderr = _ReplayStream(sys.stderr)
    _CAPTURE.installed = True


class _ReplayStream:
    """sys.stdout / sys.stderr wrapper: text written by a replay thread
    (print() or logging in workflow code) goes into that replay's result
    ("output") instead of the terminal; every other thread writes through."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def write(self, text: str) -> int:
        if _thread_gen() is None:
            return self._real.write(text)
        sink = _CAPTURE.accepts()
        if sink is not None and len(sink.output) < 1000:
            sink.output.append(text)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _thread_gen() is None:
            self._real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)
