//! File hygiene: private keys must not be readable by anyone but their owner, and no other node's
//! credential should stay on this node.

use super::Settings;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `key-permissions-too-open`, `foreign-credential-on-disk`.
pub fn check(snap: &Snapshot, s: &Settings) -> Vec<Finding> {
    let mut out = permissions(snap, s);
    out.extend(foreign_credentials(snap));
    out
}

/// Another node's key and certificate left in the cert dir (after a copy from another node and a
/// repair): it lets whoever reads this disk act as that node.
fn foreign_credentials(snap: &Snapshot) -> Vec<Finding> {
    let Some(node) = &snap.setup.node_name else { return vec![] };
    let current = snap.cert_dir.current_target.as_deref().and_then(|t| t.rsplit('/').next());
    snap.cert_dir
        .rotated_identities
        .iter()
        .filter(|(file, holder)| holder != node && Some(file.as_str()) != current)
        .map(|(file, holder)| {
            let path = format!("{}/{file}", snap.setup.cert_dir);
            Finding::new(crate::code!("foreign-credential-on-disk"), Severity::Warning, format!("{path} holds node {holder:?}'s key and certificate, not this node's"))
                .evidence(format!("{path}: CN=system:node:{holder}"))
                .fix(format!("It lets anyone who reads this disk act as node {holder:?}: delete it (`shred -u {path}`) once this node works with its own credential."))
        })
        .collect()
}

fn permissions(snap: &Snapshot, _s: &Settings) -> Vec<Finding> {
    let mut keys: Vec<(String, u32)> = snap.cert_dir.key_files.clone();
    if let Ok(view) = &snap.kubeconfig.outcome
        && let Some(c) = &view.client
            && let (Ok((path, _)), Some(mode)) = (&c.key, c.key_mode)
                && !keys.iter().any(|(p, _)| p == path) {
                    keys.push((path.clone(), mode));
                }
    keys.into_iter()
        .filter(|(_, mode)| mode & 0o077 != 0)
        .map(|(path, mode)| {
            Finding::new(crate::code!("key-permissions-too-open"), Severity::Warning, format!("{path} is readable by group or others (mode {mode:04o})"))
                .evidence(format!("{path}: mode {mode:04o}"))
                .fix(format!("chmod 600 {path}"))
        })
        .collect()
}
