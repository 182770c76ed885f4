//! For the new-certificate and install tests: copy a node's
//! credential into another tree (field report 004), and act with the credential a node tree holds
//! exactly as its kubelet would (kubeconfig paths resolved inside the tree).

use crate::run::sh;
pub use crate::run::{kubecert, kubecert_env};
use std::fs;
use std::path::{Path, PathBuf};

/// `cp -a` of n1's `var/lib/kubelet/pki/*` and `etc/kubernetes/kubelet.conf` into `to` (report 004's copy).
pub fn copy_credential(from: &Path, to: &Path) {
    let (ok, out) = sh("cp", &["-a", &format!("{}/var/lib/kubelet/pki/.", from.display()), &format!("{}/var/lib/kubelet/pki/", to.display())]);
    assert!(ok, "{out}");
    let (ok, out) = sh("cp", &["-a", &format!("{}/etc/kubernetes/kubelet.conf", from.display()), &format!("{}/etc/kubernetes/", to.display())]);
    assert!(ok, "{out}");
}

/// A kubeconfig on the host that holds exactly the credential the kubelet in `tree` would use:
/// its kubelet.conf, with the client cert/key (found through the absolute link, inside the tree)
/// copied next to it. The server and CA come from the tree's kubelet.conf too.
pub struct NodeCredential {
    /// Holds the copied files and the kubeconfig (removed on drop).
    pub dir: tempfile::TempDir,
    /// The kubeconfig with the tree's credential.
    pub kubeconfig: PathBuf,
}

/// The credential `tree`'s kubelet would use, as a kubeconfig on the host.
pub fn node_credential(tree: &Path) -> NodeCredential {
    let root = kubecert_node::NodeRoot::new(tree).unwrap();
    let kc_file = root.read("/etc/kubernetes/kubelet.conf").expect("kubelet.conf");
    let mut kc = kubecert_config::Kubeconfig::parse(&kc_file.bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let r = kc.resolve(None).unwrap();
    let (user_name, cluster_name) = (r.user_name.to_string(), r.cluster_name.to_string());
    let fetch = |p: &Option<String>, name: &str| -> Option<String> {
        let p = p.as_ref()?;
        let f = root.read(&kubecert_node::root::relative_to("/etc/kubernetes/kubelet.conf", p)).expect("client file");
        let host = dir.path().join(name);
        fs::write(&host, &f.bytes).unwrap();
        Some(host.display().to_string())
    };
    let cert = fetch(&r.user.client_certificate, "client.crt");
    let key = fetch(&r.user.client_key, "client.key");
    let ca = fetch(&r.cluster.certificate_authority, "ca.crt");
    let u = kc.users.iter_mut().find(|u| u.name == user_name).unwrap();
    if cert.is_some() {
        u.user.client_certificate = cert;
        u.user.client_key = key;
    }
    let c = kc.clusters.iter_mut().find(|c| c.name == cluster_name).unwrap();
    if ca.is_some() {
        c.cluster.certificate_authority = ca;
    }
    let kubeconfig = dir.path().join("kubeconfig");
    fs::write(&kubeconfig, kc.to_yaml().unwrap()).unwrap();
    NodeCredential { dir, kubeconfig }
}

/// A deterministic listing of a tree (path, kind, mode, bytes or link target), skipping kubecert's own
/// backup store: equal snapshots mean byte-for-byte equal nodes.
pub fn snapshot(tree: &Path) -> Vec<(String, String)> {
    use std::os::unix::fs::PermissionsExt;
    fn walk(base: &Path, p: &Path, out: &mut Vec<(String, String)>) {
        let Ok(rd) = fs::read_dir(p) else { return };
        for e in rd {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if rel.starts_with("var/lib/kubecert") {
                continue;
            }
            let m = fs::symlink_metadata(e.path()).unwrap();
            if m.file_type().is_symlink() {
                out.push((rel, format!("link {}", fs::read_link(e.path()).unwrap().display())));
            } else if m.is_dir() {
                out.push((rel.clone(), format!("dir {:o}", m.permissions().mode() & 0o7777)));
                walk(base, &e.path(), out);
            } else if !m.is_file() {
                out.push((rel, "special".into())); // sockets the kubelet made
            } else {
                let bytes = fs::read(e.path()).unwrap();
                out.push((rel, format!("file {:o} {}", m.permissions().mode() & 0o7777, hex(&bytes))));
            }
        }
    }
    let mut out = Vec::new();
    walk(tree, tree, &mut out);
    out.sort();
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Asserts two snapshots are equal, naming only the paths that differ.
#[track_caller]
pub fn assert_same_tree(now: &[(String, String)], before: &[(String, String)], what: &str) {
    if now == before {
        return;
    }
    let mut diff = Vec::new();
    for (p, v) in now {
        match before.iter().find(|(q, _)| q == p) {
            None => diff.push(format!("+ {p} ({})", v.chars().take(40).collect::<String>())),
            Some((_, w)) if w != v => diff.push(format!("~ {p} (was {}, now {})", w.chars().take(40).collect::<String>(), v.chars().take(40).collect::<String>())),
            _ => {}
        }
    }
    for (p, _) in before {
        if !now.iter().any(|(q, _)| q == p) {
            diff.push(format!("- {p}"));
        }
    }
    panic!("{what}: the node differs from before:\n  {}", diff.join("\n  "));
}
