//! Shared by the secrets tests: the forms a secret could leak in (a private key's PEM lines, its
//! DER as base64, hex or a Rust byte list, a kubeconfig's base64 `*-data` field; a bootstrap
//! token's secret), and running the built `kubecert` with `RUST_LOG=trace` to grep everything it
//! printed for them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::path::Path;
use crate::run::{Kubecert, Run};

/// One secret and the strings whose appearance in output means it leaked.
#[derive(Debug, Clone)]
pub struct Secret {
    /// What it is (for the failure message; never the secret itself).
    pub label: String,
    /// The text forms to look for.
    pub needles: Vec<String>,
}

/// Every private key PEM block in `text` (a key file, a bundle with a key, a kubeconfig's
/// decoded `client-key-data`), as the secrets to look for.
pub fn key_secrets(label: &str, text: &str) -> Vec<Secret> {
    let mut out = Vec::new();
    for chunk in text.split("-----BEGIN ").skip(1) {
        let Some((kind, rest)) = chunk.split_once("-----") else { continue };
        if !kind.ends_with("PRIVATE KEY") {
            continue;
        }
        // A truncated key (no END line) is still secret up to where it stops.
        let (body, whole) = match rest.split_once("-----END ") {
            Some((body, after)) => {
                let end_line = after.find('\n').map_or(after.len(), |i| i + 1);
                (body, format!("-----BEGIN {kind}-----{body}-----END {}", &after[..end_line]))
            }
            None => (rest, format!("-----BEGIN {kind}-----{rest}")),
        };
        let body: String = body.lines().filter(|l| !l.contains(':')).collect::<Vec<_>>().join("\n");
        out.push(pem_secret(&format!("{label} ({kind})"), &body, &whole));
    }
    assert!(!out.is_empty() || !text.contains("PRIVATE KEY-----"), "{label}: a PRIVATE KEY block that could not be read");
    out
}

/// The needles for one PEM key: its body lines after the first (the first holds the algorithm
/// header that every key of a type shares), a window of the joined body, a window of the DER in
/// hex and as a Rust `{:?}` byte list, and a window of the whole PEM's base64 (a kubeconfig field).
fn pem_secret(label: &str, body: &str, whole_pem: &str) -> Secret {
    let lines: Vec<&str> = body.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let joined: String = lines.concat();
    // A truncated body may end mid-quantum: decode the whole 4-character groups.
    let der = STANDARD.decode(&joined[..joined.len() / 4 * 4]).unwrap_or_else(|e| panic!("{label}: PEM body is not base64: {e}"));
    assert!(der.len() >= 48, "{label}: a key of {} bytes is too small to check", der.len());
    let mut needles: Vec<String> = lines.iter().skip(1).filter(|l| l.len() >= 24).map(|l| l.to_string()).collect();
    let mid = joined.len() / 2;
    needles.push(joined[mid - 20..mid + 20].to_string());
    // The private part sits in the first half of every key encoding (the RSA exponents/primes
    // fill the middle; the EC scalar comes before the public point): take DER bytes from there.
    let at = (der.len() / 3).max(8);
    let slice = &der[at..at + 20];
    needles.push(slice.iter().map(|b| format!("{b:02x}")).collect());
    needles.push(slice.iter().map(|b| format!("{b:02X}")).collect());
    needles.push(slice[..12].iter().map(u8::to_string).collect::<Vec<_>>().join(", "));
    let field = STANDARD.encode(whole_pem.as_bytes());
    let fm = field.len() / 2;
    needles.push(field[fm - 20..fm + 20].to_string());
    Secret { label: label.to_string(), needles }
}

/// Every private key in a file (none is fine: then the file holds no key).
pub fn file_key_secrets(path: &Path) -> Vec<Secret> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    key_secrets(&path.display().to_string(), &text)
}

/// Every private key under `dir` (files whose text holds a PRIVATE KEY block).
pub fn tree_key_secrets(dir: &Path) -> Vec<Secret> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file()
                && let Ok(text) = std::fs::read_to_string(&p) {
                    out.extend(key_secrets(&p.display().to_string(), &text));
                }
        }
    }
    out
}

/// A bootstrap token `<id>.<secret>`: its secret is what must not appear.
pub fn token_secret(label: &str, token: &str) -> Secret {
    let (_, secret) = token.trim().split_once('.').unwrap_or_else(|| panic!("{label}: not a token"));
    assert_eq!(secret.len(), 16, "{label}: a token secret has 16 characters");
    Secret { label: label.to_string(), needles: vec![secret.to_string()] }
}

/// `kubecert ARGS` with `RUST_LOG=trace` and `-vvv`, extra environment, no colour.
pub fn kubecert(args: &[&str], env: &[(&str, &str)]) -> Run {
    Kubecert::new(args).arg("-vvv").env("RUST_LOG", "trace").env("RUST_BACKTRACE", "1").envs(env).run()
}

/// Fails (naming the secret and where it showed, never printing it) if any needle of `secrets`
/// appears in the run's stdout or stderr. `allowed_on_stdout` are secrets the user asked for
/// (e.g. `token create`'s one line): exactly one occurrence on stdout is removed before the check.
pub fn assert_no_leak(run: &Run, secrets: &[Secret], allowed_on_stdout: &[&str]) {
    let mut stdout = run.stdout.clone();
    for a in allowed_on_stdout {
        assert!(stdout.contains(a), "kubecert {}: the requested secret is not on stdout", shown_args(&run.args, secrets));
        stdout = stdout.replacen(a, "<requested>", 1);
    }
    let mut leaks = Vec::new();
    for (stream, text) in [("stdout", &stdout), ("stderr", &run.stderr)] {
        for s in secrets {
            if let Some(n) = s.needles.iter().position(|n| text.contains(n.as_str())) {
                leaks.push(format!("{} (form #{n}) on {stream}", s.label));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "kubecert {} (exit {}) printed secret material:\n  {}\n(output withheld: it holds the secret)",
        shown_args(&run.args, secrets),
        run.code,
        leaks.join("\n  ")
    );
}

/// The arguments for a message, with any secret given on the command line (e.g. `--token`) masked.
pub fn shown_args(args: &[String], secrets: &[Secret]) -> String {
    let mut shown = format!("{args:?}");
    for n in secrets.iter().flat_map(|s| &s.needles) {
        shown = shown.replace(n.as_str(), "<secret>");
    }
    shown
}

/// Runs `kubecert ARGS`, checks the exit code is one of `codes`, and that nothing leaked.
pub fn run_clean(args: &[&str], env: &[(&str, &str)], codes: &[i32], secrets: &[Secret]) -> Run {
    let r = kubecert(args, env);
    assert_no_leak(&r, secrets, &[]);
    assert!(codes.contains(&r.code), "kubecert {}: exit {} (want one of {codes:?})\n--- stdout\n{}\n--- stderr\n{}", shown_args(&r.args, secrets), r.code, r.stdout, r.stderr);
    r
}
