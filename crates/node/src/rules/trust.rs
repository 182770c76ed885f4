//! Trust: does the client certificate chain to the cluster CA (a real signature check)? Is the CA
//! present, valid, and the same everywhere the kubelet looks for it?

use super::{client_cert, client_signer_ca, cluster_ca, date, new_credential_fix, Settings};
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `client-cert-untrusted`, `ca-missing`, `ca-expired`, `ca-mismatch`.
pub fn check(snap: &Snapshot, s: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(ca) = cluster_ca(snap) else {
        if snap.kubeconfig.outcome.is_ok() {
            out.push(
                Finding::new(crate::code!("ca-missing"), Severity::Warning, "no cluster CA found; the client certificate's chain cannot be checked")
                    .evidence(format!("{}: {}", snap.cluster_ca.path, snap.cluster_ca.outcome.as_ref().err().map(|p| p.to_string()).unwrap_or_default()))
                    .evidence(format!("{} has no certificate-authority(-data)", snap.kubeconfig.path))
                    .fix("Copy the cluster CA (control plane: /etc/kubernetes/pki/ca.crt) to the node, or `kubecert discover` which fetches and pins it."),
            );
        }
        return out;
    };
    let ci = ca.info();
    if s.now > ci.not_after {
        out.push(
            Finding::new(crate::code!("ca-expired"), Severity::Error, format!("the cluster CA {:?} expired on {}", ci.subject, date(ci.not_after)))
                .fix("Every certificate it signed is unusable: rotate the cluster CA (kubeadm: 'Manual rotation of CA certificates'); this is not a node-local repair."),
        );
    }
    // Checked against the CA the API server uses for clients, which on k3s/rke2 is not the server CA.
    let signer = client_signer_ca(snap).unwrap_or(ca);
    if let Some(cert) = client_cert(snap)
        && let Err(why) = kubecert_pki::verify_signed_by(cert.leaf(), signer) {
            let mut f = Finding::new(crate::code!("client-cert-untrusted"), Severity::Error, format!("the client certificate is not signed by the cluster CA: {why}"))
                .evidence(format!("{}: issuer {:?}", cert.origin, cert.leaf().info().issuer))
                .evidence(format!("client CA {:?} ({})", signer.info().subject, signer.info().public_key_pin));
            f.fix.extend(new_credential_fix(snap));
            out.push(f);
        }
    // The CA the kubelet uses to check clients calling it, against the one it trusts for the API server.
    // On k3s/rke2 the layout's CA file is the client CA, meant to differ from the server CA.
    let layout_ca = (!snap.setup.layout.agent_managed()).then_some(&snap.cluster_ca);
    let others = [layout_ca, snap.client_ca_file.as_ref()];
    for other in others.into_iter().flatten() {
        if let Ok(o) = &other.outcome
            && o.der() != ca.der() {
                out.push(
                    Finding::new(crate::code!("ca-mismatch"), Severity::Warning, format!("{} is a different CA from the one {} trusts", other.path, snap.kubeconfig.path))
                        .evidence(format!("{}: {:?} {}", other.path, o.info().subject, o.info().public_key_pin))
                        .evidence(format!("{}: {:?} {}", snap.kubeconfig.path, ci.subject, ci.public_key_pin))
                        .fix("After a CA rotation, update both to the current cluster CA (control plane: /etc/kubernetes/pki/ca.crt), then restart the kubelet."),
                );
            }
    }
    out
}
