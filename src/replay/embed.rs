//! The one place deja calls Python.
//!
//! The interpreter is started once per process ([`Interpreter::start`]); the harness module
//! (`python/deja_harness/`, a package) is compiled into the binary and imported from memory, so an
//! installed deja needs no extra files. Histories cross as binary protobuf bytes built by
//! Rust; the trace comes back as protobuf bytes (activations, completions) decoded with the
//! generated `coresdk` types, plus small JSON documents for state. No Python object
//! outlives a call: everything is converted to plain Rust before the GIL is released.

use std::ffi::{CStr, CString};
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use super::pyenv::PythonEnv;
use super::sdk_protos::SdkProtos;
use deja_core::trace::{CodeConfig, Frame, Handler, Handlers, PatchCall, ReplayOutcome, SandboxUse, SdkInfo, Step, StepState, Verdict};

include!(concat!(env!("OUT_DIR"), "/harness_sources.rs"));
/// Serves the harness package from memory (an import finder over `HARNESS_MODULES`).
const BOOTSTRAP_SOURCE: &str = include_str!("../../python/deja_bootstrap.py");

/// Errors from the Python side that stop a run before any verdict.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The harness's own, classified error (missing module, import error, no workflows…).
    #[error("{message}")]
    Harness { kind: HarnessErrorKind, message: String, detail: String },
    #[error(
        "temporalio is not installed in the Python environment {env} (found by {found_by}): \
         run `{env}/bin/pip install temporalio`, or point --python-env at the environment your workers use"
    )]
    MissingSdk { env: String, found_by: &'static str, detail: String },
    /// Anything else: a bug in deja or an unexpected Python failure.
    #[error("internal Python error: {message}")]
    Python { message: String, detail: String },
}

impl EmbedError {
    /// The formatted Python traceback, for `-v`.
    pub fn detail(&self) -> &str {
        match self {
            EmbedError::Harness { detail, .. } | EmbedError::MissingSdk { detail, .. } | EmbedError::Python { detail, .. } => {
                detail
            }
        }
    }
}

/// Why the harness could not make a session: its `ErrorKind` (python/deja_harness/errors.py),
/// word for word. A word not listed here is a bug between the two sides, not a user error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HarnessErrorKind {
    MissingModule,
    ImportError,
    NoWorkflows,
    BadSpec,
    BadAttr,
    Environment,
    UnsupportedSdk,
}

impl HarnessErrorKind {
    pub const ALL: [HarnessErrorKind; 7] = [
        HarnessErrorKind::MissingModule,
        HarnessErrorKind::ImportError,
        HarnessErrorKind::NoWorkflows,
        HarnessErrorKind::BadSpec,
        HarnessErrorKind::BadAttr,
        HarnessErrorKind::Environment,
        HarnessErrorKind::UnsupportedSdk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HarnessErrorKind::MissingModule => "missing-module",
            HarnessErrorKind::ImportError => "import-error",
            HarnessErrorKind::NoWorkflows => "no-workflows",
            HarnessErrorKind::BadSpec => "bad-spec",
            HarnessErrorKind::BadAttr => "bad-attr",
            HarnessErrorKind::Environment => "environment",
            HarnessErrorKind::UnsupportedSdk => "unsupported-sdk",
        }
    }

    pub fn parse(word: &str) -> Option<HarnessErrorKind> {
        HarnessErrorKind::ALL.into_iter().find(|k| k.as_str() == word)
    }
}

fn python_error(py: Python<'_>, err: PyErr) -> EmbedError {
    let value = err.value(py);
    // The harness's HarnessError carries a kind and a clean message.
    if let (Ok(kind), Ok(message)) = (value.getattr("kind"), value.getattr("message")) {
        if let (Ok(kind), Ok(message)) = (kind.extract::<String>(), message.extract::<String>()) {
            let detail = value.getattr("detail").and_then(|d| d.extract::<String>()).unwrap_or_default();
            return match HarnessErrorKind::parse(&kind) {
                Some(kind) => EmbedError::Harness { kind, message, detail },
                None => EmbedError::Python { message: format!("the harness reported an unknown error kind {kind:?}: {message}"), detail },
            };
        }
    }
    let detail = format_traceback(py, &err);
    EmbedError::Python { message: err.to_string(), detail }
}

