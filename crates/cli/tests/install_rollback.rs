//! `kubecert backups` and `kubecert rollback` through the binary: an install, its undo and redo
//! (a rollback is itself backed up), the JSON listing, and the node lock: a second install while
//! one is in progress is refused and changes nothing.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::{unique_name, Cluster};
use kubecert_testbed_harness::install::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn sign_install(c: &Cluster, node: &str, root: &str) -> Vec<String> {
    vec![
        "sign".into(), "--node".into(), node.into(), "--ca-cert".into(), c.ca_cert().display().to_string(), "--ca-key".into(),
        c.ca_key().display().to_string(), "--install".into(), "--root".into(), root.into(),
    ]
}

/// A node that joined the shared cluster and whose kubelet is stopped, with its tree as it was.
struct Stopped {
    node: String,
    tree: std::path::PathBuf,
    root: String,
    original: Vec<(String, String)>,
}

fn joined_and_stopped(c: &Cluster, prefix: &str) -> Stopped {
    let node = unique_name(prefix);
    c.testbed(&["node", "join", &node]);
    c.testbed(&["node", "stop", &node]);
    let tree = c.node_root(&node);
    let root = tree.display().to_string();
    let original = snapshot(&tree);
    Stopped { node, tree, root, original }
}

fn backups(root: &str) -> serde_json::Value {
    let o = kubecert(&["backups", "--root", root, "-o", "json"]);
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

#[test]
fn install_rollback_and_redo() {
    let c = Cluster::shared();
    let Stopped { node, tree, root, original } = joined_and_stopped(c, "rb");
    let args = sign_install(c, &node, &root);
    let o = kubecert(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", text(&o));
    let installed = snapshot(&tree);
    assert_ne!(installed, original);

    let list = backups(&root);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(list[0]["state"], "complete");
    assert_eq!(list[0]["label"], format!("sign --node {node}"));

    // The dry run changes nothing; the rollback restores the original byte for byte.
    let o = kubecert(&["rollback", "--root", &root, "--dry-run"]);
    assert!(o.status.success() && text(&o).contains(&id), "{}", text(&o));
    assert_same_tree(&snapshot(&tree), &installed, "rollback --dry-run");
    let o = kubecert(&["rollback", "--root", &root]);
    assert!(o.status.success(), "{}", text(&o));
    assert_same_tree(&snapshot(&tree), &original, "rollback");
    let list = backups(&root);
    assert_eq!(list[0]["state"], "rolled-back");
    let redo = list[1]["id"].as_str().unwrap().to_string();
    assert_eq!(list[1]["rollback_of"], id.as_str());
    // Nothing left to roll back by default...
    let o = kubecert(&["rollback", "--root", &root]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no install to roll back"), "{}", text(&o));
    // ...but the rollback itself can be undone: the install comes back, byte for byte.
    let o = kubecert(&["rollback", "--root", &root, "--to", &redo]);
    assert!(o.status.success(), "{}", text(&o));
    assert_same_tree(&snapshot(&tree), &installed, "redo");
    // An unknown id is refused.
    let o = kubecert(&["rollback", "--root", &root, "--to", "19990101-000000-beef"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("no backup \"19990101-000000-beef\""), "{}", text(&o));
}

#[test]
fn a_second_install_while_one_runs_is_refused() {
    let c = Cluster::shared();
    let Stopped { node, tree, root, original } = joined_and_stopped(c, "lk");
    let args = sign_install(c, &node, &root);
    // The first install stops (alive, holding the lock) at its 6th file-system step: steps 1-4
    // make the backup store, where the lock file lives.
    let mut first = Command::new(env!("CARGO_BIN_EXE_kubecert"))
        .args(&args)
        .env("KUBECERT_FAULT_AT", "6")
        .env("KUBECERT_FAULT_MODE", "hang")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(first.stderr.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().starts_with("kubecert-fault: hang at 6")), "the first install did not reach step 6");
    let o = kubecert(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("another kubecert install or rollback is running"), "{}", text(&o));
    first.kill().unwrap();
    first.wait().unwrap();
    // The killed one had not replaced anything: the node is as it was, and the next install tidies up and succeeds.
    assert_same_tree(&snapshot(&tree), &original, "after the killed install");
    let o = kubecert(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", text(&o));
}
