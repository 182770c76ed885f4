//! Listing backups and undoing an install. A rollback is itself an install — a plan that puts
//! back what the backup recorded — so it is backed up, atomic and crash-safe in the same way, and
//! can be undone in turn.

use super::engine::{apply, Applied, ApplyOptions};
use super::error::InstallError;
use super::manifest::{sha256_hex, BackupState, Manifest, Recorded};
use super::plan::{Contents, InstallPlan};
use super::resolve::{state_of, Current};
use super::store::{self, Store};
use crate::root::NodeRoot;
use serde::Serialize;

/// One backup, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct BackupInfo {
    /// The id (`--to`).
    pub id: String,
    /// The folder (node path).
    pub dir: String,
    /// What the install was.
    pub label: String,
    /// When it began.
    pub created: String,
    /// How far it got.
    pub state: BackupState,
    /// The paths it changed.
    pub paths: Vec<String>,
    /// The backup it undid, for rollbacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
    /// The rollback that undid it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_by: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl BackupInfo {
    fn from(dir: String, m: &Manifest) -> Self {
        BackupInfo {
            id: m.id.clone(),
            dir,
            label: m.label.clone(),
            created: m.created.clone(),
            state: m.state,
            paths: m.entries.iter().map(|e| e.node_path.clone()).collect(),
            rollback_of: m.rollback_of.clone(),
            rolled_back_by: m.rolled_back_by.clone(),
            error: m.error.clone(),
        }
    }
}

/// Removes what installs that died before changing anything left behind (temp files next to
/// targets, half-made backup folders). Nothing else is touched; absent store: nothing to do.
pub fn tidy(root: &NodeRoot, backup_root: &str) -> Result<(), InstallError> {
    let store = Store::open(root, backup_root)?;
    if !store.exists() {
        return Ok(());
    }
    let _lock = store.lock()?;
    store.clean_abandoned(root);
    Ok(())
}

/// The node's backups, oldest first; unreadable folders are returned as errors alongside.
pub fn list_backups(root: &NodeRoot, backup_root: &str) -> Result<(Vec<BackupInfo>, Vec<InstallError>), InstallError> {
    let store = Store::open(root, backup_root)?;
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (dir, m) in store.list() {
        match m {
            Ok(m) => ok.push(BackupInfo::from(dir, &m)),
            Err(e) => bad.push(e),
        }
    }
    Ok((ok, bad))
}

/// A rollback ready to apply: which backup, the plan, and what changed since.
#[derive(Debug)]
pub struct RollbackPlan {
    /// The backup being undone.
    pub backup: BackupInfo,
    /// The plan that restores it.
    pub plan: InstallPlan,
    /// Paths that changed since the install (empty for an interrupted install).
    pub drift: Vec<String>,
}

