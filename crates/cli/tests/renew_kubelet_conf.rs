//! `renew kubelet.conf` (kubeadm#2054) on trees made by the real kubeadm: `kubeadm init phase
//! kubeconfig all` leaves kubelet.conf embedding a one-year `system:node:cp1` certificate. kubeadm's
//! `certs renew all` leaves it alone, and so does `kubecert renew all`; named, kubecert points it at
//! the kubelet's rotating certificate when that is valid for the node (what kubeadm's
//! kubelet-finalize does), else re-issues it from ca.key.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::kubeadm::*;

const CONF: &str = "etc/kubernetes/kubelet.conf";

fn user(root: &std::path::Path) -> kubecert_config::User {
    let k = kubecert_config::Kubeconfig::parse(&std::fs::read(root.join(CONF)).unwrap()).unwrap();
    k.resolve(None).unwrap().user.clone()
}

#[test]
fn renew_all_leaves_kubelet_conf_alone_and_by_name_reissues_it() {
    let dir = tempfile::tempdir().unwrap();
    let t = kubeadm_tree(dir.path(), "t");
    let before = std::fs::read(t.join(CONF)).unwrap();
    let root = t.display().to_string();
    let o = kubecert(&["renew", "all", "--force", "--root", &root]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(t.join(CONF)).unwrap(), before, "renew all changed kubelet.conf");

    let old = cert_at(&t, CONF);
    let o = kubecert(&["renew", "kubelet.conf", "--force", "--root", &root]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("restart the kubelet"), "{}", text(&o));
    let new = cert_at(&t, CONF);
    assert_ne!(new.der(), old.der());
    let (n, o_) = (new.info(), old.info());
    assert_eq!((&n.common_names, &n.organizations, &n.extended_key_usages), (&o_.common_names, &o_.organizations, &o_.extended_key_usages));
    assert_eq!(n.common_names, ["system:node:cp1"]);
    // Signed by the cluster CA (openssl, independently of kubecert).
    let pem = dir.path().join("new.pem");
    std::fs::write(&pem, new.to_pem()).unwrap();
    let (ok, out) = sh("openssl", &["verify", "-CAfile", &t.join("etc/kubernetes/pki/ca.crt").display().to_string(), &pem.display().to_string()]);
    assert!(ok, "{out}");
    // The real kubeadm still reads the tree.
    kubeadm_in(&t, &["certs", "check-expiration", "--config", "/kubeadm.yaml"]);
}

#[test]
fn kubelet_conf_is_pointed_at_a_valid_rotating_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let t = kubeadm_tree(dir.path(), "t");
    let root = t.display().to_string();
    write_rotating_client(&t, dir.path(), "system:node:cp1");
    // The dry run says it would point kubelet.conf at it.
    let o = kubecert(&["renew", "kubelet.conf", "--force", "--dry-run", "--root", &root]);
    assert!(text(&o).contains("rotating certificate"), "{}", text(&o));

    let o = kubecert(&["renew", "kubelet.conf", "--force", "--root", &root]);
    assert!(o.status.success(), "{}", text(&o));
    let u = user(&t);
    assert_eq!(u.client_certificate.as_deref(), Some("/var/lib/kubelet/pki/kubelet-client-current.pem"));
    assert_eq!(u.client_key.as_deref(), Some("/var/lib/kubelet/pki/kubelet-client-current.pem"));
    assert!(u.client_certificate_data.is_none() && u.client_key_data.is_none());
    // Nothing embedded any more: a second run has nothing to renew.
    let o = kubecert(&["renew", "kubelet.conf", "--force", "--root", &root]);
    assert!(o.status.success() && text(&o).contains("points at a file"), "{}", text(&o));
    // `kubecert rollback` puts the embedded one back.
    let o = kubecert(&["rollback", "--root", &root]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(user(&t).client_certificate_data.is_some());
}

#[test]
fn a_rotating_certificate_of_another_node_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let t = kubeadm_tree(dir.path(), "t");
    write_rotating_client(&t, dir.path(), "system:node:other");
    let o = kubecert(&["renew", "kubelet.conf", "--force", "--root", &t.display().to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(user(&t).client_certificate_data.is_some(), "pointed at another node's certificate");
    assert_eq!(cert_at(&t, CONF).info().common_names, ["system:node:cp1"]);
}
