//! Test-only crash injection. Built only with the `fault-injection` feature, which the CLI enables
//! for its own integration tests (a dev-dependency feature): release builds carry no hook.
//!
//! Every file-system step of the engine calls [`point`] first. With `KUBECERT_FAULT_AT=N` the
//! process dies at the N-th point — `abort()` (SIGABRT, no destructors, no cleanup) by default,
//! or, with `KUBECERT_FAULT_MODE=hang`, it prints `kubecert-fault: hang at N` and waits to be
//! killed (the test sends SIGKILL). `KUBECERT_FAULT_TRACE=1` prints every point to stderr.

/// Marks the boundary before one file-system step.
#[cfg(feature = "fault-injection")]
pub(crate) fn point(what: &str) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if std::env::var_os("KUBECERT_FAULT_TRACE").is_some() {
        eprintln!("kubecert-fault: step {n}: {what}");
    }
    let at = std::env::var("KUBECERT_FAULT_AT").ok().and_then(|v| v.parse::<u32>().ok());
    if at == Some(n) {
        if std::env::var("KUBECERT_FAULT_MODE").as_deref() == Ok("hang") {
            eprintln!("kubecert-fault: hang at {n}: {what}");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        eprintln!("kubecert-fault: abort at {n}: {what}");
        std::process::abort();
    }
}

/// Marks the boundary before one file-system step (no-op: built without `fault-injection`).
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn point(_what: &str) {}
