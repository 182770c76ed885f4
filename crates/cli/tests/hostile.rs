//! kubecert on hostile node trees and absurd arguments (issue 14). Every tree is made at test time
//! (scripts/sample-node, openssl, python, shell). Each test asserts the invariants directly:
//! - a sentinel folder outside `--root` is hashed before and after and must not change (no write,
//!   create or delete outside the root), and its secret file's unique content must never appear in
//!   any output or inside the tree (no read outside the root);
//! - every command finishes under `timeout`, its peak RSS (GNU `time -v`) stays under a bound, and
//!   it never aborts (exit 134);
//! - the node's credential is the old one or a working new one.
//!
//! One test per defect class of the issue, each with at least two variants.

use kubecert_testbed_harness::openssl::{openssl, openssl_verify, try_openssl};
use kubecert_testbed_harness::run::shell_ok;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Seconds a single command may run (a debug build; healthy runs take well under a second).
const TIMEOUT_S: &str = "30";
/// Peak resident memory a command may use.
const MAX_RSS_KB: u64 = 256 * 1024;

/// The binary under test; HOSTILE_KUBECERT runs the suite against another build (e.g. the code
/// before the fixes, to show the suite fails there).
fn kubecert_bin() -> String {
    std::env::var("HOSTILE_KUBECERT").unwrap_or_else(|_| kubecert_testbed_harness::run::kubecert_bin().display().to_string())
}

/// One node tree with a sentinel folder beside it.
struct Host {
    _dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    secret: String,
    ca_cert: PathBuf,
    ca_key: PathBuf,
    before: String,
    credential: Vec<u8>,
}

/// A finished command.
#[derive(Debug)]
struct Run {
    code: i32,
    out: String,
    err: String,
}

impl Run {
    fn text(&self) -> String {
        format!("exit {}\nstdout:\n{}\nstderr:\n{}", self.code, self.out, self.err)
    }
}

impl Host {
    /// A healthy kubeadm-shaped node `n1` made by openssl, and an outside folder with a secret.
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        // Readable by an unprivileged user (the not-root test); the keys inside stay 0600.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.path().join("root");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/sample-node");
        let o = Command::new(script).arg(&root).arg("healthy").arg("n1").output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let outside = dir.path().join("outside");
        fs::create_dir_all(outside.join("dir")).unwrap();
        let secret = format!("KUBECERT-SENTINEL-{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
        fs::write(outside.join("secret.txt"), &secret).unwrap();
        fs::write(outside.join("victim"), "a host file kubecert must not touch\n").unwrap();
        let mut h = Host {
            ca_cert: dir.path().join("root.ca.crt"),
            ca_key: dir.path().join("root.ca.key"),
            _dir: dir,
            root,
            outside,
            secret,
            before: String::new(),
            credential: Vec::new(),
        };
        h.credential = h.current_credential();
        h
    }

    /// Call once the hostile tree is built: records the outside folder's state.
    fn seal(mut self) -> Host {
        self.before = hash_tree(&self.outside);
        self
    }

    fn root_s(&self) -> String {
        self.root.display().to_string()
    }

    fn out_s(&self) -> String {
        self.outside.display().to_string()
    }

    /// The bytes behind kubelet-client-current.pem (its absolute link resolved inside the root).
    fn current_credential(&self) -> Vec<u8> {
        let link = self.root.join("var/lib/kubelet/pki/kubelet-client-current.pem");
        let mut p = link.clone();
        for _ in 0..8 {
            match fs::read_link(&p) {
                Ok(t) if t.is_absolute() => p = self.root.join(t.strip_prefix("/").unwrap()),
                Ok(t) => p = p.parent().unwrap().join(t),
                Err(_) => break,
            }
        }
        let mut buf = Vec::new();
        use std::io::Read;
        if let Ok(f) = fs::File::open(&p) {
            let _ = f.take(1 << 20).read_to_end(&mut buf);
        }
        buf
    }

    /// kubecert under `timeout` and GNU time, with the invariants every run must keep.
    fn run(&self, args: &[&str]) -> Run {
        self.run_as(args, None, Stdio::null())
    }

