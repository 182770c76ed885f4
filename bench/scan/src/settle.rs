//! Waits for the test cluster's control plane to go quiet after the bench created thousands of
//! Nodes (watch fan-out, controllers reacting to 2 × N writes), so the timed scans measure the
//! scan and not the aftermath of the set-up. Quiet: etcd, kube-apiserver and
//! kube-controller-manager together use less than `QUIET_CORES` of a core over `WINDOW`.

use std::path::Path;
use std::time::{Duration, Instant};

/// Together, at most this fraction of one core.
const QUIET_CORES: f64 = 0.15;
/// Measured over this window.
const WINDOW: Duration = Duration::from_secs(2);

/// CPU seconds used so far by the processes whose pid files are in `pids_dir`.
fn cpu_seconds(pids_dir: &Path) -> anyhow::Result<f64> {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    for entry in std::fs::read_dir(pids_dir)? {
        let pid = std::fs::read_to_string(entry?.path())?;
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))?;
        // Fields after the command name (which may contain spaces): utime is field 14, stime 15.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
        let fields: Vec<&str> = after.split_whitespace().collect();
        let field = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        total += (field(14) + field(15)) / ticks_per_second;
    }
    Ok(total)
}

/// Waits (at most `limit`) until the control plane is quiet; returns how long it took and the
/// last measured load in cores.
pub async fn wait(testbed_dir: &Path, limit: Duration) -> anyhow::Result<(Duration, f64)> {
    let pids = testbed_dir.join("pids");
    let start = Instant::now();
    loop {
        let before = cpu_seconds(&pids)?;
        tokio::time::sleep(WINDOW).await;
        let load = (cpu_seconds(&pids)? - before) / WINDOW.as_secs_f64();
        if load < QUIET_CORES || start.elapsed() >= limit {
            return Ok((start.elapsed(), load));
        }
    }
}
