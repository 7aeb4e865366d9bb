"""Reuse one workflow sandbox across histories, only while it is provably pristine.

Why this exists
---------------
The SDK's ``SandboxedWorkflowRunner`` re-imports the workflow's module (and every
non-passthrough module that imports) for *every* workflow run, so that module-level
state cannot leak from one run into the next. On a batch of small histories that
re-import is about three quarters of the replay CPU: each run re-executes the
module body, every ``@workflow.defn`` (type hints, signature inspection) and every
``@dataclass``. ``deja check`` replays thousands of histories per process, so it
pays that cost thousands of times to protect against something that almost never
happens.

What this module does instead
-----------------------------
``ReusingSandboxedWorkflowRunner`` is a ``SandboxedWorkflowRunner`` (same
restrictions, same passthrough rules, same ``_Instance`` doing every activation in
the sandbox) that keeps the sandbox's imported modules (its ``Importer``) per
workflow module and hands them to the next run — but only when the next run
cannot tell the difference from a fresh import:

1. **Learn once per module.** The first time a module is needed it is imported in
   two fresh sandboxes, A and B, and the two module graphs are compared in
   lockstep. An object that is the *same* object in both (a passthrough module, a
   stdlib class, a logger) is shared in the SDK too, so it is a leaf. Everything
   else was created by the import and must be something whose whole state this
   module can see: a value (int, str, timedelta, code…), a container, a class, a
   function (defaults, closure cells, attributes), a plain Python object (its
   ``__dict__`` and slots). An object with state we cannot see (``random.Random()``
   at module level, an ``lru_cache``, a socket…) or an import that produces
   different values each time (``STARTED = time.time()``) makes the module
   *not reusable*: every run of it gets a fresh sandbox, exactly as in the SDK.
2. **Fingerprint after every run.** Right after the import, the module graph is
   fingerprinted (identity, type and size of every reachable object, in walk
   order; the objects are pinned so an identity cannot be recycled). When a run
   is evicted the fingerprint is taken again. Equal means the next run starts
   from state indistinguishable from a fresh import; anything else (a global
   rebound, a list appended to, a class attribute changed, a module imported at
   run time) drops the sandbox, and the next run gets a fresh import. A module
   that dirties its sandbox twice stops being reused.
3. **Anything unexpected falls back to the SDK's own path**: a run that raised or
   deadlocked in the sandbox, an SDK whose ``_Instance`` has a different shape
   than the one this was written against (checked, not assumed), or
   ``DEJA_FRESH_SANDBOX=1`` / ``--fresh-sandbox``.

So each run sees either a fresh import or one whose visible state equals a fresh
import's. The verdict still comes from the SDK's core; ``bench/check_bench.py``
and the tests compare every verdict with the SDK's own ``Replayer``.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import fractions
import functools
import sys
import threading
import time
import types
import uuid
from collections import OrderedDict, defaultdict, deque
from typing import Any

import temporalio.worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import _importer as _sandbox_importer
from temporalio.worker.workflow_sandbox import _runner as _sandbox_runner

try:  # the proxies the sandbox puts around restricted modules and their members
    from temporalio.worker.workflow_sandbox._restrictions import RestrictedModule, _RestrictedProxy
except Exception:  # noqa: BLE001 - an SDK without them: proxies are then opaque
    RestrictedModule = _RestrictedProxy = None  # type: ignore[assignment,misc]

# The process's real sys.modules (inside a sandbox `sys.modules` is the sandbox's).
_REAL_MODULES: dict = getattr(getattr(_sandbox_importer, "_thread_local_sys_modules", None), "orig", None) or sys.modules

# Walks bigger than this are not worth it (and not cheap to check): no reuse.
MAX_NODES = 200_000
# A module that dirtied its reused sandbox this many times is re-imported per run.
MAX_DIRTY = 2



# --------------------------------------------------------------------------
# What an object is made of
# --------------------------------------------------------------------------

# Immutable values: equal by value between two imports, never changed in place.
_VALUE_TYPES = frozenset(
    {
        type(None),
        bool,
        int,
        float,
        complex,
        str,
        bytes,
        range,
        slice,
        type(Ellipsis),
        type(NotImplemented),
        types.CodeType,
        datetime.timedelta,
        datetime.datetime,
        datetime.date,
        datetime.time,
        datetime.timezone,
        decimal.Decimal,
        fractions.Fraction,
        uuid.UUID,
        type(__import__("re").compile("")),
    }
)

# Stateless C-level attributes of classes: equal when they have the same name.
_DESCRIPTOR_TYPES = frozenset(
    {
        types.GetSetDescriptorType,
        types.MemberDescriptorType,
        types.MethodDescriptorType,
        types.WrapperDescriptorType,
        types.ClassMethodDescriptorType,
    }
)

# C objects whose hidden state is a cache or a lock, never behaviour a workflow can
# observe: ABC's subclass cache, locks (cached_property has one), pydantic's
# compiled (immutable) validators and serializers.
_BENIGN_OPAQUE = frozenset(
    {
        "_abc._abc_data",
        "_thread.RLock",
        "_thread.lock",
        "pydantic_core._pydantic_core.SchemaValidator",
        "pydantic_core._pydantic_core.SchemaSerializer",
        # Immutable once made (C types from Python 3.12 on).
        "typing.TypeVar",
        "typing.ParamSpec",
        "typing.TypeVarTuple",
        "typing.TypeAliasType",
    }
)

# C base classes whose instance state is immutable (int/str enums, named tuples…)
# or visible (exception args).
_TRANSPARENT_C_BASES = frozenset(
    {object, int, float, complex, str, bytes, tuple, frozenset, BaseException}
)

_SEQ_TYPES = (list, tuple, deque)
# What `fingerprint` need not expand: immutable, so a pinned identity is enough.
_LEAF_TYPES = _VALUE_TYPES | _DESCRIPTOR_TYPES
_MAP_TYPES = (dict, types.MappingProxyType)


def _qualname(t: type) -> str:
    return f"{getattr(t, '__module__', '?')}.{getattr(t, '__qualname__', '?')}"


@functools.lru_cache(maxsize=None)
def _hidden_c_state(t: type) -> bool:
    """Whether instances of ``t`` may hold state that neither __dict__ nor slots show.

    Some class in the MRO then adds C-level fields: its instance size grows by more
    than the ``__dict__``/``__weakref__`` pointers and ``__slots__`` it declares. (The
    heap-type flag cannot tell: C extension types are heap types too since 3.x.)
    """
    ptr = 8 if sys.maxsize > 2**32 else 4
    for cls in t.__mro__:
        base = cls.__base__
        if base is None or cls in _TRANSPARENT_C_BASES:
            continue
        allowed = base.__basicsize__
        slots = cls.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        allowed += ptr * sum(1 for name in slots if name not in ("__dict__", "__weakref__"))
        if cls.__weakrefoffset__ and not base.__weakrefoffset__:
            allowed += ptr
        # A __dict__ pointer in the object (not the 3.11+ "managed" one kept before it).
        if cls.__dictoffset__ and not base.__dictoffset__ and (cls.__dictoffset__ > 0 or cls.__itemsize__):
            allowed += ptr
        if cls.__basicsize__ > allowed or (cls.__itemsize__ and not base.__itemsize__):
            return True
    return False


def _slot_names(t: type) -> list[str]:
    names: list[str] = []
    for base in t.__mro__:
        slots = base.__dict__.get("__slots__", ())
        if isinstance(slots, str):
            slots = (slots,)
        for s in slots:
            if s not in ("__dict__", "__weakref__"):
                names.append(s)
    return names


_MISSING = object()
_EMPTY_CELL = object()


class Opaque(Exception):
    """An object this module cannot see all the state of."""


def _proxy_state(x: Any):
    return object.__getattribute__(x, "__temporal_state")


def expand(x: Any) -> tuple[tuple, list]:
    """(kind token, children in a fixed order) for one object.

    The token says what ``x`` is and holds its value when it is an immutable
    value; the children are the objects whose state is part of ``x``'s state.
    Children are always objects that ``x`` really holds (never a wrapper made
    for the walk, such as a class's mappingproxy), so their identities are
    stable from one walk to the next. Attribute reads go around user
    ``__getattr__``/properties (``object`` / ``type`` accessors), so walking
    never runs workflow code.
    """
    t = type(x)
    if t in _VALUE_TYPES:
        return (t, x), []
    if t in _DESCRIPTOR_TYPES:
        return (t, getattr(x, "__qualname__", None) or getattr(x, "__name__", None)), []
    if _RestrictedProxy is not None and issubclass(t, _RestrictedProxy):
        state = _proxy_state(x)
        return ("proxy", state.name), [state.obj]
    if issubclass(t, types.ModuleType):
        return ("module", x.__name__), [object.__getattribute__(x, "__dict__")]
    if issubclass(t, type):
        items = _items(type.__getattribute__(x, "__dict__"))
        return ("class", len(items) // 2), [t, type.__getattribute__(x, "__bases__"), *items]
    if t is types.FunctionType:
        cells = [c.cell_contents if _cell_full(c) else _EMPTY_CELL for c in (x.__closure__ or ())]
        return ("function", len(cells)), [x.__code__, x.__defaults__, x.__kwdefaults__, x.__dict__, *cells]
    if x is _EMPTY_CELL or x is _MISSING:
        return ("sentinel", x is _EMPTY_CELL), []
    if t is types.MethodType:
        return ("method",), [x.__func__, x.__self__]
    if t is types.MethodWrapperType:  # `obj.__add__`: its object is state
        return ("method-wrapper", x.__name__), [x.__self__]
    if t is types.BuiltinFunctionType:
        owner = x.__self__
        if owner is None or type(owner) is types.ModuleType:
            return (t, x.__qualname__, getattr(owner, "__name__", None)), []
        return ("builtin-method", x.__name__), [owner]
    if t is staticmethod or t is classmethod:
        return (t,), [x.__func__, x.__dict__]
    if t is property:
        return (t,), [x.fget, x.fset, x.fdel, x.__doc__]
    if t is functools.partial:
        return (t,), [x.func, x.args, x.keywords, x.__dict__]
    if issubclass(t, _MAP_TYPES):
        children = _items(x)
        if t is defaultdict:
            children.append(x.default_factory)
        elif t not in (dict, OrderedDict, types.MappingProxyType):
            children.extend(_instance_state(x, t))
            children.append(t)
        return ("map", t, len(x)), children
    if issubclass(t, _SEQ_TYPES):
        children = list(x)
        if t not in (list, tuple, deque):
            children.extend(_instance_state(x, t))
            children.append(t)
        return ("seq", t, len(x)), children
    if t is set or t is frozenset:
        # Members in a fixed order for one graph; `learn` pairs sets by content.
        return ("set", t, len(x)), sorted(x, key=id)
    if t is bytearray:
        return (t, bytes(x)), []
    if t is types.GenericAlias:  # list[Order]: immutable, but may name a workflow-module class
        return (t,), [x.__origin__, x.__args__]
    if t is types.UnionType:  # Order | None
        return (t,), [x.__args__]
    name = _qualname(t)
    if name in _BENIGN_OPAQUE:
        return ("benign", name), []
    if _hidden_c_state(t):
        raise Opaque(name)
    state = _instance_state(x, t)
    return ("object", len(state)), [t, *state]


def _items(mapping) -> list:
    out: list = []
    for k, v in mapping.items():
        out.append(k)
        out.append(v)
    return out


def _cell_full(cell) -> bool:
    try:
        cell.cell_contents
    except ValueError:
        return False
    return True


def _instance_state(x: Any, t: type) -> list:
    """An instance's own state: its __dict__ (or _MISSING) and its slot values."""
    try:
        d = object.__getattribute__(x, "__dict__")
    except AttributeError:
        d = _MISSING
    return [d, *(_slot_value(x, s) for s in _slot_names(t))]


def _slot_value(x: Any, name: str) -> Any:
    try:
        return object.__getattribute__(x, name)
    except AttributeError:
        return _MISSING


# --------------------------------------------------------------------------
# Learning (two fresh imports) and fingerprinting (one)
# --------------------------------------------------------------------------


class NotReusable(Exception):
    """Two fresh imports of the module differ, or hold state we cannot see."""


class ModulesDiffer(NotReusable):
    """The two imports loaded different module sets.

    Happens legitimately on the first sandbox import in a process: a passthrough
    module imported for the first time (e.g. the sandbox's own ``_in_sandbox``)
    also registers its parent package in that one sandbox.
    """


def _passthrough(name: str, m: Any) -> bool:
    """Whether a sandbox `sys.modules` entry is the process's own module (or a
    restricting proxy of it): the same in every sandbox, so nothing to check."""
    real = _REAL_MODULES.get(name)
    if real is None:
        return False
    if m is real:
        return True
    if _RestrictedProxy is not None and issubclass(type(m), _RestrictedProxy):
        return _proxy_state(m).obj is real
    return False


def _roots(new_modules: dict) -> list[tuple[str, Any]]:
    """The sandbox's own modules: those its import executed (plus its __main__)."""
    return [(k, new_modules[k]) for k in sorted(new_modules) if not _passthrough(k, new_modules[k])]


def _passthrough_ok(importer, new_modules: dict, known: frozenset) -> bool:
    """Passthrough modules a run added are harmless unless the sandbox would have
    refused the import (only allowed then under `sandbox_unrestricted`)."""
    for name in new_modules.keys() - known:
        if not _passthrough(name, new_modules[name]):
            continue
        try:
            if importer.restrictions.invalid_modules.match_access(importer.restriction_context, *name.split(".")):
                return False
        except Exception:  # noqa: BLE001
            return False
    return True


def learn(modules_a: dict, modules_b: dict) -> set[int]:
    """Compare two fresh sandbox imports; return the ids of objects they share.

    Raises NotReusable (with the path to the first difference) when a module
    graph has state this module cannot fingerprint, or when the two imports
    differ (the import itself is not deterministic).
    """
    roots_a, roots_b = _roots(modules_a), _roots(modules_b)
    if [k for k, _ in roots_a] != [k for k, _ in roots_b]:
        names_a, names_b = {k for k, _ in roots_a}, {k for k, _ in roots_b}
        raise ModulesDiffer(f"two imports loaded different modules: {sorted(names_a ^ names_b)[:8]}")
    shared: set[int] = set()
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Any, Any, str]] = [(a, b, name) for (name, a), (_, b) in zip(reversed(roots_a), reversed(roots_b))]
    nodes = 0
    while stack:
        a, b, path = stack.pop()
        if a is b:
            shared.add(id(a))
            continue
        key = (id(a), id(b))
        if key in seen:
            continue
        seen.add(key)
        nodes += 1
        if nodes > MAX_NODES:
            raise NotReusable(f"more than {MAX_NODES} objects to check")
        try:
            ka, ca = expand(a)
        except Opaque as why:
            raise NotReusable(f"{path} holds state deja cannot check ({why})") from None
        try:
            kb, cb = expand(b)
        except Opaque as why:
            raise NotReusable(f"{path} holds state deja cannot check ({why})") from None
        if ka != kb or len(ca) != len(cb):
            raise NotReusable(f"{path} differs between two imports ({_short(ka)} vs {_short(kb)})")
        if ka[0] == "set":
            # Equal values, and every other member the very same object in both.
            vals_a = {v for v in ca if type(v) in _VALUE_TYPES}
            vals_b = {v for v in cb if type(v) in _VALUE_TYPES}
            objs_a = {id(v) for v in ca if type(v) not in _VALUE_TYPES}
            objs_b = {id(v) for v in cb if type(v) not in _VALUE_TYPES}
            if vals_a != vals_b or objs_a != objs_b:
                raise NotReusable(f"{path} (a set) differs between two imports")
            shared |= objs_a
            continue
        paths = _child_paths(path, a, ka, len(ca)) if len(path) < 400 else [path] * len(ca)
        for i in range(len(ca) - 1, -1, -1):
            stack.append((ca[i], cb[i], paths[i]))
    return shared


