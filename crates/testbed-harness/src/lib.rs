//! Test-only access to the real local cluster that `testbed/testbed` runs: the shared cluster that
//! the test script starts once (its env file is named by `TESTBED_ENV`), private clusters a test
//! starts for itself (e.g. without the bootstrap RBAC), and real kubelets in node-shaped trees.
//!
//! A test that needs the cluster and cannot get it fails with a message that says how to get it;
//! it never skips silently.
//!
//! Beside the cluster, the one home of what the integration tests share: running `kubecert`
//! ([`run`]), openssl ([`openssl`]), sample node trees ([`sample`]) and each test family's helpers.
//! `use kubecert_testbed_harness::prelude::*` brings the common ones.
#![deny(missing_docs)]

pub mod bootstrap;
pub mod controlplane;
pub mod ecosystem;
pub mod fault;
pub mod fleet;
pub mod install;
pub mod kubeadm;
pub mod openssl;
pub mod ports;
pub mod run;
pub mod sample;
pub mod secrets;

/// What most tests use: the cluster, the process runners, openssl and sample trees.
pub mod prelude {
    pub use crate::openssl::*;
    pub use crate::ports::free_port;
    pub use crate::run::{kubecert_bin, sh, shell, shell_ok, text, wait_every, wait_for, Kubecert, Run, Streams};
    pub use crate::sample::sample_node;
    pub use crate::{repo_root, unique_name, Cluster};
}

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// A running testbed cluster, described by its env file.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Every variable of the env file (`KUBECONFIG`, `TESTBED_SERVER`, `TESTBED_CA_CERT`,
    /// `TESTBED_CA_KEY`, `TESTBED_BIN`, `TESTBED_DIR`).
    pub env: BTreeMap<String, String>,
    owned: bool,
}

/// The repository root (this crate lives in `crates/testbed-harness`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// The `testbed/testbed` script.
pub fn script() -> PathBuf {
    repo_root().join("testbed/testbed")
}

const HOW: &str = "this test needs the real test cluster: run the README's test command (scripts/test), \
or by hand: `testbed/testbed build && eval $(cat $(testbed/testbed up))` then `export TESTBED_ENV=<env file>`";

