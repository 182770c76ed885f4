//! Client credentials on the node that the kubelet will not present: stale ones are a warning (they
//! confuse people and tools, and the embedded pair is the kubelet's fallback), never an error.

use super::{date, Settings};
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `kubeconfig-embedded-cert-stale`, `unused-client-cert-stale`.
pub fn check(snap: &Snapshot, s: &Settings) -> Vec<Finding> {
    let presented_until = snap.presented().and_then(|c| c.leaf()).map(|l| l.info().not_after);
    let mut out = Vec::new();
    for l in &snap.choice.unused {
        let Some(c) = snap.credential(l) else { continue };
        // Nothing there is not a stale credential (a kubeconfig naming absent files is reported elsewhere).
        if matches!(&c.cert, Err((_, p)) if p.is_missing()) {
            continue;
        }
        let stale = match c.leaf() {
            None => Some(format!("it does not load: {}", c.load_error().unwrap_or_default())),
            Some(leaf) if s.now > leaf.info().not_after => Some(format!("it expired on {}", date(leaf.info().not_after))),
            Some(leaf) if presented_until.is_some_and(|p| p > leaf.info().not_after) && l.is_embedded() => {
                Some(format!("it is valid until {}, older than the certificate in use", date(leaf.info().not_after)))
            }
            Some(_) => None,
        };
        let Some(stale) = stale else { continue };
        let why = snap.presented_evidence();
        let f = if l.is_embedded() {
            Finding::new(crate::code!("kubeconfig-embedded-cert-stale"), Severity::Warning, format!("{l} is stale and unused: {stale}"))
                .evidence(why)
                .fix(format!("With rotation on the kubelet falls back to it when the store's pair expires; replace client-certificate-data/client-key-data in {} with `client-certificate`/`client-key` pointing at {}/kubelet-client-current.pem.", snap.kubeconfig.path, snap.setup.cert_dir))
        } else {
            Finding::new(crate::code!("unused-client-cert-stale"), Severity::Warning, format!("{l} is stale and unused: {stale}"))
                .evidence(why)
                .fix("It does not affect the kubelet; remove it (after a backup) so that people and tools do not mistake it for the kubelet's credential.")
        };
        out.push(f);
    }
    out
}
