//! `renew --restart` proven with a real kubelet: a testbed kubelet (v1.37.2, on the fake CRI) whose
//! `staticPodPath` is a kubeadm-made tree's manifests dir runs the static pods and makes their mirror
//! pods on the testbed's real API server; the tree's etcd, kube-apiserver and kube-controller-manager
//! run for real from its files (the harness). The kubelet's probes (rewritten to the harness's
//! ports) reach those real processes, so a mirror pod is Ready only while its component answers.
//!
//! The fake CRI runs no process: the test stands in for the container runtime — when the kubelet
//! removes a pod (its mirror pod is deleted), the test restarts (or, for the failure test, stops) the
//! real process. What the kubelet does (removing the pod when its manifest leaves staticPodPath,
//! making a new mirror pod when it returns, probing it Ready) is the real kubelet's.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::kubeadm::*;
use kubecert_testbed_harness::controlplane::{kubeadm_control_plane_local, Component, RunningControlPlane};
use kubecert_testbed_harness::ports::free_ports;
use kubecert_testbed_harness::{unique_name, Cluster};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const PODS: [(&str, Component); 3] = [("kube-apiserver", Component::Apiserver), ("kube-controller-manager", Component::ControllerManager), ("etcd", Component::Etcd)];

struct Fixture {
    _dir: tempfile::TempDir,
    tree: PathBuf,
    cp: RunningControlPlane,
    node: String,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let c = Cluster::shared();
        let _ = c.try_testbed(&["node", "stop", &self.node]);
        let _ = c.kubectl(&["delete", "node", &self.node, "--wait=false"]);
    }
}

/// The node's mirror pods: component name -> (uid, ready).
fn mirror_pods(node: &str) -> Option<BTreeMap<String, (String, bool)>> {
    let (ok, out, _) = Cluster::shared().kubectl(&[
        "-n",
        "kube-system",
        "get",
        "pods",
        "--field-selector",
        &format!("spec.nodeName={node}"),
        "-o",
        r#"jsonpath={range .items[*]}{.metadata.name} {.metadata.uid} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#,
    ]);
    if !ok {
        return None;
    }
    let suffix = format!("-{node}");
    Some(
        out.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let (name, uid, ready) = (w.next()?, w.next()?, w.next().unwrap_or(""));
                Some((name.strip_suffix(&suffix)?.to_string(), (uid.to_string(), ready == "True")))
            })
            .collect(),
    )
}

fn all_ready(node: &str) -> bool {
    mirror_pods(node).is_some_and(|m| PODS.iter().all(|(n, _)| m.get(*n).is_some_and(|(_, r)| *r)))
}

/// A kubeadm tree whose components run (harness) and whose manifests a testbed kubelet runs.
fn fixture() -> Fixture {
    let cluster = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let api = free_ports(1)[0];
    let tree = kubeadm_control_plane_local(&kubeadm(), &dir.path().join("tree"), api);
    let bin = kubeadm().parent().unwrap().to_path_buf();
    let cp = RunningControlPlane::start(&bin, &tree, api, &dir.path().join("logs"));
    cp.manifests_for_kubelet();
    let node = unique_name("cpr");
    cluster.testbed(&["node", "create", &node]);
    let cfg = cluster.node_root(&node).join("var/lib/kubelet/config.yaml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let manifests = tree.join("etc/kubernetes/manifests");
    std::fs::write(&cfg, text.replace("staticPodPath: \"\"", &format!("staticPodPath: {}", manifests.display()))).unwrap();
    let f = Fixture { _dir: dir, tree, cp, node };
    cluster.testbed(&["node", "join", &f.node]);
    wait_every(Duration::from_millis(300), Duration::from_secs(120), "the kubelet's mirror pods to be all Ready", || all_ready(&f.node).then_some(()));
    f
}

/// Stands in for the container runtime while `run` runs: each time the kubelet deletes a mirror pod,
/// `on_delete(component, nth time)` decides whether the real process is restarted (true) or stopped.
/// Returns `run`'s result and the deletions seen, in order.
fn with_runtime_stand_in<T: Send>(f: &mut Fixture, on_delete: impl Fn(Component, usize) -> bool + Send, run: impl FnOnce(&Path) -> T + Send) -> (T, Vec<String>) {
    let stop = &AtomicBool::new(false);
    let node = f.node.clone();
    let tree = f.tree.clone();
    let cp = &mut f.cp;
    std::thread::scope(|s| {
        let watcher = s.spawn(move || {
            let mut last = mirror_pods(&node).unwrap_or_default();
            let mut seen: Vec<String> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let Some(now) = mirror_pods(&node) else { continue };
                for (name, c) in PODS {
                    // Gone, or already back with a new UID (the gap can fall between two looks).
                    let replaced = match (last.get(name), now.get(name)) {
                        (Some(_), None) => true,
                        (Some((a, _)), Some((b, _))) => a != b,
                        _ => false,
                    };
                    if replaced {
                        seen.push(name.to_string());
                        let n = seen.iter().filter(|s| *s == name).count();
                        if on_delete(c, n) { cp.restart(c) } else { cp.stop(c) }
                    }
                }
                // A pod seen gone is counted once, not again when it returns.
                last = now;
            }
            seen
        });
        let out = run(&tree);
        stop.store(true, Ordering::Relaxed);
        (out, watcher.join().unwrap())
    })
}

