//! Is the kubelet's kubeconfig (and its KubeletConfiguration) there and readable? Is the node's
//! name known?

use super::{new_credential_fix, Settings};
use crate::credential::Verdict;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `kubeconfig-missing`, `kubeconfig-invalid`, `kubelet-config-invalid`, `node-name-unknown`.
pub fn check(snap: &Snapshot, _s: &Settings) -> Vec<Finding> {
    let mut out = Vec::new();
    let k = &snap.kubeconfig;
    // The kubelet copes when it bootstraps, or presents a credential from elsewhere (the store).
    let copes = matches!(snap.choice.verdict, Verdict::Bootstraps | Verdict::Presents | Verdict::Token);
    if let Err(p) = &k.outcome {
        let bootstrap_ok = copes;
        if p.is_missing() {
            let sev = if bootstrap_ok { Severity::Info } else { Severity::Error };
            let mut f = Finding::new(crate::code!("kubeconfig-missing"), sev, format!("the kubelet's kubeconfig {} does not exist", k.path))
                .evidence(format!("{}: {p}", k.path));
            if bootstrap_ok {
                f = f.fix("Nothing to do: the kubelet will TLS-bootstrap from its bootstrap kubeconfig on its next start.");
            } else {
                f.fix.extend(new_credential_fix(snap));
            }
            out.push(f);
        } else {
            let sev = if copes { Severity::Warning } else { Severity::Error };
            let mut f = Finding::new(crate::code!("kubeconfig-invalid"), sev, format!("the kubelet's kubeconfig {} cannot be used", k.path))
                .evidence(format!("{}: {p}", k.path))
                .evidence(snap.presented_evidence());
            f.fix.extend(new_credential_fix(snap));
            out.push(f);
        }
    }
    if let Ok(v) = &k.outcome
        && let Some(why) = &v.rejected
    {
        let sev = if copes { Severity::Warning } else { Severity::Error };
        let mut f = Finding::new(crate::code!("kubeconfig-invalid"), sev, format!("client-go refuses the kubelet's kubeconfig {}: {why}", k.path)).evidence(snap.presented_evidence());
        f.fix.extend(new_credential_fix(snap));
        out.push(f);
    }
    if let Some(c) = &snap.kubelet_config
        && let Err(p) = &c.outcome
        && crate::credential::inputs::config_error(snap).is_some()
    {
        out.push(
            Finding::new(crate::code!("kubelet-config-invalid"), Severity::Error, format!("the KubeletConfiguration {} cannot be read: the kubelet will refuse to start", c.path))
                .evidence(format!("{}: {p}", c.path))
                .fix("Restore the file from the cluster's kubelet-config ConfigMap: `kubectl get cm -n kube-system kubelet-config -o jsonpath='{.data.kubelet}'`."),
        );
    }
    if snap.setup.node_name.is_none() {
        out.push(
            Finding::new(crate::code!("node-name-unknown"), Severity::Warning, "the node's name is unknown, so identity checks were skipped")
                .evidence("no --node-name option, no --hostname-override flag, no /etc/hostname under the root")
                .fix("Run again with `--node-name NAME`."),
        );
    }
    out
}
