//! `kubecert renew` against the real kubeadm v1.37.2 as the oracle: two identical trees made by
//! `kubeadm init phase certs all` + `kubeconfig all`; `kubeadm certs renew all` on one and
//! `kubecert renew all --force` on the other; every renewed certificate must agree field by field,
//! and kubeadm's own `certs check-expiration -o json` must read kubecert's result. Then the
//! window (`--within 30d` renews only what openssl made expire within 30 days) and the refusals.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::kubeadm::*;
use std::path::Path;

/// The fields kubeadm's renewal decides.
#[derive(Debug, PartialEq)]
struct Shape {
    subject: String,
    dns: Vec<String>,
    ips: Vec<std::net::IpAddr>,
    key_usages: Vec<String>,
    ekus: Vec<String>,
    issuer: String,
    validity_seconds: i64,
    key: String,
    is_ca: bool,
}

fn shape(c: &kubecert_pki::Certificate) -> Shape {
    let i = c.info();
    Shape {
        subject: i.subject.clone(),
        dns: i.dns_names.clone(),
        ips: i.ip_addresses.clone(),
        key_usages: i.key_usages.clone(),
        ekus: i.extended_key_usages.clone(),
        issuer: i.issuer.clone(),
        validity_seconds: (i.not_after - i.not_before).whole_seconds(),
        key: i.key.to_string(),
        is_ca: i.is_ca,
    }
}

