//! Seeing the NotReady coming (field report 000 announced itself for months): for each node, when
//! its kubelet's client and serving certificates expire (the kubelet's own TTL gauges), when it
//! will try to renew (client-go rotates at a random point between 70 % and 90 % of the lifetime:
//! `jitteryDuration` in util/certificate/certificate_manager.go), and what will stop the renewal
//! (no auto-approval, a renewal CSR left Pending, Denied or Failed, a signer that does not sign).
//! A node whose renewal is blocked is forecast to break at its expiry. Pure: the API reads are
//! done by the scan.

use std::collections::HashMap;

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use serde::Serialize;
use time::OffsetDateTime;

use super::csrs::{stuck, Stuck, STUCK_AFTER_SECONDS};
use super::kubelet_metrics::KubeletTtls;
use crate::approve::{CLIENT_SIGNER, SERVING_SIGNER};

/// Which of the kubelet's certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Which {
    /// The client certificate (the kubelet's identity towards the API server).
    Client,
    /// The serving certificate (port 10250: logs, exec, metrics).
    Serving,
}

/// One certificate's dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deadline {
    /// When it expires (now + the kubelet's TTL gauge).
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// The window in which the kubelet will try to renew it (70–90 % of the lifetime), when the
    /// issuing CSR is still in the cluster to give the certificate's not-before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_window: Option<(i64, i64)>,
    /// Now is past the end of that window: the kubelet should have renewed already.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub past_rotation_deadline: Option<bool>,
}

/// One node's deadlines and what blocks its renewals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeDeadlines {
    /// Node name.
    pub node: String,
    /// Client certificate, when the kubelet told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<Deadline>,
    /// Serving certificate, when the kubelet rotates one (serverTLSBootstrap) and told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<Deadline>,
    /// Why the kubelet's metrics could not be read (then the deadlines are unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// What will make the client certificate's renewal fail.
    pub client_blockers: Vec<String>,
    /// What will make the serving certificate's renewal fail.
    pub serving_blockers: Vec<String>,
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
    /// Why the renewal will not happen.
    pub reasons: Vec<String>,
    /// What prevents it.
    pub prevent: String,
}

/// Cluster-wide facts the forecast needs besides each node's own.
#[derive(Debug, Clone, Copy)]
pub struct ClusterFacts {
    /// Whether group system:nodes may create `certificatesigningrequests/selfnodeclient` (what
    /// the controller-manager checks before it auto-approves a renewal); `None`: not known.
    pub renewals_auto_approved: Option<bool>,
}

/// The name of the kubeadm binding that grants renewal auto-approval.
const ROTATION_BINDING: &str = crate::rbac::names::NODE_AUTOAPPROVE_ROTATION;

/// One certificate that a CSR in the cluster issued.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IssuedCert {
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

type StuckState = Option<(Stuck, Option<String>)>;

/// The cluster's CSRs, read once per scan: each issued certificate parsed once and indexed by its
/// exact subject CN and signer, and each node's own requests (requestor `system:node:NAME`) with
/// their state, oldest first. Judging a node is then a few lookups, not a pass over every CSR.
pub struct CsrIndex<'a> {
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
                issued.entry((cn.clone(), signer.clone())).or_default().push(IssuedCert { not_before: info.not_before, not_after: info.not_after });
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

fn deadline(index: &CsrIndex, node: &str, signer: &str, ttl: Option<f64>, now: OffsetDateTime) -> Option<Deadline> {
    let secs = ttl?;
    if !(-1e10..1e10).contains(&secs) {
        return None;
    }
    let expires = now.checked_add(time::Duration::seconds(secs as i64))?;
    let nb = issued_not_before(index, node, signer, expires);
    let window = nb.map(|nb| {
        let life = (expires - nb).whole_seconds();
        (nb.unix_timestamp() + life * 7 / 10, nb.unix_timestamp() + life * 9 / 10)
    });
    Some(Deadline { expires, rotation_window: window, past_rotation_deadline: window.map(|(_, until)| now.unix_timestamp() > until) })
}

