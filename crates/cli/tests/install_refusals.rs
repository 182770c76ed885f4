//! Installs that cannot be done leave the node exactly as it was: a read-only target directory (a
//! read-only bind mount: the tests run as root, so permissions alone would not stop them), a full
//! disk (a 16 KiB tmpfs, filled) under the certificate directory, and a full disk under the backup
//! store. Each run exits 1 with a message naming the file and the cause, and writes nothing.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::{unique_name, Cluster};
use kubecert_testbed_harness::install::*;
use std::path::{Path, PathBuf};

/// A mount that is undone when the test ends, passing or failing.
struct Mount(PathBuf);

impl Mount {
    fn new(args: &[&str], at: &Path) -> Mount {
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.push(at.display().to_string());
        let (ok, out) = sh("mount", &a.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(ok, "mount {a:?}: {out}");
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = sh("umount", &[&self.0.display().to_string()]);
    }
}

/// A node tree with field report 004's copied credential (real kubelet-written files).
fn broken_node(c: &Cluster) -> (String, PathBuf) {
    let (donor, node) = (unique_name("fd"), unique_name("fv"));
    c.testbed(&["node", "join", &donor]);
    c.testbed(&["node", "stop", &donor]);
    c.testbed(&["node", "create", &node]);
    let tree = c.node_root(&node);
    copy_credential(&c.node_root(&donor), &tree);
    (node, tree)
}

fn sign_install(c: &Cluster, node: &str, tree: &Path) -> Run {
    kubecert(&[
        "sign", "--node", node, "--ca-cert", &c.ca_cert().display().to_string(), "--ca-key", &c.ca_key().display().to_string(),
        "--install", "--root", &tree.display().to_string(),
    ])
}

/// No backup folder may be left behind by a failed install.
fn no_backups(tree: &Path) {
    let b = tree.join("var/lib/kubecert/backups");
    let left: Vec<_> = std::fs::read_dir(&b).map(|rd| rd.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "backup folders left: {left:?}");
}

#[test]
fn read_only_certificate_directory_changes_nothing() {
    let c = Cluster::shared();
    let (node, tree) = broken_node(c);
    let pki = tree.join("var/lib/kubelet/pki");
    let before = snapshot(&tree);
    let _bind = Mount::new(&["--bind", &pki.display().to_string()], &pki);
    let _ro = Mount::new(&["-o", "remount,ro,bind"], &pki);
    // The remount is undone with the bind mount; unmounting twice is harmless.
    let o = sign_install(c, &node, &tree);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = text(&o);
    assert!(said.contains("Read-only file system") && said.contains("nothing was changed") && said.contains("/var/lib/kubelet/pki/"), "{said}");
    assert!(!said.contains("PRIVATE KEY"));
    assert_same_tree(&snapshot(&tree), &before, "read-only pki");
    no_backups(&tree);
}

#[test]
fn full_disk_under_the_certificate_directory_changes_nothing() {
    let c = Cluster::shared();
    let (node, tree) = broken_node(c);
    let pki = tree.join("var/lib/kubelet/pki");
    // Move the pki onto a 16 KiB tmpfs, then fill it.
    let saved = tempfile::tempdir().unwrap();
    assert!(sh("cp", &["-a", &format!("{}/.", pki.display()), &saved.path().display().to_string()]).0);
    let _tmpfs = Mount::new(&["-t", "tmpfs", "-o", "size=16k,mode=755", "tmpfs"], &pki);
    assert!(sh("cp", &["-a", &format!("{}/.", saved.path().display()), &pki.display().to_string()]).0);
    let (_, out) = sh("dd", &["if=/dev/zero", &format!("of={}", pki.join("filler").display()), "bs=1k", "count=64"]);
    assert!(out.contains("No space left on device"), "the tmpfs did not fill: {out}");
    let before = snapshot(&tree);
    let o = sign_install(c, &node, &tree);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = text(&o);
    assert!(said.contains("No space left on device") && said.contains("nothing was changed"), "{said}");
    assert_same_tree(&snapshot(&tree), &before, "full pki tmpfs");
    no_backups(&tree);
}

#[test]
fn full_disk_under_the_backup_store_changes_nothing() {
    let c = Cluster::shared();
    let node = unique_name("fb");
    c.testbed(&["node", "create", &node]);
    let tree = c.node_root(&node);
    // A kubelet.conf with an embedded pair: the install must back it up before rewriting it.
    let b = tempfile::tempdir().unwrap();
    let bundle = b.path().join("b");
    let o = kubecert(&["sign", "--node", &node, "--ca-cert", &c.ca_cert().display().to_string(), "--ca-key", &c.ca_key().display().to_string(), "--out-dir", &bundle.display().to_string(), "--server", c.server()]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::copy(bundle.join("kubelet.conf"), tree.join("etc/kubernetes/kubelet.conf")).unwrap();
    let store = tree.join("var/lib/kubecert");
    std::fs::create_dir_all(&store).unwrap();
    let _tmpfs = Mount::new(&["-t", "tmpfs", "-o", "size=16k,mode=700", "tmpfs"], &store);
    std::fs::create_dir_all(store.join("backups")).unwrap();
    let (_, out) = sh("dd", &["if=/dev/zero", &format!("of={}", store.join("filler").display()), "bs=1k", "count=64"]);
    assert!(out.contains("No space left on device"), "{out}");
    let before = snapshot(&tree);
    let store_before: Vec<_> = std::fs::read_dir(store.join("backups")).unwrap().collect();
    let o = sign_install(c, &node, &tree);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = text(&o);
    assert!(said.contains("cannot back up") && said.contains("No space left on device") && said.contains("nothing was changed"), "{said}");
    assert_same_tree(&snapshot(&tree), &before, "full backup store");
    assert_eq!(std::fs::read_dir(store.join("backups")).unwrap().count(), store_before.len());
}
