//! Secrets never leak, offline half: every command that reads or makes a private key or a
//! bootstrap token, on openssl-made node trees, with `RUST_LOG=trace -vvv`, in every output
//! format, success and error paths alike; all stdout/stderr is grepped for the key material and
//! token secrets it used (see kubecert_testbed_harness::secrets). The cluster commands (token, bootstrap-config,
//! discover, csr, scan) run here against a kubeconfig/server that cannot be reached, so their
//! error paths are covered without a cluster; secrets_online.rs runs them against the real one.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::secrets::*;
use std::path::Path;

const NODE: &str = "w1";

/// A fresh bootstrap token (not kubecert's generator: time and pid, mapped to [a-z0-9]).
fn planted_token(salt: u64) -> String {
    let mut x = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 ^ (u64::from(std::process::id()) << 20) ^ salt;
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::from("leak0t.");
    for _ in 0..16 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push(alphabet[(x % 36) as usize] as char);
    }
    s
}

/// A kubeconfig with the node's key embedded (`client-key-data`) and a bootstrap-style token,
/// pointing at a server nothing listens on.
fn unreachable_kubeconfig(path: &Path, key_pem: &str, cert_pem: &str, ca_pem: &str, token: &str) {
    use base64::Engine;
    let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    certificate-authority-data: {}\n\
         users:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n- name: tok\n  user:\n    token: {token}\n\
         contexts:\n- name: admin\n  context: {{cluster: c, user: admin}}\n- name: tok\n  context: {{cluster: c, user: tok}}\ncurrent-context: admin\n",
        b(ca_pem),
        b(cert_pem),
        b(key_pem)
    );
    std::fs::write(path, text).unwrap();
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    healthy: String,
    report000: String,
    report004: String,
    ca_crt: String,
    ca_key: String,
    kubeconfig: String,
    token: String,
    secrets: Vec<Secret>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let p = |s: &str| root.join(s).display().to_string();
    sample_node(&root.join("healthy"), "healthy", NODE);
    sample_node(&root.join("report-000"), "report-000", NODE);
    sample_node(&root.join("report-004"), "report-004", NODE);
    // A bootstrap kubeconfig with a token in the healthy tree: doctor reads it.
    let token = planted_token(1);
    std::fs::write(
        root.join("healthy/etc/kubernetes/bootstrap-kubelet.conf"),
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kubernetes\n  cluster:\n    server: https://192.0.2.10:6443\n    certificate-authority: /etc/kubernetes/pki/ca.crt\n\
             users:\n- name: tls-bootstrap-token-user\n  user:\n    token: {token}\ncontexts:\n- name: tls-bootstrap-token-user@kubernetes\n  context:\n    cluster: kubernetes\n    user: tls-bootstrap-token-user\n\
             current-context: tls-bootstrap-token-user@kubernetes\n"
        ),
    )
    .unwrap();
    // A cluster CA of our own for `sign` (RSA, PKCS#8), and a second CA whose key does not match.
    std::fs::create_dir_all(root.join("ca")).unwrap();
    openssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=kubernetes", "-days", "30"], &root.join("ca"));
    openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "other.key"], &root.join("ca"));
    // A truncated key: its lines are still secret, the error must not quote them.
    let ca_key_text = std::fs::read_to_string(root.join("ca/ca.key")).unwrap();
    std::fs::write(root.join("ca/truncated.key"), &ca_key_text[..ca_key_text.len() * 2 / 3]).unwrap();
    // A key where a CSR is expected.
    std::fs::copy(root.join("ca/other.key"), root.join("ca/not-a.csr")).unwrap();
    let node_pem = std::fs::read_to_string(root.join("healthy/var/lib/kubelet/pki/kubelet-client-2025-10-01-00-00-00.pem")).unwrap();
    let ca_pem = std::fs::read_to_string(root.join("healthy/etc/kubernetes/pki/ca.crt")).unwrap();
    let kc_token = planted_token(2);
    unreachable_kubeconfig(&root.join("ca/unreachable.conf"), &node_pem, &node_pem, &ca_pem, &kc_token);

    let mut secrets = tree_key_secrets(&root);
    assert!(secrets.len() >= 6, "the fixture should hold at least 6 private keys, found {}", secrets.len());
    secrets.push(token_secret("the bootstrap-kubelet.conf token", &token));
    secrets.push(token_secret("the unreachable kubeconfig's token", &kc_token));
    Fixture {
        healthy: p("healthy"),
        report000: p("report-000"),
        report004: p("report-004"),
        ca_crt: p("ca/ca.crt"),
        ca_key: p("ca/ca.key"),
        kubeconfig: p("ca/unreachable.conf"),
        token,
        secrets,
        root,
        _dir: dir,
    }
}

#[test]
fn node_commands_never_print_keys_or_tokens() {
    let f = fixture();
    for tree in [&f.healthy, &f.report000, &f.report004] {
        for out in ["text", "wide", "json", "yaml"] {
            let r = run_clean(&["doctor", "--root", tree, "-o", out], &[], &[0, 1], &f.secrets);
            // The check saw real output: the report names the node.
            assert!(r.stdout.contains(NODE), "doctor said nothing to check:\n{}\n{}", r.stdout, r.stderr);
            run_clean(&["check-expiration", "--root", tree, "-o", out], &[], &[0, 1], &f.secrets);
        }
    }
    // The kubelet kubeconfig with the key embedded (client-key-data) and a token user.
    run_clean(&["doctor", "--root", &f.healthy, "--kubelet-kubeconfig", &f.kubeconfig, "-o", "json"], &[], &[0, 1, 2], &f.secrets);
}

