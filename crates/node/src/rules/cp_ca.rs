//! Control plane: a CA (`ca`, `etcd-ca`, `front-proxy-ca`) that has expired, or that expires
//! before a leaf it signed or within a renewal's lifetime — renewing leaves cannot help then.

use super::{date, relative, Settings};
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `cp-ca-expired`, `cp-ca-expiring`.
pub fn check(snap: &Snapshot, s: &Settings) -> Vec<Finding> {
    let Some(cp) = &snap.control_plane else { return Vec::new() };
    let mut out = Vec::new();
    for ca in &cp.cas {
        let Ok(cert) = &ca.cert else { continue };
        let end = cert.info().not_after;
        let evidence = format!("{}: {:?}, valid until {}", ca.path, cert.info().subject, date(end));
        if s.now > end {
            out.push(
                Finding::new(crate::code!("cp-ca-expired"), Severity::Error, format!("the {} CA expired {}", ca.name, relative(end, s.now)))
                    .evidence(evidence)
                    .fix("Every certificate it signed is rejected; renewing leaves cannot help. Rotate the CA (kubeadm: 'Manual rotation of CA certificates'), then `kubecert renew --force`."),
            );
            continue;
        }
        let outlived: Vec<&str> = cp
            .leaves
            .iter()
            .filter(|l| l.entry.ca == ca.name)
            .filter(|l| l.cert.as_ref().is_ok_and(|c| c.info().not_after > end))
            .map(|l| l.entry.name)
            .collect();
        let before_renewal = s.now.checked_add(crate::renew::DEFAULT_VALIDITY).is_some_and(|r| end < r);
        if outlived.is_empty() && !before_renewal {
            continue;
        }
        let mut f = Finding::new(crate::code!("cp-ca-expiring"), Severity::Warning, format!("the {} CA expires {}, before the certificates it signs would", ca.name, relative(end, s.now)))
            .evidence(evidence);
        if !outlived.is_empty() {
            f = f.evidence(format!("valid longer than the CA: {}", outlived.join(", ")));
        }
        out.push(f.fix("Plan a CA rotation before that date; `kubecert renew` refuses to issue past the CA (or cuts to it with --clamp-to-ca)."));
    }
    out
}
