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
        let root = NodeRoot::new(&self.root).map_err(anyhow::Error::msg)?;
        let ov = Overrides {
            kubeconfig: self.kubelet_kubeconfig.clone(),
            config: self.config.clone(),
            cert_dir: self.cert_dir.clone(),
            node_name: self.node_name.clone(),
        };
        Ok((root, ov))
    }
}

/// Parses `30d`, `12h`, `90m`, `3600s` or a bare number of days.
pub fn parse_duration(s: &str) -> Result<time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num.parse().map_err(|_| format!("{s:?} is not a duration like 30d, 12h, 90m or 3600s"))?;
    // Checked: a huge number is a clear error, not a panic inside `time`.
    let secs = match unit {
        "" | "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3_600),
        "m" => n.checked_mul(60),
        "s" => Some(n),
        "y" => n.checked_mul(365 * 86_400),
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use d, h, m or s)")),
    };
    secs.map(time::Duration::seconds).ok_or_else(|| format!("{s:?} is too long a duration"))
}
