//! deploy/monitoring.yaml's alerts and deploy/grafana/kubecert.json's panels, proven with the real
//! tools (Debian's `prometheus` package): `promtool check rules` on the PrometheusRule's groups,
//! `promtool test rules` on deploy/tests/alerts.test.yaml (each alert fires and resolves on
//! series shaped like the exporter's), and a real Prometheus on loopback scraping two running
//! `kubecert exporter`s on openssl-made node trees (one healthy, one as field report 000) plus a
//! target that is down: the alert expressions return the expected series, the alerts go pending,
//! and every dashboard panel's query returns data.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::ecosystem::*;
use kubecert_testbed_harness::repo_root;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

fn promtool(dir: &std::path::Path, args: &[&str]) -> String {
    require("promtool", "prometheus");
    let o = Command::new("promtool").current_dir(dir).args(args).output().expect("run promtool");
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// Every alert's name in the rule file.
fn alert_names(rules: &std::path::Path) -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(rules).unwrap()).unwrap();
    v["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap().iter()).filter_map(|r| r["alert"].as_str().map(String::from)).collect()
}

#[test]
fn promtool_checks_the_rules_and_every_alert_fires_and_resolves_in_unit_tests() {
    let dir = tempfile::tempdir().unwrap();
    let rules = extract_rules(dir.path());
    let out = promtool(dir.path(), &["check", "rules", "kubecert-rules.yaml"]);
    let alerts = alert_names(&rules);
    assert!(out.contains(&format!("SUCCESS: {} rules found", alerts.len())), "{out}");

    let tests = repo_root().join("deploy/tests/alerts.test.yaml");
    std::fs::copy(&tests, dir.path().join("alerts.test.yaml")).unwrap();
    let out = promtool(dir.path(), &["test", "rules", "alerts.test.yaml"]);
    assert!(out.contains("SUCCESS"), "{out}");

    // Every alert has a case where it fires and one where it does not (resolved or never).
    let t: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(&tests).unwrap()).unwrap();
    let cases: Vec<&serde_json::Value> = t["tests"].as_array().unwrap().iter().flat_map(|c| c["alert_rule_test"].as_array().unwrap().iter()).collect();
    for a in &alerts {
        let fires = cases.iter().any(|c| c["alertname"] == a.as_str() && c["exp_alerts"].as_array().is_some_and(|e| !e.is_empty()));
        let quiet = cases.iter().any(|c| c["alertname"] == a.as_str() && c["exp_alerts"].as_array().is_some_and(|e| e.is_empty()));
        assert!(fires && quiet, "deploy/tests/alerts.test.yaml lacks a firing ({fires}) or a quiet ({quiet}) case for {a}");
    }
}

/// The label `key` of every series in a result.
fn labels(r: &[serde_json::Value], key: &str) -> BTreeSet<String> {
    r.iter().filter_map(|s| s["metric"][key].as_str().map(String::from)).collect()
}

/// Every PromQL expression of the dashboard's panels (rows have none).
fn dashboard_exprs() -> Vec<(String, String)> {
    let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(repo_root().join("deploy/grafana/kubecert.json")).unwrap()).unwrap();
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "panel {} does not use the datasource variable", p["title"]);
            out.push((p["title"].as_str().unwrap().to_string(), t["expr"].as_str().unwrap().to_string()));
        }
    }
    out
}

#[test]
fn a_real_prometheus_scrapes_the_exporter_evaluates_the_alerts_and_the_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, bad) = (dir.path().join("ok"), dir.path().join("bad"));
    sample_node(&ok, "healthy", "prom-ok");
    sample_node(&bad, "report-000", "prom-bad");
    let exporter = |root: &std::path::Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubecert"));
        cmd.args(["exporter", "--listen", "127.0.0.1:0", "--root"]).arg(root).env_remove("KUBECONFIG");
        start_exporter(cmd)
    };
    let (_e1, p_ok) = exporter(&ok);
    let (_e2, p_bad) = exporter(&bad);
    let down = free_port();
    let rules = extract_rules(dir.path());
    let config = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [kubecert-rules.yaml]\nscrape_configs:\n  - job_name: kubecert-exporter\n    static_configs:\n      - targets: ['127.0.0.1:{p_ok}', '127.0.0.1:{p_bad}', '127.0.0.1:{down}']\n"
    );
    let prom = Prometheus::start(&config, &[("kubecert-rules.yaml", &rules)]);
    let limit = Duration::from_secs(60);
    prom.query_until("up{job=\"kubecert-exporter\"}", limit, |r| r.len() == 3);
    prom.query_until("count(count by (node) (kubecert_collect_duration_seconds))", limit, |r| r.first().is_some_and(|s| s["value"][1] == "2"));

    // The alerts' expressions, evaluated by Prometheus on what the exporters serve.
    let text = std::fs::read_to_string(&rules).unwrap();
    let spec: serde_json::Value = serde_json::from_str(&text).unwrap();
    let expr = |name: &str| -> String {
        spec["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap().iter()).find(|r| r["alert"] == name).unwrap()["expr"].as_str().unwrap().to_string()
    };
    let expired = prom.query(&expr("KubecertCertificateExpired"));
    assert_eq!(labels(&expired, "node"), BTreeSet::from(["prom-bad".to_string()]), "{expired:#?}");
    assert!(labels(&expired, "path").contains("/var/lib/kubelet/pki/kubelet-client-current.pem"), "{expired:#?}");
    let errors = prom.query(&expr("KubecertDoctorError"));
    assert_eq!(labels(&errors, "node"), BTreeSet::from(["prom-bad".to_string()]), "{errors:#?}");
    let down_r = prom.query(&expr("KubecertExporterDown"));
    assert_eq!(labels(&down_r, "instance"), BTreeSet::from([format!("127.0.0.1:{down}")]), "{down_r:#?}");
    // sample-node's certificates live a year: nothing is about to expire.
    for quiet in ["KubecertCertificateExpiresIn14Days", "KubecertCertificateExpiresIn3Days"] {
        assert!(prom.query(&expr(quiet)).is_empty(), "{quiet} matches on year-long certificates");
    }
    // The rule manager evaluates them too: the alerts go pending (their `for` has not passed).
    let pending = prom.query_until("ALERTS{alertstate=\"pending\"}", limit, |r| labels(r, "alertname").len() >= 3);
    let names = labels(&pending, "alertname");
    for want in ["KubecertCertificateExpired", "KubecertDoctorError", "KubecertExporterDown"] {
        assert!(names.contains(want), "{want} is not pending: {pending:#?}");
    }

    // Every dashboard panel's query returns data, with $node as "All" and as one node.
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 10, "{exprs:?}");
    for node in [".*", "prom-bad"] {
        for (title, e) in &exprs {
            let q = e.replace("$node", node);
            let r = prom.query(&q);
            assert!(!r.is_empty(), "dashboard panel {title:?} has no data for node {node}: {q}");
        }
    }
    // The node variable's query (label_values over this metric) lists both nodes.
    let nodes = labels(&prom.query("kubecert_collect_duration_seconds"), "node");
    assert_eq!(nodes, BTreeSet::from(["prom-ok".to_string(), "prom-bad".to_string()]));
}
