//! Reads a kubelet's serving certificate chain with a TLS handshake, without trusting it: the
//! chain is accepted whatever it is (so self-signed and expired certificates can be reported),
//! but the server must still prove it holds the leaf's private key (the handshake signature is
//! verified), so what is reported is what that endpoint really serves. No request is sent and no
//! client certificate is offered (the kubelet only asks for one). Each step has a timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Why a kubelet's certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ProbeError {
    /// No TCP connection within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The TCP connection failed (refused, unreachable).
    #[error("connect: {0}")]
    Connect(String),
    /// The TLS handshake failed (bad signature, protocol error, connection closed).
    #[error("TLS handshake: {0}")]
    Handshake(String),
    /// The handshake completed without a certificate.
    #[error("the server sent no certificate")]
    NoCertificate,
}

/// Accepts any chain (it is inspected afterwards) but verifies the handshake signatures.
#[derive(Debug)]
struct InspectAnyChain {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for InspectAnyChain {
    fn verify_server_cert(&self, _: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A reusable prober (one TLS configuration shared by every connection).
#[derive(Clone)]
pub struct Prober {
    connector: TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for Prober {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prober").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Prober {
    /// A prober whose connect and handshake each must finish within `timeout`.
    pub fn new(timeout: Duration) -> Prober {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = Arc::new(InspectAnyChain { algorithms: provider.signature_verification_algorithms });
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider) as Arc<CryptoProvider>)
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports the default TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Prober { connector: TlsConnector::from(Arc::new(config)), timeout }
    }

    /// The per-step timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Connects to `addr` and returns the certificate chain it serves (DER, leaf first).
    pub async fn chain(&self, addr: SocketAddr) -> Result<Vec<Vec<u8>>, ProbeError> {
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ProbeError::Timeout(self.timeout))?
            .map_err(|e| ProbeError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::IpAddress(addr.ip().into());
        let tls = tokio::time::timeout(self.timeout, self.connector.connect(name, tcp))
            .await
            .map_err(|_| ProbeError::Timeout(self.timeout))?
            .map_err(|e| ProbeError::Handshake(e.to_string()))?;
        let chain: Vec<Vec<u8>> = tls.get_ref().1.peer_certificates().unwrap_or_default().iter().map(|c| c.as_ref().to_vec()).collect();
        // Close without waiting for the peer: the answer is already in hand.
        drop(tls);
        if chain.is_empty() { Err(ProbeError::NoCertificate) } else { Ok(chain) }
    }
}
