//! File hygiene: private keys must not be readable by anyone but their owner.

use super::Settings;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `key-permissions-too-open`.
pub fn check(snap: &Snapshot, _s: &Settings) -> Vec<Finding> {
    let mut keys: Vec<(String, u32)> = snap.cert_dir.key_files.clone();
    if let Ok(view) = &snap.kubeconfig.outcome {
        if let Some(c) = &view.client {
            if let (Ok((path, _)), Some(mode)) = (&c.key, c.key_mode) {
                if !keys.iter().any(|(p, _)| p == path) {
                    keys.push((path.clone(), mode));
                }
            }
        }
    }
    keys.into_iter()
        .filter(|(_, mode)| mode & 0o077 != 0)
        .map(|(path, mode)| {
            Finding::new("key-permissions-too-open", Severity::Warning, format!("{path} is readable by group or others (mode {mode:04o})"))
                .evidence(format!("{path}: mode {mode:04o}"))
                .fix(format!("chmod 600 {path}"))
        })
        .collect()
}
