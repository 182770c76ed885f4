//! The binary on node trees: exit codes, output formats, secrets masked, kubeadm compatibility of
//! `check-expiration -o json` (against the real kubeadm v1.37.2 of the testbed).

use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::run;
use std::process::Command;

/// (exit code, stdout, stderr) of `kubecert ARGS`.
fn kubecert(args: &[&str]) -> (i32, String, String) {
    let r = run::kubecert(args);
    (r.code, r.stdout, r.stderr)
}

#[test]
fn doctor_exit_codes_and_json() {
    let d = tempfile::tempdir().unwrap();
    let healthy = d.path().join("healthy");
    let broken = d.path().join("r000");
    sample_node(&healthy, "healthy", "n1");
    sample_node(&broken, "report-000", "n1");
    let (code, out, _) = kubecert(&["doctor", "--root", healthy.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = kubecert(&["doctor", "--root", broken.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["node"], "n1");
    assert_eq!(v["root"], broken.canonicalize().unwrap().to_str().unwrap());
    let f = &v["findings"][0];
    for k in ["code", "severity", "summary", "evidence", "fix"] {
        assert!(!f[k].is_null(), "finding lacks {k}: {f}");
    }
    let codes: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    // Field report 000: the kubelet exits at start (kubelet_oracle.rs, store-expired-no-bootstrap-file).
    assert_eq!(codes, ["kubelet-will-not-start", "client-cert-expired", "bootstrap-kubeconfig-missing"]);
    let (code, out, _) = kubecert(&["doctor", "--root", broken.to_str().unwrap(), "-o", "yaml"]);
    assert_eq!(code, 1);
    assert!(out.contains("code: client-cert-expired"), "{out}");
    // kubecert could not run: exit 2 with a clear message.
    let (code, _, err) = kubecert(&["doctor", "--root", "/nonexistent/root"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot use /nonexistent/root as the node root"), "{err}");
    let (code, _, _) = kubecert(&["doctor", "--no-such-flag"]);
    assert_eq!(code, 2);
}

#[test]
fn bootstrap_token_secret_is_never_printed() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path().join("n");
    sample_node(&t, "report-000", "n1");
    // A bootstrap kubeconfig whose token is not in bootstrap format but holds a secret.
    std::fs::write(
        t.join("etc/kubernetes/bootstrap-kubelet.conf"),
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: u\n  name: c\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: abcdefg.s3cr3ts3cr3ts3cr3\n",
    )
    .unwrap();
    for fmt in ["text", "json", "yaml", "wide"] {
        let (_, out, err) = kubecert(&["doctor", "--root", t.to_str().unwrap(), "-o", fmt, "-vvv"]);
        assert!(!out.contains("s3cr3t") && !err.contains("s3cr3t"), "{fmt}: secret leaked");
        assert!(out.contains("bootstrap-kubeconfig-invalid"), "{out}");
    }
}

#[test]
fn explain_codes_and_logs() {
    let (code, out, _) = kubecert(&["explain", "client-cert-identity-mismatch"]);
    assert_eq!(code, 0);
    assert!(out.contains("Node authorizer"), "{out}");
    let (code, _, err) = kubecert(&["explain", "no-such-code"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown code"));
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("kubelet.log");
    std::fs::write(&log, "I1125 starting\nE1125 \"command failed\" err=\"failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory\"\nE1125 x509: certificate has expired or is not yet valid: current time 2026-11-25 is after 2026-10-01\n").unwrap();
    let (code, out, _) = kubecert(&["explain", "--file", log.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["line"], 2);
    assert_eq!(v[0]["pattern"]["id"], "bootstrap-kubeconfig-missing");
}

#[test]
fn check_expiration_matches_real_kubeadm() {
    let cluster = kubecert_testbed_harness::Cluster::shared();
    let kubeadm = cluster.bin("kubeadm");
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    std::fs::create_dir_all(root.join("etc/kubernetes/pki")).unwrap();
    let cfg = root.join("cfg.yaml");
    std::fs::write(&cfg, "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint: {advertiseAddress: 10.11.12.13, bindPort: 6443}\nnodeRegistration: {name: cp1}\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.37.2\ncertificatesDir: /etc/kubernetes/pki\n").unwrap();
    // kubeadm reads kubeconfigs only from /etc/kubernetes: run it in a private mount namespace
    // where the tree's etc is /etc, so the host is never touched.
    let script = format!(
        "mount --bind {etc} /etc && {k} init phase certs all --config {c} >/dev/null && {k} init phase kubeconfig all --config {c} >/dev/null && {k} certs check-expiration --config {c} -o json",
        etc = root.join("etc").display(),
        k = kubeadm.display(),
        c = cfg.display()
    );
    let out = Command::new("unshare").args(["-m", "--propagation", "private", "sh", "-c", &script]).output().unwrap();
    assert!(out.status.success(), "kubeadm: {}", String::from_utf8_lossy(&out.stderr));
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (code, ours, _) = kubecert(&["check-expiration", "--root", root.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 0);
    let ours: serde_json::Value = serde_json::from_str(&ours).unwrap();
    assert_eq!(ours["kind"], theirs["kind"]);
    assert_eq!(ours["apiVersion"], theirs["apiVersion"]);
    for list in ["certificates", "certificateAuthorities"] {
        assert!(!theirs[list].as_array().unwrap().is_empty());
        for t in theirs[list].as_array().unwrap() {
            let o = ours[list].as_array().unwrap().iter().find(|o| o["name"] == t["name"]).unwrap_or_else(|| panic!("kubecert lacks {}", t["name"]));
            for k in ["expirationDate", "externallyManaged", "missing"] {
                assert_eq!(o[k], t[k], "{} {k}", t["name"]);
            }
            assert_eq!(o["caName"].as_str().unwrap_or(""), t["caName"].as_str().unwrap_or(""), "{} caName", t["name"]);
            let drift = (o["residualTime"].as_i64().unwrap() - t["residualTime"].as_i64().unwrap()).abs();
            assert!(drift < 60, "{} residualTime differs by {drift}s", t["name"]);
        }
    }
    // And we list what kubeadm leaves out: the kubelet's own client certificate.
    assert!(ours["certificates"].as_array().unwrap().iter().any(|c| c["name"] == "kubelet.conf"));
}

/// Not a node is not a broken node (issue 19): a root with no kubelet unit or drop-in, no
/// KubeletConfiguration, no kubeconfig and no /var/lib/kubelet gets "no kubelet found", the places
/// looked at, no findings and exit 2 — not kubeconfig-missing and repair commands.
#[test]
fn doctor_on_a_machine_without_a_kubelet() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("etc")).unwrap();
    std::fs::write(d.path().join("etc/hostname"), "workstation\n").unwrap();
    let (code, out, _) = kubecert(&["doctor", "--root", d.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no kubelet found"), "{out}");
    assert!(out.contains("/etc/systemd/system/kubelet.service") && out.contains("/var/lib/kubelet"), "where it looked: {out}");
    assert!(!out.contains("kubeconfig-missing") && !out.contains("kubecert repair"), "{out}");
    let (code, out, _) = kubecert(&["doctor", "--root", d.path().to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["findings"].as_array().unwrap().is_empty() && v["no_kubelet"].as_array().is_some_and(|a| !a.is_empty()), "{out}");
}