fn format_traceback(py: Python<'_>, err: &PyErr) -> String {
    let run = || -> PyResult<String> {
        let tb = py.import("traceback")?;
        let lines = tb.call_method1("format_exception", (err.value(py),))?;
        let joined: String = lines.extract::<Vec<String>>()?.concat();
        Ok(joined)
    };
    run().unwrap_or_else(|_| err.to_string())
}

/// The embedded interpreter with the harness loaded and the user's environment on its path.
pub struct Interpreter {
    harness: Py<PyModule>,
    /// What the harness found out about the installed SDK.
    pub sdk: SdkInfo,
    /// How the installed SDK's activation/completion bytes are read.
    protos: std::sync::Arc<SdkProtos>,
}

/// `fork(2)` through Python's own `os.fork` (its before/after-fork handling: the GIL, the
/// import lock, `threading`), for `deja check`'s workers sharing one interpreter start-up.
/// The child's pid in the parent, 0 in the child. Safe only while the process has one
/// thread and no temporalio `Runtime` (no tokio threads) exists — the caller checks.
pub fn fork_via_python() -> Result<i32, EmbedError> {
    Python::attach(|py| py.import("os").and_then(|os| os.call_method0("fork")).and_then(|p| p.extract::<i32>()).map_err(|e| python_error(py, e)))
}

impl Interpreter {
    /// Start Python (once per process), put the environment's site-packages on `sys.path`
    /// in place of the base interpreter's, check `temporalio` imports, load the harness.
    ///
    /// Inside the wheel ([`super::host`]) Python is already running in the user's own
    /// environment: nothing is initialised and `sys.path` keeps its site-packages.
    pub fn start(env: &PythonEnv) -> Result<Interpreter, EmbedError> {
        let hosted = super::host::get().is_some();
        if !hosted {
            Python::initialize();
        }
        Python::attach(|py| {
            let setup = || -> PyResult<()> {
                let sys = py.import("sys")?;
                sys.setattr("argv", vec!["deja"])?;
                // Never write __pycache__ into the user's tree (nor anywhere else).
                sys.setattr("dont_write_bytecode", true)?;
                // Isolate like a venv with include-system-site-packages = false: drop the base
                // interpreter's site-packages, then add the user's (processing .pth files).
                if !hosted {
                    let path = sys.getattr("path")?;
                    let kept: Vec<String> = path
                        .extract::<Vec<String>>()?
                        .into_iter()
                        .filter(|p| !p.ends_with("site-packages") && !p.ends_with("dist-packages"))
                        .collect();
                    sys.setattr("path", kept)?;
                    py.import("site")?.call_method1("addsitedir", (env.site_packages.display().to_string(),))?;
                }
                let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_else(|_| ".".into());
                sys.getattr("path")?.call_method1("insert", (0, cwd))?;
                Ok(())
            };
            setup().map_err(|e| python_error(py, e))?;
            if let Err(e) = py.import("temporalio.worker") {
                let detail = format_traceback(py, &e);
                let not_found = e.is_instance_of::<pyo3::exceptions::PyModuleNotFoundError>(py);
                return Err(if not_found {
                    EmbedError::MissingSdk { env: env.root.display().to_string(), found_by: env.found_by, detail }
                } else {
                    EmbedError::Python { message: format!("importing temporalio failed: {e}"), detail }
                });
            }
            let bootstrap = load_module(py, BOOTSTRAP_SOURCE, c"deja_bootstrap.py", c"deja_bootstrap")?;
            let sources = PyDict::new(py);
            for (module, file, source) in HARNESS_MODULES {
                sources.set_item(*module, (*file, *source)).map_err(|e| python_error(py, e))?;
            }
            bootstrap.call_method1("install", (sources,)).map_err(|e| python_error(py, e))?;
            let module = py.import("deja_harness").map_err(|e| python_error(py, e))?;
            let sdk_version = module
                .call_method0("sdk_version")
                .and_then(|v| v.extract::<String>())
                .map_err(|e| python_error(py, e))?;
            let sdk_json = module
                .call_method0("check_sdk")
                .and_then(|v| v.extract::<String>())
                .map_err(|e| python_error(py, e))?;
            let mut sdk: SdkInfo = serde_json::from_str(&sdk_json).map_err(|e| EmbedError::Python {
                message: format!("the harness described temporalio {sdk_version} in a form deja does not read: {e}"),
                detail: sdk_json.clone(),
            })?;
            let descriptors = module
                .call_method0("coresdk_descriptor_set")
                .and_then(|v| Ok(bytes_of(&v)?.to_vec()))
                .map_err(|e| python_error(py, e))?;
            let protos = SdkProtos::new(&descriptors).map_err(|e| EmbedError::Python {
                message: format!("temporalio {sdk_version}: {e}"),
                detail: String::new(),
            })?;
            sdk.protos_transcoded = !protos.is_native();
            if let SdkProtos::Transcode(t) = &protos {
                sdk.proto_differences = t.differences.clone();
            }
            Ok(Interpreter { harness: module.unbind(), sdk, protos: std::sync::Arc::new(protos) })
        })
    }

