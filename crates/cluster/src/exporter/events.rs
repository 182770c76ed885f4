//! Kubernetes Events on the Node for what an operator must act on: a certificate that expires
//! within the warning window or has expired, one kubecert cannot read, and each doctor error.
//! `kubectl describe node` shows them (it lists events whose involvedObject is the Node).
//!
//! De-duplication is the events API's own: one `events.k8s.io/v1` Event per node, reason and
//! subject (a deterministic name), created once, then its `series` (count, lastObservedTime)
//! bumped on each repeat, as client-go's event recorder does for isomorphic events. Rate
//! limiting: [`Recorder`] posts a given event at most once per interval, and at most
//! [`MAX_PER_ROUND`] events per round.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, ObjectReference};
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams, PostParams};
use time::OffsetDateTime;

use super::metrics::{CertSample, FindingSample};
use crate::error::Context as _;
use crate::micro_time::micro_time;
use crate::ApiError;

/// Events go to this namespace (Nodes are cluster-scoped; the kubelet uses it too).
pub const NAMESPACE: &str = "default";
/// `reportingController` of every event.
pub(crate) const CONTROLLER: &str = "kubecert.io/exporter";
/// Most events one round posts (a node with every certificate broken does not flood the API).
pub(crate) const MAX_PER_ROUND: usize = 16;

/// Why an event is posted (its `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A certificate expires within the warning window.
    CertificateExpiring,
    /// A certificate is past its NotAfter.
    CertificateExpired,
    /// A certificate kubecert expects is present but unreadable.
    CertificateUnreadable,
    /// kubecert doctor reports an error finding.
    DoctorError,
}

impl Reason {
    /// The `reason` field (CamelCase, as Kubernetes reasons are).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::CertificateExpiring => "KubecertCertificateExpiring",
            Reason::CertificateExpired => "KubecertCertificateExpired",
            Reason::CertificateUnreadable => "KubecertCertificateUnreadable",
            Reason::DoctorError => "KubecertDoctorError",
        }
    }
}

/// One event to post about the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    /// Why.
    pub reason: Reason,
    /// What it is about (a certificate's path, or a finding code): part of the event's identity.
    pub subject: String,
    /// The `note` shown by `kubectl describe node`.
    pub note: String,
}

/// The events a node's state calls for at `now`: certificates expiring within `warn_within`,
/// expired or unreadable, and one per distinct doctor error code. Missing certificates are left to
/// the doctor finding that names them.
pub fn plan(findings: &[FindingSample], certs: &[CertSample], now: OffsetDateTime, warn_within: time::Duration) -> Vec<NodeEvent> {
    let mut out = Vec::new();
    for c in certs {
        if c.unreadable {
            out.push(NodeEvent { reason: Reason::CertificateUnreadable, subject: c.path.clone(), note: format!("certificate {} ({}) is unreadable; on the node: kubecert doctor", c.name, c.path) });
            continue;
        }
        let Some(not_after) = c.not_after else { continue };
        let left = not_after - now;
        if left <= time::Duration::ZERO {
            out.push(NodeEvent { reason: Reason::CertificateExpired, subject: c.path.clone(), note: format!("certificate {} ({}) expired at {}; on the node: kubecert doctor", c.name, c.path, rfc3339(not_after)) });
        } else if left < warn_within {
            out.push(NodeEvent {
                reason: Reason::CertificateExpiring,
                subject: c.path.clone(),
                note: format!("certificate {} ({}) expires in {} days, at {}; renew it (kubecert csr or sign)", c.name, c.path, left.whole_days(), rfc3339(not_after)),
            });
        }
    }
    let mut codes: Vec<&str> = findings.iter().filter(|f| f.severity == "error").map(|f| f.code.as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    for code in codes {
        out.push(NodeEvent { reason: Reason::DoctorError, subject: code.to_string(), note: format!("kubecert doctor reports {code}; kubecert explain {code} tells the fix") });
    }
    out
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// The event's object name: the node's name, the reason and a hash of the subject, so the same
/// condition on the same node always maps to the same Event (a DNS subdomain, at most 253 bytes).
pub(crate) fn event_name(node: &str, e: &NodeEvent) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, e.subject.as_bytes());
    let hash: String = digest.as_ref()[..6].iter().map(|b| format!("{b:02x}")).collect();
    let reason = e.reason.as_str().trim_start_matches("Kubecert").to_ascii_lowercase();
    let suffix = format!(".kubecert-{reason}-{hash}");
    let keep = node.len().min(253usize.saturating_sub(suffix.len()));
    let head = node.get(..keep).unwrap_or(node).trim_end_matches(['.', '-']);
    format!("{head}{suffix}")
}

