//! `kubecert explain` for log text: maps kubelet and API server log lines to their cause and fix.
//! Patterns are plain substrings (all must occur in a line), so matching is linear and cannot be
//! made to backtrack by hostile input.

use serde::Serialize;

/// A known log line.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LogPattern {
    /// Stable id of the pattern.
    pub id: &'static str,
    /// Substrings that must all appear in the line.
    pub needles: &'static [&'static str],
    /// The finding code `kubecert doctor` reports for the same cause, if any.
    pub code: Option<&'static str>,
    /// The cause, in plain words.
    pub cause: &'static str,
    /// What to do.
    pub fix: &'static str,
}

/// Every known line, most specific first.
pub const PATTERNS: &[LogPattern] = &[
    LogPattern { id: "bootstrap-kubeconfig-missing", needles: &["unable to load bootstrap kubeconfig"], code: Some("bootstrap-kubeconfig-missing"),
        cause: "The kubelet's client certificate is missing or expired, so it tried to TLS-bootstrap, and the bootstrap kubeconfig is gone (kubeadm deletes it after join).",
        fix: "Run `kubecert doctor` on the node, then `kubecert repair` (or `kubecert bootstrap-config --node NAME` where admin credentials are, and install the file)." },
    LogPattern { id: "bootstrap-cert-expired", needles: &["part of the existing bootstrap client certificate", "is expired"], code: Some("client-cert-expired"),
        cause: "The certificate in kubelet.conf has expired; the kubelet falls back to its bootstrap kubeconfig.",
        fix: "If a bootstrap kubeconfig exists the kubelet re-bootstraps; otherwise `kubecert repair`." },
    LogPattern { id: "current-cert-expired", needles: &["The currently active client certificate has expired"], code: Some("client-cert-expired"),
        cause: "The kubelet's client certificate expired while it ran: rotation did not happen in time (CSR not approved or signed, or the node was down through the rotation window).",
        fix: "`kubecert doctor` then `kubecert repair`; afterwards `kubecert rbac check` to see why rotation failed." },
    LogPattern { id: "no-valid-cert-5m", needles: &["since a valid client cert was found"], code: Some("client-cert-expired"),
        cause: "The kubelet has had no valid client certificate for 5 minutes. If the line says the server is not responsive the kubelet may loop forever instead of exiting.",
        fix: "Restart the kubelet; if it then fails to bootstrap, `kubecert repair`." },
    LogPattern { id: "x509-expired", needles: &["x509: certificate has expired or is not yet valid"], code: Some("client-cert-expired"),
        cause: "A certificate in this TLS connection is outside its validity window: expired, or the clock of one side is wrong.",
        fix: "`kubecert check-expiration` on the node; compare `date` with the API server's clock (`kubecert scan` shows skew)." },
    LogPattern { id: "x509-unknown-authority", needles: &["certificate signed by unknown authority"], code: Some("client-cert-untrusted"),
        cause: "One side does not trust the other's CA: after a CA rotation, or a certificate from another cluster, or the kubelet's self-signed serving certificate seen by metrics-server.",
        fix: "`kubecert doctor` (client-cert-untrusted, ca-mismatch) names which certificate and which CA." },
    LogPattern { id: "node-modify-other", needles: &["cannot modify node"], code: Some("client-cert-identity-mismatch"),
        cause: "The kubelet authenticates as another node (a certificate copied from another machine, or a hostname change), and the Node authorizer refuses it.",
        fix: "Give the node its own certificate: `kubecert sign --node NAME ... --install` or `kubecert csr --node NAME --approve --install`." },
    LogPattern { id: "node-not-allowed-modify", needles: &["is not allowed to modify node"], code: Some("client-cert-identity-mismatch"),
        cause: "NodeRestriction refuses a write to a Node object that is not the credential's own node: this node uses another node's certificate.",
        fix: "Give the node its own certificate: `kubecert sign --node NAME ... --install` or `kubecert csr --node NAME --approve --install`." },
    LogPattern { id: "node-only-own-object", needles: &["only its own Node object"], code: Some("client-cert-identity-mismatch"),
        cause: "The Node authorizer lets a node read only its own Node object: this kubelet's certificate names another node.",
        fix: "Give the node its own certificate: `kubecert sign --node NAME ... --install` or `kubecert csr --node NAME --approve --install`." },
    LogPattern { id: "csr-cn-restricted", needles: &["can only create a node CSR with CN=system:node:"], code: Some("client-cert-identity-mismatch"),
        cause: "Since 1.31 a node may only request certificates for its own name; this kubelet holds another node's identity and cannot rotate out of it.",
        fix: "Install a certificate for this node's name (`kubecert sign` or `kubecert csr`), or bootstrap afresh (`kubecert repair`)." },
    LogPattern { id: "expected-symlink", needles: &["to be a symlink"], code: Some("current-link-not-symlink"),
        cause: "kubelet-client-current.pem is a regular file, so the certificate store cannot swap it on rotation.",
        fix: "Make it an absolute symlink to a kubelet-client-<date>.pem file (`kubecert repair` does it with a backup)." },
    LogPattern { id: "csr-timeout", needles: &["timed out waiting for the condition", "certificate"], code: None,
        cause: "The kubelet's CSR was not approved or not signed in time.",
        fix: "`kubectl get csr`: Pending → nothing approves it (`kubecert rbac check`; serving CSRs need `kubecert approve`); Approved without a certificate → the controller-manager's signer is not running or lacks --cluster-signing-* flags." },
    LogPattern { id: "csr-not-approved", needles: &["certificate request was not signed"], code: None,
        cause: "The kubelet's CSR was denied or never signed.",
        fix: "`kubectl get csr` and `kubecert rbac check`; make sure the controller-manager signs with the cluster CA." },
    LogPattern { id: "rotation-failed", needles: &["Failed while requesting a signed certificate from the control plane"], code: Some("client-cert-rotation-stalled"),
        cause: "A rotation CSR could not be created or was not answered; the current certificate will expire if this persists.",
        fix: "`kubecert rbac check` (selfnodeclient binding) and `kubectl get csr`." },
    LogPattern { id: "backoff-limit", needles: &["Reached backoff limit, still unable to rotate certs"], code: Some("client-cert-rotation-stalled"),
        cause: "Rotation keeps failing; the kubelet is retrying every 32 s.",
        fix: "`kubecert rbac check` and `kubectl get csr`." },
    LogPattern { id: "unauthorized", needles: &["Unauthorized"], code: Some("client-cert-untrusted"),
        cause: "The API server rejected the credential: expired, signed by a CA it does not trust, or a bootstrap token that expired or was deleted.",
        fix: "`kubecert doctor` names which; an expired token needs a new one (`kubecert token create`)." },
    LogPattern { id: "token-invalid", needles: &["is invalid for this cluster or it has expired"], code: None,
        cause: "The bootstrap token is unknown to the cluster or has expired (kubeadm's default TTL is 24 h).",
        fix: "`kubecert token create` where admin credentials are, then `kubecert discover --token ...` on the node." },
    LogPattern { id: "cgroup-v1", needles: &["kubelet is configured to not run on a host using cgroup v1"], code: None,
        cause: "Not a certificate problem: kubelet 1.35+ refuses cgroup v1 hosts unless failCgroupV1: false.",
        fix: "Set failCgroupV1: false in the KubeletConfiguration, or move the host to cgroup v2." },
];

