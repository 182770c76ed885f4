//! Healthy nodes of every recognised layout are clean, and their files are found where each
//! distribution keeps them; openssl-made trees (scripts/sample-node) give the field reports' codes.

mod common;

use common::*;
use kubecert_node::{Layout, NodeRoot, Overrides};
use kubecert_pki::{node_common_name, NODES_GROUP};
use std::os::unix::fs::symlink;
use time::Duration;

fn layout_of(t: &NodeTree) -> Layout {
    kubecert_node::discover::discover(&NodeRoot::new(t.root()).unwrap(), &Overrides::default()).layout
}

#[test]
fn kubespray_node_is_recognised_and_clean() {
    let t = NodeTree::kubeadm("spray-1");
    // kubespray: its own env file and config path, unit in /etc/systemd/system/kubelet.service.
    t.remove("/etc/systemd/system/kubelet.service.d");
    t.remove("/var/lib/kubelet/kubeadm-flags.env");
    let cfg = std::fs::read_to_string(t.host("/var/lib/kubelet/config.yaml")).unwrap();
    t.remove("/var/lib/kubelet/config.yaml");
    t.write("/etc/kubernetes/kubelet-config.yaml", &cfg, 0o644);
    t.write("/etc/kubernetes/kubelet.env", "KUBELET_ADDRESS=\"--node-ip=10.0.0.5\"\nKUBELET_HOSTNAME=\"--hostname-override=spray-1\"\nKUBELET_ARGS=\"--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --config=/etc/kubernetes/kubelet-config.yaml --kubeconfig=/etc/kubernetes/kubelet.conf\"\n", 0o644);
    t.write("/etc/systemd/system/kubelet.service", "[Service]\nEnvironmentFile=-/etc/kubernetes/kubelet.env\nExecStart=/usr/local/bin/kubelet $KUBE_LOGTOSTDERR $KUBELET_API_SERVER $KUBELET_ADDRESS $KUBELET_HOSTNAME $KUBELET_ARGS $KUBELET_NETWORK_PLUGIN\n", 0o644);
    t.remove("/etc/hostname");
    assert_eq!(layout_of(&t), Layout::Kubespray);
    let s = kubecert_node::discover::discover(&NodeRoot::new(t.root()).unwrap(), &Overrides::default());
    assert_eq!(s.config.as_deref(), Some("/etc/kubernetes/kubelet-config.yaml"));
    assert_eq!(s.node_name.as_deref(), Some("spray-1"));
    assert_eq!(t.codes(), Vec::<&str>::new());
    // The same node with rotation off is caught through kubespray's config path.
    t.write("/etc/kubernetes/kubelet-config.yaml", "kind: KubeletConfiguration\nrotateCertificates: false\n", 0o644);
    assert_eq!(t.codes(), ["rotation-disabled"]);
}

#[test]
fn coreos_ssl_node_from_field_report_004() {
    let t = NodeTree::kubeadm("w-coreos");
    for p in ["/etc/systemd/system/kubelet.service.d", "/var/lib/kubelet", "/etc/kubernetes/kubelet.conf", "/etc/kubernetes/pki"] {
        t.remove(p);
    }
    let (c, k) = t.ca.client_pem(&node_common_name("w-coreos"), Some(NODES_GROUP), now() - Duration::days(1), now() + Duration::days(300));
    t.write("/etc/kubernetes/ssl/ca.pem", &t.ca.cert_pem, 0o644);
    t.write("/etc/kubernetes/ssl/worker.pem", &c, 0o644);
    t.write("/etc/kubernetes/ssl/worker-key.pem", &k, 0o600);
    t.write("/etc/kubernetes/worker-kubeconfig.yaml", "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    certificate-authority: /etc/kubernetes/ssl/ca.pem\n    server: https://10.0.0.1\nusers:\n- name: kubelet\n  user:\n    client-certificate: /etc/kubernetes/ssl/worker.pem\n    client-key: /etc/kubernetes/ssl/worker-key.pem\ncontexts:\n- context:\n    cluster: local\n    user: kubelet\n  name: kubelet-context\ncurrent-context: kubelet-context\n", 0o644);
    t.write("/etc/systemd/system/kubelet.service", "[Service]\nExecStart=/usr/bin/kubelet \\\n  --kubeconfig=/etc/kubernetes/worker-kubeconfig.yaml \\\n  --rotate-certificates \\\n  --tls-cert-file=/etc/kubernetes/ssl/worker.pem\n", 0o644);
    assert_eq!(layout_of(&t), Layout::CoreosSsl);
    assert_eq!(t.codes(), Vec::<&str>::new());
    // Field report 004: the worker's key and cert vanished.
    t.remove("/etc/kubernetes/ssl/worker-key.pem");
    t.remove("/etc/kubernetes/ssl/worker.pem");
    assert_eq!(t.codes(), ["client-cert-missing"]);
    // ...and another node's copied in.
    let (c2, k2) = t.ca.client_pem(&node_common_name("w-other"), Some(NODES_GROUP), now() - Duration::days(1), now() + Duration::days(300));
    t.write("/etc/kubernetes/ssl/worker.pem", &c2, 0o644);
    t.write("/etc/kubernetes/ssl/worker-key.pem", &k2, 0o644);
    assert_eq!(t.codes(), ["client-cert-identity-mismatch", "key-permissions-too-open"]);
}

