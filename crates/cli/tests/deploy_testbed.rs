//! deploy/ runs for real: `kubectl apply -k` of a test overlay of deploy/ (crates/cli/tests/
//! deploy_overlay: image from scripts/build-image, `imagePullPolicy: Never`, hostNetwork) on a
//! private testbed cluster with a kube-scheduler and a node backed by containerd + runc from Debian
//! (`testbed up --netns --scheduler`, `testbed node join NAME --runtime containerd`). Shown:
//! the exporter DaemonSet's pod Running on that node and serving /metrics on its hostNetwork port
//! with the NotAfter of the node's real kubelet client certificate, and the approver Deployment
//! (in-cluster, its ServiceAccount and the RBAC from deploy/) approving the kubelet's own
//! `kubernetes.io/kubelet-serving` CSR; nothing else in the testbed approves serving CSRs.


use kubecert_testbed_harness::ecosystem::require;
use kubecert_testbed_harness::{repo_root, Cluster};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const NODE: &str = "ctrd1";
const NS: &str = "kubecert-system";
/// The tag the overlay's `images:` entry gives, as a user's would point at their registry.
const TAG: &str = "testbed";

fn json(c: &Cluster, args: &[&str]) -> Value {
    let (ok, out, err) = c.kubectl(args);
    assert!(ok, "kubectl {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("kubectl {args:?} printed no JSON ({e}): {out}"))
}

/// What to look at when a wait times out: the pods as kubectl describes them and the node's logs.
fn diagnostics(c: &Cluster) -> String {
    let (_, pods, _) = c.kubectl(&["describe", "pods", "-n", NS]);
    let dir = Path::new(c.var("TESTBED_DIR")).join("logs");
    let tail = |f: &str| std::fs::read_to_string(dir.join(f)).map(|s| s.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")).unwrap_or_default();
    format!("{pods}\n--- kubelet\n{}\n--- containerd\n{}", tail(&format!("kubelet-{NODE}.log")), tail(&format!("containerd-{NODE}.log")))
}

fn wait_for<T>(c: &Cluster, what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}\n{}", diagnostics(c));
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The overlay of the test overlay with what varies per run: the API server's address (no
/// kube-proxy here, so the in-cluster client is pointed at it directly; the pods share the node's
/// network namespace, where the API server listens), the node tree's host paths, the image's tag.
fn run_overlay(c: &Cluster, dir: &Path) {
    let port = c.server().rsplit(':').next().unwrap().to_string();
    let tree = c.node_root(NODE);
    // kustomize takes no absolute path for a base: climb from the temp dir to / and down again
    let base = repo_root().join("crates/cli/tests/deploy_overlay");
    let up = "../".repeat(dir.canonicalize().unwrap().components().count() - 1);
    let base = format!("{up}{}", base.display().to_string().trim_start_matches('/'));
    let env = format!("[{{name: KUBERNETES_SERVICE_HOST, value: \"127.0.0.1\"}}, {{name: KUBERNETES_SERVICE_PORT, value: \"{port}\"}}]");
    // The kubelet (and containerd) see the node tree's /etc/kubernetes and /var/lib/kubelet at the
    // real paths (their mount namespace); the other host paths the exporter reads are pointed at the
    // tree too, so that it reads this node and creates nothing on the machine.
    let t = |p: &str| tree.join(p).display().to_string();
    let text = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {base}\nimages:\n  - {{name: localhost/kubecert, newTag: {TAG}}}\npatches:\n  - patch: |-\n      apiVersion: apps/v1\n      kind: DaemonSet\n      metadata: {{name: kubecert-exporter, namespace: {NS}}}\n      spec:\n        template:\n          spec:\n            containers:\n              - {{name: exporter, env: {env}}}\n            volumes:\n              - {{name: etc-systemd, hostPath: {{path: {}}}}}\n              - {{name: usr-lib-systemd, hostPath: {{path: {}}}}}\n              - {{name: etc-default, hostPath: {{path: {}}}}}\n              - {{name: etc-sysconfig, hostPath: {{path: {}}}}}\n              - {{name: etc-hostname, hostPath: {{path: {}}}}}\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata: {{name: kubecert-approver, namespace: {NS}}}\n      spec:\n        template:\n          spec:\n            containers:\n              - {{name: approver, env: {env}}}\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata: {{name: kubecert-forecast, namespace: {NS}}}\n      spec:\n        template:\n          spec:\n            containers:\n              - {{name: forecast, env: {env}}}\n",
        t("etc/systemd/system"),
        t("usr/lib/systemd/system"),
        t("etc/default"),
        t("etc/sysconfig"),
        t("etc/hostname"),
    );
    std::fs::write(dir.join("kustomization.yaml"), text).unwrap();
}

fn openssl_not_after(pem: &Path) -> i64 {
    let o = Command::new("openssl").args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"]).arg(pem).output().expect("openssl");
    assert!(o.status.success(), "openssl x509 {}: {}", pem.display(), String::from_utf8_lossy(&o.stderr));
    let s = String::from_utf8_lossy(&o.stdout);
    let date = s.trim().trim_start_matches("notAfter=");
    let o = Command::new("date").args(["-u", "-d", date, "+%s"]).output().expect("date");
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or_else(|_| panic!("date -d {date:?}"))
}

#[test]
fn deploy_runs_on_a_containerd_node_the_exporter_serves_and_the_approver_approves_a_serving_csr() {
    for (tool, package) in [("containerd", "containerd"), ("ctr", "containerd"), ("runc", "runc"), ("buildah", "buildah"), ("curl", "curl")] {
        require(tool, package);
    }
    assert!(Path::new("/usr/lib/cni/loopback").exists(), "the CNI loopback plugin is missing: apt-get install containernetworking-plugins (.ci/run installs it)");
    let o = Command::new(repo_root().join("scripts/build-image")).output().expect("run scripts/build-image");
    assert!(o.status.success(), "scripts/build-image failed:\n{}", String::from_utf8_lossy(&o.stderr));
    let archive = String::from_utf8_lossy(&o.stdout).lines().last().expect("the archive's path").trim().to_string();

    let c = Cluster::start(&["--netns", "--scheduler"]);
    c.testbed(&["node", "create", NODE, "--runtime", "containerd"]);
    // As kubeadm's kubelet config does where an approver runs: the kubelet asks for a CA-signed
    // serving certificate (the CSR needs the node's address: hence --netns).
    let cfg = c.node_root(NODE).join("var/lib/kubelet/config.yaml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str("serverTLSBootstrap: true\n");
    std::fs::write(&cfg, text).unwrap();
    c.testbed(&["node", "join", NODE]);
    let names = c.testbed(&["node", "import", NODE, &archive, &format!("localhost/kubecert:{TAG}")]);
    assert!(names.lines().any(|l| l == format!("localhost/kubecert:{TAG}")), "node import printed {names}");

    let overlay = tempfile::tempdir().unwrap();
    run_overlay(&c, overlay.path());
    let (ok, out, err) = c.kubectl(&["apply", "-k", &overlay.path().display().to_string()]);
    assert!(ok, "kubectl apply -k: {out}{err}");

    // The exporter DaemonSet's pod: scheduled by the DaemonSet controller onto the node, run by
    // containerd, Ready (its /healthz readiness probe, made by the kubelet).
    let pod = wait_for(&c, "the exporter pod Running and Ready on the containerd node", Duration::from_secs(120), || {
        let v = json(&c, &["get", "pods", "-n", NS, "-l", "app.kubernetes.io/name=kubecert-exporter", "-o", "json"]);
        v["items"].as_array()?.iter().find(|p| {
            p["spec"]["nodeName"] == NODE && p["status"]["phase"] == "Running" && p["status"]["containerStatuses"][0]["ready"] == true
        }).cloned()
    });
    // the overlay's images: entry decided the image (containerd reports the digest's first name)
    assert_eq!(pod["spec"]["containers"][0]["image"], format!("localhost/kubecert:{TAG}"), "{pod}");
    assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Never", "{pod}");
    assert!(pod["status"]["containerStatuses"][0]["containerID"].as_str().unwrap_or_default().starts_with("containerd://"), "{pod}");

    // Its /metrics on the node's address (hostNetwork), from inside the cluster's network namespace.
    let ip = c.node_ip(NODE);
    let o = c.command_in_cluster("curl").args(["-sf", "--max-time", "20", &format!("http://{ip}:9654/metrics")]).output().expect("curl");
    assert!(o.status.success(), "GET http://{ip}:9654/metrics failed: {}\n{}", String::from_utf8_lossy(&o.stderr), diagnostics(&c));
    let metrics = String::from_utf8_lossy(&o.stdout).into_owned();
    // The node's real client certificate (written by its kubelet at TLS bootstrap), read by openssl.
    // The link is absolute as the node sees it (/var/lib/kubelet/pki/kubelet-client-<stamp>.pem).
    let link = std::fs::read_link(c.node_root(NODE).join("var/lib/kubelet/pki/kubelet-client-current.pem")).unwrap();
    let want = openssl_not_after(&c.node_root(NODE).join(link.strip_prefix("/").unwrap()));
    let series = metrics
        .lines()
        .find(|l| l.starts_with("kubecert_cert_not_after_seconds{") && l.contains(&format!("node=\"{NODE}\"")) && l.contains("kubelet-client-current.pem"))
        .unwrap_or_else(|| panic!("no kubecert_cert_not_after_seconds series for {NODE}'s kubelet client certificate:\n{metrics}"));
    let got: i64 = series.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(got, want, "{series} (openssl says NotAfter {want})");
    assert!(metrics.lines().any(|l| l == format!("kubecert_apiserver_up{{node=\"{NODE}\"}} 1")), "the exporter did not reach the API server in-cluster:\n{metrics}");

    // The kubelet's serving CSR, approved by the approver Deployment with kubecert's reason and
    // then signed by the controller-manager.
    let csr = wait_for(&c, "the kubelet's serving CSR approved by the in-cluster approver and issued", Duration::from_secs(120), || {
        let v = json(&c, &["get", "csr", "-o", "json"]);
        v["items"].as_array()?.iter().find(|r| {
            r["spec"]["signerName"] == "kubernetes.io/kubelet-serving"
                && r["spec"]["username"] == format!("system:node:{NODE}")
                && r["status"]["conditions"].as_array().is_some_and(|cs| cs.iter().any(|c| c["type"] == "Approved" && c["reason"] == "KubecertPolicyApprove"))
                && r["status"]["certificate"].as_str().is_some_and(|s| !s.is_empty())
        }).cloned()
    });
    let name = csr["metadata"]["name"].as_str().unwrap().to_string();

    // The forecast Deployment (kubecert scan --serve, its own read-only RBAC): Ready on the node,
    // and its /metrics dates this node's client certificate as openssl reads it.
    wait_for(&c, "the forecast pod Running and Ready", Duration::from_secs(120), || {
        let v = json(&c, &["get", "pods", "-n", NS, "-l", "app.kubernetes.io/name=kubecert-forecast", "-o", "json"]);
        v["items"].as_array()?.iter().find(|p| p["status"]["phase"] == "Running" && p["status"]["containerStatuses"][0]["ready"] == true).cloned()
    });
    let forecast = wait_for(&c, "the forecast's scan with this node's kubelet client certificate", Duration::from_secs(60), || {
        let o = c.command_in_cluster("curl").args(["-sf", "--max-time", "20", &format!("http://{ip}:9655/metrics")]).output().ok()?;
        let m = String::from_utf8_lossy(&o.stdout).into_owned();
        (m.lines().any(|l| l == "kubecert_scan_success 1") && m.contains(&format!("node=\"{NODE}\""))).then_some(m)
    });
    let line = forecast
        .lines()
        .find(|l| l.starts_with("kubecert_kubelet_cert_not_after_seconds{") && l.contains(&format!("node=\"{NODE}\"")) && l.contains("certificate=\"client\""))
        .unwrap_or_else(|| panic!("the forecast does not date {NODE}'s client certificate:\n{forecast}"));
    let got: i64 = line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as i64;
    // (the kubelet publishes a TTL, read at scrape time: the date is within a minute)
    assert!((got - want).abs() <= 60, "{line} (openssl says NotAfter {want})");
    let (_, logs, err) = c.kubectl(&["logs", "-n", NS, "-l", "app.kubernetes.io/name=kubecert-approver", "--tail", "-1"]);
    assert!(logs.contains(&name), "the approver pods' logs do not name {name}:\n{logs}{err}");
    let approvers = json(&c, &["get", "pods", "-n", NS, "-l", "app.kubernetes.io/name=kubecert-approver", "-o", "json"]);
    assert!(
        approvers["items"].as_array().unwrap().iter().all(|p| p["spec"]["nodeName"] == NODE && p["spec"]["serviceAccountName"] == "kubecert-approver"),
        "{approvers}"
    );
}
