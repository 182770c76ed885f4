//! A Kubernetes node's certificate files: found the way the kubelet finds them, diagnosed by
//! independent rules into [`Finding`]s, explained from kubelet log lines, listed with their expiry,
//! and replaced safely. Synchronous file-system code only; no network.

#![deny(missing_docs)]

pub mod codes;
pub mod credential;
pub mod controlplane;
pub mod discover;
pub mod expiration;
mod finding;
pub mod hostfs;
pub mod install;
pub mod layout;
pub mod logs;
pub mod renew;
pub mod root;
pub mod rules;
pub mod serving;
pub mod snapshot;

pub use discover::{KubeletSetup, Overrides};
pub use finding::{Finding, Severity};
pub use layout::Layout;
pub use root::{NodeFile, NodeRoot, ReadError, RootError};
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
    /// Files this user may not read: the diagnosis is incomplete (run as root), not the node broken.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
    /// Set when there is no kubelet here at all: the places looked at (then `findings` is empty:
    /// not a node is not a broken node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_kubelet: Option<Vec<String>>,
    /// The client credential the kubelet will present, the deciding step, and the unused ones.
    pub client_credential: credential::Choice,
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
    let no_kubelet = discover::no_kubelet(root, &snap.setup, overrides);
    let findings = if no_kubelet.is_some() { Vec::new() } else { rules::diagnose(&snap, settings) };
    let unreadable = root.denied();
    let node = snap.setup.node_name.clone();
    Diagnosis { node, root: root.dir().display().to_string(), client_credential: snap.choice, setup: snap.setup, findings, unreadable, no_kubelet }
}
