//! Crash safety of `kubecert renew` through the real binary and the install engine's test-only
//! fault hook: the process is killed (SIGABRT) at every file-system step of a renewal of a PEM
//! pair (apiserver), an etcd pair and a kubeconfig (admin.conf) on a kubeadm-made tree. After each
//! crash every certificate is whole — the old one or the new one — a pair is mismatched only when
//! the install is flagged interrupted, and `kubecert rollback` restores every file byte for byte.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::fault::{crash_at, Kill};
use kubecert_testbed_harness::kubeadm::*;
use std::path::Path;

const PARTS: &[(&str, &str)] = &[
    ("apiserver", "etc/kubernetes/pki/apiserver.crt"),
    ("etcd-server", "etc/kubernetes/pki/etcd/server.crt"),
    ("admin.conf", "etc/kubernetes/admin.conf"),
];

/// (certificate whole and parsed, key matches) for one catalog file.
fn state(root: &Path, rel: &str) -> (Vec<u8>, bool) {
    let cert = cert_at(root, rel);
    let key = if rel.ends_with(".conf") {
        let k = kubecert_config::Kubeconfig::parse(&std::fs::read(root.join(rel)).unwrap()).unwrap();
        let r = k.resolve(None).unwrap();
        kubecert_pki::load_bundle_base64(r.user.client_key_data.as_ref().unwrap().expose()).unwrap().key.unwrap().unwrap()
    } else {
        kubecert_pki::load_private_key(&std::fs::read(root.join(rel).with_extension("key")).unwrap()).unwrap()
    };
    (cert.der().to_vec(), key.matches(&cert))
}

#[test]
fn renew_survives_a_crash_at_every_step_and_rollback_restores_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let t = kubeadm_tree(dir.path(), "tree");
    let baseline = node_files(&t);
    let old: Vec<Vec<u8>> = PARTS.iter().map(|(_, rel)| state(&t, rel).0).collect();
    let mut n = 1;
    let mut mixed = 0;
    loop {
        let copy = dir.path().join(format!("n{n}"));
        copy_tree(&t, &copy);
        let root = copy.display().to_string();
        let args = ["renew", "apiserver", "etcd-server", "admin.conf", "--force", "--root", &root];
        if !crash_at(&args, n, Kill::Abort) {
            assert!(n > 10, "finished after {} fault points: built without the `fault-injection` feature?", n - 1);
            for ((name, rel), o) in PARTS.iter().zip(&old) {
                let (der, matches) = state(&copy, rel);
                assert!(matches && der != *o, "{name}: after the full renewal");
            }
            let r = kubecert(&["rollback", "--root", &root]);
            assert!(r.status.success(), "{}", text(&r));
            assert_eq!(node_files(&copy), baseline, "rollback after the full renewal");
            eprintln!("renew: {} crash points, {mixed} left a pair mid-switch (flagged interrupted, restored by rollback)", n - 1);
            break;
        }
        let interrupted = kubecert(&["backups", "--root", &root]).status.code() == Some(1);
        for ((name, rel), o) in PARTS.iter().zip(&old) {
            // `state` parses both files: each is whole, never half-written.
            let (der, matches) = state(&copy, rel);
            if !matches {
                // The key is switched first: only the old certificate can be caught with the new key.
                assert_eq!(der, *o, "step {n}: {name}: a new certificate with a key that is not its own");
                assert!(interrupted, "step {n}: {name} has a mismatched pair and the install is not flagged interrupted");
                mixed += 1;
            }
        }
        if interrupted {
            let o = kubecert(&args);
            assert_eq!(o.status.code(), Some(1), "step {n}: a renewal after an interrupted one: {}", text(&o));
        }
        let r = kubecert(&["rollback", "--root", &root]);
        let said = text(&r);
        assert!(r.status.success() || said.contains("no install to roll back"), "step {n}: rollback: {said}");
        assert_eq!(node_files(&copy), baseline, "step {n}: after rollback ({said})");
        std::fs::remove_dir_all(&copy).unwrap();
        n += 1;
    }
}
