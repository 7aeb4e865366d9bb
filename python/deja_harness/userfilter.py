"""Which code is the user's: the filter every recorded frame goes through (not
the SDK, the standard library, site-packages or this package), and the helpers
that turn frames and tracebacks into sites.
"""
from __future__ import annotations

import linecache
import os
import sys
import sysconfig

import temporalio


def _norm(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


# Every module of this package has its code under one folder, whatever the loader
# called it ("deja_harness/…" embedded in deja, a real path when imported from disk).
_HARNESS_DIR = os.path.dirname((lambda: None).__code__.co_filename)


def is_harness_file(filename: str) -> bool:
    """Whether a code file is one of deja's own harness modules."""
    return os.path.dirname(filename) == _HARNESS_DIR


class _CodeFilter:
    """Decides whether a code file is the user's code.

    Not user code: pseudo files ("<string>", "<frozen ...>"), this harness,
    the temporalio package, the standard library (asyncio, threading,
    concurrent, importlib ...) and site-/dist-packages, unless the file lies
    inside a package that provided workflows (an installed workflow package).
    """

    def __init__(self) -> None:
        self._cache: dict[str, bool] = {}
        self._user_pkgs: list[str] = []
        self._sdk = _norm(os.path.dirname(temporalio.__file__))
        libs = set()
        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            try:
                p = sysconfig.get_paths().get(key)
            except Exception:
                p = None
            if p:
                libs.add(_norm(p))
        for base in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
            libs.add(_norm(os.path.join(base, "lib")))
        self._libs = sorted(libs)

    def add_user_package(self, path: str) -> None:
        p = _norm(path)
        if p not in self._user_pkgs:
            self._user_pkgs.append(p)
            self._cache.clear()

    def is_user(self, filename: str) -> bool:
        r = self._cache.get(filename)
        if r is None:
            r = self._classify(filename)
            self._cache[filename] = r
        return r

    def _classify(self, filename: str) -> bool:
        if not filename or filename.startswith("<") or is_harness_file(filename):
            return False
        p = _norm(filename)
        if _under(p, self._sdk):
            return False
        if any(_under(p, u) for u in self._user_pkgs):
            return True
        parts = p.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts:
            return False
        if any(_under(p, lib) for lib in self._libs):
            return False
        return True


_FILTER = _CodeFilter()


def _site(filename: str, line: int, function: str) -> dict:
    code = ""
    try:
        code = linecache.getline(filename, line).strip()
    except Exception:
        pass
    return {"file": filename, "line": int(line), "function": function, "code": code}


def _frame_key(frame) -> tuple:
    return (frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


def _user_frames_from_tb(tb) -> list[tuple]:
    """(file, line, function) of the user frames of a traceback, innermost last."""
    entries = []
    while tb is not None:
        entries.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    # The SDK's deadlock error carries a traceback built innermost-first
    # (worker/_workflow.py _gen_tb_helper); normal tracebacks are outermost
    # first. Detect the order from the frame links.
    if len(entries) >= 2 and entries[0][0].f_back is entries[1][0]:
        entries.reverse()
    return [
        (f.f_code.co_filename, ln, f.f_code.co_name)
        for f, ln in entries
        if _FILTER.is_user(f.f_code.co_filename)
    ]


def _innermost_user_tb_site(exc: BaseException | None):
    while exc is not None:
        frames = _user_frames_from_tb(exc.__traceback__)
        if frames:
            return frames[-1]
        exc = exc.__context__
    return None


def _first_user_frame(frame) -> tuple | None:
    is_user = _FILTER.is_user
    while frame is not None:
        if is_user(frame.f_code.co_filename):
            return _frame_key(frame)
        frame = frame.f_back
    return None
