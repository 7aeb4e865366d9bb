//! deja-fetch against a real Temporal dev server with real workflow runs on it (see
//! `support/`). All tests share one server and one workload.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use deja_fetch::download::FetchedRun;
use deja_fetch::{
    ConnectionConfig, DownloadOptions, ExecutionSummary, FetchError, Progress, RetryPolicy,
    connect, fetch_history, fetch_stream, fetch_to_dir, list_executions,
};
use deja_proto::temporal::api::enums::v1::{EventType, WorkflowExecutionStatus};
use deja_proto::temporal::api::history::v1::History;
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use support::shared;

async fn client() -> deja_fetch::Client {
    connect(&shared().server.config())
        .await
        .expect("connect to the test server")
}

async fn list(query: &str, limit: Option<usize>, sample: Option<usize>) -> Vec<ExecutionSummary> {
    let c = client().await;
    list_executions(&c, query, limit, sample)
        .try_collect()
        .await
        .unwrap()
}

fn scoped(extra: &str) -> String {
    let q = &shared().manifest.query;
    if extra.is_empty() {
        q.clone()
    } else {
        format!("{q} AND {extra}")
    }
}

fn count_by_type(execs: &[ExecutionSummary]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in execs {
        *m.entry(e.workflow_type.clone()).or_default() += 1;
    }
    m
}

#[tokio::test]
async fn histories_are_byte_identical_to_the_sdks() {
    let s = shared();
    let c = client().await;
    for (workflow_id, proto) in &s.manifest.protos {
        let run = s
            .manifest
            .runs
            .iter()
            .find(|r| &r.workflow_id == workflow_id)
            .unwrap();
        let fetched = fetch_history(&c, workflow_id, Some(&run.run_id))
            .await
            .unwrap();
        let sdk_bytes = s.proto_bytes(workflow_id);
        let sdk = History::decode(sdk_bytes.as_slice()).unwrap();
        // The running workflow may have gained events since the SDK fetched it; compare
        // the prefix the SDK saw.
        let ours = if proto.workflow_type == "Waiter" {
            History {
                events: fetched.history.events[..sdk.events.len()].to_vec(),
            }
        } else {
            fetched.history.clone()
        };
        assert_eq!(
            ours.events.len(),
            proto.events,
            "{workflow_id}: event count"
        );
        assert_eq!(ours, sdk, "{workflow_id}: decoded histories differ");
        assert!(
            ours.encode_to_vec() == sdk_bytes,
            "{workflow_id}: encodings differ"
        );
        assert_eq!(fetched.workflow_type, proto.workflow_type);
    }
}

#[tokio::test]
async fn a_history_of_more_than_3000_events_arrives_whole() {
    let s = shared();
    let big = s
        .manifest
        .runs
        .iter()
        .find(|r| r.workflow_type == "BigHistory")
        .unwrap();
    let h = fetch_history(&client().await, &big.workflow_id, Some(&big.run_id))
        .await
        .unwrap();
    assert!(h.event_count() > 3000, "{} events", h.event_count());
    let ids: Vec<i64> = h.history.events.iter().map(|e| e.event_id).collect();
    assert_eq!(
        ids,
        (1..=h.event_count() as i64).collect::<Vec<_>>(),
        "event ids are 1..=N without gaps"
    );
    assert_eq!(h.status, WorkflowExecutionStatus::Completed);
    assert_eq!(h.last_event_type, EventType::WorkflowExecutionCompleted);
}

#[tokio::test]
async fn latest_run_and_status_without_run_id() {
    let s = shared();
    let c = client().await;
    for ty in ["Greeter", "Failing", "Waiter"] {
        let run = s
            .manifest
            .runs
            .iter()
            .find(|r| r.workflow_type == ty)
            .unwrap();
        let h = fetch_history(&c, &run.workflow_id, None).await.unwrap();
        assert_eq!(h.run_id, run.run_id, "{ty}");
        assert_eq!(h.workflow_type, ty);
        let expected = match ty {
            "Greeter" => WorkflowExecutionStatus::Completed,
            "Failing" => WorkflowExecutionStatus::Failed,
            _ => WorkflowExecutionStatus::Running,
        };
        assert_eq!(h.status, expected, "{ty}");
        assert_eq!(h.is_running(), ty == "Waiter");
    }
}

