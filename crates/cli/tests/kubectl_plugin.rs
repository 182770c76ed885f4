//! kubecert as a kubectl plugin, with the testbed's real kubectl: installed as `kubectl-kubecert`
//! on PATH (how krew links it), `kubectl plugin list` finds it, help names `kubectl kubecert`,
//! and `kubectl kubecert scan` runs against the test cluster with kubectl's KUBECONFIG.
//! plugins/kubecert.yaml is checked against what the static build supports.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::{repo_root, unique_name, Cluster};
use std::path::Path;
use std::process::{Command, Output};

/// A PATH whose first entry holds only `kubectl-kubecert`, a link to the binary under test.
fn plugin_path(dir: &Path) -> String {
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kubecert"), dir.join("kubectl-kubecert")).unwrap();
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default())
}

fn kubectl(c: &Cluster, path: &str, args: &[&str]) -> Output {
    Command::new(c.bin("kubectl")).args(args).env("PATH", path).env("KUBECONFIG", c.kubeconfig()).output().expect("run kubectl")
}

#[test]
fn kubectl_finds_the_plugin_and_runs_kubecert_scan_on_the_cluster() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let path = plugin_path(dir.path());

    let list = kubectl(c, &path, &["plugin", "list"]);
    let listed = text(&list);
    assert!(listed.contains(&dir.path().join("kubectl-kubecert").display().to_string()), "kubectl plugin list:\n{listed}");
    assert!(!listed.contains("warning") || !listed.contains("kubectl-kubecert is"), "kubectl warns about the plugin:\n{listed}");

    let help = kubectl(c, &path, &["kubecert", "--help"]);
    assert!(help.status.success(), "{}", text(&help));
    let h = String::from_utf8_lossy(&help.stdout);
    assert!(h.contains("Usage: kubectl kubecert [OPTIONS] <COMMAND>"), "help does not name the plugin:\n{h}");
    let sub = String::from_utf8_lossy(&kubectl(c, &path, &["kubecert", "doctor", "--help"]).stdout).into_owned();
    assert!(sub.contains("Usage: kubectl kubecert doctor"), "{sub}");
    // A usage error names the plugin too, and exits 2 as kubecert does.
    let bad = kubectl(c, &path, &["kubecert", "no-such-command"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(text(&bad).contains("kubectl kubecert"), "{}", text(&bad));
    // Run as plain `kubecert`, help keeps its own name.
    let plain = Command::new(env!("CARGO_BIN_EXE_kubecert")).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&plain.stdout).contains("Usage: kubecert [OPTIONS] <COMMAND>"));

    // kubectl hands the plugin its environment: the scan reaches the cluster with KUBECONFIG.
    let n = unique_name("plugin");
    c.testbed(&["node", "join", &n]);
    let scan = kubectl(c, &path, &["kubecert", "scan", "--default-address", "127.0.0.1", "--timeout", "2s", "-o", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&scan.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&scan)));
    assert!(report["nodes"].as_array().unwrap().iter().any(|x| x["name"] == n.as_str()), "node {n} not in the scan:\n{report:#}");
}

#[test]
fn the_krew_manifest_names_the_platforms_the_static_build_makes() {
    let m: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(repo_root().join("plugins/kubecert.yaml")).unwrap()).unwrap();
    assert_eq!(m["apiVersion"], "krew.googlecontainertools.github.com/v1alpha2");
    assert_eq!(m["kind"], "Plugin");
    assert_eq!(m["metadata"]["name"], "kubecert");
    assert_eq!(m["spec"]["version"], format!("v{}", env!("CARGO_PKG_VERSION")), "the manifest's version is not the crate's");
    let platforms = m["spec"]["platforms"].as_array().unwrap();
    let script = std::fs::read_to_string(repo_root().join("scripts/build-static")).unwrap();
    // build-static builds x86_64 Linux only; the manifest offers exactly that.
    assert!(script.contains("x86_64-unknown-linux"), "build-static's target changed: update plugins/kubecert.yaml");
    let selectors: Vec<String> = platforms.iter().map(|p| format!("{}/{}", p["selector"]["matchLabels"]["os"].as_str().unwrap(), p["selector"]["matchLabels"]["arch"].as_str().unwrap())).collect();
    assert_eq!(selectors, ["linux/amd64"]);
    for p in platforms {
        let bin = p["bin"].as_str().unwrap();
        assert!(p["files"].as_array().unwrap().iter().any(|f| f["from"] == bin), "bin {bin} is not among the files");
        assert!(p["uri"].as_str().unwrap().contains(&format!("/v{}/", env!("CARGO_PKG_VERSION"))));
    }
}

/// plugins/package: the krew archive holds the binary the manifest's `bin` names, and the
/// manifest it writes carries the archive's true sha256 (what krew checks before installing).
#[test]
fn plugins_package_writes_an_archive_and_a_manifest_with_its_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(repo_root().join("plugins/package")).arg(dir.path()).env("KUBECERT_BIN", env!("CARGO_BIN_EXE_kubecert")).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let archive = dir.path().join("kubectl-kubecert_linux_amd64.tar.gz");
    let sum = Command::new("sha256sum").arg(&archive).output().unwrap();
    let sum = String::from_utf8_lossy(&sum.stdout).split_whitespace().next().unwrap().to_string();
    let m: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(dir.path().join("kubecert.yaml")).unwrap()).unwrap();
    let p = &m["spec"]["platforms"][0];
    assert_eq!(p["sha256"], sum.as_str());
    assert!(p["uri"].as_str().unwrap().ends_with("/kubectl-kubecert_linux_amd64.tar.gz"));
    let list = Command::new("tar").arg("-tzf").arg(&archive).output().unwrap();
    let mut names: Vec<String> = String::from_utf8_lossy(&list.stdout).lines().map(String::from).collect();
    names.sort();
    assert_eq!(names, ["LICENSE", "kubecert"]);
    // The packed binary is the one given, and runs.
    let x = dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    assert!(Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(&x).status().unwrap().success());
    assert_eq!(std::fs::read(x.join("kubecert")).unwrap(), std::fs::read(env!("CARGO_BIN_EXE_kubecert")).unwrap());
}