def fingerprint(new_modules: dict, shared: set[int], paths: list | None = None) -> tuple[list, list]:
    """(tokens, pinned objects) for the sandbox's current module state.

    Two fingerprints are equal when every reachable object is the same object of
    the same kind and size in the same place; the pinned list keeps the objects
    alive so an id cannot be handed to a new object while this fingerprint is
    in use. With ``paths``, the walk path of every token is appended to it (for
    saying *what* changed; slower).
    """
    roots = _roots(new_modules)
    tokens: list = [tuple(name for name, _ in roots)]
    if paths is not None:
        paths.append("sys.modules")
    pinned: list = []
    seen: set[int] = set()
    stack: list = [m for _, m in reversed(roots)]
    where: list = [name for name, _ in reversed(roots)]  # parallel to stack, with paths only
    leaf_types = _LEAF_TYPES
    while stack:
        x = stack.pop()
        path = where.pop() if paths is not None else None
        ix = id(x)
        tokens.append(ix)
        if paths is not None:
            paths.append(path)
        if ix in shared or ix in seen:
            continue
        seen.add(ix)
        pinned.append(x)
        t = type(x)
        if t in leaf_types:  # immutable: its (pinned) identity says it all
            continue
        if len(pinned) > MAX_NODES:
            raise NotReusable(f"more than {MAX_NODES} objects to check")
        if t is dict:  # the common case, inline
            kind: Any = len(x)
            children = _items(x)
        else:
            try:
                kind, children = expand(x)
            except Opaque as why:
                # Only reachable through state that changed since learning.
                kind, children = ("opaque", str(why)), []
        tokens.append(kind)
        stack.extend(reversed(children))
        if paths is not None:
            paths.append(path)
            where.extend(reversed(_child_paths(path, x, kind, len(children))))
    return tokens, pinned