#[tokio::test]
async fn listing_with_query_limit_and_sampling() {
    let s = shared();
    let all = list(&s.manifest.query, None, None).await;
    let expected: BTreeSet<_> = s
        .manifest
        .runs
        .iter()
        .map(|r| (r.workflow_id.clone(), r.run_id.clone()))
        .collect();
    let got: BTreeSet<_> = all
        .iter()
        .map(|e| (e.workflow_id.clone(), e.run_id.clone()))
        .collect();
    assert_eq!(got, expected);
    for e in &all {
        let run = s
            .manifest
            .runs
            .iter()
            .find(|r| r.run_id == e.run_id)
            .unwrap();
        assert_eq!(e.workflow_type, run.workflow_type);
        assert_eq!(
            e.status.as_str_name(),
            format!("WORKFLOW_EXECUTION_STATUS_{}", run.status)
        );
    }
    let types = count_by_type(&all);
    assert_eq!(
        types,
        BTreeMap::from([
            ("BigHistory".into(), 1),
            ("Counter".into(), 3),
            ("Failing".into(), 2),
            ("Greeter".into(), 6),
            ("RareType".into(), 1),
            ("Waiter".into(), 1)
        ])
    );

    assert_eq!(list(&s.manifest.query, Some(5), None).await.len(), 5);
    assert_eq!(list(&s.manifest.query, Some(0), None).await.len(), 0);

    // One of each type, however the common ones crowd the listing.
    let sampled = list(&s.manifest.query, None, Some(1)).await;
    assert_eq!(
        count_by_type(&sampled),
        types.keys().map(|k| (k.clone(), 1)).collect()
    );
    let sampled = list(&s.manifest.query, None, Some(2)).await;
    assert_eq!(sampled.len(), 2 + 2 + 2 + 1 + 1 + 1);
    assert_eq!(list(&s.manifest.query, Some(4), Some(2)).await.len(), 4);

    let greeters = list(&scoped("WorkflowType = 'Greeter'"), None, None).await;
    assert_eq!(greeters.len(), 6);
    let open = list(&scoped("ExecutionStatus = 'Running'"), None, None).await;
    assert_eq!(
        open.iter()
            .map(|e| e.workflow_type.as_str())
            .collect::<Vec<_>>(),
        vec!["Waiter"]
    );
    assert!(open[0].is_running());
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
}

impl Progress for Recorder {
    fn listed(&self, e: &ExecutionSummary) {
        self.events
            .lock()
            .unwrap()
            .push(format!("listed {}", e.workflow_id));
    }
    fn skipped(&self, e: &ExecutionSummary) {
        self.events
            .lock()
            .unwrap()
            .push(format!("skipped {}", e.workflow_id));
    }
    fn fetched(&self, r: &FetchedRun) {
        self.events
            .lock()
            .unwrap()
            .push(format!("fetched {}", r.workflow_id));
    }
}

