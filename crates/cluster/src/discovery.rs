//! kubeadm-compatible token discovery (`cmd/kubeadm/app/discovery/token/token.go`), run on a node
//! that has a token but no credentials and no trust yet:
//!
//! 1. GET `kube-public/cluster-info` anonymously over TLS *without* verifying the server;
//! 2. verify `jws-kubeconfig-<token-id>` over the exact `kubeconfig` string with the token secret;
//! 3. check the CA in that kubeconfig against every `--ca-cert-hash` pin (any match passes);
//! 4. GET it again, this time trusting only that CA, and require the very same `kubeconfig`.
//!
//! Only then is the bootstrap kubeconfig built: the server and CA from cluster-info, the token as
//! user `tls-bootstrap-token-user` (kubeadm's `discovery.For`).

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use kubecert_config::Kubeconfig;
use kubecert_pki::load_bundle_base64;

use crate::jws::{signature_key, verify_detached, JwsError};
use crate::token::Token;

/// Namespace and name of the ConfigMap.
pub(crate) const CLUSTER_INFO: (&str, &str) = ("kube-public", "cluster-info");

/// How to discover.
#[derive(Debug, Clone)]
pub struct Options {
    /// `HOST:PORT` (as kubeadm takes it) or `https://HOST:PORT`.
    pub endpoint: String,
    /// The token.
    pub token: Token,
    /// `sha256:<hex>` pins of the CA's public key; at least one unless `unsafe_skip_ca_verification`.
    pub pins: Vec<String>,
    /// Trust whatever CA cluster-info names (kubeadm's `--discovery-token-unsafe-skip-ca-verification`).
    pub unsafe_skip_ca_verification: bool,
    /// How long to wait for the token's signature to appear (the bootstrapsigner signs asynchronously).
    pub timeout: Duration,
}

/// What discovery established.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The API server URL from cluster-info (what the kubelet will use).
    pub server: String,
    /// The cluster CA bundle, PEM.
    pub ca_pem: String,
    /// The CA's pin.
    pub ca_pin: String,
    /// True when the CA was checked against a pin.
    pub pinned: bool,
}

/// Why discovery refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// No pin and no explicit opt-out.
    #[error("refusing to trust the cluster without a CA pin: give --ca-cert-hash sha256:<hex> (on a control-plane node: `kubecert token create --print-join-command`), or --unsafe-skip-ca-verification to accept whatever CA the server presents")]
    NoPin,
    /// A pin that is not `sha256:<64 hex>`.
    #[error("invalid --ca-cert-hash: {0}")]
    BadPin(#[from] kubecert_pki::PinError),
    /// The endpoint is not HOST:PORT.
    #[error("invalid API server endpoint {0:?}: expected HOST:PORT or https://HOST:PORT")]
    BadEndpoint(String),
    /// The server could not be reached or answered with an error.
    #[error("cannot fetch {}/{} from {endpoint} ({stage}): {detail}", CLUSTER_INFO.0, CLUSTER_INFO.1)]
    Fetch {
        /// `first fetch, unverified TLS` or `second fetch, TLS verified against the pinned CA`.
        stage: &'static str,
        /// The URL.
        endpoint: String,
        /// Why.
        detail: String,
    },
    /// 404: kubeadm never uploaded it (or someone deleted it).
    #[error("the cluster has no {}/{} ConfigMap: token discovery needs it (kubeadm's bootstrap-token phase creates it); on a cluster without it, create the bootstrap kubeconfig with `kubecert bootstrap-config` where an admin kubeconfig is available", CLUSTER_INFO.0, CLUSTER_INFO.1)]
    ClusterInfoMissing,
    /// 401/403: anonymous reads are not allowed.
    #[error("anonymous read of {}/{} was refused ({code}): the Role/RoleBinding kubeadm:bootstrap-signer-clusterinfo for system:anonymous is missing (`kubecert rbac ensure`) or the API server runs with --anonymous-auth=false", CLUSTER_INFO.0, CLUSTER_INFO.1)]
    AnonymousRefused {
        /// The HTTP status.
        code: u16,
    },
    /// No `kubeconfig` key.
    #[error("{}/{} has no \"kubeconfig\" key", CLUSTER_INFO.0, CLUSTER_INFO.1)]
    NoKubeconfig,
    /// No `jws-kubeconfig-*` key at all.
    #[error("kube-public/cluster-info carries no signatures at all (no jws-kubeconfig-* keys), so token {0:?} is unknown or expired and either no valid signing token exists or the controller-manager's bootstrapsigner controller is not running (kubeadm starts it with --controllers=*,bootstrapsigner,tokencleaner); create a token with `kubecert token create`, or make the file with `kubecert bootstrap-config` where an admin kubeconfig is available")]
    NoSignatures(String),
    /// Other tokens are signed, not this one.
    #[error("token id {0:?} is invalid for this cluster or it has expired (cluster-info has no signature for it). Use \"kubecert token create\" on a control-plane node to create a new valid token")]
    UnknownToken(String),
    /// The signature does not verify.
    #[error("failed to verify JWS signature of received cluster info object, can't trust this API server: {0}")]
    Signature(JwsError),
    /// The kubeconfig inside is not usable.
    #[error("the kubeconfig in cluster-info is unusable: {0}")]
    BadClusterInfo(String),
    /// No pin matched.
    #[error("cluster CA found in cluster-info configmap is invalid: public key {found} not pinned (pins given: {})", pins.join(", "))]
    PinMismatch {
        /// The CA's pin(s).
        found: String,
        /// The pins given.
        pins: Vec<String>,
    },
    /// The second, verified answer differs.
    #[error("the second kubeconfig from the cluster-info configmap (using validated TLS) was different from the first")]
    Changed,
}

