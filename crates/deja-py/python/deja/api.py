"""deja's Python API: ``replay`` and ``check`` with typed results.

Each call runs the deja CLI of this interpreter (``python -m deja``) in a child process
and reads the JSON document it writes (``deja.replay/v1``, ``deja.check/v1``, see
docs/JSON.md). A child process, not this one, imports the workflow code: the sandbox,
``sys.modules`` and pytest's import hooks of the calling process are left alone, and
each call sees the code as it is on disk. The results are the CLI's results, field for
field; ``document`` keeps the whole JSON for anything not lifted into a field.

Exit codes map as the CLI's do: 0 and 1 return a result (``result.ok`` is ``exit_code ==
0``), 2 raises :class:`DejaError` with deja's one-line message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]

#: ``verdict`` values (the SDK's verdict, as deja reports it).
VERDICTS = ("pass", "nondeterminism", "workflow-task-failure", "error")


class DejaError(Exception):
    """deja could not give a verdict (exit code 2): a bad flag or file, a broken Python
    environment, workflow code that does not import. ``message`` is what deja printed."""

    def __init__(self, message: str, exit_code: int, stderr: str):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.stderr = stderr


@dataclass(frozen=True)
class Frame:
    """A place in the workflow code."""

    file: str
    line: int
    function: str = ""
    code: str = ""

    @staticmethod
    def from_json(d: Optional[Mapping[str, Any]]) -> Optional["Frame"]:
        if not d:
            return None
        return Frame(file=d.get("file", ""), line=int(d.get("line") or 0), function=d.get("function") or "", code=d.get("code") or "")


@dataclass(frozen=True)
class Divergence:
    """The first place the code and the history part: the pair core rejected."""

    #: 0-based workflow task index.
    task: Optional[int]
    #: ``differs`` (both sides, not the same), ``only-history`` or ``only-code``.
    status: str
    #: The recorded event's id (``None`` when the code emitted something the history lacks).
    event_id: Optional[int]
    #: What the history recorded / the code emitted, as deja's report words them:
    #: ``ActivityTaskScheduled price_cart #1``, ``StartTimer 1 (5m)``.
    recorded: Optional[str]
    emitted: Optional[str]
    #: The line of workflow code that emitted the command, when known.
    site: Optional[Frame]
    note: Optional[str]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @staticmethod
    def from_json(d: Optional[Mapping[str, Any]]) -> Optional["Divergence"]:
        if not d:
            return None
        row = d.get("row") or {}
        task = (d.get("task") or {}).get("index", row.get("task"))
        recorded = row.get("recorded") or {}
        emitted = row.get("emitted") or {}
        return Divergence(
            task=task,
            status=row.get("status", ""),
            event_id=recorded.get("event_id"),
            recorded=_side(recorded.get("item"), "event_type"),
            emitted=_side(emitted.get("item"), "command"),
            site=Frame.from_json(d.get("site")),
            note=row.get("note"),
            raw=d,
        )


def _side(item: Optional[Mapping[str, Any]], what: str) -> Optional[str]:
    if not item:
        return None
    return " ".join(x for x in (item.get(what), item.get("label")) if x)


def _drift(doc: Mapping[str, Any]) -> Tuple[Any, ...]:
    value = doc.get("drift")
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(value)
    return (value,)


@dataclass(frozen=True)
class ReplayResult:
    """One history replayed (``deja.replay/v1``)."""

    verdict: str
    message: str
    error_kind: Optional[str]
    source: str
    workflow_type: str
    workflow_id: str
    run_id: Optional[str]
    divergence: Optional[Divergence]
    #: Determinism drift findings (``drift`` in the document; empty when none or not reported).
    drift: Tuple[Any, ...]
    #: Why it diverged (``cause`` / ``fix`` in the document; ``None`` when not reported).
    cause: Any
    fix: Any
    frames: Tuple[Frame, ...]
    warnings: Tuple[str, ...]
    output: str
    seconds: float
    #: The CLI's exit code: 0 clean, 1 non-determinism or replay failure.
    exit_code: int
    document: Mapping[str, Any] = field(repr=False, compare=False)
    _argv: Tuple[str, ...] = field(default=(), repr=False, compare=False)
    _run: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when deja exits 0 for this history."""
        return self.exit_code == 0

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def text(self) -> str:
        """deja's text report of this replay (the diff), as ``deja replay`` prints it."""
        if not self._argv:
            return self.message
        proc = _run_cli(list(self._argv), **self._run)
        return proc.stdout + (proc.stderr if proc.returncode not in (0, 1) else "")

    @staticmethod
    def from_json(doc: Mapping[str, Any], exit_code: int, argv: Sequence[str] = (), run: Optional[Mapping[str, Any]] = None) -> "ReplayResult":
        h = doc.get("history") or {}
        return ReplayResult(
            verdict=doc.get("verdict", "error"),
            message=doc.get("message") or "",
            error_kind=doc.get("error_kind"),
            source=h.get("source", ""),
            workflow_type=h.get("workflow_type", ""),
            workflow_id=h.get("workflow_id", ""),
            run_id=h.get("run_id"),
            divergence=Divergence.from_json(doc.get("divergence")),
            drift=_drift(doc),
            cause=doc.get("cause"),
            fix=doc.get("fix"),
            frames=tuple(f for f in (Frame.from_json(x) for x in doc.get("frames") or []) if f),
            warnings=tuple(doc.get("warnings") or ()),
            output=doc.get("output") or "",
            seconds=float(doc.get("seconds") or 0.0),
            exit_code=exit_code,
            document=doc,
            _argv=tuple(argv),
            _run=dict(run or {}),
        )


