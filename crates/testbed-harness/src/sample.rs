//! Sample node trees made by openssl (`scripts/sample-node`), independent of kubecert.

use crate::repo_root;
use std::path::Path;
use std::process::Command;

/// `scripts/sample-node DIR SCENARIO NODE`: a kubeadm-shaped node tree made by openssl.
#[track_caller]
pub fn sample_node(dir: &Path, scenario: &str, node: &str) {
    let o = Command::new(repo_root().join("scripts/sample-node")).arg(dir).arg(scenario).arg(node).output().expect("run scripts/sample-node");
    assert!(o.status.success(), "sample-node {scenario}: {}", String::from_utf8_lossy(&o.stderr));
}
