//! nginx as a TLS-terminating gRPC proxy in front of the shared dev server, with
//! throwaway certificates made by `openssl`: one port with server TLS, one that also
//! requires a client certificate (mTLS).
//!
//! Needs `nginx` and `openssl` (`scripts/install-test-deps.sh` installs both; `make test` runs it).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::process::Daemon;
use super::{free_port, shared};

/// PEM files, all under one temporary directory.
pub struct Certs {
    /// CA that signed the server and client certificates.
    pub ca: PathBuf,
    /// Server certificate for `localhost` and `127.0.0.1`.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// Client certificate signed by `ca`.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here, and a client certificate from it.
    pub other_ca: PathBuf,
    pub other_client_cert: PathBuf,
    pub other_client_key: PathBuf,
}

pub struct TlsProxy {
    /// Server TLS only.
    pub tls_port: u16,
    /// Server TLS + required client certificate.
    pub mtls_port: u16,
    pub certs: Certs,
    _daemon: Daemon,
    _dir: tempfile::TempDir,
}

fn nginx() -> PathBuf {
    if let Some(p) = std::env::var_os("DEJA_NGINX") {
        return p.into();
    }
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    "nginx".into()
}

/// Whether the TLS tests can run here.
pub fn available() -> Result<(), String> {
    let ok = |mut c: Command| {
        c.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut n = Command::new(nginx());
    n.arg("-v");
    let mut o = Command::new("openssl");
    o.arg("version");
    if ok(n) && ok(o) {
        Ok(())
    } else {
        Err("the TLS tests need nginx and openssl: run scripts/install-test-deps.sh \
             (or set DEJA_SKIP_TLS_TESTS=1 to skip them locally)"
            .into())
    }
}

/// The proxy shared by the TLS tests, or `None` if they are skipped on purpose.
pub fn tls_proxy() -> Option<&'static TlsProxy> {
    if std::env::var_os("DEJA_SKIP_TLS_TESTS").is_some_and(|v| v == "1") {
        eprintln!("DEJA_SKIP_TLS_TESTS=1: skipping");
        return None;
    }
    static PROXY: OnceLock<TlsProxy> = OnceLock::new();
    Some(PROXY.get_or_init(|| {
        std::thread::spawn(start)
            .join()
            .expect("starting nginx failed")
    }))
}

fn start() -> TlsProxy {
    available().unwrap_or_else(|e| panic!("{e}"));
    let backend = shared().server.address.clone();
    let dir = tempfile::tempdir().unwrap();
    let certs = make_certs(dir.path());
    for _ in 0..3 {
        let (tls_port, mtls_port) = (free_port(), free_port());
        let conf = dir.path().join("nginx.conf");
        std::fs::write(
            &conf,
            config(dir.path(), &certs, tls_port, mtls_port, &backend),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut cmd = Command::new(nginx());
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let daemon = Daemon::spawn("nginx", cmd).unwrap_or_else(|e| panic!("{e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && daemon.is_alive() {
            let up = |p: u16| TcpStream::connect(("127.0.0.1", p)).is_ok();
            if up(tls_port) && up(mtls_port) {
                return TlsProxy {
                    tls_port,
                    mtls_port,
                    certs,
                    _daemon: daemon,
                    _dir: dir,
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(daemon);
        let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            + &std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
        if !log.contains("Address already in use") {
            panic!("nginx did not start:\n{log}");
        }
    }
    panic!("could not find free ports for nginx");
}

fn config(dir: &Path, c: &Certs, tls_port: u16, mtls_port: u16, backend: &str) -> String {
    let d = dir.display();
    let (cert, key, ca) = (
        c.server_cert.display(),
        c.server_key.display(),
        c.ca.display(),
    );
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp-body;
    proxy_temp_path {d}/tmp-proxy;
    fastcgi_temp_path {d}/tmp-fastcgi;
    uwsgi_temp_path {d}/tmp-uwsgi;
    scgi_temp_path {d}/tmp-scgi;
    server {{
        listen 127.0.0.1:{tls_port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{ grpc_pass grpc://{backend}; }}
    }}
    server {{
        listen 127.0.0.1:{mtls_port} ssl http2;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_client_certificate {ca};
        ssl_verify_client on;
        location / {{ grpc_pass grpc://{backend}; }}
    }}
}}
"#
    )
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN=deja test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

fn make_leaf(dir: &Path, name: &str, ca: &str, cn: &str, ext: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

fn make_certs(dir: &Path) -> Certs {
    make_ca(dir, "ca");
    make_ca(dir, "other-ca");
    make_leaf(
        dir,
        "server",
        "ca",
        "localhost",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
    let client_ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";
    make_leaf(dir, "client", "ca", "deja-client", client_ext);
    make_leaf(
        dir,
        "other-client",
        "other-ca",
        "deja-other-client",
        client_ext,
    );
    let p = |n: &str| dir.join(n);
    Certs {
        ca: p("ca.pem"),
        server_cert: p("server.pem"),
        server_key: p("server.key"),
        client_cert: p("client.pem"),
        client_key: p("client.key"),
        other_ca: p("other-ca.pem"),
        other_client_cert: p("other-client.pem"),
        other_client_key: p("other-client.key"),
    }
}
