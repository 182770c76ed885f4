//! `kubecert csr` against the real test cluster: field report 004 repaired through a CSR that
//! kubecert approves itself (credentials of a ServiceAccount that may approve, so the
//! controller-manager's auto-approval plays no part), credentials that may not approve said so
//! clearly and nothing written, and a kubelet serving certificate issued by the real
//! `kubernetes.io/kubelet-serving` signer and served by a real kubelet.


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::{unique_name, Cluster};
use kubecert_testbed_harness::install::*;
use std::path::{Path, PathBuf};

/// A ServiceAccount with exactly `rules`, and a kubeconfig holding a token for it.
fn service_account(c: &Cluster, dir: &Path, name: &str, rules: &str) -> PathBuf {
    let manifest = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}, namespace: default}}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {name}}}\nrules:\n{rules}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {name}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {name}}}\n\
         subjects: [{{kind: ServiceAccount, name: {name}, namespace: default}}]\n"
    );
    let f = dir.join(format!("{name}.yaml"));
    std::fs::write(&f, manifest).unwrap();
    let (ok, _, err) = c.kubectl(&["apply", "-f", &f.display().to_string()]);
    assert!(ok, "{err}");
    let (ok, token, err) = c.kubectl(&["create", "token", name, "--duration", "1h"]);
    assert!(ok, "{err}");
    let ca = std::fs::read(c.ca_cert()).unwrap();
    use base64::Engine as _;
    let kc = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: {}\n    certificate-authority-data: {}\n\
         users:\n- name: {name}\n  user:\n    token: {}\ncontexts:\n- name: {name}\n  context: {{cluster: t, user: {name}}}\ncurrent-context: {name}\n",
        c.server(),
        base64::engine::general_purpose::STANDARD.encode(ca),
        token.trim()
    );
    let path = dir.join(format!("{name}.kubeconfig"));
    std::fs::write(&path, kc).unwrap();
    path
}

const CREATE_CSRS: &str = "- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests]\n  verbs: [create, get, list, watch, delete]";
const APPROVE_CLIENT: &str = "- apiGroups: [certificates.k8s.io]\n  resources: [certificatesigningrequests/approval]\n  verbs: [update]\n\
- apiGroups: [certificates.k8s.io]\n  resources: [signers]\n  resourceNames: [kubernetes.io/kube-apiserver-client-kubelet]\n  verbs: [approve]";

/// Report 004 repaired online: `kubecert csr --node victim --approve --install` with credentials
/// that may approve (and may not create nodeclient CSRs, so only kubecert's approval counts).
#[test]
fn report_004_csr_approve_install_repairs_a_copied_certificate() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let approver = service_account(c, dir.path(), &unique_name("approver"), &format!("{CREATE_CSRS}\n{APPROVE_CLIENT}"));
    let (donor, victim) = (unique_name("cd"), unique_name("cv"));
    c.testbed(&["node", "join", &donor]);
    c.testbed(&["node", "stop", &donor]);
    c.testbed(&["node", "create", &victim]);
    let tree = c.node_root(&victim);
    copy_credential(&c.node_root(&donor), &tree);
    let before = node_credential(&tree);
    let (ok, out) = c.kubectl_with(&before.kubeconfig, &["label", "node", &victim, "x=y"]);
    assert!(!ok && out.to_lowercase().contains("forbidden"), "before the repair: {out}");

    let root = tree.display().to_string();
    let kc = approver.display().to_string();
    let o = kubecert(&["csr", "--node", &victim, "--approve", "--install", "--root", &root, "--kubeconfig", &kc, "--timeout", "60s"]);
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(said.contains("kubecert approves it") && said.contains("approved CSR kubecert-"), "{said}");
    assert!(said.contains("doctor afterwards: no errors"), "{said}");
    // The CSR as the API server recorded it: requested by the ServiceAccount, approved by kubecert.
    let name = said.split("created CSR ").nth(1).unwrap().split_whitespace().next().unwrap();
    let (ok, reason, err) = c.kubectl(&["get", "csr", name, "-o", "jsonpath={.status.conditions[?(@.type==\"Approved\")].reason}"]);
    assert!(ok && reason == "KubecertApprove", "{reason} {err}");
    let (_, usages, _) = c.kubectl(&["get", "csr", name, "-o", "jsonpath={.spec.usages}"]);
    assert_eq!(usages, r#"["digital signature","client auth"]"#);

    c.testbed(&["node", "start", &victim]);
    c.testbed(&["node", "wait-ready", &victim, "--timeout", "60"]);
    let after = node_credential(&tree);
    let (ok, out) = c.kubectl_with(&after.kubeconfig, &["label", "node", &victim, "kubecert-test=csr", "--overwrite"]);
    assert!(ok, "patch own node: {out}");
    let (ok, out) = c.kubectl_with(&after.kubeconfig, &["get", "node", &donor]);
    assert!(!ok && out.to_lowercase().contains("forbidden"), "donor node: {out}");
    let (ok, out) = c.kubectl_with(&after.kubeconfig, &["label", "node", &donor, "kubecert-test=csr"]);
    assert!(!ok && out.to_lowercase().contains("forbidden"), "donor node: {out}");
    c.testbed(&["node", "stop", &victim]);
}