fn kubecert_restart(tree: &Path, node: &str, extra: &[&str]) -> (Run, serde_json::Value) {
    let kubeconfig = Cluster::shared().kubeconfig().display().to_string();
    let root = tree.display().to_string();
    let mut args = vec!["renew", "--force", "--restart", "--node-name", node, "--kubeconfig", &kubeconfig, "--root", &root, "-o", "json"];
    args.extend_from_slice(extra);
    let o = kubecert(&args);
    // A refusal prints no JSON (the message is on stderr).
    let v = if o.stdout.is_empty() { serde_json::Value::Null } else { serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o))) };
    (o, v)
}



#[test]
fn renew_all_restart_recreates_each_mirror_pod_in_order_etcd_last() {
    let mut f = fixture();
    let before = mirror_pods(&f.node).unwrap();
    let node = f.node.clone();
    // The dry run says what it would restart, and changes nothing.
    let etc_before = files(&f.tree.join("etc/kubernetes"));
    let (o, plan) = kubecert_restart(&f.tree, &node, &["--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let planned: Vec<&str> = plan["restarts"]["plan"].as_array().unwrap().iter().map(|p| p["component"].as_str().unwrap()).collect();
    assert_eq!(planned, ["kube-apiserver", "kube-controller-manager", "etcd"], "{plan}");
    assert_eq!(plan["restarts"]["skipped"][0]["component"], "kube-scheduler", "{plan}");
    assert_eq!(files(&f.tree.join("etc/kubernetes")), etc_before, "the dry run changed files");

    let ((o, v), deleted) = with_runtime_stand_in(&mut f, |_, _| true, |tree| kubecert_restart(tree, &node, &[]));
    assert!(o.status.success(), "{}\n{v:#}", text(&o));
    let done = v["restarts"]["restarted"].as_array().unwrap();
    let order: Vec<&str> = done.iter().map(|d| d["component"].as_str().unwrap()).collect();
    assert_eq!(order, ["kube-apiserver", "kube-controller-manager", "etcd"], "{v:#}");
    // The kubelet deleted the mirror pods in that order (seen independently through kubectl)...
    assert_eq!(deleted, order, "{v:#}");
    // ...and re-created each with a new UID, Ready; the config hash is unchanged (same manifest).
    // kubecert saw each Ready as it came back; the API server's pod may be NotReady for a moment
    // after that, while etcd (restarted last) comes back and the API server's /readyz reconnects.
    let names: Vec<&str> = done.iter().map(|d| d["component"].as_str().unwrap()).collect();
    let after = wait_for(Duration::from_secs(30), "every restarted mirror pod Ready", || mirror_pods(&node).filter(|m| names.iter().all(|n| m.get(*n).is_some_and(|p| p.1))));
    for d in done {
        let name = d["component"].as_str().unwrap();
        assert_eq!(d["before"]["uid"].as_str().unwrap(), before[name].0);
        assert_ne!(d["after"]["uid"], d["before"]["uid"], "{name}");
        assert_eq!(d["after"]["uid"].as_str().unwrap(), after[name].0, "{name}");
        assert_eq!(d["after"]["configHash"], d["before"]["configHash"], "{name}");
    }
    // The manifests are back byte for byte; nothing is left aside.
    for (p, b) in files(&f.tree.join("etc/kubernetes/manifests")) {
        assert_eq!(etc_before.iter().find(|(q, _)| *q == format!("manifests/{p}")).map(|(_, b)| b), Some(&b), "{p}");
    }
    assert!(files(&f.tree.join("var/lib/kubecert/restart-manifests")).is_empty());
    // The real components serve and use the renewed files.
    let pki = f.tree.join("etc/kubernetes/pki");
    assert_eq!(served_serial(f.cp.api_port, None), file_serial(&pki.join("apiserver.crt")));
    let ec = (pki.join("apiserver-etcd-client.crt"), pki.join("apiserver-etcd-client.key"));
    assert_eq!(served_serial(f.cp.etcd_port, Some((&ec.0, &ec.1))), file_serial(&pki.join("etcd/server.crt")));
    let (ok, out) = f.cp.kubectl("super-admin.conf", &["get", "--raw", "/readyz"]);
    assert!(ok, "{out}");
}

#[test]
fn a_component_that_does_not_come_back_rolls_the_renewal_back() {
    let mut f = fixture();
    let node = f.node.clone();
    let etc_before = files(&f.tree.join("etc/kubernetes"));
    let before = mirror_pods(&node).unwrap();
    // The controller-manager's process does not come back after the first removal (a crash loop);
    // it starts again when the kubelet removes the pod a second time (the restart on the old files).
    let ((o, v), deleted) = with_runtime_stand_in(
        &mut f,
        |c, n| !(c == Component::ControllerManager && n == 1),
        |tree| kubecert_restart(tree, &node, &["controller-manager.conf", "--restart-timeout", "45s"]),
    );
    assert_eq!(o.status.code(), Some(1), "{}\n{v:#}", text(&o));
    let failure = &v["restarts"]["failure"];
    assert_eq!(failure["component"], "kube-controller-manager", "{v:#}");
    assert!(failure["reason"].as_str().unwrap().contains("did not come back healthy"), "{v:#}");
    assert!(failure["rolledBackBy"].is_string(), "{v:#}");
    let again = failure["restartedOnOldFiles"]["after"]["uid"].as_str().unwrap_or_else(|| panic!("not restarted on the old files: {v:#}"));
    assert_ne!(again, before["kube-controller-manager"].0);
    assert_eq!(deleted, ["kube-controller-manager", "kube-controller-manager"], "{v:#}");
    // The node is as it was: every file under /etc/kubernetes byte for byte, the pod Ready again.
    assert_eq!(files(&f.tree.join("etc/kubernetes")), etc_before);
    assert!(all_ready(&node));
    assert!(text(&o).is_empty() || !o.stdout.contains("PRIVATE KEY"));
}

#[test]
fn restart_refuses_before_writing_when_a_mirror_pod_cannot_be_judged() {
    let dir = tempfile::tempdir().unwrap();
    let t = kubeadm_tree(dir.path(), "t");
    // A manifest that is a symlink (out of the root) is never moved: reported, not followed.
    let m = t.join("etc/kubernetes/manifests/kube-scheduler.yaml");
    std::fs::rename(&m, dir.path().join("outside.yaml")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("outside.yaml"), &m).unwrap();
    let before = files(&t);
    // No kubelet runs these manifests: no mirror pods, so a restart could not be judged.
    let (o, v) = kubecert_restart(&t, "no-such-node", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("no mirror pod kube-system/kube-apiserver-no-such-node"), "{}", text(&o));
    assert_eq!(files(&t), before, "a refused restart changed files");
    assert!(v.is_null() || v.get("applied").is_none());
    let (o, v) = kubecert_restart(&t, "no-such-node", &["--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let skipped = v["restarts"]["skipped"].to_string();
    assert!(skipped.contains("kube-scheduler") && skipped.contains("symlink"), "{v:#}");
    assert_eq!(std::fs::read_link(&m).unwrap(), dir.path().join("outside.yaml"));
}

#[test]
fn restart_reads_the_nodes_admin_conf_inside_the_root_only() {
    let dir = tempfile::tempdir().unwrap();
    let t = kubeadm_tree(dir.path(), "t");
    let kc = t.join("etc/kubernetes/admin.conf");
    // admin.conf a link out of the root, to a kubeconfig whose server nothing listens on: followed,
    // kubecert would dial 127.0.0.1:1 (it did before this test); confined, it never gets that far.
    let outside = dir.path().join("outside-admin.conf");
    let text_of = std::fs::read_to_string(&kc).unwrap();
    let server = text_of.lines().find(|l| l.trim_start().starts_with("server:")).unwrap().trim().to_string();
    std::fs::write(&outside, text_of.replace(&server, "server: https://127.0.0.1:1")).unwrap();
    std::fs::remove_file(&kc).unwrap();
    std::os::unix::fs::symlink(&outside, &kc).unwrap();
    let before = files(&t);
    let root = t.display().to_string();
    let o = kubecert(&["renew", "--force", "--restart", "--node-name", "n", "--root", &root]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("/etc/kubernetes/admin.conf") && !text(&o).contains("mirror pod"), "{}", text(&o));
    assert_eq!(files(&t), before, "a refused restart changed files");

    // A node's kubeconfig that names files is refused (following them would read outside the root).
    std::fs::remove_file(&kc).unwrap();
    std::fs::write(&kc, "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', certificate-authority: /etc/kubernetes/pki/ca.crt}}]\nusers: [{name: u, user: {client-certificate: /x.crt, client-key: /x.key}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n").unwrap();
    let o = kubecert(&["renew", "--force", "--restart", "--node-name", "n", "--root", &root]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("names a CA file") && !text(&o).contains("127.0.0.1:1"), "{}", text(&o));
}
