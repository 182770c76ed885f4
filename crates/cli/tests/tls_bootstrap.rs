//! Bootstrap tokens, the bootstrap kubeconfig and token discovery against the real testbed
//! cluster (issue 4). Every claim is checked independently: kubectl/kubeadm read what kubecert
//! wrote, and the API server says who a token is.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::Cluster;
use std::time::Duration;
use kubecert_testbed_harness::bootstrap::*;

#[test]
fn token_made_by_kubecert_authenticates_and_stops_when_deleted() {
    let c = Cluster::shared();
    let r = kubecert(c, &["token", "create", "--description", "itest create"]).expect(0, "token create");
    let token = r.stdout.trim().to_string();
    let id = id_of(&token).to_string();
    assert_eq!(token.len(), 23, "{token}");
    // The API server authenticates it as system:bootstrap:<id>.
    let user = wait_for(Duration::from_secs(10), "the new token to authenticate", || whoami(c, &token).ok());
    assert_eq!(user, format!("system:bootstrap:{id}"));
    // The Secret is exactly kubeadm's format.
    let secret = |key: &str| decode_b64(&c.kubectl_ok(&["get", "secret", "-n", "kube-system", &format!("bootstrap-token-{id}"), "-o", &format!("jsonpath={{.data.{key}}}")]));
    assert_eq!(c.kubectl_ok(&["get", "secret", "-n", "kube-system", &format!("bootstrap-token-{id}"), "-o", "jsonpath={.type}"]), "bootstrap.kubernetes.io/token");
    assert_eq!(secret("token-id"), id);
    assert_eq!(secret("token-secret"), token.split_once('.').unwrap().1);
    assert_eq!(secret("usage-bootstrap-authentication"), "true");
    assert_eq!(secret("usage-bootstrap-signing"), "true");
    assert_eq!(secret("auth-extra-groups"), "system:bootstrappers:kubeadm:default-node-token");
    assert_eq!(secret("description"), "itest create");
    let exp = secret("expiration");
    assert!(exp.ends_with('Z') && exp.len() == 20, "RFC 3339 UTC, whole seconds: {exp}");
    // kubeadm reads it back: TTL about one hour, our usages and groups.
    let o = std::process::Command::new(c.bin("kubeadm")).args(["token", "list", "--kubeconfig"]).arg(c.kubeconfig()).output().unwrap();
    assert!(o.status.success(), "kubeadm token list: {}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("kubeadm token list lacks {id}:\n{out}"));
    assert!(line.contains("59m") || line.contains("1h"), "TTL about 1h: {line}");
    assert!(line.contains("authentication,signing") || line.contains("signing,authentication"), "{line}");
    assert!(line.contains("system:bootstrappers:kubeadm:default-node-token"), "{line}");
    // Delete by the whole token; it stops authenticating.
    let r = kubecert(c, &["token", "delete", &token]).expect(0, "token delete");
    assert!(r.stderr.contains("for up to 10 s"), "the API server's token cache is explained: {}", r.stderr);
    // The API server caches successful authentications for 10 s; then it refuses the token.
    let err = wait_for(Duration::from_secs(15), "the deleted token to stop authenticating", || whoami(c, &token).err());
    assert!(err.contains("Unauthorized") || err.contains("401"), "{err}");
    // Deleting again says so, with exit 1.
    let r = kubecert(c, &["token", "delete", &id]).expect(1, "delete again");
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
}

#[test]
fn tokens_made_by_kubeadm_are_listed_masked_and_deletable() {
    let c = Cluster::shared();
    let o = std::process::Command::new(c.bin("kubeadm"))
        .args(["token", "create", "--ttl", "10m", "--description", "made-by-kubeadm", "--kubeconfig"])
        .arg(c.kubeconfig())
        .output()
        .unwrap();
    assert!(o.status.success(), "kubeadm token create: {}", String::from_utf8_lossy(&o.stderr));
    let token = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let (id, secret) = token.split_once('.').unwrap();
    let r = kubecert(c, &["token", "list"]).expect(0, "token list");
    assert!(r.stdout.starts_with(" TOKEN") || r.stdout.trim_start().starts_with("TOKEN"), "{}", r.stdout);
    for col in ["TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"] {
        assert!(r.stdout.contains(col), "column {col}: {}", r.stdout);
    }
    let line = r.stdout.lines().find(|l| l.contains(&format!("{id}.****************"))).unwrap_or_else(|| panic!("{id} not listed:\n{}", r.stdout));
    assert!(line.contains("made-by-kubeadm") && line.contains("authentication,signing") || line.contains("signing,authentication"), "{line}");
    assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret), "the secret must never be listed");
    let json = kubecert(c, &["token", "list", "-o", "json"]).expect(0, "token list -o json");
    assert!(json.stdout.contains(&format!("\"id\": \"{id}\"")) && !json.stdout.contains(secret), "{}", json.stdout);
    kubecert(c, &["token", "delete", id]).expect(0, "delete kubeadm's token by id");
    assert!(!token_secret_ids(c).contains(&id.to_string()));
}