def _child_paths(path: str, x: Any, kind: Any, n: int) -> list[str]:
    """Where each of `x`'s `n` children (as `expand` lists them) sits, for messages."""
    if isinstance(kind, int):  # `fingerprint`'s inline dict
        kind = ("map",)
    if kind[0] == "module":
        return [path] * n
    if kind[0] in ("map", "class"):
        head = [f"{path}.__class__", f"{path}.__bases__"] if kind[0] == "class" else []
        mapping = type.__getattribute__(x, "__dict__") if kind[0] == "class" else x
        fmt = "{}.{}" if kind[0] == "class" else "{}[{!r}]"
        out = list(head)
        for k in mapping.keys():
            out += [fmt.format(path, k) + " (key)", fmt.format(path, k)]
        return (out + [f"{path}[{i}]" for i in range(len(out), n)])[:n]
    if kind[0] == "object":
        return ([f"{path}.__class__", f"{path}.__dict__"] + [f"{path}.<slot {i}>" for i in range(n)])[:n]
    if kind[0] == "function":
        return ([f"{path}.{a}" for a in ("__code__", "__defaults__", "__kwdefaults__", "__dict__")] + [f"{path}.<closure {i}>" for i in range(n)])[:n]
    return [f"{path}[{i}]" for i in range(n)]


