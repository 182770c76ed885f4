//! `kubecert serving status`: per node, what its kubelet serves on port 10250 (cluster-signed,
//! self-signed or foreign; expiry), whether the certificate's SANs cover every address the Node
//! publishes (metrics-server and the API server dial those), and the pending `kubelet-serving` CSR
//! with what the approval policy says of it and why. The probes are scan's; the verdicts are the
//! approver's own [`approve::decide`](crate::approve::decide). Reads only.

use serde::Serialize;

use crate::approve::{self, Decision, Kind, Policy, Verdict};
use crate::client::AdminClient;
use crate::kubelet_tls::ProbeError;
use crate::scan::address::NodeAddress;
use crate::scan::nodes::Readiness;
use crate::scan::serving::{ServedCert, Trust};
use crate::scan::{self, ScanError, ScanOptions, Serving};

/// Where a node stands on the way to a cluster-signed, rotating serving certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Cluster-signed, unexpired, every published address in its SANs.
    Done,
    /// Cluster-signed, but expired or missing some of the Node's addresses.
    ClusterSignedWithProblems,
    /// The kubelet's own self-signed certificate (serverTLSBootstrap off, or its CSR not yet issued).
    SelfSigned,
    /// A kubelet-serving CSR is waiting for approval (the kubelet has no serving certificate meanwhile:
    /// clients see `remote error: tls: internal error`).
    AwaitingApproval,
    /// The kubelet serves no certificate (serverTLSBootstrap on) and has no pending CSR: it is
    /// about to file one, or its last one was denied or failed.
    NoCertificate,
    /// Signed by a CA this cluster does not know.
    Foreign,
    /// Nothing could be read from the kubelet.
    Unknown,
}

/// A pending serving CSR of the node and the policy's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct PendingCsr {
    /// CSR name.
    pub name: String,
    /// Whether `kubecert approve` would approve it.
    pub would_approve: bool,
    /// The policy's reasons to skip it (empty when it would approve).
    pub reasons: Vec<String>,
}

/// One node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeServing {
    /// Node name.
    pub name: String,
    /// Ready condition.
    pub ready: Readiness,
    /// Where it stands.
    pub stage: Stage,
    /// What its kubelet served, if it served a certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<ServedCert>,
    /// Why nothing was read, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_error: Option<String>,
    /// Published addresses (`status.addresses`) the served certificate does not name.
    pub uncovered_addresses: Vec<String>,
    /// Pending `kubelet-serving` CSRs from this node.
    pub pending_csrs: Vec<PendingCsr>,
    /// What to do next, in words and commands.
    pub next_step: String,
}

/// Counts per stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    /// Nodes.
    pub nodes: usize,
    /// [`Stage::Done`].
    pub done: usize,
    /// [`Stage::SelfSigned`].
    pub self_signed: usize,
    /// [`Stage::AwaitingApproval`].
    pub awaiting_approval: usize,
    /// Everything else.
    pub other: usize,
}

/// The whole answer.
#[derive(Debug, Clone, Serialize)]
pub struct ServingStatus {
    /// Counts.
    pub summary: Counts,
    /// Nodes by name.
    pub nodes: Vec<NodeServing>,
}

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// The scan's Node list failed.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// The CSR review failed.
    #[error(transparent)]
    Review(#[from] approve::ApproveError),
}

/// The addresses in `addresses` that `cert` does not name: IPs must be IP SANs, names DNS SANs
/// (case-insensitive), as a TLS client that dials that address checks.
pub(crate) fn uncovered(addresses: &[NodeAddress], cert: &ServedCert) -> Vec<String> {
    let mut out: Vec<String> = addresses
        .iter()
        .map(|a| a.address.as_str())
        .filter(|a| match a.parse::<std::net::IpAddr>() {
            Ok(ip) => !cert.ip_addresses.contains(&ip),
            Err(_) => !cert.dns_names.iter().any(|d| d.eq_ignore_ascii_case(a)),
        })
        .map(str::to_string)
        .collect();
    out.dedup();
    out
}

