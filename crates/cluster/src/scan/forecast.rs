//! Seeing the NotReady coming (field report 000 announced itself for months): for each node, when
//! its kubelet's client and serving certificates expire (the kubelet's own TTL gauges; else the
//! exporter's series; else the newest certificate a CSR issued to it), when it will try to renew
//! (client-go rotates at a random point between 70 % and 90 % of the lifetime: `jitteryDuration`
//! in util/certificate/certificate_manager.go), and what will stop the renewal: no auto-approval,
//! a renewal CSR left Pending, Denied or Failed, a signer that does not sign, rotation off on the
//! node; and, for a node that will lose its client certificate, whether the bootstrap token it
//! would come back with still authenticates. A node whose renewal is blocked is forecast to break
//! at its expiry. Each reason is typed data with its fix. Pure: the API reads are done by the scan.

use std::collections::HashMap;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use serde::Serialize;
use time::OffsetDateTime;

use super::csrs::{stuck, Stuck};
use crate::csr::is_stuck;
use super::exporter_series::{ExporterReadError, ExporterView};
use super::kubelet_metrics::KubeletTtls;
use crate::approve::{CLIENT_SIGNER, SERVING_SIGNER};
use crate::token::TokenInfo;

/// Which of the kubelet's certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Which {
    /// The client certificate (the kubelet's identity towards the API server).
    Client,
    /// The serving certificate (port 10250: logs, exec, metrics).
    Serving,
}

impl Which {
    /// `client` or `serving` (the metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Which::Client => "client",
            Which::Serving => "serving",
        }
    }
}

/// Where an expiry date came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The kubelet's own TTL gauge, through the node proxy.
    Kubelet,
    /// kubecert's exporter on the node, through the pod proxy.
    Exporter,
    /// The newest certificate a CSR in the cluster issued to the node.
    IssuingCsr,
}

/// One certificate's dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deadline {
    /// When it expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// Where that date came from.
    pub source: Source,
    /// The window in which the kubelet will try to renew it (70–90 % of the lifetime), when the
    /// issuing CSR is still in the cluster to give the certificate's not-before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_window: Option<(i64, i64)>,
    /// Now is past the end of that window: the kubelet should have renewed already.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub past_rotation_deadline: Option<bool>,
}

/// How rotation was seen to be off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RotationEvidence {
    /// The kubelet answered /metrics without `kubelet_certificate_manager_client_ttl_seconds`,
    /// which it registers exactly when rotateCertificates is on (cmd/kubelet/app/server.go).
    KubeletMetrics,
    /// The exporter's doctor reports `rotation-disabled` on the node.
    ExporterFinding,
}

/// Why a renewal will fail (or why the node cannot come back afterwards).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "kebab-case")]
pub enum Reason {
    /// Group system:nodes may not create `certificatesigningrequests/selfnodeclient`.
    NoAutoApproval,
    /// The node's latest renewal CSR is Pending.
    RenewalPending {
        /// CSR name.
        csr: String,
        /// Its age.
        age_seconds: i64,
    },
    /// The node's latest renewal CSR was Denied.
    RenewalDenied {
        /// CSR name.
        csr: String,
        /// The condition's reason and message.
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// The node's latest renewal CSR Failed.
    RenewalFailed {
        /// CSR name.
        csr: String,
        /// The condition's reason and message.
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// Approved, but no certificate: the signer is not signing.
    SignerNotSigning {
        /// CSR name.
        csr: String,
    },
    /// Nothing approves kubelet-serving CSRs (the controller-manager never does).
    ServingNeverApproved,
    /// The kubelet does not rotate its client certificate.
    RotationOff {
        /// How that was seen.
        evidence: RotationEvidence,
    },
    /// Past its rotation deadline with no renewal filed.
    NoRenewalPastDeadline,
    /// The bootstrap token the node joined with (its bootstrap CSR's requestor) no longer authenticates.
    BootstrapTokenGone {
        /// The token's id (never its secret).
        token_id: String,
        /// When it expired; absent: the token was deleted.
        #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
        expired: Option<OffsetDateTime>,
    },
    /// No bootstrap token in the cluster authenticates.
    NoBootstrapToken,
}

/// The name of the kubeadm binding that grants renewal auto-approval.
const ROTATION_BINDING: &str = crate::rbac::names::NODE_AUTOAPPROVE_ROTATION;

impl Reason {
    /// The reason's code (the metric label).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::NoAutoApproval => "no-auto-approval",
            Reason::RenewalPending { .. } => "renewal-pending",
            Reason::RenewalDenied { .. } => "renewal-denied",
            Reason::RenewalFailed { .. } => "renewal-failed",
            Reason::SignerNotSigning { .. } => "signer-not-signing",
            Reason::ServingNeverApproved => "serving-never-approved",
            Reason::RotationOff { .. } => "rotation-off",
            Reason::NoRenewalPastDeadline => "no-renewal-past-deadline",
            Reason::BootstrapTokenGone { .. } => "bootstrap-token-gone",
            Reason::NoBootstrapToken => "no-bootstrap-token",
        }
    }

