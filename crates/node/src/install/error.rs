//! The one error type of the install engine. Each variant says whether the node was left as it
//! was, so the CLI can tell the operator exactly where things stand. No variant carries file
//! contents (keys never reach an error).

use std::path::PathBuf;

/// Why an install, a rollback or a backup listing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The plan itself is wrong (relative path, a directory where a file should go, ...). Nothing was touched.
    #[error("invalid install plan: {0}")]
    InvalidPlan(String),
    /// Another kubecert install or rollback holds the lock on this node.
    #[error("another kubecert install or rollback is running on this node (lock {})", .0.display())]
    Locked(PathBuf),
    /// An earlier install stopped half way; its backup must be rolled back first.
    #[error(
        "an earlier install ({id}, {label:?}) was interrupted while it replaced files, so the node may hold a mix of old and new files; \
         nothing was changed now. Restore it first with `kubecert rollback --to {id}`"
    )]
    Interrupted {
        /// The interrupted backup's id.
        id: String,
        /// What that install was doing.
        label: String,
    },
    /// Could not make the backup; nothing on the node was changed (the partial backup was removed).
    #[error("cannot back up {node_path} into {backup_dir}; nothing was changed: {source}")]
    Backup {
        /// The file being backed up (or the backup folder itself).
        node_path: String,
        /// The backup folder (node path).
        backup_dir: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Could not write a new file next to its target; nothing on the node was changed.
    #[error("cannot write {node_path}; nothing was changed: {source}")]
    Stage {
        /// The file that could not be written.
        node_path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A step failed after files began to change; every changed file was restored from the backup.
    #[error("{what}; every file was restored to what it was before (backup {id} keeps the copies)")]
    RolledBack {
        /// What failed (a step's I/O error, or the verification after the install).
        what: String,
        /// The backup id.
        id: String,
    },
    /// A step failed and restoring the old files failed too: the worst case, spelled out.
    #[error(
        "{what}; restoring the old files then failed too ({restore_error}). The node may hold a mix of old and new files: \
         the originals are in {backup_dir}; run `kubecert rollback --to {id}` once the cause is fixed"
    )]
    RestoreFailed {
        /// What failed first.
        what: String,
        /// Why restoring failed.
        restore_error: String,
        /// The backup id.
        id: String,
        /// The backup folder (node path).
        backup_dir: String,
    },
    /// No backup matches.
    #[error("{0}")]
    NoBackup(String),
    /// The files changed since the backup's install; rolling back would throw those changes away.
    #[error(
        "files changed since backup {id} was made: {}; rolling back would discard those changes \
         (newer credentials, e.g. a kubelet rotation). Pass --force to roll back anyway", changed.join(", ")
    )]
    Drift {
        /// The backup id.
        id: String,
        /// What changed, one description per path.
        changed: Vec<String>,
    },
    /// A backup manifest that cannot be read.
    #[error("backup {path}: {detail}")]
    BadManifest {
        /// The manifest's node path.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Reading the node failed.
    #[error("cannot read {node_path}: {detail}")]
    Read {
        /// The node path.
        node_path: String,
        /// What went wrong.
        detail: String,
    },
}
