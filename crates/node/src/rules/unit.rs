//! A kubelet unit whose `ExecStart=` expands beyond what the kernel passes to a program (see
//! `kubecert_config::units::MAX_EXPANDED_BYTES`): systemd cannot start the kubelet with it, and
//! kubecert did not build it either (a hostile tree could ask for gigabytes).

use super::Settings;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `kubelet-unit-expansion-too-large`.
pub fn check(snap: &Snapshot, _s: &Settings) -> Vec<Finding> {
    let Some(why) = &snap.setup.unit_problem else { return vec![] };
    vec![Finding::new(crate::code!("kubelet-unit-expansion-too-large"), Severity::Error, "the kubelet unit's ExecStart= expands to more than the kernel passes to a program")
        .evidence(format!("{} ({})", why, snap.setup.flag_files.join(", ")))
        .fix("Find the $VARIABLE that is huge or referenced many times in the unit's drop-ins and environment files, and remove it; then `systemctl daemon-reload`.")]
}
