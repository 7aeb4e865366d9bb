"""Importing the user's code: workflow modules by name or file, ``module:attr``
specs for data converters and interceptors; each failure a ``HarnessError`` that
names the spec and the fix.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
from typing import Any

import temporalio
import temporalio.converter
import temporalio.worker
import temporalio.workflow

from .errors import HarnessError, _one_line
from .userfilter import _FILTER, is_harness_file, _innermost_user_tb_site, _norm, _under


_IDENT_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _split_spec(spec: str, what: str) -> tuple[str, str | None]:
    if not isinstance(spec, str) or not spec.strip():
        raise HarnessError("bad-spec", f"empty {what} spec {spec!r}; expected a module, a file path or 'module:attr'")
    spec = spec.strip()
    if ":" in spec:
        left, right = spec.rsplit(":", 1)
        if _IDENT_PATH.match(right) and left:
            return left, right
        if right == "" or not (right.startswith("\\") or right.startswith("/")):
            raise HarnessError(
                "bad-spec",
                f"bad {what} spec {spec!r}: the part after ':' must be a Python name like 'module:Name'",
            )
    return spec, None


def _looks_like_path(target: str) -> bool:
    return (
        target.endswith(".py")
        or "/" in target
        or os.sep in target
        or (not _IDENT_PATH.match(target) and os.path.exists(target))
    )


def _module_for_file(path: str) -> tuple[str, str]:
    """(sys.path root, dotted module name) for a .py file or a package dir."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "__init__.py")):
            raise HarnessError(
                "missing-module",
                f"'{path}' is a directory without __init__.py; pass the workflow file (e.g. {path}{os.sep}workflows.py) or a module name",
            )
        d, parts = path, []
    else:
        d, base = os.path.split(path)
        name = base[:-3] if base.endswith(".py") else base
        parts = [] if name == "__init__" else [name]
    while os.path.isfile(os.path.join(d, "__init__.py")):
        d, pkg = os.path.split(d)
        parts.insert(0, pkg)
    for p in parts:
        if not _IDENT_PATH.match(p) or "." in p:
            raise HarnessError(
                "bad-spec",
                f"cannot import '{path}': '{p}' is not a valid Python module name; rename it or pass a module name with --python-path",
            )
    return d, ".".join(parts)


_CODE_ROOTS: set[str] = set()


def _purge_modules_under(root: str) -> None:
    for k, m in list(sys.modules.items()):
        f = getattr(m, "__file__", None)
        # only user code: a code root may well contain the virtualenv
        if f and _under(_norm(f), root) and _FILTER.is_user(f) and k != "deja_harness":
            del sys.modules[k]


def _forget_user_modules() -> None:
    """Forget every user module imported by an earlier load() in this process.

    A second load() (``deja debug``'s ``r``: edit the code, replay again) must
    execute the files on disk again. Without this the import returns the cached
    module: unsandboxed workflows would run the old code, and sandboxed ones would
    run new code under the old class definitions.
    """
    for k, m in list(sys.modules.items()):
        f = getattr(m, "__file__", None)
        if f and k != "deja_harness" and _FILTER.is_user(f):
            del sys.modules[k]
    importlib.invalidate_caches()


def _purge_modules(name: str) -> None:
    top = name.split(".")[0]
    for k in list(sys.modules):
        if k == top or k.startswith(top + "."):
            del sys.modules[k]


def _user_location(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    site = _innermost_user_tb_site(exc)
    if site:
        return f"{site[0]}:{site[1]}"
    tb = traceback.extract_tb(exc.__traceback__)
    for fs in reversed(tb):
        if not fs.filename.startswith("<") and not is_harness_file(fs.filename):
            return f"{fs.filename}:{fs.lineno}"
    return ""


def _import_error(target: str, exc: BaseException) -> HarnessError:
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, SyntaxError):
        loc = f"{exc.filename}:{exc.lineno}" if exc.filename else target
        return HarnessError(
            "import-error",
            f"{loc}: {type(exc).__name__}: {exc.msg} (while importing '{target}'); fix the syntax error",
            detail,
        )
    loc = _user_location(exc)
    where = f" at {loc}" if loc else ""
    return HarnessError(
        "import-error",
        f"importing '{target}' failed{where}: {type(exc).__name__}: {_one_line(str(exc), 300)}; fix the error or install what it needs",
        detail,
    )


def _import_target(target: str, what: str) -> Any:
    """Import a dotted module name or a file path; returns the module."""
    if _looks_like_path(target):
        if not os.path.exists(target):
            raise HarnessError(
                "missing-module",
                f"{what} file '{target}' not found (cwd {os.getcwd()}); check the path",
            )
        root, name = _module_for_file(target)
        if not name:
            raise HarnessError("bad-spec", f"cannot derive a module name from '{target}'")
        root_n = _norm(root)
        # The sandbox re-imports the module BY NAME, so its root must come
        # first on sys.path, and modules loaded earlier from another code
        # root (e.g. the previous version of the same code: workflows.py and
        # its sibling activities.py) must be forgotten, or the new code would
        # silently run against the old siblings.
        for other in list(_CODE_ROOTS):
            if other != root_n:
                _purge_modules_under(other)
                _CODE_ROOTS.discard(other)
        _CODE_ROOTS.add(root_n)
        sys.path[:] = [p for p in sys.path if not (p and _norm(p) == root_n)]
        sys.path.insert(0, root)
        importlib.invalidate_caches()
        existing = sys.modules.get(name)
        want = _norm(os.path.abspath(target))
        if existing is not None and not _same_file(existing, want):
            _purge_modules(name)
        module = _import_by_name(name, target, what)
        if not _same_file(module, want):
            got = getattr(module, "__file__", None) or "a built-in module"
            raise HarnessError(
                "import-error",
                f"'{target}' is shadowed: importing it as '{name}' gives {got}; rename the file or package",
            )
        return module
    return _import_by_name(target, target, what)