/// What posting one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// A new Event was created.
    Created(String),
    /// An existing Event's series count was raised to this value.
    Repeated(String, i32),
}

/// Creates the Event about Node `node`, or, when it exists, bumps its series (count and
/// lastObservedTime). `instance` is the `reportingInstance` (the exporter's Pod or host).
pub async fn post(client: &kube::Client, node: &Node, instance: &str, e: &NodeEvent, now: OffsetDateTime) -> Result<Posted, ApiError> {
    let node_name = node.metadata.name.clone().unwrap_or_default();
    let name = event_name(&node_name, e);
    let api: kube::Api<Event> = kube::Api::namespaced(client.clone(), NAMESPACE);
    let existing = api.get_opt(&name).await.ctx(|| format!("get Event {NAMESPACE}/{name}"))?;
    if let Some(old) = existing {
        let count = old.series.as_ref().map_or(1, |s| s.count).saturating_add(1);
        let patch = serde_json::json!({ "series": EventSeries { count, last_observed_time: micro_time(now) }, "note": e.note });
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.ctx(|| format!("update Event {NAMESPACE}/{name}"))?;
        return Ok(Posted::Repeated(name, count));
    }
    let ev = Event {
        metadata: ObjectMeta { name: Some(name.clone()), namespace: Some(NAMESPACE.into()), ..Default::default() },
        event_time: Some(micro_time(now)),
        reason: Some(e.reason.as_str().into()),
        note: Some(e.note.chars().take(1024).collect()),
        type_: Some("Warning".into()),
        action: Some("Check".into()),
        reporting_controller: Some(CONTROLLER.into()),
        reporting_instance: Some(instance.chars().take(128).collect()),
        regarding: Some(ObjectReference { api_version: Some("v1".into()), kind: Some("Node".into()), name: Some(node_name), uid: node.metadata.uid.clone(), ..Default::default() }),
        ..Default::default()
    };
    api.create(&PostParams::default(), &ev).await.ctx(|| format!("create Event {NAMESPACE}/{name}"))?;
    Ok(Posted::Created(name))
}

/// Posts events for one node, each at most once per `interval` (client-side rate limit) and at
/// most [`MAX_PER_ROUND`] per call. Keeps what it posted when.
#[derive(Debug)]
pub(crate) struct Recorder {
    interval: Duration,
    instance: String,
    last: HashMap<String, Instant>,
}

impl Recorder {
    /// A recorder posting as `instance`, each event at most once per `interval`.
    pub fn new(instance: impl Into<String>, interval: Duration) -> Self {
        Recorder { interval, instance: instance.into(), last: HashMap::new() }
    }

    /// Posts what `events` calls for on Node `node_name` (which must exist: its uid goes into the
    /// reference); the events due now and not rate-limited. Errors are per event.
    pub(crate) async fn record(&mut self, client: &kube::Client, node_name: &str, events: &[NodeEvent], now: OffsetDateTime) -> Result<Vec<Result<Posted, ApiError>>, ApiError> {
        let node = kube::Api::<Node>::all(client.clone()).get(node_name).await.ctx(|| format!("get Node {node_name}"))?;
        let mut out = Vec::new();
        for e in events {
            if out.len() >= MAX_PER_ROUND {
                break;
            }
            let key = event_name(node_name, e);
            if self.last.get(&key).is_some_and(|t| t.elapsed() < self.interval) {
                continue;
            }
            let r = post(client, &node, &self.instance, e, now).await;
            if r.is_ok() {
                self.last.insert(key, Instant::now());
            }
            out.push(r);
        }
        Ok(out)
    }
}

