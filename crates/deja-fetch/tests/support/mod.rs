//! A real Temporal dev server for the tests, with a known set of workflow runs on it.
//!
//! `temporal server start-dev` is started once per test binary on a free loopback port
//! with a throwaway SQLite file; [`process`] makes sure it never outlives the tests.

#![allow(dead_code)]

pub mod process;
pub mod tls_proxy;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use deja_fetch::ConnectionConfig;

/// The workspace root (the directory with `Cargo.lock`), whichever crate's tests include
/// this module (deja's root tests reuse it with `#[path]`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .expect("a Cargo.lock above the crate")
        .canonicalize()
        .unwrap()
}

/// The Python with `temporalio` installed: `DEJA_PYTHON`, else the workspace `.venv`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("DEJA_PYTHON") {
        return p.into();
    }
    let p = workspace_root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "no Python found at {} (create the venv, or set DEJA_PYTHON)",
        p.display()
    );
    p
}

/// The `temporal` CLI: `DEJA_TEMPORAL_CLI`, else the one the `temporalio` wheel's venv
/// has, else `temporal` on PATH.
pub fn temporal_cli() -> PathBuf {
    if let Some(p) = std::env::var_os("DEJA_TEMPORAL_CLI") {
        return p.into();
    }
    let p = workspace_root().join(".venv/bin/temporal");
    if p.exists() { p } else { "temporal".into() }
}

pub fn support_dir() -> PathBuf {
    workspace_root().join("crates/deja-fetch/tests/support")
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct TestServer {
    pub address: String,
    pub port: u16,
    _daemon: Option<process::Daemon>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let cli = temporal_cli();
        // The port is picked here and can, rarely, be taken before the server binds it;
        // then the server exits and we try again with another one.
        for _ in 0..3 {
            let port = free_port();
            let cmd = server_command(&cli, port, dir.path());
            let daemon = process::Daemon::spawn("temporal-dev-server", cmd)
                .unwrap_or_else(|e| panic!("{e}"));
            let address = format!("127.0.0.1:{port}");
            if wait_ready(&address, &daemon, Duration::from_secs(30)) {
                return TestServer {
                    address,
                    port,
                    _daemon: Some(daemon),
                    _dir: dir,
                };
            }
            drop(daemon);
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            if !log.contains("address already in use") {
                panic!(
                    "`{} server start-dev` on port {port} did not become ready:\n{log}",
                    cli.display()
                );
            }
        }
        panic!("could not find a free port for the dev server");
    }

    /// Stop the server (SIGTERM, as a deploy or crash would) and start it again on the same
    /// port with the same database: what a client sees as the server going away and back.
    pub fn restart(&mut self, down_for: Duration) {
        let dir = self._dir.path().to_path_buf();
        // Dropping the old daemon stops it (SIGTERM) before the new one binds the port.
        self._daemon = None;
        std::thread::sleep(down_for);
        let daemon = process::Daemon::spawn("temporal-dev-server", server_command(&temporal_cli(), self.port, &dir)).unwrap_or_else(|e| panic!("{e}"));
        assert!(wait_ready(&self.address, &daemon, Duration::from_secs(30)), "the restarted dev server did not become ready");
        self._daemon = Some(daemon);
    }

    pub fn config(&self) -> ConnectionConfig {
        ConnectionConfig::new(self.address.clone(), "default")
    }
}

/// Ready = the frontend answers and the `default` namespace exists.
/// `temporal server start-dev` on 127.0.0.1:`port`, its database and log in `dir`.
fn server_command(cli: &Path, port: u16, dir: &Path) -> Command {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("server.log")).unwrap();
    let mut cmd = Command::new(cli);
    cmd.args(["server", "start-dev", "--ip", "127.0.0.1", "--headless", "--log-level", "error"])
        .arg("--port")
        .arg(port.to_string())
        .arg("--db-filename")
        .arg(dir.join("db"))
        .args(["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    cmd
}

fn wait_ready(address: &str, daemon: &process::Daemon, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut config = ConnectionConfig::new(address, "default");
    config.retry = deja_fetch::RetryPolicy::none();
    config.connect_timeout = Duration::from_secs(2);
    while Instant::now() < deadline {
        if TcpStream::connect(address).is_ok() {
            let ok = rt.block_on(async {
                match deja_fetch::connect(&config).await {
                    Ok(c) => c.check_namespace().await.is_ok(),
                    Err(_) => false,
                }
            });
            if ok {
                return true;
            }
        }
        if !daemon.is_alive() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// What `workloads.py run` left on the server.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub task_queue: String,
    pub query: String,
    pub runs: Vec<Run>,
    pub protos: std::collections::BTreeMap<String, ProtoFile>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type: String,
    pub status: String,
}

#[derive(Debug, serde::Deserialize)]
pub struct ProtoFile {
    #[serde(rename = "type")]
    pub workflow_type: String,
    pub file: String,
    pub events: usize,
}

pub struct Shared {
    pub server: TestServer,
    pub manifest: Manifest,
    pub dir: tempfile::TempDir,
}

impl Shared {
    pub fn proto_bytes(&self, workflow_id: &str) -> Vec<u8> {
        std::fs::read(
            self.dir
                .path()
                .join(&self.manifest.protos[workflow_id].file),
        )
        .unwrap()
    }
}

/// The server and workload shared by all tests of this binary (started on first use).
pub fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    // Initialised on a plain thread: the tests call this from inside their tokio
    // runtimes, where blocking (and starting another runtime) is not allowed.
    SHARED.get_or_init(|| {
        std::thread::spawn(start_shared)
            .join()
            .expect("starting the shared test server failed")
    })
}

fn start_shared() -> Shared {
    {
        let started = Instant::now();
        let server = TestServer::start();
        let dir = tempfile::tempdir().unwrap();
        run_python(&[
            "run",
            "--address",
            &server.address,
            "--out",
            dir.path().to_str().unwrap(),
        ]);
        let manifest: Manifest =
            serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap())
                .unwrap();
        eprintln!(
            "[support] dev server {} and workload ready in {:.1?}",
            server.address,
            started.elapsed()
        );
        Shared {
            server,
            manifest,
            dir,
        }
    }
}

/// Runs `workloads.py` with `args`; panics with its output on failure; returns stdout.
pub fn run_python(args: &[&str]) -> String {
    let mut cmd = Command::new(python());
    cmd.arg(support_dir().join("workloads.py")).args(args);
    // Dies with the test process (this thread waits for it, so the signal is not sent
    // early; see `process`).
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python().display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "workloads.py {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