def _same_file(module: Any, want: str) -> bool:
    f = getattr(module, "__file__", None)
    if not f:
        return False
    f = _norm(f)
    if f == want:
        return True
    # package given as directory: compare against its __init__.py
    return f == os.path.join(want, "__init__.py")


def _import_by_name(name: str, target: str, what: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        parts = name.split(".")
        prefixes = {".".join(parts[: i + 1]) for i in range(len(parts))}
        if missing in prefixes:
            raise HarnessError(
                "missing-module",
                f"{what} module '{name}' not found (no module named '{missing}'); "
                "pass a file path, or add its parent directory with --python-path",
                "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            ) from None
        raise _import_error(target, exc) from None
    except HarnessError:
        raise
    except BaseException as exc:  # noqa: BLE001 - user module code can raise anything
        if isinstance(exc, (KeyboardInterrupt,)):
            raise
        raise _import_error(target, exc) from None


def _resolve_attr(obj: Any, attr: str, spec: str) -> Any:
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise HarnessError(
                "bad-attr",
                f"'{spec}': {getattr(obj, '__name__', obj)!s} has no attribute '{part}'",
            )
        obj = getattr(obj, part)
    return obj


def _workflow_defn(obj: Any):
    if not isinstance(obj, type):
        return None
    try:
        return temporalio.workflow._Definition.from_class(obj)
    except Exception:
        return None


def _load_object(spec: str, what: str) -> Any:
    target, attr = _split_spec(spec, what)
    if attr is None:
        raise HarnessError("bad-spec", f"bad {what} spec {spec!r}: expected 'module:attr' (or 'path/file.py:attr')")
    module = _import_target(target, what)
    return _resolve_attr(module, attr, spec)


def _call_factory(obj: Any, spec: str, what: str) -> Any:
    try:
        return obj()
    except Exception as exc:
        raise HarnessError(
            "bad-attr",
            f"'{spec}': calling it to build the {what} failed: {type(exc).__name__}: {_one_line(str(exc), 200)}",
            traceback.format_exc(),
        ) from None


def _load_instance(spec: str, what: str, cls: type, name: str, accepted: str):
    """`module:attr` naming a `cls` (`name`) instance, or a zero-argument callable returning one."""
    obj = _load_object(spec, what)
    if isinstance(obj, cls):
        return obj
    if callable(obj):
        made = _call_factory(obj, spec, what)
        if isinstance(made, cls):
            return made
        raise HarnessError("bad-attr", f"'{spec}' returned {type(made).__name__}, not a {name}")
    raise HarnessError("bad-attr", f"'{spec}' is a {type(obj).__name__}, not {accepted}")


def _load_data_converter(spec: str | None):
    if not spec:
        return None
    return _load_instance(
        spec,
        "data converter",
        temporalio.converter.DataConverter,
        "temporalio.converter.DataConverter",
        "a DataConverter or a zero-argument function returning one",
    )


def _load_interceptor(spec: str):
    return _load_instance(
        spec,
        "interceptor",
        temporalio.worker.Interceptor,
        "temporalio.worker.Interceptor",
        "a temporalio.worker.Interceptor (instance or class)",
    )


def _note_user_package(module: Any) -> None:
    f = getattr(module, "__file__", None)
    if not f:
        return
    parts = _norm(f).split(os.sep)
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            i = parts.index(marker)
            if i + 1 < len(parts):
                _FILTER.add_user_package(os.sep.join(parts[: i + 2]))


def _collect_workflows(specs: list[str]) -> list[type]:
    classes: list[type] = []
    seen: set[int] = set()
    by_name: dict[str | None, tuple[type, str]] = {}

    def add(cls: type, defn: Any, spec: str) -> None:
        if id(cls) in seen:
            return
        prev = by_name.get(defn.name)
        if prev is not None:
            label = f"workflow type '{defn.name}'" if defn.name else "dynamic workflow"
            raise HarnessError(
                "bad-spec",
                f"{label} is defined twice: {prev[0].__module__}.{prev[0].__qualname__} ({prev[1]}) "
                f"and {cls.__module__}.{cls.__qualname__} ({spec}); pass only one with 'module:Class'",
            )
        seen.add(id(cls))
        by_name[defn.name] = (cls, spec)
        classes.append(cls)

    for spec in specs:
        target, attr = _split_spec(spec, "workflows")
        module = _import_target(target, "workflow")
        _note_user_package(module)
        if attr is not None:
            cls = _resolve_attr(module, attr, spec)
            defn = _workflow_defn(cls)
            if defn is None:
                raise HarnessError(
                    "bad-attr",
                    f"'{spec}' is not a @workflow.defn class",
                )
            add(cls, defn, spec)
            continue
        found = 0
        for value in list(vars(module).values()):
            defn = _workflow_defn(value)
            if defn is not None:
                add(value, defn, spec)
                found += 1
        if not found:
            raise HarnessError(
                "no-workflows",
                f"no @workflow.defn classes in '{target}' ({getattr(module, '__file__', module.__name__)}); "
                "point --workflows at the module that defines (or imports) them",
            )
    if not classes:
        raise HarnessError("no-workflows", "no workflows given; pass --workflows MODULE_OR_FILE")
    return classes
