//! Control plane: a certificate or kubeconfig client certificate that is not signed by its CA
//! (`ca`, `etcd/ca`, `front-proxy-ca`), e.g. copied from another cluster or left over from a CA
//! rotation. The check is a real signature verification.

use super::Settings;
use crate::controlplane::catalog;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `cp-cert-untrusted`.
pub fn check(snap: &Snapshot, _: &Settings) -> Vec<Finding> {
    let Some(cp) = &snap.control_plane else { return Vec::new() };
    let mut out = Vec::new();
    for leaf in &cp.leaves {
        let (Ok(cert), Some(ca)) = (&leaf.cert, cp.ca(leaf.entry.ca)) else { continue };
        if let Err(why) = kubecert_pki::verify_signed_by(cert, ca) {
            let name = leaf.entry.name;
            out.push(
                Finding::new(crate::code!("cp-cert-untrusted"), Severity::Error, format!("{name} is not signed by {}: {why}", leaf.entry.ca))
                    .evidence(format!("{}: issuer {:?}", leaf.entry.location.path(), cert.info().issuer))
                    .evidence(format!("{}: {:?} {}", catalog::ca_path(leaf.entry.ca).unwrap_or_default(), ca.info().subject, ca.info().public_key_pin))
                    .fix(format!("Re-issue it from this node's CA: `kubecert renew {name} --force` (the old certificate serves as the template for subject and SANs)."))
                    .fix("If the CA itself is the wrong one (copied from another cluster), restore the cluster's CA first; every component trusts it."),
            );
        }
    }
    out
}
