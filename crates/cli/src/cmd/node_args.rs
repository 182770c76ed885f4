//! The options that say which node to look at, shared by `doctor`, `check-expiration`, `repair`
//! and the install commands.

use clap::Args;
use kubecert_node::{NodeRoot, Overrides};
use std::path::PathBuf;

/// Which node, and where its files are.
#[derive(Debug, Args, Clone)]
pub struct NodeArgs {
    /// Treat DIR as the node's `/` (a mounted disk or a copied tree); absolute paths and symlinks resolve inside it.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// The kubelet's kubeconfig (node path), instead of the one its flags name.
    #[arg(long = "kubelet-kubeconfig", value_name = "PATH")]
    pub kubelet_kubeconfig: Option<String>,
    /// The kubelet's KubeletConfiguration file (node path), instead of its --config flag.
    #[arg(long = "config", value_name = "PATH")]
    pub config: Option<String>,
    /// The kubelet's certificate directory (node path), instead of its --cert-dir flag.
    #[arg(long = "cert-dir", value_name = "PATH")]
    pub cert_dir: Option<String>,
    /// The node's name, instead of the kubelet's --hostname-override or the root's /etc/hostname.
    #[arg(long = "node-name", value_name = "NAME")]
    pub node_name: Option<String>,
}

impl NodeArgs {
    /// Opens the root and builds the discovery overrides.
    pub fn open(&self) -> anyhow::Result<(NodeRoot, Overrides)> {
        let root = NodeRoot::new(&self.root)?;
        let ov = Overrides {
            kubeconfig: self.kubelet_kubeconfig.clone(),
            config: self.config.clone(),
            cert_dir: self.cert_dir.clone(),
            node_name: self.node_name.clone(),
        };
        Ok((root, ov))
    }
}

/// Every duration flag's parser: kubecert_config::Duration's one grammar (`90s`, `15m`, `2h`,
/// `30d`, `1h30m`; bounded to 100 years, so no date arithmetic can overflow), exit 2 otherwise.
pub fn parse_duration(s: &str) -> Result<time::Duration, String> {
    s.parse::<kubecert_config::Duration>().map(|d| d.as_time()).map_err(|e| e.to_string())
}

/// [`parse_duration`] for flags that must be above zero (lifetimes, timeouts).
pub fn parse_positive_duration(s: &str) -> Result<time::Duration, String> {
    kubecert_config::Duration::parse_positive(s).map(|d| d.as_time()).map_err(|e| e.to_string())
}

/// [`parse_positive_duration`] as a `std::time::Duration` (network timeouts).
pub fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    kubecert_config::Duration::parse_positive(s).map(|d| d.as_std()).map_err(|e| e.to_string())
}
