//! The one declarative list of what a kubeadm control-plane node holds (kubeadm's
//! `phases/certs/certlist.go` and `renewal.NewManager`): the CAs, the leaf certificates and the
//! kubeconfigs with an embedded client certificate. `check-expiration`, `renew` and the
//! control-plane rules all walk it.

/// Where a certificate lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A PEM file; the key is beside it (`.crt` → `.key`).
    File(&'static str),
    /// The current user's client certificate in a kubeconfig (embedded or by path).
    Kubeconfig(&'static str),
}

impl Location {
    /// The node path of the file.
    pub fn path(&self) -> &'static str {
        match self {
            Location::File(p) | Location::Kubeconfig(p) => p,
        }
    }
}

/// A control-plane component that loads certificates (restarted after a renewal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    /// kube-apiserver.
    KubeApiserver,
    /// kube-controller-manager.
    KubeControllerManager,
    /// kube-scheduler.
    KubeScheduler,
    /// etcd.
    Etcd,
}

impl Component {
    /// The static pod manifest's file name stem (`kube-apiserver`).
    pub fn name(&self) -> &'static str {
        match self {
            Component::KubeApiserver => "kube-apiserver",
            Component::KubeControllerManager => "kube-controller-manager",
            Component::KubeScheduler => "kube-scheduler",
            Component::Etcd => "etcd",
        }
    }
}

/// One certificate kubeadm-style nodes may hold.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// kubeadm's name (`apiserver`, `admin.conf`).
    pub name: &'static str,
    /// Where it is.
    pub location: Location,
    /// The issuing CA's catalog name (`ca`, `etcd-ca`, `front-proxy-ca`).
    pub ca: &'static str,
    /// Listed as missing on a control-plane node when absent (kubeadm's list); other entries only when present.
    pub control_plane: bool,
    /// Renewed by `kubeadm certs renew all` (and so by `kubecert renew all`).
    pub renewable: bool,
    /// The components that load it and must restart to use a renewed one (none: read per use).
    pub used_by: &'static [Component],
}

use Component::{Etcd, KubeApiserver, KubeControllerManager, KubeScheduler};

/// The CAs: name and certificate path (the key is beside it).
pub(crate) const CAS: &[(&str, &str)] = &[
    ("ca", "/etc/kubernetes/pki/ca.crt"),
    ("etcd-ca", "/etc/kubernetes/pki/etcd/ca.crt"),
    ("front-proxy-ca", "/etc/kubernetes/pki/front-proxy-ca.crt"),
];

/// Every leaf, in kubeadm's (alphabetical) order.
pub(crate) const CATALOG: &[Entry] = &[
    Entry { name: "admin.conf", location: Location::Kubeconfig("/etc/kubernetes/admin.conf"), ca: "ca", control_plane: true, renewable: true, used_by: &[] },
    Entry { name: "apiserver", location: Location::File("/etc/kubernetes/pki/apiserver.crt"), ca: "ca", control_plane: true, renewable: true, used_by: &[KubeApiserver] },
    Entry { name: "apiserver-etcd-client", location: Location::File("/etc/kubernetes/pki/apiserver-etcd-client.crt"), ca: "etcd-ca", control_plane: true, renewable: true, used_by: &[KubeApiserver] },
    Entry { name: "apiserver-kubelet-client", location: Location::File("/etc/kubernetes/pki/apiserver-kubelet-client.crt"), ca: "ca", control_plane: true, renewable: true, used_by: &[KubeApiserver] },
    Entry { name: "controller-manager.conf", location: Location::Kubeconfig("/etc/kubernetes/controller-manager.conf"), ca: "ca", control_plane: true, renewable: true, used_by: &[KubeControllerManager] },
    Entry { name: "etcd-healthcheck-client", location: Location::File("/etc/kubernetes/pki/etcd/healthcheck-client.crt"), ca: "etcd-ca", control_plane: true, renewable: true, used_by: &[] },
    Entry { name: "etcd-peer", location: Location::File("/etc/kubernetes/pki/etcd/peer.crt"), ca: "etcd-ca", control_plane: true, renewable: true, used_by: &[Etcd] },
    Entry { name: "etcd-server", location: Location::File("/etc/kubernetes/pki/etcd/server.crt"), ca: "etcd-ca", control_plane: true, renewable: true, used_by: &[Etcd] },
    Entry { name: "front-proxy-client", location: Location::File("/etc/kubernetes/pki/front-proxy-client.crt"), ca: "front-proxy-ca", control_plane: true, renewable: true, used_by: &[KubeApiserver] },
    Entry { name: "scheduler.conf", location: Location::Kubeconfig("/etc/kubernetes/scheduler.conf"), ca: "ca", control_plane: true, renewable: true, used_by: &[KubeScheduler] },
    Entry { name: "super-admin.conf", location: Location::Kubeconfig("/etc/kubernetes/super-admin.conf"), ca: "ca", control_plane: false, renewable: true, used_by: &[] },
];

/// kubelet.conf: renewed only when named. kubeadm's renewal leaves it alone (after `init` it points
/// at the kubelet's rotating certificate), but on the first control-plane node of older clusters it
/// still embeds the one-year certificate `init` made (kubeadm#2054).
pub(crate) const KUBELET_CONF: Entry = Entry { name: "kubelet.conf", location: Location::Kubeconfig("/etc/kubernetes/kubelet.conf"), ca: "ca", control_plane: false, renewable: false, used_by: &[] };

/// The kubelet's rotating client certificate and key (kubeadm's KubeletDir/pki, as `kubelet-finalize` uses it).
pub(crate) const KUBELET_CLIENT_CURRENT: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";

/// The CA's certificate path by catalog name.
pub(crate) fn ca_path(name: &str) -> Option<&'static str> {
    CAS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

/// `x.crt` → `x.key` (kubeadm's PathsForCertAndKey).
pub(crate) fn key_path(cert_path: &str) -> String {
    match cert_path.strip_suffix(".crt") {
        Some(stem) => format!("{stem}.key"),
        None => format!("{cert_path}.key"),
    }
}

/// The entry named `name`.
pub fn entry(name: &str) -> Option<&'static Entry> {
    CATALOG.iter().find(|e| e.name == name).or((name == KUBELET_CONF.name).then_some(&KUBELET_CONF))
}
