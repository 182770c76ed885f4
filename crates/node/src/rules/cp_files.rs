//! Control plane: a catalog certificate that kubeadm makes is missing, or present and unreadable.

use super::Settings;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// kubeadm's phase that makes `name`.
fn recreate(name: &str) -> String {
    match name.strip_suffix(".conf") {
        Some(conf) => format!("kubeadm init phase kubeconfig {conf}"),
        None => format!("kubeadm init phase certs {name}"),
    }
}

/// `cp-cert-missing`, `cp-cert-invalid`.
pub fn check(snap: &Snapshot, _: &Settings) -> Vec<Finding> {
    let Some(cp) = &snap.control_plane else { return Vec::new() };
    let mut out = Vec::new();
    for leaf in &cp.leaves {
        let name = leaf.entry.name;
        match &leaf.cert {
            Err(e) if e.is_missing() => out.push(
                Finding::new(crate::code!("cp-cert-missing"), Severity::Warning, format!("{name} is missing on this control-plane node"))
                    .evidence(e.to_string())
                    .fix(format!("If this node runs the component that uses it, recreate it with the cluster's configuration: `{}`; nodes with external etcd have no etcd certificates.", recreate(name))),
            ),
            Err(e) => out.push(
                Finding::new(crate::code!("cp-cert-invalid"), Severity::Error, format!("{name} cannot be read"))
                    .evidence(e.to_string())
                    .fix(format!("Restore it from a backup (`kubecert backups`, `kubecert rollback`); renewal needs the old certificate as its template, so re-create a corrupted one: `{}`.", recreate(name))),
            ),
            Ok(_) => {}
        }
    }
    out
}
