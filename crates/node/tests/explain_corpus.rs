//! `explain` against real log lines: the corpus in tests/logs/v1.37/<state>/ was captured from real
//! kubelet v1.37.2 and kube-apiserver v1.37.2 processes by crates/cli/tests/kubelet_oracle.rs
//! (`KUBECERT_LOG_CORPUS=DIR`), one node per state, trimmed to the relevant lines (the `healthy` log is
//! kept whole, config dump included). Every broken state's log must be explained with the cause the
//! state really has; healthy logs must produce no finding at all.

use kubecert_node::logs::explain_lines;
use std::collections::BTreeSet;
use std::path::Path;

/// State → the explanations its kubelet log must contain (the real cause first), and those its
/// API server log must contain.
const BROKEN: &[(&str, &[&str], &[&str])] = &[
    ("client-ca-file-corrupt", &["client-ca-file-invalid"], &[]),
    ("client-ca-file-empty", &["client-ca-file-invalid"], &[]),
    ("client-ca-file-missing", &["start-file-missing"], &[]),
    ("kubelet-config-unparsable", &["kubelet-config-invalid"], &[]),
    ("no-flag-both-cert-file-and-data", &["kubeconfig-both-set"], &[]),
    ("flag-embedded-expired-store-valid-no-bootstrap-file", &["bootstrap-kubeconfig-missing", "bootstrap-cert-expired"], &[]),
    ("store-expired-no-bootstrap-file", &["bootstrap-kubeconfig-missing", "bootstrap-cert-expired"], &[]),
    ("report-000", &["bootstrap-kubeconfig-missing", "bootstrap-config-unreadable"], &[]),
    ("store-key-mismatch", &["client-key-mismatch"], &[]),
    ("store-not-yet-valid", &["unauthorized"], &["x509-not-yet-valid"]),
    ("store-foreign-ca", &["unauthorized"], &["x509-unknown-authority"]),
    ("no-flag-embedded-foreign-ca-no-store", &["unauthorized"], &["x509-unknown-authority"]),
    ("rotation-off-no-flag-embedded-expired-store-valid", &["unauthorized"], &["x509-expired"]),
    ("no-flag-kubeconfig-files-expired-no-store", &["no-client-cert-anonymous"], &["x509-expired"]),
    ("store-other-node", &["csr-cn-restricted", "node-only-own-object"], &[]),
    ("report-004", &["csr-cn-restricted", "node-only-own-object"], &[]),
    ("bootstrap-token-unknown", &["csr-unauthorized"], &["apiserver-invalid-bearer-token"]),
    ("bootstrap-token-without-node-bootstrapper", &["csr-forbidden-for-token"], &[]),
    ("bootstrap-csr-never-approved", &["bootstrap-waiting-anonymous"], &[]),
];

/// Nothing wrong in these states (the kubelet was Ready and nothing on the node was stale).
const HEALTHY: &[&str] = &["healthy", "healthy-rotation-off", "no-flag-kubeconfig-files-valid-no-store", "no-flag-embedded-valid-no-store"];

fn corpus() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/logs/v1.37")
}

fn explained(state: &str, file: &str) -> BTreeSet<&'static str> {
    let p = corpus().join(state).join(file);
    let text = std::fs::read_to_string(&p).unwrap_or_default();
    explain_lines(&text).iter().map(|e| e.pattern.id).collect()
}

#[test]
fn every_broken_state_is_explained_with_its_real_cause() {
    let mut bad = Vec::new();
    for (state, kubelet, apiserver) in BROKEN {
        assert!(corpus().join(state).join("kubelet.log").is_file(), "{state}: no captured kubelet.log");
        let got = explained(state, "kubelet.log");
        for want in *kubelet {
            if !got.contains(want) {
                bad.push(format!("{state}: kubelet.log not explained as {want} (got {got:?})"));
            }
        }
        let got = explained(state, "apiserver.log");
        for want in *apiserver {
            if !got.contains(want) {
                bad.push(format!("{state}: apiserver.log not explained as {want} (got {got:?})"));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn healthy_logs_produce_no_finding() {
    for state in HEALTHY {
        let text = std::fs::read_to_string(corpus().join(state).join("kubelet.log")).unwrap();
        assert!(text.lines().count() > 5, "{state}: the captured log is there");
        let found: Vec<String> = explain_lines(&text).iter().map(|e| format!("{} (line {}: {})", e.pattern.id, e.line, e.text)).collect();
        assert!(found.is_empty(), "{state}: {found:#?}");
    }
    // The config dump in the healthy log holds `cacheUnauthorizedTTL`: it must stay in the corpus.
    let healthy = std::fs::read_to_string(corpus().join("healthy/kubelet.log")).unwrap();
    assert!(healthy.contains("cacheUnauthorizedTTL"));
}

#[test]
fn every_captured_state_is_classified() {
    for e in std::fs::read_dir(corpus()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        let known = BROKEN.iter().any(|(s, _, _)| *s == name) || HEALTHY.contains(&name.as_str()) || RECOVERED.contains(&name.as_str());
        assert!(known, "{name}: add it to BROKEN, HEALTHY or RECOVERED");
    }
}

/// States where something was wrong but the kubelet recovered by itself (bootstrap, or the store
/// beat a stale kubelet.conf): their logs explain what it recovered from, and that is all.
const RECOVERED: &[&str] = &["flag-embedded-expired-store-valid", "no-flag-embedded-expired-store-valid", "store-dangling-link", "store-expired-bootstrap-file"];