    /// Import the user's code and build a replayer for it.
    pub fn load(&self, config: &CodeConfig) -> Result<Session, EmbedError> {
        Python::attach(|py| {
            // One schema: the harness's `Config` mirrors `CodeConfig` and refuses keys it
            // does not know, so the two cannot drift apart silently.
            let cfg = serde_json::to_string(config).map_err(|e| EmbedError::Python { message: format!("config: {e}"), detail: String::new() })?;
            let run = || -> PyResult<Py<PyAny>> { Ok(self.harness.bind(py).call_method1("load_json", (cfg.as_str(),))?.unbind()) };
            let session = run().map_err(|e| python_error(py, e))?;
            let registered = session
                .bind(py)
                .getattr("registered")
                .and_then(|r| r.extract::<Vec<String>>())
                .map_err(|e| python_error(py, e))?;
            let queries = session
                .bind(py)
                .getattr("queries")
                .and_then(|q| q.extract::<std::collections::BTreeMap<String, Vec<String>>>())
                .map_err(|e| python_error(py, e))?;
            Ok(Session { session, registered, queries, protos: self.protos.clone() })
        })
    }
}

/// `deja shadow worker`: run the harness's shadow worker (`deja_harness.shadow.serve`, the
/// SDK's own `Worker`s) in this interpreter until SIGINT/SIGTERM. `analyse(history bytes,
/// workflow id, run id)` is the replay activity's Rust half — it replays with the session
/// it owns, so it is called (from the activity's executor thread) with the GIL released
/// around the Rust work; `ready` gets a JSON line once both workers poll. Must be called on
/// the thread that started Python (asyncio's signal handlers need the main thread).
impl Interpreter {
    pub fn serve_shadow(
        &self,
        options_json: &str,
        analyse: impl Fn(&[u8], &str, &str) -> String + Send + Sync + 'static,
        ready: impl Fn(&str) + Send + Sync + 'static,
    ) -> Result<(), EmbedError> {
        Python::attach(|py| {
            let analyse = pyo3::types::PyCFunction::new_closure(py, None, None, move |args, _kw| -> PyResult<String> {
                let bytes = args.get_item(0)?.cast::<PyBytes>()?.as_bytes().to_vec();
                let (wid, rid): (String, String) = (args.get_item(1)?.extract()?, args.get_item(2)?.extract()?);
                Ok(args.py().detach(|| analyse(&bytes, &wid, &rid)))
            })
            .map_err(|e| python_error(py, e))?;
            let ready = pyo3::types::PyCFunction::new_closure(py, None, None, move |args, _kw| -> PyResult<()> {
                ready(&args.get_item(0)?.extract::<String>()?);
                Ok(())
            })
            .map_err(|e| python_error(py, e))?;
            let shadow = py.import("deja_harness.shadow").map_err(|e| python_error(py, e))?;
            shadow.call_method1("serve", (options_json, analyse, ready)).map_err(|e| python_error(py, e))?;
            Ok(())
        })
    }
}