/// Normalises `HOST:PORT` or `https://HOST:PORT` to `https://HOST:PORT`.
pub(crate) fn endpoint_url(endpoint: &str) -> Result<String, DiscoveryError> {
    let e = endpoint.trim();
    let hostport = e.strip_prefix("https://").unwrap_or(e).trim_end_matches('/');
    let bad = || DiscoveryError::BadEndpoint(endpoint.to_string());
    if hostport.is_empty() || hostport.contains('/') || e.starts_with("http://") {
        return Err(bad());
    }
    let (host, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(format!("https://{hostport}"))
}

struct Fetched {
    kubeconfig: String,
    signatures: Vec<(String, String)>,
}

/// TLS for a fetch: without a CA, any certificate is accepted (the handshake signature is still
/// checked); with one, only chains to it, for the endpoint's name or IP.
fn tls_config(ca_der: &[Vec<u8>]) -> Result<rustls::ClientConfig, HttpError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| HttpError::Tls(e.to_string()))?;
    let mut config = if ca_der.is_empty() {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAny(provider))).with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for der in ca_der {
            roots.add(CertificateDer::from(der.clone())).map_err(|e| HttpError::Tls(format!("the cluster CA cannot be used as a TLS trust anchor: {e}")))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts any server certificate, as kubeadm's first, insecure fetch does; trust comes later
/// from the signature and the pin.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The largest answer read (cluster-info is a few KiB).
const MAX_RESPONSE: usize = 1 << 20;

/// One anonymous HTTP/1.1 GET over TLS; returns the status and the body.
async fn https_get(endpoint: &str, path: &str, ca_der: &[Vec<u8>]) -> Result<(u16, Vec<u8>), HttpError> {
    let hostport = endpoint.trim_start_matches("https://");
    let (host, port) = hostport.rsplit_once(':').ok_or(HttpError::Address("no port".into()))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).map_err(|e| HttpError::Address(format!("{host:?} is not a host name or IP address: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(ca_der)?));
    let io = async {
        let port = port.parse::<u16>().map_err(|e| HttpError::Address(e.to_string()))?;
        let tcp = tokio::net::TcpStream::connect((host, port)).await.map_err(|e| HttpError::Io("connect", e))?;
        let mut tls = connector.connect(name, tcp).await.map_err(|e| HttpError::Io("TLS handshake", e))?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {hostport}\r\nAccept: application/json\r\nUser-Agent: kubecert/{}\r\nConnection: close\r\n\r\n", env!("CARGO_PKG_VERSION"));
        tls.write_all(req.as_bytes()).await.map_err(|e| HttpError::Io("send", e))?;
        let mut buf = Vec::new();
        let mut limited = (&mut tls).take(MAX_RESPONSE as u64 + 1);
        // A server may close without a TLS close_notify; what was read is still judged by its length.
        if let Err(e) = limited.read_to_end(&mut buf).await
            && buf.is_empty()
        {
            return Err(HttpError::Io("read", e));
        }
        if buf.len() > MAX_RESPONSE {
            return Err(HttpError::TooLarge);
        }
        Ok::<_, HttpError>(buf)
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), io).await.map_err(|_| HttpError::Timeout)??;
    parse_response(&raw)
}

/// Why the anonymous GET failed (said in [`DiscoveryError::Fetch`]).
#[derive(Debug, thiserror::Error)]
enum HttpError {
    /// The endpoint is not a usable host and port.
    #[error("{0}")]
    Address(String),
    /// TLS could not be set up.
    #[error("{0}")]
    Tls(String),
    /// A step of the exchange failed.
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    /// More than [`MAX_RESPONSE`].
    #[error("the answer is larger than {MAX_RESPONSE} bytes")]
    TooLarge,
    /// Nothing within 10 s.
    #[error("no answer within 10 s")]
    Timeout,
    /// Not an HTTP/1.1 response.
    #[error("{0}")]
    Malformed(String),
}

/// Parses an HTTP/1.1 response (Content-Length, chunked, or until close).
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), HttpError> {
    let bad = |s: &str| HttpError::Malformed(s.to_string());
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("malformed HTTP response (no header end)"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("malformed HTTP response header"))?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let code = status_line.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok()).ok_or_else(|| HttpError::Malformed(format!("malformed HTTP status line {status_line:?}")))?;
    let mut chunked = false;
    let mut length = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "transfer-encoding" => chunked = v.trim().eq_ignore_ascii_case("chunked"),
                "content-length" => length = v.trim().parse::<usize>().ok(),
                _ => {}
            }
        }
    }
    let body = if chunked {
        let mut out = Vec::new();
        let mut rest = body;
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").ok_or_else(|| bad("truncated chunked body"))?;
            let size_text = std::str::from_utf8(&rest[..eol]).map_err(|_| bad("bad chunk size"))?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or_default().trim(), 16).map_err(|_| bad("bad chunk size"))?;
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            if rest.len() < size + 2 {
                return Err(bad("truncated chunked body"));
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        out
    } else if let Some(n) = length {
        body.get(..n).ok_or_else(|| bad("truncated HTTP body"))?.to_vec()
    } else {
        body.to_vec()
    };
    Ok((code, body))
}

