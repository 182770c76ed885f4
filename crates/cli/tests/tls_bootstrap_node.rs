//! Field report 000 end to end, with a real kubelet on the testbed: a node whose client
//! credentials are gone (or unusable) and that has no bootstrap kubeconfig is brought back by
//! `kubecert bootstrap-config --install` (admin side) or `kubecert discover --install` (node
//! side); the kubelet bootstraps, its CSR is Approved,Issued, the new certificate is
//! `CN=system:node:<name>` from the cluster CA, and the Node is Ready with a fresh heartbeat.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::{unique_name, Cluster};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use kubecert_testbed_harness::bootstrap::*;

/// Field report 000's state: no client certificate, no kubelet.conf, no bootstrap file.
fn wipe_credentials(tree: &Path) {
    let pki = tree.join("var/lib/kubelet/pki");
    for e in std::fs::read_dir(&pki).unwrap() {
        let p = e.unwrap().path();
        let _ = std::fs::remove_file(&p);
    }
    for f in ["etc/kubernetes/kubelet.conf", "etc/kubernetes/bootstrap-kubelet.conf"] {
        let _ = std::fs::remove_file(tree.join(f));
    }
}

/// The kubelet-client-current.pem link resolved inside the tree.
fn current_cert(tree: &Path) -> PathBuf {
    let link = tree.join("var/lib/kubelet/pki/kubelet-client-current.pem");
    let target = std::fs::read_link(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()));
    let target = target.to_str().unwrap();
    assert!(target.starts_with("/var/lib/kubelet/pki/kubelet-client-"), "absolute link as the kubelet writes it: {target}");
    tree.join(target.trim_start_matches('/'))
}

/// The node came back by TLS bootstrap: a CSR by the token's user was Approved and Issued, the
/// new certificate names the node and verifies against the cluster CA, the Node is Ready after `since`.
fn assert_bootstrapped(c: &Cluster, node: &str, tree: &Path, token_id: &str) {
    c.testbed(&["node", "wait-ready", node, "--timeout", "60"]);
    let requestor = format!("system:bootstrap:{token_id}");
    let csrs = c.kubectl_ok(&["get", "csr", "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.username} {.spec.signerName} {.status.conditions[*].type} {.status.certificate}{\"\\n\"}{end}"]);
    let line = csrs.lines().find(|l| l.split_whitespace().nth(1) == Some(requestor.as_str())).unwrap_or_else(|| panic!("no CSR by {requestor}:\n{csrs}"));
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f[2], "kubernetes.io/kube-apiserver-client-kubelet", "{line}");
    assert_eq!(f[3], "Approved", "{line}");
    assert!(f.len() > 4 && f[4].len() > 100, "issued (status.certificate set): {line}");
    let pem = current_cert(tree);
    let (ok, subject) = try_openssl(&["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", pem.to_str().unwrap()]);
    assert!(ok, "{subject}");
    assert!(subject.contains(&format!("CN=system:node:{node}")) && subject.contains("O=system:nodes"), "{subject}");
    let (ok, out) = try_openssl(&["verify", "-CAfile", c.ca_cert().to_str().unwrap(), pem.to_str().unwrap()]);
    assert!(ok && out.contains(": OK"), "{out}");
    // The kubelet wrote its own kubelet.conf pointing at the new certificate.
    let kc = std::fs::read_to_string(tree.join("etc/kubernetes/kubelet.conf")).unwrap();
    assert!(kc.contains("/var/lib/kubelet/pki/kubelet-client-current.pem"), "{kc}");
}

/// The backup manifest under the tree lists every moved file.
fn backup_manifest(tree: &Path) -> String {
    let dir = tree.join("var/lib/kubecert/backups");
    let mut ids: Vec<_> = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).map(|e| e.unwrap().path()).collect();
    ids.sort();
    let last = ids.last().expect("a backup folder");
    std::fs::read_to_string(last.join("manifest.json")).unwrap()
}

#[test]
fn report_000_repaired_by_bootstrap_config_install() {
    let c = Cluster::shared();
    let node = unique_name("r0a");
    c.testbed(&["node", "join", &node]);
    let tree = c.node_root(&node);
    c.testbed(&["node", "stop", &node]);
    wipe_credentials(&tree);
    // The symptom of field report 000.
    c.testbed(&["node", "start", &node]);
    let line = c.wait_log(&node, &["unable to load bootstrap kubeconfig"], Duration::from_secs(30)).expect("the kubelet log to say: unable to load bootstrap kubeconfig");
    assert!(line.contains("stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory"), "{line}");
    wait_for(Duration::from_secs(20), "the kubelet to exit", || (!c.try_testbed(&["node", "status", &node]).0).then_some(()));

    // The repair: one command where the admin kubeconfig is.
    let t0 = Instant::now();
    let r = kubecert(c, &["bootstrap-config", "--node", &node, "--install", "--root", tree.to_str().unwrap()]).expect(0, "bootstrap-config --install");
    eprintln!("bootstrap-config --install took {:?}\n{}", t0.elapsed(), r.stderr);
    let file = tree.join("etc/kubernetes/bootstrap-kubelet.conf");
    let token = assert_bootstrap_kubeconfig(c, &file);
    assert!(r.stderr.contains("backup "), "{}", r.stderr);
    assert!(backup_manifest(&tree).contains("/etc/kubernetes/bootstrap-kubelet.conf"), "the manifest records the new file");

    c.testbed(&["node", "start", &node]);
    assert_bootstrapped(c, &node, &tree, id_of(&token));
    c.testbed(&["node", "stop", &node]);
}

