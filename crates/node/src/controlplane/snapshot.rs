//! What a control-plane node holds, read once for the control-plane rules: the CAs, every catalog
//! leaf with its key, the kubeconfigs' embedded CA, `sa.key`/`sa.pub`, and the addresses and
//! names the certificates must cover (static pod manifests' flags, the hostname).

use super::catalog::{self, Entry, Location, CAS, CATALOG};
use super::{load_cert, load_embedded_kubeconfig, load_key, EmbeddedError, LoadError};
use crate::root::NodeRoot;
use kubecert_pki::{Certificate, PrivateKey};

/// A CA file and whether its key is here.
#[derive(Debug)]
pub struct CaFile {
    /// Catalog name.
    pub name: &'static str,
    /// Certificate path.
    pub path: &'static str,
    /// The certificate.
    pub cert: Result<Certificate, LoadError>,
}

/// A catalog leaf as found.
#[derive(Debug)]
pub struct Leaf {
    /// The catalog entry.
    pub entry: &'static Entry,
    /// The certificate.
    pub cert: Result<Certificate, LoadError>,
    /// Its key (the `.key` file, or the kubeconfig's client-key-data); `None` when absent.
    pub key: Option<Result<PrivateKey, KeyError>>,
    /// For kubeconfigs: the embedded cluster CA.
    pub embedded_ca: Option<Result<Certificate, EmbeddedError>>,
}

/// Why a leaf's key cannot be used: its `.key` file, or its kubeconfig's client-key-data.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The `.key` file.
    #[error(transparent)]
    File(#[from] LoadError),
    /// The kubeconfig's client-key-data.
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
}

/// Addresses and names this node's serving certificates must cover.
#[derive(Debug, Default)]
pub struct NodeNames {
    /// kube-apiserver `--advertise-address`.
    pub advertise_address: Option<String>,
    /// Hosts of etcd's `--listen-client-urls`.
    pub etcd_client_hosts: Vec<String>,
    /// Hosts of etcd's `--listen-peer-urls`.
    pub etcd_peer_hosts: Vec<String>,
    /// The node's hostname (`/etc/hostname`), lowercased.
    pub hostname: Option<String>,
    /// The static pod manifests the values came from.
    pub sources: Vec<String>,
}

/// The control-plane part of a node snapshot.
#[derive(Debug)]
pub struct ControlPlane {
    /// The CAs.
    pub cas: Vec<CaFile>,
    /// Every catalog leaf that is present, or required and missing.
    pub leaves: Vec<Leaf>,
    /// `sa.key` (None when absent).
    pub sa_key: Option<Result<PrivateKey, LoadError>>,
    /// `sa.pub` as DER SPKI (None when absent).
    pub sa_pub: Option<Result<Vec<u8>, LoadError>>,
    /// What the serving certificates must cover.
    pub names: NodeNames,
    /// kubelet.conf embeds its client certificate (no rotation; kubeadm#2054).
    pub kubelet_conf_embedded: Option<Certificate>,
}

impl ControlPlane {
    /// The CA certificate by catalog name, when it loaded.
    pub fn ca(&self, name: &str) -> Option<&Certificate> {
        self.cas.iter().find(|c| c.name == name).and_then(|c| c.cert.as_ref().ok())
    }
}

const SA_KEY: &str = "/etc/kubernetes/pki/sa.key";
const SA_PUB: &str = "/etc/kubernetes/pki/sa.pub";
const MANIFESTS: &str = "/etc/kubernetes/manifests";