/// A loaded set of workflows with its replayer, ready to replay many histories.
pub struct Session {
    session: Py<PyAny>,
    pub registered: Vec<String>,
    protos: std::sync::Arc<SdkProtos>,
    /// Query names per registered workflow type (`"*"`: dynamic workflow / query handler).
    pub queries: std::collections::BTreeMap<String, Vec<String>>,
}

impl Session {
    /// Replay one history (binary protobuf) under `workflow_id`.
    pub fn replay(&self, history: &[u8], workflow_id: &str) -> Result<ReplayOutcome, EmbedError> {
        self.replay_as(history, workflow_id, false)
    }

    /// [`Session::replay`] with `explain`: also record the user lines each activation ran
    /// (a line trace limited to user modules) and the pending coroutine stacks — what
    /// `deja_core::cause` needs to say why a replay failed. Costs time: asked for only
    /// to explain a failure.
    pub fn replay_as(&self, history: &[u8], workflow_id: &str, explain: bool) -> Result<ReplayOutcome, EmbedError> {
        Python::attach(|py| {
            let started = Instant::now();
            let result = self
                .session
                .bind(py)
                .call_method1("replay", (PyBytes::new(py, history), workflow_id, explain))
                .map_err(|e| python_error(py, e))?;
            let seconds = started.elapsed().as_secs_f64();
            let mut outcome = convert_outcome(&self.protos, &result, seconds).map_err(|e| python_error(py, e))?;
            outcome.explained = explain;
            Ok(outcome)
        })
    }

    /// Replay; when the verdict is a divergence or a task failure, replay once more with `explain` and return
    /// that (same verdict, plus line traces and stacks): the line trace costs nothing on
    /// histories that pass.
    pub fn replay_explaining_failures(&self, history: &[u8], workflow_id: &str) -> Result<ReplayOutcome, EmbedError> {
        let first = self.replay_as(history, workflow_id, false)?;
        // Only a divergence or an exception in workflow code is explained; errors (a
        // deadlock above all: its thread may still be blocked) are not replayed again.
        if !matches!(first.verdict, Verdict::Nondeterminism | Verdict::WorkflowTaskFailure) {
            return Ok(first);
        }
        let mut again = self.replay_as(history, workflow_id, true)?;
        if again.verdict != first.verdict {
            // Never let the explaining run change what is reported.
            return Ok(first);
        }
        again.seconds = first.seconds;
        Ok(again)
    }

    /// [`Session::replay`], sending the steps recorded so far to `progress` while the replay
    /// runs (about twice a second; each batch holds only the new steps). The callback runs
    /// on this thread: Python is still called from one thread only.
    pub fn replay_with_progress(
        &self,
        history: &[u8],
        workflow_id: &str,
        progress: std::sync::mpsc::Sender<Vec<Step>>,
    ) -> Result<ReplayOutcome, EmbedError> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        Python::attach(|py| {
            let seen = AtomicUsize::new(0);
            let protos = self.protos.clone();
            let callback = pyo3::types::PyCFunction::new_closure(py, None, None, move |args, _kw| -> PyResult<()> {
                let steps = args.get_item(0)?;
                let steps = steps.cast::<PyList>()?;
                let (from, to) = (seen.load(Ordering::Relaxed), steps.len());
                if to > from {
                    let new = (from..to).map(|i| convert_step(&protos, &steps.get_item(i)?)).collect::<PyResult<Vec<_>>>()?;
                    seen.store(to, Ordering::Relaxed);
                    let _ = progress.send(new);
                }
                Ok(())
            })
            .map_err(|e| python_error(py, e))?;
            let session = self.session.bind(py);
            session.setattr("on_progress", callback).map_err(|e| python_error(py, e))?;
            // The debugger shows which lines ran in each step: always a line trace.
            let outcome = self.replay_as(history, workflow_id, true);
            let _ = session.setattr("on_progress", py.None());
            outcome
        })
    }

    pub fn close(&self) {
        Python::attach(|py| {
            let _ = self.session.bind(py).call_method0("close");
        });
    }
}

