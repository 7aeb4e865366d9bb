"""deja's replay harness: the Python side of deja, run inside its embedded CPython.

A package compiled into the deja binary: Rust registers an import finder over
the embedded sources (the self-test does the same from disk), so no module may
depend on ``__file__``. Standard library + the user's temporalio only.

Modules, one job each (imports run down this list, never up):

* ``errors``       ``HarnessError`` + ``ErrorKind``; core's failure text made readable
* ``compat``       which temporalio this is (``SdkFeatures``), its descriptors
* ``config``       ``Config``: what Rust asks for, typed
* ``userfilter``   which code is the user's; user frames and sites
* ``loading``      importing workflow modules, data converters, interceptors
* ``capture``      the SDK's log records, warnings and output, per replay
* ``sandbox_reuse`` keeping a module's sandbox import while provably pristine
* ``recording``    runner/instance wrappers: activations, commands, sites, state
* ``pipeline``     one long-lived ``Replayer`` iterator on its own thread
* ``session``      ``load`` / ``Session.replay``: the verdict, classified

API
---
``sdk_version() -> str``; ``check_sdk() -> str`` (``SdkFeatures`` as JSON;
    raises ``HarnessError("unsupported-sdk", …)`` for a release deja refuses);
    ``coresdk_descriptor_set() -> bytes`` (this SDK's activation protos)
``load(config: Config | dict) -> Session``, ``load_json(config: str)`` raise
    ``HarnessError(kind, message, detail)``, kind an ``ErrorKind`` value.
``Session.registered: list[str]`` workflow type names ("*" = dynamic)
``Session.replay(history: bytes, workflow_id: str) -> dict``
    history is a serialized ``temporal.api.history.v1.History``. Result::

        verdict     "pass" | "nondeterminism" | "workflow-task-failure" | "error"
        error_kind  None | "unregistered-type" | "deadlock" | "invalid-history" | "other"
        message     one line (core's message for non-determinism; "Type: msg" for
                    task failures; where it was blocked for deadlocks)
        raw         the SDK's full failure text ("" on pass)
        frames      [{file,line,function,code}] user frames, innermost last
                    (task failures and deadlocks)
        steps       [{activation: bytes, completion: bytes,
                      command_sites: [site | None per command],
                      state: bytes (UTF-8 JSON) | None}]
        warnings    [str] Python warnings raised by the replay   (extension)
        update_rejections  str: JSON [{update_id, name, message, file, line}] updates
                    history accepted that the code's validator now rejects (extension)
        output      str   text the workflow code printed/logged   (extension)

    One step per non-eviction activation the workflow instance handled, in
    order. ``activation`` is the lang ``coresdk.workflow_activation.
    WorkflowActivation`` as the instance got it (payloads already decoded by
    the data converter's codec); ``completion`` is the instance's
    ``WorkflowActivationCompletion`` before payload encoding (no run_id, no
    injected query responses). An activation the SDK's deadlock detector gave
    up on is not a step. ``state`` (record_state only) is
    ``{"stacks": [[site...]...], "fields": {name: repr}, "queries":
    {name: {"result": json-or-repr} | {"error": msg}}}``.
``Session.close()``

How
---
* ``load`` imports the team's workflow modules, builds ONE
  ``temporalio.worker.Replayer`` and runs ONE long-lived
  ``Replayer.workflow_replay_iterator`` on a background thread (own event
  loop). The SDK's worker setup, including sandbox validation of every
  registered workflow (a module re-import per workflow type), is paid once per
  Session instead of once per history (``replay_workflow`` per history was
  ~16x slower on 543 small histories).
* ``replay`` hands the history to that iterator and waits for its
  ``WorkflowReplayResult``; the verdict is the SDK's own ``replay_failure``.
* Both runners (sandboxed and unsandboxed) are wrapped by ``_RecordingRunner``
  (public ``WorkflowRunner``/``WorkflowInstance`` API) whose instances see every
  activation and completion. Command sites come from a per-instance hook on
  the SDK instance's ``_add_command`` that walks the stack to the first user
  frame, with fallbacks for commands issued after user code returned or raised
  (return line / raise line), for tasks spawned by gather/ensure_future (the
  spawning line) and for cancels run from SDK callbacks (the line that started
  what is cancelled). State is read from the instance after each activation;
  user queries run through an injected query-only activation whose
  ``respond_to_query`` commands are dropped (does not change verdicts).
* Noise: core's console logging is off (private ``Runtime`` with
  ``logging=None``: no ``WARN ... Failing workflow task`` lines); the SDK's
  ``temporalio`` log records are captured (they carry the tracebacks) and not
  propagated; warnings and sys.stdout/sys.stderr writes made on replay threads
  go into the result. Nothing reaches fd 1/2 from a replay unless the workflow
  writes to the file descriptors directly.
* A deadlock the SDK cannot interrupt (code blocked in C, e.g. time.sleep(30))
  would block the SDK until the thread wakes; after the SDK has reported the
  deadlock we wait ``_DEADLOCK_GRACE_SECONDS`` more, answer "deadlock"
  ourselves and start a fresh replayer (the stuck threads are daemons).
"""
from __future__ import annotations

from .compat import SdkFeatures, check_sdk, coresdk_descriptor_set, sdk_features, sdk_version
from .config import Config
from .errors import ErrorKind, HarnessError
from .session import Session, load, load_json

__all__ = [
    "Config",
    "ErrorKind",
    "HarnessError",
    "SdkFeatures",
    "Session",
    "check_sdk",
    "coresdk_descriptor_set",
    "load",
    "load_json",
    "sdk_features",
    "sdk_version",
]
