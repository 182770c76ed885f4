//! `kubecert exporter` against a real node of the test cluster: its `/metrics` parses as the
//! Prometheus text format (with the reference Python parser, prometheus_client), reports the
//! real kubelet's certificates with their true not-after, and, run the way the DaemonSet runs
//! it (in-cluster config: service-account token, CA and namespace files at the fixed path, in a
//! private mount namespace), reads its Node's Ready condition with deploy/'s least-privilege
//! ServiceAccount. deploy/'s manifests are applied to the real API server (dry run for the
//! workloads) and the PrometheusRule's alerts parse as PromQL and only use metrics the exporter emits.


use kubecert_testbed_harness::{repo_root, unique_name, Cluster};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A running exporter, killed on drop.
struct Exporter {
    _proc: kubecert_testbed_harness::ecosystem::Proc,
    port: u16,
}

/// Starts `cmd` (an exporter listening on 127.0.0.1:0) and reads its port from stderr.
fn start(cmd: Command) -> Exporter {
    let (proc, port) = kubecert_testbed_harness::ecosystem::start_exporter(cmd);
    Exporter { _proc: proc, port }
}

/// `GET path` over plain HTTP/1.1: (status line, headers+body).
fn get(port: u16, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

const PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.append({"family": fam.name, "type": fam.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;

/// Parses the exposition with prometheus_client (installing it with pip when missing).
fn parse(text: &str) -> Vec<serde_json::Value> {
    let has = Command::new("python3").args(["-c", "import prometheus_client"]).status().unwrap().success();
    if !has {
        let ok = Command::new("python3").args(["-m", "pip", "install", "--quiet", "prometheus_client==0.26.0"]).status().unwrap().success()
            || Command::new("python3").args(["-m", "pip", "install", "--quiet", "--break-system-packages", "prometheus_client==0.26.0"]).status().unwrap().success();
        assert!(ok, "the Prometheus reference parser (python3 prometheus_client) is not installable");
    }
    let mut p = Command::new("python3").args(["-c", PARSER]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(out.status.success(), "not valid Prometheus text format: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
}

fn sample<'a>(samples: &'a [serde_json::Value], name: &str, labels: &[(&str, &str)]) -> Option<&'a serde_json::Value> {
    samples.iter().find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
}

fn value(samples: &[serde_json::Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    sample(samples, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in {samples:#?}"))["value"].as_f64().unwrap()
}

/// NotAfter of a node file, its symlinks resolved inside the node's root as the kubelet sees them.
fn not_after(root: &std::path::Path, node_path: &str) -> i64 {
    let bytes = kubecert_node::NodeRoot::new(root).unwrap().read(node_path).unwrap().bytes;
    let c = kubecert_pki::load_certificates(&bytes).unwrap();
    c[0].info().not_after.unix_timestamp()
}

#[test]
fn exporter_metrics_parse_and_report_a_real_nodes_certificates() {
    let c = Cluster::shared();
    let n = unique_name("fleet-exp");
    c.testbed(&["node", "join", &n]);
    let root = c.node_root(&n);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubecert"));
    cmd.args(["exporter", "--listen", "127.0.0.1:0", "--root"]).arg(&root).env_remove("KUBECONFIG");
    let e = start(cmd);

    let (head, body) = get(e.port, "/healthz");
    assert!(head.starts_with("HTTP/1.1 200") && body == "ok\n", "{head}\n{body}");
    let (head, body) = get(e.port, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200") && head.contains("Content-Type: text/plain; version=0.0.4"), "{head}");
    let samples = parse(&body);

    const CLIENT: &str = "/var/lib/kubelet/pki/kubelet-client-current.pem";
    let client_not_after = not_after(&root, CLIENT);
    let got = value(&samples, "kubecert_cert_not_after_seconds", &[("node", &n), ("name", "kubelet.conf")]);
    assert_eq!(got as i64, client_not_after, "the kubelet client certificate's NotAfter");
    assert_eq!(sample(&samples, "kubecert_cert_not_after_seconds", &[("name", "kubelet.conf")]).unwrap()["labels"]["path"], CLIENT);
    let left = value(&samples, "kubecert_cert_expires_in_seconds", &[("node", &n), ("name", "kubelet.conf")]);
    assert!(left > 0.0 && (left as i64 - (client_not_after - time::OffsetDateTime::now_utc().unix_timestamp())).abs() < 60);
    // Every known finding code has a count, so alerts and dashboards see zeros.
    for code in kubecert_node::codes::CODES {
        assert!(sample(&samples, "kubecert_findings", &[("node", &n), ("code", code.code)]).is_some(), "no count for {}", code.code);
    }
    let errors = value(&samples, "kubecert_findings_by_severity", &[("node", &n), ("severity", "error")]);
    assert_eq!(errors, 0.0, "a freshly joined node has no error finding:\n{body}");
    assert!(sample(&samples, "kubecert_node_ready", &[]).is_none(), "no API access, so no Ready metric");

    // Break it: remove the client certificate's symlink target and the bootstrap kubeconfig (with
    // the bootstrap file the kubelet would simply bootstrap again: kubelet_oracle.rs,
    // store-dangling-link); the next scrape shows it.
    let link = std::fs::read_link(root.join(CLIENT.trim_start_matches('/'))).unwrap();
    let target = root.join(link.to_str().unwrap().trim_start_matches('/'));
    let saved = std::fs::read(&target).unwrap();
    let bootstrap = root.join("etc/kubernetes/bootstrap-kubelet.conf");
    let saved_bootstrap = std::fs::read(&bootstrap).ok();
    std::fs::remove_file(&target).unwrap();
    let _ = std::fs::remove_file(&bootstrap);
    let broken = parse(&get(e.port, "/metrics").1);
    std::fs::write(&target, saved).unwrap();
    if let Some(b) = saved_bootstrap {
        std::fs::write(&bootstrap, b).unwrap();
    }
    assert!(value(&broken, "kubecert_findings_by_severity", &[("node", &n), ("severity", "error")]) >= 1.0);
    assert!(broken.iter().any(|s| s["name"] == "kubecert_finding" && s["labels"]["severity"] == "error"), "{broken:#?}");
    let (head, _) = get(e.port, "/nope");
    assert!(head.starts_with("HTTP/1.1 404"));
}

#[test]
fn exporter_in_cluster_config_reads_the_node_with_the_deploy_service_account() {
    let c = Cluster::shared();
    let deploy = repo_root().join("deploy");
    for f in ["namespace.yaml", "exporter-rbac.yaml"] {
        c.kubectl_ok(&["apply", "-f", &deploy.join(f).display().to_string()]);
    }
    // The workloads are accepted by the real API server (dry run: the testbed runs no Pods).
    for f in ["exporter-daemonset.yaml", "approver.yaml"] {
        c.kubectl_ok(&["apply", "--dry-run=server", "-f", &deploy.join(f).display().to_string()]);
    }
    let sa = "system:serviceaccount:kubecert-system:kubecert-exporter";
    assert_eq!(c.kubectl(&["auth", "can-i", "get", "nodes", "--as", sa]).1.trim(), "yes");
    for denied in [["list", "nodes"], ["get", "secrets"], ["update", "nodes"], ["list", "certificatesigningrequests"]] {
        let (_, out, _) = c.kubectl(&["auth", "can-i", denied[0], denied[1], "--as", sa, "-A"]);
        assert_eq!(out.trim(), "no", "the exporter may {denied:?}");
    }

    let n = unique_name("fleet-inc");
    c.testbed(&["node", "join", &n]);
    let token = c.kubectl_ok(&["create", "token", "kubecert-exporter", "-n", "kubecert-system", "--duration", "10m"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), token.trim()).unwrap();
    std::fs::copy(c.ca_cert(), dir.path().join("ca.crt")).unwrap();
    std::fs::write(dir.path().join("namespace"), "kubecert-system").unwrap();
    let hostport = c.server().trim_start_matches("https://").to_string();
    let (host, port) = hostport.rsplit_once(':').unwrap();
    // The files where every client library looks for them, in a private mount namespace.
    let script = format!(
        "mount --make-rprivate / && mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount && cp {d}/token {d}/ca.crt {d}/namespace /run/secrets/kubernetes.io/serviceaccount/ && exec \"$0\" exporter --in-cluster --listen 127.0.0.1:0 --root {root}",
        d = dir.path().display(),
        root = c.node_root(&n).display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "sh", "-c", &script, env!("CARGO_BIN_EXE_kubecert")])
        .env_remove("KUBECONFIG")
        .env("KUBERNETES_SERVICE_HOST", host)
        .env("KUBERNETES_SERVICE_PORT", port);
    let e = start(cmd);
    let samples = parse(&get(e.port, "/metrics").1);
    assert_eq!(value(&samples, "kubecert_apiserver_up", &[("node", &n)]), 1.0, "{samples:#?}");
    assert_eq!(value(&samples, "kubecert_node_ready", &[("node", &n)]), 1.0);
    // The token file, not a secret in the output.
    let (_, body) = get(e.port, "/metrics");
    assert!(!body.contains(token.trim()));
    assert!(!std::path::Path::new("/run/secrets/kubernetes.io/serviceaccount/token").exists() || std::fs::read_to_string("/run/secrets/kubernetes.io/serviceaccount/token").unwrap().trim() != token.trim(), "the mount leaked out of the namespace");
}

#[test]
fn prometheus_rules_parse_and_use_only_metrics_kubecert_emits() {
    let text = std::fs::read_to_string(repo_root().join("deploy/monitoring.yaml")).unwrap();
    let exporter = ["kubecert_cert_expires_in_seconds", "kubecert_cert_not_after_seconds", "kubecert_findings_by_severity", "kubecert_findings", "kubecert_finding", "kubecert_cert_error", "kubecert_node_ready", "kubecert_apiserver_up"];
    // and `kubecert scan --serve` (deploy/forecast.yaml): the families its renderer writes (a unit test holds them equal)
    let emitted = |w: &str| exporter.contains(&w) || kubecert_cluster::scan::metrics::FAMILIES.contains(&w);
    let mut alerts = BTreeMap::new();
    for doc in text.split("\n---\n") {
        let v: serde_json::Value = serde_saphyr::from_str(doc).unwrap();
        if v["kind"] != "PrometheusRule" {
            continue;
        }
        for g in v["spec"]["groups"].as_array().unwrap() {
            for r in g["rules"].as_array().unwrap() {
                let expr = r["expr"].as_str().unwrap().to_string();
                if let Err(e) = promql_parser::parser::parse(&expr) {
                    panic!("alert {} is not valid PromQL: {e}\n{expr}", r["alert"]);
                }
                for word in expr.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')).filter(|w| w.starts_with("kubecert_")) {
                    assert!(emitted(word), "alert {} uses {word}, which neither the exporter nor scan --serve emits", r["alert"]);
                }
                alerts.insert(r["alert"].as_str().unwrap().to_string(), expr);
            }
        }
    }
    assert!(alerts.contains_key("KubecertCertificateExpiresIn14Days") && alerts.contains_key("KubecertCertificateExpired"), "{alerts:?}");
}
