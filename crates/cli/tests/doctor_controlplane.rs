//! `doctor` on a control-plane node: a tree made by the real kubeadm, then altered with openssl one
//! certificate per problem; every control-plane finding code appears for exactly the certificate
//! that was broken, with evidence and a fix, and a fresh tree has none of them.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::kubeadm::*;
use std::path::Path;

const CP_CODES: &[&str] = &[
    "cp-cert-missing",
    "cp-cert-invalid",
    "cp-cert-expired",
    "cp-cert-expiring-soon",
    "cp-cert-not-yet-valid",
    "apiserver-kubelet-client-expired",
    "cp-cert-untrusted",
    "cp-key-mismatch",
    "cp-cert-sans-mismatch",
    "cp-kubeconfig-ca-stale",
    "sa-key-mismatch",
    "cp-ca-expired",
    "cp-ca-expiring",
    "kubelet-conf-embedded-cert",
];

/// (code, summary) of the control-plane findings, sorted.
fn cp_findings(root: &Path) -> Vec<(String, String)> {
    let o = kubecert(&["doctor", "--root", &root.display().to_string(), "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let mut out = Vec::new();
    for f in v["findings"].as_array().unwrap_or_else(|| panic!("{v}")) {
        let code = f["code"].as_str().unwrap().to_string();
        if CP_CODES.contains(&code.as_str()) {
            assert!(!f["evidence"].as_array().unwrap().is_empty() && !f["fix"].as_array().unwrap().is_empty(), "{f}");
            out.push((code, f["summary"].as_str().unwrap().to_string()));
        }
    }
    out.sort();
    out
}

fn codes(f: &[(String, String)]) -> Vec<&str> {
    f.iter().map(|(c, _)| c.as_str()).collect()
}

#[test]
fn fresh_kubeadm_tree_has_only_the_embedded_kubelet_conf_and_finalize_clears_it() {
    let dir = tempfile::tempdir().unwrap();
    let t = kubeadm_tree(dir.path(), "tree");
    // `kubeconfig all` writes kubelet.conf with an embedded certificate (kubeadm#2054) ...
    assert_eq!(codes(&cp_findings(&t)), ["kubelet-conf-embedded-cert"]);
    // ... which kubeadm's kubelet-finalize phase points at the rotating file.
    std::fs::create_dir_all(t.join("var/lib/kubelet/pki")).unwrap();
    std::fs::write(t.join("var/lib/kubelet/pki/kubelet-client-current.pem"), "").unwrap();
    kubeadm_in(&t, &["init", "phase", "kubelet-finalize", "enable-client-cert-rotation", "--config", "/kubeadm.yaml"]);
    assert_eq!(cp_findings(&t), Vec::<(String, String)>::new());
}

#[test]
fn each_altered_certificate_gets_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let t = kubeadm_tree(dir.path(), "tree");
    let pki = t.join("etc/kubernetes/pki");
    std::fs::create_dir_all(t.join("var/lib/kubelet/pki")).unwrap();
    std::fs::write(t.join("var/lib/kubelet/pki/kubelet-client-current.pem"), "").unwrap();
    kubeadm_in(&t, &["init", "phase", "kubelet-finalize", "enable-client-cert-rotation", "--config", "/kubeadm.yaml"]);
    let server_ext = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n";
    let client_ext = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n";

    // Another control-plane node's apiserver certificate (same CA, its own names): kubernetes#118216.
    std::fs::remove_file(pki.join("apiserver.key")).unwrap();
    openssl_sign(&pki.join("ca.crt"), &pki.join("apiserver.key"), "/CN=kube-apiserver", &format!("{server_ext}subjectAltName=DNS:cp2,DNS:kubernetes,IP:10.96.0.1,IP:10.250.0.6\n"), &openssl_date(-1), &openssl_date(300), &pki.join("apiserver.crt"));
    // etcd's server certificate signed by the cluster CA instead of etcd's.
    openssl_sign(&pki.join("ca.crt"), &pki.join("etcd/server.key"), "/CN=cp1", &format!("{server_ext}subjectAltName=DNS:cp1,DNS:localhost,IP:10.250.0.5,IP:127.0.0.1\n"), &openssl_date(-1), &openssl_date(300), &pki.join("etcd/server.crt"));
    // Expired, expiring, not yet valid.
    openssl_sign(&pki.join("ca.crt"), &pki.join("apiserver-kubelet-client.key"), "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client", client_ext, &openssl_date(-400), &openssl_date(-3), &pki.join("apiserver-kubelet-client.crt"));
    openssl_sign(&pki.join("etcd/ca.crt"), &pki.join("etcd/healthcheck-client.key"), "/CN=kube-etcd-healthcheck-client", client_ext, &openssl_date(-300), &openssl_date(5), &pki.join("etcd/healthcheck-client.crt"));
    openssl_sign(&pki.join("etcd/ca.crt"), &pki.join("apiserver-etcd-client.key"), "/CN=kube-apiserver-etcd-client", client_ext, &openssl_date(2), &openssl_date(300), &pki.join("apiserver-etcd-client.crt"));
    // A key that is not the certificate's.
    assert!(sh("openssl", &["genrsa", "-out", &pki.join("front-proxy-client.key").display().to_string(), "2048"]).0);
    // sa.pub of another key.
    let other = dir.path().join("other.key");
    assert!(sh("openssl", &["genrsa", "-out", &other.display().to_string(), "2048"]).0);
    assert!(sh("openssl", &["rsa", "-in", &other.display().to_string(), "-pubout", "-out", &pki.join("sa.pub").display().to_string()]).0);
    // admin.conf embedding another CA (a CA rotation it missed).
    let admin = t.join("etc/kubernetes/admin.conf");
    let old = kubeconfig_ca(&t, "etc/kubernetes/admin.conf");
    let stale = cert_at(&t, "etc/kubernetes/pki/front-proxy-ca.crt");
    use base64::Engine as _;
    let b64 = |c: &kubecert_pki::Certificate| base64::engine::general_purpose::STANDARD.encode(c.to_pem());
    let text_admin = std::fs::read_to_string(&admin).unwrap().replace(&b64(&old), &b64(&stale));
    std::fs::write(&admin, text_admin).unwrap();

    // A missing kubeconfig and a truncated certificate.
    std::fs::remove_file(t.join("etc/kubernetes/scheduler.conf")).unwrap();
    let peer = std::fs::read(pki.join("etcd/peer.crt")).unwrap();
    std::fs::write(pki.join("etcd/peer.crt"), &peer[..peer.len() / 2]).unwrap();

    let found = cp_findings(&t);
    let expect = [
        ("apiserver-kubelet-client-expired", "apiserver-kubelet-client expired"),
        ("cp-cert-expiring-soon", "etcd-healthcheck-client expires"),
        ("cp-cert-invalid", "etcd-peer cannot be read"),
        ("cp-cert-missing", "scheduler.conf is missing"),
        ("cp-cert-not-yet-valid", "apiserver-etcd-client is not valid until"),
        ("cp-cert-sans-mismatch", "apiserver does not cover this node: 10.250.0.5 (from kube-apiserver --advertise-address), cp1 (from /etc/hostname)"),
        ("cp-cert-untrusted", "etcd-server is not signed by etcd-ca"),
        ("cp-key-mismatch", "front-proxy-client: the key"),
        ("cp-kubeconfig-ca-stale", "admin.conf embeds CA"),
        ("sa-key-mismatch", "service-account keys: sa.pub is not the public half of sa.key"),
    ];
    assert_eq!(found.len(), expect.len(), "{found:#?}");
    for ((code, summary), (want_code, want)) in found.iter().zip(expect) {
        assert_eq!(code, want_code, "{found:#?}");
        assert!(summary.starts_with(want), "{code}: {summary:?} does not start with {want:?}");
    }

    // The expired, expiring and stale-CA ones are what `renew` fixes; the window picks the first two.
    let root = t.display().to_string();
    // The window picks the expired and the expiring one; the unreadable etcd-peer is reported
    // (exit 1) while the others are renewed, the missing scheduler.conf skipped.
    let o = kubecert(&["renew", "--within", "30d", "--root", &root, "-o", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let renewed: Vec<&str> = v["renewed"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(renewed, ["apiserver-kubelet-client", "etcd-healthcheck-client"], "{v}");
    let problems: Vec<&str> = v["skipped"].as_array().unwrap().iter().filter(|s| s["problem"] == true).map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(problems, ["etcd-peer"], "{v}");
    let o = kubecert(&["renew", "admin.conf", "--force", "--root", &root]);
    assert!(o.status.success(), "{}", text(&o));
    let left = codes(&cp_findings(&t)).join(" ");
    for gone in ["apiserver-kubelet-client-expired", "cp-cert-expiring-soon", "cp-kubeconfig-ca-stale"] {
        assert!(!left.contains(gone), "{gone} still reported after renew: {left}");
    }
}
