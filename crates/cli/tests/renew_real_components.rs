//! A renewal proven by the real components: a kubeadm-made tree (the real kubeadm), etcd,
//! kube-apiserver and kube-controller-manager v1.37.2 running from its files as the static pods
//! would; `kubecert renew all --force`; each component restarted; then the API server serves the
//! new certificate (openssl s_client), etcd serves its new one and accepts the API server's new
//! client certificate, admin.conf's new credential works, and the controller-manager works with
//! its renewed kubeconfig (it creates a new namespace's ServiceAccount).


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::kubeadm::*;
use kubecert_testbed_harness::controlplane::{kubeadm_control_plane_local, Component, RunningControlPlane};
use kubecert_testbed_harness::ports::free_ports;



#[test]
fn renewed_files_are_used_by_real_etcd_apiserver_and_controller_manager() {
    let dir = tempfile::tempdir().unwrap();
    let api = free_ports(1)[0];
    let t = kubeadm_control_plane_local(&kubeadm(), &dir.path().join("tree"), api);
    let pki = t.join("etc/kubernetes/pki");
    let bin = kubeadm().parent().unwrap().to_path_buf();
    let mut cp = RunningControlPlane::start(&bin, &t, api, &dir.path().join("logs"));
    // What kubeadm init does with super-admin.conf: the group admin.conf is in gets cluster-admin.
    let (ok, out) = cp.kubectl("super-admin.conf", &["create", "clusterrolebinding", "kubeadm:cluster-admins", "--clusterrole=cluster-admin", "--group=kubeadm:cluster-admins"]);
    assert!(ok, "{out}");
    let (ok, out) = cp.kubectl("admin.conf", &["get", "namespace", "kube-system"]);
    assert!(ok, "admin.conf before renewal: {out}");
    let etcd_client = (pki.join("apiserver-etcd-client.crt"), pki.join("apiserver-etcd-client.key"));
    let old_api = served_serial(api, None);
    let old_etcd = served_serial(cp.etcd_port, Some((&etcd_client.0, &etcd_client.1)));
    assert_eq!(old_api, file_serial(&pki.join("apiserver.crt")));
    let old_admin = cert_at(&t, "etc/kubernetes/admin.conf");

    let o = kubecert(&["renew", "all", "--force", "--root", &t.display().to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("kube-apiserver, kube-controller-manager, kube-scheduler, etcd must restart"), "{}", text(&o));
    let new_api = file_serial(&pki.join("apiserver.crt"));
    assert_ne!(new_api, old_api);
    // (kube-apiserver reloads its serving pair from disk by itself — seen here: it served the new
    // serial before any restart — but not its etcd client, kubelet client or front-proxy pairs.)

    // Restart as the static pods would be: etcd first here (the API server needs it), then the API server, then the KCM.
    cp.restart(Component::Etcd);
    cp.restart(Component::Apiserver);
    cp.restart(Component::ControllerManager);

    assert_eq!(served_serial(api, None), new_api, "the API server does not serve the renewed apiserver.crt");
    let new_etcd = served_serial(cp.etcd_port, Some((&etcd_client.0, &etcd_client.1)));
    assert_ne!(new_etcd, old_etcd);
    assert_eq!(new_etcd, file_serial(&pki.join("etcd/server.crt")), "etcd does not serve the renewed server.crt");
    // The API server reaches etcd with its renewed client certificate: a write goes through.
    let (ok, out) = cp.kubectl("admin.conf", &["get", "--raw", "/readyz/etcd"]);
    assert!(ok, "{out}");
    let (ok, out) = cp.kubectl("admin.conf", &["create", "configmap", "renewed", "--from-literal=by=kubecert"]);
    assert!(ok, "a write through the renewed apiserver-etcd-client: {out}");
    // admin.conf's renewed credential (a new certificate) works.
    assert_ne!(cert_at(&t, "etc/kubernetes/admin.conf").der(), old_admin.der());
    let (ok, out) = cp.kubectl("admin.conf", &["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert!(ok && out.contains("kubernetes-admin"), "{out}");
    // The controller-manager, on its renewed kubeconfig, creates the new namespace's ServiceAccount.
    let (ok, out) = cp.kubectl("admin.conf", &["create", "namespace", "after-renewal"]);
    assert!(ok, "{out}");
    let mut sa = (false, String::new());
    for _ in 0..300 {
        sa = cp.kubectl("admin.conf", &["-n", "after-renewal", "get", "serviceaccount", "default"]);
        if sa.0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(sa.0, "kube-controller-manager did not create the ServiceAccount after the renewal: {}", sa.1);
}
