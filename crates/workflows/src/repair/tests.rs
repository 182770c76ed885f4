//! The repair decisions, without the binary: the assessment from findings, the verdicts on
//! permissions, and the path choice on real node trees with real CA files (no cluster: the
//! cluster paths are unavailable here, as on a node with no credentials).

use super::path::{bootstrap_verdict, ca_files, choose, cluster_candidates, csr_verdict, ClusterCredentials, RepairPath};
use super::{assess_findings, Assessment};
use crate::target::Target;
use kubecert_cluster::csr::Permissions;
use kubecert_node::{Finding, NodeRoot, Overrides, Severity};
use kubecert_pki::{self_signed_ca, KeyType, PrivateKey};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

fn finding(code: &'static str, severity: Severity) -> Finding {
    Finding { code, severity, summary: String::new(), evidence: Vec::new(), fix: Vec::new() }
}

#[test]
fn blockers_come_before_everything() {
    let f = [finding("client-cert-expired", Severity::Error), finding("client-cert-not-yet-valid", Severity::Error)];
    assert_eq!(assess_findings(&f, Some("n1")), Assessment::Blocked { blockers: vec!["client-cert-not-yet-valid"] });
}

#[test]
fn broken_client_credential_needs_a_repair() {
    let f = [finding("client-cert-expired", Severity::Error), finding("key-permissions-too-open", Severity::Warning)];
    let a = assess_findings(&f, Some("n1"));
    assert_eq!(a, Assessment::Needed { node: "n1".into(), broken: vec!["client-cert-expired"] });
    assert_eq!(a.why().as_deref(), Some("the client credential is broken (client-cert-expired)"));
    assert_eq!(assess_findings(&f, None), Assessment::NoNodeName);
}

#[test]
fn renewal_is_needed_only_when_the_kubelet_will_not_renew() {
    let soon = finding("client-cert-expiring-soon", Severity::Warning);
    assert_eq!(assess_findings(std::slice::from_ref(&soon), Some("n1")), Assessment::NothingToDo { expiring_soon: true });
    let off = [soon, finding("rotation-disabled", Severity::Warning)];
    assert_eq!(assess_findings(&off, Some("n1")), Assessment::Needed { node: "n1".into(), broken: vec![] });
    let stalled = [finding("client-cert-rotation-stalled", Severity::Warning)];
    assert_eq!(assess_findings(&stalled, Some("n1")).why().as_deref(), Some("the client certificate must be renewed now"));
    // A client-credential code reported only as info (kubeconfig-missing with a bootstrap kubeconfig) is not broken.
    assert_eq!(assess_findings(&[finding("kubeconfig-missing", Severity::Info)], Some("n1")), Assessment::NothingToDo { expiring_soon: false });
    assert_eq!(assess_findings(&[finding("agent-managed-certs", Severity::Info)], Some("n1")), Assessment::AgentManaged);
}

fn perms(can_create: bool, can_approve: bool, auto_approved: bool) -> Permissions {
    let approve_missing = if can_approve { vec![] } else { vec!["approve on signers x".to_string()] };
    Permissions { can_create, can_approve, approve_missing, auto_approved }
}

#[test]
fn csr_path_needs_create_and_an_approver() {
    assert_eq!(csr_verdict("u", "kc", &perms(true, false, true)), Ok("the controller-manager approves its CSRs"));
    assert_eq!(csr_verdict("u", "kc", &perms(true, true, false)), Ok("it may approve the CSR"));
    assert_eq!(csr_verdict("u", "kc", &perms(false, true, true)).unwrap_err().0, "u (from kc) may not create CSRs");
    assert!(csr_verdict("u", "kc", &perms(true, false, false)).unwrap_err().0.contains("may not get one approved (missing: approve on signers x)"));
}

#[test]
fn bootstrap_path_needs_a_token_user_that_is_auto_approved() {
    assert!(bootstrap_verdict("system:bootstrap:abcdef", &perms(true, false, true)).is_ok());
    assert!(bootstrap_verdict("kubernetes-admin", &perms(true, true, true)).unwrap_err().0.contains("not as a bootstrap token"));
    assert!(bootstrap_verdict("system:bootstrap:abcdef", &perms(true, false, false)).unwrap_err().0.contains("get its CSR auto-approved"));
    assert!(bootstrap_verdict("system:bootstrap:abcdef", &perms(false, false, false)).unwrap_err().0.contains("create CSRs"));
}

#[test]
fn the_node_admin_kubeconfig_is_used_only_without_ones_own() {
    let admin = PathBuf::from("/n/etc/kubernetes/admin.conf");
    assert_eq!(cluster_candidates(true, Some(admin.clone())), vec![None]);
    assert_eq!(cluster_candidates(false, Some(admin.clone())), vec![Some(admin)]);
    assert!(cluster_candidates(false, None).is_empty());
}

