//! The container image (Containerfile, scripts/build-image) run with podman (rootful, runc, from
//! Debian): `doctor --root /host` on a node tree mounted read-only prints the same JSON as the
//! plain static binary on the tree, the exporter in the container serves /metrics and /healthz,
//! and the image carries its OCI labels, runs as non-root by default and holds only the binary.
//! The image is built once per run (cached by the binary's hash under ~/.cache/kubecert/image).


use kubecert_testbed_harness::prelude::*;
use kubecert_testbed_harness::ecosystem::*;
use kubecert_testbed_harness::repo_root;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

const IMAGE: &str = concat!("localhost/kubecert:", env!("CARGO_PKG_VERSION"));

/// podman with its own storage and the settings this machine kind needs (a containers.conf
/// without default ulimits, cgroupfs, runc: see the testbed note's VERIFIED box).
struct Podman {
    /// Its storage and config: ~/.cache/kubecert/podman (reused across runs; a static is never
    /// dropped, so a temp dir would be left behind by every run).
    dir: PathBuf,
    /// The static binary the image holds.
    bin: PathBuf,
}

impl Podman {
    fn cmd(&self) -> Command {
        let d = &self.dir;
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args(["--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run podman")
    }
}

/// Builds the image (scripts/build-image, once) and loads it into a private podman store.
fn podman() -> &'static Podman {
    static P: OnceLock<Podman> = OnceLock::new();
    P.get_or_init(|| {
        require("buildah", "buildah");
        require("podman", "podman");
        require("runc", "runc");
        let o = Command::new(repo_root().join("scripts/build-image")).output().expect("run scripts/build-image");
        assert!(o.status.success(), "scripts/build-image failed:\n{}", String::from_utf8_lossy(&o.stderr));
        let archive = String::from_utf8_lossy(&o.stdout).lines().last().expect("the archive's path").trim().to_string();
        let bin = PathBuf::from(String::from_utf8_lossy(&Command::new(repo_root().join("scripts/build-static")).output().unwrap().stdout).lines().last().unwrap().trim());
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let dir = std::env::var_os("KUBECERT_CACHE").map(PathBuf::from).unwrap_or_else(|| home.join(".cache/kubecert")).join("podman");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("containers.conf"), "[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = \"cgroupfs\"\nruntime = \"runc\"\n").unwrap();
        let p = Podman { dir, bin };
        let load = p.run(&["load", "-i", &archive]);
        assert!(load.status.success(), "podman load: {}", String::from_utf8_lossy(&load.stderr));
        // Earlier runs' images, untagged by this load, go (the store is reused).
        let _ = p.run(&["image", "prune", "-f"]);
        p
    })
}

