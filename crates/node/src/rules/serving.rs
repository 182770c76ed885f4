//! The kubelet's serving certificate (port 10250): the one `kubectl logs/exec` and metrics-server see.

use super::{date, relative, Settings};
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `serving-cert-expired`, `serving-cert-expiring-soon`.
pub fn check(snap: &Snapshot, s: &Settings) -> Vec<Finding> {
    let Some(serving) = &snap.serving else { return vec![] };
    let Ok(cert) = &serving.outcome else { return vec![] };
    let i = cert.info();
    let ev = format!("{}: subject {:?}, issuer {:?}, valid until {}", serving.path, i.subject, i.issuer, date(i.not_after));
    let fix = if i.self_issued {
        format!("It is the kubelet's self-signed certificate, which it never renews: move {} and its .key aside and restart the kubelet to get a new one (or enable serverTLSBootstrap with an approver: `kubecert approve`).", serving.path)
    } else {
        "Renewal goes through kubelet-serving CSRs, which nothing approves by default: `kubecert approve` approves valid ones.".to_string()
    };
    if s.now > i.not_after {
        vec![Finding::new(crate::code!("serving-cert-expired"), Severity::Error, format!("the kubelet's serving certificate expired {}", relative(i.not_after, s.now))).evidence(ev).fix(fix)]
    } else if i.not_after - s.now < s.warn_within {
        vec![Finding::new(crate::code!("serving-cert-expiring-soon"), Severity::Warning, format!("the kubelet's serving certificate expires {}", relative(i.not_after, s.now))).evidence(ev).fix(fix)]
    } else {
        vec![]
    }
}
