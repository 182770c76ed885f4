//! The engine: plan → backup with manifest → new files written next to their targets → one
//! rename per target → verify → done; on any failure after the first rename, every target is put
//! back from the backup. A crash at any point leaves a manifest saying what to restore, and the
//! next install refuses to run until `kubecert rollback` has done so.

use super::error::InstallError;
use super::fsops;
use super::manifest::{sha256_hex, BackupState, Entry, Manifest, Recorded, MANIFEST};
use super::plan::{InstallPlan, PlannedChange, Step};
use super::resolve::{normalise, target_of, Current, Target};
use super::store;
use crate::root::NodeRoot;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Why a [`Verify`] check failed: the caller's own error type (the engine only shows its message
/// and restores the files).
pub type VerifyError = Box<dyn std::error::Error + Send + Sync>;

/// A check run after the files are in place; an `Err` undoes the install.
pub type Verify<'a> = &'a dyn Fn(&NodeRoot) -> Result<(), VerifyError>;

/// How to apply a plan.
pub struct ApplyOptions<'a> {
    /// Where backup folders go (node path); default `/var/lib/kubecert/backups`.
    pub backup_root: String,
    /// Run after the install; on `Err` every file is restored.
    pub verify: Option<Verify<'a>>,
    /// Set by rollback: the backup being undone (an interrupted one may be undone).
    pub rollback_of: Option<String>,
}

impl Default for ApplyOptions<'_> {
    fn default() -> Self {
        ApplyOptions { backup_root: super::manifest::DEFAULT_BACKUP_ROOT.to_string(), verify: None, rollback_of: None }
    }
}

impl std::fmt::Debug for ApplyOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("backup_root", &self.backup_root)
            .field("verify", &self.verify.is_some())
            .field("rollback_of", &self.rollback_of)
            .finish()
    }
}

/// A finished install.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The backup id (pass to `kubecert rollback --to`).
    pub backup_id: String,
    /// The backup folder (node path).
    pub backup_dir: String,
    /// What was done.
    pub changes: Vec<PlannedChange>,
}

/// One step, located, with what it held before.
struct Work {
    step: Step,
    target: Target,
    temp_host: Option<PathBuf>,
    before_bytes: Option<Zeroizing<Vec<u8>>>,
    entry: Entry,
}

