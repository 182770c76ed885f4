//! Real kubelets v1.37.2 with real addresses (testbed `--netns`, each test its own cluster whose
//! controller-manager signs for 1 or 2 minutes, so kubelets rotate within about a minute):
//! - `kubecert serving`: from the self-signed serving certificate to a cluster-signed one that the
//!   kubelet then rotates by itself; the oracle is openssl (`s_client -verify_ip <node IP> -CAfile
//!   ca.crt` fails before and passes after).
//! - `kubecert scan`'s forecast: a node whose renewal cannot be approved is named with its real
//!   expiry and the reason, and then really goes NotReady; with auto-approval nothing is forecast.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::fleet::kubecert;
use kubecert_testbed_harness::Cluster;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// kubecert on a node tree (no cluster access).
fn kubecert_node(args: &[&str], root: &Path) -> Run {
    Kubecert::new(args).arg("--root").arg(root).run()
}

/// The serial of what the kubelet serves, if its certificate verifies for its IP against the cluster CA.
fn verified_serial(c: &Cluster, ip: &str, port: &str) -> Option<String> {
    let script = format!(
        "openssl s_client -connect {ip}:{port} -verify_ip {ip} -CAfile '{}' -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -serial",
        c.ca_cert().display()
    );
    let o = c.command_in_cluster("sh").arg("-c").arg(script).output().expect("openssl");
    let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
    (o.status.success() && s.starts_with("serial=")).then_some(s)
}

fn node_status(c: &Cluster, node: &str) -> (i32, serde_json::Value) {
    let o = kubecert(c, &["serving", "status", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("serving status: not JSON ({e}): {}", text(&o)));
    let n = v["nodes"].as_array().unwrap().iter().find(|n| n["name"] == node).unwrap_or_else(|| panic!("{node} not in {v}")).clone();
    (o.status.code().unwrap_or(-1), n)
}

/// A process this test started, stopped when the test ends (also on a failed assertion).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn self_signed_to_cluster_signed_then_rotating_and_rolled_back() {
    let c = Cluster::start(&["--netns", "--cluster-signing-duration", "2m"]);
    let n = "sv1";
    let tree = PathBuf::from(c.testbed(&["node", "create", n]).lines().last().unwrap().trim());
    c.testbed(&["node", "join", n]);
    let ip = c.node_ip(n);
    assert!(ip.starts_with("10.250."), "{ip}");
    let cfg_path = tree.join("var/lib/kubelet/config.yaml");
    let original = std::fs::read(&cfg_path).unwrap();
    let port = String::from_utf8_lossy(&original).lines().find_map(|l| l.strip_prefix("port: ")).unwrap().trim().to_string();

    // 1. Self-signed: openssl refuses it, serving status says so and what to run.
    assert_eq!(verified_serial(&c, &ip, &port), None, "a self-signed kubelet.crt must not verify against the cluster CA");
    let (code, st) = node_status(&c, n);
    assert_eq!((code, st["stage"].as_str()), (1, Some("self-signed")), "{st}");
    assert!(st["uncovered_addresses"].as_array().unwrap().iter().any(|a| a == &ip), "the self-signed cert has no IP SAN: {st}");
    assert!(st["next_step"].as_str().unwrap().contains("serving enable"), "{st}");

    // 2. enable --dry-run says what it will do and writes nothing.
    c.testbed(&["node", "stop", n]);
    let o = kubecert_node(&["serving", "enable", "--dry-run"], &tree);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("/var/lib/kubelet/config.yaml"), "{}", text(&o));
    assert_eq!(std::fs::read(&cfg_path).unwrap(), original, "dry run changed the config");

    // 3. enable: one line added, every other byte kept, mode kept, backed up; --wait then waits
    //    (bounded) for the CSR of the kubelet, which the test restarts meanwhile.
    let waiter = std::process::Command::new(env!("CARGO_BIN_EXE_kubecert"))
        .args(["serving", "enable", "--wait", "60s", "--kubeconfig"])
        .arg(c.kubeconfig())
        .arg("--root")
        .arg(&tree)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut expected = original.clone();
    expected.extend_from_slice(b"serverTLSBootstrap: true\n");
    wait_for(Duration::from_secs(20), "the config edited", || (std::fs::read(&cfg_path).unwrap() == expected).then_some(()));
    c.testbed(&["node", "start", n]);
    let o = waiter.wait_with_output().unwrap();
    assert!(o.status.success() && text(&o).contains("the kubelet filed serving CSR csr-"), "{}", text(&o));
    assert_eq!(std::fs::read(&cfg_path).unwrap(), expected);
    let o = kubecert_node(&["serving", "enable"], &tree);
    assert!(o.status.success() && text(&o).contains("already true"), "{}", text(&o));

    // 4. With no approver the CSR stays Pending and status says which CSR and that the policy
    //    would approve it.
    c.testbed(&["node", "wait-ready", n]);
    let csr = wait_for(Duration::from_secs(30), "a pending serving CSR in serving status", || {
        let (code, st) = node_status(&c, n);
        (st["stage"] == "awaiting-approval" && code == 1 && st["pending_csrs"][0].is_object()).then(|| st["pending_csrs"][0].clone())
    });
    assert_eq!(csr["would_approve"], true, "{csr}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(verified_serial(&c, &ip, &port), None, "nothing approved yet, nothing may verify");

    // 5. kubecert approve: the kubelet serves a cluster-signed certificate naming its IP.
    let o = kubecert(&c, &["approve"]);
    assert!(o.status.success(), "{}", text(&o));
    let first = wait_for(Duration::from_secs(30), "a verifying serving certificate", || verified_serial(&c, &ip, &port));
    let (code, st) = node_status(&c, n);
    assert_eq!((code, st["stage"].as_str()), (0, Some("done")), "{st}");

    // 6. The kubelet renews it by itself (2-minute certificates): a second CSR, approved, a new serial.
    let second = wait_for(Duration::from_secs(150), "a renewed serving certificate", || {
        let o = kubecert(&c, &["approve"]);
        assert!(o.status.success(), "{}", text(&o));
        verified_serial(&c, &ip, &port).filter(|s| *s != first)
    });
    assert_ne!(first, second);

    // 7. Rollback restores the KubeletConfiguration byte for byte.
    c.testbed(&["node", "stop", n]);
    let o = kubecert_node(&["rollback"], &tree);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(&cfg_path).unwrap(), original, "rollback did not restore config.yaml");
}

