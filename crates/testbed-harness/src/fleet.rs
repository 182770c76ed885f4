//! For the fleet tests: run the built `kubecert` on the cluster, make a node identity signed by the test
//! cluster's CA (to file CSRs exactly as that node would), file CSRs, and make Node objects with
//! status set through the status subresource.

use base64::Engine as _;
use kubecert_pki::{build_csr, sign_for_key, CertificateAuthority, KeyType, LeafProfile, PrivateKey, RequestSubject};
use crate::run::{Kubecert, Run};
use crate::Cluster;
pub use crate::run::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use time::OffsetDateTime;

/// The binary under test, as cluster-admin of `c`, where the cluster's addresses are reachable
/// (inside its network namespace for `testbed up --netns`).
pub fn kubecert(c: &Cluster, args: &[&str]) -> Run {
    Kubecert::new(args).in_cluster(c).run()
}

/// A client identity `CN=system:node:<node>, O=system:nodes` signed by the cluster CA, as a kubeconfig.
pub struct NodeIdentity {
    /// Holds the key, certificate and kubeconfig (removed on drop).
    pub dir: tempfile::TempDir,
    /// The kubeconfig that authenticates as the identity.
    pub kubeconfig: PathBuf,
}

/// The node `node`'s identity (`CN=system:node:<node>, O=system:nodes`).
pub fn node_identity(c: &Cluster, node: &str) -> NodeIdentity {
    user_identity(c, &format!("system:node:{node}"), Some("system:nodes"))
}

/// A client identity `CN=<user>[, O=<group>]` signed by the cluster CA, as a kubeconfig.
pub fn user_identity(c: &Cluster, user: &str, group: Option<&str>) -> NodeIdentity {
    let now = OffsetDateTime::now_utc();
    let ca = CertificateAuthority::load(&std::fs::read(c.ca_cert()).unwrap(), &std::fs::read(c.ca_key()).unwrap(), now).unwrap();
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let profile = LeafProfile {
        common_name: user.into(),
        organization: group.map(String::from),
        client_auth: true,
        server_auth: false,
        dns_names: vec![],
        ip_addresses: vec![],
        valid_for: time::Duration::hours(1),
    };
    let cert = sign_for_key(&ca, &key, &profile, now).unwrap().certificate;
    let dir = tempfile::tempdir().unwrap();
    let (crt, k) = (dir.path().join("node.crt"), dir.path().join("node.key"));
    std::fs::write(&crt, cert.to_pem()).unwrap();
    std::fs::write(&k, key.to_pem().as_bytes()).unwrap();
    let kubeconfig = dir.path().join("node.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n    client-certificate: {}\n    client-key: {}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n",
            c.server(),
            c.ca_cert().display(),
            crt.display(),
            k.display()
        ),
    )
    .unwrap();
    NodeIdentity { dir, kubeconfig }
}

/// Files a CSR named `name` for `cn` (O=system:nodes) with these SANs, as `who` (None: admin).
#[allow(clippy::too_many_arguments)]
pub fn file_csr(c: &Cluster, who: Option<&Path>, name: &str, signer: &str, cn: &str, dns: &[&str], ips: &[&str], usages: &[&str]) {
    let (ok, out) = try_file_csr(c, who, &[], name, signer, cn, dns, ips, usages);
    assert!(ok, "create CSR {name}: {out}");
}

/// As `file_csr`, with extra kubectl flags (e.g. `--as USER`), returning (success, output).
#[allow(clippy::too_many_arguments)]
pub fn try_file_csr(c: &Cluster, who: Option<&Path>, flags: &[&str], name: &str, signer: &str, cn: &str, dns: &[&str], ips: &[&str], usages: &[&str]) -> (bool, String) {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let subject = RequestSubject {
        common_name: cn.into(),
        organization: Some("system:nodes".into()),
        dns_names: dns.iter().map(|s| s.to_string()).collect(),
        ip_addresses: ips.iter().map(|s| s.parse().unwrap()).collect(),
    };
    let pem = build_csr(&key, &subject).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(pem);
    let usages: String = usages.iter().map(|u| format!("\n  - {u}")).collect();
    let yaml = format!("apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata:\n  name: {name}\nspec:\n  signerName: {signer}\n  request: {b64}\n  usages:{usages}\n");
    let mut verb = vec!["create"];
    verb.extend_from_slice(flags);
    c.kubectl_stdin(who, &verb, &yaml)
}

