//! `doctor` on real node trees: a healthy kubeadm node is clean, and each broken state gives
//! exactly its finding code.

mod common;

use common::*;
use kubecert_node::Severity;
use kubecert_pki::{node_common_name, NODES_GROUP};
use std::os::unix::fs::symlink;
use time::Duration;

#[test]
fn healthy_kubeadm_node_has_no_findings() {
    let t = NodeTree::kubeadm("worker-1");
    assert_eq!(t.codes(), Vec::<&str>::new());
    // kubeadm deleted the bootstrap file after join: worth knowing, not a problem.
    assert_eq!(t.all_codes(), ["bootstrap-kubeconfig-missing"]);
}

#[test]
fn field_report_000_expired_cert_and_no_bootstrap_file() {
    let t = NodeTree::kubeadm("w0");
    let (c, k) = t.ca.client_pem(&node_common_name("w0"), Some(NODES_GROUP), now() - Duration::days(400), now() - Duration::days(35));
    t.install_client(&c, &k, "2025-10-01-00-00-00");
    // kubelet v1.37: the expired certificate fails isClientConfigStillValid, the bootstrap file is
    // needed and absent, so it exits (checked on the testbed: crates/cli/tests/kubelet_oracle.rs).
    assert_eq!(t.codes(), ["bootstrap-kubeconfig-missing", "client-cert-expired", "kubelet-will-not-start"]);
    assert_eq!(t.severity_of("bootstrap-kubeconfig-missing"), Some(Severity::Error));
    // With a bootstrap kubeconfig present, the kubelet re-bootstraps and comes back: not an error.
    t.write_bootstrap("abcdef.0123456789abcdef");
    assert_eq!(t.codes(), Vec::<&str>::new());
    assert_eq!(t.severity_of("kubelet-will-bootstrap"), Some(Severity::Info));
}

#[test]
fn bootstrap_missing_is_info_while_the_credential_works() {
    let t = NodeTree::kubeadm("w1");
    assert_eq!(t.severity_of("bootstrap-kubeconfig-missing"), Some(Severity::Info));
    t.write("/var/lib/kubelet/pki/kubelet-client.key.tmp", "x", 0o600);
    assert_eq!(t.all_codes(), ["bootstrap-kubeconfig-missing", "stale-bootstrap-key"]);
    assert_eq!(t.codes(), Vec::<&str>::new());
}

#[test]
fn field_report_004_copied_certificate_from_another_node() {
    let t = NodeTree::kubeadm("n2");
    let (c, k) = t.ca.client_pem(&node_common_name("n1"), Some(NODES_GROUP), now() - Duration::days(1), now() + Duration::days(300));
    t.install_client(&c, &k, "2026-11-24-00-00-00");
    assert_eq!(t.codes(), ["bootstrap-kubeconfig-missing", "client-cert-identity-mismatch"]);
    let root = kubecert_node::NodeRoot::new(t.root()).unwrap();
    let d = kubecert_node::diagnose(&root, &Default::default(), &Default::default());
    let f = d.findings.iter().find(|f| f.code == "client-cert-identity-mismatch").unwrap();
    assert!(f.summary.contains("\"n1\"") && f.summary.contains("\"n2\""), "{}", f.summary);
    assert!(f.fix.iter().any(|l| l.contains("kubecert sign --node n2")), "{:?}", f.fix);
}

#[test]
fn another_nodes_credential_left_on_disk_after_a_repair() {
    let t = NodeTree::kubeadm("n2");
    let (c, k) = t.ca.client_pem(&node_common_name("n1"), Some(NODES_GROUP), now() - Duration::days(1), now() + Duration::days(300));
    t.write("/var/lib/kubelet/pki/kubelet-client-2026-11-01-00-00-00.pem", &format!("{c}{k}"), 0o600);
    assert_eq!(t.codes(), ["foreign-credential-on-disk"]);
}

#[test]
fn missing_key_and_cert_dangling_link() {
    let t = NodeTree::kubeadm("w2");
    for f in std::fs::read_dir(t.host("/var/lib/kubelet/pki")).unwrap() {
        let p = f.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("kubelet-client-2") {
            std::fs::remove_file(p).unwrap();
        }
    }
    // The dangling link fails isClientConfigStillValid and there is no bootstrap file: the kubelet exits.
    assert_eq!(t.codes(), ["bootstrap-kubeconfig-missing", "client-cert-missing", "kubelet-will-not-start"]);
}