def _short(kind: tuple) -> str:
    text = ", ".join(getattr(k, "__name__", None) or repr(k) for k in kind)
    return text if len(text) < 80 else text[:77] + "..."


def describe_change(new_modules: dict, shared: set[int], baseline: list) -> str:
    """Where the sandbox's state first differs from its `baseline` fingerprint (for -v).

    The walk is the same as the baseline's up to the first differing token, so the
    current walk's path there names the place in both.
    """
    paths: list = []
    tokens, _ = fingerprint(new_modules, shared, paths)
    for i, (a, b) in enumerate(zip(baseline, tokens)):
        if a != b:
            where = paths[i] if i < len(paths) else "?"
            if isinstance(a, tuple) and isinstance(b, tuple):
                return f"{where} ({_short(a)} -> {_short(b)})"
            return where
    if len(tokens) != len(baseline):
        return paths[min(len(tokens), len(baseline)) - 1] if paths else "?"
    return ""


# --------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------

# The attributes an SDK sandbox `_Instance` is made of in the versions this was
# written against (1.x). Reuse builds an `_Instance` around a kept Importer; if a
# fresh `_Instance` of the installed SDK holds anything else, reuse is off.
_INSTANCE_ATTRS = frozenset({"instance_details", "runner_class", "importer", "_current_thread_id", "globals_and_locals"})


