//! Secrets never leak, against the real test cluster (scripts/test's shared testbed): token
//! create/list, bootstrap-config, discover (success and refusals), csr and scan, with
//! `RUST_LOG=trace -vvv`; every stdout/stderr is grepped for the admin kubeconfig's client key,
//! every bootstrap token secret in the cluster, and the keys `csr` made. The one exception is what
//! the user asked for: `token create` prints its token once on stdout.


use kubecert_testbed_harness::{Cluster, unique_name};
use kubecert_testbed_harness::secrets::*;
use std::process::Command;

/// The admin kubeconfig's private key (embedded `client-key-data` or a `client-key` file).
fn admin_key_secrets(c: &Cluster) -> Vec<Secret> {
    let raw = |path: &str| {
        let o = Command::new(c.bin("kubectl")).arg("--kubeconfig").arg(c.kubeconfig()).args(["config", "view", "--raw", "--minify", "-o", &format!("jsonpath={path}")]).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let data = raw("{.users[0].user.client-key-data}");
    let pem = if data.is_empty() {
        let file = raw("{.users[0].user.client-key}");
        assert!(!file.is_empty(), "the admin kubeconfig has no client key");
        std::fs::read_to_string(file).unwrap()
    } else {
        decode_b64(&data)
    };
    let s = key_secrets("the admin kubeconfig's key", &pem);
    assert_eq!(s.len(), 1, "one admin key");
    s
}

/// Every bootstrap token secret in the cluster, read by kubectl.
fn cluster_token_secrets(c: &Cluster) -> Vec<Secret> {
    let (ok, out, err) = c.kubectl(&["get", "secrets", "-n", "kube-system", "--field-selector", "type=bootstrap.kubernetes.io/token", "-o", "jsonpath={range .items[*]}{.data.token-id}:{.data.token-secret}{\"\\n\"}{end}"]);
    assert!(ok, "{err}");
    out.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(id, secret)| token_secret(&format!("bootstrap token {}", decode_b64(id)), &format!("{}.{}", decode_b64(id), decode_b64(secret))))
        .collect()
}

fn decode_b64(s: &str) -> String {
    use base64::Engine;
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s.trim()).expect("base64")).expect("utf-8")
}

#[test]
fn cluster_commands_never_print_keys_or_token_secrets() {
    let c = Cluster::shared();
    let kc = c.kubeconfig().display().to_string();
    let env = [("KUBECONFIG", kc.as_str())];
    let dir = tempfile::tempdir().unwrap();
    let p = |s: &str| dir.path().join(s).display().to_string();
    let admin = admin_key_secrets(c);

    // token create: the token on stdout once (asked for), nowhere else.
    let created = kubecert(&["token", "create", "--ttl", "15m", "--description", "secrets test"], &env);
    assert_eq!(created.code, 0, "token create: {}", created.stderr);
    let token = created.stdout.trim().to_string();
    let mut secrets = admin.clone();
    secrets.push(token_secret("the created token", &token));
    assert_no_leak(&created, &secrets, &[&token]);
    let joined = kubecert(&["token", "create", "--ttl", "15m", "--print-join-command"], &env);
    assert_eq!(joined.code, 0, "{}", joined.stderr);
    let join_token = joined.stdout.split_whitespace().skip_while(|w| *w != "--token").nth(1).expect("--token in the join command").to_string();
    secrets.push(token_secret("the join command's token", &join_token));
    assert_no_leak(&joined, &secrets, &[&join_token]);

    // bootstrap-config to a file: the file holds a new token; nothing printed does.
    let bc = p("bootstrap-kubelet.conf");
    let r = kubecert(&["bootstrap-config", "--node", &unique_name("leak"), "--ttl", "15m", "--out", &bc], &env);
    assert_eq!(r.code, 0, "bootstrap-config: {}", r.stderr);
    let written = std::fs::read_to_string(&bc).unwrap();
    let bc_token = written.lines().find_map(|l| l.trim().strip_prefix("token: ")).expect("a token in the bootstrap kubeconfig").trim().to_string();
    secrets.push(token_secret("bootstrap-config's token", &bc_token));
    assert_no_leak(&r, &secrets, &[]);
    run_clean(&["bootstrap-config", "--node", "leak-dry", "--dry-run", "--out", &p("dry.conf")], &env, &[0], &secrets);

    // Every token in the cluster, kubeadm's and other tests' too, from here on.
    secrets.extend(cluster_token_secrets(c));
    for out in ["text", "wide", "json", "yaml"] {
        run_clean(&["token", "list", "-o", out], &env, &[0], &secrets);
    }

    // discover, as a node: success, then wrong pin, wrong secret, no pin.
    let hp = c.server().trim_start_matches("https://").to_string();
    let pin = c.ca_pin();
    let none = [("KUBECONFIG", "/nonexistent")];
    run_clean(&["discover", "--server", &hp, "--token", &token, "--ca-cert-hash", &pin, "--out", &p("discovered.conf")], &none, &[0], &secrets);
    let wrong_pin = format!("sha256:{}", "0".repeat(64));
    run_clean(&["discover", "--server", &hp, "--token", &token, "--ca-cert-hash", &wrong_pin, "--out", &p("x.conf")], &none, &[2], &secrets);
    let (id, _) = token.split_once('.').unwrap();
    let wrong = format!("{id}.{}", "z".repeat(16));
    secrets.push(token_secret("a wrong secret for a real id", &wrong));
    run_clean(&["discover", "--server", &hp, "--token", &wrong, "--ca-cert-hash", &pin, "--out", &p("x.conf")], &none, &[2], &secrets);
    run_clean(&["discover", "--server", &hp, "--token", &token, "--out", &p("x.conf")], &none, &[2], &secrets);

    // csr with the admin credentials: the key it makes locally must not be printed either.
    let node = unique_name("leakcsr");
    let csr_dir = dir.path().join("csr");
    let r = kubecert(&["csr", "--node", &node, "--approve", "--timeout", "60s", "--out-dir", &csr_dir.display().to_string()], &env);
    assert_eq!(r.code, 0, "csr: {}\n{}", r.stdout, r.stderr);
    let made = tree_key_secrets(&csr_dir);
    assert!(!made.is_empty(), "csr --out-dir wrote no key");
    assert_no_leak(&r, &secrets, &[]);
    assert_no_leak(&r, &made, &[]);
    secrets.extend(made);
    run_clean(&["csr", "--node", &node, "--dry-run"], &env, &[0, 1, 2], &secrets);

    // scan reads the whole cluster's bootstrap tokens and kubelets.
    for out in ["text", "json"] {
        run_clean(&["scan", "-o", out], &env, &[0, 1], &secrets);
    }
    // Clean up the tokens this test made.
    for t in [&token, &join_token, &bc_token] {
        let _ = kubecert(&["token", "delete", t], &env);
    }
}

