//! Crash safety of the install engine, end to end through the real binary: the process is killed
//! at every file-system step of an install (SIGABRT from the test-only fault hook, and SIGKILL
//! while it waits at the step) and after each crash the node must hold a complete credential —
//! the old one or the new one, key matching certificate — and `kubecert rollback` must restore the
//! old files byte for byte. Three layouts: the kubelet's own (a tree a real kubelet wrote, holding
//! field report 004's copied certificate), a kubelet.conf with embedded data (rewritten to the
//! link), and the CoreOS-style separate `worker.pem`/`worker-key.pem`.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::{unique_name, Cluster};
use kubecert_testbed_harness::fault::{crash_at, Kill};
use kubecert_testbed_harness::install::*;
use std::path::{Path, PathBuf};

/// What the kubelet would load from a tree: (cert DER, key matches cert, CN).
fn credential(tree: &Path, kubeconfig: &str) -> (Vec<u8>, bool, String) {
    let root = kubecert_node::NodeRoot::new(tree).unwrap();
    let kc = kubecert_config::Kubeconfig::parse(&root.read(kubeconfig).expect("kubeconfig readable").bytes).expect("kubeconfig parses");
    let r = kc.resolve(None).unwrap();
    let load = |p: &Option<String>, d: Option<&str>| match (p, d) {
        (_, Some(d)) => kubecert_pki::load_bundle_base64(d).unwrap(),
        (Some(p), None) => kubecert_pki::load_bundle(&root.read(&kubecert_node::root::relative_to(kubeconfig, p)).expect("credential file").bytes).unwrap(),
        _ => panic!("no credential"),
    };
    let cert = load(&r.user.client_certificate, r.user.client_certificate_data.as_deref());
    let key = load(&r.user.client_key, r.user.client_key_data.as_ref().map(|s| s.expose()));
    let leaf = cert.certificates.into_iter().next().expect("a certificate");
    let key = key.key.expect("a key").expect("key loads");
    (leaf.der().to_vec(), key.matches(&leaf), leaf.info().common_names.join(","))
}

struct Layout {
    name: &'static str,
    tree: PathBuf,
    kubeconfig: &'static str,
    node: String,
    /// The certificate before the install.
    old: Vec<u8>,
    /// True when the layout has two files that cannot switch in one rename.
    two_files: bool,
}

fn check_all_steps(l: &Layout, ca: &Path, ca_key: &Path, how: Kill) -> u32 {
    let baseline = snapshot(&l.tree);
    let work = tempfile::tempdir().unwrap();
    let mut n = 1;
    let mut mixed_seen = 0;
    loop {
        let copy = work.path().join(format!("n{n}"));
        let (ok, out) = sh("cp", &["-a", &l.tree.display().to_string(), &copy.display().to_string()]);
        assert!(ok, "{out}");
        let root = copy.display().to_string();
        let args = ["sign", "--node", &l.node, "--ca-cert", &ca.display().to_string(), "--ca-key", &ca_key.display().to_string(), "--install", "--root", &root];
        if !crash_at(&args, n, how) {
            assert!(
                n > 10,
                "{}: the install finished after only {} fault points: is the binary built without the test-only \
                 `fault-injection` feature (a plain `cargo build` since the test build)?",
                l.name,
                n - 1
            );
            // The complete run: new credential in place; rollback brings the old back exactly.
            let (der, matches, cn) = credential(&copy, l.kubeconfig);
            assert!(matches && der != l.old && cn == format!("system:node:{}", l.node), "{}: after a full install", l.name);
            let o = kubecert(&["rollback", "--root", &root]);
            assert!(o.status.success(), "{}", text(&o));
            assert_same_tree(&snapshot(&copy), &baseline, &format!("{}: rollback after the full install", l.name));
            std::fs::remove_dir_all(&copy).unwrap();
            if l.two_files {
                // Exactly the points between the key's rename and the certificate's: the rename of
                // the certificate and the directory fsync before it.
                assert!(mixed_seen <= 2, "{}: {mixed_seen} crash points left a mixed pair", l.name);
            } else {
                assert_eq!(mixed_seen, 0);
            }
            eprintln!("{}: {} crash points, {mixed_seen} of them between two renames (flagged interrupted, restored by rollback)", l.name, n - 1);
            return n - 1;
        }
        // Right after the crash: the old credential or the new one, whole.
        let (der, matches, cn) = credential(&copy, l.kubeconfig);
        let old = der == l.old;
        let new = !old && cn == format!("system:node:{}", l.node);
        let backups = kubecert(&["backups", "--root", &root, "-o", "json"]);
        let interrupted = backups.status.code() == Some(1);
        if !(matches && (old || new)) {
            // Only two separate files can be caught between their renames, and then the node is
            // marked interrupted: the next install refuses and rollback restores.
            assert!(l.two_files && interrupted, "{}: step {n} left an incomplete credential (matches={matches}, cn={cn}); backups: {}", l.name, text(&backups));
            mixed_seen += 1;
        }
        if interrupted {
            let o = kubecert(&args);
            assert_eq!(o.status.code(), Some(1), "{}: step {n}: a new install after an interrupted one: {}", l.name, text(&o));
            assert!(text(&o).contains("interrupted"), "{}", text(&o));
        }
        // Rollback restores the old node byte for byte (or there was nothing to roll back, and it is old already).
        let o = kubecert(&["rollback", "--root", &root]);
        let said = text(&o);
        assert!(o.status.success() || said.contains("no install to roll back"), "{}: step {n}: rollback: {said}", l.name);
        assert_same_tree(&snapshot(&copy), &baseline, &format!("{}: step {n}: after rollback ({said})", l.name));
        let o = kubecert(&["backups", "--root", &root]);
        assert!(o.status.success(), "{}: step {n}: still interrupted after rollback: {}", l.name, text(&o));
        std::fs::remove_dir_all(&copy).unwrap();
        n += 1;
    }
}