    fn run_as(&self, args: &[&str], user: Option<&str>, stdin: Stdio) -> Run {
        let mut cmd = Command::new("/usr/bin/time");
        cmd.arg("-v");
        if let Some(u) = user {
            cmd.args(["setpriv", &format!("--reuid={u}"), &format!("--regid={u}"), "--clear-groups"]);
        }
        let bin = match user {
            // Another user may not be able to reach the build's folder (a checkout under a 0700
            // directory): run a link to the binary from this test's own 0755 folder.
            Some(_) => {
                let link = self._dir.path().join("kubecert");
                if !link.exists() {
                    fs::hard_link(kubecert_bin(), &link).or_else(|_| fs::copy(kubecert_bin(), &link).map(drop)).unwrap();
                }
                link.display().to_string()
            }
            None => kubecert_bin(),
        };
        cmd.args(["timeout", "-k", "2", TIMEOUT_S, &bin]).args(args);
        let o = cmd.env("NO_COLOR", "1").stdin(stdin).output().unwrap();
        let code = o.status.code().unwrap_or(-1);
        let all_err = String::from_utf8_lossy(&o.stderr).into_owned();
        // GNU time appends its report to stderr.
        let cut = ["Command exited with non-zero status", "Command terminated by signal", "\tCommand being timed:"]
            .iter()
            .filter_map(|m| all_err.rfind(m))
            .min();
        let (err, report) = match cut {
            Some(i) => (all_err[..i].to_string(), all_err[i..].to_string()),
            None => (all_err.clone(), String::new()),
        };
        let rss: u64 = report
            .lines()
            .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes): "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no RSS in GNU time's report: {all_err}"));
        let r = Run { code, out: String::from_utf8_lossy(&o.stdout).into_owned(), err };
        assert!(code != 124 && code != 137, "kubecert {args:?} did not finish within {TIMEOUT_S} s\n{}", r.text());
        assert_ne!(code, 134, "kubecert {args:?} aborted\n{}", r.text());
        assert!((0..=2).contains(&code), "kubecert {args:?}: unexpected exit\n{}", r.text());
        assert!(rss <= MAX_RSS_KB, "kubecert {args:?} used {rss} KiB of memory (limit {MAX_RSS_KB})\n{}", r.text());
        assert!(!r.out.contains(&self.secret) && !r.err.contains(&self.secret), "kubecert {args:?} printed a file from outside the root\n{}", r.text());
        r
    }

    /// Nothing outside the root changed, nothing from outside landed in the tree, and the node's
    /// credential is the old one or a new one that works.
    fn check(&self, what: &str) {
        assert_eq!(hash_tree(&self.outside), self.before, "{what}: the folder outside the root changed");
        let hits = Command::new("grep").args(["-rlaF", "--no-messages", "-D", "skip", &self.secret, &self.root_s()]).output().unwrap();
        assert!(hits.stdout.is_empty(), "{what}: a file from outside the root was copied into the tree: {}", String::from_utf8_lossy(&hits.stdout));
        let now = self.current_credential();
        if now != self.credential {
            let p = self.root.join("tmp-check.pem");
            fs::write(&p, &now).unwrap();
            let (ok, verified) = openssl_verify(&self.root.join("etc/kubernetes/pki/ca.crt"), &p);
            let (_, subj) = try_openssl(&["x509", "-noout", "-subject", "-in", &p.display().to_string()]);
            fs::remove_file(&p).unwrap();
            assert!(ok, "{what}: the node's credential was replaced by one that does not verify: {verified}");
            assert!(subj.contains("system:node:n1"), "{what}: the credential is for another node");
        }
    }

    fn sign_install(&self, extra: &[&str]) -> Run {
        let (cert, key) = (self.ca_cert.display().to_string(), self.ca_key.display().to_string());
        let mut a = vec!["sign", "--node", "n1", "--ca-cert", &cert, "--ca-key", &key, "--install", "--root", &self.root.to_str().unwrap()];
        a.extend_from_slice(extra);
        self.run(&a)
    }

    /// A backup folder with `manifest` (JSON) under the default store.
    fn plant_backup(&self, id: &str, manifest: &serde_json::Value) -> PathBuf {
        let d = self.root.join("var/lib/kubecert/backups").join(id);
        fs::create_dir_all(d.join("files")).unwrap();
        fs::write(d.join("manifest.json"), serde_json::to_vec_pretty(manifest).unwrap()).unwrap();
        d
    }
}

