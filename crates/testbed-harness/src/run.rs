//! Running processes from tests: the one `kubecert` runner (a small builder: arguments,
//! environment, the cluster's kubeconfig, stdin) with its typed result, and the small helpers the
//! tests repeat (`text`, `sh`, `wait_for`).

use crate::Cluster;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The `kubecert` binary cargo built for this test run: integration tests run from
/// `target/<profile>/deps/`, the binary sits one level up (what `CARGO_BIN_EXE_kubecert` names).
pub fn kubecert_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = dir.join("kubecert");
    assert!(bin.is_file(), "{} is missing: run the test through `cargo test --workspace` (it builds the binary)", bin.display());
    bin
}

/// One `kubecert` invocation being set up: the built binary with `NO_COLOR=1` and without the
/// caller's `KUBECONFIG` (tests name their cluster explicitly).
#[derive(Debug)]
pub struct Kubecert {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    netns: Option<String>,
    stdin: Option<Vec<u8>>,
}

impl Kubecert {
    /// `kubecert ARGS` (the binary of this build).
    pub fn new<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Kubecert {
        Kubecert::at(kubecert_bin(), args)
    }

    /// `PROGRAM ARGS` set up as kubecert is (another build of it, e.g. the code before a fix).
    pub fn at<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: impl IntoIterator<Item = S>) -> Kubecert {
        let env = vec![("KUBECONFIG".into(), None), ("NO_COLOR".into(), Some("1".into()))];
        Kubecert { program: program.as_ref().into(), args: Vec::new(), env, netns: None, stdin: None }.args(args)
    }

    /// One more argument.
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Kubecert {
        self.args.push(a.as_ref().into());
        self
    }

    /// More arguments.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Kubecert {
        self.args.extend(args.into_iter().map(|a| a.as_ref().into()));
        self
    }

    /// Sets an environment variable (later settings win).
    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Kubecert {
        self.env.push((k.as_ref().into(), Some(v.as_ref().into())));
        self
    }

    /// Sets several environment variables.
    pub fn envs(mut self, vars: &[(&str, &str)]) -> Kubecert {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Kubecert {
        self.env.push((k.as_ref().into(), None));
        self
    }

    /// As cluster-admin of `c`, through `KUBECONFIG`.
    pub fn cluster(self, c: &Cluster) -> Kubecert {
        self.env("KUBECONFIG", c.kubeconfig())
    }

    /// As cluster-admin of `c` (`--kubeconfig`), where the cluster's addresses are reachable
    /// (inside its network namespace for `testbed up --netns`).
    pub fn in_cluster(mut self, c: &Cluster) -> Kubecert {
        self.netns = c.netns().map(String::from);
        self.arg("--kubeconfig").arg(c.kubeconfig())
    }

    /// Feeds `bytes` on stdin (else stdin is empty).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Kubecert {
        self.stdin = Some(bytes.into());
        self
    }

    /// The command, not started (to spawn it, e.g. a server).
    pub fn command(&self) -> Command {
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={ns}")).arg(&self.program);
                c
            }
            None => Command::new(&self.program),
        };
        c.args(&self.args);
        for (k, v) in &self.env {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    /// Runs it to the end.
    pub fn run(self) -> Run {
        let mut cmd = self.command();
        let out = match &self.stdin {
            None => cmd.output().unwrap_or_else(|e| panic!("run {}: {e}", Path::new(&self.program).display())),
            Some(bytes) => {
                let mut child = cmd
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap_or_else(|e| panic!("run {}: {e}", Path::new(&self.program).display()));
                child.stdin.take().expect("stdin").write_all(bytes).expect("write stdin");
                child.wait_with_output().expect("wait for kubecert")
            }
        };
        Run::new(self.args.iter().map(|a| a.to_string_lossy().into_owned()).collect(), out)
    }
}

/// What a finished command did (the default: an empty successful run, for tests of checkers).
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The arguments (for messages).
    pub args: Vec<String>,
    /// Its exit status.
    pub status: ExitStatus,
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// stdout (lossy UTF-8).
    pub stdout: String,
    /// stderr (lossy UTF-8).
    pub stderr: String,
}

impl Run {
    /// The result of a finished process.
    pub fn new(args: Vec<String>, o: Output) -> Run {
        Run {
            args,
            status: o.status,
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Exit 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// stdout + stderr.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// stdout as JSON (panics with both streams when it is not).
    pub fn json(&self) -> serde_json::Value {
        json(self)
    }

    /// Panics with both streams unless the exit code is `code`.
    #[track_caller]
    pub fn expect(self, code: i32, what: &str) -> Run {
        assert_eq!(self.code, code, "{what}: exit {} (want {code})\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr);
        self
    }
}

/// Anything with an stdout and a stderr: a [`Run`] or a raw [`Output`].
pub trait Streams {
    /// stdout + stderr.
    fn text(&self) -> String;
    /// stdout.
    fn stdout_text(&self) -> String;
}

impl Streams for Run {
    fn text(&self) -> String {
        Run::text(self)
    }
    fn stdout_text(&self) -> String {
        self.stdout.clone()
    }
}

impl Streams for Output {
    fn text(&self) -> String {
        format!("{}{}", String::from_utf8_lossy(&self.stdout), String::from_utf8_lossy(&self.stderr))
    }
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// stdout + stderr, for messages.
pub fn text(o: &impl Streams) -> String {
    o.text()
}

/// stdout as JSON (panics with both streams when it is not).
pub fn json(o: &impl Streams) -> serde_json::Value {
    serde_json::from_str(&o.stdout_text()).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", o.text()))
}

/// `kubecert ARGS` offline (no cluster).
pub fn kubecert(args: &[&str]) -> Run {
    Kubecert::new(args).run()
}

/// `kubecert ARGS` offline, with extra environment variables.
pub fn kubecert_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    Kubecert::new(args).envs(env).run()
}

/// Runs a program; (success, stdout+stderr).
pub fn sh(prog: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new(prog).args(args).output().unwrap_or_else(|e| panic!("run {prog}: {e}"));
    (o.status.success(), text(&o))
}

/// `sh -c SCRIPT` with extra environment variables; (success, stdout+stderr).
pub fn shell<K: AsRef<OsStr>, V: AsRef<OsStr>>(script: &str, env: &[(K, V)]) -> (bool, String) {
    let o = Command::new("sh").arg("-c").arg(script).envs(env.iter().map(|(k, v)| (k, v))).output().expect("run sh");
    (o.status.success(), text(&o))
}

/// `sh -c SCRIPT`; panics with its output on failure.
#[track_caller]
pub fn shell_ok(script: &str) {
    let (ok, out) = shell::<&str, &str>(script, &[]);
    assert!(ok, "{script}: {out}");
}

/// Polls `f` every `every` until it returns Some, or panics after `timeout` naming `what`.
#[track_caller]
pub fn wait_every<T>(every: Duration, timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(every);
    }
}

/// Polls `f` every 100 ms until it returns Some, or panics after `timeout` naming `what`.
#[track_caller]
pub fn wait_for<T>(timeout: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
    wait_every(Duration::from_millis(100), timeout, what, f)
}