    /// What it means, in words.
    pub fn message(&self) -> String {
        let detail = |d: &Option<String>| d.as_ref().map(|w| format!(" ({w})")).unwrap_or_default();
        match self {
            Reason::NoAutoApproval => format!(
                "nothing auto-approves its renewals: group system:nodes may not create certificatesigningrequests/selfnodeclient (kubeadm's ClusterRoleBinding {ROTATION_BINDING} is missing)"
            ),
            Reason::RenewalPending { csr, age_seconds } => format!("its renewal CSR {csr} has been Pending for {age_seconds} s"),
            Reason::RenewalDenied { csr, detail: d } => format!("its last renewal CSR {csr} was Denied{}", detail(d)),
            Reason::RenewalFailed { csr, detail: d } => format!("its last renewal CSR {csr} Failed{}", detail(d)),
            Reason::SignerNotSigning { csr } => format!("its renewal CSR {csr} is Approved but has no certificate: the controller-manager's signer is not signing"),
            Reason::ServingNeverApproved => "the controller-manager never approves kubelet-serving CSRs and none of this node's has been approved".into(),
            Reason::RotationOff { evidence: RotationEvidence::KubeletMetrics } => {
                "its kubelet does not rotate its client certificate (rotateCertificates: false: its /metrics has no kubelet_certificate_manager_client_ttl_seconds)".into()
            }
            Reason::RotationOff { evidence: RotationEvidence::ExporterFinding } => "its kubelet does not rotate its client certificate (the exporter's doctor reports rotation-disabled)".into(),
            Reason::NoRenewalPastDeadline => "it is past its rotation deadline and has filed no renewal: rotation may be off (rotateCertificates: false)".into(),
            Reason::BootstrapTokenGone { token_id, expired: Some(at) } => {
                format!("it cannot come back by bootstrapping: bootstrap token {token_id}, which it joined with, expired at {}", crate::token::rfc3339(*at))
            }
            Reason::BootstrapTokenGone { token_id, expired: None } => format!("it cannot come back by bootstrapping: bootstrap token {token_id}, which it joined with, no longer exists"),
            Reason::NoBootstrapToken => "it cannot come back by bootstrapping: no bootstrap token in the cluster authenticates (all expired or none)".into(),
        }
    }

    /// The command that prevents it, for `node`'s `which` certificate.
    pub fn fix(&self, node: &str, which: Which) -> String {
        match (self, which) {
            (Reason::NoAutoApproval, _) => "`kubecert rbac ensure` (auto-approval of future renewals), then `kubecert approve` (the pending one now)".into(),
            (Reason::SignerNotSigning { .. }, _) => "check the controller-manager's csrsigning controller (--cluster-signing-cert-file/--cluster-signing-key-file)".into(),
            (Reason::RenewalDenied { .. } | Reason::RenewalFailed { .. }, Which::Client) => {
                format!("find out who denied it; `kubecert approve` the kubelet's next CSR, or on {node}: `kubecert repair`")
            }
            (Reason::RenewalPending { .. }, Which::Client) => "`kubecert approve` (approves valid renewal CSRs now)".into(),
            (_, Which::Serving) => "`kubecert approve`, and run the approver (`kubecert approve --watch`, deploy/approver.yaml) for every renewal after".into(),
            (Reason::RotationOff { .. }, _) => format!(
                "on {node}: set rotateCertificates: true in the kubelet's configuration and restart the kubelet (`kubecert explain rotation-disabled`); it then renews at 70–90 % of the lifetime"
            ),
            (Reason::BootstrapTokenGone { .. } | Reason::NoBootstrapToken, _) => format!("on {node}: `kubecert bootstrap-config --node {node} --install` (a fresh token and bootstrap kubeconfig)"),
            (Reason::NoRenewalPastDeadline | Reason::ServingNeverApproved, _) => format!("on {node}: `kubecert doctor`, then `kubecert repair`"),
        }
    }
}

