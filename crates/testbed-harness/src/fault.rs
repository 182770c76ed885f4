//! Crashing `kubecert` at one of its file-system steps through the test-only fault hook
//! (`KUBECERT_FAULT_AT=N`, built into the binary by the `fault-injection` feature).

use crate::run::Kubecert;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

/// How a crash run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// The hook aborts the process (SIGABRT) at the step.
    Abort,
    /// The hook waits at the step and the test kills the process (SIGKILL).
    SigKill,
}

/// Runs `kubecert ARGS` and makes it die at fault point `n`; returns false when the command
/// finished before reaching `n` (there are fewer steps), and then it must have succeeded.
#[track_caller]
pub fn crash_at(args: &[&str], n: u32, how: Kill) -> bool {
    let mut k = Kubecert::new(args).env("KUBECERT_FAULT_AT", n.to_string());
    if how == Kill::SigKill {
        k = k.env("KUBECERT_FAULT_MODE", "hang");
    }
    let mut child = k.command().stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("run kubecert");
    let stderr = child.stderr.take().expect("stderr");
    let mut seen = String::new();
    let mut reached = false;
    for line in BufReader::new(stderr).lines() {
        let line = line.expect("read stderr");
        if line.starts_with("kubecert-fault: hang at") {
            reached = true;
            child.kill().expect("kill"); // SIGKILL
            break;
        }
        if line.starts_with("kubecert-fault: abort at") {
            reached = true;
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    let status = child.wait().expect("wait");
    if !reached {
        assert!(status.success(), "run without reaching step {n} failed: {seen}");
        return false;
    }
    use std::os::unix::process::ExitStatusExt;
    let sig = status.signal();
    assert!(sig == Some(6) || sig == Some(9), "step {n}: expected death by SIGABRT/SIGKILL, got {status:?}: {seen}");
    true
}
