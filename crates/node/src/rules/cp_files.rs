//! Control plane: a catalog certificate that kubeadm makes is missing, or present and unreadable.

use super::Settings;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `cp-cert-missing`, `cp-cert-invalid`.
pub fn check(snap: &Snapshot, _: &Settings) -> Vec<Finding> {
    let Some(cp) = &snap.control_plane else { return Vec::new() };
    let mut out = Vec::new();
    for leaf in &cp.leaves {
        let name = leaf.entry.name;
        match &leaf.cert {
            Err(e) if e.is_missing() => out.push(
                Finding::new("cp-cert-missing", Severity::Warning, format!("{name} is missing on this control-plane node"))
                    .evidence(e.to_string())
                    .fix(format!("If this node runs the component that uses it, recreate it: `kubeadm init phase certs {}` (or `kubeadm init phase kubeconfig`) with the cluster's configuration; external etcd nodes have no etcd certificates.", name.trim_end_matches(".conf"))),
            ),
            Err(e) => out.push(
                Finding::new("cp-cert-invalid", Severity::Error, format!("{name} cannot be read"))
                    .evidence(e.to_string())
                    .fix("Restore it from a backup (`kubecert backups`, `kubecert rollback`); renewal needs the old certificate as its template, so re-create a corrupted one with `kubeadm init phase certs` (or `kubeconfig`)."),
            ),
            Ok(_) => {}
        }
    }
    out
}