/// Why this node's renewals of `signer` will fail, from its CSRs and the cluster's facts.
fn blockers(index: &CsrIndex, node: &str, signer: &str, facts: ClusterFacts, now: OffsetDateTime) -> Vec<String> {
    let mine = index.requested(node, signer);
    let mut out = Vec::new();
    let latest = mine.last();
    let someone_approves = mine.iter().any(|(_, s)| s.is_none());
    if signer == CLIENT_SIGNER && facts.renewals_auto_approved == Some(false) && !someone_approves {
        out.push(format!(
            "nothing auto-approves its renewals: group system:nodes may not create certificatesigningrequests/selfnodeclient (kubeadm's ClusterRoleBinding {ROTATION_BINDING} is missing)"
        ));
    }
    if signer == SERVING_SIGNER && !someone_approves && latest.is_some_and(|(_, s)| matches!(s, Some((Stuck::Pending, _)))) {
        out.push("the controller-manager never approves kubelet-serving CSRs and none of this node's has been approved: run an approver (`kubecert approve --watch`, deploy/approver.yaml)".into());
    }
    if let Some((c, Some((state, why)))) = latest {
        let name = c.metadata.name.clone().unwrap_or_default();
        let age = now.unix_timestamp() - created(c);
        let why = why.as_ref().map(|w| format!(" ({w})")).unwrap_or_default();
        match state {
            Stuck::Pending if age >= STUCK_AFTER_SECONDS || !out.is_empty() => out.push(format!("its renewal CSR {name} has been Pending for {age} s")),
            Stuck::Pending => {}
            Stuck::Denied => out.push(format!("its last renewal CSR {name} was Denied{why}")),
            Stuck::Failed => out.push(format!("its last renewal CSR {name} Failed{why}")),
            Stuck::ApprovedNotIssued => out.push(format!("its renewal CSR {name} is Approved but has no certificate: the controller-manager's signer is not signing")),
        }
    }
    out
}

fn prevent(node: &str, which: Which, reasons: &[String]) -> String {
    let has = |s: &str| reasons.iter().any(|r| r.contains(s));
    match which {
        Which::Client if has("selfnodeclient") => "`kubecert rbac ensure` (auto-approval of future renewals), then `kubecert approve` (the pending one now)".into(),
        Which::Client if has("not signing") => "check the controller-manager's csrsigning controller (--cluster-signing-cert-file/--cluster-signing-key-file)".into(),
        Which::Client if has("Denied") || has("Failed") => format!("find out who denied it; `kubecert approve` the kubelet's next CSR, or on {node}: `kubecert repair`"),
        Which::Client => "`kubecert approve` (approves valid renewal CSRs now)".into(),
        Which::Serving => "`kubecert approve`, and run the approver (deploy/approver.yaml) for every renewal after".into(),
    }
}

