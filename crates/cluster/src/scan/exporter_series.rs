//! What kubecert's own exporter (the DaemonSet in deploy/) says about each node, read through the
//! API server's pod proxy (`/api/v1/namespaces/NS/pods/POD:PORT/proxy/metrics`) with the scan's
//! credentials: the doctor's `rotation-disabled` finding and the not-after of the client and
//! serving certificates the kubelet holds. The scan uses it where the kubelet's own gauges say
//! nothing (rotation off) or cannot be read (node proxy refused, kubelet down): the exporter Pod is
//! reached at its Pod IP, not through the kubelet, and `pods/proxy` in one namespace is a much
//! narrower grant than `nodes/proxy` (which reaches every kubelet's API).

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::{describe, ApiError, Context};

/// The exporter DaemonSet's namespace in deploy/.
pub const DEFAULT_NAMESPACE: &str = "kubecert-system";
/// The exporter Pods' label in deploy/exporter-daemonset.yaml.
pub(crate) const SELECTOR: &str = "app.kubernetes.io/name=kubecert-exporter";
/// The exporter's port when its Pod names none `metrics`.
pub(crate) const DEFAULT_PORT: i32 = 9654;
/// The exporter's catalog names for the kubelet's client certificate (the one it presents) and
/// its serving certificate (crates/node/src/expiration.rs).
const CLIENT_NAME: &str = "kubelet.conf";
const SERVING_NAME: &str = "kubelet-serving";
/// The doctor finding for `rotateCertificates: false`, checked against node's catalog at compile time.
const ROTATION_DISABLED: &str = kubecert_node::code!("rotation-disabled").as_str();
/// The largest /metrics body kept from one exporter.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// One node's exporter series.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExporterView {
    /// The exporter Pod read.
    pub pod: String,
    /// The doctor found `rotation-disabled` on the node.
    pub rotation_disabled: bool,
    /// Not-after of the client certificate the kubelet presents.
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub client_not_after: Option<OffsetDateTime>,
    /// Not-after of the kubelet's serving certificate.
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub serving_not_after: Option<OffsetDateTime>,
}

/// Why one exporter's /metrics could not be read through the pod proxy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExporterReadError {
    /// The request could not be built (a Pod name or port that makes no path).
    #[error("GET {path}: {detail}")]
    BadRequest {
        /// The proxy path.
        path: String,
        /// Why.
        detail: String,
    },
    /// No answer within the scan's per-request timeout.
    #[error("GET {path}: no answer within {timeout:?}")]
    Timeout {
        /// The proxy path.
        path: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The API server or the Pod answered with an error (or the connection failed).
    #[error("GET {path}: {detail}")]
    Request {
        /// The proxy path.
        path: String,
        /// The client's error with its causes.
        detail: String,
    },
    /// The body is larger than the scan keeps.
    #[error("GET {path}: body larger than {max} bytes")]
    TooLarge {
        /// The proxy path.
        path: String,
        /// The limit.
        max: usize,
    },
}

/// Every node's exporter, by node name; a node whose exporter could not be read maps to the reason.
pub(crate) type ExporterViews = HashMap<String, Result<ExporterView, ExporterReadError>>;

/// A sample's labels, name and unescaped value, in the order written.
type Labels = Vec<(String, String)>;

/// One sample line: the metric name, its labels and value (`None` for comments and bad lines).
fn sample(line: &str) -> Option<(&str, Labels, f64)> {
    if line.starts_with('#') {
        return None;
    }
    let (name, rest) = match line.find('{') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => {
            let (n, v) = line.split_once(' ')?;
            return Some((n, Vec::new(), v.split_whitespace().next()?.parse().ok()?));
        }
    };
    let mut labels = Vec::new();
    let mut chars = rest.char_indices();
    loop {
        // label name up to '=', then a quoted value with \\, \" and \n escapes
        let start = chars.clone().next()?.0;
        let (eq, _) = chars.by_ref().find(|(_, c)| *c == '=' || *c == '}')?;
        if rest[start..eq].is_empty() && rest[eq..].starts_with('}') {
            let value = rest[eq + 1..].split_whitespace().next()?.parse().ok()?;
            return Some((name, labels, value));
        }
        let key = rest[start..eq].trim_start_matches(',').to_string();
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()?.1 {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((key, value));
        match chars.clone().next()?.1 {
            ',' => {
                chars.next();
            }
            '}' => {}
            _ => return None,
        }
    }
}

