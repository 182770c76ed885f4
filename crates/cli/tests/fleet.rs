//! Fleet commands against the real test cluster (`TESTBED_ENV`): `scan` sees the real kubelets,
//! a pending CSR, an expired bootstrap token and a NotReady node whose "kubelet" (a real
//! `openssl s_server` on 127.0.0.1) serves an expired certificate from a foreign CA; `approve`
//! approves a valid serving CSR, refuses one with a SAN that is not the node's address, and
//! never approves a client CSR whose CN names another node than the requestor, in one shot,
//! dry run, and as a `--watch` controller.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::fleet::*;
use kubecert_pki::{self_signed_ca, sign_with_dates, CertificateAuthority, KeyType, LeafProfile, PrivateKey};
use kubecert_testbed_harness::{unique_name, Cluster};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use time::OffsetDateTime;

const CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
const SERVING: &str = "kubernetes.io/kubelet-serving";

/// A real TLS server on 127.0.0.1 serving an expired certificate from a CA this cluster does not know.
struct ForeignKubelet {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl ForeignKubelet {
    fn start() -> ForeignKubelet {
        let now = OffsetDateTime::now_utc();
        let ca_key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let ca_cert = self_signed_ca(&ca_key, "some-other-cluster", now - time::Duration::days(800), now + time::Duration::days(3000)).unwrap();
        let ca = CertificateAuthority::new(ca_cert, ca_key, now).unwrap();
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let p = LeafProfile {
            common_name: "old-node".into(),
            organization: None,
            client_auth: false,
            server_auth: true,
            dns_names: vec!["old-node".into()],
            ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            valid_for: time::Duration::days(365),
        };
        let cert = sign_with_dates(&ca, &key, &p, now - time::Duration::days(400), now - time::Duration::days(35)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        std::fs::write(&c, cert.to_pem()).unwrap();
        std::fs::write(&k, key.to_pem().as_bytes()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-accept", &format!("127.0.0.1:{port}"), "-cert"])
            .arg(&c)
            .arg("-key")
            .arg(&k)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        wait_for(Duration::from_secs(10), "openssl s_server to listen", || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
        ForeignKubelet { child, port, _dir: dir }
    }
}

impl Drop for ForeignKubelet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Kills the child if the test fails before stopping it.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn node<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["nodes"].as_array().unwrap().iter().find(|n| n["name"] == name).unwrap_or_else(|| panic!("node {name} not in the scan: {report:#}"))
}

#[test]
fn scan_reports_real_kubelets_pending_csr_expired_token_and_calls_out_a_bad_notready_node() {
    let c = Cluster::shared();
    // A real kubelet, joined by TLS bootstrap; it serves its self-signed certificate on 127.0.0.1.
    let good = unique_name("fleet");
    c.testbed(&["node", "join", &good]);
    let port: u16 = c.kubectl_ok(&["get", "node", &good, "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}"]).trim().parse().unwrap();

    // A NotReady node whose endpoint serves an expired certificate from a foreign CA.
    let foreign = ForeignKubelet::start();
    let bad = unique_name("fleet-bad");
    make_node(c, &bad, &[("InternalIP", "127.0.0.1"), ("Hostname", &bad)], foreign.port, "False");

    // A pending CSR (serving CSRs are never auto-approved), filed as admin.
    let pending = unique_name("fleet-pending");
    let filed = std::time::Instant::now();
    file_csr(c, None, &pending, SERVING, &format!("system:node:{good}"), &[&good], &[], &["digital signature", "server auth"]);

    // An expired bootstrap token, kept (a finalizer) while the token cleaner tries to delete it.
    let id: String = format!("x{}", &format!("{:05}", std::process::id() % 100000));
    let secret = format!("bootstrap-token-{id}");
    let (ok, out) = c.kubectl_stdin(
        None,
        &["apply"],
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {secret}\n  namespace: kube-system\n  finalizers: [kubecert.test/keep]\ntype: bootstrap.kubernetes.io/token\nstringData:\n  token-id: {id}\n  token-secret: 0123456789abcdef\n  expiration: \"2020-01-01T00:00:00Z\"\n  usage-bootstrap-authentication: \"true\"\n"
        ),
    );
    assert!(ok, "{out}");

    let o = kubecert(c, &["scan", "--default-address", "127.0.0.1", "--timeout", "2s", "-o", "json"]);
    let r = json(&o);
    assert_eq!(o.status.code(), Some(1), "problems exist, so exit 1: {}", text(&o));

    let g = node(&r, &good);
    assert_eq!(g["ready"], "ready", "{g:#}");
    assert!(g["heartbeat_age_seconds"].as_i64().unwrap() < 120, "{g:#}");
    assert_eq!(g["endpoint"]["ip"], "127.0.0.1");
    assert_eq!(g["endpoint"]["port"], port);
    assert_eq!(g["endpoint"]["source"], "default", "the testbed's Nodes publish no address: --default-address is used, and said so");
    assert_eq!(g["serving"]["result"], "cert", "{g:#}");
    assert_eq!(g["serving"]["trust"], "self-signed", "{g:#}");
    assert_eq!(g["serving"]["expired"], false);
    assert!(g["serving"]["issuer"].as_str().unwrap().contains(&format!("{good}-ca@")), "{g:#}");
    assert!(g["serving"]["dns_names"].as_array().unwrap().iter().any(|d| d == good.as_str()), "{g:#}");
    assert!(g.get("callout").is_none());

    let b = node(&r, &bad);
    assert_eq!(b["endpoint"]["source"], "internal-ip");
    assert_eq!(b["serving"]["trust"], "foreign", "{b:#}");
    assert_eq!(b["serving"]["expired"], true, "{b:#}");
    let callout = &b["callout"];
    assert!(callout["problem"].as_str().unwrap().contains("expired certificate from a foreign CA"), "{b:#}");
    assert_eq!(callout["repair"], format!("on {bad}: kubecert doctor && kubecert csr --node {bad} --signer serving --approve --install"));

    let csr = r["csrs"].as_array().unwrap().iter().find(|x| x["name"] == pending.as_str()).unwrap_or_else(|| panic!("{pending} not listed: {r:#}"));
    assert_eq!(csr["state"], "pending");
    assert_eq!(csr["requestor"], "kubernetes-admin");
    assert_eq!(csr["signer"], SERVING);
    // its age is the time since it was filed (the API server's whole seconds), not a placeholder
    let age = csr["age_seconds"].as_i64().unwrap();
    assert!((0..=filed.elapsed().as_secs() as i64 + 1).contains(&age), "age {age}s, filed {:?} ago", filed.elapsed());

    let tok = r["tokens"].as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).unwrap_or_else(|| panic!("token {id} not listed: {r:#}"));
    assert_eq!(tok["expired"], true, "{tok:#}");
    assert!(!o.stdout.contains("0123456789abcdef"), "a token secret leaked into the scan");