#[test]
fn expired_tokens_are_shown_as_expired() {
    let c = Cluster::shared();
    // A token that expired an hour ago. The tokencleaner deletes expired tokens at once, so a
    // finalizer holds the Secret (as on a cluster that runs no tokencleaner) until the test ends.
    let id = "exp1d0";
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bootstrap-token-{id}\n  namespace: kube-system\n  finalizers: [kubecert.test/hold]\ntype: bootstrap.kubernetes.io/token\nstringData:\n  token-id: {id}\n  token-secret: 0123456789abcdef\n  expiration: \"2020-01-01T00:00:00Z\"\n  usage-bootstrap-authentication: \"true\"\n  usage-bootstrap-signing: \"true\"\n  auth-extra-groups: system:bootstrappers:kubeadm:default-node-token\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("expired.yaml");
    std::fs::write(&f, manifest).unwrap();
    c.kubectl_ok(&["apply", "-f", f.to_str().unwrap()]);
    let r = kubecert(c, &["token", "list"]);
    let _ = c.kubectl(&["patch", "secret", "-n", "kube-system", &format!("bootstrap-token-{id}"), "--type", "merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    let _ = c.kubectl(&["delete", "secret", "-n", "kube-system", &format!("bootstrap-token-{id}"), "--ignore-not-found", "--wait=false"]);
    let r = r.expect(0, "token list");
    let line = r.stdout.lines().find(|l| l.contains(&format!("{id}.****"))).unwrap_or_else(|| panic!("{id} not listed:\n{}", r.stdout));
    assert!(line.contains("<expired"), "expired must show: {line}");
    assert!(line.contains("2020-01-01T00:00:00Z"), "{line}");
    assert!(whoami(c, &format!("{id}.0123456789abcdef")).is_err(), "an expired token must not authenticate");
}

#[test]
fn token_flags_are_validated_like_kubeadm() {
    let c = Cluster::shared();
    let r = kubecert(c, &["token", "create", "--groups", "system:masters"]).expect(2, "bad group");
    assert!(r.stderr.contains("system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]"), "{}", r.stderr);
    let r = kubecert(c, &["token", "create", "--usages", "signing"]).expect(2, "groups without authentication");
    assert!(r.stderr.contains("--usages includes \"authentication\""), "{}", r.stderr);
    let r = kubecert(c, &["token", "create", "--usages", "signing,bogus"]).expect(2, "bad usage");
    assert!(r.stderr.contains("bogus"), "{}", r.stderr);
    let r = kubecert(c, &["token", "create", "not.a.token"]).expect(2, "bad token");
    assert!(r.stderr.contains("[a-z0-9]{6}.[a-z0-9]{16}"), "{}", r.stderr);
    // A given token is used as is, and a second create with the same id is refused like kubeadm.
    let t = "given1.0123456789abcdef";
    kubecert(c, &["token", "create", t, "--ttl", "5m"]).expect(0, "create a given token");
    let r = kubecert(c, &["token", "create", t]).expect(2, "duplicate");
    assert!(r.stderr.contains("a token with id \"given1\" already exists"), "{}", r.stderr);
    assert!(!r.stderr.contains("0123456789abcdef"), "no secret in errors: {}", r.stderr);
    kubecert(c, &["token", "delete", t]).expect(0, "delete");
}

#[test]
fn bootstrap_config_writes_a_working_kubeadm_style_file() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bootstrap-kubelet.conf");
    let r = kubecert(c, &["bootstrap-config", "--node", "itest-bc", "--out", f.to_str().unwrap()]).expect(0, "bootstrap-config");
    assert!(r.stdout.is_empty(), "the file goes to --out, not stdout: {}", r.stdout);
    let token = assert_bootstrap_kubeconfig(c, &f);
    assert!(!r.stderr.contains(token.split_once('.').unwrap().1), "the secret must not be printed: {}", r.stderr);
    let id = id_of(&token);
    let desc = decode_b64(&c.kubectl_ok(&["get", "secret", "-n", "kube-system", &format!("bootstrap-token-{id}"), "-o", "jsonpath={.data.description}"]));
    assert!(desc.contains("itest-bc"), "{desc}");
    // Without --out the kubeconfig goes to stdout (and nothing else does).
    let r = kubecert(c, &["bootstrap-config", "--node", "itest-bc", "--ttl", "10m"]).expect(0, "to stdout");
    assert!(r.stdout.contains("tls-bootstrap-token-user@kubernetes") && r.stdout.starts_with("apiVersion: v1"), "{}", r.stdout);
    // --dry-run creates no token and writes nothing.
    // (Other tests create tokens concurrently: look for this run's description, not at a count.)
    let g = dir.path().join("dry.conf");
    let r = kubecert(c, &["bootstrap-config", "--node", "itest-bc-dry", "--dry-run", "--out", g.to_str().unwrap()]).expect(0, "dry run");
    assert!(!g.exists() && r.stdout.is_empty(), "dry run wrote something");
    let descriptions = c.kubectl_ok(&["get", "secrets", "-n", "kube-system", "--field-selector", "type=bootstrap.kubernetes.io/token", "-o", "jsonpath={range .items[*]}{.data.description}{\"\\n\"}{end}"]);
    assert!(!descriptions.lines().any(|d| decode_b64(d).contains("itest-bc-dry")), "dry run created a token");
    // --server/--ca-file override the admin kubeconfig's.
    let h = dir.path().join("override.conf");
    let server = c.server().replace("127.0.0.1", "localhost");
    kubecert(c, &["bootstrap-config", "--node", "itest-bc", "--server", &server, "--ca-file", c.ca_cert().to_str().unwrap(), "--out", h.to_str().unwrap()]).expect(0, "overrides");
    assert_eq!(kubeconfig_field(c, &h, "{.clusters[0].cluster.server}"), server);
}

#[test]
fn discover_verifies_cluster_info_and_writes_the_bootstrap_kubeconfig() {
    let c = Cluster::shared();
    let r = kubecert(c, &["token", "create", "--print-join-command"]).expect(0, "join command");
    let line = r.stdout.trim().to_string();
    assert!(line.starts_with("kubecert discover --server ") && line.contains(&format!("--ca-cert-hash {}", c.ca_pin())), "{line}");
    let token = line.split_whitespace().skip_while(|w| *w != "--token").nth(1).unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bootstrap-kubelet.conf");
    // Run it as a node would: no admin kubeconfig at all.
    let r = kubecert_env(c, &["discover", "--server", &hostport(c), "--token", &token, "--ca-cert-hash", &c.ca_pin(), "--out", f.to_str().unwrap()], &[("KUBECONFIG", "/nonexistent")]).expect(0, "discover");
    assert!(r.stderr.contains("matches the pin"), "{}", r.stderr);
    assert!(!r.stderr.contains(token.split_once('.').unwrap().1), "no secret on stderr");
    let got = assert_bootstrap_kubeconfig(c, &f);
    assert_eq!(got, token);
}

#[test]
fn discover_refuses_wrong_pin_wrong_secret_no_pin_and_unknown_token() {
    let c = Cluster::shared();
    let token = kubecert(c, &["token", "create", "--ttl", "10m"]).expect(0, "token").stdout.trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("out.conf");
    let out = f.to_str().unwrap();
    let hp = hostport(c);
    let pin = c.ca_pin();
    let wrong_pin = format!("sha256:{}", "0".repeat(64));
    let r = kubecert(c, &["discover", "--server", &hp, "--token", &token, "--ca-cert-hash", &wrong_pin, "--out", out]).expect(2, "wrong pin");
    assert!(r.stderr.contains(&format!("public key {pin} not pinned")), "{}", r.stderr);
    let wrong_secret = format!("{}.{}", id_of(&token), "z".repeat(16));
    let r = kubecert(c, &["discover", "--server", &hp, "--token", &wrong_secret, "--ca-cert-hash", &pin, "--out", out]).expect(2, "wrong secret");
    assert!(r.stderr.contains("failed to verify JWS signature of received cluster info object"), "{}", r.stderr);
    let r = kubecert(c, &["discover", "--server", &hp, "--token", &token, "--out", out]).expect(2, "no pin");
    assert!(r.stderr.contains("--ca-cert-hash") && r.stderr.contains("--unsafe-skip-ca-verification"), "{}", r.stderr);
    let r = kubecert(c, &["discover", "--server", &hp, "--token", "zzzzzz.0123456789abcdef", "--ca-cert-hash", &pin, "--timeout", "1s", "--out", out]).expect(2, "unknown token");
    assert!(r.stderr.contains("token id \"zzzzzz\" is invalid for this cluster or it has expired"), "{}", r.stderr);
    let r = kubecert(c, &["discover", "--server", "127.0.0.1", "--token", &token, "--ca-cert-hash", &pin]).expect(2, "bad endpoint");
    assert!(r.stderr.contains("HOST:PORT"), "{}", r.stderr);
    assert!(!f.exists(), "no refusal may write the file");
    // With the explicit opt-out it works, and says the CA was not pinned.
    let r = kubecert(c, &["discover", "--server", &hp, "--token", &token, "--unsafe-skip-ca-verification", "--out", out]).expect(0, "unsafe skip");
    assert!(r.stderr.contains("NOT pinned") || r.stderr.contains("not checked against a pin"), "{}", r.stderr);
}

/// A man in the middle, in Python: serves cluster-info fetched from the real server over its own
/// self-signed TLS, either tampered (the kubeconfig's server changed, signatures kept) or verbatim.
const MITM: &str = r#"
import http.server, json, ssl, sys, urllib.request
upstream, mode, cert, key, portfile = sys.argv[1:6]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = urllib.request.urlopen(upstream + self.path, context=ctx).read()
        if mode == "tamper":
            cm = json.loads(body)
            cm["data"]["kubeconfig"] = cm["data"]["kubeconfig"].replace("server: https://", "server: https://evil.")
            body = json.dumps(cm).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); sctx.load_cert_chain(cert, key)