/// Credentials that may create CSRs but not approve them: `--approve` says so plainly, the wait
/// times out, the CSR is deleted, exit 1, and the node is untouched.
#[test]
fn csr_without_approval_rights_says_so_and_changes_nothing() {
    let c = Cluster::shared();
    let dir = tempfile::tempdir().unwrap();
    let sa = unique_name("creator");
    let creator = service_account(c, dir.path(), &sa, CREATE_CSRS);
    let node = unique_name("cn");
    c.testbed(&["node", "create", &node]);
    let tree = c.node_root(&node);
    let snap = snapshot(&tree);
    let o = kubecert(&["csr", "--node", &node, "--approve", "--install", "--root", &tree.display().to_string(), "--kubeconfig", &creator.display().to_string(), "--timeout", "3s"]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("system:serviceaccount:default:{sa} may NOT approve")), "{said}");
    assert!(said.contains("approve on signers kubernetes.io/kube-apiserver-client-kubelet"), "{said}");
    assert!(said.contains("still Pending after 3s") && said.contains("kubectl certificate approve"), "{said}");
    assert!(said.contains("deleted)"), "{said}");
    let name = said.split("created CSR ").nth(1).unwrap().split_whitespace().next().unwrap();
    let (ok, _, err) = c.kubectl(&["get", "csr", name]);
    assert!(!ok && err.contains("NotFound"), "the CSR should be gone: {err}");
    assert_same_tree(&snapshot(&tree), &snap, "refused csr");
}

/// The serving signer: admin credentials approve, the real signer issues, kubecert installs it as
/// the kubelet's kubelet.crt/kubelet.key, and the real kubelet then serves exactly that certificate.
#[test]
fn csr_serving_certificate_is_served_by_the_real_kubelet() {
    let c = Cluster::shared();
    let node = unique_name("sv");
    c.testbed(&["node", "join", &node]);
    c.testbed(&["node", "stop", &node]);
    let tree = c.node_root(&node);
    let o = kubecert(&[
        "csr", "--node", &node, "--signer", "serving", "--san", &node, "--san", "127.0.0.1", "--approve", "--install",
        "--root", &tree.display().to_string(), "--kubeconfig", &c.kubeconfig().display().to_string(), "--timeout", "60s",
    ]);
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(said.contains("/var/lib/kubelet/pki/kubelet.crt") && said.contains("issued serving certificate"), "{said}");
    let installed = std::fs::read(tree.join("var/lib/kubelet/pki/kubelet.crt")).unwrap();
    c.testbed(&["node", "start", &node]);
    c.testbed(&["node", "wait-ready", &node, "--timeout", "60"]);
    let config = std::fs::read_to_string(tree.join("var/lib/kubelet/config.yaml")).unwrap();
    let port = config.lines().find_map(|l| l.strip_prefix("port: ")).unwrap().trim().to_string();
    let (_, out) = sh("sh", &["-c", &format!("openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null | openssl x509")]);
    let served = kubecert_pki::load_certificates(out.as_bytes()).expect("the kubelet served a certificate");
    let installed = kubecert_pki::load_certificates(&installed).unwrap();
    assert_eq!(served[0].der(), installed[0].der(), "the kubelet serves another certificate");
    let info = served[0].info();
    assert_eq!(info.common_names, [format!("system:node:{node}")]);
    assert!(info.extended_key_usages.iter().any(|u| u == "serverAuth"), "{info:?}");
    assert!(info.ip_addresses.iter().any(|ip| ip.to_string() == "127.0.0.1"), "{info:?}");
    let (ok, out) = openssl_verify(&c.ca_cert(), &tree.join("var/lib/kubelet/pki/kubelet.crt"));
    assert!(ok, "{out}");
    c.testbed(&["node", "stop", &node]);
}