/// Deadlines, blockers and the forecast for one node.
pub fn judge(node: &str, ttls: &KubeletTtls, index: &CsrIndex, facts: ClusterFacts, now: OffsetDateTime) -> (NodeDeadlines, Vec<Forecast>) {
    let (client_ttl, server_ttl, unknown) = match ttls {
        KubeletTtls::Read { client_ttl_seconds, server_ttl_seconds } => (*client_ttl_seconds, *server_ttl_seconds, None),
        KubeletTtls::Unknown { reason } => (None, None, Some(reason.clone())),
    };
    let d = NodeDeadlines {
        node: node.to_string(),
        client: deadline(index, node, CLIENT_SIGNER, client_ttl, now),
        serving: deadline(index, node, SERVING_SIGNER, server_ttl, now),
        unknown,
        client_blockers: blockers(index, node, CLIENT_SIGNER, facts, now),
        serving_blockers: blockers(index, node, SERVING_SIGNER, facts, now),
    };
    let mut out = Vec::new();
    if let Some(c) = &d.client {
        let mut reasons = d.client_blockers.clone();
        if reasons.is_empty() && c.past_rotation_deadline == Some(true) && !index.requested(node, CLIENT_SIGNER).iter().any(|(_, s)| s.is_some()) {
            reasons.push("it is past its rotation deadline and has filed no renewal: rotation may be off (rotateCertificates: false)".into());
        }
        if !reasons.is_empty() {
            let prevent = if reasons[0].contains("rotation may be off") { format!("on {node}: `kubecert doctor`, then `kubecert repair`") } else { prevent(node, Which::Client, &reasons) };
            out.push(Forecast {
                node: node.into(),
                certificate: Which::Client,
                when: c.expires,
                consequence: "goes NotReady: its client certificate expires, every API request of the kubelet fails, and at its next restart it cannot start unless it can bootstrap again".into(),
                reasons,
                prevent,
            });
        }
    }
    if let Some(s) = d.serving.as_ref().filter(|_| !d.serving_blockers.is_empty()) {
        out.push(Forecast {
            node: node.into(),
            certificate: Which::Serving,
            when: s.expires,
            consequence: "kubectl logs/exec/port-forward and metrics scraping fail: its serving certificate expires".into(),
            reasons: d.serving_blockers.clone(),
            prevent: prevent(node, Which::Serving, &d.serving_blockers),
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
        judge(node, t, &CsrIndex::new(csrs), facts, now)
    }

    /// A CSR of `node` that was approved and issued a real certificate for `system:node:<node>`.
    fn issued_csr(node: &str, not_before: OffsetDateTime, not_after: OffsetDateTime, now: OffsetDateTime) -> CertificateSigningRequest {
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
        let mut c = csr(&format!("csr-{node}"), &format!("system:node:{node}"), CLIENT_SIGNER, 600, Some("Approved"), now);
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

    const BLOCKED: ClusterFacts = ClusterFacts { renewals_auto_approved: Some(false) };
    const FINE: ClusterFacts = ClusterFacts { renewals_auto_approved: Some(true) };

    fn ttls(client: f64) -> KubeletTtls {
        KubeletTtls::Read { client_ttl_seconds: Some(client), server_ttl_seconds: None }
    }

    #[test]
    fn missing_auto_approval_with_a_pending_renewal_is_forecast_at_expiry() {
        let now = OffsetDateTime::now_utc();
        let csrs = vec![csr("csr-r", "system:node:n7", CLIENT_SIGNER, 30, None, now)];
        let (d, f) = j("n7", &ttls(3600.0), &csrs, BLOCKED, now);
        assert_eq!(d.client.as_ref().unwrap().expires.unix_timestamp(), now.unix_timestamp() + 3600);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].reasons[0].contains(ROTATION_BINDING) && f[0].reasons[1].contains("csr-r"), "{f:?}");
        assert!(f[0].prevent.contains("rbac ensure"));
        // the same with auto-approval present and a young pending CSR: nothing to forecast
        assert!(j("n7", &ttls(3600.0), &csrs, FINE, now).1.is_empty());
        // auto-approval present but the CSR is stuck for long: forecast, approve it
        let old = vec![csr("csr-o", "system:node:n7", CLIENT_SIGNER, STUCK_AFTER_SECONDS + 1, None, now)];
        let f = j("n7", &ttls(3600.0), &old, FINE, now).1;
        assert!(f[0].reasons[0].contains("Pending for") && f[0].prevent.contains("kubecert approve"), "{f:?}");
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
            assert!(f.len() == 1 && f[0].reasons.iter().any(|r| r.contains(word)), "{cond}: {f:?}");
        }
        let (d, f) = j("n7", &KubeletTtls::Unknown { reason: "403".into() }, &[], BLOCKED, now);
        assert!(d.client.is_none() && d.unknown.is_some() && f.is_empty());
    }

    #[test]
    fn a_pending_serving_csr_nobody_approves_breaks_logs_at_expiry() {
        let now = OffsetDateTime::now_utc();
        let c = csr("csr-s", "system:node:n7", SERVING_SIGNER, 10, None, now);
        let t = KubeletTtls::Read { client_ttl_seconds: None, server_ttl_seconds: Some(100.0) };
        let f = j("n7", &t, &[c], FINE, now).1;
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].certificate, Which::Serving);
        assert!(f[0].consequence.contains("logs/exec"));
    }
}
