//! `kubecert exporter --events` on a real kubelet's Node: run as the DaemonSet runs it (in-cluster
//! config with deploy/'s exporter ServiceAccount and its events Role), it posts
//! KubecertCertificateExpiring and KubecertDoctorError Events that `kubectl describe node` shows,
//! repeats raise the one Event's series count instead of creating new objects, and the count
//! stays within the rate limit (one post per event per interval).


use kubecert_testbed_harness::ecosystem::start_exporter;
use kubecert_testbed_harness::fleet::*;
use kubecert_testbed_harness::{repo_root, unique_name, Cluster};
use std::time::{Duration, Instant};

fn node_events(c: &Cluster, node: &str) -> Vec<serde_json::Value> {
    let out = c.kubectl_ok(&["get", "events.v1.events.k8s.io", "-n", "default", "-o", "json", "--field-selector", &format!("regarding.name={node}")]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["items"].as_array().unwrap().iter().filter(|e| e["reportingController"] == "kubecert.io/exporter").cloned().collect()
}

#[test]
fn exporter_posts_deduplicated_rate_limited_events_that_describe_node_shows() {
    let c = Cluster::shared();
    let deploy = repo_root().join("deploy");
    for f in ["namespace.yaml", "exporter-rbac.yaml"] {
        c.kubectl_ok(&["apply", "-f", &deploy.join(f).display().to_string()]);
    }
    let sa = "system:serviceaccount:kubecert-system:kubecert-exporter";
    for (verb, want) in [("create", "yes"), ("patch", "yes"), ("delete", "no")] {
        assert_eq!(c.kubectl(&["auth", "can-i", verb, "events.events.k8s.io", "-n", "default", "--as", sa]).1.trim(), want, "{verb} events");
    }
    assert_eq!(c.kubectl(&["auth", "can-i", "create", "events.events.k8s.io", "-n", "kube-system", "--as", sa]).1.trim(), "no");

    // A real kubelet's node; the exporter reads a copy of its tree with the client certificate
    // removed (a doctor error), and counts its year-long certificates as expiring (400 d window).
    let n = unique_name("events");
    c.testbed(&["node", "join", &n]);
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let cp = std::process::Command::new("cp").arg("-a").arg(c.node_root(&n)).arg(&tree).status().unwrap();
    assert!(cp.success());
    let link = tree.join("var/lib/kubelet/pki/kubelet-client-current.pem");
    let target = std::fs::read_link(&link).unwrap();
    std::fs::remove_file(tree.join(target.to_str().unwrap().trim_start_matches('/'))).unwrap();
    // Without its bootstrap kubeconfig too: with it the kubelet would just bootstrap again (an info
    // finding, as the oracle matrix shows), and the test needs a doctor error.
    std::fs::remove_file(tree.join("etc/kubernetes/bootstrap-kubelet.conf")).unwrap();

    let root = tree.display().to_string();
    let args = ["exporter", "--in-cluster", "--listen", "127.0.0.1:0", "--root", &root, "--node-name", &n, "--events", "--events-interval", "2s", "--warn-within", "400d", "-v"];
    let (cmd, _keep) = in_cluster_command(c, "kubecert-system/kubecert-exporter", &args);
    let started = Instant::now();
    let (exporter, _port) = start_exporter(cmd);

    // Wait for both kinds, then let several intervals pass.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ev = node_events(c, &n);
        let reasons: Vec<&str> = ev.iter().filter_map(|e| e["reason"].as_str()).collect();
        if reasons.contains(&"KubecertCertificateExpiring") && reasons.contains(&"KubecertDoctorError") {
            break;
        }
        assert!(Instant::now() < deadline, "no events on {n} after 60 s: {ev:#?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(7));
    let ev = node_events(c, &n);
    let elapsed = started.elapsed().as_secs_f64();
    drop(exporter);

    // One object per (reason, subject): repeats went into the series, not new Events.
    let mut names: Vec<&str> = ev.iter().map(|e| e["metadata"]["name"].as_str().unwrap()).collect();
    let total = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), total);
    let expiring: Vec<_> = ev.iter().filter(|e| e["reason"] == "KubecertCertificateExpiring").collect();
    let errors: Vec<_> = ev.iter().filter(|e| e["reason"] == "KubecertDoctorError").collect();
    assert!(!expiring.is_empty() && !errors.is_empty(), "{ev:#?}");
    for e in ev.iter() {
        assert_eq!(e["type"], "Warning");
        assert_eq!(e["regarding"]["kind"], "Node");
        let count = e["series"]["count"].as_i64().unwrap_or(1);
        // Rate limit: at most one post per 2 s interval (+1 for the first round's timing).
        assert!(count as f64 <= elapsed / 2.0 + 1.0, "{} posted {count} times in {elapsed:.1} s", e["metadata"]["name"]);
    }
    assert!(ev.iter().any(|e| e["series"]["count"].as_i64().unwrap_or(1) >= 2), "no event was repeated into a series: {ev:#?}");
    let note = errors.iter().map(|e| e["note"].as_str().unwrap()).collect::<Vec<_>>().join("\n");
    assert!(note.contains("kubecert explain"), "{note}");

    // What an operator sees.
    let described = c.kubectl_ok(&["describe", "node", &n]);
    let events_part = described.split("Events:").nth(1).unwrap_or_else(|| panic!("no Events section:\n{described}"));
    for want in ["KubecertCertificateExpiring", "KubecertDoctorError", "kubecert.io/exporter"] {
        assert!(events_part.contains(want), "kubectl describe node {n} lacks {want}:\n{events_part}");
    }
    // The series shows as a count ("x3 over 6s") in describe.
    assert!(events_part.contains(" over "), "no repeat count in describe:\n{events_part}");
}
