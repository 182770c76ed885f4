//! Installing new credentials on a node, safely: the one engine every repair path uses (new
//! certificate, bootstrap kubeconfig, rollback).
//!
//! A repair builds an [`InstallPlan`] — ordered [`Step`]s: write a file, point a symlink, move a
//! file aside — and [`apply`] executes it:
//!
//! 1. every path is resolved inside the root and checked (nothing is touched for a bad plan);
//! 2. each file that will be replaced or removed is copied into a fresh backup folder
//!    (`/var/lib/kubecert/backups/<id>/`, 0700, copies 0600) with a `manifest.json`;
//! 3. every new file is written next to its target as a temp file and fsynced;
//! 4. each target is switched by one `rename` (then the directory is fsynced), in plan order;
//! 5. an optional verification runs; any failure from 4 on restores every file from the backup.
//!
//! A crash at any point leaves either the untouched node (with leftovers the next run cleans) or a
//! manifest marked as interrupted, which [`rollback`] restores byte for byte. [`list_backups`]
//! lists them; [`InstallPlan::describe`] is the `--dry-run`.

mod credential;
mod engine;
mod error;
mod fault;
mod fsops;
mod manifest;
mod plan;
mod resolve;
mod rollback;
mod store;
#[cfg(test)]
mod tests;

pub use credential::{
    check_would_authenticate, plan_client_install, plan_serving_install, verify_client_install, ClientInstall, InstallStyle, InstalledCredentialError, NewCredential,
    WouldNotAuthenticate,
};
pub use engine::{apply, Applied, ApplyOptions, Verify, VerifyError};
pub use error::InstallError;
pub use manifest::{BackupState, Entry, Manifest, ManifestError, Recorded, DEFAULT_BACKUP_ROOT};
pub use plan::{Contents, InstallPlan, PlannedChange, Step};
pub use resolve::Current;
pub use rollback::{list_backups, plan_rollback, rollback, tidy, BackupInfo, RollbackPlan};
