//! Control plane: a kubeconfig (admin.conf, controller-manager.conf, ...) that embeds a CA that is
//! not the current `ca.crt`; after a CA rotation its client no longer trusts the API server
//! (kubeadm#2027).

use super::Settings;
use crate::controlplane::catalog::Location;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `cp-kubeconfig-ca-stale`.
pub fn check(snap: &Snapshot, _: &Settings) -> Vec<Finding> {
    let Some(cp) = &snap.control_plane else { return Vec::new() };
    let Some(ca) = cp.ca("ca") else { return Vec::new() };
    let mut out = Vec::new();
    for leaf in &cp.leaves {
        let (Location::Kubeconfig(path), Some(embedded)) = (leaf.entry.location, &leaf.embedded_ca) else { continue };
        let what = match embedded {
            Ok(e) if e.der() == ca.der() => continue,
            Ok(e) => format!("embeds CA {:?} ({})", e.info().subject, e.info().public_key_pin),
            Err(e) => format!("embeds a CA that cannot be read: {e}"),
        };
        out.push(
            Finding::new(crate::code!("cp-kubeconfig-ca-stale"), Severity::Error, format!("{} {what}, not the current /etc/kubernetes/pki/ca.crt", leaf.entry.name))
                .evidence(format!("{path}: certificate-authority-data"))
                .evidence(format!("/etc/kubernetes/pki/ca.crt: {:?} ({})", ca.info().subject, ca.info().public_key_pin))
                .fix(format!("`kubecert renew {} --force` re-issues its client certificate and embeds the current CA (backup first).", leaf.entry.name)),
        );
    }
    out
}
