//! The client credential the kubelet will present (chosen by the kubelet's own precedence,
//! [`crate::credential::precedence`]): present, parseable, in its validity window, this node's
//! identity, and a matching key. Every finding names that credential and the step that chose it.

use super::{date, new_credential_fix, relative, Settings};
use crate::credential::Verdict;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;
use kubecert_pki::{node_common_name, NODES_GROUP};

/// `kubelet-will-not-start`, `kubelet-will-bootstrap`, `client-cert-*` and `client-key-*`.
pub fn check(snap: &Snapshot, s: &Settings) -> Vec<Finding> {
    let why = snap.presented_evidence();
    let mut out = match &snap.choice.verdict {
        Verdict::RefusesToStart(reason) => {
            let mut f = Finding::new(crate::code!("kubelet-will-not-start"), Severity::Error, format!("the kubelet will refuse to start: {reason}")).evidence(why.clone());
            f.fix.extend(super::start_fix(snap));
            vec![f]
        }
        Verdict::Bootstraps => {
            // The old certificate is being replaced: say what is wrong with it, but as the reason only.
            let old = snap.presented().map(|c| match (c.leaf(), c.load_error()) {
                (Some(l), None) => format!("{}: valid until {}", c.location, date(l.info().not_after)),
                (_, e) => format!("{}: {}", c.location, e.unwrap_or_default()),
            });
            let mut f = Finding::new(crate::code!("kubelet-will-bootstrap"), Severity::Info, "the kubelet will request a new client certificate with its bootstrap kubeconfig when it starts").evidence(why.clone());
            if let Some(old) = old {
                f = f.evidence(old);
            }
            return vec![f.fix("Nothing to do if the bootstrap token is valid and the cluster approves node CSRs (`kubecert rbac check`); watch `kubectl get csr`.")];
        }
        Verdict::NoCertificate if snap.presented().is_none() => {
            let mut f = Finding::new(crate::code!("client-cert-missing"), Severity::Error, "the kubelet has no client certificate to present").evidence(why.clone());
            f.fix.extend(new_credential_fix(snap));
            vec![f]
        }
        Verdict::Token | Verdict::Presents | Verdict::Expired | Verdict::NoCertificate => vec![],
    };
    let Some(cred) = snap.presented() else { return out };
    let with_fix = |mut f: Finding| {
        f.fix.extend(new_credential_fix(snap));
        f
    };
    let cert = match &cred.cert {
        Ok(c) => c,
        Err((path, p)) => {
            let code = if p.is_missing() { crate::code!("client-cert-missing") } else { crate::code!("client-cert-invalid") };
            let summary = if p.is_missing() {
                format!("the client certificate {path} that {} names does not exist", snap.kubeconfig.path)
            } else {
                format!("the client certificate {path} cannot be parsed")
            };
            out.push(with_fix(Finding::new(code, Severity::Error, summary).evidence(format!("{path}: {p}")).evidence(why)));
            return out;
        }
    };
    let leaf = cert.leaf();
    let i = leaf.info();
    let ev = format!("{}: subject {:?}, issuer {:?}, valid {} to {}", cert.origin, i.subject, i.issuer, date(i.not_before), date(i.not_after));
    let ev = format!("{ev}; {why}");
    if s.now > i.not_after {
        out.push(with_fix(
            Finding::new(crate::code!("client-cert-expired"), Severity::Error, format!("the kubelet's client certificate expired {}", relative(i.not_after, s.now)))
                .evidence(ev.clone()),
        ));
    } else if s.now < i.not_before {
        out.push(
            Finding::new(crate::code!("client-cert-not-yet-valid"), Severity::Error, format!("the client certificate is only valid from {} (is this node's clock behind?)", date(i.not_before)))
                .evidence(ev.clone())
                .evidence(format!("node clock (this machine): {}", date(s.now)))
                .fix("Fix the clock first (`timedatectl`, chrony/NTP), then restart the kubelet."),
        );
    } else if i.not_after - s.now < s.warn_within {
        out.push(
            Finding::new(crate::code!("client-cert-expiring-soon"), Severity::Warning, format!("the client certificate expires {}", relative(i.not_after, s.now)))
                .evidence(ev.clone())
                .fix("With rotation on and working, the kubelet renews it by itself; check `kubectl get csr` for its renewal CSR."),
        );
    }
    let rotating = super::rotation::rotation_enabled(snap).unwrap_or(false);
    if rotating && leaf.is_valid_at(s.now) && leaf.life_used(s.now) > 0.9 {
        out.push(
            Finding::new(crate::code!("client-cert-rotation-stalled"), Severity::Warning, format!("the client certificate is {:.0}% through its life and has not been renewed", leaf.life_used(s.now) * 100.0))
                .evidence(ev.clone())
                .fix("Look for the node's renewal CSR: `kubectl get csr --sort-by=.metadata.creationTimestamp`; Pending means nothing approves it (`kubecert rbac check`), Approved without a certificate means the signer is not running.")
                .fix(format!("Renew now without waiting: {}", new_credential_fix(snap)[0])),
        );
    }
    if i.version < 3 {
        out.push(with_fix(Finding::new(crate::code!("client-cert-v1"), Severity::Error, "the client certificate is X.509 v1, which TLS clients refuse").evidence(ev.clone())));
    }
    if let Some(node) = &snap.setup.node_name {
        let want = node_common_name(node);
        if i.common_names.first() != Some(&want) || i.common_names.len() != 1 {
            let holder = i.common_names.first().and_then(|cn| kubecert_pki::node_name_from_common_name(cn)).map(|n| format!(" (node {n:?})")).unwrap_or_default();
            out.push(with_fix(
                Finding::new(
                    crate::code!("client-cert-identity-mismatch"),
                    Severity::Error,
                    format!("the client certificate is for {:?}{holder}, not for this node {node:?}", i.common_names.join(",")),
                )
                .evidence(ev.clone())
                .evidence(format!("this node's name {node:?} comes from {}", snap.setup.node_name_source))
                .evidence(format!(
                    "the API server's Node authorizer will refuse it: node \"{}\" is not allowed to modify node \"{node}\"",
                    i.common_names.first().and_then(|cn| kubecert_pki::node_name_from_common_name(cn)).unwrap_or("?")
                )),
            ));
        }
    }
    if i.organizations != [NODES_GROUP] {
        out.push(with_fix(
            Finding::new(crate::code!("client-cert-wrong-org"), Severity::Error, format!("the client certificate's groups are {:?}, not [\"system:nodes\"]", i.organizations))
                .evidence(ev.clone()),
        ));
    }
    match &cred.key {
        Ok((path, key)) => {
            if !key.matches(leaf) {
                out.push(with_fix(
                    Finding::new(crate::code!("client-key-mismatch"), Severity::Error, "the client key does not belong to the client certificate")
                        .evidence(format!("certificate {}, key {path} ({})", cert.origin, key.info())),
                ));
            }
        }
        Err((path, p)) => {
            let code = if p.is_missing() { crate::code!("client-key-missing") } else { crate::code!("client-key-invalid") };
            out.push(with_fix(Finding::new(code, Severity::Error, format!("the client key {path} cannot be used: {p}")).evidence(format!("{path}: {p}"))));
        }
    }
    out
}
