//! `kubecert repair` on field report 004's node against the real cluster: it picks the least
//! invasive path the credentials at hand allow — the node's own bootstrap kubeconfig, a CSR with
//! cluster credentials, or the cluster CA — shows the plan, applies only when confirmed, and the
//! real kubelet comes back as the right node. A healthy node gets "nothing to do".


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::{unique_name, Cluster};
use kubecert_testbed_harness::install::*;
use std::path::{Path, PathBuf};

/// A report-004 node (a joined donor's pki and kubelet.conf copied over); with `bootstrap`, the
/// donor's bootstrap kubeconfig too (its token is still valid and not tied to a node).
fn report_004(c: &Cluster, bootstrap: bool) -> (String, String, PathBuf) {
    let (donor, victim) = (unique_name("rd"), unique_name("rv"));
    c.testbed(&["node", "join", &donor]);
    c.testbed(&["node", "stop", &donor]);
    c.testbed(&["node", "create", &victim]);
    let tree = c.node_root(&victim);
    copy_credential(&c.node_root(&donor), &tree);
    if bootstrap {
        std::fs::copy(c.node_root(&donor).join("etc/kubernetes/bootstrap-kubelet.conf"), tree.join("etc/kubernetes/bootstrap-kubelet.conf")).unwrap();
    }
    (donor, victim, tree)
}

/// kubecert with no cluster credentials in reach unless given (HOME without ~/.kube/config).
fn repair(home: &Path, args: &[&str]) -> Run {
    let mut a = vec!["repair"];
    a.extend_from_slice(args);
    kubecert_env(&a, &[("HOME", &home.display().to_string())])
}

fn comes_back_as(c: &Cluster, node: &str, donor: &str, tree: &Path) {
    c.testbed(&["node", "start", node]);
    c.testbed(&["node", "wait-ready", node, "--timeout", "60"]);
    let cred = node_credential(tree);
    let (ok, out) = c.kubectl_with(&cred.kubeconfig, &["label", "node", node, "kubecert-repair=done", "--overwrite"]);
    assert!(ok, "patch own node: {out}");
    let (ok, out) = c.kubectl_with(&cred.kubeconfig, &["get", "node", donor]);
    assert!(!ok && out.to_lowercase().contains("forbidden"), "donor node: {out}");
    c.testbed(&["node", "stop", node]);
}

#[test]
fn repair_uses_the_nodes_bootstrap_kubeconfig_first() {
    let c = Cluster::shared();
    let home = tempfile::tempdir().unwrap();
    let (donor, victim, tree) = report_004(c, true);
    let root = tree.display().to_string();
    let snap = snapshot(&tree);
    // Not on a terminal and no --yes: the plan is shown, nothing applied.
    let o = repair(home.path(), &["--root", &root]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains("client-cert-identity-mismatch") && said.contains("chosen: the node's bootstrap kubeconfig"), "{said}");
    assert!(said.contains("move aside  /etc/kubernetes/kubelet.conf") && said.contains("pass --yes"), "{said}");
    assert_same_tree(&snapshot(&tree), &snap, "unconfirmed repair");
    // systemd on this machine cannot restart the kubelet of a node tree: refused before anything.
    let o = repair(home.path(), &["--root", &root, "--yes", "--restart-kubelet"]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains("--restart-kubelet works only with --root /"), "{said}");
    assert_same_tree(&snapshot(&tree), &snap, "repair --restart-kubelet on a node tree");

    let o = repair(home.path(), &["--root", &root, "--yes"]);
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(!tree.join("etc/kubernetes/kubelet.conf").exists());
    assert!(tree.join("etc/kubernetes/bootstrap-kubelet.conf").exists());
    assert!(said.contains("restart the kubelet"), "{said}");
    // The real kubelet bootstraps with the node's token and registers under its own name.
    comes_back_as(c, &victim, &donor, &tree);
}

#[test]
fn repair_uses_a_csr_when_cluster_credentials_are_given() {
    let c = Cluster::shared();
    let home = tempfile::tempdir().unwrap();
    let (donor, victim, tree) = report_004(c, false);
    let root = tree.display().to_string();
    let kc = c.kubeconfig().display().to_string();
    let o = repair(home.path(), &["--root", &root, "--kubeconfig", &kc, "--yes"]);
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(said.contains("not possible: bootstrap kubeconfig") && said.contains("chosen: a CSR through the API as kubernetes-admin"), "{said}");
    assert!(said.contains("doctor afterwards: no errors"), "{said}");
    comes_back_as(c, &victim, &donor, &tree);
    // Now healthy: nothing to do.
    let o = repair(home.path(), &["--root", &root, "--kubeconfig", &kc, "--yes"]);
    assert!(o.status.success() && text(&o).contains("repair: nothing to do"), "{}", text(&o));
}

#[test]
fn repair_signs_with_the_cluster_ca_when_that_is_all_there_is() {
    let c = Cluster::shared();
    let home = tempfile::tempdir().unwrap();
    let (donor, victim, tree) = report_004(c, false);
    let root = tree.display().to_string();
    // No credentials at all: refused, with the reason for each path.
    let o = repair(home.path(), &["--root", &root, "--yes"]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains("not possible: CSR through the API: no cluster credentials") && said.contains("not possible: offline signing"), "{said}");
    // The CA given: offline signing.
    let (ca, key) = (c.ca_cert().display().to_string(), c.ca_key().display().to_string());
    let o = repair(home.path(), &["--root", &root, "--ca-cert", &ca, "--ca-key", &key, "--yes"]);
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(said.contains("chosen: offline signing with the cluster CA"), "{said}");
    comes_back_as(c, &victim, &donor, &tree);
}