/// Names, types, modes, sizes, contents and link targets under `dir`, as one string.
fn hash_tree(dir: &Path) -> String {
    let mut lines = Vec::new();
    fn walk(base: &Path, p: &Path, lines: &mut Vec<String>) {
        let m = fs::symlink_metadata(p).unwrap();
        let rel = p.strip_prefix(base).unwrap().display().to_string();
        if m.file_type().is_symlink() {
            lines.push(format!("{rel} link {}", fs::read_link(p).unwrap().display()));
        } else if m.is_dir() {
            lines.push(format!("{rel} dir {:o}", m.mode()));
            let mut names: Vec<_> = fs::read_dir(p).unwrap().map(|e| e.unwrap().path()).collect();
            names.sort();
            for n in names {
                walk(base, &n, lines);
            }
        } else {
            let bytes = fs::read(p).unwrap();
            lines.push(format!("{rel} file {:o} {} {:x?}", m.mode(), bytes.len(), &bytes[..bytes.len().min(256)]));
        }
    }
    walk(dir, dir, &mut lines);
    lines.join("\n")
}

fn manifest(id: &str, state: &str, entries: serde_json::Value, created_dirs: serde_json::Value, label: &str) -> serde_json::Value {
    serde_json::json!({
        "version": 1, "id": id, "label": label, "created": "2025-01-01T00:00:00Z", "state": state,
        "entries": entries, "created_dirs": created_dirs,
    })
}