/// Judges one node from its scan row and its pending serving CSRs.
pub(crate) fn judge(node: &scan::NodeReport, pending: Vec<PendingCsr>) -> NodeServing {
    let (certificate, probe_error) = match &node.serving {
        Serving::Cert(c) => (Some(c.clone()), None),
        Serving::Unreachable { error } => (None, Some(error.to_string())),
        Serving::Unparsable { error } => (None, Some(error.clone())),
        Serving::NoEndpoint { reason } => (None, Some(reason.clone())),
        Serving::Skipped => (None, Some("not probed".into())),
    };
    let uncovered_addresses = certificate.as_ref().map(|c| uncovered(&node.addresses, c)).unwrap_or_default();
    // A kubelet with serverTLSBootstrap on and no issued certificate aborts every handshake.
    let no_cert_yet = matches!(&node.serving, Serving::Unreachable { error: ProbeError::Handshake(m) } if m.contains("InternalError") || m.contains("internal error"));
    let stage = match &certificate {
        Some(c) if c.trust == Trust::ClusterSigned && !c.expired && uncovered_addresses.is_empty() => Stage::Done,
        Some(c) if c.trust == Trust::ClusterSigned => Stage::ClusterSignedWithProblems,
        Some(c) if c.trust == Trust::Foreign => Stage::Foreign,
        Some(_) if !pending.is_empty() => Stage::AwaitingApproval,
        Some(_) => Stage::SelfSigned,
        None if !pending.is_empty() => Stage::AwaitingApproval,
        None if no_cert_yet => Stage::NoCertificate,
        None => Stage::Unknown,
    };
    let n = &node.name;
    let next_step = match stage {
        Stage::Done => "nothing: the kubelet serves a cluster-signed certificate for all its addresses and rotates it".into(),
        Stage::ClusterSignedWithProblems if certificate.as_ref().is_some_and(|c| c.expired) => {
            format!("the cluster-signed serving certificate expired: its renewal CSR needs approving (`kubecert approve`); if none is pending, restart the kubelet on {n}")
        }
        Stage::ClusterSignedWithProblems => format!(
            "the certificate does not name {}: it was issued before the Node published them; restart the kubelet on {n} to request a new one, then `kubecert approve`",
            uncovered_addresses.join(", ")
        ),
        Stage::SelfSigned => format!("on {n}: `kubecert serving enable --restart-kubelet` (serverTLSBootstrap), then `kubecert approve` or run the approver (deploy/approver.yaml)"),
        Stage::NoCertificate => format!(
            "the kubelet on {n} serves no certificate (clients see `remote error: tls: internal error`) and no serving CSR of it is pending: it files one shortly after start; if not, check `kubectl get csr` for a denied or failed one and its log (`journalctl -u kubelet | kubecert explain`)"
        ),
        Stage::AwaitingApproval => match pending.iter().find(|p| p.would_approve) {
            Some(p) => format!("approve CSR {}: `kubecert approve {}` (or run the approver: deploy/approver.yaml)", p.name, p.name),
            None => format!("the pending CSR fails the approval policy ({}): fix the node's addresses or widen --allowed-dns/--allowed-ip-ranges", pending[0].reasons.join("; ")),
        },
        Stage::Foreign => format!("the kubelet serves a certificate from a CA this cluster does not know: on {n}, `kubecert doctor`, then `kubecert serving renew` or `serving enable`"),
        Stage::Unknown => "the kubelet could not be reached: check the address and port (`kubecert scan -o wide`)".into(),
    };
    NodeServing { name: n.clone(), ready: node.ready, stage, certificate, probe_error, uncovered_addresses, pending_csrs: pending, next_step }
}

/// Groups the pending serving CSRs' decisions by node.
fn pending_by_node(decisions: &[Decision]) -> std::collections::HashMap<String, Vec<PendingCsr>> {
    let mut by: std::collections::HashMap<String, Vec<PendingCsr>> = Default::default();
    for d in decisions.iter().filter(|d| d.kind == Kind::Serving) {
        let Some(node) = d.requestor.strip_prefix(kubecert_pki::NODE_USER_PREFIX) else { continue };
        let (would_approve, reasons) = match &d.verdict {
            Verdict::Approve => (true, vec![]),
            Verdict::Skip { reasons } => (false, reasons.clone()),
        };
        by.entry(node.to_string()).or_default().push(PendingCsr { name: d.name.clone(), would_approve, reasons });
    }
    by
}

/// Reads every node's serving state (scan's probes, the approver's policy on pending CSRs).
pub async fn status(admin: &AdminClient, opts: &ScanOptions, policy: &Policy) -> Result<ServingStatus, StatusError> {
    let (report, review) = futures::join!(scan::scan(admin, opts, |_, _| {}), approve::review(&admin.client, policy));
    let report = report?;
    let mut pending = pending_by_node(&review?.0);
    let nodes: Vec<NodeServing> = report.nodes.iter().map(|n| judge(n, pending.remove(&n.name).unwrap_or_default())).collect();
    let mut summary = Counts { nodes: nodes.len(), ..Default::default() };
    for n in &nodes {
        match n.stage {
            Stage::Done => summary.done += 1,
            Stage::SelfSigned => summary.self_signed += 1,
            Stage::AwaitingApproval => summary.awaiting_approval += 1,
            _ => summary.other += 1,
        }
    }
    Ok(ServingStatus { summary, nodes })
}