def supported() -> bool:
    """Whether this temporalio's sandbox has the internals reuse is built on.

    ``_instance_on`` re-does ``_Instance.__init__`` minus the ``Importer``, so that
    constructor must take the arguments it always has (1.10 to 1.35), and the
    importer must keep its modules in ``new_modules`` (read by ``learn`` and
    ``fingerprint``). ``_learn`` also checks each fresh instance's attributes
    against ``_INSTANCE_ATTRS`` before it keeps anything. Where any of this does
    not hold the runner is the SDK's, unchanged.
    """
    try:
        import inspect

        inst_cls = _sandbox_runner._Instance
        params = list(inspect.signature(inst_cls.__init__).parameters)
        importer_src = inspect.getsource(_sandbox_importer.Importer.__init__)
        return (
            # ReusingSandboxedWorkflowRunner extends the runner as a frozen dataclass
            # (1.1x releases had a plain class with private fields).
            dataclasses.is_dataclass(SandboxedWorkflowRunner)
            and {f.name for f in dataclasses.fields(SandboxedWorkflowRunner)} >= {"restrictions", "runner_class"}
            and params == ["self", "instance_details", "runner_class", "restrictions"]
            and callable(getattr(inst_cls, "_create_instance", None))
            and "self.new_modules" in importer_src
            and hasattr(_sandbox_importer, "_thread_local_sys_modules")
        )
    except Exception:  # noqa: BLE001 - anything unexpected: no reuse
        return False


