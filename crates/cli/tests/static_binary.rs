//! The static binary (scripts/build-static): one file with no runtime dependencies, under 15 MB,
//! that runs `doctor` on openssl-made node trees with an empty environment and finds what the
//! normal build finds. The test builds it through the script (a no-op when it is up to date; a
//! cold build is a release LTO build of the whole workspace into target/static).

use kubecert_testbed_harness::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Size target from the issue: 15 MB.
const MAX_BYTES: u64 = 15 * 1000 * 1000;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Builds (or finds up to date) the static binary; its path.
fn static_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let o = Command::new(repo().join("scripts/build-static")).output().expect("run scripts/build-static");
        assert!(o.status.success(), "scripts/build-static failed:\n{}", String::from_utf8_lossy(&o.stderr));
        let stdout = String::from_utf8_lossy(&o.stdout);
        PathBuf::from(stdout.lines().last().expect("the script prints the binary's path").trim())
    })
}

/// Runs a binary with nothing in its environment (a broken node's rescue shell may have less).
fn run_bare(bin: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(bin).args(args).env_clear().output().unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn the_static_binary_is_static_and_small() {
    let bin = static_bin();
    let ldd = Command::new("ldd").arg(bin).output().expect("ldd");
    let said = format!("{}{}", String::from_utf8_lossy(&ldd.stdout), String::from_utf8_lossy(&ldd.stderr));
    assert!(said.contains("not a dynamic executable"), "ldd {}: {said}", bin.display());
    // No program interpreter either (the ELF has no PT_INTERP: nothing to load it with).
    let elf = std::fs::read(bin).unwrap();
    assert!(!elf.windows(b"/lib64/ld-linux".len()).any(|w| w == b"/lib64/ld-linux"), "the binary names the dynamic loader");
    let size = std::fs::metadata(bin).unwrap().len();
    assert!(size < MAX_BYTES, "{} is {size} bytes, over the {MAX_BYTES}-byte target", bin.display());
    let (code, out, err) = run_bare(bin, &["--version"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(env!("CARGO_PKG_VERSION")) && out.contains("certificates.k8s.io/v1"), "{out}");
}

#[test]
fn the_static_binary_diagnoses_node_trees_like_the_normal_build() {
    let bin = static_bin();
    let dir = tempfile::tempdir().unwrap();
    for (scenario, want_code, want) in [("healthy", 0, "0 error(s), 0 warning(s)"), ("report-000", 1, "client-cert-expired"), ("report-004", 1, "client-cert-identity-mismatch")] {
        let tree = dir.path().join(scenario);
        sample_node(&tree, scenario, "w1");
        let root = tree.display().to_string();
        let (code, out, err) = run_bare(bin, &["doctor", "--root", &root]);
        assert_eq!(code, want_code, "static doctor on {scenario}:\n{out}\n{err}");
        assert!(out.contains(want), "static doctor on {scenario} lacks {want}:\n{out}");
        // The same findings as the normal (debug, dynamic) build.
        let codes = |bin: &Path| {
            let (_, json, err) = run_bare(bin, &["doctor", "--root", &root, "-o", "json"]);
            let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}{err}"));
            let mut c: Vec<String> = json_codes(&v);
            c.sort();
            c
        };
        let normal = Path::new(env!("CARGO_BIN_EXE_kubecert"));
        let got = codes(bin);
        assert!(!got.is_empty(), "no finding codes in the JSON on {scenario}");
        assert_eq!(got, codes(normal), "static and normal builds disagree on {scenario}");
    }
}

/// Every `"code"` string in a JSON document.
fn json_codes(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .flat_map(|(k, v)| if k == "code" { v.as_str().map(|s| vec![s.to_string()]).unwrap_or_default() } else { json_codes(v) })
            .collect(),
        serde_json::Value::Array(a) => a.iter().flat_map(json_codes).collect(),
        _ => vec![],
    }
}

/// A statically linked glibc still resolves names through the host's NSS modules: `localhost`
/// resolves (the connection is refused, not the lookup), as it must for a server given by name.
#[test]
fn the_static_binary_resolves_localhost() {
    let bin = static_bin();
    let pin = format!("sha256:{}", "0".repeat(64));
    let (code, _, err) = run_bare(bin, &["discover", "--server", "localhost:1", "--token", "abcdef.0123456789abcdef", "--ca-cert-hash", &pin, "--timeout", "2s"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Connection refused") && !err.contains("lookup"), "localhost did not resolve: {err}");
}