/// A real CA pair (PEM) written at `cert`/`key`.
fn write_ca(cert: &Path, key: &Path) {
    let k = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let now = OffsetDateTime::now_utc();
    let c = self_signed_ca(&k, "kubernetes", now - Duration::hours(1), now + Duration::days(365)).unwrap();
    std::fs::create_dir_all(cert.parent().unwrap()).unwrap();
    std::fs::write(cert, c.to_pem()).unwrap();
    std::fs::write(key, k.to_pem().as_bytes()).unwrap();
}

fn node(dir: &Path) -> Target {
    std::fs::create_dir_all(dir.join("etc/kubernetes")).unwrap();
    Target::discover(NodeRoot::new(dir).unwrap(), Overrides::default())
}

fn no_cluster() -> ClusterCredentials {
    ClusterCredentials { own_kubeconfig: false, ..Default::default() }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

#[test]
fn with_nothing_at_hand_no_path_and_every_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let t = node(tmp.path());
    let c = block_on(choose(&t, &no_cluster()));
    assert_eq!(c.path, None);
    assert_eq!(c.skipped.len(), 3, "{:?}", c.skipped);
    assert!(c.skipped[1].starts_with("CSR through the API: no cluster credentials"), "{:?}", c.skipped);
    assert!(c.skipped[2].starts_with("offline signing: no CA key"), "{:?}", c.skipped);
}

#[test]
fn the_layouts_own_ca_pair_makes_offline_signing_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let t = node(tmp.path());
    let pki = tmp.path().join("etc/kubernetes/pki");
    write_ca(&pki.join("ca.crt"), &pki.join("ca.key"));
    let (cert, key) = ca_files(&t, None);
    assert_eq!((cert.clone(), key.clone()), (pki.join("ca.crt"), pki.join("ca.key")));
    let c = block_on(choose(&t, &no_cluster()));
    assert_eq!(c.path, Some(RepairPath::Sign { ca_cert: cert, ca_key: key }));
}

#[test]
fn a_ca_key_link_out_of_the_root_is_not_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    write_ca(&outside.path().join("ca.crt"), &outside.path().join("ca.key"));
    let t = node(tmp.path());
    let pki = tmp.path().join("etc/kubernetes/pki");
    std::fs::create_dir_all(&pki).unwrap();
    std::os::unix::fs::symlink(outside.path().join("ca.crt"), pki.join("ca.crt")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("ca.key"), pki.join("ca.key")).unwrap();
    let c = block_on(choose(&t, &no_cluster()));
    assert_eq!(c.path, None, "{:?}", c.skipped);
}

#[test]
fn a_given_ca_pair_wins_and_a_broken_one_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let t = node(tmp.path());
    let given = tempfile::tempdir().unwrap();
    let (cert, key) = (given.path().join("ca.crt"), given.path().join("ca.key"));
    write_ca(&cert, &key);
    let creds = ClusterCredentials { ca: Some((cert.clone(), key.clone())), ..no_cluster() };
    assert_eq!(block_on(choose(&t, &creds)).path, Some(RepairPath::Sign { ca_cert: cert.clone(), ca_key: key.clone() }));
    // A key that is not the certificate's: not a path, and the reason names the CA file.
    let other = given.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    write_ca(&other.join("ca.crt"), &other.join("ca.key"));
    let creds = ClusterCredentials { ca: Some((cert.clone(), other.join("ca.key"))), ..no_cluster() };
    let c = block_on(choose(&t, &creds));
    assert_eq!(c.path, None);
    assert!(c.skipped.last().unwrap().starts_with(&format!("offline signing with {}: ", cert.display())), "{:?}", c.skipped);
}

#[test]
fn a_bootstrap_kubeconfig_whose_server_is_down_is_skipped_for_the_next_path() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("etc/kubernetes/pki");
    write_ca(&pki.join("ca.crt"), &pki.join("ca.key"));
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let kc = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n    certificate-authority: pki/ca.crt\n\
              contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: abcdef.0123456789abcdef\n";
    std::fs::write(tmp.path().join("etc/kubernetes/bootstrap-kubelet.conf"), kc).unwrap();
    let t = node(tmp.path());
    assert_eq!(t.setup.bootstrap_kubeconfig.as_deref(), Some("/etc/kubernetes/bootstrap-kubelet.conf"));
    let c = block_on(choose(&t, &no_cluster()));
    assert!(c.skipped[0].starts_with("bootstrap kubeconfig /etc/kubernetes/bootstrap-kubelet.conf: its token does not authenticate"), "{:?}", c.skipped);
    assert!(matches!(c.path, Some(RepairPath::Sign { .. })), "{:?}", c.path);
}