/// Picks the backup to undo (`to`, else an interrupted install, else the newest complete install
/// that is not itself a rollback and not undone yet) and builds the plan that restores it.
pub fn plan_rollback(root: &NodeRoot, backup_root: &str, to: Option<&str>) -> Result<RollbackPlan, InstallError> {
    let store = Store::open(root, backup_root)?;
    let all: Vec<(String, Manifest)> = store.list().into_iter().filter_map(|(d, m)| m.ok().map(|m| (d, m))).collect();
    let (dir, m) = match to {
        Some(id) => all
            .iter()
            .find(|(_, m)| m.id == id)
            .ok_or_else(|| InstallError::NoBackup(format!("no backup {id:?} in {} (see `kubecert backups`)", store.node())))?,
        None => all
            .iter()
            .rev()
            .find(|(_, m)| m.state == BackupState::Committing)
            .or_else(|| {
                all.iter().rev().find(|(_, m)| m.state == BackupState::Complete && m.rollback_of.is_none() && m.rolled_back_by.is_none())
            })
            .ok_or_else(|| InstallError::NoBackup(format!("no install to roll back in {} (see `kubecert backups`)", store.node())))?,
    };
    let info = BackupInfo::from(dir.clone(), m);
    match m.state {
        BackupState::Complete | BackupState::Committing => {}
        s => return Err(InstallError::NoBackup(format!("backup {} is {s}: there is nothing to roll back", m.id))),
    }
    if let Some(by) = &m.rolled_back_by {
        return Err(InstallError::NoBackup(format!("backup {} was already rolled back by {by}", m.id)));
    }
    let host_dir = store.host_dir(&m.id);
    let mut drift = Vec::new();
    let mut plan = InstallPlan::new(format!("rollback of {} ({})", m.id, m.label));
    for e in m.entries.iter().rev() {
        let now = recorded_now(root, &e.node_path);
        let ok = same(&now, &e.after) || (m.state == BackupState::Committing && same(&now, &e.before));
        if !ok {
            let now = root.confine(&e.node_path).map(|h| state_of(&h).to_string()).unwrap_or_else(|e| e.to_string());
            drift.push(format!("{} (now {now})", e.node_path));
        }
        plan = match &e.before {
            Recorded::Absent => plan.move_aside(e.node_path.clone()),
            Recorded::Symlink { target } => plan.symlink(e.node_path.clone(), target.clone()),
            Recorded::File { mode, copy, sha256, .. } => {
                let copy = copy.as_deref().ok_or_else(|| InstallError::BadManifest {
                    path: format!("{dir}/manifest.json"),
                    detail: format!("no copy recorded for {}", e.node_path),
                })?;
                // A plain name inside files/ (checked when the manifest was loaded), never followed out.
                let (bytes, _) = super::fsops::read(&host_dir.join(copy)).map_err(|err| InstallError::BadManifest {
                    path: format!("{dir}/{copy}"),
                    detail: err.to_string(),
                })?;
                if &sha256_hex(&bytes) != sha256 {
                    return Err(InstallError::BadManifest {
                        path: format!("{dir}/{copy}"),
                        detail: "the backup copy does not match the hash in the manifest (damaged)".into(),
                    });
                }
                plan.write(e.node_path.clone(), Contents::secret(bytes), *mode)
            }
        };
    }
    Ok(RollbackPlan { backup: info, plan, drift })
}

/// Undoes a backup's install (see [`plan_rollback`]); refuses when files changed since, unless `force`.
pub fn rollback(root: &NodeRoot, backup_root: &str, to: Option<&str>, force: bool) -> Result<(BackupInfo, Applied), InstallError> {
    tidy(root, backup_root)?;
    let rp = plan_rollback(root, backup_root, to)?;
    if !rp.drift.is_empty() && !force {
        return Err(InstallError::Drift { id: rp.backup.id.clone(), changed: rp.drift });
    }
    let opts = ApplyOptions { backup_root: backup_root.to_string(), verify: None, rollback_of: Some(rp.backup.id.clone()) };
    let applied = apply(root, &rp.plan, &opts)?;
    // Mark the undone backup, and clear what an interrupted install left behind.
    let store = Store::open(root, backup_root)?;
    let host_dir = store.host_dir(&rp.backup.id);
    if let Ok(mut m) = Manifest::load(&host_dir, &rp.backup.dir) {
        store::clean_prepared(root, &m);
        m.state = BackupState::RolledBack;
        m.rolled_back_by = Some(applied.backup_id.clone());
        let _ = m.save(&host_dir);
    }
    Ok((rp.backup, applied))
}

/// What `node_path` holds now (its directories resolved inside the root, the last component not
/// followed). Unreadable or special counts as absent: it differs from any recorded file.
fn recorded_now(root: &NodeRoot, node_path: &str) -> Recorded {
    let Ok(host) = root.confine(node_path) else { return Recorded::Absent };
    match state_of(&host) {
        Current::Absent => Recorded::Absent,
        Current::Symlink { target } => Recorded::Symlink { target },
        Current::File { .. } => match super::fsops::read(&host) {
            Ok((b, meta)) => {
                use std::os::unix::fs::PermissionsExt;
                Recorded::File { mode: meta.permissions().mode() & 0o7777, size: b.len() as u64, sha256: sha256_hex(&b), copy: None }
            }
            Err(_) => Recorded::Absent,
        },
        _ => Recorded::Absent,
    }
}

/// Equal ignoring where the copy lives.
fn same(a: &Recorded, b: &Recorded) -> bool {
    match (a, b) {
        (Recorded::File { sha256: x, mode: m1, .. }, Recorded::File { sha256: y, mode: m2, .. }) => x == y && m1 == m2,
        _ => a == b,
    }
}
