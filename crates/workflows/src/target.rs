//! The node a workflow acts on, opened and discovered, and the checks before a credential goes on it.

use crate::error::{Result, WorkflowError};
use kubecert_node::install::{self, ClientInstall, NewCredential};
use kubecert_node::{KubeletSetup, NodeRoot, Overrides};

/// The node, opened and discovered.
pub struct Target {
    /// Its root.
    pub root: NodeRoot,
    /// Discovery overrides.
    pub overrides: Overrides,
    /// What discovery found.
    pub setup: KubeletSetup,
}

impl Target {
    /// Discovers the kubelet's files under `root`.
    pub fn discover(root: NodeRoot, overrides: Overrides) -> Target {
        let setup = kubecert_node::discover::discover(&root, &overrides);
        Target { root, overrides, setup }
    }

    /// Refuses a credential for `node` on a node whose kubelet registers under another name
    /// (NodeRestriction would refuse every request about its own Node, field report 004); with
    /// `allow` it only notes it. `Ok(Some(note))` for the operator.
    pub(crate) fn check_node_name(&self, node: &str, allow: bool) -> Result<Option<String>> {
        match &self.setup.node_name {
            Some(n) if n != node && !allow => Err(WorkflowError::refused(format!(
                "the kubelet on this node runs as {n:?} (from {:?}), but the certificate is for {node:?}: the API server would refuse \
                 every request about Node {n:?} (NodeRestriction). Use --node {n}, or pass --allow-name-mismatch",
                self.setup.node_name_source
            ))),
            Some(n) if n != node => Ok(Some(format!("the kubelet on this node runs as {n:?}, not {node:?} (allowed by --allow-name-mismatch)"))),
            Some(_) => Ok(None),
            None => Ok(Some("could not tell this node's name (no --hostname-override, no /etc/hostname); not checked".into())),
        }
    }

    /// Plans the client credential install in the layout the node uses.
    pub(crate) fn plan_client(&self, cred: &NewCredential, label: &str) -> Result<ClientInstall> {
        let now = time::OffsetDateTime::now_utc();
        install::plan_client_install(&self.root, &self.setup.kubeconfig, &self.setup.cert_dir, cred, now, label).map_err(|e| match e {
            install::InstallError::InvalidPlan(m) => WorkflowError::Refused(m),
            e => WorkflowError::Install(e),
        })
    }
}
