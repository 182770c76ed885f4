//! Will the kubelet keep its credential fresh by itself? Rotation switched on, the current link a
//! real symlink.

use super::Settings;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// Is client rotation on? `None` when the node's layout does not use CSR rotation at all.
pub(crate) fn rotation_enabled(snap: &Snapshot) -> Option<bool> {
    crate::credential::inputs::rotation(snap)
}

/// `rotation-disabled`, `current-link-not-symlink`.
pub fn check(snap: &Snapshot, _s: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    if rotation_enabled(snap) == Some(false) {
        let where_ = snap.setup.config.clone().unwrap_or_else(|| "the kubelet's flags".into());
        out.push(
            Finding::new(crate::code!("rotation-disabled"), Severity::Warning, "client certificate rotation is off: the kubelet's certificate will expire and the node will go NotReady")
                .evidence(format!("{where_}: rotateCertificates is false or absent (absent means false)"))
                .fix(format!("Set `rotateCertificates: true` in {where_} and restart the kubelet; make sure `kubecert rbac check` passes so renewals get approved.")),
        );
    }
    let cd = &snap.cert_dir;
    let current = format!("{}/kubelet-client-current.pem", snap.setup.cert_dir);
    if cd.current_exists && !cd.current_is_symlink {
        out.push(
            Finding::new(crate::code!("current-link-not-symlink"), Severity::Warning, format!("{current} is a regular file; the kubelet's rotation will fail to replace it"))
                .evidence(format!("{current}: regular file"))
                .fix(format!("Move it to {}/kubelet-client-<date>.pem and make kubelet-client-current.pem an absolute symlink to it (`kubecert repair` or `ln -sf`).", snap.setup.cert_dir)),
        );
    }
    out
}
