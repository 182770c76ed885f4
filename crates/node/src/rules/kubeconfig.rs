//! Is the kubelet's kubeconfig (and its KubeletConfiguration) there and readable? Is the node's
//! name known?

use super::{new_credential_fix, Settings};
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `kubeconfig-missing`, `kubeconfig-invalid`, `kubelet-config-invalid`, `node-name-unknown`.
pub fn check(snap: &Snapshot, _s: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    let k = &snap.kubeconfig;
    if let Err(p) = &k.outcome {
        let bootstrap_ok = snap.bootstrap.as_ref().is_some_and(|b| b.outcome.is_ok());
        if p.is_missing() {
            let sev = if bootstrap_ok { Severity::Info } else { Severity::Error };
            let mut f = Finding::new("kubeconfig-missing", sev, format!("the kubelet's kubeconfig {} does not exist", k.path))
                .evidence(format!("{}: {p}", k.path));
            if bootstrap_ok {
                f = f.fix("Nothing to do: the kubelet will TLS-bootstrap from its bootstrap kubeconfig on its next start.");
            } else {
                f.fix.extend(new_credential_fix(snap));
            }
            out.push(f);
        } else {
            let mut f = Finding::new("kubeconfig-invalid", Severity::Error, format!("the kubelet's kubeconfig {} cannot be used", k.path))
                .evidence(format!("{}: {p}", k.path));
            f.fix.extend(new_credential_fix(snap));
            out.push(f);
        }
    }
    if let Some(c) = &snap.kubelet_config
        && let Err(p) = &c.outcome {
            // An absent --config file is only a problem when the flags name it.
            let named_by_flags = snap.setup.args.iter().any(|a| a.starts_with("--config"));
            if !p.is_missing() || named_by_flags {
                out.push(
                    Finding::new("kubelet-config-invalid", Severity::Error, format!("the KubeletConfiguration {} cannot be read", c.path))
                        .evidence(format!("{}: {p}", c.path))
                        .fix("Restore the file from the cluster's kubelet-config ConfigMap: `kubectl get cm -n kube-system kubelet-config -o jsonpath='{.data.kubelet}'`."),
                );
            }
        }
    if snap.setup.node_name.is_none() {
        out.push(
            Finding::new("node-name-unknown", Severity::Warning, "the node's name is unknown, so identity checks were skipped")
                .evidence("no --node-name option, no --hostname-override flag, no /etc/hostname under the root")
                .fix("Run again with `--node-name NAME`."),
        );
    }
    out
}