#[test]
fn refusals_and_renewing_a_self_signed_certificate() {
    // Offline, on a tree made like kubeadm's: no cluster needed.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let pki = root.join("var/lib/kubelet/pki");
    std::fs::create_dir_all(&pki).unwrap();
    std::fs::create_dir_all(root.join("etc/systemd/system/kubelet.service.d")).unwrap();
    std::fs::write(
        root.join("etc/systemd/system/kubelet.service.d/10-kubeadm.conf"),
        "[Service]\nEnvironment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_CONFIG_ARGS --hostname-override=n1\n",
    )
    .unwrap();
    std::fs::write(root.join("var/lib/kubelet/config.yaml"), "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n").unwrap();
    // an expired self-signed kubelet.crt, as the kubelet makes it (CN = host name)
    let (key, crt) = (pki.join("kubelet.key").display().to_string(), pki.join("kubelet.crt").display().to_string());
    let (ok, out) = try_openssl(&["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=n1@1700000000", "-days", "1", "-keyout", &key, "-out", &crt]);
    assert!(ok, "{out}");
    let cert = std::fs::read(pki.join("kubelet.crt")).unwrap();

    // valid for a day: inside the default 30-day window, so it is renewed; a 1h window refuses
    let o = kubecert_node(&["serving", "renew", "--within", "1h"], root);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("nothing to renew"), "{}", text(&o));
    let o = kubecert_node(&["serving", "renew", "--dry-run"], root);
    assert!(o.status.success(), "{}", text(&o));
    assert!(pki.join("kubelet.crt").exists());
    let o = kubecert_node(&["serving", "renew"], root);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("serving enable"), "must say that serving enable is the lasting fix: {}", text(&o));
    assert!(!pki.join("kubelet.crt").exists() && !pki.join("kubelet.key").exists());
    let o = kubecert_node(&["rollback"], root);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(std::fs::read(pki.join("kubelet.crt")).unwrap(), cert);

    // serverTLSBootstrap on: renew has nothing to do (the kubelet rotates)
    std::fs::write(root.join("var/lib/kubelet/config.yaml"), "kind: KubeletConfiguration\nserverTLSBootstrap: true\n").unwrap();
    let o = kubecert_node(&["serving", "renew"], root);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("kubecert approve"), "{}", text(&o));

    // a flag that turns it off wins over the file: enable refuses and says where
    std::fs::write(root.join("var/lib/kubelet/config.yaml"), "kind: KubeletConfiguration\n").unwrap();
    std::fs::write(
        root.join("etc/systemd/system/kubelet.service.d/10-kubeadm.conf"),
        "[Service]\nExecStart=\nExecStart=/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml --rotate-server-certificates=false\n",
    )
    .unwrap();
    let o = kubecert_node(&["serving", "enable"], root);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("--rotate-server-certificates=false"), "{}", text(&o));

    // a k3s agent manages its own serving certificate
    let k3s = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(k3s.path().join("var/lib/rancher/k3s/agent")).unwrap();
    std::fs::write(k3s.path().join("var/lib/rancher/k3s/agent/kubelet.kubeconfig"), "apiVersion: v1\nkind: Config\n").unwrap();
    let o = kubecert_node(&["serving", "enable"], k3s.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("k3s"), "{}", text(&o));
}

