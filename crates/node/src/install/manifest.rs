//! The backup folder's manifest: what an install changed, what each path held before (with a copy
//! of every file) and after, and how far the install got. Written atomically before the first
//! change and after each phase, so that a crash at any point leaves a manifest that says what to
//! restore. Holds no file contents — only hashes, modes and link targets.

use super::error::InstallError;
use super::fsops;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where backups go on the node unless told otherwise.
pub const DEFAULT_BACKUP_ROOT: &str = "/var/lib/kubecert/backups";
/// The manifest's file name inside a backup folder.
pub(crate) const MANIFEST: &str = "manifest.json";

/// How far an install got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupState {
    /// Copies made, new files being written next to their targets; nothing on the node replaced yet.
    Prepared,
    /// Targets being replaced one by one: an install that stopped here must be rolled back.
    Committing,
    /// Installed and verified.
    Complete,
    /// A step or the verification failed and every file was restored automatically.
    Restored,
    /// Undone later by `kubecert rollback`.
    RolledBack,
    /// Stopped before any target was replaced; its leftovers were cleaned up.
    Abandoned,
}

impl std::fmt::Display for BackupState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackupState::Prepared => "prepared (interrupted before any change)",
            BackupState::Committing => "INTERRUPTED (roll back)",
            BackupState::Complete => "complete",
            BackupState::Restored => "failed, restored",
            BackupState::RolledBack => "rolled back",
            BackupState::Abandoned => "abandoned, nothing changed",
        })
    }
}

/// A path's state, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Recorded {
    /// Nothing there.
    Absent,
    /// A regular file.
    File {
        /// Permission bits.
        mode: u32,
        /// Size.
        size: u64,
        /// SHA-256, hex.
        sha256: String,
        /// The copy's file name inside the backup folder (before-states only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        copy: Option<String>,
    },
    /// A symlink.
    Symlink {
        /// Its target as written.
        target: String,
    },
}

/// One changed path.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The node path (after following a symlink for writes).
    pub node_path: String,
    /// `write`, `symlink` or `move-aside`.
    pub action: String,
    /// What it held before.
    pub before: Recorded,
    /// What the install puts there.
    pub after: Recorded,
    /// The temp file written next to it (node path), removed by cleanup and rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temp: Option<String>,
}

/// A backup folder's manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version (1).
    pub version: u32,
    /// The folder name, unique on the node.
    pub id: String,
    /// What the install was (e.g. `sign --node n2`).
    pub label: String,
    /// When it began (RFC 3339, UTC).
    pub created: String,
    /// How far it got.
    pub state: BackupState,
    /// Changed paths, in install order.
    pub entries: Vec<Entry>,
    /// Directories the install created (node paths, outermost first).
    #[serde(default)]
    pub created_dirs: Vec<String>,
    /// The backup this install rolled back, if it was a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
    /// The rollback that undid this install.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_by: Option<String>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Manifest {
    /// Writes the manifest into `dir` atomically (temp file, fsync, rename, fsync dir).
    pub(crate) fn save(&self, dir: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let tmp = dir.join(".manifest.json.tmp");
        fsops::remove_if_exists(&tmp)?;
        fsops::write_new(&tmp, &json, 0o600)?;
        fsops::rename_over(&tmp, &dir.join(MANIFEST))
    }

    /// Reads the manifest in `dir` (node path `node_dir`, for errors).
    pub(crate) fn load(dir: &Path, node_dir: &str) -> Result<Manifest, InstallError> {
        let path = format!("{node_dir}/{MANIFEST}");
        let (bytes, _) = fsops::read(&dir.join(MANIFEST)).map_err(|e| InstallError::BadManifest { path: path.clone(), detail: e.to_string() })?;
        let folder = node_dir.rsplit('/').next().unwrap_or_default();
        Manifest::parse(&bytes, folder).map_err(|e| InstallError::BadManifest { path, detail: e.to_string() })
    }

    /// Parses and checks a manifest found in the backup folder named `folder`. A manifest is as
    /// untrusted as the rest of the tree: its id must be its folder's name, every node path
    /// absolute without `..`, every copy a plain name inside the folder's `files/`, every temp
    /// file a kubecert temp name next to its entry.
    pub fn parse(bytes: &[u8], folder: &str) -> Result<Manifest, ManifestError> {
        use ManifestError as E;
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| E::Json(e.to_string()))?;
        if m.version != 1 {
            return Err(E::Version(m.version));
        }
        if m.id != folder {
            return Err(E::Id { id: m.id, folder: folder.to_string() });
        }
        let node_path = |p: &str| -> Result<(), ManifestError> {
            let bad = !p.starts_with('/') || p.split('/').any(|c| c == "..") || p.contains('\0') || p == "/";
            if bad { Err(E::NodePath(p.to_string())) } else { Ok(()) }
        };
        for e in &m.entries {
            node_path(&e.node_path)?;
            if let Recorded::File { copy: Some(c), .. } = &e.before {
                let name = c.strip_prefix("files/").unwrap_or_default();
                if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                    return Err(E::Copy { copy: c.clone(), node_path: e.node_path.clone() });
                }
            }
            if let Some(t) = &e.temp {
                node_path(t)?;
                let (dir, name) = (parent_of(&e.node_path), e.node_path.rsplit('/').next().unwrap_or_default());
                if parent_of(t) != dir || t.rsplit('/').next() != Some(&format!(".{name}.kubecert-{}.tmp", m.id)) {
                    return Err(E::Temp { temp: t.clone(), node_path: e.node_path.clone() });
                }
            }
        }
        for d in &m.created_dirs {
            node_path(d)?;
        }
        Ok(m)
    }
}

/// Why a backup manifest is refused (it is as untrusted as the rest of the node's tree).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not the manifest's JSON.
    #[error("{0}")]
    Json(String),
    /// A version this kubecert does not know.
    #[error("unknown manifest version {0}")]
    Version(u32),
    /// The id is not the folder's name.
    #[error("the manifest's id {id:?} is not its folder's name {folder:?}")]
    Id {
        /// The manifest's id.
        id: String,
        /// The folder.
        folder: String,
    },
    /// A node path that is relative or climbs.
    #[error("{0:?} is not an absolute node path without '..'")]
    NodePath(String),
    /// A backup copy outside the folder.
    #[error("the backup copy {copy:?} of {node_path} is not a file inside the backup folder")]
    Copy {
        /// The copy as named.
        copy: String,
        /// Its entry.
        node_path: String,
    },
    /// A temp file that is not kubecert's.
    #[error("the temp file {temp:?} is not kubecert's temp file for {node_path}")]
    Temp {
        /// The temp file as named.
        temp: String,
        /// Its entry.
        node_path: String,
    },
}

fn parent_of(p: &str) -> &str {
    p.rfind('/').map_or("/", |i| &p[..i])
}

/// SHA-256 of `bytes`, hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}