async fn fetch(endpoint: &str, ca_der: &[Vec<u8>], stage: &'static str) -> Result<Fetched, DiscoveryError> {
    let fetch_err = |detail: String| DiscoveryError::Fetch { stage, endpoint: endpoint.to_string(), detail };
    let path = format!("/api/v1/namespaces/{}/configmaps/{}", CLUSTER_INFO.0, CLUSTER_INFO.1);
    let (code, body) = https_get(endpoint, &path, ca_der).await.map_err(|e| fetch_err(e.to_string()))?;
    match code {
        200 => {}
        404 => return Err(DiscoveryError::ClusterInfoMissing),
        401 | 403 => return Err(DiscoveryError::AnonymousRefused { code }),
        _ => {
            let msg = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from));
            return Err(fetch_err(format!("HTTP {code}{}", msg.map(|m| format!(": {m}")).unwrap_or_default())));
        }
    }
    let cm: ConfigMap = serde_json::from_slice(&body).map_err(|e| fetch_err(format!("the answer is not a ConfigMap: {e}")))?;
    let mut data = cm.data.unwrap_or_default();
    let kubeconfig = data.remove("kubeconfig").ok_or(DiscoveryError::NoKubeconfig)?;
    let signatures = data.into_iter().filter(|(k, _)| k.starts_with("jws-kubeconfig-")).collect();
    Ok(Fetched { kubeconfig, signatures })
}