#[test]
fn each_client_cert_problem_has_its_code() {
    type Case = (&'static str, Box<dyn Fn(&NodeTree)>, Vec<&'static str>);
    let cases: Vec<Case> = vec![
        ("not yet valid", Box::new(|t: &NodeTree| {
            let (c, k) = t.ca.client_pem(&node_common_name(&t.name), Some(NODES_GROUP), now() + Duration::days(2), now() + Duration::days(300));
            t.install_client(&c, &k, "x");
        }), vec!["bootstrap-kubeconfig-missing", "client-cert-not-yet-valid"]),
        ("expiring soon", Box::new(|t: &NodeTree| {
            let (c, k) = t.ca.client_pem(&node_common_name(&t.name), Some(NODES_GROUP), now() - Duration::days(1), now() + Duration::days(5));
            t.install_client(&c, &k, "x");
        }), vec!["client-cert-expiring-soon"]),
        ("rotation stalled", Box::new(|t: &NodeTree| {
            let (c, k) = t.ca.client_pem(&node_common_name(&t.name), Some(NODES_GROUP), now() - Duration::days(340), now() + Duration::days(25));
            t.install_client(&c, &k, "x");
        }), vec!["client-cert-expiring-soon", "client-cert-rotation-stalled"]),
        ("wrong org", Box::new(|t: &NodeTree| {
            let (c, k) = t.ca.client_pem(&node_common_name(&t.name), Some("system:masters"), now() - Duration::days(1), now() + Duration::days(300));
            t.install_client(&c, &k, "x");
        }), vec!["bootstrap-kubeconfig-missing", "client-cert-wrong-org"]),
        ("untrusted", Box::new(|t: &NodeTree| {
            let other = TestCa::new("kubernetes");
            let (c, k) = other.client_pem(&node_common_name(&t.name), Some(NODES_GROUP), now() - Duration::days(1), now() + Duration::days(300));
            t.install_client(&c, &k, "x");
        }), vec!["bootstrap-kubeconfig-missing", "client-cert-untrusted"]),
        ("key mismatch", Box::new(|t: &NodeTree| {
            let (c, _) = t.ca.client_pem(&node_common_name(&t.name), Some(NODES_GROUP), now() - Duration::days(1), now() + Duration::days(300));
            let (_, k2) = t.ca.client_pem(&node_common_name(&t.name), Some(NODES_GROUP), now() - Duration::days(1), now() + Duration::days(300));
            t.install_client(&c, &k2, "x");
        }), vec!["bootstrap-kubeconfig-missing", "client-key-mismatch", "kubelet-will-not-start"]),
        ("truncated pem", Box::new(|t: &NodeTree| {
            let (c, k) = t.ca.client_pem(&node_common_name(&t.name), Some(NODES_GROUP), now() - Duration::days(1), now() + Duration::days(300));
            let all = format!("{c}{k}");
            t.write("/var/lib/kubelet/pki/kubelet-client-x.pem", &all[..all.len() / 3], 0o600);
            let link = t.host("/var/lib/kubelet/pki/kubelet-client-current.pem");
            let _ = std::fs::remove_file(&link);
            symlink("/var/lib/kubelet/pki/kubelet-client-x.pem", link).unwrap();
        }), vec!["bootstrap-kubeconfig-missing", "client-cert-invalid", "kubelet-will-not-start"]),
        ("rotation disabled", Box::new(|t: &NodeTree| {
            t.write("/var/lib/kubelet/config.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n", 0o644);
        }), vec!["rotation-disabled"]),
        ("current link is a file", Box::new(|t: &NodeTree| {
            let link = t.host("/var/lib/kubelet/pki/kubelet-client-current.pem");
            let target = std::fs::read_link(&link).unwrap();
            let bytes = std::fs::read(t.host(&target.to_string_lossy())).unwrap();
            std::fs::remove_file(&link).unwrap();
            t.write_bytes("/var/lib/kubelet/pki/kubelet-client-current.pem", &bytes, 0o600);
        }), vec!["current-link-not-symlink"]),
        ("key readable by others", Box::new(|t: &NodeTree| {
            std::fs::set_permissions(t.host("/var/lib/kubelet/pki/kubelet.key"), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        }), vec!["key-permissions-too-open"]),
        ("serving expired", Box::new(|t: &NodeTree| t.write_serving(now() - Duration::days(400), now() - Duration::days(1))), vec!["serving-cert-expired"]),
        ("serving expiring", Box::new(|t: &NodeTree| t.write_serving(now() - Duration::days(360), now() + Duration::days(3))), vec!["serving-cert-expiring-soon"]),
        ("kubeconfig invalid", Box::new(|t: &NodeTree| t.write("/etc/kubernetes/kubelet.conf", "users: [unterminated\n", 0o600)), vec!["bootstrap-kubeconfig-missing", "kubeconfig-invalid", "kubelet-will-not-start"]),
        ("kubeconfig missing", Box::new(|t: &NodeTree| t.remove("/etc/kubernetes/kubelet.conf")), vec!["bootstrap-kubeconfig-missing", "kubeconfig-missing", "kubelet-will-not-start"]),
        ("bootstrap invalid", Box::new(|t: &NodeTree| {
            t.write_bootstrap("not-a-bootstrap-token");
        }), vec!["bootstrap-kubeconfig-invalid"]),
        ("ca mismatch", Box::new(|t: &NodeTree| {
            let other = TestCa::new("kubernetes");
            t.write("/etc/kubernetes/pki/ca.crt", &other.cert_pem, 0o644);
        }), vec!["ca-mismatch"]),
        ("no hostname", Box::new(|t: &NodeTree| t.remove("/etc/hostname")), vec!["node-name-unknown"]),
        // kubelet v1.37 loads clientCAFile at start and exits without it (auth.go:74-78; testbed: kubelet_oracle.rs).
        ("client CA file missing", Box::new(|t: &NodeTree| t.remove("/etc/kubernetes/pki/ca.crt")), vec!["kubelet-will-not-start"]),
        ("client CA file empty", Box::new(|t: &NodeTree| t.write("/etc/kubernetes/pki/ca.crt", "", 0o644)), vec!["kubelet-will-not-start"]),
        ("kubelet config unreadable", Box::new(|t: &NodeTree| t.write("/var/lib/kubelet/config.yaml", "rotateCertificates: [", 0o644)), vec!["kubelet-config-invalid", "kubelet-will-not-start"]),
    ];
    for (what, break_it, want) in cases {
        let t = NodeTree::kubeadm("w3");
        break_it(&t);
        assert_eq!(t.codes(), want, "case {what:?}");
    }
}

#[test]
fn embedded_stale_cert_and_missing_ca() {
    let t = NodeTree::kubeadm("cp1");
    let (old_c, old_k) = t.ca.client_pem(&node_common_name("cp1"), Some(NODES_GROUP), now() - Duration::days(300), now() + Duration::days(60));
    t.write_kubelet_conf_embedded(&old_c, &old_k);
    assert_eq!(t.codes(), ["kubeconfig-embedded-cert-stale"]);
    // No CA anywhere: the chain cannot be checked.
    let t = NodeTree::kubeadm("cp2");
    t.remove("/etc/kubernetes/pki/ca.crt");
    let conf = std::fs::read_to_string(t.host("/etc/kubernetes/kubelet.conf")).unwrap();
    let conf: String = conf.lines().filter(|l| !l.contains("certificate-authority-data")).map(|l| format!("{l}\n")).collect();
    t.write("/etc/kubernetes/kubelet.conf", &conf, 0o600);
    // clientCAFile still names the removed ca.crt: the kubelet would not even start.
    assert_eq!(t.codes(), ["ca-missing", "kubelet-will-not-start"]);
    t.write("/var/lib/kubelet/config.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nrotateCertificates: true\n", 0o644);
    assert_eq!(t.codes(), ["ca-missing"]);
}

#[test]
fn ca_expired() {
    let t = NodeTree::kubeadm("w4");
    let key = kubecert_pki::PrivateKey::generate(kubecert_pki::KeyType::EcdsaP256).unwrap();
    let old = kubecert_pki::self_signed_ca(&key, "kubernetes", now() - Duration::days(3650), now() - Duration::days(1)).unwrap();
    let conf = std::fs::read_to_string(t.host("/etc/kubernetes/kubelet.conf")).unwrap().replace(&base64(&t.ca.cert_pem), &base64(&old.to_pem()));
    t.write("/etc/kubernetes/kubelet.conf", &conf, 0o600);
    t.write("/etc/kubernetes/pki/ca.crt", &old.to_pem(), 0o644);
    let codes = t.codes();
    assert!(codes.contains(&"ca-expired") && codes.contains(&"client-cert-untrusted"), "{codes:?}");
}

#[test]
fn node_name_comes_from_override_then_flag_then_hostname() {
    let t = NodeTree::kubeadm("Worker-5".to_lowercase().as_str());
    t.write("/etc/hostname", "WORKER-5\n", 0o644); // lowercased, as the kubelet does
    assert_eq!(t.codes(), Vec::<&str>::new());
    t.write("/var/lib/kubelet/kubeadm-flags.env", "KUBELET_KUBEADM_ARGS=\"--hostname-override=other\"\n", 0o644);
    assert_eq!(t.codes(), ["bootstrap-kubeconfig-missing", "client-cert-identity-mismatch"]);
    let ov = kubecert_node::Overrides { node_name: Some("worker-5".into()), ..Default::default() };
    assert_eq!(t.codes_with(&ov), Vec::<&str>::new());
}

/// Every code a rule emits is in the catalog (rules make codes with `code!`, which does not compile
/// for a code the catalog lacks), so documenting the catalog documents every emitted code.
#[test]
fn every_emitted_code_is_documented() {
    for c in kubecert_node::codes::CODES {
        assert!(!c.explanation.is_empty());
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap_or_default();
    for c in kubecert_node::codes::CODES {
        assert!(readme.contains(&format!("`{}`", c.code)), "README does not document {}", c.code);
    }
}

/// The example, checked on the testbed with the real kubelet (kubelet_oracle.rs,
/// no-flag-embedded-expired-store-valid): no --bootstrap-kubeconfig, rotation on, kubelet.conf embeds
/// an expired pair, the store's pair is valid → the kubelet presents the store's pair and is Ready.
/// The old model said client-cert-expired + bootstrap-kubeconfig-missing (exit 1).
#[test]
fn the_store_beats_an_expired_embedded_pair_without_the_bootstrap_flag() {
    let t = NodeTree::kubeadm("w5");
    t.write("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", &DROPIN.replace("--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf ", ""), 0o644);
    let (c, k) = t.ca.client_pem(&node_common_name("w5"), Some(NODES_GROUP), now() - Duration::days(400), now() - Duration::days(1));
    t.write_kubelet_conf_embedded(&c, &k);
    assert_eq!(t.codes(), ["kubeconfig-embedded-cert-stale"]);
    assert_eq!(t.severity_of("kubeconfig-embedded-cert-stale"), Some(Severity::Warning));
    // With the flag, the same files make the kubelet bootstrap at start; without the bootstrap file it exits.
    let t2 = NodeTree::kubeadm("w6");
    let (c, k) = t2.ca.client_pem(&node_common_name("w6"), Some(NODES_GROUP), now() - Duration::days(400), now() - Duration::days(1));
    t2.write_kubelet_conf_embedded(&c, &k);
    assert_eq!(t2.codes(), ["bootstrap-kubeconfig-missing", "client-cert-expired", "kubelet-will-not-start"]);
}

#[test]
fn an_empty_kubeconfig_ca_is_loaded_by_client_go_and_breaks_only_trust() {
    // client-go takes `certificate-authority-data: ""` as no CA and a zero-byte CA file as one
    // that trusts nothing: the kubelet starts with its store's pair and fails TLS to the API
    // server (kubelet_oracle.rs states kubeconfig-ca-data-empty / -file-empty: NotReady).
    let t = NodeTree::kubeadm("w9");
    let conf = std::fs::read_to_string(t.host("/etc/kubernetes/kubelet.conf")).unwrap();
    let line = conf.lines().find(|l| l.contains("certificate-authority-data:")).unwrap().to_string();
    t.write("/etc/kubernetes/kubelet.conf", &conf.replace(&line, "    certificate-authority-data: \"\""), 0o600);
    assert_eq!(t.codes(), ["kubeconfig-ca-empty"]);
    t.write("/etc/kubernetes/pki/empty-ca.crt", "", 0o644);
    t.write("/etc/kubernetes/kubelet.conf", &conf.replace(&line, "    certificate-authority: /etc/kubernetes/pki/empty-ca.crt"), 0o600);
    assert_eq!(t.codes(), ["kubeconfig-ca-empty"]);
    // A CA file that is not empty but holds no certificate: client-go cannot build its TLS config,
    // so the kubeconfig is unusable and, without a bootstrap file, the kubelet exits.
    t.write("/etc/kubernetes/pki/empty-ca.crt", "\n", 0o644);
    assert_eq!(t.codes(), ["bootstrap-kubeconfig-missing", "kubeconfig-invalid", "kubelet-will-not-start"]);
}
