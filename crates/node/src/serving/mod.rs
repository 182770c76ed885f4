//! The kubelet's serving certificate (port 10250) on one node: switching the kubelet to
//! cluster-signed, rotating serving certificates (`serverTLSBootstrap`), and moving an expired or
//! SAN-less self-signed one aside so that the kubelet makes a new one. Plans only: the install
//! engine applies them with backups, atomic writes and rollback.

mod enable;
mod renew;

pub use enable::{plan_enable, EnablePlan};
pub use renew::{plan_renew, RenewPlan, RenewReason};

use crate::layout::Layout;
use crate::root::ReadError;

/// Why a serving change cannot be planned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServingError {
    /// k3s/rke2 agents get their serving certificate from the server's CA already.
    #[error("this is a {0} agent: it already serves a certificate signed by the server's CA (serving-kubelet.crt) and renews it itself; restart the agent (systemctl restart {0}-agent) to renew it, rather than changing its kubelet's configuration")]
    AgentManaged(Layout),
    /// No `--config` file: nothing to put the setting in.
    #[error("the kubelet has no KubeletConfiguration file (no --config flag found); add serverTLSBootstrap: true to the file its --config names, or pass --config PATH")]
    NoConfig,
    /// The config file could not be read.
    #[error("cannot read the KubeletConfiguration {path}: {source}")]
    Read {
        /// Node path.
        path: String,
        /// Why.
        source: ReadError,
    },
    /// The config file could not be edited safely.
    #[error("{path}: {source}")]
    Edit {
        /// Node path.
        path: String,
        /// Why.
        source: kubecert_config::ConfigError,
    },
    /// A kubelet flag overrides the config file.
    #[error("the kubelet's flag {flag} overrides its configuration file; remove it from {files} first")]
    FlagOverrides {
        /// The flag as given.
        flag: String,
        /// Where the kubelet's flags come from.
        files: String,
    },
    /// Nothing to renew, with the reason.
    #[error("{0}")]
    NothingToDo(String),
}