/// What one look at the node found: its name, the doctor findings and the certificates.
pub(crate) type NodeState = (String, Vec<FindingSample>, Vec<CertSample>);

/// The exporter's events loop: every `interval`, `look` at the node (None: it could not, and said
/// why) and record the events its state calls for, each at most once per `interval`. Runs until
/// the task is dropped; failures are logged and retried next round.
pub async fn run<F, Fut>(client: kube::Client, interval: Duration, warn_within: time::Duration, look: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<NodeState>>,
{
    let mut recorder: Option<Recorder> = None;
    loop {
        if let Some((node, findings, certs)) = look().await {
            let now = OffsetDateTime::now_utc();
            let planned = plan(&findings, &certs, now, warn_within);
            let rec = recorder.get_or_insert_with(|| Recorder::new(format!("kubecert-exporter@{node}"), interval));
            match rec.record(&client, &node, &planned, now).await {
                Ok(done) => {
                    for r in done {
                        match r {
                            Ok(p) => tracing::info!("event: {p:?}"),
                            Err(e) => tracing::warn!("event: {e}"),
                        }
                    }
                }
                Err(e) => tracing::warn!("events: {e}"),
            }
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(name: &str, path: &str, not_after: Option<OffsetDateTime>, unreadable: bool) -> CertSample {
        CertSample { name: name.into(), path: path.into(), not_after, missing: not_after.is_none() && !unreadable, unreadable }
    }

    #[test]
    fn plans_expiring_expired_unreadable_and_doctor_errors() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let d = time::Duration::days;
        let certs = [
            cert("kubelet.conf", "/var/lib/kubelet/pki/kubelet-client-current.pem", Some(now + d(10)), false),
            cert("apiserver", "/etc/kubernetes/pki/apiserver.crt", Some(now - d(1)), false),
            cert("ca", "/etc/kubernetes/pki/ca.crt", Some(now + d(3000)), false),
            cert("kubelet-serving", "/var/lib/kubelet/pki/kubelet.crt", None, true),
            cert("front-proxy", "/etc/kubernetes/pki/front-proxy-client.crt", None, false),
        ];
        let findings = [
            FindingSample { code: "client-cert-expired".into(), severity: "error".into() },
            FindingSample { code: "client-cert-expired".into(), severity: "error".into() },
            FindingSample { code: "clock-skew".into(), severity: "warning".into() },
        ];
        let p = plan(&findings, &certs, now, d(30));
        let got: Vec<(Reason, &str)> = p.iter().map(|e| (e.reason, e.subject.as_str())).collect();
        assert_eq!(
            got,
            [
                (Reason::CertificateExpiring, "/var/lib/kubelet/pki/kubelet-client-current.pem"),
                (Reason::CertificateExpired, "/etc/kubernetes/pki/apiserver.crt"),
                (Reason::CertificateUnreadable, "/var/lib/kubelet/pki/kubelet.crt"),
                (Reason::DoctorError, "client-cert-expired"),
            ]
        );
        assert!(p[0].note.contains("expires in 10 days"), "{}", p[0].note);
        // Outside the window: nothing.
        assert_eq!(plan(&[], &certs[..1], now, d(7)), []);
    }

    #[test]
    fn event_names_are_stable_distinct_and_valid() {
        let e = |reason, subject: &str| NodeEvent { reason, subject: subject.into(), note: String::new() };
        let a = event_name("w1", &e(Reason::CertificateExpiring, "/a"));
        assert_eq!(a, event_name("w1", &e(Reason::CertificateExpiring, "/a")));
        assert_ne!(a, event_name("w1", &e(Reason::CertificateExpiring, "/b")));
        assert_ne!(a, event_name("w1", &e(Reason::CertificateExpired, "/a")));
        assert!(a.starts_with("w1.kubecert-certificateexpiring-"), "{a}");
        let long = event_name(&"n".repeat(253), &e(Reason::DoctorError, "x"));
        assert!(long.len() <= 253 && long.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'), "{long}");
    }
}