    assert_eq!(r["rbac"].as_array().unwrap().len(), 7);
    assert!(r["rbac"].as_array().unwrap().iter().all(|o| o["state"] == "present"), "{:#}", r["rbac"]);
    assert!(r["clock"]["skew_seconds"].as_i64().unwrap().abs() <= 2, "{:#}", r["clock"]);
    let problems = r["problems"].to_string();
    assert!(problems.contains("expired bootstrap token"), "{problems}");
    assert!(problems.contains("NotReady node(s) serving an expired or foreign certificate"), "{problems}");

    // The table says the same for people.
    let t = kubecert(c, &["scan", "--default-address", "127.0.0.1", "-o", "wide"]);
    let out = text(&t);
    for needle in [good.as_str(), bad.as_str(), pending.as_str(), "self-signed", "foreign", "EXPIRED", "repair: on ", "127.0.0.1:"] {
        assert!(out.contains(needle), "{needle:?} not in the table:\n{out}");
    }

    // Without --default-address the real kubelet's node has nothing to dial, and the scan says why.
    let r2 = json(&kubecert(c, &["scan", "-o", "json", "--no-resolve"]));
    assert_eq!(node(&r2, &good)["serving"]["result"], "no-endpoint");

    c.kubectl_ok(&["patch", "secret", "-n", "kube-system", &secret, "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    let _ = c.kubectl(&["delete", "secret", "-n", "kube-system", &secret, "--ignore-not-found"]);
    c.kubectl_ok(&["delete", "csr", &pending]);
    c.kubectl_ok(&["delete", "node", &bad]);
}

/// Tries to get a client CSR for `CN=system:node:<victim>` filed by someone other than that node.
/// The API server of v1.37 already refuses it from node `node` itself and from any user named
/// `system:node:<node>` (both checked here: a layer kubecert does not rely on); a user with no
/// node name bound to system:node-bootstrapper gets through, and that CSR is left for the
/// approver, which must refuse it. Returns that user's name.
fn file_another_nodes_client_csr(c: &Cluster, me: &NodeIdentity, node: &str, name: &str, victim: &str, usages: &[&str]) -> String {
    let cn = format!("system:node:{victim}");
    let refused = format!("can only create a node CSR with CN=system:node:{node}");
    let (ok, out) = try_file_csr(c, Some(&me.kubeconfig), &[], name, CLIENT, &cn, &[], &[], usages);
    assert!(!ok && out.contains(&refused), "the API server let node {node} file another node's CSR: {out}");
    let named_like_node = format!("system:node:{node}");
    let (ok, out) = try_file_csr(c, None, &["--as", &named_like_node], name, CLIENT, &cn, &[], &[], usages);
    assert!(!ok && out.contains("can only create a node CSR"), "{out}");
    let user = format!("{name}-mallory");
    let binding = format!("{name}-csr-create");
    c.kubectl_ok(&["create", "clusterrolebinding", &binding, "--clusterrole=system:node-bootstrapper", &format!("--user={user}")]);
    let (ok, out) = try_file_csr(c, None, &["--as", &user], name, CLIENT, &cn, &[], &[], usages);
    c.kubectl_ok(&["delete", "clusterrolebinding", &binding]);
    assert!(ok, "{out}");
    user
}

fn decision<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.as_array().unwrap().iter().find(|d| d["name"] == name).unwrap_or_else(|| panic!("{name} not decided: {v:#}"))
}

#[test]
fn approve_approves_a_valid_serving_csr_refuses_a_foreign_san_and_never_another_nodes_client_csr() {
    let c = Cluster::shared();
    let n = unique_name("fleet-srv");
    make_node(c, &n, &[("InternalIP", "127.0.0.1"), ("Hostname", &n)], 10250, "True");
    let me = node_identity(c, &n);
    let (good, badsan, steal) = (format!("{n}-good"), format!("{n}-badsan"), format!("{n}-steal"));
    let serving = ["digital signature", "server auth"];
    file_csr(c, Some(&me.kubeconfig), &good, SERVING, &format!("system:node:{n}"), &[&n], &["127.0.0.1"], &serving);
    file_csr(c, Some(&me.kubeconfig), &badsan, SERVING, &format!("system:node:{n}"), &[&n], &["127.0.0.1", "10.9.8.7"], &serving);
    // Node n asks for a client certificate in another node's name.
    let victim = unique_name("fleet-victim");
    make_node(c, &victim, &[("InternalIP", "127.0.0.1")], 10250, "True");
    let usages = ["digital signature", "client auth"];
    let mallory = file_another_nodes_client_csr(c, &me, &n, &steal, &victim, &usages);

    // Dry run: the decisions, nothing approved.
    let o = kubecert(c, &["approve", "--dry-run", "-o", "json", &good, &badsan, &steal]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = json(&o);
    assert_eq!(decision(&v, &good)["verdict"], "approve");
    assert_eq!(decision(&v, &good)["outcome"], "would-approve");
    assert_eq!(decision(&v, &badsan)["verdict"], "skip");
    assert!(decision(&v, &badsan)["reasons"].to_string().contains("IP SAN 10.9.8.7 is not one of Node"), "{v:#}");
    assert_eq!(decision(&v, &steal)["verdict"], "skip");
    assert!(decision(&v, &steal)["reasons"].to_string().contains(&format!("requestor \\\"{mallory}\\\" is neither node")), "{v:#}");
    assert_eq!(decision(&v, &steal)["requestor"], mallory.as_str());
    for name in [&good, &badsan, &steal] {
        assert_eq!(csr_state(c, name), (vec![], false), "{name} changed by a dry run");
    }

    // For real: the valid serving CSR is approved and the controller-manager issues it.
    let o = kubecert(c, &["approve", &good, &badsan, &steal]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("approved") && out.contains("skipped") && out.contains("10.9.8.7"), "{out}");
    wait_for(Duration::from_secs(30), "the approved serving CSR to be issued", || (csr_state(c, &good) == (vec!["Approved".to_string()], true)).then_some(()));
    let reason = c.kubectl_ok(&["get", "csr", &good, "-o", "jsonpath={.status.conditions[0].reason}"]);
    assert_eq!(reason, "KubecertPolicyApprove");
    assert_eq!(csr_state(c, &badsan), (vec![], false));
    assert_eq!(csr_state(c, &steal), (vec![], false), "another node's client CSR must never be approved");

    // Approving again is a no-op for the decided one; the skipped ones stay skipped.
    let v = json(&kubecert(c, &["approve", "-o", "json", &good, &badsan, &steal]));
    assert!(v.as_array().unwrap().iter().all(|d| d["name"] != good.as_str()), "{v:#}");

    for name in [&good, &badsan, &steal] {
        c.kubectl_ok(&["delete", "csr", name]);
    }
    c.kubectl_ok(&["delete", "node", &n, &victim]);
}

#[test]
fn approve_watch_approves_as_a_controller_and_stops_on_sigterm() {
    let c = Cluster::shared();
    let n = unique_name("fleet-watch");
    make_node(c, &n, &[("InternalIP", "127.0.0.1"), ("Hostname", &n)], 10250, "True");
    let me = node_identity(c, &n);
    let (good, steal) = (format!("{n}-good"), format!("{n}-steal"));
    let mut guard = KillOnDrop(Some(
        Command::new(env!("CARGO_BIN_EXE_kubecert"))
            .args(["approve", "--watch", "--interval", "1", &good, &steal, "--kubeconfig"])
            .arg(c.kubeconfig())
            .env_remove("KUBECONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    // Filed while the controller runs.
    file_csr(c, Some(&me.kubeconfig), &good, SERVING, &format!("system:node:{n}"), &[&n], &["127.0.0.1"], &["digital signature", "server auth"]);
    file_another_nodes_client_csr(c, &me, &n, &steal, &format!("{n}-other"), &["digital signature", "client auth"]);
    wait_for(Duration::from_secs(30), "the controller to approve the serving CSR", || csr_state(c, &good).0.contains(&"Approved".to_string()).then_some(()));
    std::thread::sleep(Duration::from_secs(2)); // at least one more round over the other CSR
    let child = guard.0.take().unwrap();
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{good} (Serving")) && stdout.contains(": approved:"), "{stdout}");
    assert_eq!(stdout.matches(&format!("{steal} (Client")).count(), 1, "one line per decision, not one per round:\n{stdout}");
    assert_eq!(csr_state(c, &steal), (vec![], false));
    for name in [&good, &steal] {
        c.kubectl_ok(&["delete", "csr", name]);
    }
    c.kubectl_ok(&["delete", "node", &n]);
}

#[test]
fn approve_in_cluster_with_the_deploy_service_account_has_exactly_the_rights_it_needs() {
    let c = Cluster::shared();
    let deploy = kubecert_testbed_harness::repo_root().join("deploy");
    c.kubectl_ok(&["apply", "-f", &deploy.join("namespace.yaml").display().to_string()]);
    c.kubectl_ok(&["apply", "-f", &deploy.join("approver.yaml").display().to_string(), "--dry-run=server"]);
    // The RBAC objects for real (the Deployment needs Pods, which the testbed does not run).
    let (ok, out) = c.kubectl_stdin(None, &["apply", "-l", "app.kubernetes.io/name=kubecert-approver"], &std::fs::read_to_string(deploy.join("approver.yaml")).unwrap().split("\n---\n").filter(|d| !d.contains("kind: Deployment")).collect::<Vec<_>>().join("\n---\n"));
    assert!(ok, "{out}");
    let sa = "system:serviceaccount:kubecert-system:kubecert-approver";
    for denied in [["get", "secrets"], ["delete", "certificatesigningrequests"], ["update", "nodes"], ["create", "certificatesigningrequests"]] {
        assert_eq!(c.kubectl(&["auth", "can-i", denied[0], denied[1], "--as", sa, "-A"]).1.trim(), "no", "the approver may {denied:?}");
    }

    let n = unique_name("fleet-inca");
    make_node(c, &n, &[("InternalIP", "127.0.0.1"), ("Hostname", &n)], 10250, "True");
    let me = node_identity(c, &n);
    let (good, bad) = (format!("{n}-good"), format!("{n}-bad"));
    file_csr(c, Some(&me.kubeconfig), &good, SERVING, &format!("system:node:{n}"), &[&n], &["127.0.0.1"], &["digital signature", "server auth"]);
    file_csr(c, Some(&me.kubeconfig), &bad, SERVING, &format!("system:node:{n}"), &["evil.example.com"], &[], &["digital signature", "server auth"]);
    let (mut cmd, _dir) = in_cluster_command(c, "kubecert-system/kubecert-approver", &["approve", "--in-cluster", "-o", "json", &good, &bad]);
    let o = cmd.output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = json(&o);
    assert_eq!(decision(&v, &good)["outcome"], "approved", "{v:#}");
    assert_eq!(decision(&v, &bad)["verdict"], "skip");
    wait_for(Duration::from_secs(30), "the serving certificate", || csr_state(c, &good).1.then_some(()));
    assert_eq!(csr_state(c, &bad), (vec![], false));
    for name in [&good, &bad] {
        c.kubectl_ok(&["delete", "csr", name]);
    }
    c.kubectl_ok(&["delete", "node", &n]);
}
