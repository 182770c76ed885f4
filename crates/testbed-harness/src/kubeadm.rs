//! For the control-plane tests: a kubeadm-made tree (the real kubeadm from the testbed),
//! certificates read the way kubeadm reads them (PEM files, kubeconfigs' embedded data), and
//! openssl to make altered ones (`openssl ca -startdate/-enddate` for exact validity windows).

use kubecert_pki::Certificate;
use crate::controlplane;
use crate::openssl::{openssl_date, openssl_sign};
use crate::run::sh;
use crate::Cluster;
pub use crate::run::{kubecert, kubecert_env, json};
use std::path::{Path, PathBuf};

/// Every name `kubeadm certs renew all` renews, with the file it lives in.
pub const RENEWED: &[(&str, &str)] = &[
    ("admin.conf", "etc/kubernetes/admin.conf"),
    ("apiserver", "etc/kubernetes/pki/apiserver.crt"),
    ("apiserver-etcd-client", "etc/kubernetes/pki/apiserver-etcd-client.crt"),
    ("apiserver-kubelet-client", "etc/kubernetes/pki/apiserver-kubelet-client.crt"),
    ("controller-manager.conf", "etc/kubernetes/controller-manager.conf"),
    ("etcd-healthcheck-client", "etc/kubernetes/pki/etcd/healthcheck-client.crt"),
    ("etcd-peer", "etc/kubernetes/pki/etcd/peer.crt"),
    ("etcd-server", "etc/kubernetes/pki/etcd/server.crt"),
    ("front-proxy-client", "etc/kubernetes/pki/front-proxy-client.crt"),
    ("scheduler.conf", "etc/kubernetes/scheduler.conf"),
    ("super-admin.conf", "etc/kubernetes/super-admin.conf"),
];

/// The real kubeadm v1.37.2 the testbed built.
pub fn kubeadm() -> PathBuf {
    let k = Cluster::shared().bin("kubeadm");
    assert!(k.exists(), "{} is missing: run `testbed/testbed build`", k.display());
    k
}

/// A fresh kubeadm control-plane tree in `dir/name`.
pub fn kubeadm_tree(dir: &Path, name: &str) -> PathBuf {
    controlplane::kubeadm_control_plane(&kubeadm(), &dir.join(name))
}

/// `kubeadm ARGS --rootfs ROOT`.
pub fn kubeadm_in(root: &Path, args: &[&str]) -> String {
    controlplane::kubeadm_run(&kubeadm(), root, args)
}

/// The certificate a catalog file holds: a PEM file's first, or a kubeconfig's client-certificate-data.
pub fn cert_at(root: &Path, rel: &str) -> Certificate {
    let bytes = std::fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    if rel.ends_with(".conf") {
        let k = kubecert_config::Kubeconfig::parse(&bytes).unwrap();
        let r = k.resolve(None).unwrap();
        kubecert_pki::load_bundle_base64(r.user.client_certificate_data.as_deref().expect("embedded cert")).unwrap().certificates.remove(0)
    } else {
        kubecert_pki::load_certificates(&bytes).unwrap().remove(0)
    }
}

/// The CA a kubeconfig embeds.
pub fn kubeconfig_ca(root: &Path, rel: &str) -> Certificate {
    let k = kubecert_config::Kubeconfig::parse(&std::fs::read(root.join(rel)).unwrap()).unwrap();
    let r = k.resolve(None).unwrap();
    kubecert_pki::load_bundle_base64(r.cluster.certificate_authority_data.as_deref().expect("embedded CA")).unwrap().certificates.remove(0)
}

/// `cp -a from to`.
pub fn copy_tree(from: &Path, to: &Path) {
    let (ok, out) = sh("cp", &["-a", &from.display().to_string(), &to.display().to_string()]);
    assert!(ok, "{out}");
}

/// Re-signs the leaf `rel` of `root` (same key, subject, SANs and usages) so that it expires in `days`.
pub fn resign_expiring(root: &Path, rel: &str, ca_base: &str, days: i64) {
    let cert = cert_at(root, rel);
    let i = cert.info();
    let mut subj = String::new();
    for o in &i.organizations {
        subj.push_str(&format!("/O={o}"));
    }
    subj.push_str(&format!("/CN={}", i.common_names[0]));
    let mut ext = String::from("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n");
    ext.push_str(&format!("extendedKeyUsage={}\n", i.extended_key_usages.join(",")));
    let sans: Vec<String> = i.dns_names.iter().map(|d| format!("DNS:{d}")).chain(i.ip_addresses.iter().map(|a| format!("IP:{a}"))).collect();
    if !sans.is_empty() {
        ext.push_str(&format!("subjectAltName={}\n", sans.join(",")));
    }
    let path = root.join(rel);
    let key = path.with_extension("key");
    openssl_sign(&root.join(ca_base), &key, &subj, &ext, &openssl_date(-300), &openssl_date(days), &path);
}

/// Every regular file under `root` with its bytes, sorted (to compare trees byte for byte).
pub fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// `files` without kubecert's own backup folder.
pub fn node_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    files(root).into_iter().filter(|(p, _)| !p.starts_with("var/lib/kubecert")).collect()
}

/// What the kubelet's rotation would hold for `cn` (cert + key in one PEM, in system:nodes, by the
/// tree's cluster CA, valid for 300 days), written to the tree's kubelet-client-current.pem.
pub fn write_rotating_client(root: &Path, work: &Path, cn: &str) {
    let pki = root.join("var/lib/kubelet/pki");
    std::fs::create_dir_all(&pki).unwrap();
    let (key, crt) = (work.join("k.key"), work.join("k.crt"));
    let ext = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n";
    openssl_sign(&root.join("etc/kubernetes/pki/ca"), &key, &format!("/O=system:nodes/CN={cn}"), ext, &openssl_date(-1), &openssl_date(300), &crt);
    let mut pem = std::fs::read(&crt).unwrap();
    pem.extend(std::fs::read(&key).unwrap());
    std::fs::write(pki.join("kubelet-client-current.pem"), pem).unwrap();
}