/// A reason with its words and fix, as the scan shows them and `-o json` carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explained {
    /// The reason (`code` and its data).
    #[serde(flatten)]
    pub reason: Reason,
    /// In words.
    pub message: String,
    /// The command that prevents it.
    pub fix: String,
}

fn explain(reasons: Vec<Reason>, node: &str, which: Which) -> Vec<Explained> {
    reasons.into_iter().map(|r| Explained { message: r.message(), fix: r.fix(node, which), reason: r }).collect()
}

/// One node's deadlines and what blocks its renewals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeDeadlines {
    /// Node name.
    pub node: String,
    /// Client certificate, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<Deadline>,
    /// Serving certificate, when the kubelet rotates one (serverTLSBootstrap) and it is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<Deadline>,
    /// Why the kubelet's metrics could not be read (then the dates come from the exporter, if any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// Why the exporter's series could not be read for this node (when an exporter runs there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exporter_error: Option<String>,
    /// What will make the client certificate's renewal fail.
    pub client_blockers: Vec<Explained>,
    /// What will make the serving certificate's renewal fail.
    pub serving_blockers: Vec<Explained>,
}

/// A node that will break, when, why, and what prevents it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forecast {
    /// Node name.
    pub node: String,
    /// Which certificate.
    pub certificate: Which,
    /// When it breaks (the certificate's expiry).
    #[serde(with = "time::serde::rfc3339")]
    pub when: OffsetDateTime,
    /// What breaks.
    pub consequence: String,
    /// Why the renewal will not happen, the deciding one first.
    pub reasons: Vec<Explained>,
    /// What prevents it (the first reason's fix).
    pub prevent: String,
}

/// Cluster-wide facts the forecast needs besides each node's own.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClusterFacts<'a> {
    /// Whether group system:nodes may create `certificatesigningrequests/selfnodeclient` (what
    /// the controller-manager checks before it auto-approves a renewal); `None`: not known.
    pub renewals_auto_approved: Option<bool>,
    /// The bootstrap tokens; `None`: not readable.
    pub tokens: Option<&'a [TokenInfo]>,
}

/// What is known of one node besides the CSRs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeInputs<'a> {
    /// Its kubelet's gauges.
    pub ttls: &'a KubeletTtls,
    /// Its exporter's series, when an exporter runs on it.
    pub exporter: Option<&'a Result<ExporterView, ExporterReadError>>,
}

/// One certificate that a CSR in the cluster issued.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IssuedCert {
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    /// spec.username of the CSR (`system:bootstrap:ID` for a bootstrap).
    requestor: String,
}

type StuckState = Option<(Stuck, Option<String>)>;
/// The cluster's CSRs, read once per scan: each issued certificate parsed once and indexed by its
/// exact subject CN and signer, and each node's own requests (requestor `system:node:NAME`) with
/// their state, oldest first. Judging a node is then a few lookups, not a pass over every CSR.
pub(crate) struct CsrIndex<'a> {
    issued: HashMap<(String, String), Vec<IssuedCert>>,
    requested: HashMap<(String, String), Vec<(&'a CertificateSigningRequest, StuckState)>>,
}