/// Reads the control plane under `root`, or `None` on a node that is not one.
pub fn take(root: &NodeRoot) -> Option<ControlPlane> {
    if !super::is_control_plane(root) {
        return None;
    }
    let cas = CAS.iter().map(|(name, path)| CaFile { name, path, cert: load_cert(root, path) }).collect();
    let mut leaves = Vec::new();
    for entry in CATALOG {
        let leaf = match entry.location {
            Location::File(p) => {
                let cert = load_cert(root, p);
                let key = match load_key(root, &catalog::key_path(p)) {
                    Err(e) if e.is_missing() => None,
                    k => Some(k.map_err(KeyError::File)),
                };
                Leaf { entry, cert, key, embedded_ca: None }
            }
            Location::Kubeconfig(p) => match load_embedded_kubeconfig(root, p) {
                Ok(k) => Leaf { entry, cert: Ok(k.cert), key: k.key.map(|r| r.map_err(KeyError::Embedded)), embedded_ca: k.ca },
                Err(e) => Leaf { entry, cert: Err(e), key: None, embedded_ca: None },
            },
        };
        if matches!(&leaf.cert, Err(e) if e.is_missing()) && !entry.control_plane {
            continue;
        }
        leaves.push(leaf);
    }
    let sa_key = match load_key(root, SA_KEY) {
        Err(e) if e.is_missing() => None,
        k => Some(k),
    };
    let sa_pub = match root.read(SA_PUB) {
        Err(crate::root::ReadError::NotFound { .. }) => None,
        Err(e) => Some(Err(LoadError::from_read(SA_PUB, e))),
        Ok(f) => Some(kubecert_pki::load_public_key(&f.bytes).map_err(|e| LoadError::invalid(SA_PUB, e))),
    };
    let kubelet_conf_embedded = load_embedded_kubeconfig(root, "/etc/kubernetes/kubelet.conf").ok().map(|k| k.cert);
    Some(ControlPlane { cas, leaves, sa_key, sa_pub, names: names(root), kubelet_conf_embedded })
}

/// The flags' values in a static pod manifest (`- --flag=value` lines of its command).
pub(crate) fn flag(manifest: &str, name: &str) -> Option<String> {
    let prefix = format!("--{name}=");
    manifest.lines().find_map(|l| {
        let l = l.trim().trim_start_matches('-').trim().trim_matches(|c| c == '"' || c == '\'');
        let l = l.strip_prefix(&prefix[2..]).or_else(|| l.strip_prefix(&prefix))?;
        Some(l.trim_matches(|c| c == '"' || c == '\'').to_string())
    })
}

/// `https://10.0.0.1:2379,https://127.0.0.1:2379` → hosts.
fn url_hosts(urls: &str) -> Vec<String> {
    urls.split(',')
        .filter_map(|u| {
            let rest = u.trim().split("://").nth(1)?;
            let hostport = rest.split('/').next()?;
            let host = match hostport.strip_prefix('[') {
                Some(v6) => v6.split(']').next()?.to_string(),
                None => hostport.rsplit_once(':').map(|(h, _)| h).unwrap_or(hostport).to_string(),
            };
            (!host.is_empty()).then_some(host)
        })
        .collect()
}

fn names(root: &NodeRoot) -> NodeNames {
    let mut n = NodeNames::default();
    let read = |file: &str| root.read(&format!("{MANIFESTS}/{file}")).ok().map(|f| String::from_utf8_lossy(&f.bytes).into_owned());
    if let Some(m) = read("kube-apiserver.yaml") {
        n.advertise_address = flag(&m, "advertise-address");
        n.sources.push(format!("{MANIFESTS}/kube-apiserver.yaml"));
    }
    if let Some(m) = read("etcd.yaml") {
        n.etcd_client_hosts = flag(&m, "listen-client-urls").map(|u| url_hosts(&u)).unwrap_or_default();
        n.etcd_peer_hosts = flag(&m, "listen-peer-urls").map(|u| url_hosts(&u)).unwrap_or_default();
        n.sources.push(format!("{MANIFESTS}/etcd.yaml"));
    }
    n.hostname = super::hostname(root);
    n
}

#[cfg(test)]
mod tests {
    use super::{flag, url_hosts};

    #[test]
    fn reads_static_pod_flags_and_url_hosts() {
        let m = "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --advertise-address=10.0.0.5\n    - \"--etcd-servers=https://127.0.0.1:2379\"\n";
        assert_eq!(flag(m, "advertise-address").as_deref(), Some("10.0.0.5"));
        assert_eq!(flag(m, "etcd-servers").as_deref(), Some("https://127.0.0.1:2379"));
        assert_eq!(flag(m, "bind-address"), None);
        assert_eq!(url_hosts("https://127.0.0.1:2379,https://10.0.0.5:2379"), vec!["127.0.0.1", "10.0.0.5"]);
        assert_eq!(url_hosts("https://[fd00::1]:2379,http://localhost:2379/x"), vec!["fd00::1", "localhost"]);
    }
}
