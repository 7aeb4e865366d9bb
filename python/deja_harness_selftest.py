#!/usr/bin/env python3
"""Self-test for the embedded harness (stdlib unittest, no pytest needed).

    .venv/bin/python python/deja_harness_selftest.py [-v] [-k PATTERN]

The harness package is imported the way the Rust binary imports it: from its
sources in memory through python/deja_bootstrap.py (no __file__, no disk). Histories come from histories/ (recorded by
histories/generate.py) and the broken code from tests/fixtures/code/; every
verdict is compared with the plain SDK via scripts/sdk_replay.py run in a
separate process.

Takes about a minute (two deadlock cases wait for the SDK's 2 s detector, and
one waits for the harness to give up on an uninterruptible time.sleep).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
HIST = os.path.join(REPO, "histories")
CODE = os.path.join(HIST, "code", "workflows.py")
CODE_V2 = os.path.join(HIST, "code_v2", "workflows.py")
FIXTURES = os.path.join(REPO, "tests", "fixtures", "code")
SDK_REPLAY = os.path.join(REPO, "scripts", "sdk_replay.py")
HAVE_HISTORIES = os.path.isfile(os.path.join(HIST, "manifest.json")) and os.path.isfile(CODE)
HAVE_FIXTURES = os.path.isdir(FIXTURES)


def _pinned_sdk() -> bool:
    """Whether the installed temporalio is the one python/requirements.txt pins."""
    import temporalio

    with open(os.path.join(HERE, "requirements.txt"), encoding="utf-8") as fh:
        return f"temporalio=={temporalio.__version__}" in fh.read().split()


PINNED_SDK = _pinned_sdk()


def _load_harness() -> types.ModuleType:
    """Import the harness package the way the Rust binary does: from sources held in
    memory (python/deja_bootstrap.py), under the names the build embeds them with."""
    sys.path.insert(0, HERE)
    import deja_bootstrap

    sys.path.remove(HERE)
    deja_bootstrap.install(deja_bootstrap.sources_from_dir(os.path.join(HERE, "deja_harness")))
    import deja_harness

    return deja_harness


dh = _load_harness()

import temporalio.api.history.v1  # noqa: E402
import temporalio.client  # noqa: E402
from temporalio.bridge.proto.workflow_activation import WorkflowActivation  # noqa: E402
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion  # noqa: E402


def history(path: str) -> tuple[bytes, str]:
    """(binary History, workflow id) of a JSON history file."""
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    wid = doc["events"][0]["workflowExecutionStartedEventAttributes"]["workflowId"]
    h = temporalio.client.WorkflowHistory.from_json(wid, doc)
    return temporalio.api.history.v1.History(events=h.events).SerializeToString(), wid


def history_files(include_large: bool = True, cli: bool = False) -> list[str]:
    d = os.path.join(HIST, "cli") if cli else HIST
    out = []
    for f in sorted(os.listdir(d)):
        if f.endswith(".json") and f != "manifest.json":
            if not include_large and "large" in f:
                continue
            out.append(os.path.join(d, f))
    return out


def sdk_verdicts(workflows: str, files: list[str], *extra: str, timeout: float = 600) -> dict[str, dict]:
    """Plain-SDK verdicts (scripts/sdk_replay.py in a separate process)."""
    cmd = [sys.executable, SDK_REPLAY, "--workflows", workflows, "--batch", *extra, *files]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"sdk_replay failed: {p.stderr[-2000:]}")
    out = {}
    for line in p.stdout.splitlines():
        rec = json.loads(line)
        if "file" in rec:
            out[os.path.abspath(rec["file"])] = rec
    return out


def replay_all(session, files: list[str]) -> dict[str, dict]:
    out = {}
    for f in files:
        data, wid = history(f)
        out[os.path.abspath(f)] = session.replay(data, wid)
    return out


def write_module(tmp: str, name: str, body: str) -> str:
    path = os.path.join(tmp, name)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(textwrap.dedent(body))
    return path


def order_workflow(tmp: str, name: str, *, prelude: str = "", before: str = "", after: str = "return result") -> str:
    """A module with an ``OrderFulfillmentWorkflow`` (replays against
    histories/order_fulfillment.json up to its first activity) whose run does
    ``before``, schedules reserve_inventory, then ``after``; ``prelude`` is module-level
    code. Each fragment is indented as the run body / module level it lands in."""
    body = textwrap.indent(textwrap.dedent(before).strip("\n"), " " * 8) if before.strip() else ""
    tail = textwrap.indent(textwrap.dedent(after).strip("\n"), " " * 8)
    source = "\n".join(
        [
            "from datetime import timedelta",
            "from temporalio import workflow",
            textwrap.dedent(prelude).strip("\n"),
            "",
            '@workflow.defn(name="OrderFulfillmentWorkflow")',
            "class Order:",
            "    @workflow.run",
            "    async def run(self, order: dict) -> str:",
            body,
            "        result = await workflow.execute_activity(",
            '            "reserve_inventory", order, start_to_close_timeout=timedelta(seconds=30)',
            "        )",
            tail,
            "",
        ]
    )
    return write_module(tmp, name, source)


def replay_order(config: dict) -> tuple[dict, "StderrCapture"]:
    """Replay histories/order_fulfillment.json in a fresh session, capturing fd 2."""
    s = dh.load(config)
    try:
        data, wid = history(os.path.join(HIST, "order_fulfillment.json"))
        with StderrCapture() as cap:
            r = s.replay(data, wid)
    finally:
        s.close()
    return r, cap


class StderrCapture:
    """Redirect fd 2 (what the Rust side's terminal would see) to a file."""

    def __enter__(self):
        sys.stderr.flush()
        self._tmp = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        os.dup2(self._tmp.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        self.text = self._tmp.read().decode("utf-8", "replace")
        self._tmp.close()


# ---------------------------------------------------------------------------


class T01Basics(unittest.TestCase):
    def test_sdk_version(self):
        import temporalio

        self.assertEqual(dh.sdk_version(), temporalio.__version__)

    def test_no_file_dependency(self):
        self.assertFalse(hasattr(dh, "__file__"))
        for name, mod in sys.modules.items():
            if name.startswith("deja_harness."):
                self.assertFalse(hasattr(mod, "__file__"), name)
        self.assertTrue(issubclass(dh.HarnessError, Exception))


class T09SdkVersions(unittest.TestCase):
    """What deja does with a temporalio outside the range it has proven (the versions
    inside it are replayed for real by tests/sdk_matrix.rs)."""

    def with_version(self, version: str):
        import temporalio

        saved = temporalio.__version__

        def restore() -> None:
            temporalio.__version__ = saved
            dh.sdk_features.cache_clear()

        self.addCleanup(restore)
        temporalio.__version__ = version
        dh.sdk_features.cache_clear()
        return dh.sdk_features()

    def test_the_installed_sdk_is_supported_with_every_optimisation(self):
        f = dh.sdk_features()
        self.assertEqual(f.status, "supported")
        self.assertIsNone(f.notice())
        self.assertTrue(f.command_sites and f.state_queries)

    def test_a_newer_sdk_replays_on_the_plain_sdk_path_with_a_notice(self):
        f = self.with_version("1.99.0")
        self.assertEqual(f.status, "newer")
        self.assertEqual(f.optimisations(), [])
        self.assertIn("temporalio 1.99.0 is newer than deja has been checked against (1.10.0 to 1.35.x)", f.notice())
        self.assertIn("plain SDK path", f.notice())
        info = json.loads(dh.check_sdk())
        self.assertEqual((info["status"], info["optimisations"]), ("newer", []))
        # The replay itself: the SDK's own runner (no pool), the SDK's verdict.
        path = os.path.join(HIST, "order_fulfillment.json")
        s = dh.load({"workflows": [CODE]})
        try:
            data, wid = history(path)
            results = [s.replay(data, wid) for _ in range(2)]
            stats = s.sandbox_stats()
        finally:
            s.close()
        want = sdk_verdicts(CODE, [path])[os.path.abspath(path)]["verdict"]
        self.assertEqual([(r["verdict"], r["sandbox"]) for r in results], [(want, "fresh")] * 2)
        self.assertEqual(stats, {})
        self.assertTrue(all(r["steps"] for r in results), "still recorded")

    def test_an_older_sdk_is_refused_with_the_range_and_the_fix(self):
        self.with_version("1.9.0")
        with self.assertRaises(dh.HarnessError) as cm:
            dh.check_sdk()
        self.assertEqual(cm.exception.kind, "unsupported-sdk")
        self.assertIn("temporalio 1.9.0 is older than deja supports (1.10.0 to 1.35.x)", cm.exception.message)
        self.assertIn("pip install 'temporalio>=1.10.0'", cm.exception.message)

    def test_descriptor_set_names_both_roots(self):
        from google.protobuf import descriptor_pb2

        fds = descriptor_pb2.FileDescriptorSet.FromString(dh.coresdk_descriptor_set())
        names = {f"{f.package}.{m.name}" for f in fds.file for m in f.message_type}
        self.assertIn("coresdk.workflow_activation.WorkflowActivation", names)
        self.assertIn("coresdk.workflow_completion.WorkflowActivationCompletion", names)


class T02LoadErrors(unittest.TestCase):
    def expect(self, kind: str, config: dict, *needles: str) -> "dh.HarnessError":
        with self.assertRaises(dh.HarnessError) as cm:
            dh.load(config)
        err = cm.exception
        self.assertEqual(err.kind, kind, err.message)
        self.assertNotIn("\n", err.message)
        for n in needles:
            self.assertIn(n, err.message)
        self.assertIsInstance(err.detail, str)
        return err

    def test_missing_module(self):
        self.expect("missing-module", {"workflows": ["deja_no_such_module_xyz"]}, "deja_no_such_module_xyz")
        self.expect("missing-module", {"workflows": ["deja_no_such_pkg.workflows"]}, "deja_no_such_pkg")

    def test_missing_file(self):
        self.expect("missing-module", {"workflows": ["does/not/exist/workflows.py"]}, "does/not/exist/workflows.py")

    def test_bad_spec(self):
        self.expect("no-workflows", {"workflows": []})
        self.expect("bad-spec", {"workflows": [""]})
        self.expect("bad-spec", {"workflows": ["app.workflows:"]})
        self.expect("bad-spec", {"workflows": ["app.workflows:1x"]})

    @unittest.skipUnless(HAVE_HISTORIES, "histories/ not generated yet")
    def test_bad_attr(self):
        self.expect("bad-attr", {"workflows": [CODE + ":NoSuchWorkflow"]}, "NoSuchWorkflow")
        self.expect("bad-attr", {"workflows": [CODE + ":Order"]}, "not a @workflow.defn class")
        self.expect("bad-spec", {"workflows": [CODE], "data_converter": "json"})
        self.expect("bad-attr", {"workflows": [CODE], "data_converter": "json:nope"}, "json:nope")
        self.expect("bad-attr", {"workflows": [CODE], "data_converter": "json:dumps"}, "json:dumps")
        self.expect("bad-attr", {"workflows": [CODE], "interceptors": ["json:JSONDecoder"]}, "Interceptor")

    @unittest.skipUnless(HAVE_FIXTURES, "tests/fixtures/code missing")
    def test_syntax_error(self):
        f = os.path.join(FIXTURES, "syntax_error", "workflows.py")
        self.expect("import-error", {"workflows": [f]}, "workflows.py:15", "SyntaxError")

    @unittest.skipUnless(HAVE_FIXTURES, "tests/fixtures/code missing")
    def test_import_error(self):
        f = os.path.join(FIXTURES, "import_error", "workflows.py")
        self.expect("import-error", {"workflows": [f]}, "shop_pricing_engine", "workflows.py:")

    @unittest.skipUnless(HAVE_FIXTURES, "tests/fixtures/code missing")
    def test_no_workflows(self):
        f = os.path.join(FIXTURES, "no_workflows", "workflows.py")
        self.expect("no-workflows", {"workflows": [f]}, "no_workflows")

    def test_runtime_error_in_module(self):
        with tempfile.TemporaryDirectory() as tmp:
            f = write_module(tmp, "deja_boom_mod.py", "X = 1\nraise RuntimeError('config missing')\n")
            self.expect("import-error", {"workflows": [f]}, "deja_boom_mod.py:2", "config missing")

    def test_sandbox_validation_failure(self):
        with tempfile.TemporaryDirectory() as tmp:
            f = write_module(
                tmp,
                "deja_sandbox_bad.py",
                """
                import datetime
                from temporalio import workflow

                LOADED_AT = datetime.datetime.now()  # not allowed when the sandbox re-imports

                @workflow.defn
                class SandboxBad:
                    @workflow.run
                    async def run(self) -> None:
                        return None
                """,
            )
            err = self.expect("import-error", {"workflows": [f]}, "SandboxBad", "sandbox")
            self.assertIn("deja_sandbox_bad.py", err.message)
            # the same code is fine outside the sandbox
            s = dh.load({"workflows": [f], "unsandboxed": True})
            self.assertEqual(s.registered, ["SandboxBad"])
            s.close()


@unittest.skipUnless(HAVE_HISTORIES, "histories/ not generated yet")
class T03Verdicts(unittest.TestCase):
    """Harness verdicts equal the plain SDK's, on every shipped history."""

    @classmethod
    def setUpClass(cls):
        cls.files = history_files() + history_files(cli=True)
        cls.sdk_v1 = sdk_verdicts(CODE, cls.files)
        cls.sdk_v2 = sdk_verdicts(CODE_V2, history_files())
        with open(os.path.join(HIST, "manifest.json"), encoding="utf-8") as fh:
            cls.manifest = json.load(fh)

    def compare(self, got: dict, want: dict):
        self.assertEqual(set(got), set(want))
        for f, r in got.items():
            self.assertEqual((r["verdict"], r["error_kind"]), (want[f]["verdict"], want[f]["error_kind"]), f)
            if r["verdict"] == "nondeterminism":
                self.assertEqual(r["message"], want[f]["message"], f)

    def test_v1_fast_all_pass(self):
        s = dh.load({"workflows": [CODE]})
        try:
            got = replay_all(s, self.files)
        finally:
            s.close()
        self.compare(got, self.sdk_v1)
        if PINNED_SDK:
            # What the pinned SDK says of histories it recorded; other releases are held
            # to their own Replayer's verdicts (compare, above).
            self.assertTrue(all(r["verdict"] == "pass" for r in got.values()))
        for r in got.values():
            self.assertTrue(r["steps"])
            self.assertTrue(all(st["state"] is None for st in r["steps"]))

    def test_v2_fast_matches_sdk(self):
        s = dh.load({"workflows": [CODE_V2]})
        try:
            got = replay_all(s, history_files())
        finally:
            s.close()
        self.compare(got, self.sdk_v2)
        variants = {
            os.path.abspath(os.path.join(HIST, v["history"] + ".json"))
            for v in self.manifest.get("variants", [])
            if v.get("expected") == "nondeterminism"
        }
        nondet = {f for f, r in got.items() if r["verdict"] == "nondeterminism"}
        if PINNED_SDK:  # the manifest's expectations are the pinned SDK's
            self.assertEqual(nondet, variants)
        for f in nondet:
            self.assertTrue(got[f]["message"].startswith("[TMPRL1100] Nondeterminism error:"), got[f]["message"])
            self.assertIn("Failure {", got[f]["raw"])

    def test_unsandboxed_flag(self):
        files = history_files(include_large=False)
        for code, want in ((CODE, self.sdk_v1), (CODE_V2, self.sdk_v2)):
            s = dh.load({"workflows": [code], "unsandboxed": True})
            try:
                got = replay_all(s, files)
            finally:
                s.close()
            self.compare(got, {f: want[f] for f in got})

    def test_state_recording_keeps_verdicts(self):
        files = history_files(include_large=False)
        queries = ["status", "cart", "address", "stage", "quotes", "billing_state", "decision", "tracking"]
        for code, want in ((CODE, self.sdk_v1), (CODE_V2, self.sdk_v2)):
            s = dh.load({"workflows": [code], "record_state": True, "queries": queries})
            try:
                got = replay_all(s, files)
            finally:
                s.close()
            self.compare(got, {f: want[f] for f in got})
            for f, r in got.items():
                for st in r["steps"]:
                    self.assertIsNotNone(st["state"], f)
                    state = json.loads(st["state"].decode("utf-8"))
                    self.assertEqual(set(state), {"stacks", "fields", "queries"})
                    self.assertEqual(set(state["queries"]), set(queries))

    def test_wrong_workflow_id_changes_verdict(self):
        # the child ids are derived from workflow.info().workflow_id
        s = dh.load({"workflows": [CODE]})
        try:
            data, wid = history(os.path.join(HIST, "marketplace_order_children.json"))
            self.assertEqual(s.replay(data, wid)["verdict"], "pass")
            self.assertEqual(s.replay(data, "some-other-id")["verdict"], "nondeterminism")
        finally:
            s.close()


@unittest.skipUnless(HAVE_HISTORIES, "histories/ not generated yet")
class T04Recording(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        s = dh.load({"workflows": [CODE], "record_state": True, "queries": ["cart", "status"]})
        try:
            cls.results = replay_all(s, history_files(include_large=False))
        finally:
            s.close()

    def test_steps_decode_and_align(self):
        for f, r in self.results.items():
            for st in r["steps"]:
                act = WorkflowActivation.FromString(st["activation"])
                self.assertTrue(act.jobs, f)
                self.assertFalse(any(j.HasField("remove_from_cache") for j in act.jobs))
                self.assertFalse(any(j.HasField("query_workflow") for j in act.jobs))
                comp = WorkflowActivationCompletion.FromString(st["completion"])
                cmds = comp.successful.commands
                self.assertFalse(any(c.HasField("respond_to_query") for c in cmds), f)
                self.assertEqual(len(cmds), len(st["command_sites"]), f)

    def test_every_command_has_a_plausible_site(self):
        expect = {
            "schedule_activity": ("execute_activity", "start_activity", "gather", "ensure_future"),
            "schedule_local_activity": ("local_activity",),
            "start_timer": ("sleep", "ensure_future"),
            "cancel_timer": ("sleep", "cancel", "ensure_future"),
            "complete_workflow_execution": ("return",),
            "fail_workflow_execution": ("raise",),
            "continue_as_new_workflow_execution": ("continue_as_new",),
            "set_patch_marker": ("patched",),
            "start_child_workflow_execution": ("child", "gather"),
            "update_response": ("def ", "return"),
        }
        seen = set()
        for f, r in self.results.items():
            for st in r["steps"]:
                comp = WorkflowActivationCompletion.FromString(st["completion"])
                for cmd, site in zip(comp.successful.commands, st["command_sites"]):
                    kind = cmd.WhichOneof("variant")
                    seen.add(kind)
                    self.assertIsNotNone(site, f"{f}: {kind} has no site")
                    self.assertEqual(os.path.basename(site["file"]), "workflows.py")
                    self.assertTrue(site["code"])
                    words = expect.get(kind)
                    if words:
                        self.assertTrue(any(w in site["code"] for w in words), f"{f}: {kind} -> {site}")
        for k in ("schedule_activity", "start_timer", "complete_workflow_execution", "set_patch_marker",
                  "continue_as_new_workflow_execution", "start_child_workflow_execution", "update_response"):
            self.assertIn(k, seen)

    def test_state_content(self):
        r = self.results[os.path.abspath(os.path.join(HIST, "shopping_cart.json"))]
        carts = []
        for st in r["steps"]:
            state = json.loads(st["state"])
            carts.append(state["queries"]["cart"])
            self.assertIn("error", state["queries"]["status"])  # not a query of this workflow
            self.assertTrue(state["fields"])
        self.assertIn("result", carts[0])
        self.assertNotEqual(carts[0], carts[-1])
        first = json.loads(r["steps"][0]["state"])
        self.assertTrue(first["stacks"])
        frame = first["stacks"][0][-1]
        self.assertEqual(set(frame), {"file", "line", "function", "code"})
        self.assertEqual(frame["function"], "run")

    def test_unsandboxed_workflow_recorded(self):
        r = self.results[os.path.abspath(os.path.join(HIST, "legacy_inventory_unsandboxed.json"))]
        self.assertEqual(r["verdict"], "pass")
        sites = [s for st in r["steps"] for s in st["command_sites"]]
        self.assertTrue(sites and all(sites))
        self.assertIsNotNone(r["steps"][0]["state"])


class T04bExplain(unittest.TestCase):
    """`explain`: per-activation user lines and stacks, only when asked; patch calls and
    handlers always (what deja_core::cause reads)."""

    def test_line_trace_only_when_explaining(self):
        s = dh.load({"workflows": [CODE]})
        try:
            h, wid = history(os.path.join(HIST, "refund_patched.json"))
            plain = s.replay(h, wid)
            explained = s.replay(h, wid, explain=True)
            again = s.replay(h, wid)
        finally:
            s.close()
        self.assertEqual((plain["verdict"], explained["verdict"], again["verdict"]), ("pass", "pass", "pass"))
        self.assertTrue(all(st["lines"] == [] and st["state"] is None for st in plain["steps"] + again["steps"]))
        lines = [ln for st in explained["steps"] for ln in st["lines"]]
        self.assertTrue(lines)
        self.assertTrue(all(os.path.basename(f) == "workflows.py" for f, _ in lines), "user code only")
        self.assertTrue(all(json.loads(st["state"])["stacks"] is not None for st in explained["steps"]))
        calls = [c for st in plain["steps"] for c in st["patch_calls"]]
        self.assertEqual([c["id"] for c in calls][:1], ["refund-fraud-check"])
        self.assertIn("patched", calls[0]["site"]["code"])
        self.assertIn("signals", plain["handlers"])


@unittest.skipUnless(HAVE_HISTORIES, "histories/ not generated yet")
class T05Imports(unittest.TestCase):
    def test_module_name_with_python_path(self):
        s = dh.load({"workflows": ["workflows"], "python_path": [os.path.dirname(CODE)]})
        try:
            by_file = dh.load({"workflows": [CODE]})
            self.assertEqual(sorted(s.registered), sorted(by_file.registered))
            by_file.close()
            data, wid = history(os.path.join(HIST, "order_fulfillment.json"))
            self.assertEqual(s.replay(data, wid)["verdict"], "pass")
        finally:
            s.close()

    def test_module_colon_class_and_unregistered(self):
        s = dh.load({"workflows": [CODE + ":OrderFulfillmentWorkflow"]})
        try:
            self.assertEqual(s.registered, ["OrderFulfillmentWorkflow"])
            data, wid = history(os.path.join(HIST, "shopping_cart.json"))
            r = s.replay(data, wid)
            self.assertEqual((r["verdict"], r["error_kind"]), ("error", "unregistered-type"))
            self.assertIn("ShoppingCartWorkflow", r["message"])
            self.assertIn("OrderFulfillmentWorkflow", r["message"])
            # the session is still usable
            data, wid = history(os.path.join(HIST, "order_fulfillment.json"))
            self.assertEqual(s.replay(data, wid)["verdict"], "pass")
        finally:
            s.close()
        want = sdk_verdicts(CODE + ":OrderFulfillmentWorkflow", [os.path.join(HIST, "shopping_cart.json")])
        (w,) = want.values()
        self.assertEqual((w["verdict"], w["error_kind"]), ("error", "unregistered-type"))

    def test_user_data_converter_and_interceptor(self):
        with tempfile.TemporaryDirectory() as tmp:
            f = write_module(
                tmp,
                "deja_custom_bits.py",
                """
                import temporalio.converter
                from temporalio.worker import Interceptor, WorkflowInboundInterceptor

                CALLS = []

                def make_converter():
                    return temporalio.converter.DataConverter.default

                class _Inbound(WorkflowInboundInterceptor):
                    async def execute_workflow(self, input):
                        CALLS.append(input.type.__name__)
                        return await super().execute_workflow(input)

                class CountingInterceptor(Interceptor):
                    def workflow_interceptor_class(self, input):
                        return _Inbound
                """,
            )
            s = dh.load(
                {
                    "workflows": [CODE],
                    "data_converter": f + ":make_converter",
                    "interceptors": [f + ":CountingInterceptor"],
                    "record_state": True,
                }
            )
            try:
                data, wid = history(os.path.join(HIST, "order_fulfillment.json"))
                r = s.replay(data, wid)
                self.assertEqual(r["verdict"], "pass")
                self.assertTrue(all(r["steps"][-1]["command_sites"]))
            finally:
                s.close()
            self.assertEqual(sys.modules["deja_custom_bits"].CALLS, ["OrderFulfillmentWorkflow"])

    def test_debug_mode(self):
        s = dh.load({"workflows": [CODE], "debug_mode": True, "record_state": True})
        try:
            path = os.path.join(HIST, "invoice_timers.json")
            data, wid = history(path)
            # The SDK's own verdict (pass on current SDKs; temporalio 1.10's core reads
            # this history's timer cancellation as non-determinism).
            want = sdk_verdicts(CODE, [path])[os.path.abspath(path)]["verdict"]
            self.assertEqual(s.replay(data, wid)["verdict"], want)
        finally:
            s.close()


@unittest.skipUnless(HAVE_HISTORIES, "histories/ not generated yet")
class T06Failures(unittest.TestCase):
    ORDER = os.path.join(HIST, "order_fulfillment.json")

    @unittest.skipUnless(HAVE_FIXTURES, "tests/fixtures/code missing")
    def test_task_failure(self):
        code = os.path.join(FIXTURES, "hazards", "raise_workflow.py")
        r, cap = replay_order({"workflows": [code], "record_state": True})
        self.assertEqual(cap.text, "")
        self.assertEqual((r["verdict"], r["error_kind"]), ("workflow-task-failure", None))
        self.assertEqual(r["message"], "KeyError: 'SKU-001'")
        self.assertTrue(r["frames"])
        last = r["frames"][-1]
        self.assertEqual(os.path.basename(last["file"]), "raise_workflow.py")
        self.assertIn("WAREHOUSE_BY_SKU", last["code"])
        self.assertTrue(all(os.path.basename(fr["file"]) == "raise_workflow.py" for fr in r["frames"]))
        (w,) = sdk_verdicts(code, [self.ORDER]).values()
        self.assertEqual((w["verdict"], w["message"]), ("workflow-task-failure", r["message"]))

    def test_deadlock_interruptible(self):
        with tempfile.TemporaryDirectory() as tmp:
            code = order_workflow(tmp, "deja_spin_workflow.py", after="""
                n = 0
                while True:
                    n += 1
            """)
            s = dh.load({"workflows": [code], "record_state": True, "queries": ["status"]})
            try:
                data, wid = history(self.ORDER)
                t = time.monotonic()
                with StderrCapture() as cap:
                    r = s.replay(data, wid)
                took = time.monotonic() - t
            finally:
                s.close()
            self.assertEqual(cap.text, "")
            self.assertEqual((r["verdict"], r["error_kind"]), ("error", "deadlock"), r["message"])
            self.assertLess(took, 6)
            self.assertIn("[TMPRL1101]", r["message"])
            self.assertIn("deja_spin_workflow.py:", r["message"])
            self.assertIn(r["frames"][-1]["code"], ("n += 1", "while True:"))
            self.assertEqual(len(r["steps"]), 1)  # the deadlocked activation is not a step
            try:
                (w,) = sdk_verdicts(code, [self.ORDER], timeout=20).values()
            except subprocess.TimeoutExpired:
                # Old releases (temporalio 1.10) report the deadlock but never finish
                # the replay of a spinning workflow: the SDK has no verdict to compare
                # with; deja's (above) is the one their worker logs.
                self.assertLess(dh.compat._version_tuple(dh.sdk_version()), (1, 16))
            else:
                self.assertEqual((w["verdict"], w["error_kind"]), ("error", "deadlock"))

    @unittest.skipUnless(HAVE_FIXTURES, "tests/fixtures/code missing")
    def test_deadlock_blocked_thread(self):
        # time.sleep(30) cannot be interrupted: the SDK would take 30 s; the
        # harness answers after its grace period and restarts its replayer.
        code = os.path.join(FIXTURES, "hazards", "block_workflow.py")
        s = dh.load({"workflows": [code]})
        try:
            data, wid = history(self.ORDER)
            t = time.monotonic()
            r = s.replay(data, wid)
            took = time.monotonic() - t
            self.assertEqual((r["verdict"], r["error_kind"]), ("error", "deadlock"), r["message"])
            self.assertLess(took, 12)
            self.assertIn("time.sleep(30)", r["message"])
            other, owid = history(os.path.join(HIST, "shopping_cart.json"))
            r2 = s.replay(other, owid)
            self.assertEqual((r2["verdict"], r2["error_kind"]), ("error", "unregistered-type"))
        finally:
            s.close()

    def test_prints_warnings_and_logs_are_captured(self):
        with tempfile.TemporaryDirectory() as tmp:
            code = order_workflow(
                tmp,
                "deja_noisy_workflow.py",
                prelude="import logging\nimport warnings",
                before="""
                    print("hello from replay")
                    logging.getLogger("deja.selftest.user").warning("user log line")
                    warnings.warn("careful now")
                """,
                after='raise ValueError("boom")',
            )
            r, cap = replay_order({"workflows": [code]})
        self.assertEqual(cap.text, "")
        self.assertEqual(r["verdict"], "workflow-task-failure")
        self.assertEqual(r["message"], "ValueError: boom")
        self.assertIn("hello from replay", r["output"])
        self.assertIn("user log line", r["output"])
        self.assertTrue(any("careful now" in w for w in r["warnings"]))

    def test_invalid_histories(self):
        s = dh.load({"workflows": [CODE]})
        try:
            data, wid = history(self.ORDER)
            h = temporalio.api.history.v1.History.FromString(data)
            cases = {
                "garbage": b"\xff\xff\xff garbage",
                "empty": b"",
                "no start": temporalio.api.history.v1.History(events=h.events[1:]).SerializeToString(),
                "gap": temporalio.api.history.v1.History(events=list(h.events[:5]) + list(h.events[7:])).SerializeToString(),
            }
            for name, blob in cases.items():
                r = s.replay(blob, wid)
                self.assertEqual((r["verdict"], r["error_kind"]), ("error", "invalid-history"), (name, r["message"]))
            self.assertEqual(s.replay(data, wid)["verdict"], "pass")
        finally:
            s.close()

    def test_nondeterminism_quiet_and_sited(self):
        r, cap = replay_order({"workflows": [CODE_V2], "record_state": True})
        self.assertEqual(cap.text, "")
        self.assertEqual(r["verdict"], "nondeterminism")
        self.assertIn("'charge_payment'", r["message"])
        self.assertIn("'authorize_payment'", r["message"])
        last = r["steps"][-1]
        comp = WorkflowActivationCompletion.FromString(last["completion"])
        self.assertEqual(comp.successful.commands[-1].schedule_activity.activity_type, "authorize_payment")
        self.assertIn("execute_activity", last["command_sites"][-1]["code"])


R = sys.modules["deja_harness.sandbox_reuse"]


class T07SandboxReuse(unittest.TestCase):
    """deja_sandbox_reuse: what it learns, what its fingerprint sees, and verdicts."""

    SRC = """
        import dataclasses, datetime, enum, logging
        from temporalio.common import RetryPolicy

        LIMIT = 3
        ITEMS = [1, 2]
        TABLE = {"a": [1]}
        DELAY = datetime.timedelta(seconds=5)
        RETRY = RetryPolicy(maximum_attempts=3)
        TAGS = {"x", "y"}
        log = logging.getLogger("deja.selftest.fp")

        class Color(enum.Enum):
            RED = 1

        @dataclasses.dataclass
        class Order:
            id: str
            lines: list = dataclasses.field(default_factory=list)

        class Counter:
            hits = 0

        def remember(key, _seen={}):
            _seen[key] = True

        def make_counter():
            count = [0]
            def inc():
                count[0] += 1
            return inc

        inc = make_counter()
        DEFAULT_ORDER = Order("o-1")
        ALIAS = list[Order]
    """
    NAME = "deja_selftest_fp"

    def imports(self, src: str | None = None) -> tuple[dict, dict]:
        """Two independent executions of the module, like two fresh sandbox imports."""
        out = []
        for _ in range(2):
            m = types.ModuleType(self.NAME)
            sys.modules[self.NAME] = m  # dataclasses look their module up while the body runs
            try:
                code = compile(textwrap.dedent(src or self.SRC), f"<{self.NAME}>", "exec", dont_inherit=True)
                exec(code, m.__dict__)
            finally:
                del sys.modules[self.NAME]
            out.append({self.NAME: m})
        return out[0], out[1]

    def test_an_untouched_module_fingerprints_the_same(self):
        a, b = self.imports()
        shared = R.learn(a, b)
        first, _ = R.fingerprint(a, shared)
        a[self.NAME].log.isEnabledFor(10)  # a shared logger's cache changes: not the module's state
        second, _ = R.fingerprint(a, shared)
        self.assertEqual(first, second)
        self.assertIn(id(a[self.NAME].log), shared)

    def test_every_kind_of_change_is_seen(self):
        mutations = {
            "global rebound": lambda m: setattr(m, "LIMIT", 4),
            "global added": lambda m: setattr(m, "EXTRA", 1),
            "global deleted": lambda m: delattr(m, "DELAY"),
            "list appended": lambda m: m.ITEMS.append(3),
            "nested list appended": lambda m: m.TABLE["a"].append(2),
            "dict key added": lambda m: m.TABLE.__setitem__("b", []),
            "set member added": lambda m: m.TAGS.add("z"),
            "class attribute": lambda m: setattr(m.Counter, "hits", 1),
            "mutable default argument": lambda m: m.remember("k"),
            "closure cell contents": lambda m: m.inc(),
            "instance attribute": lambda m: m.DEFAULT_ORDER.lines.append("x"),
            "SDK dataclass field": lambda m: setattr(m.RETRY, "maximum_attempts", 5),
            "function attribute": lambda m: setattr(m.remember, "calls", 1),
        }
        for name, mutate in mutations.items():
            with self.subTest(name):
                a, b = self.imports()
                shared = R.learn(a, b)
                base, _pins = R.fingerprint(a, shared)
                mutate(a[self.NAME])
                after, _ = R.fingerprint(a, shared)
                self.assertNotEqual(base, after)
                self.assertTrue(R.describe_change(a, shared, base).startswith(self.NAME))

    def test_state_no_fingerprint_can_see_is_not_reusable(self):
        for src in (
            "import random\nRNG = random.Random(7)",
            "import functools\n@functools.lru_cache\ndef price(x):\n    return x",
            "import itertools\nIDS = itertools.count()",
        ):
            with self.subTest(src.splitlines()[-1]):
                a, b = self.imports(src)
                with self.assertRaises(R.NotReusable) as cm:
                    R.learn(a, b)
                self.assertIn("cannot check", str(cm.exception))

    def test_an_import_that_differs_each_time_is_not_reusable(self):
        a, b = self.imports("import time\nSTARTED = time.perf_counter_ns()")
        with self.assertRaises(R.NotReusable) as cm:
            R.learn(a, b)
        self.assertIn("STARTED", str(cm.exception))

    def test_hidden_c_state_by_instance_size(self):
        import enum
        import functools
        import itertools
        import random

        class Plain:
            pass

        class Slotted:
            __slots__ = ("a", "b")

        class Level(enum.IntEnum):
            LOW = 1

        for t in (Plain, Slotted, Level, temporalio.common.RetryPolicy):
            self.assertFalse(R._hidden_c_state(t), t)
        for t in (random.Random, functools._lru_cache_wrapper, itertools.count):
            self.assertTrue(R._hidden_c_state(t), t)


@unittest.skipUnless(HAVE_HISTORIES and HAVE_FIXTURES, "histories/ or tests/fixtures missing")
class T08SandboxReuseVerdicts(unittest.TestCase):
    """Sandbox reuse where this temporalio supports it; where it does not (older SDKs,
    see ``SdkFeatures``) the same runs must take the SDK's own runner: every history
    a fresh sandbox, no pool, the same verdicts."""

    ORDER = os.path.join(HIST, "order_fulfillment.json")
    STATE = os.path.join(FIXTURES, "module_state")
    REUSE = dh.sdk_features().sandbox_reuse

    def assert_plain_path(self, results: list[dict], stats: dict) -> None:
        self.assertTrue(all(r["sandbox"] in ("fresh", "none") for r in results), results)
        self.assertEqual(stats, {}, "no reusing runner on an SDK without sandbox reuse")

    def replay_n(self, config: dict, n: int = 3) -> tuple[list[dict], dict]:
        s = dh.load(config)
        try:
            data, wid = history(self.ORDER)
            return [s.replay(data, wid) for _ in range(n)], s.sandbox_stats()
        finally:
            s.close()

    def test_reuse_gives_every_history_the_sdks_verdict(self):
        files = history_files(include_large=False)
        s = dh.load({"workflows": [CODE_V2]})
        try:
            ours = replay_all(s, files + files)  # twice: the second pass is all reuse
            stats = s.sandbox_stats()
        finally:
            s.close()
        sdk = sdk_verdicts(CODE_V2, files)
        for f in files:
            self.assertEqual(ours[os.path.abspath(f)]["verdict"], sdk[os.path.abspath(f)]["verdict"], f)
        if not self.REUSE:
            self.assertEqual(stats, {})
            return
        self.assertGreaterEqual(stats["reused"], len(files), stats)
        self.assertEqual(stats["not_reusable"], {}, stats)

    def test_leftovers_of_a_run_are_never_reused(self):
        results, stats = self.replay_n({"workflows": [os.path.join(self.STATE, "leaky_state.py")]}, 4)
        self.assertEqual([r["verdict"] for r in results], ["pass"] * 4, [r["message"] for r in results])
        self.assertEqual([r["sandbox"] for r in results[1:]], ["fresh"] * 3)
        if not self.REUSE:
            return self.assert_plain_path(results, stats)
        self.assertIn("leaky_state['PROCESSED']", stats["changes"][0])
        self.assertIn("leaky_state", stats["not_reusable"])

    def test_hidden_state_module_is_imported_for_every_history(self):
        results, stats = self.replay_n({"workflows": [os.path.join(self.STATE, "hidden_state.py")]})
        self.assertEqual([(r["verdict"], r["sandbox"]) for r in results], [("pass", "fresh")] * 3)
        if not self.REUSE:
            return self.assert_plain_path(results, stats)
        self.assertIn("random.Random", stats["not_reusable"]["hidden_state"])

    def test_fresh_sandbox_turns_reuse_off(self):
        results, stats = self.replay_n({"workflows": [CODE], "fresh_sandbox": True})
        self.assertEqual([(r["verdict"], r["sandbox"]) for r in results], [("pass", "fresh")] * 3)
        self.assertEqual(stats.get("reused", 0), 0)
        results, stats = self.replay_n({"workflows": [CODE]})
        if not self.REUSE:
            return self.assert_plain_path(results, stats)
        self.assertEqual([(r["verdict"], r["sandbox"]) for r in results], [("pass", "reused")] * 3)

    def test_code_that_refuses_a_second_import_gets_the_sdks_verdict(self):
        # A module that refuses to be imported again in the same process (a global
        # registry). The SDK imports it once to validate and once per run, so the run
        # fails in the SDK; learning's extra import must not fail anything earlier.
        with tempfile.TemporaryDirectory() as tmp:
            module = order_workflow(tmp, "once_only.py", prelude="""
                import builtins

                if getattr(builtins, "_deja_once_only", 0) >= 2:  # a plain import + one sandbox
                    raise RuntimeError("metric 'orders' already registered")
                builtins._deja_once_only = getattr(builtins, "_deja_once_only", 0) + 1
            """)
            try:
                results, stats = self.replay_n({"workflows": [module]}, 1)
            finally:
                import builtins

                builtins.__dict__.pop("_deja_once_only", None)
            sdk = sdk_verdicts(module, [self.ORDER])[os.path.abspath(self.ORDER)]
        self.assertEqual((results[0]["verdict"], sdk["verdict"]), ("workflow-task-failure",) * 2, results[0]["message"])
        self.assertIn("already registered", results[0]["message"])
        if not self.REUSE:
            return self.assert_plain_path(results, stats)
        self.assertIn("a second import failed: RuntimeError", stats["not_reusable"]["once_only"])

    def test_unsandboxed_workflows_say_none(self):
        results, _ = self.replay_n({"workflows": [CODE], "unsandboxed": True}, 1)
        self.assertEqual((results[0]["verdict"], results[0]["sandbox"]), ("pass", "none"))


class T20Shadow(unittest.TestCase):
    """deja_harness.shadow's pure parts: sampling and the merge (the workflow and the
    activities run against a real server in tests/shadow.rs)."""

    def setUp(self):
        import deja_harness.shadow as shadow

        self.sh = shadow

    def state(self):
        return self.sh._new_state({"query": ""}, 0.0)

    def test_sampling_is_a_stable_hash_near_the_rate(self):
        ids = [f"run-{i}" for i in range(4000)]
        first = [r for r in ids if self.sh.sampled("seed", 1, r, 0.25)]
        again = [r for r in ids if self.sh.sampled("seed", 1, r, 0.25)]
        self.assertEqual(first, again, "a retried page samples the same runs")
        self.assertLess(abs(len(first) - 1000), 4 * (4000 * 0.25 * 0.75) ** 0.5)
        other_pass = [r for r in ids if self.sh.sampled("seed", 2, r, 0.25)]
        self.assertNotEqual(first, other_pass, "each --continuous pass samples anew")
        self.assertTrue(all(self.sh.sampled("s", 1, r, 1.0) for r in ids[:10]))
        self.assertFalse(any(self.sh.sampled("s", 1, r, 0.0) for r in ids[:10]))

    def test_merge_counts_groups_and_keeps_one_example(self):
        s = self.state()
        rows = [
            {"workflow_id": "a", "run_id": "1", "workflow_type": "T", "verdict": "pass", "signature": "", "seconds": 0.5},
            {"workflow_id": "b", "run_id": "2", "workflow_type": "T", "verdict": "nondeterminism", "signature": "sig", "message": "m"},
            {"workflow_id": "c", "run_id": "3", "workflow_type": "T", "verdict": "nondeterminism", "signature": "sig", "message": "m"},
            {"workflow_id": "d", "run_id": "4", "workflow_type": "T", "verdict": "pass", "signature": "", "drift": ["timer-duration"], "drift_failed": True},
            {"workflow_id": "e", "run_id": "5", "workflow_type": "T", "verdict": "error", "error_kind": "unavailable", "signature": "history could not be fetched"},
        ]
        self.sh.merge(s, {"id": "b0", "runs": []}, {"rows": rows, "examples": {"sig": "report"}, "fetch_calls": 4, "attempt": 2, "resumed": 1}, None)
        self.assertEqual(s["replayed"], 5)
        self.assertEqual(s["counts"], {"pass": 2, "nondeterminism": 2, "unavailable": 1})
        self.assertEqual((s["drift"], s["drift_failed"], s["unavailable"]), (1, 1, 1))
        self.assertEqual(s["groups"]["sig"]["count"], 2)
        self.assertEqual(s["groups"]["sig"]["example"]["text"], "report")
        self.assertEqual(s["groups"]["sig"]["histories"], [["b", "2", "T"], ["c", "3", "T"]])
        self.assertEqual(s["groups"]["history could not be fetched"]["verdict"], "unavailable")
        self.assertEqual((s["calls"]["fetch"], s["retried_batches"], s["resumed_runs"]), (4, 1, 1))

    def test_a_batch_that_failed_for_good_becomes_error_rows(self):
        s = self.state()
        batch = {"id": "b7", "runs": [["w1", "r1", "T"], ["w2", "r2", "T"]]}
        self.sh.merge(s, batch, None, "ActivityError: worker lost " + "x" * 1000)
        self.assertEqual((s["replayed"], s["counts"]), (2, {"error": 2}))
        g = s["groups"]["replay activity failed"]
        self.assertEqual(g["count"], 2)
        self.assertLessEqual(len(g["message"]), self.sh.MAX_MESSAGE_CHARS)

    def test_the_aggregate_stays_bounded(self):
        s = self.state()
        rows = [
            {"workflow_id": f"w{i}", "run_id": "r", "workflow_type": "T", "verdict": "nondeterminism", "signature": f"sig{i % 80}"}
            for i in range(8000)
        ]
        self.sh.merge(s, {"id": "b", "runs": []}, {"rows": rows, "examples": {}}, None)
        self.assertEqual(s["counts"]["nondeterminism"], 8000, "counts are complete")
        self.assertEqual(len(s["groups"]), self.sh.MAX_GROUPS)
        self.assertEqual(s["groups_dropped"], 8000 - sum(g["count"] for g in s["groups"].values()))
        listed = sum(len(g["histories"]) for g in s["groups"].values())
        self.assertLessEqual(listed, self.sh.MAX_HISTORIES)
        self.assertLess(len(json.dumps(s)), 400_000)


if __name__ == "__main__":
    program = unittest.main(verbosity=2 if "-v" in sys.argv else 1, exit=False)
    sys.stdout.flush()
    sys.stderr.flush()
    # Leave without interpreter finalization, as deja itself does: the SDK's core runtime
    # keeps native threads that may still call into Python while it is finalizing
    # ("PyGILState_Release: thread state must be current"), an abort after all tests ran.
    os._exit(0 if program.result.wasSuccessful() else 1)
