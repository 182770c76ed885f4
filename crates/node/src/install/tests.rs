//! Unit tests of the engine on temp directories: what it writes, what it backs up, and that
//! failures and rollbacks restore every byte.

use super::*;
use crate::root::NodeRoot;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

fn node() -> (tempfile::TempDir, NodeRoot) {
    let d = tempfile::tempdir().unwrap();
    let pki = d.path().join("var/lib/kubelet/pki");
    fs::create_dir_all(&pki).unwrap();
    fs::create_dir_all(d.path().join("etc/kubernetes")).unwrap();
    fs::write(pki.join("kubelet-client-old.pem"), b"OLD PAIR").unwrap();
    fs::set_permissions(pki.join("kubelet-client-old.pem"), fs::Permissions::from_mode(0o600)).unwrap();
    symlink("/var/lib/kubelet/pki/kubelet-client-old.pem", pki.join("kubelet-client-current.pem")).unwrap();
    fs::write(d.path().join("etc/kubernetes/kubelet.conf"), b"old kubeconfig").unwrap();
    let r = NodeRoot::new(d.path()).unwrap();
    (d, r)
}

fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn walk(base: &Path, p: &Path, out: &mut Vec<(String, String)>) {
        for e in fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if rel.starts_with("var/lib/kubecert") {
                continue;
            }
            let m = fs::symlink_metadata(e.path()).unwrap();
            if m.file_type().is_symlink() {
                out.push((rel, format!("link {}", fs::read_link(e.path()).unwrap().display())));
            } else if m.is_dir() {
                out.push((rel.clone(), "dir".into()));
                walk(base, &e.path(), out);
            } else {
                out.push((rel, format!("{:o} {:?}", m.permissions().mode() & 0o7777, fs::read(e.path()).unwrap())));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn kubelet_plan() -> InstallPlan {
    InstallPlan::new("test")
        .write("/var/lib/kubelet/pki/kubelet-client-new.pem", Contents::secret(b"NEW PAIR".to_vec()), 0o600)
        .symlink("/var/lib/kubelet/pki/kubelet-client-current.pem", "/var/lib/kubelet/pki/kubelet-client-new.pem")
        .write("/etc/kubernetes/kubelet.conf", Contents::public(b"new kubeconfig".to_vec()), 0o600)
}

#[test]
fn applies_backs_up_and_rolls_back_byte_for_byte() {
    let (d, r) = node();
    let before = snapshot(d.path());
    let applied = apply(&r, &kubelet_plan(), &ApplyOptions::default()).unwrap();
    let pki = d.path().join("var/lib/kubelet/pki");
    assert_eq!(fs::read_link(pki.join("kubelet-client-current.pem")).unwrap(), Path::new("/var/lib/kubelet/pki/kubelet-client-new.pem"));
    assert_eq!(fs::read(pki.join("kubelet-client-new.pem")).unwrap(), b"NEW PAIR");
    assert_eq!(fs::metadata(pki.join("kubelet-client-new.pem")).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(fs::read(d.path().join("etc/kubernetes/kubelet.conf")).unwrap(), b"new kubeconfig");
    // No temp file left anywhere.
    assert!(!snapshot(d.path()).iter().any(|(p, _)| p.contains("kubecert-")), "{:?}", snapshot(d.path()));
    let (list, bad) = list_backups(&r, DEFAULT_BACKUP_ROOT).unwrap();
    assert!(bad.is_empty());
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, applied.backup_id);
    assert_eq!(list[0].state, BackupState::Complete);
    let backup_dir = r.host_path(&applied.backup_dir);
    assert_eq!(fs::metadata(&backup_dir).unwrap().permissions().mode() & 0o777, 0o700);

    let (undone, _) = rollback(&r, DEFAULT_BACKUP_ROOT, None, false).unwrap();
    assert_eq!(undone.id, applied.backup_id);
    assert_eq!(snapshot(d.path()), before);
    // Nothing left to roll back by default; the rollback itself can be undone by id.
    assert!(matches!(rollback(&r, DEFAULT_BACKUP_ROOT, None, false), Err(InstallError::NoBackup(_))));
}

#[test]
fn a_failed_verification_restores_everything() {
    let (d, r) = node();
    let before = snapshot(d.path());
    let fail: &dyn Fn(&NodeRoot) -> Result<(), VerifyError> = &|_| Err("wrong cert".into());
    let opts = ApplyOptions { verify: Some(fail), ..Default::default() };
    let err = apply(&r, &kubelet_plan(), &opts).unwrap_err();
    assert!(matches!(err, InstallError::RolledBack { .. }), "{err}");
    assert!(err.to_string().contains("wrong cert"));
    assert_eq!(snapshot(d.path()), before);
    let (list, _) = list_backups(&r, DEFAULT_BACKUP_ROOT).unwrap();
    assert_eq!(list[0].state, BackupState::Restored);
}

#[test]
fn drift_is_refused_unless_forced() {
    let (d, r) = node();
    apply(&r, &kubelet_plan(), &ApplyOptions::default()).unwrap();
    fs::write(d.path().join("etc/kubernetes/kubelet.conf"), b"changed by someone").unwrap();
    let err = rollback(&r, DEFAULT_BACKUP_ROOT, None, false).unwrap_err();
    assert!(matches!(err, InstallError::Drift { .. }), "{err}");
    assert!(err.to_string().contains("/etc/kubernetes/kubelet.conf"));
    rollback(&r, DEFAULT_BACKUP_ROOT, None, true).unwrap();
    assert_eq!(fs::read(d.path().join("etc/kubernetes/kubelet.conf")).unwrap(), b"old kubeconfig");
}

#[test]
fn bad_plans_touch_nothing() {
    let (d, r) = node();
    let before = snapshot(d.path());
    for plan in [
        InstallPlan::new("rel").write("etc/x", Contents::public(b"x".to_vec()), 0o644),
        InstallPlan::new("dotdot").write("/etc/../x", Contents::public(b"x".to_vec()), 0o644),
        InstallPlan::new("dir").write("/etc/kubernetes", Contents::public(b"x".to_vec()), 0o644),
        InstallPlan::new("twice").move_aside("/etc/kubernetes/kubelet.conf").move_aside("/etc/kubernetes/kubelet.conf"),
        InstallPlan::new("empty"),
    ] {
        let e = apply(&r, &plan, &ApplyOptions::default()).unwrap_err();
        assert!(matches!(e, InstallError::InvalidPlan(_)), "{}: {e}", plan.label);
    }
    assert_eq!(snapshot(d.path()), before);
    assert!(!d.path().join("var/lib/kubecert").exists());
}

#[test]
fn move_aside_and_missing_directories() {
    let (d, r) = node();
    let before = snapshot(d.path());
    let plan = InstallPlan::new("bootstrap")
        .move_aside("/etc/kubernetes/kubelet.conf")
        .move_aside("/var/lib/kubelet/pki/kubelet-client-current.pem")
        .move_aside("/etc/kubernetes/absent.conf")
        .write("/etc/kubernetes/new/dir/bootstrap-kubelet.conf", Contents::secret(b"token".to_vec()), 0o600);
    let desc = plan.describe(&r);
    assert_eq!(desc[0].action, "remove");
    assert_eq!(desc[2].action, "nothing");
    assert_eq!(desc[3].action, "create");
    apply(&r, &plan, &ApplyOptions::default()).unwrap();
    assert!(!d.path().join("etc/kubernetes/kubelet.conf").exists());
    assert!(fs::symlink_metadata(d.path().join("var/lib/kubelet/pki/kubelet-client-current.pem")).is_err());
    assert_eq!(fs::read(d.path().join("etc/kubernetes/new/dir/bootstrap-kubelet.conf")).unwrap(), b"token");
    rollback(&r, DEFAULT_BACKUP_ROOT, None, false).unwrap();
    // The directories it created stay (empty); every file is back.
    let after: Vec<_> = snapshot(d.path()).into_iter().filter(|(p, _)| !p.starts_with("etc/kubernetes/new")).collect();
    assert_eq!(after, before);
}

#[test]
fn the_backup_store_and_a_target_may_share_a_missing_parent() {
    // A bare node: no /var/lib yet. The store (/var/lib/kubecert/backups) and the kubelet's pki
    // directory both need /var/lib; the store makes it first, the install must not then fail
    // creating it again, nor record it as its own (a rollback would try to remove the store's parent).
    let d = tempfile::tempdir().unwrap();
    fs::create_dir_all(d.path().join("etc/kubernetes")).unwrap();
    let r = NodeRoot::new(d.path()).unwrap();
    let plan = InstallPlan::new("fresh").write("/var/lib/kubelet/pki/kubelet-client-new.pem", Contents::secret(b"NEW PAIR".to_vec()), 0o600);
    let applied = apply(&r, &plan, &ApplyOptions::default()).unwrap();
    assert_eq!(fs::read(d.path().join("var/lib/kubelet/pki/kubelet-client-new.pem")).unwrap(), b"NEW PAIR");
    let manifest = fs::read_to_string(d.path().join(format!("var/lib/kubecert/backups/{}/manifest.json", applied.backup_id))).unwrap();
    let created: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let created: Vec<&str> = created["created_dirs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(created, ["/var/lib/kubelet", "/var/lib/kubelet/pki"], "{manifest}");
    rollback(&r, DEFAULT_BACKUP_ROOT, None, false).unwrap();
    assert!(!d.path().join("var/lib/kubelet/pki/kubelet-client-new.pem").exists());
    assert!(d.path().join("var/lib/kubecert/backups").is_dir());
}

#[test]
fn writes_follow_symlinks_inside_the_root_only() {
    let (d, r) = node();
    // An absolute link must resolve inside the root, not on the host.
    fs::write(d.path().join("etc/kubernetes/real.pem"), b"old").unwrap();
    symlink("/etc/kubernetes/real.pem", d.path().join("etc/kubernetes/worker.pem")).unwrap();
    let plan = InstallPlan::new("follow").write("/etc/kubernetes/worker.pem", Contents::public(b"new".to_vec()), 0o644);
    apply(&r, &plan, &ApplyOptions::default()).unwrap();
    assert_eq!(fs::read(d.path().join("etc/kubernetes/real.pem")).unwrap(), b"new");
    assert!(fs::symlink_metadata(d.path().join("etc/kubernetes/worker.pem")).unwrap().file_type().is_symlink());
}

#[test]
fn an_interrupted_install_blocks_the_next_until_rolled_back() {
    let (d, r) = node();
    let applied = apply(&r, &kubelet_plan(), &ApplyOptions::default()).unwrap();
    // Simulate a crash between renames: mark the manifest as committing.
    let mpath = r.host_path(&applied.backup_dir).join("manifest.json");
    let text = fs::read_to_string(&mpath).unwrap().replace("\"state\": \"complete\"", "\"state\": \"committing\"");
    fs::write(&mpath, text).unwrap();
    let err = apply(&r, &kubelet_plan(), &ApplyOptions::default()).unwrap_err();
    assert!(matches!(err, InstallError::Interrupted { .. }), "{err}");
    assert!(err.to_string().contains(&format!("kubecert rollback --to {}", applied.backup_id)));
    rollback(&r, DEFAULT_BACKUP_ROOT, None, false).unwrap();
    assert_eq!(fs::read(d.path().join("etc/kubernetes/kubelet.conf")).unwrap(), b"old kubeconfig");
}

#[test]
fn contents_never_show_secrets() {
    let c = Contents::secret(b"-----BEGIN PRIVATE KEY-----".to_vec());
    assert_eq!(format!("{c:?}"), "<27 bytes, secret>");
    let (_d, r) = node();
    let plan = InstallPlan::new("x").write("/etc/kubernetes/k.pem", c, 0o600);
    let shown = format!("{:?} {}", plan, plan.describe(&r).iter().map(|p| p.to_string()).collect::<String>());
    assert!(!shown.contains("BEGIN"), "{shown}");
}

mod client_plans {
    use super::super::*;
    use crate::root::NodeRoot;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn cred(server: Option<&str>) -> NewCredential {
        NewCredential {
            cert_pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----".into(),
            key_pem: zeroize::Zeroizing::new("-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n".into()),
            ca_pem: Some("-----BEGIN CERTIFICATE-----\nCCCC\n-----END CERTIFICATE-----\n".into()),
            server: server.map(String::from),
        }
    }

    fn now() -> time::OffsetDateTime {
        time::macros::datetime!(2026-11-25 10:00:00 UTC)
    }

    fn kubeconfig(user: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority: /etc/kubernetes/pki/ca.crt\n\
             users:\n- name: u\n  user:\n{user}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        )
    }

    fn tree(files: &[(&str, &str)]) -> (tempfile::TempDir, NodeRoot) {
        let d = tempfile::tempdir().unwrap();
        for (p, body) in files {
            let host = d.path().join(p.trim_start_matches('/'));
            fs::create_dir_all(host.parent().unwrap()).unwrap();
            fs::write(host, body).unwrap();
        }
        let r = NodeRoot::new(d.path()).unwrap();
        (d, r)
    }

    #[test]
    fn the_kubelet_layout_swaps_the_link_and_keeps_the_kubeconfig() {
        let kc = kubeconfig("    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem");
        let (d, r) = tree(&[("/etc/kubernetes/kubelet.conf", &kc), ("/var/lib/kubelet/pki/kubelet-client-2026-01-01-00-00-00.pem", "old")]);
        symlink("/var/lib/kubelet/pki/kubelet-client-2026-01-01-00-00-00.pem", d.path().join("var/lib/kubelet/pki/kubelet-client-current.pem")).unwrap();
        let ci = plan_client_install(&r, "/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/pki", &cred(None), now(), "t").unwrap();
        assert!(!ci.kubeconfig_rewritten);
        assert_eq!(
            ci.style,
            InstallStyle::KubeletRotating {
                pem: "/var/lib/kubelet/pki/kubelet-client-2026-11-25-10-00-00.pem".into(),
                link: "/var/lib/kubelet/pki/kubelet-client-current.pem".into()
            }
        );
        assert_eq!(ci.plan.steps.len(), 2);
        // Cert then key, in one 0600 file, as the kubelet writes it.
        match &ci.plan.steps[0] {
            Step::Write { contents, mode, .. } => {
                let text = String::from_utf8_lossy(contents.bytes()).into_owned();
                assert!(text.find("CERTIFICATE").unwrap() < text.find("PRIVATE KEY").unwrap());
                assert_eq!(*mode, 0o600);
                assert!(contents.is_secret());
            }
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn an_embedded_kubeconfig_is_rewritten_to_the_link_keeping_its_cluster() {
        let kc = kubeconfig("    client-certificate-data: QUFBQQ==\n    client-key-data: QkJCQg==");
        let (_d, r) = tree(&[("/etc/kubernetes/kubelet.conf", &kc)]);
        let ci = plan_client_install(&r, "/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/pki", &cred(None), now(), "t").unwrap();
        assert!(ci.kubeconfig_rewritten);
        let Step::Write { contents, .. } = &ci.plan.steps[2] else { panic!() };
        let new = kubecert_config::Kubeconfig::parse(contents.bytes()).unwrap();
        let res = new.resolve(None).unwrap();
        assert_eq!(res.user.client_certificate.as_deref(), Some("/var/lib/kubelet/pki/kubelet-client-current.pem"));
        assert_eq!(res.user.client_key.as_deref(), Some("/var/lib/kubelet/pki/kubelet-client-current.pem"));
        assert!(res.user.client_key_data.is_none());
        assert_eq!(res.cluster.server.as_deref(), Some("https://10.0.0.1:6443"));
        assert_eq!(res.cluster.certificate_authority.as_deref(), Some("/etc/kubernetes/pki/ca.crt"));
    }

    #[test]
    fn separate_files_are_replaced_in_place_key_first() {
        for (cert, key) in [
            ("/etc/kubernetes/ssl/worker.pem", "/etc/kubernetes/ssl/worker-key.pem"),
            ("/var/lib/rancher/k3s/agent/client-kubelet.crt", "/var/lib/rancher/k3s/agent/client-kubelet.key"),
        ] {
            let kc = kubeconfig(&format!("    client-certificate: {cert}\n    client-key: {key}"));
            let (_d, r) = tree(&[("/etc/kubernetes/k.yaml", &kc), (cert, "old"), (key, "old")]);
            let ci = plan_client_install(&r, "/etc/kubernetes/k.yaml", "/var/lib/kubelet/pki", &cred(None), now(), "t").unwrap();
            assert_eq!(ci.style, InstallStyle::SeparateFiles { cert: cert.into(), key: key.into() });
            let paths: Vec<&str> = ci.plan.steps.iter().map(|s| s.node_path()).collect();
            assert_eq!(paths, [key, cert]);
            assert_eq!(ci.notes.iter().any(|n| n.contains("k3s/rke2")), cert.contains("rancher"), "{:?}", ci.notes);
        }
    }

    #[test]
    fn no_kubeconfig_needs_a_server_and_a_ca() {
        let (_d, r) = tree(&[]);
        let e = plan_client_install(&r, "/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/pki", &cred(None), now(), "t").unwrap_err();
        assert!(e.to_string().contains("--server"), "{e}");
        let ci = plan_client_install(&r, "/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/pki", &cred(Some("https://10.0.0.9:6443")), now(), "t").unwrap();
        assert!(ci.kubeconfig_rewritten);
        let Step::Write { contents, .. } = &ci.plan.steps[2] else { panic!() };
        let new = kubecert_config::Kubeconfig::parse(contents.bytes()).unwrap();
        assert_eq!(new.resolve(None).unwrap().cluster.server.as_deref(), Some("https://10.0.0.9:6443"));
        assert!(new.resolve(None).unwrap().cluster.certificate_authority_data.is_some());
    }
}

#[test]
fn a_non_utf8_link_target_and_name_come_back_byte_for_byte() {
    use std::os::unix::ffi::OsStrExt;
    let (d, r) = node();
    let pki = d.path().join("var/lib/kubelet/pki");
    let odd = std::ffi::OsStr::from_bytes(b"/var/lib/kubelet/pki/kubelet-client-\xff.pem");
    fs::write(pki.join(std::ffi::OsStr::from_bytes(b"kubelet-client-\xff.pem")), b"ODD PAIR").unwrap();
    fs::remove_file(pki.join("kubelet-client-current.pem")).unwrap();
    symlink(odd, pki.join("kubelet-client-current.pem")).unwrap();
    let before = snapshot(d.path());
    apply(&r, &kubelet_plan(), &ApplyOptions::default()).unwrap();
    rollback(&r, DEFAULT_BACKUP_ROOT, None, false).unwrap();
    // Before the fix the link came back pointing at U+FFFD ("kubelet-client-\u{fffd}.pem").
    assert_eq!(fs::read_link(pki.join("kubelet-client-current.pem")).unwrap().as_os_str(), odd);
    assert_eq!(snapshot(d.path()), before);
}
