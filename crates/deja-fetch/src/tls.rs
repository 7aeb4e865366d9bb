//! Turning a [`TlsConfig`] into tonic's rustls configuration.
//!
//! PEM files are read and parsed here, before connecting, so a wrong path or a key in
//! the certificate slot is reported against the flag that named it rather than as an
//! opaque handshake failure.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::config::{PemSource, TlsConfig};
use crate::error::FetchError;

/// Applies TLS to an endpoint (whose URI must be `https://…`).
pub(crate) fn apply(endpoint: Endpoint, tls: &TlsConfig) -> Result<Endpoint, FetchError> {
    let mut cfg = ClientTlsConfig::new().assume_http2(true);
    if let Some(name) = &tls.server_name {
        cfg = cfg.domain_name(name.clone());
    }
    if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
        let cert_pem = PemSource::read(cert)?;
        check_certs(cert, &cert_pem)?;
        let key_pem = PemSource::read(key)?;
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| FetchError::TlsFile {
            source_desc: key.describe(),
            reason: "no PEM private key found (expected -----BEGIN PRIVATE KEY----- or similar)"
                .into(),
        })?;
        cfg = cfg.identity(Identity::from_pem(cert_pem, key_pem));
    }
    let internal = |e: tonic::transport::Error| FetchError::InvalidSetting {
        setting: "TLS options".into(),
        reason: e.to_string(),
    };
    if tls.disable_host_verification {
        // tonic refuses a custom verifier together with CA roots, and the verifier
        // accepts everything anyway, so the CA (if any) is simply not used.
        return endpoint
            .tls_config_with_verifier(cfg, Arc::new(AcceptAnyServerCert::new()))
            .map_err(internal);
    }
    cfg = match &tls.server_ca_cert {
        Some(ca) => {
            let pem = PemSource::read(ca)?;
            check_certs(ca, &pem)?;
            cfg.ca_certificate(Certificate::from_pem(pem))
        }
        None => cfg.with_native_roots(),
    };
    endpoint.tls_config(cfg).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("native") {
            FetchError::InvalidSetting {
                setting: "TLS".into(),
                reason:
                    "no system CA certificates found; install ca-certificates or pass --tls-ca-path"
                        .into(),
            }
        } else {
            internal(e)
        }
    })
}

fn check_certs(src: &PemSource, pem: &[u8]) -> Result<(), FetchError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(()),
        _ => Err(FetchError::TlsFile {
            source_desc: src.describe(),
            reason: "no PEM certificate found (expected -----BEGIN CERTIFICATE-----)".into(),
        }),
    }
}

/// `--tls-disable-host-verification`: like the CLI's Go `InsecureSkipVerify`, any
/// server certificate is accepted — chain and name. The handshake signature is still
/// checked, so the server must hold the key of the certificate it presents.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl AcceptAnyServerCert {
    fn new() -> Self {
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
        AcceptAnyServerCert(provider)
    }
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
