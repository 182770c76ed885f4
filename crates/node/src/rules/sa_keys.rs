//! Control plane: `sa.key` (signs service-account tokens, kube-controller-manager) and `sa.pub`
//! (verifies them, kube-apiserver) that are not one pair: every token is rejected.

use super::Settings;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `sa-key-mismatch`.
pub fn check(snap: &Snapshot, _: &Settings) -> Vec<Finding> {
    let Some(cp) = &snap.control_plane else { return Vec::new() };
    let problem = match (&cp.sa_key, &cp.sa_pub) {
        (Some(Ok(k)), Some(Ok(p))) if k.spki_der() == p.as_slice() => return Vec::new(),
        (Some(Ok(_)), Some(Ok(_))) => "sa.pub is not the public half of sa.key".to_string(),
        (Some(Err(e)), _) | (_, Some(Err(e))) => format!("cannot be read: {e}"),
        (None, None) => return Vec::new(),
        (None, Some(_)) => "sa.key is missing".to_string(),
        (Some(_), None) => "sa.pub is missing".to_string(),
    };
    vec![
        Finding::new(crate::code!("sa-key-mismatch"), Severity::Error, format!("service-account keys: {problem}"))
            .evidence("/etc/kubernetes/pki/sa.key, /etc/kubernetes/pki/sa.pub")
            .fix("Restore the pair from a backup or from another control-plane node (all must share it); `openssl pkey -in sa.key -pubout -out sa.pub` rebuilds sa.pub from sa.key. A new pair invalidates every service-account token."),
    ]
}
