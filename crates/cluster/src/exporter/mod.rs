//! `exporter`: a minimal HTTP/1.1 server for Prometheus (`GET /metrics`, `GET /healthz`), the
//! in-cluster client it uses inside a Pod (service-account token and CA files, as every
//! Kubernetes client library loads them), and the Node's Ready condition read with it. What is
//! measured comes from the caller (the node's files, through kubecert-node); [`metrics`] renders.
//! Each connection is read with a size limit and a timeout, answered, and closed.

pub mod events;
pub mod metrics;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use metrics::ApiSample;

/// Why the exporter could not start or reach the API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExporterError {
    /// The in-cluster configuration is not there (not in a Pod, or no token mounted).
    #[error("in-cluster configuration: {0}")]
    InCluster(String),
    /// The client could not be built.
    #[error("cannot build the in-cluster client: {0}")]
    Client(String),
}

/// The `Content-Type` of the text exposition format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Largest request head read.
const MAX_HEAD: usize = 8192;
/// Time a client has to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A client from the Pod's service account: `KUBERNETES_SERVICE_HOST`/`_PORT` and the token, CA
/// and namespace files under `/var/run/secrets/kubernetes.io/serviceaccount/`.
pub fn in_cluster_client() -> Result<kube::Client, ExporterError> {
    crate::client::install_crypto_provider();
    let config = kube::Config::incluster().map_err(|e| ExporterError::InCluster(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| ExporterError::Client(crate::error::describe(&e)))
}

/// Reads Node `name`'s Ready condition; `up` is false when the API server could not be asked.
pub async fn node_readiness(client: &kube::Client, name: &str) -> ApiSample {
    match kube::Api::<Node>::all(client.clone()).get_opt(name).await {
        Ok(Some(n)) => {
            let row = crate::scan::nodes::row(&n);
            let ready = match row.ready {
                crate::scan::nodes::Readiness::Missing => None,
                r => Some(r.is_ready()),
            };
            ApiSample { up: true, ready }
        }
        Ok(None) => ApiSample { up: true, ready: None },
        Err(e) => {
            tracing::warn!("get Node {name}: {}", crate::error::describe(&e));
            ApiSample { up: false, ready: None }
        }
    }
}

/// Serves `/metrics` (the text `collect` returns, made afresh per scrape) and `/healthz` on
/// `listener` until the task is dropped.
pub async fn serve<F, Fut>(listener: TcpListener, collect: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = String> + Send + 'static,
{
    let collect = Arc::new(collect);
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let collect = Arc::clone(&collect);
        tokio::spawn(async move {
            let _ = handle(stream, move || collect()).await;
        });
    }
}

/// The request line's method and path, from a request head.
pub(crate) fn request_line(head: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(head).ok()?;
    let line = text.lines().next()?;
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let path = target.split('?').next().unwrap_or(target);
    Some((method.to_string(), path.to_string()))
}

async fn handle<Fut: Future<Output = String>>(mut stream: TcpStream, collect: impl FnOnce() -> Fut) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = tokio::time::timeout(READ_TIMEOUT, async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        std::io::Result::Ok(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return Ok(());
    }
    let (status, ctype, body, head_only) = match request_line(&head) {
        None => ("400 Bad Request", "text/plain", "bad request\n".to_string(), false),
        Some((m, _)) if m != "GET" && m != "HEAD" => ("405 Method Not Allowed", "text/plain", "GET or HEAD\n".to_string(), false),
        Some((m, p)) if p == "/metrics" => ("200 OK", CONTENT_TYPE, collect().await, m == "HEAD"),
        Some((m, p)) if p == "/healthz" => ("200 OK", "text/plain", "ok\n".to_string(), m == "HEAD"),
        Some(_) => ("404 Not Found", "text/plain", "not found: try /metrics or /healthz\n".to_string(), false),
    };
    let mut resp = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    if !head_only {
        resp.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&resp).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(request_line(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"), Some(("GET".into(), "/metrics".into())));
        assert_eq!(request_line(b"HEAD /healthz?x=1 HTTP/1.0\r\n\r\n"), Some(("HEAD".into(), "/healthz".into())));
        assert_eq!(request_line(b"garbage"), None);
        assert_eq!(request_line(b"GET / SPDY\r\n\r\n"), None);
    }

    #[tokio::test]
    async fn serves_metrics_healthz_and_404() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, || async { "m 1\n".to_string() }));
        let get = |req: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let m = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(m.starts_with("HTTP/1.1 200 OK\r\n") && m.contains(CONTENT_TYPE) && m.ends_with("\r\n\r\nm 1\n"), "{m}");
        assert!(get("GET /healthz HTTP/1.1\r\n\r\n").await.ends_with("ok\n"));
        assert!(get("GET /x HTTP/1.1\r\n\r\n").await.starts_with("HTTP/1.1 404"));
        assert!(get("POST /metrics HTTP/1.1\r\n\r\n").await.starts_with("HTTP/1.1 405"));
        server.abort();
    }
}
