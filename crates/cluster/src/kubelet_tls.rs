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

/// aws-lc-rs with the cheapest handshake a kubelet accepts. The probe sends nothing and only
/// reads a public certificate, so there is no secret for post-quantum key exchange to protect:
/// the first key share is X25519 alone instead of the default X25519MLKEM768 hybrid (still offered
/// last, so a server that insists on it asks again with a HelloRetryRequest), and
/// AES-128-GCM/SHA-256 first, which is what Go's TLS server (the kubelet) prefers anyway.
fn probe_provider() -> CryptoProvider {
    use rustls::crypto::aws_lc_rs::{cipher_suite, default_provider, kx_group};
    CryptoProvider {
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1, kx_group::X25519MLKEM768],
        cipher_suites: vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        ..default_provider()
    }
}

/// A reusable prober (one TLS configuration shared by every connection).
#[derive(Clone)]
pub(crate) struct Prober {
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
        let provider = Arc::new(probe_provider());
        let verifier = Arc::new(InspectAnyChain { algorithms: provider.signature_verification_algorithms });
        let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider) as Arc<CryptoProvider>)
            .with_safe_default_protocol_versions()
            .expect("aws-lc-rs supports the default TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Prober { connector: TlsConnector::from(Arc::new(config)), timeout }
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

#[cfg(test)]
mod tests {
    use super::*;
    use kubecert_pki::{KeyType, PrivateKey, self_signed_ca};
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    use time::OffsetDateTime;

    /// A one-shot TLS server on 127.0.0.1 limited to `versions` and `groups`, serving a fresh self-signed certificate.
    async fn server(versions: &[&'static rustls::SupportedProtocolVersion], groups: Vec<&'static dyn rustls::crypto::SupportedKxGroup>) -> (SocketAddr, Vec<u8>) {
        let now = OffsetDateTime::now_utc();
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let cert = self_signed_ca(&key, "n1", now - time::Duration::hours(1), now + time::Duration::days(1)).unwrap();
        let provider = CryptoProvider { kx_groups: groups, ..rustls::crypto::aws_lc_rs::default_provider() };
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(cert.der().to_vec())], PrivateKeyDer::from_pem_slice(key.to_pem().as_bytes()).unwrap())
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tokio::spawn(async move {
            if let Ok((s, _)) = listener.accept().await {
                let _ = acceptor.accept(s).await;
            }
        });
        (addr, cert.der().to_vec())
    }

    /// The X25519-first key exchange still reaches servers that insist on P-256 or on the
    /// post-quantum hybrid (a HelloRetryRequest each), and servers that speak only TLS 1.2.
    #[tokio::test]
    async fn reads_the_chain_from_p256_only_hybrid_only_and_tls12_only_servers() {
        use rustls::crypto::aws_lc_rs::kx_group;
        let prober = Prober::new(Duration::from_secs(5));
        let (addr, der) = server(&[&rustls::version::TLS13], vec![kx_group::SECP256R1]).await;
        assert_eq!(prober.chain(addr).await.unwrap(), vec![der]);
        let (addr, der) = server(&[&rustls::version::TLS12], vec![kx_group::X25519]).await;
        assert_eq!(prober.chain(addr).await.unwrap(), vec![der]);
        let (addr, der) = server(&[&rustls::version::TLS13], vec![kx_group::X25519MLKEM768]).await;
        assert_eq!(prober.chain(addr).await.unwrap(), vec![der]);
    }
}