/// The series of one exporter's /metrics text for `node`.
pub fn parse(text: &str, node: &str, pod: &str) -> ExporterView {
    let mut v = ExporterView { pod: pod.to_string(), ..Default::default() };
    let label = |labels: &[(String, String)], k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    for (name, labels, value) in text.lines().filter_map(sample) {
        if label(&labels, "node").as_deref() != Some(node) || !value.is_finite() {
            continue;
        }
        match name {
            "kubecert_finding" if value >= 1.0 && label(&labels, "code").as_deref() == Some(ROTATION_DISABLED) => v.rotation_disabled = true,
            "kubecert_cert_not_after_seconds" => {
                let at = OffsetDateTime::from_unix_timestamp(value as i64).ok();
                match label(&labels, "name").as_deref() {
                    Some(CLIENT_NAME) => v.client_not_after = at,
                    Some(SERVING_NAME) => v.serving_not_after = at,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    v
}

/// Where to find the exporters.
#[derive(Debug, Clone)]
pub(crate) struct ExporterSource {
    /// Their namespace.
    pub namespace: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Pods read at once.
    pub concurrency: usize,
}

/// Lists the exporter Pods and reads each one's /metrics through the pod proxy. `Err`: the Pods
/// could not be listed (then no node has exporter data).
pub(crate) async fn read_all(client: &kube::Client, src: &ExporterSource) -> Result<ExporterViews, ApiError> {
    let pods = Api::<Pod>::namespaced(client.clone(), &src.namespace)
        .list(&ListParams::default().labels(SELECTOR))
        .await
        .ctx(|| format!("list exporter Pods ({SELECTOR}) in namespace {}", src.namespace))?;
    let targets: Vec<(String, String, i32)> = pods
        .items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .filter_map(|p| {
            let node = p.spec.as_ref()?.node_name.clone()?;
            let port = p.spec.as_ref()?.containers.iter().flat_map(|c| c.ports.iter().flatten()).find(|p| p.name.as_deref() == Some("metrics")).map(|p| p.container_port).unwrap_or(DEFAULT_PORT);
            Some((node, p.metadata.name.clone()?, port))
        })
        .collect();
    let ns = src.namespace.as_str();
    let read = futures::stream::iter(targets.into_iter().map(|(node, pod, port)| async move {
        let path = format!("/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/metrics");
        let got = match http::Request::get(&path).body(Vec::new()) {
            Err(e) => Err(ExporterReadError::BadRequest { detail: e.to_string(), path }),
            Ok(req) => match tokio::time::timeout(src.timeout, client.request_text(req)).await {
                Err(_) => Err(ExporterReadError::Timeout { path, timeout: src.timeout }),
                Ok(Err(e)) => Err(ExporterReadError::Request { detail: describe(&e), path }),
                Ok(Ok(body)) if body.len() > MAX_BODY => Err(ExporterReadError::TooLarge { path, max: MAX_BODY }),
                Ok(Ok(body)) => Ok(parse(&body, &node, &pod)),
            },
        };
        (node, got)
    }))
    .buffer_unordered(src.concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    Ok(read.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_exporters_own_exposition() {
        // Rendered by the exporter's own code, so the two cannot drift apart.
        use crate::exporter::metrics::{render, CertSample, FindingSample, NodeSample};
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let cert = |name: &str, at: i64| CertSample { name: name.into(), path: "/var/lib/kubelet/pki/x \"q\".pem".into(), not_after: Some(OffsetDateTime::from_unix_timestamp(at).unwrap()), missing: false, unreadable: false };
        let s = NodeSample {
            node: "n1".into(),
            findings: vec![FindingSample { code: ROTATION_DISABLED.into(), severity: "warning".into() }],
            known_codes: vec![(ROTATION_DISABLED.into(), "warning".into()), ("client-cert-expired".into(), "error".into())],
            certs: vec![cert("ca", 2_000_000_000), cert(CLIENT_NAME, 1_800_003_600), cert(SERVING_NAME, 1_800_007_200)],
            api: None,
            collect_seconds: 0.1,
        };
        let v = parse(&render(&s, now), "n1", "p");
        assert!(v.rotation_disabled);
        assert_eq!(v.client_not_after.map(|t| t.unix_timestamp()), Some(1_800_003_600));
        assert_eq!(v.serving_not_after.map(|t| t.unix_timestamp()), Some(1_800_007_200));
        // another node's series (a misrouted Pod) and a zero count are not this node's
        let other = parse(&render(&s, now), "n10", "p");
        assert_eq!(other, ExporterView { pod: "p".into(), ..Default::default() });
        let none = NodeSample { findings: vec![], ..s };
        assert!(!parse(&render(&none, now), "n1", "p").rotation_disabled);
    }

    #[test]
    fn bad_lines_are_skipped_not_fatal() {
        for l in ["", "x{", "x{a=\"", "x{a=b} 1", "x{a=\"1\" 2", "{} 1", "# HELP x", "x{a=\"1\"} nan1"] {
            let _ = sample(l);
        }
        assert_eq!(sample("m{a=\"x\\\"y\",b=\"\\n\"} 3"), Some(("m", vec![("a".into(), "x\"y".into()), ("b".into(), "\n".into())], 3.0)));
        assert_eq!(sample("m 4"), Some(("m", vec![], 4.0)));
        assert_eq!(sample("m{} 5"), Some(("m", vec![], 5.0)));
    }
}