/// A client certificate signed by another CA but not expired: the kubelet never falls back to
/// bootstrap on its own (it checks only NotAfter), so the repair must move it aside.
fn plant_foreign_certificate(tree: &Path, node: &str, dir: &Path) {
    let (ca_key, ca_crt, key, csr, crt) = (dir.join("o.key"), dir.join("o.crt"), dir.join("k.key"), dir.join("k.csr"), dir.join("k.crt"));
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();
    assert!(try_openssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=other-ca", "-keyout", &s(&ca_key), "-out", &s(&ca_crt)]).0);
    assert!(try_openssl(&["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", &format!("/O=system:nodes/CN=system:node:{node}"), "-keyout", &s(&key), "-out", &s(&csr)]).0);
    let ext = dir.join("ext");
    std::fs::write(&ext, "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n").unwrap();
    assert!(try_openssl(&["x509", "-req", "-in", &s(&csr), "-CA", &s(&ca_crt), "-CAkey", &s(&ca_key), "-CAcreateserial", "-days", "30", "-extfile", &s(&ext), "-out", &s(&crt)]).0);
    let pki = tree.join("var/lib/kubelet/pki");
    let stamp = "kubelet-client-2026-01-01-00-00-00.pem";
    let mut pem = std::fs::read_to_string(&crt).unwrap();
    pem.push_str(&std::fs::read_to_string(&key).unwrap());
    std::fs::write(pki.join(stamp), pem).unwrap();
    std::os::unix::fs::symlink(format!("/var/lib/kubelet/pki/{stamp}"), pki.join("kubelet-client-current.pem")).unwrap();
    let server = c_server_of(tree);
    std::fs::write(
        tree.join("etc/kubernetes/kubelet.conf"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: /etc/kubernetes/pki/ca.crt\n    server: {server}\n  name: default-cluster\ncontexts:\n- context:\n    cluster: default-cluster\n    namespace: default\n    user: default-auth\n  name: default-context\ncurrent-context: default-context\nusers:\n- name: default-auth\n  user:\n    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n"
        ),
    )
    .unwrap();
}

/// The server URL from the node's own (pre-wipe) kubelet.conf.
fn c_server_of(tree: &Path) -> String {
    let kc = std::fs::read_to_string(tree.join("etc/kubernetes/kubelet.conf.orig")).unwrap();
    kc.lines().find_map(|l| l.trim().strip_prefix("server: ")).unwrap().to_string()
}

#[test]
fn report_000_repaired_by_discover_install_on_the_node_moving_a_foreign_certificate_aside() {
    let c = Cluster::shared();
    let node = unique_name("r0b");
    c.testbed(&["node", "join", &node]);
    let tree = c.node_root(&node);
    c.testbed(&["node", "stop", &node]);
    std::fs::copy(tree.join("etc/kubernetes/kubelet.conf"), tree.join("etc/kubernetes/kubelet.conf.orig")).unwrap();
    wipe_credentials(&tree);
    let dir = tempfile::tempdir().unwrap();
    plant_foreign_certificate(&tree, &node, dir.path());
    // The kubelet trusts the unexpired foreign certificate and never bootstraps: the API server refuses it.
    c.testbed(&["node", "start", &node]);
    let line = c.wait_log(&node, &["Unauthorized"], Duration::from_secs(30)).expect("the kubelet log to say: Unauthorized");
    assert!(!line.is_empty());
    c.testbed(&["node", "stop", &node]);

    // On the control plane: a token and the join line. On the node: discover + install.
    let join = kubecert(c, &["token", "create", "--ttl", "15m", "--print-join-command"]).expect(0, "token create").stdout;
    let words: Vec<&str> = join.split_whitespace().collect();
    let arg = |flag: &str| words.iter().position(|w| *w == flag).map(|i| words[i + 1].to_string()).unwrap();
    let token = arg("--token");
    let r = kubecert_env(
        c,
        &["discover", "--server", &arg("--server"), "--token", &token, "--ca-cert-hash", &arg("--ca-cert-hash"), "--install", "--root", tree.to_str().unwrap()],
        &[("KUBECONFIG", "/nonexistent")],
    )
    .expect(0, "discover --install");
    eprintln!("{}", r.stderr);
    assert_eq!(assert_bootstrap_kubeconfig(c, &tree.join("etc/kubernetes/bootstrap-kubelet.conf")), token);
    // The foreign certificate, its link and kubelet.conf were moved aside into the backup.
    assert!(!tree.join("etc/kubernetes/kubelet.conf").exists() && !tree.join("var/lib/kubelet/pki/kubelet-client-current.pem").exists());
    let manifest = backup_manifest(&tree);
    for f in ["/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/pki/kubelet-client-current.pem", "/var/lib/kubelet/pki/kubelet-client-2026-01-01-00-00-00.pem"] {
        assert!(manifest.contains(f), "{f} not in the backup manifest:\n{manifest}");
    }

    c.testbed(&["node", "start", &node]);
    assert_bootstrapped(c, &node, &tree, id_of(&token));
    c.testbed(&["node", "stop", &node]);
}