@dataclasses.dataclass
class Stats:
    """What the pool did; shown by `deja check -v` and asserted by tests."""

    fresh_imports: int = 0
    reused: int = 0
    dropped_dirty: int = 0
    dropped_failed: int = 0
    not_reusable: dict = dataclasses.field(default_factory=dict)
    changes: list = dataclasses.field(default_factory=list)
    learn_seconds: float = 0.0
    check_seconds: float = 0.0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class _Entry:
    """A kept sandbox import for one workflow module."""

    __slots__ = ("importer", "shared", "baseline", "pinned", "known", "busy")

    def __init__(self, importer, shared: set[int], baseline: list, pinned: list) -> None:
        self.importer = importer
        self.shared = shared
        self.baseline = baseline
        self.pinned = pinned
        self.known = frozenset(importer.new_modules)
        self.busy = True


@dataclasses.dataclass(frozen=True)
class ReusingSandboxedWorkflowRunner(SandboxedWorkflowRunner):
    """A SandboxedWorkflowRunner that re-imports a workflow module only when needed.

    See the module docs. ``reuse=False`` is the SDK's runner, unchanged.
    """

    reuse: bool = True
    _pool: dict = dataclasses.field(default_factory=dict, init=False, compare=False, repr=False)
    _dirty: dict = dataclasses.field(default_factory=dict, init=False, compare=False, repr=False)
    _lock: Any = dataclasses.field(default_factory=threading.Lock, init=False, compare=False, repr=False)
    _local: Any = dataclasses.field(default_factory=threading.local, init=False, compare=False, repr=False)
    stats: Stats = dataclasses.field(default_factory=Stats, init=False, compare=False, repr=False)

    # -- WorkflowRunner ---------------------------------------------------------
    def prepare_workflow(self, defn) -> None:
        # The SDK validates a definition by creating (never running) an instance.
        self._local.preparing = True
        try:
            super().prepare_workflow(defn)
        finally:
            self._local.preparing = False

    def create_instance(self, det) -> temporalio.worker.WorkflowInstance:
        module = _module_name(det)
        entry = self._take(module) if self.reuse else None
        if entry is None:
            self.stats.fresh_imports += 1
            inst = super().create_instance(det)
            if not self.reuse or not self._unknown(module):
                return inst  # off, not reusable, or the kept sandbox is busy: a plain run
            entry = self._learn(module, det, inst)
            if entry is None:
                return inst
        else:
            try:
                inst = self._instance_on(entry, det)
            except BaseException:
                self._drop(module, entry, failed=True)
                raise
            self.stats.reused += 1
        pooled = _PooledInstance(inst, self, module, entry)
        if getattr(self._local, "preparing", False):
            pooled.release()  # a validation instance never runs
        return pooled

    # -- internals ----------------------------------------------------------
    def _take(self, module: str) -> _Entry | None:
        """The module's kept sandbox, now marked busy, if there is a free one."""
        with self._lock:
            entry = self._pool.get(module)
            if entry is None or entry.busy or module in self.stats.not_reusable:
                return None
            entry.busy = True
            return entry

    def _unknown(self, module: str) -> bool:
        """Neither kept (free or busy) nor found not reusable: worth learning."""
        with self._lock:
            return module not in self._pool and module not in self.stats.not_reusable

    def _learn(self, module: str, det, inst) -> _Entry | None:
        """Learn `module` from `inst` (fresh, about to run) and a twin import.

        The kept sandbox is always one of the two compared. When the first pair
        differs only in which modules got registered (first-import effects), a
        third import is compared with the second, which is then kept unused and
        `inst` runs as a plain, unpooled instance.
        """
        t0 = time.perf_counter()
        try:
            if set(vars(inst)) != _INSTANCE_ATTRS or not hasattr(inst, "_create_instance"):
                raise NotReusable("this temporalio's sandbox instance is not the shape deja knows")
            keep = inst
            for attempt in range(2):
                try:
                    twin = super().create_instance(det)
                except Exception as exc:  # noqa: BLE001 - e.g. a registry that refuses a 2nd import
                    # The SDK would meet this on its next run too; this run must not.
                    raise NotReusable(f"a second import failed: {type(exc).__name__}: {exc}") from None
                self.stats.fresh_imports += 1
                try:
                    shared = learn(keep.importer.new_modules, twin.importer.new_modules)
                    break
                except ModulesDiffer:
                    if attempt == 1:
                        raise
                    keep = twin
            del twin
            baseline, pinned = fingerprint(keep.importer.new_modules, shared)
        except NotReusable as why:
            with self._lock:
                self.stats.not_reusable[module] = str(why)
            return None
        finally:
            self.stats.learn_seconds += time.perf_counter() - t0
        entry = _Entry(keep.importer, shared, baseline, pinned)
        entry.busy = keep is inst
        with self._lock:
            self._pool[module] = entry
        return entry if keep is inst else None

    def _instance_on(self, entry: _Entry, det):
        """An SDK `_Instance` whose imports come from `entry`'s kept Importer.

        This is `_Instance.__init__` minus `Importer(...)`: the import statement
        in `_create_instance` then finds the module already in the sandbox's
        `sys.modules`, and the rest (InSandbox, the runner's instance) is new.
        """
        inst = _sandbox_runner._Instance.__new__(_sandbox_runner._Instance)
        inst.instance_details = det
        inst.runner_class = self.runner_class
        inst.importer = entry.importer
        inst._current_thread_id = None
        inst.globals_and_locals = {"__file__": "workflow_sandbox.py"}
        inst._create_instance()
        return inst

    def _release(self, module: str, entry: _Entry, ok: bool) -> None:
        if not ok:
            self._drop(module, entry, failed=True)
            return
        t0 = time.perf_counter()
        try:
            modules = entry.importer.new_modules
            tokens, _ = fingerprint(modules, entry.shared)
            clean = tokens == entry.baseline and _passthrough_ok(entry.importer, modules, entry.known)
        except Exception:  # noqa: BLE001 - cannot check: do not reuse
            clean = False
        self.stats.check_seconds += time.perf_counter() - t0
        if not clean:
            try:
                change = describe_change(entry.importer.new_modules, entry.shared, entry.baseline)
            except Exception as exc:  # noqa: BLE001
                change = f"? ({exc})"
            self.stats.changes.append(f"{module}: {change or 'state changed'}")
            self._drop(module, entry, failed=False)
            return
        with self._lock:
            entry.busy = False

    def _drop(self, module: str, entry: _Entry, failed: bool) -> None:
        with self._lock:
            if self._pool.get(module) is entry:
                del self._pool[module]
            if failed:
                self.stats.dropped_failed += 1
            else:
                self.stats.dropped_dirty += 1
                n = self._dirty.get(module, 0) + 1
                self._dirty[module] = n
                if n >= MAX_DIRTY:
                    self.stats.not_reusable[module] = f"a run changed the module's state {n} times"