fn csrs_of(c: &Cluster, node: &str) -> Vec<serde_json::Value> {
    let (ok, out, err) = c.kubectl(&["get", "csr", "-o", "json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["items"].as_array().unwrap().iter().filter(|x| x["spec"]["username"] == format!("system:node:{node}") && x["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet").cloned().collect()
}

fn conditions(csr: &serde_json::Value) -> Vec<String> {
    csr["status"]["conditions"].as_array().map(|a| a.iter().filter_map(|c| c["type"].as_str().map(String::from)).collect()).unwrap_or_default()
}

/// The not-after of the kubelet's current client certificate, by openssl (seconds since the epoch).
fn client_not_after(tree: &Path) -> i64 {
    let link = std::fs::read_link(tree.join("var/lib/kubelet/pki/kubelet-client-current.pem")).unwrap();
    let file = tree.join(link.strip_prefix("/").unwrap_or(&link));
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("date -d \"$(openssl x509 -enddate -noout -in '{}' | cut -d= -f2)\" +%s", file.display()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or_else(|_| panic!("openssl/date: {}", text(&o)))
}

fn forecast_of(c: &Cluster, node: &str) -> (i32, Vec<serde_json::Value>) {
    let o = kubecert(c, &["scan", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("scan: not JSON ({e}): {}", text(&o)));
    let f = v["forecast"].as_array().unwrap().iter().filter(|f| f["node"] == node).cloned().collect();
    (o.status.code().unwrap_or(-1), f)
}

#[test]
fn forecast_names_the_node_its_expiry_and_the_missing_binding_then_comes_true() {
    let c = Cluster::start(&["--netns", "--cluster-signing-duration", "1m"]);
    let (ok, _, err) = c.kubectl(&["delete", "clusterrolebinding", "kubeadm:node-autoapprove-certificate-rotation"]);
    assert!(ok, "{err}");
    let n = "fc1";
    let tree = PathBuf::from(c.testbed(&["node", "create", n]).lines().last().unwrap().trim());
    c.testbed(&["node", "join", n]);
    // Its 1-minute certificate (backdated 5 min) is past 70 % of its life at once: the kubelet
    // files a renewal, which nothing approves.
    wait_for(Duration::from_secs(120), "a Pending renewal CSR of fc1", || csrs_of(&c, n).iter().any(|x| conditions(x).is_empty()).then_some(()));
    let real = client_not_after(&tree);
    let (code, f) = forecast_of(&c, n);
    assert_eq!(code, 1, "a forecast is a problem");
    let client = f.iter().find(|x| x["certificate"] == "client").unwrap_or_else(|| panic!("fc1 not forecast: {f:?}"));
    let when = time::OffsetDateTime::parse(client["when"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap().unix_timestamp();
    assert!((when - real).abs() <= 60, "forecast {when} vs the certificate's real not-after {real}");
    let reasons = client["reasons"].to_string();
    assert!(reasons.contains("kubeadm:node-autoapprove-certificate-rotation") && reasons.contains("Pending"), "{reasons}");
    assert!(client["prevent"].as_str().unwrap().contains("kubecert rbac ensure"), "{client}");

    // The forecast comes true: once the certificate expired, a kubelet that restarts without a
    // bootstrap kubeconfig (kubeadm deletes it after join) never gets Ready again.
    let wait = real + 3 - time::OffsetDateTime::now_utc().unix_timestamp();
    if wait > 0 {
        std::thread::sleep(Duration::from_secs(wait as u64));
    }
    c.testbed(&["node", "stop", n]);
    std::fs::remove_file(tree.join("etc/kubernetes/bootstrap-kubelet.conf")).unwrap();
    c.testbed(&["node", "start", n]);
    let (ready, log) = c.try_testbed(&["node", "wait-ready", n, "--timeout", "20"]);
    assert!(!ready, "fc1 came back Ready with an expired certificate: {log}");

    // With auto-approval, a node's renewals are approved and nothing is forecast for it.
    let o = kubecert(&c, &["rbac", "ensure"]);
    assert!(o.status.success(), "{}", text(&o));
    c.testbed(&["node", "join", "fc2"]);
    wait_for(Duration::from_secs(120), "a renewal of fc2 approved and issued", || csrs_of(&c, "fc2").iter().any(|x| conditions(x).contains(&"Approved".to_string()) && x["status"]["certificate"].is_string()).then_some(()));
    let (_, f) = forecast_of(&c, "fc2");
    assert!(f.is_empty(), "fc2 renews fine, yet: {f:?}");
    c.testbed(&["node", "stop", n]);
}

/// The bootstrap token id a node joined with (the requestor of its bootstrap CSR).
fn joined_with(c: &Cluster, node: &str) -> String {
    let (ok, out, err) = c.kubectl(&["get", "csr", "-o", "json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let by = v["items"].as_array().unwrap().iter().filter_map(|x| x["spec"]["username"].as_str()?.strip_prefix("system:bootstrap:").map(String::from));
    // one node joins per token here, and the CSR's request names the node: take the only bootstrap CSR issued for it
    let ids: Vec<String> = by.collect();
    assert_eq!(ids.len(), 1, "bootstrap CSRs of {node}: {ids:?}");
    ids[0].clone()
}

#[test]
fn forecast_rotation_off_from_the_kubelets_own_metrics_and_the_token_it_cannot_come_back_with() {
    let c = Cluster::start(&["--netns", "--cluster-signing-duration", "30m"]);
    // r1's kubelet does not rotate: it bootstraps once and keeps that certificate
    let n = "r1";
    let tree = join_without_rotation(&c, n);
    let real = client_not_after(&tree);

    let o = kubecert(&c, &["scan", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("scan: not JSON ({e}): {}", text(&o)));
    let f: Vec<_> = v["forecast"].as_array().unwrap().iter().filter(|f| f["node"] == n).cloned().collect();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let client = f.iter().find(|x| x["certificate"] == "client").unwrap_or_else(|| panic!("{n} not forecast: {v}"));
    let when = time::OffsetDateTime::parse(client["when"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap().unix_timestamp();
    assert!((when - real).abs() <= 60, "forecast {when} vs the certificate's real not-after {real}");
    assert_eq!(client["reasons"][0]["code"], "rotation-off", "{client}");
    assert_eq!(client["reasons"][0]["evidence"], "kubelet-metrics", "{client}");
    assert_eq!(client["reasons"].as_array().unwrap().len(), 1, "its join token still works: {client}");
    assert!(client["prevent"].as_str().unwrap().contains("rotateCertificates: true"), "{client}");

    // the same forecast served as metrics (what the PrometheusRule alerts on), by a long-running
    // `scan --serve` scanning every second
    let server = KillOnDrop(c
        .command_in_cluster(env!("CARGO_BIN_EXE_kubecert"))
        .args(["scan", "--serve", "127.0.0.1:9655", "--every", "1s", "--kubeconfig"])
        .arg(c.kubeconfig())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kubecert scan --serve"));
    let metrics = |want: &str| {
        wait_for(Duration::from_secs(60), want, || {
            let o = c.command_in_cluster("curl").args(["-sf", "http://127.0.0.1:9655/metrics"]).output().unwrap();
            let body = String::from_utf8_lossy(&o.stdout).to_string();
            body.contains(want).then_some(body)
        })
    };
    let body = metrics("kubecert_forecast_timestamp_seconds{node=\"r1\"");
    let line = body.lines().find(|l| l.starts_with("kubecert_forecast_timestamp_seconds{node=\"r1\"")).unwrap();
    let (labels, value) = line.rsplit_once(' ').unwrap();
    assert_eq!(labels, "kubecert_forecast_timestamp_seconds{node=\"r1\",certificate=\"client\",reason=\"rotation-off\"}", "{body}");
    assert!((value.parse::<i64>().unwrap() - real).abs() <= 60, "served {value} vs the certificate's real not-after {real}");
    assert!(body.contains("kubecert_scan_success 1\n"), "{body}");
    assert!(!body.contains("kubecert_forecast_timestamp_seconds{node=\"r2\""), "{body}");

    // its join token deleted: it could not come back by bootstrapping either
    let id = joined_with(&c, n);
    c.kubectl_ok(&["-n", "kube-system", "delete", "secret", &format!("bootstrap-token-{id}")]);
    let (_, f) = forecast_of(&c, n);
    let client = f.iter().find(|x| x["certificate"] == "client").unwrap();
    let codes: Vec<_> = client["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_string()).collect();
    assert_eq!(codes, ["rotation-off", "bootstrap-token-gone"], "{client}");
    assert_eq!(client["reasons"][1]["token_id"], id.as_str());
    assert!(client["reasons"][1]["fix"].as_str().unwrap().contains("bootstrap-config --node r1"), "{client}");
    metrics("kubecert_forecast_reason{node=\"r1\",certificate=\"client\",reason=\"bootstrap-token-gone\"} 1");
    drop(server);

    // a rotating node beside it is not forecast
    c.testbed(&["node", "join", "r2"]);
    let (_, f) = forecast_of(&c, "r2");
    assert!(f.is_empty(), "r2 rotates, yet: {f:?}");
    c.testbed(&["node", "stop", n]);
}

/// A node `name` whose kubelet does not rotate its client certificate, joined; its tree.
fn join_without_rotation(c: &Cluster, name: &str) -> PathBuf {
    let tree = PathBuf::from(c.testbed(&["node", "create", name]).lines().last().unwrap().trim());
    let cfg = tree.join("var/lib/kubelet/config.yaml");
    let yaml = std::fs::read_to_string(&cfg).unwrap();
    assert!(yaml.contains("rotateCertificates: true"), "{yaml}");
    std::fs::write(&cfg, yaml.replace("rotateCertificates: true", "rotateCertificates: false")).unwrap();
    c.testbed(&["node", "join", name]);
    tree
}

/// A user who may read what the scan reads, except `nodes/proxy` (the kubelets' API); and who may
/// reach kubecert's exporter Pods through `pods/proxy` in kubecert-system.
const LIMITED_RBAC: &str = "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kubecert-viewer}
rules:
  - {apiGroups: [''], resources: [nodes], verbs: [list]}
  - {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests], verbs: [list]}
  - {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles, clusterrolebindings, roles, rolebindings], verbs: [get]}
  - {apiGroups: [authorization.k8s.io], resources: [subjectaccessreviews], verbs: [create]}
  - {apiGroups: [''], resources: [configmaps, secrets], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kubecert-viewer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kubecert-viewer}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: kubecert-viewer}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: kubecert-viewer-exporters, namespace: kubecert-system}
rules:
  - {apiGroups: [''], resources: [pods], verbs: [list]}
  - {apiGroups: [''], resources: [pods/proxy], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: kubecert-viewer-exporters, namespace: kubecert-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: kubecert-viewer-exporters}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: kubecert-viewer}]
";

#[test]
fn forecast_falls_back_to_the_exporter_when_the_node_proxy_is_refused() {
    let c = Cluster::start(&["--netns", "--cluster-signing-duration", "30m"]);
    let tree = join_without_rotation(&c, "x1");
    c.testbed(&["node", "join", "x2"]);
    let real = client_not_after(&tree);

    // kubecert's exporter for x1, as the DaemonSet runs it: a Pod bound to x1 and a real
    // `kubecert exporter` reading x1's files. The testbed's container runtime is the upstream fake,
    // which runs nothing and gives every Pod the IP 192.168.192.168; that address is put on the
    // cluster's network namespace and the exporter process listens there, where the Pod network
    // would deliver it, so the API server's pod proxy reaches it as it would a real Pod.
    c.kubectl_ok(&["create", "namespace", "kubecert-system"]);
    let pod = "apiVersion: v1
kind: Pod
metadata: {name: kubecert-exporter-x1, namespace: kubecert-system, labels: {app.kubernetes.io/name: kubecert-exporter}}
spec:
  nodeName: x1
  containers: [{name: exporter, image: kubecert, ports: [{name: metrics, containerPort: 9654}]}]
";
    let (ok, out) = c.kubectl_stdin(None, &["apply"], pod);
    assert!(ok, "{out}");
    let pod_ip = wait_for(Duration::from_secs(60), "the exporter Pod Running", || {
        let (_, out, _) = c.kubectl(&["-n", "kubecert-system", "get", "pod", "kubecert-exporter-x1", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        (v["status"]["phase"] == "Running").then(|| v["status"]["podIP"].as_str().map(String::from)).flatten()
    });
    let o = c.command_in_cluster("ip").args(["addr", "add", &format!("{pod_ip}/32"), "dev", "lo"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let _exporter = KillOnDrop(
        c.command_in_cluster(env!("CARGO_BIN_EXE_kubecert"))
            .args(["exporter", "--listen", &format!("{pod_ip}:9654"), "--root"])
            .arg(&tree)
            .env_remove("KUBECONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("kubecert exporter"),
    );
    wait_for(Duration::from_secs(30), "the exporter through the pod proxy", || {
        c.kubectl(&["get", "--raw", "/api/v1/namespaces/kubecert-system/pods/kubecert-exporter-x1:9654/proxy/healthz"]).0.then_some(())
    });

    let (ok, out) = c.kubectl_stdin(None, &["apply"], LIMITED_RBAC);
    assert!(ok, "{out}");
    let viewer = kubecert_testbed_harness::fleet::user_identity(&c, "kubecert-viewer", None);
    // the refusal is real: the API server forbids this user the node proxy
    let (ok, _, err) = c.kubectl(&["--kubeconfig", &viewer.kubeconfig.display().to_string(), "get", "--raw", "/api/v1/nodes/x1/proxy/metrics"]);
    assert!(!ok && err.contains("forbidden"), "{err}");

    let scan = |kubeconfig: &Path| {
        let o = c.command_in_cluster(env!("CARGO_BIN_EXE_kubecert")).args(["scan", "-o", "json", "--kubeconfig"]).arg(kubeconfig).env("NO_COLOR", "1").env_remove("KUBECONFIG").output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("scan: not JSON ({e}): {}", text(&o)));
        v
    };
    let v = scan(&viewer.kubeconfig);
    let deadline = |v: &serde_json::Value, n: &str| v["deadlines"].as_array().unwrap().iter().find(|d| d["node"] == n).unwrap_or_else(|| panic!("{n}: {v}")).clone();
    // x1: the node proxy refused, the dates and the rotation-off finding from its exporter
    let d1 = deadline(&v, "x1");
    assert!(d1["unknown"].as_str().unwrap_or_default().contains("forbidden"), "{d1}");
    assert_eq!(d1["client"]["source"], "exporter", "{d1}");
    assert_eq!(v["exporters"]["nodes"], 1, "{}", v["exporters"]);
    let f = v["forecast"].as_array().unwrap().iter().find(|f| f["node"] == "x1").unwrap_or_else(|| panic!("x1 not forecast: {v}")).clone();
    let when = time::OffsetDateTime::parse(f["when"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap().unix_timestamp();
    assert!((when - real).abs() <= 60, "forecast {when} vs the certificate's real not-after {real}");
    assert_eq!((f["reasons"][0]["code"].as_str(), f["reasons"][0]["evidence"].as_str()), (Some("rotation-off"), Some("exporter-finding")), "{f}");
    // x2: no exporter there: unknown, with the refusal as the reason, and nothing forecast
    let d2 = deadline(&v, "x2");
    assert!(d2["unknown"].as_str().unwrap_or_default().contains("forbidden") && d2.get("client").is_none(), "{d2}");
    assert!(!v["forecast"].as_array().unwrap().iter().any(|f| f["node"] == "x2"), "{v}");

    // the admin, with the node proxy, sees the same node from the kubelet itself
    let v = scan(&c.kubeconfig());
    let d1 = deadline(&v, "x1");
    assert!(d1.get("unknown").is_none(), "{d1}");
    let f = v["forecast"].as_array().unwrap().iter().find(|f| f["node"] == "x1").unwrap().clone();
    assert_eq!(f["reasons"][0]["evidence"], "kubelet-metrics", "{f}");
    assert!(deadline(&v, "x2")["client"]["source"] == "kubelet");
}