impl<'a> CsrIndex<'a> {
    /// Indexes `csrs`.
    pub fn new(csrs: &'a [CertificateSigningRequest]) -> Self {
        let mut issued: HashMap<(String, String), Vec<IssuedCert>> = HashMap::new();
        let mut requested: HashMap<(String, String), Vec<(&'a CertificateSigningRequest, StuckState)>> = HashMap::new();
        for c in csrs {
            let signer = &c.spec.signer_name;
            let state = stuck(c);
            if let Some(node) = c.spec.username.as_deref().and_then(|u| u.strip_prefix(kubecert_pki::NODE_USER_PREFIX)) {
                requested.entry((node.to_string(), signer.clone())).or_default().push((c, state.clone()));
            }
            if state.is_some() {
                continue;
            }
            let Some(pem) = c.status.as_ref().and_then(|s| s.certificate.as_ref()) else { continue };
            let Some(cert) = kubecert_pki::load_certificates(&pem.0).ok().and_then(|v| v.into_iter().next()) else { continue };
            let info = cert.info();
            // A certificate names its node by exactly one CN; anything else is not a kubelet's.
            if let [cn] = info.common_names.as_slice() {
                issued.entry((cn.clone(), signer.clone())).or_default().push(IssuedCert {
                    not_before: info.not_before,
                    not_after: info.not_after,
                    requestor: c.spec.username.clone().unwrap_or_default(),
                });
            }
        }
        for v in requested.values_mut() {
            v.sort_by_key(|(c, _)| created(c));
        }
        CsrIndex { issued, requested }
    }

    fn issued(&self, node: &str, signer: &str) -> &[IssuedCert] {
        self.issued.get(&(kubecert_pki::node_common_name(node), signer.to_string())).map(Vec::as_slice).unwrap_or_default()
    }

    fn requested(&self, node: &str, signer: &str) -> &[(&'a CertificateSigningRequest, StuckState)] {
        self.requested.get(&(node.to_string(), signer.to_string())).map(Vec::as_slice).unwrap_or_default()
    }
}

fn created(csr: &CertificateSigningRequest) -> i64 {
    csr.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()).unwrap_or(0)
}

/// The not-before of the issued certificate (from a CSR of this node and signer) that expires at `expires`.
fn issued_not_before(index: &CsrIndex, node: &str, signer: &str, expires: OffsetDateTime) -> Option<OffsetDateTime> {
    index.issued(node, signer).iter().filter(|i| (i.not_after - expires).whole_seconds().abs() <= 120).map(|i| i.not_before).max()
}

fn window(index: &CsrIndex, node: &str, signer: &str, expires: OffsetDateTime, source: Source, now: OffsetDateTime) -> Deadline {
    let nb = issued_not_before(index, node, signer, expires);
    let window = nb.map(|nb| {
        let life = (expires - nb).whole_seconds();
        (nb.unix_timestamp() + life * 7 / 10, nb.unix_timestamp() + life * 9 / 10)
    });
    Deadline { expires, source, rotation_window: window, past_rotation_deadline: window.map(|(_, until)| now.unix_timestamp() > until) }
}

/// The expiry from the first source that knows it: the kubelet's gauge, the exporter, the newest issued certificate.
/// The issued certificate is only trusted for a kubelet that answered without the gauge (rotation
/// off: it keeps the certificate it was issued); a kubelet that could not be asked may have rotated since.
fn deadline(index: &CsrIndex, node: &str, signer: &str, ttl: Option<f64>, exporter: Option<OffsetDateTime>, kubelet_answered: bool, now: OffsetDateTime) -> Option<Deadline> {
    let from_kubelet = ttl.filter(|s| (-1e10..1e10).contains(s)).and_then(|s| now.checked_add(time::Duration::seconds(s as i64)));
    let (expires, source) = match (from_kubelet, exporter) {
        (Some(t), _) => (t, Source::Kubelet),
        (None, Some(t)) => (t, Source::Exporter),
        (None, None) if kubelet_answered => (index.issued(node, signer).iter().map(|i| i.not_after).max()?, Source::IssuingCsr),
        (None, None) => return None,
    };
    Some(window(index, node, signer, expires, source, now))
}

/// Why this node's renewals of `signer` will fail, from its CSRs and the cluster's facts.
fn blockers(index: &CsrIndex, node: &str, signer: &str, facts: ClusterFacts, now: OffsetDateTime) -> Vec<Reason> {
    let mine = index.requested(node, signer);
    let mut out = Vec::new();
    let latest = mine.last();
    let someone_approves = mine.iter().any(|(_, s)| s.is_none());
    if signer == CLIENT_SIGNER && facts.renewals_auto_approved == Some(false) && !someone_approves {
        out.push(Reason::NoAutoApproval);
    }
    if signer == SERVING_SIGNER && !someone_approves && latest.is_some_and(|(_, s)| matches!(s, Some((Stuck::Pending, _)))) {
        out.push(Reason::ServingNeverApproved);
    }
    if let Some((c, Some((state, detail)))) = latest {
        let csr = c.metadata.name.clone().unwrap_or_default();
        let age_seconds = now.unix_timestamp() - created(c);
        let detail = detail.clone();
        match state {
            Stuck::Pending if is_stuck(age_seconds) || !out.is_empty() => out.push(Reason::RenewalPending { csr, age_seconds }),
            Stuck::Pending => {}
            Stuck::Denied => out.push(Reason::RenewalDenied { csr, detail }),
            Stuck::Failed => out.push(Reason::RenewalFailed { csr, detail }),
            Stuck::ApprovedNotIssued => out.push(Reason::SignerNotSigning { csr }),
        }
    }
    out
}

/// Whether the node, once its client certificate is gone, can bootstrap again: the token it
/// joined with (when its bootstrap CSR is still in the cluster) or, not knowing it, any token.
fn bootstrap_blocker(index: &CsrIndex, node: &str, facts: ClusterFacts, now: OffsetDateTime) -> Option<Reason> {
    let tokens = facts.tokens?;
    let works = |t: &TokenInfo| !t.is_expired(now) && !t.being_deleted && t.usages.iter().any(|u| u == "authentication");
    let joined_with = index.issued(node, CLIENT_SIGNER).iter().filter_map(|i| Some((i.not_after, i.requestor.strip_prefix("system:bootstrap:")?))).max().map(|(_, id)| id);
    match joined_with {
        Some(id) => match tokens.iter().find(|t| t.id == id) {
            None => Some(Reason::BootstrapTokenGone { token_id: id.to_string(), expired: None }),
            Some(t) if !works(t) => Some(Reason::BootstrapTokenGone { token_id: id.to_string(), expired: t.expires.or(Some(now)) }),
            Some(_) => None,
        },
        None if !tokens.iter().any(works) => Some(Reason::NoBootstrapToken),
        None => None,
    }
}

/// Deadlines, blockers and the forecast for one node.
pub(crate) fn judge(node: &str, input: NodeInputs, index: &CsrIndex, facts: ClusterFacts, now: OffsetDateTime) -> (NodeDeadlines, Vec<Forecast>) {
    let (client_ttl, server_ttl, rotating, unknown) = match input.ttls {
        KubeletTtls::Read { client_ttl_seconds, server_ttl_seconds, rotating_client } => (*client_ttl_seconds, *server_ttl_seconds, Some(*rotating_client), None),
        KubeletTtls::Unknown { reason } => (None, None, None, Some(reason.clone())),
    };
    let (exporter, exporter_error) = match input.exporter {
        Some(Ok(v)) => (Some(v), None),
        Some(Err(e)) => (None, Some(e.to_string())),
        None => (None, None),
    };
    let rotation_off = match (rotating, exporter) {
        (Some(false), _) => Some(RotationEvidence::KubeletMetrics),
        (_, Some(e)) if e.rotation_disabled => Some(RotationEvidence::ExporterFinding),
        _ => None,
    };
    let answered = rotating.is_some();
    let client = deadline(index, node, CLIENT_SIGNER, client_ttl, exporter.and_then(|e| e.client_not_after), answered, now);
    let serving = deadline(index, node, SERVING_SIGNER, server_ttl, exporter.and_then(|e| e.serving_not_after), answered, now);
    let mut client_reasons = blockers(index, node, CLIENT_SIGNER, facts, now);
    if let Some(evidence) = rotation_off {
        // Nothing renews it at all: that decides, whatever its CSRs say.
        client_reasons.insert(0, Reason::RotationOff { evidence });
    }
    if client_reasons.is_empty() && client.as_ref().is_some_and(|c| c.past_rotation_deadline == Some(true)) && !index.requested(node, CLIENT_SIGNER).iter().any(|(_, s)| s.is_some()) {
        client_reasons.push(Reason::NoRenewalPastDeadline);
    }
    if !client_reasons.is_empty() {
        client_reasons.extend(bootstrap_blocker(index, node, facts, now));
    }
    let d = NodeDeadlines {
        node: node.to_string(),
        client,
        serving,
        unknown,
        exporter_error,
        client_blockers: explain(client_reasons, node, Which::Client),
        serving_blockers: explain(blockers(index, node, SERVING_SIGNER, facts, now), node, Which::Serving),
    };
    let mut out = Vec::new();
    if let Some(c) = d.client.as_ref().filter(|_| !d.client_blockers.is_empty()) {
        out.push(Forecast {
            node: node.into(),
            certificate: Which::Client,
            when: c.expires,
            consequence: "goes NotReady: its client certificate expires, every API request of the kubelet fails, and at its next restart it cannot start unless it can bootstrap again".into(),
            reasons: d.client_blockers.clone(),
            prevent: d.client_blockers[0].fix.clone(),
        });
    }
    if let Some(s) = d.serving.as_ref().filter(|_| !d.serving_blockers.is_empty()) {
        out.push(Forecast {
            node: node.into(),
            certificate: Which::Serving,
            when: s.expires,
            consequence: "kubectl logs/exec/port-forward and metrics scraping fail: its serving certificate expires".into(),
            reasons: d.serving_blockers.clone(),
            prevent: d.serving_blockers[0].fix.clone(),
        });
    }
    (d, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::certificates::v1::{CertificateSigningRequestCondition, CertificateSigningRequestSpec, CertificateSigningRequestStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn csr(name: &str, user: &str, signer: &str, age: i64, cond: Option<&str>, now: OffsetDateTime) -> CertificateSigningRequest {
        let ts = jiff_ts(now.unix_timestamp() - age);
        CertificateSigningRequest {
            metadata: ObjectMeta { name: Some(name.into()), creation_timestamp: Some(Time(ts)), ..Default::default() },
            spec: CertificateSigningRequestSpec { signer_name: signer.into(), username: Some(user.into()), ..Default::default() },
            status: cond.map(|t| CertificateSigningRequestStatus {
                conditions: Some(vec![CertificateSigningRequestCondition { type_: t.into(), status: "True".into(), ..Default::default() }]),
                ..Default::default()
            }),
        }
    }

    fn jiff_ts(secs: i64) -> k8s_openapi::jiff::Timestamp {
        k8s_openapi::jiff::Timestamp::from_second(secs).unwrap()
    }

    fn j(node: &str, t: &KubeletTtls, csrs: &[CertificateSigningRequest], facts: ClusterFacts, now: OffsetDateTime) -> (NodeDeadlines, Vec<Forecast>) {
        judge(node, NodeInputs { ttls: t, exporter: None }, &CsrIndex::new(csrs), facts, now)
    }

    /// A CSR of `node` that was approved and issued a real certificate for `system:node:<node>`.
    fn issued_csr(node: &str, not_before: OffsetDateTime, not_after: OffsetDateTime, now: OffsetDateTime) -> CertificateSigningRequest {
        issued_to(node, &format!("system:node:{node}"), not_before, not_after, now)
    }

    fn issued_to(node: &str, requestor: &str, not_before: OffsetDateTime, not_after: OffsetDateTime, now: OffsetDateTime) -> CertificateSigningRequest {
        let key = kubecert_pki::PrivateKey::generate(kubecert_pki::KeyType::EcdsaP256).unwrap();
        let ca_cert = kubecert_pki::self_signed_ca(&key, "kubernetes", now - time::Duration::days(1), now + time::Duration::days(365)).unwrap();
        let ca = kubecert_pki::CertificateAuthority::new(ca_cert, key, now).unwrap();
        let leaf_key = kubecert_pki::PrivateKey::generate(kubecert_pki::KeyType::EcdsaP256).unwrap();
        let profile = kubecert_pki::LeafProfile {
            common_name: kubecert_pki::node_common_name(node),
            organization: Some("system:nodes".into()),
            client_auth: true,
            server_auth: false,
            dns_names: vec![],
            ip_addresses: vec![],
            valid_for: time::Duration::hours(1),
        };
        let cert = kubecert_pki::sign_with_dates(&ca, &leaf_key, &profile, not_before, not_after).unwrap();
        let mut c = csr(&format!("csr-{node}"), requestor, CLIENT_SIGNER, 600, Some("Approved"), now);
        c.status.as_mut().unwrap().certificate = Some(k8s_openapi::ByteString(cert.to_pem().into_bytes()));
        c
    }

    #[test]
    fn the_rotation_window_comes_from_this_nodes_own_certificate_only() {
        // n10's certificate must not give n1 a rotation window ("system:node:n1" is a prefix of
        // "system:node:n10"); it failed so before the index by exact CN.
        let now = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
        let (nb, na) = (now - time::Duration::seconds(1000), now + time::Duration::seconds(3000));
        let csrs = vec![issued_csr("n10", nb, na, now)];
        let (d1, _) = j("n1", &ttls(3000.0), &csrs, FINE, now);
        assert_eq!(d1.client.as_ref().unwrap().rotation_window, None, "n1 got n10's window: {d1:?}");
        let (d10, _) = j("n10", &ttls(3000.0), &csrs, FINE, now);
        let (from, until) = (nb.unix_timestamp() + 4000 * 7 / 10, nb.unix_timestamp() + 4000 * 9 / 10);
        assert_eq!(d10.client.unwrap().rotation_window, Some((from, until)));
    }

    const BLOCKED: ClusterFacts = ClusterFacts { renewals_auto_approved: Some(false), tokens: None };
    const FINE: ClusterFacts = ClusterFacts { renewals_auto_approved: Some(true), tokens: None };

    fn ttls(client: f64) -> KubeletTtls {
        KubeletTtls::Read { client_ttl_seconds: Some(client), server_ttl_seconds: None, rotating_client: true }
    }

    #[test]
    fn missing_auto_approval_with_a_pending_renewal_is_forecast_at_expiry() {
        let now = OffsetDateTime::now_utc();
        let csrs = vec![csr("csr-r", "system:node:n7", CLIENT_SIGNER, 30, None, now)];
        let (d, f) = j("n7", &ttls(3600.0), &csrs, BLOCKED, now);
        assert_eq!(d.client.as_ref().unwrap().expires.unix_timestamp(), now.unix_timestamp() + 3600);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].reasons[0].message.contains(ROTATION_BINDING) && f[0].reasons[1].message.contains("csr-r"), "{f:?}");
        assert!(f[0].prevent.contains("rbac ensure"));
        // the same with auto-approval present and a young pending CSR: nothing to forecast
        assert!(j("n7", &ttls(3600.0), &csrs, FINE, now).1.is_empty());
        // auto-approval present but the CSR is stuck for long: forecast, approve it
        let old = vec![csr("csr-o", "system:node:n7", CLIENT_SIGNER, crate::csr::STUCK_AFTER_SECONDS + 1, None, now)];
        let f = j("n7", &ttls(3600.0), &old, FINE, now).1;
        assert!(f[0].reasons[0].message.contains("Pending for") && f[0].prevent.contains("kubecert approve"), "{f:?}");
    }

    #[test]
    fn renewals_approved_by_someone_else_are_not_blocked_and_other_nodes_do_not_count() {
        let now = OffsetDateTime::now_utc();
        let mut issued = csr("csr-i", "system:node:n7", CLIENT_SIGNER, 600, Some("Approved"), now);
        issued.status.as_mut().unwrap().certificate = Some(k8s_openapi::ByteString(b"x".to_vec()));
        assert!(j("n7", &ttls(60.0), &[issued], BLOCKED, now).1.is_empty());
        let other = csr("csr-x", "system:node:n8", CLIENT_SIGNER, 9999, Some("Denied"), now);
        assert!(j("n7", &ttls(60.0), &[other], FINE, now).1.is_empty());
    }

    #[test]
    fn denied_failed_unsigned_and_unknown() {
        let now = OffsetDateTime::now_utc();
        for (cond, word) in [("Denied", "Denied"), ("Failed", "Failed"), ("Approved", "not signing")] {
            let c = csr("csr-d", "system:node:n7", CLIENT_SIGNER, 10, Some(cond), now);
            let f = j("n7", &ttls(60.0), &[c], FINE, now).1;
            assert!(f.len() == 1 && f[0].reasons.iter().any(|r| r.message.contains(word)), "{cond}: {f:?}");
        }
        let (d, f) = j("n7", &KubeletTtls::Unknown { reason: "403".into() }, &[], BLOCKED, now);
        assert!(d.client.is_none() && d.unknown.is_some() && f.is_empty());
    }

    #[test]
    fn a_pending_serving_csr_nobody_approves_breaks_logs_at_expiry() {
        let now = OffsetDateTime::now_utc();
        let c = csr("csr-s", "system:node:n7", SERVING_SIGNER, 10, None, now);
        let t = KubeletTtls::Read { client_ttl_seconds: None, server_ttl_seconds: Some(100.0), rotating_client: true };
        let f = j("n7", &t, &[c], FINE, now).1;
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].certificate, Which::Serving);
        assert!(f[0].consequence.contains("logs/exec"));
    }

    fn token(id: &str, expires: Option<OffsetDateTime>) -> TokenInfo {
        TokenInfo { id: id.into(), expires, invalid_expiration: None, usages: vec!["authentication".into(), "signing".into()], groups: vec![], description: None, being_deleted: false }
    }

    fn codes(f: &Forecast) -> Vec<&'static str> {
        f.reasons.iter().map(|r| r.reason.code()).collect()
    }

    #[test]
    fn rotation_off_is_forecast_from_the_certificates_expiry() {
        let now = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
        let (nb, na) = (now - time::Duration::hours(1), now + time::Duration::hours(9));
        // the kubelet answered /metrics without the client gauge: rotation off; the date comes
        // from the certificate its bootstrap CSR issued
        let csrs = vec![issued_to("r1", "system:bootstrap:abcdef", nb, na, now)];
        let off = KubeletTtls::Read { client_ttl_seconds: None, server_ttl_seconds: None, rotating_client: false };
        let (d, f) = judge("r1", NodeInputs { ttls: &off, exporter: None }, &CsrIndex::new(&csrs), FINE, now);
        assert_eq!(d.client.as_ref().unwrap().source, Source::IssuingCsr);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].when, codes(&f[0])), (na, vec!["rotation-off"]));
        assert!(f[0].prevent.contains("rotateCertificates: true") && f[0].prevent.contains("r1"), "{}", f[0].prevent);
        // the same node with the exporter's finding and date, the kubelet unreachable
        let view = Ok(ExporterView { pod: "p".into(), rotation_disabled: true, client_not_after: Some(na + time::Duration::hours(1)), serving_not_after: None });
        let gone = KubeletTtls::Unknown { reason: "403".into() };
        let (d, f) = judge("r1", NodeInputs { ttls: &gone, exporter: Some(&view) }, &CsrIndex::new(&csrs), FINE, now);
        assert_eq!(d.client.as_ref().unwrap().source, Source::Exporter);
        assert_eq!(f[0].when, na + time::Duration::hours(1));
        assert!(matches!(f[0].reasons[0].reason, Reason::RotationOff { evidence: RotationEvidence::ExporterFinding }), "{f:?}");
        // the kubelet not asked and no exporter: unknown, not the issued certificate's date
        let (d, f) = judge("r1", NodeInputs { ttls: &gone, exporter: None }, &CsrIndex::new(&csrs), FINE, now);
        assert!(d.client.is_none() && d.unknown.as_deref() == Some("403") && f.is_empty(), "{d:?}");
        // rotation on (gauge there): nothing to forecast
        let on = KubeletTtls::Read { client_ttl_seconds: Some(32_400.0), server_ttl_seconds: None, rotating_client: true };
        assert!(judge("r1", NodeInputs { ttls: &on, exporter: None }, &CsrIndex::new(&csrs), FINE, now).1.is_empty());
    }

    #[test]
    fn a_node_that_cannot_bootstrap_back_says_which_token() {
        let now = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
        let (nb, na) = (now - time::Duration::hours(1), now + time::Duration::hours(9));
        let csrs = vec![issued_to("b1", "system:bootstrap:abcdef", nb, na, now)];
        let off = KubeletTtls::Read { client_ttl_seconds: None, server_ttl_seconds: None, rotating_client: false };
        let run = |tokens: &[TokenInfo]| judge("b1", NodeInputs { ttls: &off, exporter: None }, &CsrIndex::new(&csrs), ClusterFacts { renewals_auto_approved: Some(true), tokens: Some(tokens) }, now).1;
        let f = run(&[token("zzzzzz", None)]);
        assert_eq!(codes(&f[0]), vec!["rotation-off", "bootstrap-token-gone"]);
        assert_eq!(f[0].reasons[1].reason, Reason::BootstrapTokenGone { token_id: "abcdef".into(), expired: None });
        assert!(f[0].reasons[1].fix.contains("bootstrap-config --node b1"));
        let f = run(&[token("abcdef", Some(nb))]);
        assert_eq!(f[0].reasons[1].reason, Reason::BootstrapTokenGone { token_id: "abcdef".into(), expired: Some(nb) });
        assert_eq!(codes(&run(&[token("abcdef", Some(na))])[0]), vec!["rotation-off"], "its token still works");
        // not knowing its token: only "no token at all" is a reason
        let unknown_join = vec![issued_to("b1", "system:node:b1", nb, na, now)];
        let run2 = |tokens: &[TokenInfo]| judge("b1", NodeInputs { ttls: &off, exporter: None }, &CsrIndex::new(&unknown_join), ClusterFacts { renewals_auto_approved: Some(true), tokens: Some(tokens) }, now).1;
        assert_eq!(codes(&run2(&[token("abcdef", Some(nb))])[0]), vec!["rotation-off", "no-bootstrap-token"]);
        assert_eq!(codes(&run2(&[token("abcdef", None)])[0]), vec!["rotation-off"]);
        // a node whose renewals work is not forecast, whatever the tokens
        let on = KubeletTtls::Read { client_ttl_seconds: Some(32_400.0), server_ttl_seconds: None, rotating_client: true };
        assert!(judge("b1", NodeInputs { ttls: &on, exporter: None }, &CsrIndex::new(&csrs), ClusterFacts { renewals_auto_approved: Some(true), tokens: Some(&[]) }, now).1.is_empty());
    }
}
