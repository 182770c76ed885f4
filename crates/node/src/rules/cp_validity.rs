//! Control plane: certificates and kubeconfig client certificates expired, expiring, or not yet
//! valid. An expired apiserver-kubelet-client gets its own code: nodes stay Ready while logs,
//! exec and port-forward fail.

use super::{date, relative, Settings};
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `cp-cert-expired`, `apiserver-kubelet-client-expired`, `cp-cert-not-yet-valid`, `cp-cert-expiring-soon`.
pub fn check(snap: &Snapshot, s: &Settings) -> Vec<Finding> {
    let Some(cp) = &snap.control_plane else { return Vec::new() };
    let mut out = Vec::new();
    for leaf in &cp.leaves {
        let Ok(cert) = &leaf.cert else { continue };
        let (name, path) = (leaf.entry.name, leaf.entry.location.path());
        let i = cert.info();
        let evidence = format!("{path}: {:?}, valid {} .. {}", i.subject, date(i.not_before), date(i.not_after));
        let renew = format!("`kubecert renew {name} --force` (re-issues it with its CA, backup first; `--dry-run` shows the plan), then restart what uses it.");
        if s.now > i.not_after {
            let f = if name == "apiserver-kubelet-client" {
                Finding::new(crate::code!("apiserver-kubelet-client-expired"), Severity::Error, format!("apiserver-kubelet-client expired {}: kubectl logs, exec and port-forward fail while nodes look Ready", relative(i.not_after, s.now)))
            } else {
                Finding::new(crate::code!("cp-cert-expired"), Severity::Error, format!("{name} expired {}", relative(i.not_after, s.now)))
            };
            out.push(f.evidence(evidence).fix(renew));
        } else if s.now < i.not_before {
            out.push(
                Finding::new(crate::code!("cp-cert-not-yet-valid"), Severity::Error, format!("{name} is not valid until {}", date(i.not_before)))
                    .evidence(evidence)
                    .fix("Check this node's clock (NTP) first; a certificate made on a machine whose clock was ahead becomes valid by itself later."),
            );
        } else if i.not_after - s.now <= s.warn_within {
            out.push(
                Finding::new(crate::code!("cp-cert-expiring-soon"), Severity::Warning, format!("{name} expires {}", relative(i.not_after, s.now)))
                    .evidence(evidence)
                    .fix(format!("`kubecert renew --within {}d` renews everything that expires in that window.", s.warn_within.whole_days().max(1))),
            );
        }
    }
    out
}