@dataclass(frozen=True)
class HistoryResult:
    """One history of a ``check`` run (a ``results`` entry of ``deja.check/v1``)."""

    path: str
    verdict: str
    error_kind: Optional[str]
    workflow_type: Optional[str]
    workflow_id: Optional[str]
    message: str
    #: Failures with the same signature are the same problem (``summary.groups``).
    signature: str
    location: Optional[Frame]
    #: The full replay report, when the history was replayed.
    report: Optional[ReplayResult]
    drift: Tuple[Any, ...]
    cause: Any
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @property
    def divergence(self) -> Optional[Divergence]:
        return self.report.divergence if self.report else None

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> "HistoryResult":
        report = d.get("report")
        rr = ReplayResult.from_json(report, 0 if d.get("verdict") == "pass" else 1) if report else None
        drift = _drift(d) or (rr.drift if rr else ())
        cause = d.get("cause") if d.get("cause") is not None else (rr.cause if rr else None)
        return HistoryResult(
            path=d.get("path", ""),
            verdict=d.get("verdict", "error"),
            error_kind=d.get("error_kind"),
            workflow_type=d.get("workflow_type"),
            workflow_id=d.get("workflow_id"),
            message=d.get("message") or "",
            signature=d.get("signature") or "",
            location=Frame.from_json(d.get("location")),
            report=rr,
            drift=drift,
            cause=cause,
            raw=d,
        )


@dataclass(frozen=True)
class CheckResult:
    """A ``check`` run (``deja.check/v1``)."""

    #: Sorted by path (the document lists them in completion order).
    results: Tuple[HistoryResult, ...]
    summary: Mapping[str, Any]
    #: What ``deja check`` printed: progress-free summary and every failure's diff.
    text: str
    exit_code: int
    document: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def failures(self) -> Tuple[HistoryResult, ...]:
        return tuple(r for r in self.results if not r.passed)


def _code_flags(
    workflows: Optional[Sequence[str]],
    python_path: Optional[Sequence[PathLike]],
    data_converter: Optional[str],
    interceptors: Optional[Sequence[str]],
    unsandboxed: bool,
    fresh_sandbox: bool,
    config: Optional[PathLike],
) -> list:
    if isinstance(workflows, (str, os.PathLike)):
        workflows = [workflows]
    argv = []
    for w in workflows or ():
        argv += ["--workflows", os.fspath(w)]
    for p in python_path or ():
        argv += ["--python-path", os.fspath(p)]
    if data_converter:
        argv += ["--data-converter", data_converter]
    for i in interceptors or ():
        argv += ["--interceptors", i]
    if unsandboxed:
        argv.append("--unsandboxed")
    if fresh_sandbox:
        argv.append("--fresh-sandbox")
    if config is not None:
        argv += ["--config", os.fspath(config)]
    return argv


def _run_cli(argv: list, cwd: Optional[PathLike] = None, env: Optional[Mapping[str, str]] = None) -> subprocess.CompletedProcess:
    child_env = dict(os.environ if env is None else env)
    # Reports meant for a program: no colour, no GitHub annotations mixed into the text.
    child_env["NO_COLOR"] = "1"
    child_env.pop("GITHUB_ACTIONS", None)
    return subprocess.run(
        [sys.executable, "-m", "deja", "--color", "never", *argv],
        cwd=cwd,
        env=child_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
    )