impl Cluster {
    /// The cluster shared by all tests of a run (started by `scripts/test`, named by `TESTBED_ENV`).
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        SHARED.get_or_init(|| {
            let path = std::env::var("TESTBED_ENV").unwrap_or_else(|_| panic!("TESTBED_ENV is not set; {HOW}"));
            let mut c = Cluster::from_env_file(Path::new(&path));
            c.owned = false;
            c
        })
    }

    /// Starts a private cluster for one test; it is torn down when the value is dropped.
    pub fn start(extra_args: &[&str]) -> Cluster {
        let mut args = vec!["up"];
        args.extend_from_slice(extra_args);
        let out = run_script(&args, &BTreeMap::new());
        let env_file = out.lines().last().unwrap_or_else(|| panic!("testbed up printed nothing; {HOW}")).trim().to_string();
        let mut c = Cluster::from_env_file(Path::new(&env_file));
        c.owned = true;
        c
    }

    fn from_env_file(path: &Path) -> Cluster {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read testbed env file {}: {e}; {HOW}", path.display()));
        let mut env = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim().trim_start_matches("export ").trim();
            if let Some((k, v)) = line.split_once('=') {
                env.insert(k.to_string(), shell_unquote(v));
            }
        }
        for k in ["KUBECONFIG", "TESTBED_SERVER", "TESTBED_CA_CERT", "TESTBED_CA_KEY", "TESTBED_BIN", "TESTBED_DIR"] {
            assert!(env.contains_key(k), "testbed env file {} lacks {k}", path.display());
        }
        Cluster { env, owned: false }
    }

    /// A variable of the env file.
    pub fn var(&self, key: &str) -> &str {
        &self.env[key]
    }

    /// The cluster-admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        PathBuf::from(self.var("KUBECONFIG"))
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server(&self) -> &str {
        self.var("TESTBED_SERVER")
    }

    /// The cluster CA certificate file.
    pub fn ca_cert(&self) -> PathBuf {
        PathBuf::from(self.var("TESTBED_CA_CERT"))
    }

    /// The CA's `sha256:` pin, computed by openssl (independently of kubecert) as kubeadm's docs do it.
    pub fn ca_pin(&self) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("openssl x509 -pubkey -noout -in '{}' | openssl pkey -pubin -outform der | sha256sum", self.ca_cert().display()))
            .output()
            .expect("openssl");
        assert!(out.status.success());
        format!("sha256:{}", String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap())
    }

    /// The cluster CA key file.
    pub fn ca_key(&self) -> PathBuf {
        PathBuf::from(self.var("TESTBED_CA_KEY"))
    }

    /// A binary of the testbed (`kubectl`, `kubeadm`, ...).
    pub fn bin(&self, name: &str) -> PathBuf {
        Path::new(self.var("TESTBED_BIN")).join(name)
    }

    /// Runs `testbed/testbed ARGS` against this cluster and returns stdout (panics on failure).
    pub fn testbed(&self, args: &[&str]) -> String {
        run_script(args, &self.env)
    }

    /// Runs `testbed/testbed ARGS`, returning (success, stdout+stderr) without panicking.
    pub fn try_testbed(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(script()).args(args).envs(&self.env).output().expect("run testbed/testbed");
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }

    /// Runs `kubectl ARGS` as cluster-admin; returns (success, stdout, stderr).
    pub fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(self.bin("kubectl")).arg("--kubeconfig").arg(self.kubeconfig()).args(args).output().expect("run kubectl");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Runs `kubectl ARGS` as cluster-admin; panics with both streams on failure; returns stdout.
    #[track_caller]
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args);
        assert!(ok, "kubectl {args:?} failed: {out}{err}");
        out
    }

    /// Runs `kubectl --kubeconfig KUBECONFIG ARGS` (another identity); (success, stdout+stderr).
    pub fn kubectl_with(&self, kubeconfig: &Path, args: &[&str]) -> (bool, String) {
        let o = Command::new(self.bin("kubectl")).arg("--kubeconfig").arg(kubeconfig).args(args).output().expect("run kubectl");
        (o.status.success(), run::text(&o))
    }

    /// `kubectl VERB -f FILE` of `yaml` as `kubeconfig` (None: cluster-admin); (success, stdout+stderr).
    pub fn kubectl_stdin(&self, kubeconfig: Option<&Path>, verb: &[&str], yaml: &str) -> (bool, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let f = dir.path().join("obj.yaml");
        std::fs::write(&f, yaml).expect("write the object");
        let mut args = verb.to_vec();
        let f = f.display().to_string();
        args.extend(["-f", &f]);
        self.kubectl_with(&kubeconfig.map(Path::to_path_buf).unwrap_or_else(|| self.kubeconfig()), &args)
    }

    /// Waits (polling every 300 ms, at most `timeout`) until the kubelet log of `node` has a
    /// line with one of `needles`; that line, or None.
    pub fn wait_log(&self, node: &str, needles: &[&str], timeout: std::time::Duration) -> Option<String> {
        let start = std::time::Instant::now();
        while start.elapsed() < timeout {
            let (_, log) = self.try_testbed(&["node", "logs", node, "--last"]);
            if let Some(line) = log.lines().find(|l| needles.iter().any(|n| l.contains(n))) {
                return Some(line.to_string());
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        None
    }

    /// The root of node `name`'s tree (`$TESTBED_DIR/nodes/NAME`).
    pub fn node_root(&self, name: &str) -> PathBuf {
        Path::new(self.var("TESTBED_DIR")).join("nodes").join(name)
    }

    /// The network namespace the cluster runs in (`testbed up --netns`), if any.
    pub fn netns(&self) -> Option<&str> {
        self.env.get("TESTBED_NETNS").map(String::as_str)
    }

    /// A command that runs where the cluster's addresses are reachable (the nodes' 10.250.0.N and
    /// their kubelet ports): inside the cluster's network namespace with `--netns`, else as is.
    pub fn command_in_cluster(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match self.netns() {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={ns}")).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// The address node `name`'s kubelet uses (`10.250.0.N` with `--netns`, else `127.0.0.1`).
    pub fn node_ip(&self, name: &str) -> String {
        self.testbed(&["node", "ip", name]).trim().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.owned {
            let _ = Command::new(script()).arg("down").envs(&self.env).status();
        }
    }
}

fn run_script(args: &[&str], env: &BTreeMap<String, String>) -> String {
    let out = Command::new(script())
        .args(args)
        .envs(env)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {HOW}", script().display()));
    assert!(
        out.status.success(),
        "testbed/testbed {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A unique, short name for a node in a shared cluster (`<prefix>-<pid><n>`), valid as a DNS label.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}{}", std::process::id() % 100000, N.fetch_add(1, Ordering::Relaxed))
}

/// One shell word as bash's `printf %q` (and plain quoting) writes it: backslash escapes,
/// '...', "..." and $'...' (ANSI-C, for control characters) are undone.
fn shell_unquote(word: &str) -> String {
    let mut out = String::new();
    let mut it = word.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => out.extend(it.next()),
            '\'' => out.extend(it.by_ref().take_while(|&n| n != '\'')),
            '"' => {
                while let Some(n) = it.next() {
                    match n {
                        '"' => break,
                        '\\' if matches!(it.peek(), Some('"' | '\\' | '$' | '`')) => out.extend(it.next()),
                        _ => out.push(n),
                    }
                }
            }
            '$' if it.peek() == Some(&'\'') => {
                it.next();
                while let Some(n) = it.next() {
                    match n {
                        '\'' => break,
                        '\\' => match it.next() {
                            Some('n') => out.push('\n'),
                            Some('t') => out.push('\t'),
                            Some('r') => out.push('\r'),
                            Some('a') => out.push('\x07'),
                            Some('b') => out.push('\x08'),
                            Some('e' | 'E') => out.push('\x1b'),
                            Some('f') => out.push('\x0c'),
                            Some('v') => out.push('\x0b'),
                            Some(d @ '0'..='7') => {
                                let mut v = d.to_digit(8).unwrap_or(0);
                                for _ in 0..2 {
                                    match it.peek().and_then(|c| c.to_digit(8)) {
                                        Some(x) => {
                                            v = v * 8 + x;
                                            it.next();
                                        }
                                        None => break,
                                    }
                                }
                                out.extend(char::from_u32(v));
                            }
                            Some(o) => out.push(o),
                            None => {}
                        },
                        _ => out.push(n),
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The env file as `testbed up` writes it: values through bash's own `printf %q`.
    #[test]
    fn env_file_values_undo_bash_printf_q() {
        let dir = std::env::temp_dir().join(format!("kubecert-harness-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let awkward = "/tmp/a b/it's \"q\" $HOME\\x\ttab\u{e9}";
        let script = "for k in KUBECONFIG TESTBED_CA_CERT TESTBED_CA_KEY TESTBED_BIN TESTBED_DIR; do echo \"export $k=$(printf %q \"$V\")\"; done; echo export TESTBED_SERVER=https://127.0.0.1:1";
        let out = std::process::Command::new("bash").args(["-c", script]).env("V", awkward).output().expect("run bash");
        assert!(out.status.success());
        let file = dir.join("env");
        std::fs::write(&file, &out.stdout).unwrap();
        let c = Cluster::from_env_file(&file);
        assert_eq!(c.var("TESTBED_DIR"), awkward, "env file was:\n{}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(c.server(), "https://127.0.0.1:1");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
