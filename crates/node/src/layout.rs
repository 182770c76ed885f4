//! The node layouts kubecert recognises out of the box, and where each keeps the kubelet's files.
//! Like kubeadm's certificate list, this is a declarative catalog: discovery and install read it.

use serde::Serialize;

/// A family of node installations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// kubeadm (also kubespray, which uses kubeadm's paths plus its own env file).
    Kubeadm,
    /// kubespray's kubeadm variant: `/etc/kubernetes/kubelet.env` and `/etc/kubernetes/kubelet-config.yaml`.
    Kubespray,
    /// "Hard way"/CoreOS-style: `/etc/kubernetes/ssl/{ca.pem,worker.pem,worker-key.pem}` (field report 004);
    /// recognised by its CA, which survives when the worker's files vanish.
    CoreosSsl,
    /// k3s agent: `/var/lib/rancher/k3s/agent/`.
    K3s,
    /// rke2 agent: `/var/lib/rancher/rke2/agent/`.
    Rke2,
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::Kubeadm => "kubeadm",
            Layout::Kubespray => "kubespray",
            Layout::CoreosSsl => "coreos-ssl",
            Layout::K3s => "k3s",
            Layout::Rke2 => "rke2",
        })
    }
}

/// The default paths of a layout, used where the kubelet's flags do not say otherwise.
#[derive(Debug, Clone, Serialize)]
pub struct LayoutPaths {
    /// `--kubeconfig`.
    pub kubeconfig: &'static str,
    /// `--bootstrap-kubeconfig` (none for layouts that do not TLS-bootstrap).
    pub bootstrap_kubeconfig: Option<&'static str>,
    /// `--config`.
    pub config: Option<&'static str>,
    /// `--cert-dir`.
    pub cert_dir: &'static str,
    /// The cluster CA as the layout stores it.
    pub cluster_ca: &'static str,
    /// A file whose presence identifies the layout.
    pub marker: &'static str,
}

impl Layout {
    /// Layouts in detection order: the most specific marker first.
    pub(crate) const DETECTION_ORDER: [Layout; 5] = [Layout::Rke2, Layout::K3s, Layout::CoreosSsl, Layout::Kubespray, Layout::Kubeadm];

    /// Where this layout keeps things.
    pub fn paths(self) -> LayoutPaths {
        match self {
            Layout::Kubeadm => LayoutPaths {
                kubeconfig: "/etc/kubernetes/kubelet.conf",
                bootstrap_kubeconfig: Some("/etc/kubernetes/bootstrap-kubelet.conf"),
                config: Some("/var/lib/kubelet/config.yaml"),
                cert_dir: "/var/lib/kubelet/pki",
                cluster_ca: "/etc/kubernetes/pki/ca.crt",
                marker: "/etc/kubernetes",
            },
            Layout::Kubespray => LayoutPaths {
                kubeconfig: "/etc/kubernetes/kubelet.conf",
                bootstrap_kubeconfig: Some("/etc/kubernetes/bootstrap-kubelet.conf"),
                config: Some("/etc/kubernetes/kubelet-config.yaml"),
                cert_dir: "/var/lib/kubelet/pki",
                cluster_ca: "/etc/kubernetes/ssl/ca.crt",
                marker: "/etc/kubernetes/kubelet.env",
            },
            Layout::CoreosSsl => LayoutPaths {
                kubeconfig: "/etc/kubernetes/worker-kubeconfig.yaml",
                bootstrap_kubeconfig: None,
                config: None,
                cert_dir: "/etc/kubernetes/ssl",
                cluster_ca: "/etc/kubernetes/ssl/ca.pem",
                marker: "/etc/kubernetes/ssl/ca.pem",
            },
            Layout::K3s => LayoutPaths {
                kubeconfig: "/var/lib/rancher/k3s/agent/kubelet.kubeconfig",
                bootstrap_kubeconfig: None,
                config: None,
                cert_dir: "/var/lib/rancher/k3s/agent",
                cluster_ca: "/var/lib/rancher/k3s/agent/client-ca.crt",
                marker: "/var/lib/rancher/k3s/agent/kubelet.kubeconfig",
            },
            Layout::Rke2 => LayoutPaths {
                kubeconfig: "/var/lib/rancher/rke2/agent/kubelet.kubeconfig",
                bootstrap_kubeconfig: None,
                config: None,
                cert_dir: "/var/lib/rancher/rke2/agent",
                cluster_ca: "/var/lib/rancher/rke2/agent/client-ca.crt",
                marker: "/var/lib/rancher/rke2/agent/kubelet.kubeconfig",
            },
        }
    }

    /// The cluster CA's private key, where the layout keeps it on control-plane nodes (beside
    /// [`LayoutPaths::cluster_ca`]); none for agent-managed layouts, whose agents hold no CA key.
    pub fn cluster_ca_key(self) -> Option<&'static str> {
        match self {
            Layout::Kubeadm => Some("/etc/kubernetes/pki/ca.key"),
            Layout::Kubespray => Some("/etc/kubernetes/ssl/ca.key"),
            Layout::CoreosSsl => Some("/etc/kubernetes/ssl/ca-key.pem"),
            Layout::K3s | Layout::Rke2 => None,
        }
    }

    /// The cluster-admin kubeconfig kubeadm-style control-plane nodes keep.
    pub fn admin_kubeconfig(self) -> Option<&'static str> {
        match self {
            Layout::Kubeadm | Layout::Kubespray => Some("/etc/kubernetes/admin.conf"),
            Layout::CoreosSsl | Layout::K3s | Layout::Rke2 => None,
        }
    }

    /// True for layouts whose agent (not a CSR) renews the kubelet's certificates.
    pub(crate) fn agent_managed(self) -> bool {
        matches!(self, Layout::K3s | Layout::Rke2)
    }
}