/// Compile one of deja's embedded Python modules and register it in `sys.modules`.
fn load_module<'py>(py: Python<'py>, source: &str, file: &CStr, name: &CStr) -> Result<Bound<'py, PyModule>, EmbedError> {
    let code = CString::new(source).expect("embedded Python source has no NUL");
    let module = PyModule::from_code(py, &code, file, name).map_err(|e| python_error(py, e))?;
    py.import("sys")
        .and_then(|s| s.getattr("modules"))
        .and_then(|m| m.set_item(name.to_str().unwrap_or_default(), &module))
        .map_err(|e| python_error(py, e))?;
    Ok(module)
}

fn get<'py>(d: &Bound<'py, PyAny>, key: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key)
}

fn opt_string(d: &Bound<'_, PyAny>, key: &str) -> PyResult<Option<String>> {
    let v = get(d, key)?;
    if v.is_none() { Ok(None) } else { Ok(Some(v.extract()?)) }
}

fn frame_of(v: &Bound<'_, PyAny>) -> PyResult<Option<Frame>> {
    if v.is_none() {
        return Ok(None);
    }
    Ok(Some(Frame {
        file: get(v, "file")?.extract()?,
        line: get(v, "line")?.extract()?,
        function: get(v, "function")?.extract().unwrap_or_default(),
        code: get(v, "code")?.extract().unwrap_or_default(),
    }))
}

fn bytes_of<'a>(v: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    Ok(v.cast::<PyBytes>()?.as_bytes())
}

fn decode_err(what: &str, e: prost::DecodeError) -> PyErr {
    pyo3::exceptions::PyValueError::new_err(format!("invalid {what} protobuf from the harness: {e}"))
}

fn convert_step(protos: &SdkProtos, s: &Bound<'_, PyAny>) -> PyResult<Step> {
    let activation = protos.activation(bytes_of(&get(s, "activation")?)?).map_err(|e| decode_err("activation", e))?;
    let completion = protos.completion(bytes_of(&get(s, "completion")?)?).map_err(|e| decode_err("completion", e))?;
    let command_sites = match s.get_item("command_sites") {
        Ok(list) if !list.is_none() => list.cast::<PyList>()?.iter().map(|f| frame_of(&f)).collect::<PyResult<Vec<_>>>()?,
        _ => Vec::new(),
    };
    let state = match s.get_item("state") {
        Ok(st) if !st.is_none() => {
            let raw = bytes_of(&st)?;
            Some(serde_json::from_slice::<StepState>(raw).map_err(|e| {
                pyo3::exceptions::PyValueError::new_err(format!("invalid state JSON from the harness: {e}"))
            })?)
        }
        _ => None,
    };
    let patch_calls = match s.get_item("patch_calls") {
        Ok(list) if !list.is_none() => list
            .cast::<PyList>()?
            .iter()
            .map(|c| {
                Ok(PatchCall {
                    id: get(&c, "id")?.extract()?,
                    deprecated: get(&c, "deprecated")?.extract()?,
                    site: frame_of(&get(&c, "site")?)?,
                })
            })
            .collect::<PyResult<Vec<_>>>()?,
        _ => Vec::new(),
    };
    let lines = match s.get_item("lines") {
        Ok(list) if !list.is_none() => list.extract::<Vec<(String, u32)>>()?,
        _ => Vec::new(),
    };
    Ok(Step { activation, completion, command_sites, state, patch_calls, lines })
}

