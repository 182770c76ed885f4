//! A kubeadm control-plane node tree made by the real kubeadm, offline (`--rootfs`, which chroots):
//! `init phase certs all`, `init phase kubeconfig all` and the static pod manifests
//! (`init phase control-plane all`, `init phase etcd local`), for renewal and doctor tests that
//! compare kubecert with kubeadm itself.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The node's name and the address kubeadm advertises (both end up in the SANs).
pub const NODE: &str = "cp1";
/// kube-apiserver `--advertise-address`, etcd's listen URLs.
pub const ADVERTISE: &str = "10.250.0.5";

/// Makes a control-plane tree at `root` (created) with `kubeadm`; returns `root`.
pub fn kubeadm_control_plane(kubeadm: &Path, root: &Path) -> PathBuf {
    std::fs::create_dir_all(root.join("etc/kubernetes/pki")).expect("mkdir pki");
    std::fs::write(root.join("etc/hostname"), format!("{NODE}\n")).expect("hostname");
    std::fs::write(root.join("kubeadm.yaml"), config()).expect("kubeadm config");
    for phase in [&["certs", "all"][..], &["kubeconfig", "all"], &["control-plane", "all"], &["etcd", "local"]] {
        kubeadm_run(kubeadm, root, &[&["init", "phase"][..], phase, &["--config", "/kubeadm.yaml"]].concat());
    }
    root.to_path_buf()
}

/// The kubeadm configuration the tree is made with (also what `kubeadm certs renew --config` needs).
pub fn config() -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: {ADVERTISE}\n  bindPort: 6443\nnodeRegistration:\n  name: {NODE}\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.37.2\ncertificatesDir: /etc/kubernetes/pki\nclusterName: kubernetes\ncontrolPlaneEndpoint: {ADVERTISE}:6443\n"
    )
}

/// Runs `kubeadm ARGS --rootfs ROOT`; returns stdout, panics with the output on failure.
pub fn kubeadm_run(kubeadm: &Path, root: &Path, args: &[&str]) -> String {
    let out = Command::new(kubeadm).args(args).arg("--rootfs").arg(root).output().expect("run kubeadm");
    assert!(
        out.status.success(),
        "kubeadm {args:?} --rootfs {} failed:\n{}\n{}",
        root.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