/// SHA-256, hex, computed by openssl (independently of kubecert).
fn sha256_hex(bytes: &[u8]) -> String {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x");
    fs::write(&p, bytes).unwrap();
    openssl(&["dgst", "-sha256", "-r", &p.display().to_string()], d.path()).split_whitespace().next().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------
// 1. Backup manifests are untrusted input.

#[test]
fn d1_manifest_paths_cannot_reach_outside_the_root() {
    // a/b: a `prepared` manifest whose temp file and created directory run through an absolute
    // symlink out of the tree; the clean-up of `sign --install` and of `rollback` must not follow it.
    for cmd in ["sign", "rollback"] {
        let h = Host::new();
        symlink(&h.outside, h.root.join("etc/evil")).unwrap();
        let entries = serde_json::json!([{ "node_path": "/etc/kubernetes/kubelet.conf", "action": "write",
            "before": {"kind": "absent"}, "after": {"kind": "absent"}, "temp": "/etc/evil/victim" }]);
        h.plant_backup("20250101-000000-aaaa", &manifest("20250101-000000-aaaa", "prepared", entries, serde_json::json!(["/etc/evil/dir"]), "planted"));
        let h = h.seal();
        if cmd == "sign" {
            h.sign_install(&[]);
        } else {
            h.run(&["rollback", "--root", &h.root_s()]);
        }
        h.check(&format!("prepared manifest, {cmd}"));
    }
    // c/d: a committed manifest whose backup copy names a host file (absolute, and by `..`):
    // `rollback --force` must not copy it into the tree.
    for copy in ["ABS", "../../../../../../../../../../../OUT/secret.txt"] {
        let h = Host::new();
        let secret_path = h.outside.join("secret.txt");
        let copy = if copy == "ABS" { secret_path.display().to_string() } else { copy.replace("/OUT", &h.out_s()) };
        let entries = serde_json::json!([{ "node_path": "/etc/kubernetes/stolen", "action": "write",
            "before": {"kind": "file", "mode": 420, "size": h.secret.len(), "sha256": sha256_hex(h.secret.as_bytes()), "copy": copy},
            "after": {"kind": "absent"} }]);
        h.plant_backup("20250101-000000-bbbb", &manifest("20250101-000000-bbbb", "complete", entries, serde_json::json!([]), "planted"));
        let h = h.seal();
        let r = h.run(&["rollback", "--root", &h.root_s(), "--to", "20250101-000000-bbbb", "--force"]);
        assert_ne!(r.code, 0, "{}", r.text());
        h.check(&format!("copy {copy}"));
    }
}

// ---------------------------------------------------------------------------------------------
// 2. The backup store and its lock are created inside the root, never through a symlink.

#[test]
fn d2_backup_store_and_lock_stay_inside_the_root() {
    // a/b: the store's folder is an absolute / a relative symlink leading out of the tree.
    for rel in [false, true] {
        let h = Host::new();
        fs::create_dir_all(h.root.join("var/lib")).unwrap();
        let target = if rel { PathBuf::from("../../../outside") } else { h.outside.clone() };
        symlink(&target, h.root.join("var/lib/kubecert")).unwrap();
        let h = h.seal();
        h.sign_install(&[]);
        h.check(&format!("var/lib/kubecert -> {}", target.display()));
    }
    // c: the lock is a symlink to a host path that does not exist yet.
    let h = Host::new();
    let store = h.root.join("var/lib/kubecert/backups");
    fs::create_dir_all(&store).unwrap();
    symlink(h.outside.join("created-by-kubecert"), store.join(".lock")).unwrap();
    let h = h.seal();
    h.sign_install(&[]);
    h.check("backups/.lock -> outside");
}

// ---------------------------------------------------------------------------------------------
// 3. Every read is bounded and never blocks: kubecert's own files, the node's, and its arguments.

#[test]
fn d3_reads_are_bounded_and_never_block() {
    // a: manifest.json links to /dev/zero; b: a 1 GiB sparse manifest; c: a FIFO.
    for kind in ["zero", "sparse", "fifo"] {
        let h = Host::new();
        let d = h.root.join("var/lib/kubecert/backups/20250101-000000-cccc");
        fs::create_dir_all(&d).unwrap();
        let m = d.join("manifest.json");
        match kind {
            "zero" => symlink("/dev/zero", &m).unwrap(),
            "sparse" => fs::File::create(&m).unwrap().set_len(1 << 30).unwrap(),
            _ => shell_ok(&format!("mkfifo {}", m.display())),
        }
        let h = h.seal();
        h.run(&["backups", "--root", &h.root_s()]);
        h.run(&["rollback", "--root", &h.root_s()]);
        h.sign_install(&[]);
        h.check(&format!("manifest.json as {kind}"));
    }
    // d: the lock is a FIFO.
    let h = Host::new();
    let store = h.root.join("var/lib/kubecert/backups");
    fs::create_dir_all(&store).unwrap();
    shell_ok(&format!("mkfifo {}", store.join(".lock").display()));
    let h = h.seal();
    h.sign_install(&[]);
    h.check("lock as FIFO");
    // e: the current client certificate is 1 GiB (sparse): no whole read, no 1 GiB backup.
    let h = Host::new();
    let pem = h.root.join("var/lib/kubelet/pki/kubelet-client-2025-10-01-00-00-00.pem");
    fs::OpenOptions::new().write(true).open(&pem).unwrap().set_len(1 << 30).unwrap();
    let h = Host { credential: Vec::new(), ..h };
    let h = Host { credential: h.current_credential(), ..h }.seal();
    h.sign_install(&[]);
    let big = Command::new("find").args([&h.root_s(), "-path", "*kubecert*", "-type", "f", "-size", "+4M"]).output().unwrap();
    assert!(big.stdout.is_empty(), "a huge file was backed up: {}", String::from_utf8_lossy(&big.stdout));
    h.check("1 GiB client certificate");
    // f: sign's own inputs: the CA key is /dev/zero, the CA certificate a FIFO.
    let h = Host::new().seal();
    let fifo = h._dir.path().join("ca.fifo");
    shell_ok(&format!("mkfifo {}", fifo.display()));
    let out = h._dir.path().join("bundle");
    let r = h.run(&["sign", "--node", "n1", "--ca-cert", &h.ca_cert.display().to_string(), "--ca-key", "/dev/zero", "--out-dir", &out.display().to_string()]);
    assert_eq!(r.code, 2, "{}", r.text());
    let r = h.run(&["sign", "--node", "n1", "--ca-cert", &fifo.display().to_string(), "--ca-key", &h.ca_key.display().to_string(), "--out-dir", &out.display().to_string()]);
    assert_eq!(r.code, 2, "{}", r.text());
    h.check("sign inputs");
}

// ---------------------------------------------------------------------------------------------
// 4. Environment expansion in systemd units is bounded, and the unit is reported.

#[test]
fn d4_unit_expansion_is_bounded() {
    // a: `$BIG` (split into words) and b: `${BIG}` (one word), 1 MB each, 20,000 times.
    for form in ["$BIG", "${BIG}"] {
        let h = Host::new();
        let env = h.root.join("var/lib/kubelet/kubeadm-flags.env");
        let mut text = fs::read_to_string(&env).unwrap();
        text.push_str(&format!("BIG=\"{}\"\n", "a".repeat(1 << 20)));
        fs::write(&env, text).unwrap();
        let refs = vec![form; 20_000].join(" ");
        fs::write(
            h.root.join("etc/systemd/system/kubelet.service.d/20-big.conf"),
            format!("[Service]\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS {refs}\n"),
        )
        .unwrap();
        let h = h.seal();
        let r = h.run(&["doctor", "--root", &h.root_s(), "-o", "json"]);
        assert!(r.out.contains("kubelet-unit-expansion-too-large"), "{form}: the unit is not reported\n{}", r.text());
        h.run(&["check-expiration", "--root", &h.root_s()]);
        h.sign_install(&[]);
        h.check(&format!("expansion of {form}"));
    }
}

// ---------------------------------------------------------------------------------------------
// 5. kubecert deletes only what it provably made.

#[test]
fn d5_backup_clean_up_deletes_only_its_own_folders() {
    // a: in the default store, via sign --install; b: in a --backup-dir of the operator's, via
    // rollback (which tidies first); c: a folder named exactly like an id, without kubecert's marker.
    for (name, dir, cmd) in [
        ("20250101-nightly-etcd-snapshot", "/var/lib/kubecert/backups", "sign"),
        ("20250101-nightly-etcd-snapshot", "/var/backups", "rollback"),
        ("20250101-000000-abcd", "/var/backups", "sign"),
    ] {
        let h = Host::new();
        let folder = h.root.join(dir.trim_start_matches('/')).join(name);
        fs::create_dir_all(folder.join("data")).unwrap();
        fs::write(folder.join("data/snapshot.db"), "precious").unwrap();
        let h = h.seal();
        if cmd == "sign" {
            h.sign_install(&["--backup-dir", dir]);
        } else {
            h.run(&["rollback", "--root", &h.root_s(), "--backup-dir", dir]);
        }
        assert_eq!(fs::read_to_string(folder.join("data/snapshot.db")).ok().as_deref(), Some("precious"), "{dir}/{name} was deleted by {cmd}");
        h.check(&format!("{dir}/{name}"));
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Special files and pseudo file systems are skipped, never read.

#[test]
fn d6_special_files_are_skipped() {
    let h = Host::new();
    // a: a FIFO and a device among the certificates; b: /proc/kmsg as the kubeconfig; c: /proc itself scanned.
    let pki = h.root.join("etc/kubernetes/pki");
    shell_ok(&format!("mkfifo {}", pki.join("apiserver.crt").display()));
    shell_ok(&format!("mknod {} c 1 5", pki.join("front-proxy-client.crt").display()));
    let h = h.seal();
    let r = h.run(&["check-expiration", "--scan", &pki.display().to_string()]);
    assert!(r.out.contains("apiserver.crt") || r.err.contains("apiserver.crt"), "the FIFO is not reported as skipped\n{}", r.text());
    h.run(&["doctor", "--root", &h.root_s()]);
    let r = h.run(&["doctor", "--root", "/", "--kubelet-kubeconfig", "/proc/kmsg"]);
    assert_eq!(r.code, 1, "{}", r.text());
    h.run(&["check-expiration", "--scan", "/proc/sys/kernel"]);
    h.check("special files");
}

// ---------------------------------------------------------------------------------------------
// 7. Absurd durations are a clear error (exit 2), never an abort.

#[test]
fn d7_durations_are_checked() {
    let h = Host::new().seal();
    let out = h._dir.path().join("bundle").display().to_string();
    let (cert, key) = (h.ca_cert.display().to_string(), h.ca_key.display().to_string());
    let root = h.root_s();
    let cases: Vec<Vec<&str>> = vec![
        vec!["doctor", "--root", &root, "--warn-within", "999999999999999d"],
        vec!["doctor", "--root", &root, "--warn-within", "9223372036854775807s"],
        vec!["sign", "--node", "n1", "--ca-cert", &cert, "--ca-key", &key, "--out-dir", &out, "--valid-for", "1000000000d"],
        vec!["sign", "--node", "n1", "--ca-cert", &cert, "--ca-key", &key, "--out-dir", &out, "--valid-for=-5d"],
        vec!["exporter", "--root", &root, "--warn-within", "99999999999999999999d"],
        vec!["token", "create", "--ttl", "99999999999999d"],
        vec!["repair", "--root", &root, "--timeout", "2", "--dry-run"],
        vec!["scan", "--timeout", "9999999999999999999s"],
    ];
    for a in cases {
        let r = h.run(&a);
        assert_eq!(r.code, 2, "{a:?}\n{}", r.text());
        assert!(r.err.to_lowercase().contains("duration") || r.err.contains("too"), "{a:?}: no clear error\n{}", r.text());
    }
    h.check("durations");
}

// ---------------------------------------------------------------------------------------------
// 8. An install never makes things worse.

#[test]
fn d8_install_refuses_a_credential_that_would_not_work() {
    // a: an already-expired certificate (--valid-for 0d); b: signed by a CA the node does not trust.
    let h = Host::new().seal();
    let r = h.sign_install(&["--valid-for", "0d"]);
    assert_ne!(r.code, 0, "{}", r.text());
    assert_eq!(h.current_credential(), h.credential, "an expired credential replaced a working one\n{}", r.text());
    h.check("valid-for 0d");

    let h = Host::new().seal();
    let other = h._dir.path().join("other");
    fs::create_dir_all(&other).unwrap();
    shell_ok(&format!(
        "cd {} && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -subj /CN=kubernetes -days 30 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,digitalSignature -out ca.crt 2>/dev/null",
        other.display()
    ));
    let (oc, ok) = (other.join("ca.crt").display().to_string(), other.join("ca.key").display().to_string());
    let r = h.run(&["sign", "--node", "n1", "--ca-cert", &oc, "--ca-key", &ok, "--install", "--root", &h.root_s()]);
    assert_eq!(r.code, 1, "{}", r.text());
    assert!(r.err.contains("CA") || r.out.contains("CA"), "{}", r.text());
    assert_eq!(h.current_credential(), h.credential, "a credential from a foreign CA replaced a working one");
    h.check("foreign CA");
}

// ---------------------------------------------------------------------------------------------
// 9. Not being root is kubecert's problem, not the node's.

#[test]
fn d9_permission_denied_is_not_a_broken_node() {
    let h = Host::new();
    shell_ok(&format!("chmod -R a+rX {0} && chmod 600 {0}/etc/kubernetes/kubelet.conf {0}/var/lib/kubelet/pki/kubelet-client-2*.pem", h.root_s()));
    let h = h.seal();
    // a: doctor as nobody on a healthy node.
    let r = h.run_as(&["doctor", "--root", &h.root_s()], Some("65534"), Stdio::null());
    assert_eq!(r.code, 2, "{}", r.text());
    assert!(r.err.contains("run as root") || r.err.contains("read access"), "{}", r.text());
    assert!(!r.out.contains("kubecert repair") && !r.out.contains("kubelet will exit"), "{}", r.text());
    // b: check-expiration as nobody must say which rows it could not read, and not exit 0.
    let r = h.run_as(&["check-expiration", "--root", &h.root_s()], Some("65534"), Stdio::null());
    assert_ne!(r.code, 0, "{}", r.text());
    assert!(r.out.contains("unreadable") || r.err.contains("unreadable"), "{}", r.text());
    h.check("not root");
}

// ---------------------------------------------------------------------------------------------
// 10. Node text reaches the terminal escaped.

#[test]
fn d10_control_characters_are_escaped() {
    // a: /etc/hostname with an OSC title and a clear-screen; b: a manifest label; c: a -o wide listing.
    let h = Host::new();
    fs::write(h.root.join("etc/hostname"), "evil\x1b]0;PWNED\x07\x1b[2J\n").unwrap();
    let entries = serde_json::json!([]);
    h.plant_backup("20250101-000000-dddd", &manifest("20250101-000000-dddd", "complete", entries, serde_json::json!([]), "label\x1b[2J\x1b]0;PWNED\x07"));
    let h = h.seal();
    for a in [
        vec!["doctor", "--root", &h.root_s()],
        vec!["doctor", "--root", &h.root_s(), "-o", "wide"],
        vec!["backups", "--root", &h.root_s()],
        vec!["backups", "--root", &h.root_s(), "-o", "wide"],
    ] {
        let r = h.run(&a);
        assert!(!r.out.contains('\x1b') && !r.out.contains('\x07') && !r.err.contains('\x1b') && !r.err.contains('\x07'), "{a:?} printed raw control characters\n{:?}", r.text());
    }
    h.check("escapes");
}

// ---------------------------------------------------------------------------------------------
// 11. The smaller ones.

#[test]
fn d11_smaller_ones() {
    // a: a UTF-8 BOM in /etc/hostname is not another node.
    let h = Host::new();
    fs::write(h.root.join("etc/hostname"), "\u{feff}n1\n").unwrap();
    let h = h.seal();
    let r = h.run(&["doctor", "--root", &h.root_s()]);
    assert_eq!(r.code, 0, "BOM\n{}", r.text());
    h.check("bom");

    // b: a key with a non-UTF-8 name is still checked for permissions.
    let h = Host::new();
    let pki = h.root.join("var/lib/kubelet/pki");
    let odd = pki.join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"kubelet-client-\xff.pem"));
    fs::copy(pki.join("kubelet-client-2025-10-01-00-00-00.pem"), &odd).unwrap();
    fs::set_permissions(&odd, fs::Permissions::from_mode(0o644)).unwrap();
    let h = h.seal();
    let r = h.run(&["doctor", "--root", &h.root_s(), "-o", "json"]);
    assert!(r.out.contains("key-permissions-too-open"), "a non-UTF-8 key name was skipped\n{}", r.text());
    h.check("non-utf8 name");

    // c: --out-dir refuses a non-empty folder and leaves a dangling symlink in it alone.
    let h = Host::new().seal();
    let out = h._dir.path().join("bundle");
    fs::create_dir_all(&out).unwrap();
    symlink("/nonexistent/target", out.join("kubelet-client.pem")).unwrap();
    fs::write(out.join("notes.txt"), "mine").unwrap();
    let r = h.run(&["sign", "--node", "n1", "--ca-cert", &h.ca_cert.display().to_string(), "--ca-key", &h.ca_key.display().to_string(), "--out-dir", &out.display().to_string()]);
    assert_ne!(r.code, 0, "a non-empty --out-dir was accepted\n{}", r.text());
    assert!(fs::symlink_metadata(out.join("kubelet-client.pem")).is_ok(), "the dangling symlink was deleted");
    assert_eq!(fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    h.check("out-dir");

    // d: explain with a terminal on stdin says what it expects instead of waiting silently.
    let h = Host::new().seal();
    let o = Command::new("script")
        .args(["-qec", &format!("timeout 3 {} explain", kubecert_bin()), "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("stdin") || said.contains("Ctrl-D") || said.contains("--file"), "explain waited silently on a terminal: {said:?}");
    h.check("explain");
}
