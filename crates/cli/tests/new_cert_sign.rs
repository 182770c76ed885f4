//! `kubecert sign` against the real test cluster: field report 004 reproduced and repaired with
//! the cluster CA, certificates accepted by the real API server for every key type and for an
//! RSA and an ECDSA cluster CA, `openssl verify` agreeing, and bad inputs refused with nothing written.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::{unique_name, Cluster};
use kubecert_testbed_harness::install::*;
use std::path::Path;
use std::time::Duration;

/// Report 004: a node holding another node's copied certificate is refused by NodeRestriction;
/// after `kubecert sign --install` its kubelet.conf credential can get and patch its own Node, is
/// refused for the other one, and a real kubelet started on those files registers and goes Ready.
#[test]
fn report_004_sign_install_repairs_a_copied_certificate() {
    let c = Cluster::shared();
    let (donor, victim) = (unique_name("d"), unique_name("v"));
    c.testbed(&["node", "join", &donor]);
    c.testbed(&["node", "create", &victim]);
    let tree = c.node_root(&victim);
    copy_credential(&c.node_root(&donor), &tree);

    // The report's failure, from the real API server, both through the kubelet and by hand.
    c.testbed(&["node", "start", &victim]);
    let refusal = c.wait_log(
        &victim,
        &[&format!("cannot read '{victim}'"), &format!("is not allowed to modify node \"{victim}\""), &format!("cannot modify node \"{victim}\"")],
        Duration::from_secs(30),
    );
    c.testbed(&["node", "stop", &victim]);
    let refusal = refusal.expect("the kubelet holding the copied certificate should be refused by NodeRestriction");
    assert!(refusal.contains(&donor), "{refusal}");
    let before = node_credential(&tree);
    let (ok, out) = c.kubectl_with(&before.kubeconfig, &["label", "node", &victim, "x=y"]);
    assert!(!ok && out.to_lowercase().contains("forbidden"), "before the repair: {out}");

    // The repair. A dry run first changes nothing.
    let snap = snapshot(&tree);
    let (ca, key) = (c.ca_cert().display().to_string(), c.ca_key().display().to_string());
    let root = tree.display().to_string();
    let o = kubecert(&["sign", "--node", &victim, "--ca-cert", &ca, "--ca-key", &key, "--install", "--root", &root, "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("kubelet-client-current.pem"), "{}", text(&o));
    assert_same_tree(&snapshot(&tree), &snap, "--dry-run");
    assert!(!tree.join("var/lib/kubecert").exists());

    let o = kubecert(&["sign", "--node", &victim, "--ca-cert", &ca, "--ca-key", &key, "--install", "--root", &root]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("doctor afterwards: no errors"), "{}", text(&o));
    // The kubelet's own layout: a new stamped pem (0600) and the absolute link moved to it.
    let link = std::fs::read_link(tree.join("var/lib/kubelet/pki/kubelet-client-current.pem")).unwrap();
    let link = link.to_string_lossy();
    assert!(link.starts_with("/var/lib/kubelet/pki/kubelet-client-20") && link.ends_with(".pem"), "{link}");
    let pem = tree.join(link.trim_start_matches('/'));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777, 0o600);
    let (ok, out) = openssl_verify(&c.ca_cert(), &pem);
    assert!(ok, "openssl verify: {out}");

    // A real kubelet on the installed files registers as the node and goes Ready.
    c.testbed(&["node", "start", &victim]);
    c.testbed(&["node", "wait-ready", &victim, "--timeout", "60"]);

    // The credential in kubelet.conf: its own Node yes, the donor's no.
    let after = node_credential(&tree);
    let (ok, out) = c.kubectl_with(&after.kubeconfig, &["get", "node", &victim, "-o", "name"]);
    assert!(ok, "get own node: {out}");
    let (ok, out) = c.kubectl_with(&after.kubeconfig, &["label", "node", &victim, "kubecert-test=patched", "--overwrite"]);
    assert!(ok, "patch own node: {out}");
    let (ok, out) = c.kubectl_with(&after.kubeconfig, &["get", "node", &donor]);
    assert!(!ok && out.to_lowercase().contains("forbidden"), "get donor node should be refused: {out}");
    let (ok, out) = c.kubectl_with(&after.kubeconfig, &["label", "node", &donor, "kubecert-test=patched"]);
    assert!(!ok && out.to_lowercase().contains("forbidden"), "patch donor node should be refused: {out}");
    let (ok, out, _) = c.kubectl(&["get", "node", &victim, "-o", "jsonpath={.metadata.labels.kubecert-test}"]);
    assert!(ok && out == "patched", "{out}");

    c.testbed(&["node", "stop", &victim]);
    c.testbed(&["node", "stop", &donor]);
}

/// Each key type `sign` makes is accepted by the real API server as the node's identity
/// (`kubectl auth whoami`), and `openssl verify` agrees, for the testbed's RSA cluster CA.
#[test]
fn sign_is_accepted_by_the_api_server_for_every_key_type() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    for kt in ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa2048", "rsa3072"] {
        let node = unique_name("k");
        let out = dir.path().join(kt);
        let o = kubecert(&[
            "sign", "--node", &node, "--key-type", kt, "--ca-cert", &c.ca_cert().display().to_string(),
            "--ca-key", &c.ca_key().display().to_string(), "--out-dir", &out.display().to_string(), "--server", c.server(),
        ]);
        assert!(o.status.success(), "{kt}: {}", text(&o));
        assert_accepted(c, &out, &node, &c.ca_cert(), kt);
    }
}