/// The `type=True` condition types of CSR `name` and whether a certificate is issued.
pub fn csr_state(c: &Cluster, name: &str) -> (Vec<String>, bool) {
    let v: serde_json::Value = serde_json::from_str(&c.kubectl_ok(&["get", "csr", name, "-o", "json"])).unwrap();
    let conds = v["status"]["conditions"].as_array().map(|a| a.iter().filter(|c| c["status"] == "True").map(|c| c["type"].as_str().unwrap_or_default().to_string()).collect()).unwrap_or_default();
    (conds, v["status"]["certificate"].as_str().is_some_and(|s| !s.is_empty()))
}

/// Creates Node `name` (as admin) and sets its status through the status subresource: addresses,
/// the kubelet port, and a Ready condition with status `ready` ("True"/"False").
pub fn make_node(c: &Cluster, name: &str, addresses: &[(&str, &str)], port: u16, ready: &str) {
    let (ok, out) = c.kubectl_stdin(None, &["create"], &format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels: {{kubecert-test: fleet}}\n"));
    assert!(ok, "create Node {name}: {out}");
    let now = kubecert_cluster::token::rfc3339(OffsetDateTime::now_utc());
    let addrs: Vec<serde_json::Value> = addresses.iter().map(|(t, a)| serde_json::json!({"type": t, "address": a})).collect();
    let patch = serde_json::json!({"status": {
        "addresses": addrs,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "conditions": [{"type": "Ready", "status": ready, "reason": "KubecertTest", "message": "set by the fleet test", "lastHeartbeatTime": now, "lastTransitionTime": now}],
    }});
    c.kubectl_ok(&["patch", "node", name, "--subresource=status", "--type=merge", "-p", &patch.to_string()]);
}

/// `kubecert ARGS` run as a Pod would run it: `KUBERNETES_SERVICE_HOST`/`_PORT` set and the
/// service account's token, CA and namespace files at `/var/run/secrets/kubernetes.io/serviceaccount`
/// (a tmpfs on /run in a private mount namespace, so nothing leaks to the host). `token_for` is a
/// ServiceAccount as `namespace/name`. Returns the command (not started) and the temp dir to keep.
pub fn in_cluster_command(c: &Cluster, token_for: &str, args: &[&str]) -> (Command, tempfile::TempDir) {
    let (ns, sa) = token_for.split_once('/').unwrap();
    let token = c.kubectl_ok(&["create", "token", sa, "-n", ns, "--duration", "10m"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), token.trim()).unwrap();
    std::fs::copy(c.ca_cert(), dir.path().join("ca.crt")).unwrap();
    std::fs::write(dir.path().join("namespace"), ns).unwrap();
    let hostport = c.server().trim_start_matches("https://").to_string();
    let (host, port) = hostport.rsplit_once(':').unwrap();
    let script = format!(
        "mount --make-rprivate / && mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount && cp {d}/token {d}/ca.crt {d}/namespace /run/secrets/kubernetes.io/serviceaccount/ && exec \"$@\"",
        d = dir.path().display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "sh", "-c", &script, "sh"]).arg(crate::run::kubecert_bin()).args(args);
    cmd.env_remove("KUBECONFIG").env("KUBERNETES_SERVICE_HOST", host).env("KUBERNETES_SERVICE_PORT", port).env("NO_COLOR", "1");
    (cmd, dir)
}