/// Applies `plan` to the node: all of it, or (on failure) none of it.
pub fn apply(root: &NodeRoot, plan: &InstallPlan, opts: &ApplyOptions) -> Result<Applied, InstallError> {
    if plan.steps.is_empty() {
        return Err(InstallError::InvalidPlan("the plan has no steps".into()));
    }
    let changes = plan.describe(root);
    let backup_root = normalise(&opts.backup_root)?;
    let mut seen = BTreeSet::new();
    let mut targets = Vec::new();
    for step in &plan.steps {
        if let Step::Write { mode, .. } = step
            && *mode > 0o7777
        {
            return Err(InstallError::InvalidPlan(format!("mode {mode:o} of {} is not a permission mode", step.node_path())));
        }
        let t = target_of(root, step)?;
        if !seen.insert(t.node_path.clone()) {
            return Err(InstallError::InvalidPlan(format!("{} appears twice in the plan", t.node_path)));
        }
        if t.node_path.starts_with(&format!("{backup_root}/")) {
            return Err(InstallError::InvalidPlan(format!("{} lies inside the backup folder {backup_root}", t.node_path)));
        }
        targets.push((step.clone(), t));
    }

    let store = store::Store::open(root, &backup_root)?;
    let _lock = store.lock()?;
    store.settle(root, opts.rollback_of.as_deref())?;

    let id = store.new_id();
    let dir_node = format!("{backup_root}/{id}");
    // The store's own, resolved folder: never the lexical path, which a symlink could lead out.
    let dir_host = store.host_dir(&id);
    let backup_err = |node_path: &str, source: std::io::Error| InstallError::Backup {
        node_path: node_path.to_string(),
        backup_dir: dir_node.clone(),
        source,
    };

    // Phase 1: backup copies and the manifest. Nothing on the node changes.
    let mut work = Vec::new();
    let mut created_dirs: Vec<(String, PathBuf)> = Vec::new();
    let result = (|| -> Result<(), InstallError> {
        store.ensure_root().map_err(|e| backup_err(&backup_root, e))?;
        fsops::mkdir(&dir_host, 0o700).map_err(|e| backup_err(&dir_node, e))?;
        // First, before any copy: the proof that kubecert made this folder (see Store::clean_abandoned).
        fsops::write_new(&dir_host.join(store::MARKER), store::MARKER_TEXT, 0o600).map_err(|e| backup_err(&dir_node, e))?;
        fsops::mkdir(&dir_host.join("files"), 0o700).map_err(|e| backup_err(&dir_node, e))?;
        for (i, (step, target)) in targets.iter().enumerate() {
            let (before, before_bytes) = record_before(&target.host, i, &target.node_path, &dir_host)
                .map_err(|e| backup_err(&target.node_path, e))?;
            let name = Path::new(&target.node_path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let temp_name = format!(".{name}.kubecert-{id}.tmp");
            let (action, after, temp) = match step {
                Step::Write { contents, mode, .. } => (
                    "write",
                    Recorded::File { mode: *mode, size: contents.bytes().len() as u64, sha256: sha256_hex(contents.bytes()), copy: None },
                    true,
                ),
                Step::Symlink { target: t, .. } => ("symlink", Recorded::Symlink { target: t.clone() }, true),
                Step::MoveAside { .. } => ("move-aside", Recorded::Absent, false),
            };
            let temp_host = temp.then(|| target.dir_host.join(crate::root::decode_name(&temp_name)));
            let temp_node = temp.then(|| sibling(&target.node_path, &temp_name));
            for d in &target.missing_dirs {
                if !created_dirs.iter().any(|(n, _)| n == &d.0) && !store.creates(&d.1) {
                    created_dirs.push(d.clone());
                }
            }
            let entry = Entry { node_path: target.node_path.clone(), action: action.into(), before, after, temp: temp_node };
            work.push(Work { step: step.clone(), target: target.clone(), temp_host, before_bytes, entry });
        }
        fsops::fsync_dir(&dir_host.join("files")).map_err(|e| backup_err(&dir_node, e))?;
        Ok(())
    })();
    let mut manifest = Manifest {
        version: 1,
        id: id.clone(),
        label: plan.label.clone(),
        created: store::now_rfc3339(),
        state: BackupState::Prepared,
        entries: work.iter().map(|w| w.entry.clone()).collect(),
        created_dirs: created_dirs.iter().map(|(n, _)| n.clone()).collect(),
        rollback_of: opts.rollback_of.clone(),
        rolled_back_by: None,
        error: None,
    };
    let result = result.and_then(|_| manifest.save(&dir_host).map_err(|e| backup_err(&format!("{dir_node}/{MANIFEST}"), e)));
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&dir_host);
        store.forget_created_root();
        return Err(e);
    }

    // Phase 2: new files written next to their targets. Still nothing on the node replaced.
    let staged = (|| -> Result<(), InstallError> {
        for (node, host) in &created_dirs {
            fsops::mkdir(host, 0o755).map_err(|e| InstallError::Stage { node_path: node.clone(), source: e })?;
        }
        for w in &work {
            let stage_err = |e| InstallError::Stage { node_path: w.target.node_path.clone(), source: e };
            let Some(temp) = &w.temp_host else { continue };
            fsops::remove_if_exists(temp).map_err(stage_err)?;
            match &w.step {
                Step::Write { contents, mode, .. } => {
                    fsops::write_new(temp, contents.bytes(), *mode).map_err(stage_err)?;
                    if let Ok(meta) = std::fs::metadata(&w.target.host) {
                        fsops::copy_owner(&meta, temp).map_err(stage_err)?;
                    }
                }
                Step::Symlink { target, .. } => fsops::symlink_new(target, temp).map_err(stage_err)?,
                Step::MoveAside { .. } => {}
            }
        }
        manifest.state = BackupState::Committing;
        manifest.save(&dir_host).map_err(|e| InstallError::Stage { node_path: format!("{dir_node}/{MANIFEST}"), source: e })
    })();
    if let Err(e) = staged {
        clean_leftovers(&work, &created_dirs);
        let _ = std::fs::remove_dir_all(&dir_host);
        store.forget_created_root();
        return Err(e);
    }

    // Phase 3: the switch, one atomic rename (or unlink) per target, in plan order.
    let mut committed = 0;
    let mut failure: Option<String> = None;
    for w in &work {
        let r = match (&w.step, &w.temp_host) {
            (Step::MoveAside { .. }, _) if w.entry.before == Recorded::Absent => Ok(()),
            (Step::MoveAside { .. }, _) => fsops::unlink(&w.target.host),
            (_, Some(temp)) => fsops::rename_over(temp, &w.target.host),
            (_, None) => Ok(()),
        };
        if let Err(e) = r {
            failure = Some(format!("cannot replace {}: {e}", w.target.node_path));
            break;
        }
        committed += 1;
    }
    if failure.is_none()
        && let Some(verify) = opts.verify
        && let Err(why) = verify(root)
    {
        failure = Some(format!("the installed files failed verification: {why}"));
        committed = work.len();
    }
    if failure.is_none() {
        manifest.state = BackupState::Complete;
        if let Err(e) = manifest.save(&dir_host) {
            failure = Some(format!("cannot record the finished install in {dir_node}/{MANIFEST}: {e}"));
            committed = work.len();
        }
    }
    if let Some(what) = failure {
        return Err(restore(&work[..committed], &work, &created_dirs, &mut manifest, &dir_host, &dir_node, what));
    }
    Ok(Applied { backup_id: id, backup_dir: dir_node, changes })
}

