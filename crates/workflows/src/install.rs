//! Applying a plan on the node (or only describing it, for `--dry-run`), then the doctor's verdict.

use crate::error::Result;
use crate::pair::verify_pair;
use crate::target::Target;
use kubecert_node::install::{self, Applied, ApplyOptions, ClientInstall, InstallPlan, InstallStyle, PlannedChange};
use kubecert_node::{NodeRoot, Severity};
use serde::Serialize;

/// How a credential is installed on the node.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// Where backups of replaced files go (a node path).
    pub backup_dir: String,
    /// The API server URL, used only if the node has no usable kubelet kubeconfig to take it from.
    pub server: Option<String>,
    /// Install even though the kubelet on this node runs under another node name.
    pub allow_name_mismatch: bool,
}

/// The doctor's verdict after an install.
#[derive(Debug, Serialize)]
pub struct DoctorSummary {
    /// Error findings.
    pub errors: usize,
    /// Warning findings.
    pub warnings: usize,
    /// `severity code: summary`, one per finding.
    pub findings: Vec<String>,
}

/// What an install did (or, with `--dry-run`, would do).
#[derive(Debug, Serialize)]
pub struct InstallReport {
    /// True when nothing was touched.
    pub dry_run: bool,
    /// Where the credential goes (absent for changes that install no credential, e.g. `serving enable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<InstallStyle>,
    /// The kubelet's kubeconfig, for client credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    /// Notes for the operator.
    pub notes: Vec<String>,
    /// The changes.
    pub changes: Vec<PlannedChange>,
    /// The backup made (absent for a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<Applied>,
    /// The doctor afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doctor: Option<DoctorSummary>,
}

impl InstallReport {
    /// Error findings of the doctor afterwards (0 for a dry run).
    pub fn doctor_errors(&self) -> usize {
        self.doctor.as_ref().map_or(0, |d| d.errors)
    }
}

/// Applies a client install `ci` (with `extra` steps appended, e.g. a serving pair), verifies
/// that the kubelet will load `expected_der`, and runs the doctor; with `dry_run` only describes.
pub(crate) fn run_install(target: &Target, opts: &InstallOptions, mut ci: ClientInstall, extra: InstallPlan, expected_der: &[u8], dry_run: bool) -> Result<InstallReport> {
    ci.plan.steps.extend(extra.steps);
    let kubeconfig = ci.kubeconfig.clone();
    let verify = |root: &NodeRoot| Ok(install::verify_client_install(root, &kubeconfig, expected_der)?);
    apply_plan(target, opts, ci.plan, Some(ci.style), Some(ci.kubeconfig), ci.notes, &verify, dry_run)
}

/// Applies a serving pair's plan and checks the pair its style names is `expected_der` with its key.
pub(crate) fn run_serving_install(target: &Target, opts: &InstallOptions, plan: InstallPlan, style: InstallStyle, notes: Vec<String>, expected_der: &[u8], dry_run: bool) -> Result<InstallReport> {
    let st = style.clone();
    let verify = move |root: &NodeRoot| Ok(verify_pair(root, &st, expected_der)?);
    apply_plan(target, opts, plan, Some(style), None, notes, &verify, dry_run)
}

/// Applies any plan with `verify` (or only describes it with `dry_run`), then runs the doctor.
#[allow(clippy::too_many_arguments)]
pub fn apply_plan(
    target: &Target,
    opts: &InstallOptions,
    plan: InstallPlan,
    style: Option<InstallStyle>,
    kubeconfig: Option<String>,
    notes: Vec<String>,
    verify: install::Verify,
    dry_run: bool,
) -> Result<InstallReport> {
    let changes = plan.describe(&target.root);
    if dry_run {
        return Ok(InstallReport { dry_run, style, kubeconfig, notes, changes, backup: None, doctor: None });
    }
    let apply = ApplyOptions { backup_root: opts.backup_dir.clone(), verify: Some(verify), rollback_of: None };
    let applied = install::apply(&target.root, &plan, &apply)?;
    let doctor = doctor_summary(target);
    Ok(InstallReport { dry_run, style, kubeconfig, notes, changes: applied.changes.clone(), backup: Some(applied), doctor: Some(doctor) })
}

/// Runs the doctor on the node and summarises it.
pub fn doctor_summary(target: &Target) -> DoctorSummary {
    let d = kubecert_node::diagnose(&target.root, &target.overrides, &kubecert_node::Settings::default());
    DoctorSummary {
        errors: d.findings.iter().filter(|f| f.severity == Severity::Error).count(),
        warnings: d.findings.iter().filter(|f| f.severity == Severity::Warning).count(),
        findings: d.findings.iter().map(|f| format!("{} {}: {}", f.severity, f.code, f.summary)).collect(),
    }
}