/// One explained line.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    /// 1-based line number in the input.
    pub line: usize,
    /// The line (trimmed to 300 characters).
    pub text: String,
    /// The pattern it matched.
    pub pattern: &'static LogPattern,
}

/// Explains every line of `text` that matches a known pattern (first matching pattern wins).
pub fn explain_lines(text: &str) -> Vec<Explained> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(p) = match_line(line) {
            let mut t: String = line.trim().chars().take(300).collect();
            if t.len() < line.trim().len() {
                t.push('…');
            }
            out.push(Explained { line: n + 1, text: t, pattern: p });
        }
    }
    out
}

/// The pattern `line` matches, if any.
pub fn match_line(line: &str) -> Option<&'static LogPattern> {
    PATTERNS.iter().find(|p| p.needles.iter().all(|n| line.contains(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_report_lines_are_explained() {
        let log = r#"E1125 kubelet[1]: "command failed" err="failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory"
W1125 reflector.go:535] failed to list *v1.Node: nodes "n2" is forbidden: node "n1" cannot modify node "n2"
E1125 kubelet_node_status.go: "Unable to register node with API server" err="nodes \"n2\" is forbidden: node \"n1\" is not allowed to modify node \"n2\""
E1125 reflector: nodes "n2" is forbidden: User "system:node:n1" cannot get resource "nodes": node 'n1' cannot read 'n2', only its own Node object
I1125 an unrelated line"#;
        let e = explain_lines(log);
        let ids: Vec<_> = e.iter().map(|x| x.pattern.id).collect();
        assert_eq!(ids, ["bootstrap-kubeconfig-missing", "node-modify-other", "node-not-allowed-modify", "node-only-own-object"]);
        assert_eq!(e[1].line, 2);
    }
}
