//! Making a node's kubelet TLS-bootstrap again: the one plan `repair` (bootstrap path),
//! `bootstrap-config --install` and `discover --install` share.

use kubecert_node::install::InstallPlan;
use kubecert_node::{KubeletSetup, NodeRoot};

/// Appends to `plan` what would stop the kubelet from bootstrapping, moved aside (backed up): the
/// `kubelet-client*` files in its certificate directory and, last, its kubeconfig. The kubelet
/// bootstraps only when that kubeconfig is absent or its certificate expired, so a copied or
/// wrongly signed but unexpired one must go too.
pub fn bootstrap_again(root: &NodeRoot, setup: &KubeletSetup, mut plan: InstallPlan) -> InstallPlan {
    let dir = setup.cert_dir.trim_end_matches('/');
    for name in root.list_dir(dir) {
        if name.starts_with("kubelet-client") {
            plan = plan.move_aside(format!("{dir}/{name}"));
        }
    }
    plan.move_aside(setup.kubeconfig.clone())
}
