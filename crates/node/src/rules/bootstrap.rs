//! The kubelet's fallback: the bootstrap kubeconfig, and traces of a bootstrap that never finished.

use super::{client_usable, Settings};
use crate::credential::Step;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `bootstrap-kubeconfig-missing`, `bootstrap-kubeconfig-invalid`, `stale-bootstrap-key`.
pub fn check(snap: &Snapshot, s: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    let usable = client_usable(snap, s);
    if let Some(b) = &snap.bootstrap {
        match &b.outcome {
            Err(p) if p.is_missing() => {
                let mut f = Finding::new(
                    crate::code!("bootstrap-kubeconfig-missing"),
                    if usable { Severity::Info } else { Severity::Error },
                    if usable {
                        format!("{} is absent (normal after kubeadm join while the client certificate works)", b.path)
                    } else if snap.choice.step == Step::BootstrapKubeconfigUnloadable {
                        format!("the client credential is unusable and {} is absent: the kubelet will exit with \"unable to load bootstrap kubeconfig\"", b.path)
                    } else {
                        format!("the client credential is unusable and {} is absent, so the kubelet has nothing to fall back on", b.path)
                    },
                )
                .evidence(format!("{}: {p}", b.path));
                if !usable {
                    let node = snap.setup.node_name.as_deref().unwrap_or("<node-name>");
                    f = f.fix(format!("Give the kubelet a new client credential (the fixes above), or a new bootstrap kubeconfig: `kubecert bootstrap-config --node {node}` where admin credentials are, or `kubecert discover --token ... --install` on the node."));
                }
                out.push(f);
            }
            Err(p) => out.push(
                Finding::new(crate::code!("bootstrap-kubeconfig-invalid"), if usable { Severity::Warning } else { Severity::Error }, format!("the bootstrap kubeconfig {} cannot be used", b.path))
                    .evidence(format!("{}: {p}", b.path))
                    .fix("Write a new one: `kubecert bootstrap-config --node <name>` (admin side) or `kubecert discover` (node side)."),
            ),
            Ok(v) => {
                let token_ok = v.token_id.as_deref().is_some_and(|id| id.len() == 6 && id.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
                let problem = if v.client.is_none() && !v.has_token {
                    Some("it holds no token and no client certificate".to_string())
                } else if v.has_token && !token_ok {
                    Some("its token is not a bootstrap token (id.secret, 6+16 lowercase letters and digits)".into())
                } else if v.ca.is_none() {
                    Some("it names no CA, so the kubelet cannot verify the API server".into())
                } else {
                    None
                };
                if let Some(why) = problem {
                    out.push(
                        Finding::new(crate::code!("bootstrap-kubeconfig-invalid"), if usable { Severity::Warning } else { Severity::Error }, format!("the bootstrap kubeconfig {} cannot work: {why}", b.path))
                            .evidence(format!("{}: token id {}", b.path, v.token_id.as_deref().map(|id| format!("{id}.****************")).unwrap_or_else(|| "none".into())))
                            .fix("Write a new one: `kubecert bootstrap-config --node <name>` (admin side) or `kubecert discover` (node side)."),
                    );
                }
            }
        }
    }
    if snap.cert_dir.stale_bootstrap_key {
        out.push(
            Finding::new(crate::code!("stale-bootstrap-key"), Severity::Info, "kubelet-client.key.tmp is present: a TLS bootstrap started and never finished")
                .evidence(format!("{}/kubelet-client.key.tmp", snap.setup.cert_dir))
                .fix("Check the node's CSR (`kubectl get csr`): Pending means nothing approves bootstrap CSRs (`kubecert rbac check`); the kubelet reuses the key when it retries."),
        );
    }
    out
}