impl Recorder {
    fn count(&self, what: &str) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.starts_with(what))
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_to_dir_is_incremental_and_loads_in_the_sdk() {
    let s = shared();
    let c = client().await;
    let out = tempfile::tempdir().unwrap();
    let total = s.manifest.runs.len();

    let progress = Recorder::default();
    let first = download_all(&c, &s.manifest.query, out.path(), &progress).await;
    assert_eq!(
        (
            first.listed,
            first.fetched,
            first.skipped,
            first.running,
            first.missing
        ),
        (total, total, 0, 1, 0)
    );
    assert!(first.events > 3000 + 10 * total as u64, "{first:?}");
    assert_eq!(
        (progress.count("listed"), progress.count("fetched")),
        (total, total)
    );
    let mut bytes_on_disk = 0;
    for r in &s.manifest.runs {
        let path = deja_fetch::store::history_path(
            out.path(),
            &r.workflow_type,
            &r.workflow_id,
            &r.run_id,
        );
        bytes_on_disk += std::fs::metadata(&path)
            .unwrap_or_else(|_| panic!("missing {}", path.display()))
            .len();
    }
    assert_eq!(first.bytes, bytes_on_disk);

    // Again: only the open run is fetched again.
    let progress = Recorder::default();
    let second = download_all(&c, &s.manifest.query, out.path(), &progress).await;
    assert_eq!(
        (second.fetched, second.skipped, second.running),
        (1, total - 1, 1),
        "{second:?}"
    );
    assert_eq!(progress.count("skipped"), total - 1);

    // No temporary files are left, and the SDK loads and replays every file.
    let stray: Vec<_> = walk(out.path())
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".json"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    let report = support::run_python(&["verify", "--dir", out.path().to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(report["loaded"], total);
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert_eq!(report["replay_failures"], serde_json::json!([]), "{report}");
}

/// Every run of `query` into `out`, eight downloads at a time.
async fn download_all(
    c: &deja_fetch::Client,
    query: &str,
    out: &std::path::Path,
    progress: &Recorder,
) -> deja_fetch::DownloadSummary {
    let opts = DownloadOptions { concurrency: 8 };
    fetch_to_dir(
        c,
        list_executions(c, query, None, None),
        out,
        &opts,
        progress,
    )
    .await
    .unwrap()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_stream_yields_every_history() {
    let s = shared();
    let c = client().await;
    let histories: Vec<_> = fetch_stream(
        &c,
        list_executions(&c, &s.manifest.query, None, None),
        &DownloadOptions { concurrency: 3 },
    )
    .try_collect()
    .await
    .unwrap();
    let got: BTreeSet<_> = histories.iter().map(|h| h.run_id.clone()).collect();
    let expected: BTreeSet<_> = s.manifest.runs.iter().map(|r| r.run_id.clone()).collect();
    assert_eq!(got, expected);
    assert!(histories.iter().all(|h| h.event_count() > 0));
    assert_eq!(histories.iter().filter(|h| h.is_running()).count(), 1);
}

#[tokio::test]
async fn fetch_stream_keeps_going_past_a_missing_run() {
    let s = shared();
    let c = client().await;
    let real = &s.manifest.runs[0];
    let ghost = ExecutionSummary {
        workflow_id: "no-such-workflow".into(),
        run_id: "6a3e5f1c-0000-4000-8000-000000000000".into(),
        workflow_type: "Ghost".into(),
        status: WorkflowExecutionStatus::Completed,
        history_length: 0,
    };
    let input = ExecutionSummary {
        workflow_id: real.workflow_id.clone(),
        run_id: real.run_id.clone(),
        workflow_type: real.workflow_type.clone(),
        status: WorkflowExecutionStatus::Completed,
        history_length: 0,
    };
    let results: Vec<_> = fetch_stream(
        &c,
        futures::stream::iter([Ok(ghost), Ok(input)]),
        &DownloadOptions { concurrency: 1 },
    )
    .collect()
    .await;
    assert!(
        matches!(&results[0], Err(FetchError::WorkflowNotFound { .. })),
        "{:?}",
        results[0]
    );
    assert_eq!(results[1].as_ref().unwrap().run_id, real.run_id);
}

// ---- errors ---------------------------------------------------------------------------

#[tokio::test]
async fn connection_refused_on_a_closed_port() {
    let port = support::free_port();
    let mut config = ConnectionConfig::new(format!("127.0.0.1:{port}"), "default");
    config.retry = RetryPolicy::none();
    let err = connect(&config).await.unwrap_err();
    eprintln!("{err}");
    assert!(
        matches!(err, FetchError::ConnectionRefused { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("--address"),
        "{msg}"
    );
}

#[tokio::test]
async fn unresolvable_host() {
    let config = ConnectionConfig::new("no-such-host.invalid:7233", "default");
    let err = connect(&config).await.unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, FetchError::Dns { .. }), "{err:?}");
    assert!(err.to_string().contains("`no-such-host.invalid`"), "{err}");
}

#[tokio::test]
async fn namespace_that_does_not_exist() {
    let mut config = shared().server.config();
    config.namespace = "no-such-namespace".into();
    let c = connect(&config).await.unwrap(); // GetSystemInfo needs no namespace
    let err = c.check_namespace().await.unwrap_err();
    assert!(
        matches!(err, FetchError::NamespaceNotFound { .. }),
        "{err:?}"
    );
    let err = fetch_history(&c, "x", Some("6a3e5f1c-0000-4000-8000-000000000000"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::NamespaceNotFound { .. }),
        "{err:?}"
    );
    let err = list_executions(&c, "", Some(1), None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::NamespaceNotFound { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "namespace `no-such-namespace` not found on {}; check --namespace / TEMPORAL_NAMESPACE",
            config.address
        )
    );
}

#[tokio::test]
async fn workflow_that_does_not_exist() {
    let c = client().await;
    let err = fetch_history(&c, "no-such-workflow", None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::WorkflowNotFound { run_id: None, .. }),
        "{err:?}"
    );
    let err = fetch_history(
        &c,
        "no-such-workflow",
        Some("6a3e5f1c-0000-4000-8000-000000000000"),
    )
    .await
    .unwrap_err();
    eprintln!("{err}");
    assert!(
        matches!(
            err,
            FetchError::WorkflowNotFound {
                run_id: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("`no-such-workflow`"), "{err}");
}

#[tokio::test]
async fn bad_query_syntax() {
    let c = client().await;
    let err = list_executions(&c, "WorkflowType = ", None, None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    eprintln!("{err}");
    let FetchError::InvalidQuery { query, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(query, "WorkflowType =");
    assert!(!message.is_empty());
    let err = list_executions(&c, "NoSuchAttribute = 'x'", None, None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::InvalidQuery { .. }), "{err:?}");
    eprintln!("{err}");
}

#[tokio::test]
async fn tls_against_a_plaintext_server() {
    let mut config = shared().server.config();
    config.tls = Some(Default::default());
    config.tls.as_mut().unwrap().disable_host_verification = true;
    config.retry = RetryPolicy::none();
    config.connect_timeout = Duration::from_secs(5);
    let err = connect(&config).await.unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, FetchError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("--tls=false"), "{err}");
}

#[tokio::test]
async fn missing_ca_file_names_the_flag() {
    let mut config = shared().server.config();
    config.tls = Some(deja_fetch::TlsConfig {
        server_ca_cert: Some(deja_fetch::PemSource::File {
            path: "/no/such/ca.pem".into(),
            origin: "--tls-ca-path".into(),
        }),
        ..Default::default()
    });
    let err = connect(&config).await.unwrap_err();
    assert!(matches!(err, FetchError::TlsFile { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot use --tls-ca-path /no/such/ca.pem: "),
        "{err}"
    );
}


// ---- TLS and mTLS through nginx ---------------------------------------------------------

use deja_fetch::{ConnectionArgs, PemSource, TlsConfig};
use support::tls_proxy::{TlsProxy, tls_proxy};

fn file(path: &std::path::Path, origin: &str) -> Option<PemSource> {
    Some(PemSource::File {
        path: path.to_path_buf(),
        origin: origin.into(),
    })
}

fn tls_config(port: u16, tls: TlsConfig) -> ConnectionConfig {
    let mut c = ConnectionConfig::new(format!("127.0.0.1:{port}"), "default");
    c.tls = Some(tls);
    c.retry = RetryPolicy::none();
    c.connect_timeout = Duration::from_secs(5);
    c
}

fn with_ca(p: &TlsProxy) -> TlsConfig {
    TlsConfig {
        server_ca_cert: file(&p.certs.ca, "--tls-ca-path"),
        ..Default::default()
    }
}

fn with_client_cert(p: &TlsProxy) -> TlsConfig {
    TlsConfig {
        client_cert: file(&p.certs.client_cert, "--tls-cert-path"),
        client_key: file(&p.certs.client_key, "--tls-key-path"),
        ..with_ca(p)
    }
}

/// Fetches a known history through `config` and checks it matches the plaintext one.
async fn fetch_through(config: &ConnectionConfig) {
    let s = shared();
    let run = s
        .manifest
        .runs
        .iter()
        .find(|r| r.workflow_type == "Greeter")
        .unwrap();
    let c = connect(config).await.unwrap_or_else(|e| panic!("{e}"));
    let via_tls = fetch_history(&c, &run.workflow_id, Some(&run.run_id))
        .await
        .unwrap();
    let direct = fetch_history(&client().await, &run.workflow_id, Some(&run.run_id))
        .await
        .unwrap();
    assert_eq!(via_tls, direct);
    let listed: Vec<_> = list_executions(&c, &s.manifest.query, Some(3), None)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
}

#[tokio::test]
async fn tls_with_a_ca_file() {
    let Some(p) = tls_proxy() else { return };
    fetch_through(&tls_config(p.tls_port, with_ca(p))).await;
    // By name, as the certificate says.
    let mut c = tls_config(p.tls_port, with_ca(p));
    c.address = format!("localhost:{}", p.tls_port);
    fetch_through(&c).await;
}

#[tokio::test]
async fn tls_from_env_and_api_key() {
    let Some(p) = tls_proxy() else { return };
    let env: deja_fetch::config::EnvMap = [
        ("TEMPORAL_ADDRESS", format!("127.0.0.1:{}", p.tls_port)),
        (
            "TEMPORAL_API_KEY",
            "not-checked-by-the-dev-server".to_string(),
        ),
        (
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
            p.certs.ca.display().to_string(),
        ),
        ("TEMPORAL_GRPC_META_X_DEJA_TEST", "1".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = ConnectionArgs::default()
        .resolve_with(&env, &|p| std::fs::read_to_string(p))
        .unwrap();
    assert!(config.tls.is_some() && config.api_key.is_some());
    fetch_through(&config).await;
}

#[tokio::test]
async fn mtls_from_a_profile() {
    let Some(p) = tls_proxy() else { return };
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("temporal.toml");
    std::fs::write(
        &toml,
        format!(
            "[profile.mtls]\naddress = \"127.0.0.1:{}\"\n[profile.mtls.tls]\nclient_cert_path = {:?}\n\
             client_key_path = {:?}\nserver_ca_cert_path = {:?}\n",
            p.mtls_port,
            p.certs.client_cert.display().to_string(),
            p.certs.client_key.display().to_string(),
            p.certs.ca.display().to_string()
        ),
    )
    .unwrap();
    let args = ConnectionArgs {
        profile: Some("mtls".into()),
        config_file: Some(toml),
        ..Default::default()
    };
    let config = args
        .resolve_with(&Default::default(), &|p| std::fs::read_to_string(p))
        .unwrap();
    fetch_through(&config).await;
}

#[tokio::test]
async fn mtls_with_flags_style_config() {
    let Some(p) = tls_proxy() else { return };
    fetch_through(&tls_config(p.mtls_port, with_client_cert(p))).await;
}

#[tokio::test]
async fn tls_server_not_trusted() {
    let Some(p) = tls_proxy() else { return };
    // System roots don't know the test CA.
    let err = connect(&tls_config(p.tls_port, TlsConfig::default()))
        .await
        .unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, FetchError::Tls { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("pass the server's CA with --tls-ca-path"),
        "{err}"
    );
    // The wrong CA file.
    let tls = TlsConfig {
        server_ca_cert: file(&p.certs.other_ca, "--tls-ca-path"),
        ..Default::default()
    };
    let err = connect(&tls_config(p.tls_port, tls)).await.unwrap_err();
    eprintln!("{err}");
    assert!(
        err.to_string().contains(&format!(
            "the CA in --tls-ca-path {}",
            p.certs.other_ca.display()
        )),
        "{err}"
    );
}

#[tokio::test]
async fn tls_server_name_mismatch() {
    let Some(p) = tls_proxy() else { return };
    let tls = TlsConfig {
        server_name: Some("wrong.example".into()),
        ..with_ca(p)
    };
    let err = connect(&tls_config(p.tls_port, tls)).await.unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, FetchError::Tls { .. }), "{err:?}");
    assert!(
        err.to_string().contains("`wrong.example`")
            && err.to_string().contains("--tls-server-name"),
        "{err}"
    );
    // The override works when it names what the certificate has.
    let mut c = tls_config(
        p.tls_port,
        TlsConfig {
            server_name: Some("localhost".into()),
            ..with_ca(p)
        },
    );
    c.address = format!("127.0.0.1:{}", p.tls_port);
    fetch_through(&c).await;
}

#[tokio::test]
async fn tls_disable_host_verification_accepts_any_certificate() {
    let Some(p) = tls_proxy() else { return };
    let tls = TlsConfig {
        disable_host_verification: true,
        server_name: Some("wrong.example".into()),
        ..Default::default()
    };
    fetch_through(&tls_config(p.tls_port, tls)).await;
}

#[tokio::test]
async fn mtls_without_or_with_a_wrong_client_certificate() {
    let Some(p) = tls_proxy() else { return };
    let err = connect(&tls_config(p.mtls_port, with_ca(p)))
        .await
        .unwrap_err();
    eprintln!("{err}");
    assert!(err.to_string().contains("--tls-cert-path"), "{err}");
    let tls = TlsConfig {
        client_cert: file(&p.certs.other_client_cert, "--tls-cert-path"),
        client_key: file(&p.certs.other_client_key, "--tls-key-path"),
        ..with_ca(p)
    };
    let err = connect(&tls_config(p.mtls_port, tls)).await.unwrap_err();
    eprintln!("{err}");
    assert!(
        err.to_string()
            .contains(&p.certs.other_client_cert.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn plaintext_to_a_tls_port() {
    let Some(p) = tls_proxy() else { return };
    let mut c = ConnectionConfig::new(format!("127.0.0.1:{}", p.tls_port), "default");
    c.retry = RetryPolicy::none();
    let err = connect(&c).await.unwrap_err();
    eprintln!("{err}");
    assert!(err.to_string().contains("pass --tls"), "{err}");
}

#[tokio::test]
async fn key_in_the_certificate_slot() {
    let Some(p) = tls_proxy() else { return };
    let tls = TlsConfig {
        client_cert: file(&p.certs.client_key, "--tls-cert-path"),
        client_key: file(&p.certs.client_key, "--tls-key-path"),
        ..with_ca(p)
    };
    let err = connect(&tls_config(p.mtls_port, tls)).await.unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, FetchError::TlsFile { .. }), "{err:?}");
    assert!(
        err.to_string().contains("--tls-cert-path")
            && err.to_string().contains("no PEM certificate"),
        "{err}"
    );
}