/// An ECDSA cluster CA: the testbed makes RSA CAs only, so a private cluster is started and an
/// openssl-made P-256 CA is appended to its API server's --client-ca-file (the API server reloads
/// that file while running). Certificates `sign` makes with the EC CA are then accepted by the real
/// API server, and were refused before the CA was trusted.
#[test]
fn sign_with_an_ecdsa_cluster_ca_is_accepted_by_the_api_server() {
    let c = Cluster::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (eca, ekey) = (dir.path().join("ec-ca.crt"), dir.path().join("ec-ca.key"));
    let (ok, out) = sh(
        "openssl",
        &[
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", &ekey.display().to_string(),
            "-out", &eca.display().to_string(), "-subj", "/CN=ec-cluster-ca", "-days", "30",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,digitalSignature",
        ],
    );
    assert!(ok, "{out}");
    let node = unique_name("e");
    let bundle = dir.path().join("b");
    let o = kubecert(&[
        "sign", "--node", &node, "--key-type", "rsa2048", "--ca-cert", &eca.display().to_string(), "--ca-key", &ekey.display().to_string(),
        "--out-dir", &bundle.display().to_string(), "--server", c.server(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // The EC CA's lifetime (30 days) is shorter than the default year: the clamp is said.
    assert!(text(&o).contains("cut to the CA's NotAfter"), "{}", text(&o));
    let (ok, out) = openssl_verify(&eca, &bundle.join(format!("{node}.crt")));
    assert!(ok, "{out}");
    // Not trusted yet: refused.
    let (ok, out) = whoami(&c, &bundle, &node);
    assert!(!ok && out.contains("Unauthorized"), "{out}");
    // Trust it: append to the API server's client CA bundle (this private cluster only).
    let mut bundle_pem = std::fs::read(c.ca_cert()).unwrap();
    bundle_pem.extend(std::fs::read(&eca).unwrap());
    std::fs::write(c.ca_cert(), bundle_pem).unwrap();
    let mut last = String::new();
    for _ in 0..60 {
        let (ok, out) = whoami(&c, &bundle, &node);
        if ok {
            assert!(out.contains(&format!("system:node:{node}")) && out.contains("system:nodes"), "{out}");
            return;
        }
        last = out;
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("the API server never accepted the EC-CA-signed certificate: {last}");
}

/// Refusals: nothing written, exit 1, a message that names the problem.
#[test]
fn bad_inputs_are_refused_and_nothing_is_written() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    let (ca, key) = (c.ca_cert().display().to_string(), c.ca_key().display().to_string());
    // Another key, a leaf (non-CA) certificate, an expired CA, a CSR for a non-node identity.
    assert!(sh("openssl", &["genrsa", "-out", &p("other.key"), "2048"]).0);
    assert!(sh("openssl", &["req", "-x509", "-key", &p("other.key"), "-out", &p("leaf.crt"), "-subj", "/CN=leaf", "-days", "5", "-addext", "basicConstraints=critical,CA:FALSE"]).0);
    let exp_cnf = p("exp.cnf");
    std::fs::write(&exp_cnf, "[ca]\ndefault_ca=d\n[d]\ndatabase=DB\nnew_certs_dir=DIR\nserial=SER\ndefault_md=sha256\npolicy=pol\nunique_subject=no\n[pol]\ncommonName=supplied\n[ext]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n"
        .replace("DB", &p("index.txt")).replace("DIR", &p("")).replace("SER", &p("serial"))).unwrap();
    std::fs::write(p("index.txt"), "").unwrap();
    std::fs::write(p("serial"), "01\n").unwrap();
    assert!(sh("openssl", &["req", "-new", "-key", &p("other.key"), "-out", &p("exp.csr"), "-subj", "/CN=expired-ca"]).0);
    let (ok, out) = sh("openssl", &["ca", "-batch", "-selfsign", "-config", &exp_cnf, "-keyfile", &p("other.key"), "-in", &p("exp.csr"), "-out", &p("expired.crt"),
        "-startdate", "20200101000000Z", "-enddate", "20210101000000Z", "-extensions", "ext", "-notext"]);
    assert!(ok, "{out}");
    assert!(sh("openssl", &["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", &p("admin.key"), "-out", &p("admin.csr"), "-subj", "/O=system:masters/CN=admin"]).0);
    assert!(sh("openssl", &["req", "-new", "-key", &p("admin.key"), "-out", &p("user.csr"), "-subj", "/O=system:nodes/CN=jane"]).0);

    let tree = c.node_root(&unique_name("r"));
    c.testbed(&["node", "create", tree.file_name().unwrap().to_str().unwrap()]);
    let snap = snapshot(&tree);
    let root = tree.display().to_string();
    let out_dir = p("bundle");
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        ("mismatched CA key", vec!["--ca-cert".into(), ca.clone(), "--ca-key".into(), p("other.key")], "does not belong to the CA certificate"),
        ("non-CA certificate", vec!["--ca-cert".into(), p("leaf.crt"), "--ca-key".into(), p("other.key")], "is not a CA certificate"),
        ("expired CA", vec!["--ca-cert".into(), p("expired.crt"), "--ca-key".into(), p("other.key")], "expired on"),
        ("invalid node name", vec!["--ca-cert".into(), ca.clone(), "--ca-key".into(), key.clone(), "--node".into(), "Bad_Name".into()], "not a valid DNS-1123 subdomain"),
        ("CSR for system:masters", vec!["--ca-cert".into(), ca.clone(), "--ca-key".into(), key.clone(), "--csr".into(), p("admin.csr")], "does not have O=system:nodes"),
        ("CSR for a non-node CN", vec!["--ca-cert".into(), ca.clone(), "--ca-key".into(), key.clone(), "--csr".into(), p("user.csr")], "is not a node identity"),
    ];
    for (what, extra, says) in cases {
        for dest in [vec!["--out-dir".to_string(), out_dir.clone()], vec!["--install".into(), "--root".into(), root.clone()]] {
            if extra.iter().any(|a| a == "--csr") && dest[0] == "--install" {
                continue; // --csr cannot be combined with --install (no key to install): a usage error.
            }
            let mut args: Vec<String> = vec!["sign".into()];
            if !extra.iter().any(|a| a == "--node" || a == "--csr") {
                args.extend(["--node".into(), "n-refused".into()]);
            }
            args.extend(extra.iter().cloned());
            args.extend(dest.iter().cloned());
            let o = kubecert(&args.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
            assert!(text(&o).contains(says), "{what}: expected {says:?} in {}", text(&o));
            assert!(!text(&o).contains("PRIVATE KEY"), "{what}: a key in the output");
            assert!(!Path::new(&out_dir).exists(), "{what}: bundle written");
            assert_same_tree(&snapshot(&tree), &snap, what);
        }
    }
    // A name mismatch with the node's kubelet (it runs as the tree's name) is refused too.
    let o = kubecert(&["sign", "--node", "someone-else", "--ca-cert", &ca, "--ca-key", &key, "--install", "--root", &root]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--allow-name-mismatch"), "{}", text(&o));
    assert_same_tree(&snapshot(&tree), &snap, "name mismatch");
    // A CSR made elsewhere for a node identity is signed (cert to stdout), and verifies.
    assert!(sh("openssl", &["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", &p("n.key"), "-out", &p("n.csr"), "-subj", "/O=system:nodes/CN=system:node:csr-node"]).0);
    let o = kubecert(&["sign", "--csr", &p("n.csr"), "--ca-cert", &ca, "--ca-key", &key]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(p("n.crt"), &o.stdout).unwrap();
    let (ok, out) = openssl_verify(&c.ca_cert(), Path::new(&p("n.crt")));
    assert!(ok, "{out}");
}

fn whoami(c: &Cluster, bundle: &Path, node: &str) -> (bool, String) {
    let o = std::process::Command::new(c.bin("kubectl"))
        .args(["--kubeconfig", "/dev/null", "--server", c.server(), "--certificate-authority"])
        .arg(c.ca_cert())
        .arg("--client-certificate")
        .arg(bundle.join(format!("{node}.crt")))
        .arg("--client-key")
        .arg(bundle.join(format!("{node}.key")))
        .args(["auth", "whoami"])
        .output()
        .unwrap();
    (o.status.success(), text(&o))
}

fn assert_accepted(c: &Cluster, bundle: &Path, node: &str, ca: &Path, what: &str) {
    let (ok, out) = openssl_verify(ca, &bundle.join(format!("{node}.crt")));
    assert!(ok, "{what}: openssl verify: {out}");
    // The bundle's kubelet.conf (embedded pair) is accepted as it is.
    let (ok, out) = c.kubectl_with(&bundle.join("kubelet.conf"), &["auth", "whoami"]);
    assert!(ok, "{what}: kubelet.conf refused: {out}");
    assert!(out.contains(&format!("system:node:{node}")) && out.contains("system:nodes"), "{what}: {out}");
    let (ok, out) = whoami(c, bundle, node);
    assert!(ok && out.contains(&format!("system:node:{node}")), "{what}: separate cert/key refused: {out}");
}

/// `--serving` issues a serving certificate with the node's names and IPs, accepted by openssl as
/// a TLS server certificate from the cluster CA (and refused as one for another name).
#[test]
fn sign_serving_bundle_has_the_node_names() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let node = unique_name("sv");
    let out = dir.path().join("b");
    let o = kubecert(&[
        "sign", "--node", &node, "--serving", "--san", &node, "--san", "10.1.2.3", "--ca-cert", &c.ca_cert().display().to_string(),
        "--ca-key", &c.ca_key().display().to_string(), "--out-dir", &out.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let crt = out.join(format!("{node}-serving.crt")).display().to_string();
    let ca = c.ca_cert().display().to_string();
    let (ok, said) = sh("openssl", &["verify", "-CAfile", &ca, "-purpose", "sslserver", "-verify_hostname", &node, &crt]);
    assert!(ok, "{said}");
    let (ok, said) = sh("openssl", &["verify", "-CAfile", &ca, "-purpose", "sslserver", "-verify_ip", "10.1.2.3", &crt]);
    assert!(ok, "{said}");
    let (ok, said) = sh("openssl", &["verify", "-CAfile", &ca, "-purpose", "sslserver", "-verify_hostname", "other-node", &crt]);
    assert!(!ok, "a serving certificate for another name verified: {said}");
    // The client certificate is not a server certificate.
    let (ok, said) = sh("openssl", &["verify", "-CAfile", &ca, "-purpose", "sslserver", &out.join(format!("{node}.crt")).display().to_string()]);
    assert!(!ok, "{said}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(out.join(format!("{node}-serving.key"))).unwrap().permissions().mode() & 0o777, 0o600);
}
