//! For the tls_bootstrap* tests: run the built `kubecert` against a testbed cluster, and ask the
//! cluster independently (kubectl) what happened.

use crate::run::{wait_for, Kubecert, Run};
use crate::Cluster;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// `kubecert ARGS` as cluster-admin of `c` (through `KUBECONFIG`).
pub fn kubecert(c: &Cluster, args: &[&str]) -> Run {
    kubecert_env(c, args, &[])
}

/// `kubecert ARGS` as cluster-admin of `c`, with extra environment.
pub fn kubecert_env(c: &Cluster, args: &[&str], env: &[(&str, &str)]) -> Run {
    Kubecert::new(args).cluster(c).env_remove("RUST_LOG").envs(env).run()
}

/// Who the API server says `token` is (`kubectl auth whoami` with only that token): the user
/// name, or the error text when it does not authenticate.
pub fn whoami(c: &Cluster, token: &str) -> Result<String, String> {
    let out = Command::new(c.bin("kubectl"))
        .args(["--kubeconfig", "/dev/null", "--server", c.server(), "--certificate-authority"])
        .arg(c.ca_cert())
        .args(["--token", token, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"])
        .output()
        .expect("run kubectl auth whoami");
    if out.status.success() { Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// The id of a whole token.
pub fn id_of(token: &str) -> &str {
    token.split_once('.').expect("id.secret").0
}

/// `HOST:PORT` of the cluster.
pub fn hostport(c: &Cluster) -> String {
    c.server().trim_start_matches("https://").to_string()
}


/// A field of a kubeconfig file, read by kubectl.
pub fn kubeconfig_field(c: &Cluster, file: &Path, jsonpath: &str) -> String {
    let out = Command::new(c.bin("kubectl"))
        .arg("--kubeconfig")
        .arg(file)
        .args(["config", "view", "--raw", "-o", &format!("jsonpath={jsonpath}")])
        .output()
        .expect("kubectl config view");
    assert!(out.status.success(), "kubectl config view: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Permission bits of a file.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

/// Asserts kubeadm's bootstrap-kubeconfig layout, and that the file authenticates as the token's user.
pub fn assert_bootstrap_kubeconfig(c: &Cluster, file: &Path) -> String {
    assert_eq!(mode(file), 0o600, "{} must be 0600", file.display());
    assert_eq!(kubeconfig_field(c, file, "{.current-context}"), "tls-bootstrap-token-user@kubernetes");
    assert_eq!(kubeconfig_field(c, file, "{.clusters[*].name}"), "kubernetes");
    assert_eq!(kubeconfig_field(c, file, "{.users[*].name}"), "tls-bootstrap-token-user");
    assert_eq!(kubeconfig_field(c, file, "{.clusters[0].cluster.server}"), c.server());
    let ca_b64 = kubeconfig_field(c, file, "{.clusters[0].cluster.certificate-authority-data}");
    let ca = decode_b64(&ca_b64);
    let want = std::fs::read_to_string(c.ca_cert()).unwrap();
    let strip = |s: &str| s.split_whitespace().collect::<String>();
    assert_eq!(strip(&ca), strip(&want), "the embedded CA must be the cluster CA");
    let token = kubeconfig_field(c, file, "{.users[0].user.token}");
    // The file itself is a working credential for the bootstrap user.
    let user = wait_for(Duration::from_secs(10), "the file's token to authenticate", || {
        let out = Command::new(c.bin("kubectl")).arg("--kubeconfig").arg(file).args(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]).output().unwrap();
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert_eq!(user, format!("system:bootstrap:{}", id_of(&token)));
    token
}

/// base64 → text, by the coreutils tool (independent of kubecert).
pub fn decode_b64(s: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("base64").arg("-d").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

/// Every bootstrap-token Secret id in the cluster (kubectl's view).
pub fn token_secret_ids(c: &Cluster) -> Vec<String> {
    let out = c.kubectl_ok(&["get", "secrets", "-n", "kube-system", "--field-selector", "type=bootstrap.kubernetes.io/token", "-o", "jsonpath={.items[*].metadata.name}"]);
    out.split_whitespace().map(|n| n.trim_start_matches("bootstrap-token-").to_string()).collect()
}