srv.socket = sctx.wrap_socket(srv.socket, server_side=True)
open(portfile + ".tmp", "w").write(str(srv.server_address[1])); __import__("os").rename(portfile + ".tmp", portfile)
srv.serve_forever()
"#;

struct Mitm {
    child: std::process::Child,
    port: String,
}

impl Drop for Mitm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mitm(c: &Cluster, dir: &std::path::Path, mode: &str) -> Mitm {
    let (cert, key) = (dir.join(format!("{mode}.crt")), dir.join(format!("{mode}.key")));
    let (ok, out) = try_openssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=mitm", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", &key.display().to_string(), "-out", &cert.display().to_string()]);
    assert!(ok, "{out}");
    let script = dir.join("mitm.py");
    std::fs::write(&script, MITM).unwrap();
    let portfile = dir.join(format!("{mode}.port"));
    let child = std::process::Command::new("python3").arg(&script).args([c.server(), mode]).arg(&cert).arg(&key).arg(&portfile).spawn().unwrap();
    let port = wait_for(Duration::from_secs(10), "the MITM to listen", || std::fs::read_to_string(&portfile).ok());
    Mitm { child, port }
}

#[test]
fn discover_refuses_a_tampered_cluster_info_and_a_server_without_the_pinned_ca() {
    let c = Cluster::shared();
    let token = kubecert(c, &["token", "create", "--ttl", "10m"]).expect(0, "token").stdout.trim().to_string();
    // Wait until the bootstrapsigner has signed for it, so the MITM relays a real signature.
    wait_for(Duration::from_secs(10), "the signature", || {
        let (_, out, _) = c.kubectl(&["get", "cm", "-n", "kube-public", "cluster-info", "-o", &format!("jsonpath={{.data.jws-kubeconfig-{}}}", id_of(&token))]);
        (!out.is_empty()).then_some(())
    });
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("out.conf");
    let pin = c.ca_pin();
    let tamper = mitm(c, dir.path(), "tamper");
    let r = kubecert(c, &["discover", "--server", &format!("127.0.0.1:{}", tamper.port), "--token", &token, "--ca-cert-hash", &pin, "--out", f.to_str().unwrap()]).expect(2, "tampered");
    assert!(r.stderr.contains("failed to verify JWS signature") && r.stderr.contains("content was changed"), "{}", r.stderr);
    // Verbatim relay: signature and pin pass (the content is genuine), but the second fetch,
    // which trusts only the pinned CA, refuses the impostor's certificate.
    let relay = mitm(c, dir.path(), "relay");
    let r = kubecert(c, &["discover", "--server", &format!("127.0.0.1:{}", relay.port), "--token", &token, "--ca-cert-hash", &pin, "--out", f.to_str().unwrap()]).expect(2, "relay");
    assert!(r.stderr.contains("second fetch, TLS verified against the pinned CA") && r.stderr.contains("TLS handshake"), "{}", r.stderr);
    assert!(!f.exists());
}