def module_of(cls: type) -> str:
    """The module name a sandbox imports `cls` from (the SDK's own renaming of __main__)."""
    name = cls.__module__
    return "__temporal_main__" if name == "__main__" else name


def _module_name(det) -> str:
    return module_of(det.defn.cls)


class DelegatingInstance(temporalio.worker.WorkflowInstance):
    """A WorkflowInstance that passes everything to `inner`; wrappers override what they add."""

    def __init__(self, inner: temporalio.worker.WorkflowInstance) -> None:
        self.inner = inner

    def activate(self, act):
        return self.inner.activate(act)

    def get_serialization_context(self, command_info):
        return self.inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info):
        return self.inner.get_external_store_context(command_info)

    def get_info(self):
        return self.inner.get_info()

    def get_thread_id(self):
        return self.inner.get_thread_id()


class _PooledInstance(DelegatingInstance):
    """Delegates to the SDK's sandbox instance; gives the sandbox back on eviction."""

    def __init__(self, inner, runner: ReusingSandboxedWorkflowRunner, module: str, entry: _Entry) -> None:
        super().__init__(inner)
        self._runner = runner
        self._module = module
        self._entry = entry
        self._active = 0
        self._failed = False
        self._released = False
        self._lock = threading.Lock()

    def activate(self, act):
        evicting = any(job.HasField("remove_from_cache") for job in act.jobs)
        with self._lock:
            if self._active:
                # Another activation is still inside the sandbox: the SDK gave up on
                # it (deadlock). Its thread may still change the module's state.
                self._failed = True
            self._active += 1
        try:
            return self.inner.activate(act)
        except BaseException:
            self._failed = True
            raise
        finally:
            with self._lock:
                self._active -= 1
            if evicting:
                self.release()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
            ok = not self._failed and self._active == 0
        self._runner._release(self._module, self._entry, ok)