def _error(proc: subprocess.CompletedProcess) -> DejaError:
    lines = [l for l in proc.stderr.splitlines() if l.startswith("deja: error: ")]
    message = lines[-1][len("deja: error: ") :] if lines else (proc.stderr.strip() or f"deja exited {proc.returncode}")
    return DejaError(message, proc.returncode, proc.stderr)


def replay(
    history: PathLike,
    workflows: Optional[Sequence[str]] = None,
    *,
    python_path: Optional[Sequence[PathLike]] = None,
    data_converter: Optional[str] = None,
    interceptors: Optional[Sequence[str]] = None,
    unsandboxed: bool = False,
    fresh_sandbox: bool = False,
    queries: Optional[Sequence[str]] = None,
    until: Optional[int] = None,
    workflow_id: Optional[str] = None,
    config: Optional[PathLike] = None,
    cwd: Optional[PathLike] = None,
    env: Optional[Mapping[str, str]] = None,
) -> ReplayResult:
    """Replay one history file against the workflow code: ``deja replay``.

    ``workflows`` are modules, files or ``module:Class`` specs; left out, ``[tool.deja]``
    of the nearest pyproject.toml (from ``cwd``) names them, as for the CLI. Returns the
    verdict whatever it is; raises :class:`DejaError` when deja cannot give one.
    """
    argv = ["replay", os.fspath(history)]
    argv += _code_flags(workflows, python_path, data_converter, interceptors, unsandboxed, fresh_sandbox, config)
    for q in queries or ():
        argv += ["--query", q]
    if until is not None:
        argv += ["--until", str(until)]
    if workflow_id is not None:
        argv += ["--workflow-id", workflow_id]
    run = {"cwd": cwd, "env": env}
    proc = _run_cli(argv + ["--output", "json"], **run)
    if proc.returncode not in (0, 1):
        raise _error(proc)
    try:
        doc = json.loads(proc.stdout)
    except ValueError as e:
        raise DejaError(f"deja replay printed no JSON document ({e})", proc.returncode, proc.stderr) from None
    return ReplayResult.from_json(doc, proc.returncode, argv, run)


def check(
    paths: Union[PathLike, Sequence[PathLike]] = (),
    workflows: Optional[Sequence[str]] = None,
    *,
    python_path: Optional[Sequence[PathLike]] = None,
    data_converter: Optional[str] = None,
    interceptors: Optional[Sequence[str]] = None,
    unsandboxed: bool = False,
    fresh_sandbox: bool = False,
    jobs: Optional[int] = None,
    timeout: Optional[float] = None,
    fail_fast: bool = False,
    junit: Optional[PathLike] = None,
    config: Optional[PathLike] = None,
    args: Sequence[str] = (),
    cwd: Optional[PathLike] = None,
    env: Optional[Mapping[str, str]] = None,
) -> CheckResult:
    """Replay many histories (files, directories, globs): ``deja check``.

    ``paths`` left empty means ``[tool.deja] histories``. ``args`` are passed to
    ``deja check`` as they are (any flag the API has no keyword for). Raises
    :class:`DejaError` on exit code 2.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    argv = ["check", *(os.fspath(p) for p in paths)]
    argv += _code_flags(workflows, python_path, data_converter, interceptors, unsandboxed, fresh_sandbox, config)
    if jobs is not None:
        argv += ["--jobs", str(jobs)]
    if timeout is not None:
        argv += ["--timeout", str(timeout)]
    if fail_fast:
        argv.append("--fail-fast")
    if junit is not None:
        argv += ["--junit", os.fspath(junit)]
    argv += list(args)
    with tempfile.TemporaryDirectory(prefix="deja-api-") as tmp:
        report = os.path.join(tmp, "check.json")
        proc = _run_cli(argv + ["--json", report], cwd=cwd, env=env)
        if proc.returncode not in (0, 1):
            raise _error(proc)
        try:
            with open(report, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise DejaError(f"deja check wrote no JSON report ({e})", proc.returncode, proc.stderr) from None
    results = tuple(sorted((HistoryResult.from_json(r) for r in doc.get("results") or ()), key=lambda r: r.path))
    return CheckResult(results=results, summary=doc.get("summary") or {}, text=proc.stdout, exit_code=proc.returncode, document=doc)
