//! k3s and rke2 agents fetch and renew the kubelet's certificates themselves.

use super::Settings;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `agent-managed-certs`.
pub fn check(snap: &Snapshot, _s: &Settings) -> Vec<Finding> {
    let layout = snap.setup.layout;
    if !layout.agent_managed() {
        return vec![];
    }
    vec![Finding::new(crate::code!("agent-managed-certs"), Severity::Info, format!("this is a {layout} agent: the {layout} agent service fetches and renews the kubelet's certificates"))
        .evidence(format!("{} exists", layout.paths().marker))
        .fix(format!("To renew, restart the agent (`systemctl restart {layout}-agent`); it renews certificates close to expiry at start."))]
}