/// Runs token discovery; returns the server and CA to put in a bootstrap kubeconfig.
pub async fn discover(opts: &Options) -> Result<Discovered, DiscoveryError> {
    let pins = opts.pins.iter().map(|p| kubecert_pki::parse_pin(p).map_err(DiscoveryError::BadPin)).collect::<Result<Vec<_>, _>>()?;
    if pins.is_empty() && !opts.unsafe_skip_ca_verification {
        return Err(DiscoveryError::NoPin);
    }
    let endpoint = endpoint_url(&opts.endpoint)?;
    let key = signature_key(opts.token.id());

    // 1. Unverified fetch, repeated until the bootstrapsigner has signed for this token.
    let deadline = Instant::now() + opts.timeout;
    let (first, jws) = loop {
        let f = fetch(&endpoint, &[], "first fetch, unverified TLS").await?;
        if let Some((_, jws)) = f.signatures.iter().find(|(k, _)| *k == key) {
            let jws = jws.clone();
            break (f, jws);
        }
        if Instant::now() >= deadline {
            return Err(if f.signatures.is_empty() { DiscoveryError::NoSignatures(opts.token.id().to_string()) } else { DiscoveryError::UnknownToken(opts.token.id().to_string()) });
        }
        tracing::debug!(key, "no signature for this token yet; retrying");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // 2. The signature, over the exact string.
    verify_detached(&jws, first.kubeconfig.as_bytes(), &opts.token).map_err(DiscoveryError::Signature)?;

    // 3. Exactly one cluster; its CA against the pins.
    let kc = Kubeconfig::parse(first.kubeconfig.as_bytes()).map_err(|e| DiscoveryError::BadClusterInfo(e.to_string()))?;
    let [cluster] = kc.clusters.as_slice() else {
        return Err(DiscoveryError::BadClusterInfo(format!("expected exactly one cluster, found {}", kc.clusters.len())));
    };
    let server = cluster.cluster.server.clone().ok_or_else(|| DiscoveryError::BadClusterInfo("the cluster has no server".into()))?;
    let ca_b64 = cluster
        .cluster
        .certificate_authority_data
        .clone()
        .ok_or_else(|| DiscoveryError::BadClusterInfo("the cluster has no certificate-authority-data".into()))?;
    let bundle = load_bundle_base64(&ca_b64).map_err(|e| DiscoveryError::BadClusterInfo(format!("certificate-authority-data: {e}")))?;
    if bundle.certificates.is_empty() {
        return Err(DiscoveryError::BadClusterInfo("certificate-authority-data holds no certificate".into()));
    }
    let ca_pins: Vec<String> = bundle.certificates.iter().map(|c| c.info().public_key_pin.clone()).collect();
    if !pins.is_empty() && !ca_pins.iter().any(|p| pins.contains(p)) {
        return Err(DiscoveryError::PinMismatch { found: ca_pins.join(", "), pins });
    }

    // 4. Again, trusting only that CA; the content must not change.
    let ca_der: Vec<Vec<u8>> = bundle.certificates.iter().map(|c| c.der().to_vec()).collect();
    let second = fetch(&endpoint, &ca_der, "second fetch, TLS verified against the pinned CA").await?;
    if second.kubeconfig != first.kubeconfig {
        return Err(DiscoveryError::Changed);
    }
    let ca_pem = bundle.certificates.iter().map(|c| c.to_pem()).collect::<String>();
    Ok(Discovered { server, ca_pem, ca_pin: ca_pins[0].clone(), pinned: !pins.is_empty() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_responses_parse_with_length_chunks_or_close() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhelloextra";
        assert_eq!(parse_response(r).unwrap(), (200, b"hello".to_vec()));
        let r = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(r).unwrap(), (404, b"abcde".to_vec()));
        let r = b"HTTP/1.1 200 OK\r\n\r\nall of it";
        assert_eq!(parse_response(r).unwrap(), (200, b"all of it".to_vec()));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nab").is_err());
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn endpoints_are_host_port() {
        assert_eq!(endpoint_url("127.0.0.1:6443").unwrap(), "https://127.0.0.1:6443");
        assert_eq!(endpoint_url("https://cp.example:6443/").unwrap(), "https://cp.example:6443");
        assert_eq!(endpoint_url("[::1]:6443").unwrap(), "https://[::1]:6443");
        for bad in ["127.0.0.1", "http://a:1", "a:b", ":6443", "https://a:1/x", ""] {
            assert!(endpoint_url(bad).is_err(), "{bad}");
        }
    }
}
