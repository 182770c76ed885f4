//! A Kubernetes node's certificate files: found the way the kubelet finds them, diagnosed by
//! independent rules into [`Finding`]s, explained from kubelet log lines, listed with their expiry,
//! and replaced safely. Synchronous file-system code only; no network.

pub mod codes;
pub mod controlplane;
pub mod discover;
pub mod expiration;
pub mod finding;
pub mod install;
pub mod layout;
pub mod logs;
pub mod renew;
pub mod root;
pub mod rules;
pub mod snapshot;

pub use discover::{KubeletSetup, Overrides};
pub use finding::{Finding, Severity};
pub use layout::Layout;
pub use root::{NodeFile, NodeRoot, ReadError};
pub use rules::Settings;

/// A diagnosis of one node: what was found where, and the findings.
#[derive(Debug, serde::Serialize)]
pub struct Diagnosis {
    /// The node's name, if known.
    pub node: Option<String>,
    /// The root folder diagnosed.
    pub root: String,
    /// The discovered kubelet setup.
    #[serde(skip)]
    pub setup: KubeletSetup,
    /// The findings, errors first.
    pub findings: Vec<Finding>,
}

impl Diagnosis {
    /// True when a finding has severity error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Diagnoses the node under `root`.
pub fn diagnose(root: &NodeRoot, overrides: &Overrides, settings: &Settings) -> Diagnosis {
    let snap = snapshot::take(root, overrides);
    let findings = rules::diagnose(&snap, settings);
    Diagnosis { node: snap.setup.node_name.clone(), root: root.dir().display().to_string(), setup: snap.setup, findings }
}