#[test]
fn renew_all_agrees_with_kubeadm_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let a = kubeadm_tree(dir.path(), "kubeadm");
    let b = dir.path().join("kubecert");
    copy_tree(&a, &b);
    let before: Vec<_> = RENEWED.iter().map(|(_, rel)| cert_at(&a, rel)).collect();

    let out = kubeadm_in(&a, &["certs", "renew", "all", "--config", "/kubeadm.yaml"]);
    assert!(out.contains("Done renewing certificates"), "{out}");
    let o = kubecert(&["renew", "all", "--force", "--root", &b.display().to_string(), "-o", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(report["renewed"].as_array().unwrap().len(), RENEWED.len(), "{report}");

    let ca = cert_at(&b, "etc/kubernetes/pki/ca.crt");
    for ((name, rel), old) in RENEWED.iter().zip(&before) {
        let (ka, kc) = (cert_at(&a, rel), cert_at(&b, rel));
        assert_ne!(ka.der(), old.der(), "kubeadm did not renew {name}");
        assert_ne!(kc.der(), old.der(), "kubecert did not renew {name}");
        assert_ne!(kc.info().public_key_pin, old.info().public_key_pin, "{name}: kubeadm makes a new key, so must kubecert");
        assert_eq!(shape(&kc), shape(&ka), "{name}: kubecert's renewal differs from kubeadm's");
        assert!((kc.info().not_after - ka.info().not_after).abs() < time::Duration::minutes(10), "{name}: NotAfter");
        if rel.ends_with(".conf") {
            assert_eq!(kubeconfig_ca(&b, rel).der(), ca.der(), "{name}: embedded CA");
        } else {
            // An independent chain check, and the key beside it is the new certificate's.
            let ca_file = if rel.contains("/etcd/") || *name == "apiserver-etcd-client" { "etc/kubernetes/pki/etcd/ca.crt" } else if name.starts_with("front-proxy") { "etc/kubernetes/pki/front-proxy-ca.crt" } else { "etc/kubernetes/pki/ca.crt" };
            let (ok, out) = sh("openssl", &["verify", "-CAfile", &b.join(ca_file).display().to_string(), &b.join(rel).display().to_string()]);
            assert!(ok, "{name}: {out}");
            let key = std::fs::read(b.join(rel).with_extension("key")).unwrap();
            let label = |k: &[u8]| String::from_utf8_lossy(k).lines().next().unwrap_or_default().to_string();
            assert_eq!(label(&key), label(&std::fs::read(a.join(rel).with_extension("key")).unwrap()), "{name}: key PEM format");
            assert!(kubecert_pki::load_private_key(&key).unwrap().matches(&kc), "{name}: key");
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(b.join(rel).with_extension("key")).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    // kubeadm reads kubecert's result: nothing missing, everything a year away.
    let json = kubeadm_in(&b, &["certs", "check-expiration", "--config", "/kubeadm.yaml", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.trim_start_matches(|c| c != '{')).unwrap_or_else(|e| panic!("{e}: {json}"));
    let certs = v["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), RENEWED.len(), "{v}");
    for c in certs {
        assert_eq!(c["missing"], serde_json::Value::Bool(false), "{c}");
        assert!(c["residualTime"].as_i64().unwrap() > 364 * 86400, "{c}");
    }
}

#[test]
fn within_renews_only_what_expires_in_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let t = kubeadm_tree(dir.path(), "tree");
    let root = t.display().to_string();
    // Two certificates made by openssl to expire in 10 and 20 days; the rest stay a year away.
    resign_expiring(&t, "etc/kubernetes/pki/apiserver.crt", "etc/kubernetes/pki/ca.crt", 10);
    resign_expiring(&t, "etc/kubernetes/pki/etcd/peer.crt", "etc/kubernetes/pki/etcd/ca.crt", 20);

    // check-expiration --within lists exactly those (kubeadm's JSON kind) and exits 1.
    let o = kubecert(&["check-expiration", "--within", "30d", "--root", &root, "-o", "json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["kind"], "CertificateExpirationInfo");
    let names: Vec<&str> = v["certificates"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).filter(|n| *n != "kubelet.conf").collect();
    assert_eq!(names, ["apiserver", "etcd-peer"], "{v}");

    let dry = kubecert(&["renew", "--within", "30d", "--dry-run", "--root", &root]);
    assert!(dry.status.success(), "{}", text(&dry));
    let before = node_files(&t);
    assert_eq!(files(&t), before, "a dry run wrote something");

    let o = kubecert(&["renew", "--within", "30d", "--root", &root, "-o", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    let renewed: Vec<&str> = v["renewed"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(renewed, ["apiserver", "etcd-peer"], "{v}");
    assert_eq!(v["restart"], serde_json::json!(["kube-apiserver", "etcd"]));
    let after = node_files(&t);
    let changed: Vec<&str> = after.iter().zip(&before).filter(|(x, y)| x != y).map(|(x, _)| x.0.as_str()).collect();
    assert_eq!(changed, ["etc/kubernetes/pki/apiserver.crt", "etc/kubernetes/pki/apiserver.key", "etc/kubernetes/pki/etcd/peer.crt", "etc/kubernetes/pki/etcd/peer.key"]);
    assert!(cert_at(&t, "etc/kubernetes/pki/apiserver.crt").info().not_after > time::OffsetDateTime::now_utc() + time::Duration::days(364));

    // Nothing is due now: check-expiration --within lists nothing, a second renew changes nothing.
    let o = kubecert(&["check-expiration", "--within", "30d", "--root", &root, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert!(v["certificates"].as_array().unwrap().iter().all(|c| c["name"] == "kubelet.conf"), "{v}");
    let o = kubecert(&["renew", "--within", "30d", "--root", &root]);
    assert!(o.status.success() && text(&o).contains("nothing to renew"), "{}", text(&o));
    assert_eq!(node_files(&t), after);

    // Rollback restores the openssl-made pair byte for byte.
    let o = kubecert(&["rollback", "--root", &root]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(node_files(&t), before);
}

/// Replaces the tree's `ca.crt` with one for the same key and subject valid from `start` to `end` (openssl dates).
fn replace_ca(t: &Path, start: &str, end: &str) {
    let pki = t.join("etc/kubernetes/pki");
    let ext = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyEncipherment,keyCertSign\nsubjectKeyIdentifier=hash\n";
    let out = t.join("new-ca.crt");
    // Self-signed: the CA signs its own new certificate (openssl ca with the old certificate as issuer name, same key).
    openssl_sign(&pki.join("ca.crt"), &pki.join("ca.key"), "/CN=kubernetes", ext, start, end, &out);
    std::fs::rename(&out, pki.join("ca.crt")).unwrap();
}

#[test]
fn refuses_a_ca_that_expires_first_or_has_expired_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let t = kubeadm_tree(dir.path(), "tree");
    let root = t.display().to_string();
    replace_ca(&t, &openssl_date(-1), &openssl_date(100));
    let before = node_files(&t);
    let o = kubecert(&["renew", "all", "--force", "--root", &root]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = text(&o);
    assert!(said.contains("ca (/etc/kubernetes/pki/ca.crt) expires") && said.contains("before the renewed apiserver would"), "{said}");
    assert!(said.contains("nothing was changed"), "{said}");
    assert_eq!(node_files(&t), before);
    assert!(!t.join("var/lib/kubecert").exists(), "a refused renewal made a backup folder");
    // The doctor says the same before anyone renews.
    let o = kubecert(&["doctor", "--root", &root, "-o", "json"]);
    assert!(o.stdout.contains("\"cp-ca-expiring\""), "{}", text(&o));

    // Asked by name: cut to the CA's NotAfter.
    let o = kubecert(&["renew", "apiserver", "--force", "--clamp-to-ca", "--root", &root]);
    assert!(o.status.success(), "{}", text(&o));
    let ca = cert_at(&t, "etc/kubernetes/pki/ca.crt");
    assert_eq!(cert_at(&t, "etc/kubernetes/pki/apiserver.crt").info().not_after, ca.info().not_after);

    // An expired CA: refused, named.
    let t2 = kubeadm_tree(dir.path(), "expired");
    replace_ca(&t2, &openssl_date(-400), &openssl_date(-2));
    let before = node_files(&t2);
    let o = kubecert(&["renew", "admin.conf", "--force", "--root", &t2.display().to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("admin.conf is signed by ca, which cannot sign") && text(&o).contains("expired"), "{}", text(&o));
    assert_eq!(node_files(&t2), before);
    let o = kubecert(&["doctor", "--root", &t2.display().to_string(), "-o", "json"]);
    assert!(o.stdout.contains("\"cp-ca-expired\""), "{}", text(&o));
}

#[test]
fn bad_names_and_non_control_plane_roots_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = kubecert(&["renew", "--root", &dir.path().display().to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("is not a control-plane node"), "{}", text(&o));
    let t = kubeadm_tree(dir.path(), "tree");
    let o = kubecert(&["renew", "kubelet-client", "--root", &t.display().to_string()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("one of: all, admin.conf"), "{}", text(&o));
    let o = kubecert(&["renew", "--within", "99999999999999999d", "--root", &t.display().to_string()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