/// Reads what `host` holds and copies a regular file into the backup folder.
fn record_before(host: &Path, i: usize, node_path: &str, dir_host: &Path) -> std::io::Result<(Recorded, Option<Zeroizing<Vec<u8>>>)> {
    Ok(match super::resolve::state_of(host) {
        Current::Absent => (Recorded::Absent, None),
        Current::Symlink { target } => (Recorded::Symlink { target }, None),
        Current::File { .. } => {
            use std::os::unix::fs::PermissionsExt;
            let (bytes, meta) = fsops::read(host)?;
            let bytes = Zeroizing::new(bytes);
            let name = Path::new(node_path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let copy = format!("files/{i:02}-{name}");
            // Copies are 0600 whatever the original was: some hold private keys.
            fsops::write_new(&dir_host.join(&copy), &bytes, 0o600)?;
            let rec = Recorded::File {
                mode: meta.permissions().mode() & 0o7777,
                size: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
                copy: Some(copy),
            };
            (rec, Some(bytes))
        }
        Current::Directory | Current::Other => return Err(std::io::Error::other(format!("{node_path} is not a regular file"))),
    })
}

/// Puts back `done` (in reverse), removes temp files and created directories, records the outcome.
fn restore(
    done: &[Work],
    all: &[Work],
    created_dirs: &[(String, PathBuf)],
    manifest: &mut Manifest,
    dir_host: &Path,
    dir_node: &str,
    what: String,
) -> InstallError {
    let mut problems = Vec::new();
    for w in done.iter().rev() {
        if let Err(e) = put_back(w) {
            problems.push(format!("{}: {e}", w.target.node_path));
        }
    }
    clean_leftovers(all, created_dirs);
    manifest.state = if problems.is_empty() { BackupState::Restored } else { BackupState::Committing };
    manifest.error = Some(what.clone());
    let _ = manifest.save(dir_host);
    if problems.is_empty() {
        InstallError::RolledBack { what, id: manifest.id.clone() }
    } else {
        InstallError::RestoreFailed { what, restore_error: problems.join("; "), id: manifest.id.clone(), backup_dir: dir_node.to_string() }
    }
}

/// Restores one target to its before-state (atomically, through a temp next to it).
fn put_back(w: &Work) -> std::io::Result<()> {
    let name = Path::new(&w.target.node_path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = w.target.dir_host.join(format!(".{name}.kubecert-restore.tmp"));
    match &w.entry.before {
        Recorded::Absent => match fsops::remove_if_exists(&w.target.host) {
            Ok(()) => fsops::fsync_dir(&w.target.dir_host),
            Err(e) => Err(e),
        },
        Recorded::Symlink { target } => {
            fsops::remove_if_exists(&temp)?;
            fsops::symlink_new(target, &temp)?;
            fsops::rename_over(&temp, &w.target.host)
        }
        Recorded::File { mode, .. } => {
            let bytes = w.before_bytes.as_ref().ok_or_else(|| std::io::Error::other("the backup copy is not in memory"))?;
            fsops::remove_if_exists(&temp)?;
            fsops::write_new(&temp, bytes, *mode)?;
            if let Ok(meta) = std::fs::metadata(&w.target.host) {
                let _ = fsops::copy_owner(&meta, &temp);
            }
            fsops::rename_over(&temp, &w.target.host)
        }
    }
}

/// Removes temp files and the directories the install created (innermost first, only if empty).
fn clean_leftovers(work: &[Work], created_dirs: &[(String, PathBuf)]) {
    for w in work {
        if let Some(t) = &w.temp_host {
            let _ = fsops::remove_if_exists(t);
        }
    }
    for (_, host) in created_dirs.iter().rev() {
        let _ = std::fs::remove_dir(host);
    }
}

/// `/a/b/name` → `/a/b/<sibling>`.
fn sibling(node_path: &str, name: &str) -> String {
    match node_path.rfind('/') {
        Some(i) => format!("{}/{name}", &node_path[..i]),
        None => format!("/{name}"),
    }
}
