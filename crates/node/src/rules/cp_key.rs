//! Control plane: a certificate whose private key (the `.key` beside it, or the kubeconfig's
//! client-key-data) does not belong to it, or is missing or unreadable.

use super::Settings;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `cp-key-mismatch`.
pub fn check(snap: &Snapshot, _: &Settings) -> Vec<Finding> {
    let Some(cp) = &snap.control_plane else { return Vec::new() };
    let mut out = Vec::new();
    for leaf in &cp.leaves {
        let Ok(cert) = &leaf.cert else { continue };
        let name = leaf.entry.name;
        let problem = match &leaf.key {
            Some(Ok(k)) if k.matches(cert) => continue,
            Some(Ok(k)) => format!("the key ({}) does not belong to the certificate ({})", k.info(), cert.info().key),
            Some(Err(e)) => format!("the key cannot be used: {e}"),
            None => "there is no key for it".to_string(),
        };
        out.push(
            Finding::new(crate::code!("cp-key-mismatch"), Severity::Error, format!("{name}: {problem}"))
                .evidence(format!("{}: {:?} ({})", leaf.entry.location.path(), cert.info().subject, cert.info().public_key_pin))
                .fix(format!("`kubecert renew {name} --force` issues a new certificate and key as a pair; or restore the matching pair from a backup (`kubecert backups`).")),
        );
    }
    out
}