#[test]
fn sign_never_prints_the_ca_key_or_the_new_key() {
    let f = fixture();
    for (i, kt) in ["ecdsa-p256", "ed25519", "rsa2048"].iter().enumerate() {
        for out in ["text", "json", "yaml"] {
            let dir = f.root.join(format!("out-{i}-{out}"));
            let d = dir.display().to_string();
            let r = run_clean(&["sign", "--node", NODE, "--key-type", kt, "--ca-cert", &f.ca_crt, "--ca-key", &f.ca_key, "--out-dir", &d, "-o", out], &[], &[0], &f.secrets);
            // The key it made is a secret too, and must not be in what it said.
            let made = tree_key_secrets(&dir);
            assert!(!made.is_empty(), "sign --out-dir wrote no key into {d}");
            assert_no_leak(&r, &made, &[]);
        }
    }
    // Refusals: a key that does not match the CA, a truncated key, a key given as a CSR, and an
    // install into a tree whose CA is another one.
    let other = f.root.join("ca/other.key").display().to_string();
    let truncated = f.root.join("ca/truncated.key").display().to_string();
    let not_csr = f.root.join("ca/not-a.csr").display().to_string();
    let out = f.root.join("refused").display().to_string();
    run_clean(&["sign", "--node", NODE, "--ca-cert", &f.ca_crt, "--ca-key", &other, "--out-dir", &out], &[], &[1, 2], &f.secrets);
    run_clean(&["sign", "--node", NODE, "--ca-cert", &f.ca_crt, "--ca-key", &truncated, "--out-dir", &out], &[], &[1, 2], &f.secrets);
    run_clean(&["sign", "--csr", &not_csr, "--ca-cert", &f.ca_crt, "--ca-key", &f.ca_key, "--out-dir", &out], &[], &[1, 2], &f.secrets);
    run_clean(&["sign", "--node", NODE, "--ca-cert", &f.ca_crt, "--ca-key", &f.ca_key, "--install", "--root", &f.healthy, "--dry-run"], &[], &[0, 1, 2], &f.secrets);
}

#[test]
fn cluster_commands_never_print_credentials_when_the_cluster_is_unreachable() {
    let f = fixture();
    let kc = f.kubeconfig.as_str();
    let env = [("KUBECONFIG", kc)];
    let out = f.root.join("bc.conf").display().to_string();
    let pin = format!("sha256:{}", "0".repeat(64));
    for ctx in ["admin", "tok"] {
        let r = run_clean(&["token", "create", "--context", ctx], &env, &[1, 2], &f.secrets);
        assert!(r.stderr.contains("127.0.0.1:1") || r.stderr.to_lowercase().contains("connect"), "token create did not try the server: {}", r.stderr);
        run_clean(&["token", "list", "--context", ctx, "-o", "json"], &env, &[1, 2], &f.secrets);
        run_clean(&["bootstrap-config", "--context", ctx, "--node", NODE, "--out", &out], &env, &[1, 2], &f.secrets);
        run_clean(&["csr", "--context", ctx, "--node", NODE, "--timeout", "2s", "--out-dir", &out], &env, &[1, 2], &f.secrets);
        run_clean(&["scan", "--context", ctx], &env, &[1, 2], &f.secrets);
    }
    // A node discovering with a token: nothing listens, a bad pin, a malformed token.
    run_clean(&["discover", "--server", "127.0.0.1:1", "--token", &f.token, "--ca-cert-hash", &pin, "--timeout", "2s", "--out", &out], &[], &[1, 2], &f.secrets);
    let bad = format!("{}x", f.token);
    run_clean(&["discover", "--server", "127.0.0.1:1", "--token", &bad, "--ca-cert-hash", &pin, "--out", &out], &[], &[1, 2], &f.secrets);
    run_clean(&["discover", "--server", "127.0.0.1:1", "--token", &f.token, "--ca-cert-hash", "sha256:nothex", "--out", &out], &[], &[1, 2], &f.secrets);
    assert!(!Path::new(&out).exists(), "a refused command wrote {out}");
}

/// The check itself: a secret that is printed is caught, in each form it can take.
#[test]
fn the_check_catches_a_printed_key_and_token() {
    let f = fixture();
    let key = std::fs::read_to_string(&f.ca_key).unwrap();
    let s = key_secrets("ca.key", &key);
    assert_eq!(s.len(), 1);
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD.decode(&body).unwrap();
    let leaks = [
        key.clone(),
        key.lines().nth(5).unwrap().to_string(),
        body.clone(),
        der.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        format!("{der:?}"),
        base64::engine::general_purpose::STANDARD.encode(&key),
    ];
    for (i, leak) in leaks.iter().enumerate() {
        let run = Run { args: vec![format!("leak form {i}")], code: 0, stdout: String::new(), stderr: format!("trace: {leak}\n"), ..Default::default() };
        let caught = std::panic::catch_unwind(|| assert_no_leak(&run, &s, &[])).is_err();
        assert!(caught, "leak form {i} was not caught");
    }
    let t = token_secret("t", &f.token);
    let run = Run { args: vec![], code: 0, stdout: format!("{}\n", f.token), stderr: String::new(), ..Default::default() };
    assert!(std::panic::catch_unwind(|| assert_no_leak(&run, std::slice::from_ref(&t), &[])).is_err(), "a printed token was not caught");
    // ...unless the user asked for it, once, on stdout.
    assert_no_leak(&run, std::slice::from_ref(&t), &[&f.token]);
    let twice = Run { args: vec![], code: 0, stdout: format!("{0}\n{0}\n", f.token), stderr: String::new(), ..Default::default() };
    assert!(std::panic::catch_unwind(|| assert_no_leak(&twice, &[t], &[&f.token])).is_err(), "a second copy was not caught");
}
