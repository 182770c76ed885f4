//! The simulated kubelets: one process serving N distinct certificates on N ports of one address
//! (`BENCH_ADDRESS`; the API server's node proxy refuses loopback, so bench/scan.sh picks the
//! machine's own address). Those that speak TLS also answer `GET /metrics` with the kubelet's
//! certificate TTL gauges, as the scan reads them through the node proxy.
//! Kinds, by index: cluster-signed and valid (the cluster CA, as a `kubelet-serving` CSR would
//! give), self-signed (a `<node>-ca@<time>` CA plus leaf, as the kubelet makes), cluster-signed
//! but expired, refused (a port nobody listens on), silent (accepts TCP, never speaks TLS).

use std::sync::Arc;

use anyhow::Context as _;
use kubecert_pki::{self_signed_ca, sign_with_dates, CertificateAuthority, KeyType, LeafProfile, PrivateKey};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Where the endpoints listen (`BENCH_ADDRESS`, default 127.0.0.1).
pub fn address() -> std::net::IpAddr {
    std::env::var("BENCH_ADDRESS").ok().and_then(|a| a.parse().ok()).unwrap_or([127, 0, 0, 1].into())
}

/// The client certificate TTL every simulated kubelet reports (30 days).
pub const CLIENT_TTL_SECONDS: u64 = 30 * 86_400;

/// What endpoint `i` serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Signed by the cluster CA, valid.
    ClusterSigned,
    /// The kubelet's own CA.
    SelfSigned,
    /// Signed by the cluster CA, expired.
    Expired,
    /// Connection refused.
    Refused,
    /// Accepts, never answers.
    Silent,
}

/// The mix: of every 20 endpoints, 12 cluster-signed, 4 self-signed, 2 expired, 1 refused, 1 silent.
pub fn kind_of(i: usize) -> Kind {
    match i % 20 {
        0..=11 => Kind::ClusterSigned,
        12..=15 => Kind::SelfSigned,
        16 | 17 => Kind::Expired,
        18 => Kind::Refused,
        _ => Kind::Silent,
    }
}

/// One endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Node name.
    pub node: String,
    /// Port on [`address`].
    pub port: u16,
    /// What it serves.
    pub kind: Kind,
}

fn leaf(node: &str) -> LeafProfile {
    LeafProfile {
        common_name: node.to_string(),
        organization: None,
        client_auth: false,
        server_auth: true,
        dns_names: vec![node.to_string()],
        ip_addresses: vec![address()],
        valid_for: Duration::days(365),
    }
}

/// Makes the chain (DER) and key for endpoint `node` of `kind`.
fn credential(ca: &CertificateAuthority, node: &str, kind: Kind, now: OffsetDateTime) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let key = PrivateKey::generate(KeyType::EcdsaP256)?;
    let chain = match kind {
        Kind::SelfSigned => {
            let own_key = PrivateKey::generate(KeyType::EcdsaP256)?;
            let own = self_signed_ca(&own_key, &format!("{node}-ca@{}", now.unix_timestamp()), now - Duration::hours(1), now + Duration::days(365))?;
            let own_ca = CertificateAuthority::new(own.clone(), own_key, now)?;
            let cert = sign_with_dates(&own_ca, &key, &leaf(node), now - Duration::hours(1), now + Duration::days(365))?;
            vec![cert.der().to_vec(), own.der().to_vec()]
        }
        Kind::Expired => vec![sign_with_dates(ca, &key, &leaf(node), now - Duration::days(400), now - Duration::days(35))?.der().to_vec()],
        _ => vec![sign_with_dates(ca, &key, &leaf(node), now - Duration::hours(1), now + Duration::days(300))?.der().to_vec()],
    };
    let key_der = PrivateKeyDer::from_pem_slice(key.to_pem().as_bytes()).map_err(|e| anyhow::anyhow!("key: {e}"))?;
    Ok((chain.into_iter().map(CertificateDer::from).collect(), key_der))
}

/// Starts `n` endpoints named `<prefix>-<i>`; returns them once all listen. The servers run on
/// the current tokio runtime until the process ends.
pub async fn start(n: usize, prefix: &str, ca: &CertificateAuthority) -> anyhow::Result<Vec<Endpoint>> {
    let now = OffsetDateTime::now_utc();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // Certificates first, on both cores (the CA signs thousands of leaves).
    type Cred = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);
    let mut creds: Vec<Option<Cred>> = Vec::with_capacity(n);
    let make = |range: std::ops::Range<usize>| -> anyhow::Result<Vec<Option<Cred>>> {
        range
            .map(|i| match kind_of(i) {
                Kind::Refused | Kind::Silent => Ok(None),
                k => credential(ca, &format!("{prefix}-{i:05}"), k, now).map(Some),
            })
            .collect()
    };
    let make = &make;
    let half = n / 2;
    std::thread::scope(|s| -> anyhow::Result<()> {
        let first = s.spawn(move || make(0..half));
        let second = make(half..n)?;
        creds.extend(first.join().map_err(|_| anyhow::anyhow!("certificate thread panicked"))??);
        creds.extend(second);
        Ok(())
    })?;
    let mut out = Vec::with_capacity(n);
    let mut held = Vec::new();
    for (i, cred) in creds.into_iter().enumerate() {
        let node = format!("{prefix}-{i:05}");
        let kind = kind_of(i);
        if kind == Kind::Refused {
            // Bound but never listening: connections are refused, and no later bind can reuse the port.
            let socket = if address().is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
            socket.bind((address(), 0).into())?;
            let port = socket.local_addr()?.port();
            held.push(socket);
            out.push(Endpoint { node, port, kind });
            continue;
        }
        let listener = TcpListener::bind((address(), 0)).await.with_context(|| format!("bind {}:0", address()))?;
        let port = listener.local_addr()?.port();
        match kind {
            Kind::Refused => unreachable!("handled above"),
            Kind::Silent => {
                tokio::spawn(async move {
                    let mut held = Vec::new();
                    while let Ok((s, _)) = listener.accept().await {
                        held.push(s); // keep it open, say nothing
                    }
                });
            }
            _ => {
                let (chain, key) = cred.context("no certificate made")?;
                let config = rustls::ServerConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()?
                    .with_no_client_auth()
                    .with_single_cert(chain, key)?;
                let acceptor = TlsAcceptor::from(Arc::new(config));
                tokio::spawn(serve(listener, acceptor));
            }
        }
        out.push(Endpoint { node, port, kind });
    }
    // The refusing sockets live as long as the process.
    std::mem::forget(held);
    Ok(out)
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor) {
    while let Ok((s, _)) = listener.accept().await {
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // The scan's probe reads the certificate and closes; the API server's node proxy
            // then asks for /metrics, answered as the kubelet would (one request, then close).
            let Ok(mut tls) = acceptor.accept(s).await else { return };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                true
            });
            if !matches!(read.await, Ok(true)) || !head.starts_with(b"GET /metrics ") {
                return;
            }
            let body = format!(
                "# TYPE kubelet_certificate_manager_client_ttl_seconds gauge\nkubelet_certificate_manager_client_ttl_seconds {CLIENT_TTL_SECONDS}\n# TYPE kubelet_certificate_manager_server_ttl_seconds gauge\nkubelet_certificate_manager_server_ttl_seconds +Inf\n"
            );
            let resp = format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            let _ = tls.write_all(resp.as_bytes()).await;
            let _ = tls.shutdown().await;
        });
    }
}