fn out(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn the_image_has_its_labels_a_non_root_user_and_only_the_binary() {
    let p = podman();
    let o = p.run(&["image", "inspect", IMAGE]);
    assert!(o.status.success(), "{}", out(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cfg = &v[0]["Config"];
    assert_eq!(cfg["Labels"]["org.opencontainers.image.version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(cfg["Labels"]["org.opencontainers.image.title"], "kubecert");
    let source = cfg["Labels"]["org.opencontainers.image.source"].as_str().unwrap();
    assert!(std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap().contains(&format!("repository = \"{source}\"")), "source label {source}");
    assert_eq!(cfg["User"], "65532:65532");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/usr/local/bin/kubecert"]));
    // One layer, about the binary's size: no shell, no libc, nothing else.
    let size = v[0]["Size"].as_u64().unwrap();
    let bin = std::fs::metadata(&p.bin).unwrap().len();
    assert!(size >= bin && size < bin + 64 * 1024, "image {size} bytes, binary {bin}");
    let v2 = p.run(&["run", "--rm", "--network", "none", IMAGE, "--version"]);
    assert!(v2.status.success() && out(&v2).contains(env!("CARGO_PKG_VERSION")), "{}", out(&v2));
    let id = p.run(&["run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", IMAGE, "-c", "true"]);
    assert!(!id.status.success(), "the image has a shell: {}", out(&id));
}

#[test]
fn doctor_in_the_container_on_a_read_only_tree_prints_the_plain_binarys_json() {
    let p = podman();
    let dir = tempfile::tempdir().unwrap();
    for scenario in ["healthy", "report-000", "report-004"] {
        let tree = dir.path().join(scenario);
        sample_node(&tree, scenario, "img-w1");
        let plain = Command::new(&p.bin).args(["doctor", "--root"]).arg(&tree).args(["-o", "json"]).env_clear().output().unwrap();
        // As the DaemonSet runs it: root (the key files are 0600), every capability dropped.
        let mount = format!("{}:/host:ro", tree.display());
        let boxed = p.run(&["run", "--rm", "--network", "none", "--user", "0", "--cap-drop", "ALL", "--read-only", "-v", &mount, IMAGE, "doctor", "--root", "/host", "-o", "json"]);
        assert_eq!(boxed.status.code(), plain.status.code(), "exit codes differ on {scenario}:\n{}\n{}", out(&boxed), out(&plain));
        let (a, b): (serde_json::Value, serde_json::Value) = (json(&plain, &tree, scenario), json(&boxed, Path::new("/host"), scenario));
        assert_eq!(a, b, "the container's doctor JSON differs from the plain binary's on {scenario}");
        assert!(a.to_string().contains("\"code\""), "no findings at all on {scenario}: {a}");
    }
}

/// The doctor JSON, with the root it was given replaced by `ROOT` (the one legitimate difference).
fn json(o: &Output, root: &Path, scenario: &str) -> serde_json::Value {
    let r = root.display().to_string();
    // Only whole-root mentions ("/host" or "/host/..."), not "/etc/hostname".
    let text = String::from_utf8_lossy(&o.stdout).replace(&format!("\"{r}\""), "\"ROOT\"").replace(&format!("\"{r}/"), "\"ROOT/");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{scenario}: {e}: {}", out(o)))
}

#[test]
fn the_exporter_in_the_container_serves_metrics_and_healthz() {
    let p = podman();
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("n");
    sample_node(&tree, "report-000", "img-exp");
    let port = free_port();
    let name = format!("kubecert-exporter-test-{}", std::process::id());
    let mount = format!("{}:/host:ro", tree.display());
    let listen = format!("127.0.0.1:{port}");
    let started = p.run(&["run", "-d", "--name", &name, "--network", "host", "--user", "0", "--cap-drop", "ALL", "--read-only", "-v", &mount, IMAGE, "exporter", "--root", "/host", "--listen", &listen]);
    assert!(started.status.success(), "{}", out(&started));
    struct Stop<'a>(&'a Podman, String);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["rm", "-f", "-t", "2", &self.1]);
        }
    }
    let _stop = Stop(p, name.clone());
    let health = wait_ok(port, "/healthz", Duration::from_secs(30));
    assert_eq!(health, "ok\n");
    let (status, body) = http_get(port, "/metrics").unwrap();
    assert!(status.contains(" 200 "), "{status}");
    // The expired client certificate of report 000, read through the read-only mount.
    let line = body.lines().find(|l| l.starts_with("kubecert_cert_expires_in_seconds{node=\"img-exp\",name=\"kubelet.conf\"")).unwrap_or_else(|| panic!("no kubelet.conf expiry:\n{body}"));
    let secs: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(secs < 0, "{line}");
    assert!(body.contains("kubecert_findings_by_severity{node=\"img-exp\",severity=\"error\"} "), "{body}");
    let logs = p.run(&["logs", &name]);
    assert!(out(&logs).contains(&format!("listening on http://{listen}/metrics")), "{}", out(&logs));
}

/// deploy/'s workloads run the image scripts/build-image makes, through the kustomization's
/// `images:` entry (rendered by the testbed's real kubectl kustomize).
#[test]
fn kustomize_renders_deploy_with_the_built_image() {
    let c = kubecert_testbed_harness::Cluster::shared();
    let o = Command::new(c.bin("kubectl")).arg("kustomize").arg(repo_root().join("deploy")).output().unwrap();
    assert!(o.status.success(), "{}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let images: Vec<&str> = text.lines().filter_map(|l| l.trim().strip_prefix("image: ")).collect();
    assert_eq!(images, [IMAGE, IMAGE, IMAGE], "kustomize images (exporter, approver, forecast):\n{text}");
}
