//! `kubecert renew`: re-issues a kubeadm control plane's certificates and kubeconfig client
//! certificates the way `kubeadm certs renew` does (same subject, SANs, usages, issuer, validity
//! and key type; a new key), but only those that expire within a window by default, refusing a CA
//! that is expired or would expire first, refreshing each kubeconfig's embedded CA, and writing
//! everything through the install engine (plan, backup, atomic switch, `kubecert rollback`).

mod error;
mod issue;
mod restart;
mod select;

pub use error::{KubeconfigEditError, RenewError};
pub use restart::{node_name, renew_and_restart, MirrorPod, NotRestarted, PlannedRestart, RestartFailure, RestartOptions, RestartReport, Restarted, Served, StaticPodHost, ASIDE_DIR, MOVE_BACKUPS, STATIC_POD_PATH};
pub use restart::MirrorPodError;

use crate::controlplane::catalog::Component;
use crate::install::{self, Applied, ApplyOptions, PlannedChange};
use crate::root::NodeRoot;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// kubeadm's CertificateValidityPeriod (one year).
pub(crate) const DEFAULT_VALIDITY: Duration = Duration::days(365);

/// What to renew.
#[derive(Debug, Clone)]
pub struct RenewRequest {
    /// Catalog names (`apiserver`, `admin.conf`); empty or `all` means every one kubeadm renews.
    pub names: Vec<String>,
    /// Renew only what expires within this window from `now`; `None` renews every selected one.
    pub within: Option<Duration>,
    /// Lifetime of the new certificates.
    pub validity: Duration,
    /// Cut the new certificates' NotAfter to their CA's instead of refusing.
    pub clamp_to_ca: bool,
    /// "Now".
    pub now: OffsetDateTime,
}

/// How to apply it.
#[derive(Debug, Clone)]
pub struct RenewOptions {
    /// Only build and describe the plan.
    pub dry_run: bool,
    /// Where backups go (node path).
    pub backup_root: String,
}

/// One certificate that is (or, with `--dry-run`, would be) renewed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Renewed {
    /// kubeadm's name.
    pub name: String,
    /// The file.
    pub path: String,
    /// The issuing CA's catalog name.
    pub ca_name: String,
    /// The old certificate's NotAfter.
    #[serde(with = "time::serde::rfc3339")]
    pub old_expiration: OffsetDateTime,
    /// The new certificate's NotAfter.
    #[serde(with = "time::serde::rfc3339")]
    pub new_expiration: OffsetDateTime,
    /// Set when the new NotAfter was cut to the CA's (`--clamp-to-ca`).
    pub clamped_to_ca: bool,
    /// The new certificate's key type (the old one's).
    pub key_type: String,
}

/// One certificate left alone, and why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    /// kubeadm's name.
    pub name: String,
    /// The file.
    pub path: String,
    /// Why it is not renewed.
    pub reason: String,
    /// True when it needed renewing and could not be (unreadable): the command should not report success.
    pub problem: bool,
}

/// The result of `renew`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewOutcome {
    /// Only planned.
    pub dry_run: bool,
    /// Renewed (or to be renewed).
    pub renewed: Vec<Renewed>,
    /// Left alone.
    pub skipped: Vec<Skipped>,
    /// Each file change.
    pub plan: Vec<PlannedChange>,
    /// The install (absent for a dry run or when nothing was due).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Applied>,
    /// Components that must restart to load the new files.
    pub restart: Vec<Component>,
    /// With `--restart`: the static pods restarted (or, for a dry run, the plan).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarts: Option<RestartReport>,
}

/// Renews what `req` selects on the node under `root` (or, with `dry_run`, says what it would do).
pub fn renew(root: &NodeRoot, req: &RenewRequest, opts: &RenewOptions) -> Result<RenewOutcome, RenewError> {
    finish(root, prepare(root, req)?, opts)
}

/// A renewal issued in memory, not yet written.
struct Prepared {
    skipped: Vec<Skipped>,
    issued: issue::Issued,
    restart: Vec<Component>,
}

fn prepare(root: &NodeRoot, req: &RenewRequest) -> Result<Prepared, RenewError> {
    if !crate::controlplane::is_control_plane(root) {
        return Err(RenewError::NotControlPlane { root: root.dir().display().to_string() });
    }
    let selection = select::select(root, req)?;
    let issued = issue::issue_all(&selection, req)?;
    let mut restart: Vec<Component> = issued.renewed.iter().flat_map(|r| select::entry_of(&r.name).used_by.iter().copied()).collect();
    restart.sort();
    restart.dedup();
    Ok(Prepared { skipped: selection.skipped, issued, restart })
}

fn finish(root: &NodeRoot, p: Prepared, opts: &RenewOptions) -> Result<RenewOutcome, RenewError> {
    let Prepared { skipped, issued, restart } = p;
    let plan = issued.plan.describe(root);
    if opts.dry_run || issued.plan.steps.is_empty() {
        return Ok(RenewOutcome { dry_run: opts.dry_run, renewed: issued.renewed, skipped, plan, applied: None, restart, restarts: None });
    }
    let verify = |r: &NodeRoot| Ok(issue::verify(r, &issued.expect)?);
    let applied = install::apply(root, &issued.plan, &ApplyOptions { backup_root: opts.backup_root.clone(), verify: Some(&verify), rollback_of: None })?;
    Ok(RenewOutcome { dry_run: false, renewed: issued.renewed, skipped, plan, applied: Some(applied), restart, restarts: None })
}

/// The names `renew` accepts (besides `all`), in catalog order.
pub(crate) fn renewable_names() -> Vec<&'static str> {
    crate::controlplane::catalog::CATALOG.iter().filter(|e| e.renewable).map(|e| e.name).collect()
}