#[test]
fn k3s_and_rke2_agents_are_recognised() {
    for (dist, layout) in [("k3s", Layout::K3s), ("rke2", Layout::Rke2)] {
        let t = NodeTree::kubeadm("agent-1");
        let a = format!("/var/lib/rancher/{dist}/agent");
        let (c, k) = t.ca.client_pem(&node_common_name("agent-1"), Some(NODES_GROUP), now() - Duration::days(1), now() + Duration::days(300));
        agent_tree(&t, dist, &t.ca.cert_pem, &c, &k);
        assert_eq!(layout_of(&t), layout, "{dist}");
        assert_eq!(t.codes(), Vec::<&str>::new(), "{dist}");
        assert_eq!(t.all_codes(), ["agent-managed-certs"], "{dist}");
        let (c, k) = t.ca.client_pem(&node_common_name("agent-1"), Some(NODES_GROUP), now() - Duration::days(400), now() - Duration::days(1));
        t.write(&format!("{a}/client-kubelet.crt"), &c, 0o644);
        t.write(&format!("{a}/client-kubelet.key"), &k, 0o600);
        assert_eq!(t.codes(), ["client-cert-expired"], "{dist}");
    }
}

#[test]
fn openssl_made_trees_give_the_field_reports_codes() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/sample-node");
    let d = tempfile::tempdir().unwrap();
    for (scenario, want) in [
        ("healthy", vec![]),
        ("report-000", vec!["bootstrap-kubeconfig-missing", "client-cert-expired", "kubelet-will-not-start"]),
        ("report-004", vec!["bootstrap-kubeconfig-missing", "client-cert-identity-mismatch"]),
    ] {
        let dir = d.path().join(scenario);
        let out = std::process::Command::new(script).arg(&dir).arg(scenario).arg("node-a").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let root = NodeRoot::new(&dir).unwrap();
        let diag = kubecert_node::diagnose(&root, &Overrides::default(), &Default::default());
        let mut codes: Vec<_> = diag.findings.iter().filter(|f| f.severity >= kubecert_node::Severity::Warning).map(|f| f.code).collect();
        codes.sort();
        assert_eq!(codes, want, "{scenario}");
    }
}

#[test]
fn relative_links_and_override_paths() {
    let t = NodeTree::kubeadm("w9");
    // A relative current link works like an absolute one.
    let link = t.host("/var/lib/kubelet/pki/kubelet-client-current.pem");
    let target = std::fs::read_link(&link).unwrap();
    std::fs::remove_file(&link).unwrap();
    symlink(target.file_name().unwrap(), &link).unwrap();
    assert_eq!(t.codes(), Vec::<&str>::new());
    // An explicit --cert-dir that holds nothing is honoured (and the kubeconfig still resolves).
    let ov = Overrides { kubeconfig: Some("/nonexistent.conf".into()), ..Default::default() };
    assert_eq!(t.codes_with(&ov), ["bootstrap-kubeconfig-missing", "kubeconfig-missing", "kubelet-will-not-start"]);
}

/// k3s/rke2 agents trust the API server with server-ca.crt while their client certificates come from
/// a separate client-ca.crt (the API server's --client-ca-file): an agent whose only fault is an
/// expired client certificate has exactly that finding, and the agent's own fix comes first.
#[test]
fn agent_client_ca_is_not_the_server_ca() {
    for (dist, layout) in [("k3s", Layout::K3s), ("rke2", Layout::Rke2)] {
        let t = NodeTree::kubeadm("agent-2");
        let server_ca = TestCa::new(&format!("{dist}-server-ca"));
        let (c, k) = t.ca.client_pem(&node_common_name("agent-2"), Some(NODES_GROUP), now() - Duration::days(400), now() - Duration::days(1));
        agent_tree(&t, dist, &server_ca.cert_pem, &c, &k);
        assert_eq!(layout_of(&t), layout, "{dist}");
        assert_eq!(t.codes(), ["client-cert-expired"], "{dist}");
        let root = NodeRoot::new(t.dir.path()).unwrap();
        let d = kubecert_node::diagnose(&root, &Overrides::default(), &Default::default());
        let f = d.findings.iter().find(|f| f.code == "client-cert-expired").unwrap();
        assert!(f.fix[0].contains(&format!("systemctl restart {dist}-agent")), "{dist}: the agent's own fix first: {:?}", f.fix);
        assert!(!f.fix.iter().any(|x| x.contains("kubecert discover") || x.contains("bootstrap-config")), "{dist}: no kubeadm repairs: {:?}", f.fix);
    }
}

/// Turns `t` into a k3s/rke2 agent: the client CA is `t.ca`, the server CA `server_ca_pem`, the
/// kubelet's client pair `cert`/`key`, and the agent's kubelet.kubeconfig naming them.
fn agent_tree(t: &NodeTree, dist: &str, server_ca_pem: &str, cert: &str, key: &str) {
    for p in ["/etc/systemd/system/kubelet.service.d", "/var/lib/kubelet", "/etc/kubernetes"] {
        t.remove(p);
    }
    let a = format!("/var/lib/rancher/{dist}/agent");
    t.write(&format!("{a}/client-ca.crt"), &t.ca.cert_pem, 0o644);
    t.write(&format!("{a}/server-ca.crt"), server_ca_pem, 0o644);
    t.write(&format!("{a}/client-kubelet.crt"), cert, 0o644);
    t.write(&format!("{a}/client-kubelet.key"), key, 0o600);
    t.write(&format!("{a}/kubelet.kubeconfig"), &format!("apiVersion: v1\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority: {a}/server-ca.crt\n  name: local\ncontexts:\n- context:\n    cluster: local\n    namespace: default\n    user: user\n  name: Default\ncurrent-context: Default\nkind: Config\nusers:\n- name: user\n  user:\n    client-certificate: {a}/client-kubelet.crt\n    client-key: {a}/client-kubelet.key\n"), 0o600);
}
