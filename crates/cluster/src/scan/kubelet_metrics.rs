//! Each kubelet's own view of its certificates, read through the API server's node proxy
//! (`/api/v1/nodes/NAME/proxy/metrics`, as `kubectl get --raw` does it): the gauges
//! `kubelet_certificate_manager_client_ttl_seconds` and `..._server_ttl_seconds` (seconds until
//! the certificate the kubelet holds expires; +Inf when it has none or does not rotate it).

use std::time::Duration;

use serde::Serialize;

/// The client certificate's TTL gauge (cmd/kubelet/app/server.go).
pub(crate) const CLIENT_TTL: &str = "kubelet_certificate_manager_client_ttl_seconds";
/// The serving certificate's TTL gauge (pkg/kubelet/certificate/kubelet.go; only with serverTLSBootstrap).
pub(crate) const SERVER_TTL: &str = "kubelet_certificate_manager_server_ttl_seconds";
/// The largest /metrics body read from one kubelet.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// What one kubelet said, or why it could not be asked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum KubeletTtls {
    /// Seconds until expiry (`None`: the gauge is absent or +Inf).
    Read {
        /// Client certificate.
        client_ttl_seconds: Option<f64>,
        /// Serving certificate.
        server_ttl_seconds: Option<f64>,
        /// The client gauge is there at all: the kubelet registers it exactly when
        /// rotateCertificates is on (cmd/kubelet/app/server.go), with +Inf while it has no certificate.
        rotating_client: bool,
    },
    /// The proxy request failed (refused by RBAC, kubelet unreachable, timeout).
    Unknown {
        /// Why.
        reason: String,
    },
}

/// The value of an unlabelled gauge in Prometheus text exposition, if finite.
pub(crate) fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let value = rest.strip_prefix(' ')?.split_whitespace().next()?;
        value.parse::<f64>().ok().filter(|v| v.is_finite())
    })
}

/// Whether the gauge `name` appears in the exposition (whatever its value).
pub(crate) fn has_gauge(text: &str, name: &str) -> bool {
    text.lines().any(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with(' ') || r.starts_with('{')))
}

/// Reads one kubelet's TTL gauges through the node proxy, within `timeout`.
pub async fn read(client: &kube::Client, node: &str, timeout: Duration) -> KubeletTtls {
    let path = format!("/api/v1/nodes/{node}/proxy/metrics");
    let req = match http::Request::get(&path).body(Vec::new()) {
        Ok(r) => r,
        Err(e) => return KubeletTtls::Unknown { reason: e.to_string() },
    };
    match tokio::time::timeout(timeout, client.request_text(req)).await {
        Err(_) => KubeletTtls::Unknown { reason: format!("no answer through the node proxy within {timeout:?}") },
        Ok(Err(e)) => KubeletTtls::Unknown { reason: format!("GET {path}: {}", crate::error::describe(&e)) },
        Ok(Ok(body)) if body.len() > MAX_BODY => KubeletTtls::Unknown { reason: format!("GET {path}: body larger than {MAX_BODY} bytes") },
        Ok(Ok(body)) => KubeletTtls::Read { client_ttl_seconds: gauge(&body, CLIENT_TTL), server_ttl_seconds: gauge(&body, SERVER_TTL), rotating_client: has_gauge(&body, CLIENT_TTL) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_gauges_as_the_kubelet_prints_them() {
        let body = "# HELP kubelet_certificate_manager_client_ttl_seconds [ALPHA] Gauge of the TTL\n# TYPE kubelet_certificate_manager_client_ttl_seconds gauge\nkubelet_certificate_manager_client_ttl_seconds 3.1535687e+07\nkubelet_certificate_manager_client_ttl_seconds_total 1\nkubelet_certificate_manager_server_ttl_seconds +Inf\n";
        assert_eq!(gauge(body, CLIENT_TTL), Some(31_535_687.0));
        assert_eq!(gauge(body, SERVER_TTL), None, "+Inf means no certificate");
        assert_eq!(gauge("kubelet_certificate_manager_client_ttl_seconds -12\n", CLIENT_TTL), Some(-12.0));
        assert_eq!(gauge("", CLIENT_TTL), None);
        assert!(has_gauge(body, SERVER_TTL) && has_gauge(body, CLIENT_TTL));
        assert!(!has_gauge("kubelet_certificate_manager_client_ttl_seconds_total 1\n# HELP kubelet_certificate_manager_client_ttl_seconds x\n", CLIENT_TTL));
    }
}