/// Waits, at most `timeout`, for the kubelet of `node` to file a `kubernetes.io/kubelet-serving`
/// CSR created at or after `since` (after `serving enable` and a kubelet restart); its name.
pub async fn wait_for_csr(client: &kube::Client, node: &str, since: time::OffsetDateTime, timeout: std::time::Duration) -> Result<Option<String>, crate::ApiError> {
    let user = kubecert_pki::node_common_name(node);
    let end = tokio::time::Instant::now() + timeout;
    loop {
        let found = scan::csrs::list_all(client).await?.into_iter().find(|c| {
            c.spec.signer_name == approve::SERVING_SIGNER
                && c.spec.username.as_deref() == Some(user.as_str())
                && c.metadata.creation_timestamp.as_ref().is_some_and(|t| t.0.as_second() >= since.unix_timestamp() - 1)
        });
        if let Some(c) = found {
            return Ok(c.metadata.name);
        }
        if tokio::time::Instant::now() >= end {
            return Ok(None);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn cert(trust: Trust, expired: bool, dns: &[&str], ips: &[&str]) -> ServedCert {
        let now = OffsetDateTime::now_utc();
        ServedCert {
            subject: "CN=system:node:n1".into(),
            issuer: "CN=kubernetes".into(),
            not_before: now,
            not_after: now,
            expires_in_seconds: if expired { -1 } else { 86400 },
            expired,
            dns_names: dns.iter().map(|s| s.to_string()).collect(),
            ip_addresses: ips.iter().map(|s| s.parse().unwrap()).collect(),
            trust,
            chain_length: 1,
        }
    }

    fn node(serving: Serving) -> scan::NodeReport {
        scan::NodeReport {
            name: "n1".into(),
            ready: Readiness::Ready,
            heartbeat_age_seconds: Some(1),
            addresses: vec![NodeAddress { kind: "InternalIP".into(), address: "10.250.0.11".into() }, NodeAddress { kind: "Hostname".into(), address: "N1".into() }],
            endpoint: None,
            serving,
            callout: None,
        }
    }

    #[test]
    fn sans_must_name_every_published_address() {
        let c = cert(Trust::ClusterSigned, false, &["n1"], &["10.250.0.11"]);
        assert!(uncovered(&node(Serving::Skipped).addresses, &c).is_empty(), "DNS names compare case-insensitively");
        let c = cert(Trust::SelfSigned, false, &["n1"], &[]);
        assert_eq!(uncovered(&node(Serving::Skipped).addresses, &c), vec!["10.250.0.11"]);
    }

    #[test]
    fn stages() {
        let ok = cert(Trust::ClusterSigned, false, &["n1"], &["10.250.0.11"]);
        assert_eq!(judge(&node(Serving::Cert(ok)), vec![]).stage, Stage::Done);
        let no_ip = cert(Trust::ClusterSigned, false, &["n1"], &[]);
        let j = judge(&node(Serving::Cert(no_ip)), vec![]);
        assert_eq!((j.stage, j.uncovered_addresses.clone()), (Stage::ClusterSignedWithProblems, vec!["10.250.0.11".to_string()]));
        let own = cert(Trust::SelfSigned, false, &["n1"], &[]);
        let j = judge(&node(Serving::Cert(own.clone())), vec![]);
        assert_eq!(j.stage, Stage::SelfSigned);
        assert!(j.next_step.contains("serving enable"), "{}", j.next_step);
        let csr = PendingCsr { name: "csr-x".into(), would_approve: true, reasons: vec![] };
        assert_eq!(judge(&node(Serving::Cert(own)), vec![csr.clone()]).stage, Stage::AwaitingApproval);
        let internal = Serving::Unreachable { error: ProbeError::Handshake("received fatal alert: InternalError".into()) };
        assert_eq!(judge(&node(internal.clone()), vec![]).stage, Stage::NoCertificate);
        let j = judge(&node(internal.clone()), vec![csr]);
        assert_eq!(j.stage, Stage::AwaitingApproval);
        assert!(j.next_step.contains("kubecert approve csr-x"), "{}", j.next_step);
        let refused = PendingCsr { name: "csr-y".into(), would_approve: false, reasons: vec!["IP SAN 1.2.3.4 is not one of Node n1's addresses".into()] };
        assert!(judge(&node(internal), vec![refused]).next_step.contains("fails the approval policy"));
        let gone = Serving::Unreachable { error: ProbeError::Connect("refused".into()) };
        assert_eq!(judge(&node(gone), vec![]).stage, Stage::Unknown);
    }
}
