//! `kubecert repair`: which findings a repair of the kubelet's client credential handles (the
//! catalog's repair class), whether one is needed ([`assess`]), which path the credentials at
//! hand allow ([`path::choose`]), and applying it through the same functions `sign` and `csr` use.

pub mod path;

use crate::bootstrap::bootstrap_again;
use crate::error::Result;
use crate::target::Target;
use kubecert_node::codes::{repair_class, RepairClass};
use kubecert_node::install::{self, Applied, ApplyOptions, InstallPlan};
use kubecert_node::{Diagnosis, Finding, Severity};

pub use path::{choose, Choice, ClusterCredentials, RepairPath, Unavailable};

/// What the diagnosis says a repair should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assessment {
    /// A new credential would not help until these findings are fixed.
    Blocked {
        /// The blocking codes.
        blockers: Vec<&'static str>,
    },
    /// The distribution's agent (k3s/rke2) issues the kubelet's certificates.
    AgentManaged,
    /// The client credential is usable (or will be renewed by the kubelet itself).
    NothingToDo {
        /// It expires soon, but rotation is on.
        expiring_soon: bool,
    },
    /// A repair is needed but the node's name is unknown.
    NoNodeName,
    /// A new credential is needed for `node`.
    Needed {
        /// The node.
        node: String,
        /// The error findings a new credential fixes (empty: only a renewal is due).
        broken: Vec<&'static str>,
    },
}

impl Assessment {
    /// Why a repair is needed, in words (for [`Assessment::Needed`]).
    pub fn why(&self) -> Option<String> {
        match self {
            Assessment::Needed { broken, .. } if broken.is_empty() => Some("the client certificate must be renewed now".into()),
            Assessment::Needed { broken, .. } => Some(format!("the client credential is broken ({})", broken.join(", "))),
            _ => None,
        }
    }
}

/// Decides from the doctor's findings whether the client credential needs a repair.
pub fn assess(d: &Diagnosis) -> Assessment {
    assess_findings(&d.findings, d.setup.node_name.as_deref())
}

/// [`assess`] over findings and the node's name (if known).
pub(crate) fn assess_findings(findings: &[Finding], node_name: Option<&str>) -> Assessment {
    let has = |code: &str| findings.iter().any(|f| f.code == code);
    let blockers: Vec<&'static str> = findings.iter().filter(|f| repair_class(f.code) == RepairClass::Blocker).map(|f| f.code).collect();
    if !blockers.is_empty() {
        return Assessment::Blocked { blockers };
    }
    if has("agent-managed-certs") {
        return Assessment::AgentManaged;
    }
    let broken: Vec<&'static str> =
        findings.iter().filter(|f| f.severity == Severity::Error && repair_class(f.code) == RepairClass::ClientCredential).map(|f| f.code).collect();
    let renew = has("client-cert-rotation-stalled") || (has("client-cert-expiring-soon") && has("rotation-disabled"));
    if broken.is_empty() && !renew {
        return Assessment::NothingToDo { expiring_soon: has("client-cert-expiring-soon") };
    }
    match node_name {
        Some(node) => Assessment::Needed { node: node.to_string(), broken },
        None => Assessment::NoNodeName,
    }
}

/// The bootstrap path's plan: the broken credential moved aside so the kubelet bootstraps.
pub fn bootstrap_plan(t: &Target, node: &str) -> InstallPlan {
    bootstrap_again(&t.root, &t.setup, InstallPlan::new(format!("repair --node-name {node} (bootstrap again)")))
}

/// Applies [`bootstrap_plan`], backups in `backup_dir`.
pub fn apply_bootstrap(t: &Target, plan: &InstallPlan, backup_dir: &str) -> Result<Applied> {
    let opts = ApplyOptions { backup_root: backup_dir.to_string(), verify: None, rollback_of: None };
    Ok(install::apply(&t.root, plan, &opts)?)
}

#[cfg(test)]
mod tests;