/// The kubelet's own layout, in a tree a real kubelet wrote (report 004: n1's copied credential).
fn kubelet_layout(c: &Cluster) -> Layout {
    let (donor, node) = (unique_name("cd"), unique_name("cv"));
    c.testbed(&["node", "join", &donor]);
    c.testbed(&["node", "stop", &donor]);
    c.testbed(&["node", "create", &node]);
    let tree = c.node_root(&node);
    copy_credential(&c.node_root(&donor), &tree);
    let (old, _, _) = credential(&tree, "/etc/kubernetes/kubelet.conf");
    Layout { name: "kubelet", tree, kubeconfig: "/etc/kubernetes/kubelet.conf", node, old, two_files: false }
}

/// A kubelet.conf that embeds its pair (as kubeadm writes it before the kubelet rotates).
fn embedded_layout(c: &Cluster, dir: &Path) -> Layout {
    let node = unique_name("ce");
    c.testbed(&["node", "create", &node]);
    let tree = c.node_root(&node);
    let b = dir.join("embedded-bundle");
    let o = kubecert(&["sign", "--node", &node, "--ca-cert", &c.ca_cert().display().to_string(), "--ca-key", &c.ca_key().display().to_string(), "--out-dir", &b.display().to_string(), "--server", c.server(), "--valid-for", "30d"]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::copy(b.join("kubelet.conf"), tree.join("etc/kubernetes/kubelet.conf")).unwrap();
    let (old, _, _) = credential(&tree, "/etc/kubernetes/kubelet.conf");
    Layout { name: "embedded", tree, kubeconfig: "/etc/kubernetes/kubelet.conf", node, old, two_files: false }
}

/// CoreOS-style: /etc/kubernetes/ssl/{ca.pem,worker.pem,worker-key.pem} named by worker-kubeconfig.yaml (openssl-made).
fn coreos_layout(dir: &Path, ca: &Path, ca_key: &Path) -> Layout {
    let node = "worker-7".to_string();
    let tree = dir.join("coreos");
    let ssl = tree.join("etc/kubernetes/ssl");
    std::fs::create_dir_all(&ssl).unwrap();
    std::fs::create_dir_all(tree.join("var/lib")).unwrap();
    std::fs::write(tree.join("etc/hostname"), format!("{node}\n")).unwrap();
    std::fs::copy(ca, ssl.join("ca.pem")).unwrap();
    let s = |p: &Path| p.display().to_string();
    assert!(sh("openssl", &["genrsa", "-out", &s(&ssl.join("worker-key.pem")), "2048"]).0);
    assert!(sh("openssl", &["req", "-new", "-key", &s(&ssl.join("worker-key.pem")), "-subj", &format!("/O=system:nodes/CN=system:node:{node}"), "-out", &s(&dir.join("w.csr"))]).0);
    std::fs::write(dir.join("ext"), "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n").unwrap();
    let (ok, out) = sh("openssl", &["x509", "-req", "-in", &s(&dir.join("w.csr")), "-CA", &s(ca), "-CAkey", &s(ca_key), "-set_serial", "7", "-days", "20", "-extfile", &s(&dir.join("ext")), "-out", &s(&ssl.join("worker.pem"))]);
    assert!(ok, "{out}");
    std::fs::write(
        tree.join("etc/kubernetes/worker-kubeconfig.yaml"),
        "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster:\n    server: https://10.0.0.1:443\n    certificate-authority: /etc/kubernetes/ssl/ca.pem\nusers:\n- name: kubelet\n  user:\n    client-certificate: /etc/kubernetes/ssl/worker.pem\n    client-key: /etc/kubernetes/ssl/worker-key.pem\ncontexts:\n- context:\n    cluster: local\n    user: kubelet\n  name: kubelet-context\ncurrent-context: kubelet-context\n",
    )
    .unwrap();
    let (old, _, _) = credential(&tree, "/etc/kubernetes/worker-kubeconfig.yaml");
    Layout { name: "coreos", tree, kubeconfig: "/etc/kubernetes/worker-kubeconfig.yaml", node, old, two_files: true }
}

#[test]
fn install_survives_a_crash_at_every_step_kubelet_layout() {
    let c = Cluster::shared();
    let l = kubelet_layout(c);
    let steps = check_all_steps(&l, &c.ca_cert(), &c.ca_key(), Kill::Abort);
    let steps_kill = check_all_steps(&l, &c.ca_cert(), &c.ca_key(), Kill::SigKill);
    assert_eq!(steps, steps_kill);
    eprintln!("kubelet layout: {steps} file-system steps, crashed at each by SIGABRT and by SIGKILL");
}

#[test]
fn install_survives_a_crash_at_every_step_embedded_kubeconfig() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let l = embedded_layout(c, dir.path());
    let steps = check_all_steps(&l, &c.ca_cert(), &c.ca_key(), Kill::Abort);
    eprintln!("embedded kubeconfig: {steps} file-system steps, crashed at each");
}

#[test]
fn install_survives_a_crash_at_every_step_coreos_layout() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let l = coreos_layout(dir.path(), &c.ca_cert(), &c.ca_key());
    let steps = check_all_steps(&l, &c.ca_cert(), &c.ca_key(), Kill::Abort);
    eprintln!("coreos layout: {steps} file-system steps, crashed at each");
}