fn convert_outcome(protos: &SdkProtos, r: &Bound<'_, PyAny>, seconds: f64) -> PyResult<ReplayOutcome> {
    let verdict = Verdict::parse(&get(r, "verdict")?.extract::<String>()?)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    let frames = get(r, "frames")?
        .cast::<PyList>()?
        .iter()
        .map(|f| frame_of(&f))
        .collect::<PyResult<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let steps = get(r, "steps")?.cast::<PyList>()?.iter().map(|s| convert_step(protos, &s)).collect::<PyResult<Vec<_>>>()?;
    Ok(ReplayOutcome {
        verdict,
        error_kind: opt_string(r, "error_kind")?,
        message: get(r, "message")?.extract()?,
        raw: get(r, "raw")?.extract().unwrap_or_default(),
        frames,
        steps,
        seconds,
        sandbox: match opt_string(r, "sandbox")?.as_deref() {
            Some("fresh") => SandboxUse::Fresh,
            Some("reused") => SandboxUse::Reused,
            _ => SandboxUse::None,
        },
        sandbox_note: match r.get_item("sandbox_note") {
            Ok(v) if !v.is_none() => Some(v.extract()?),
            _ => None,
        },
        warnings: match r.get_item("warnings") {
            Ok(v) if !v.is_none() => v.extract()?,
            _ => Vec::new(),
        },
        output: match r.get_item("output") {
            Ok(v) if !v.is_none() => v.extract()?,
            _ => String::new(),
        },
        update_rejections: match r.get_item("update_rejections") {
            Ok(v) if !v.is_none() => {
                let text: String = v.extract()?;
                serde_json::from_str(&text).unwrap_or_default()
            }
            _ => Vec::new(),
        },
        handlers: match r.get_item("handlers") {
            Ok(v) if !v.is_none() => handlers_of(&v)?,
            _ => Handlers::default(),
        },
        explained: false,
        baseline: None,
    })
}

fn handlers_of(v: &Bound<'_, PyAny>) -> PyResult<Handlers> {
    let list = |key: &str| -> PyResult<Vec<Handler>> {
        match v.get_item(key) {
            Ok(l) if !l.is_none() => l
                .cast::<PyList>()?
                .iter()
                .map(|h| Ok(Handler { name: get(&h, "name")?.extract()?, site: frame_of(&get(&h, "site")?)? }))
                .collect(),
            _ => Ok(Vec::new()),
        }
    };
    Ok(Handlers { signals: list("signals")?, updates: list("updates")?, queries: list("queries")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness's `ErrorKind` and `HarnessErrorKind` list the same words.
    #[test]
    fn harness_error_kinds_are_the_same_list_on_both_sides() {
        let (_, _, errors) = HARNESS_MODULES.iter().find(|(m, _, _)| *m == "deja_harness.errors").expect("errors module embedded");
        let class = &errors[errors.find("class ErrorKind").expect("ErrorKind")..];
        let class = &class[..class.find("\n\n\nclass ").unwrap_or(class.len())];
        let words: Vec<&str> = class.lines().filter_map(|l| l.split_once(" = \"")).map(|(_, w)| w.trim_end_matches('"')).collect();
        let ours: Vec<&str> = HarnessErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(words, ours);
        assert!(HarnessErrorKind::parse("no-such-kind").is_none());
    }

    /// A verdict word the Rust side does not know is an internal error, never `error`.
    #[test]
    fn unknown_verdict_from_the_harness_is_an_internal_error() {
        Python::initialize();
        Python::attach(|py| {
            let r = PyDict::new(py);
            r.set_item("verdict", "passed").unwrap();
            r.set_item("frames", PyList::empty(py)).unwrap();
            r.set_item("steps", PyList::empty(py)).unwrap();
            r.set_item("error_kind", py.None()).unwrap();
            r.set_item("message", "").unwrap();
            r.set_item("raw", "").unwrap();
            r.set_item("sandbox", py.None()).unwrap();
            let err = convert_outcome(&SdkProtos::Native, r.as_any(), 0.0).map_err(|e| python_error(py, e)).expect_err("an unknown verdict must not convert");
            assert!(matches!(err, EmbedError::Python { .. }), "{err:?}");
            assert!(err.to_string().contains("unknown verdict from harness: \"passed\""), "{err}");
        });
    }
}
