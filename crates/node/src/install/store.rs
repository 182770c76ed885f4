//! The backup store on the node (`/var/lib/kubecert/backups` by default): one folder per install,
//! a lock so that two kubecert runs never interleave, and the start-up check that cleans up an
//! install that died before touching anything and refuses to go on after one that died half way.

use super::error::InstallError;
use super::fsops;
use super::manifest::{BackupState, Manifest, MANIFEST};
use crate::root::NodeRoot;
use std::cell::RefCell;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// The file kubecert writes first into every backup folder it makes: only folders holding it are
/// ever cleaned up, and only kubecert's own entries in them.
pub(crate) const MARKER: &str = ".kubecert-backup";
/// The marker's content.
pub(crate) const MARKER_TEXT: &[u8] = b"made by kubecert; removed with this folder\n";

/// The backup root of one node.
pub(crate) struct Store {
    node: String,
    host: PathBuf,
    created: RefCell<Vec<PathBuf>>,
}

/// Held while an install or rollback runs.
pub(crate) struct Lock(#[allow(dead_code)] File);

impl Store {
    /// The store at `node_dir` (need not exist yet).
    pub(crate) fn open(root: &NodeRoot, node_dir: &str) -> Result<Store, InstallError> {
        // The backup root is resolved like any other path: a symlinked /var/lib stays inside the root.
        let probe = super::plan::Step::MoveAside { node_path: format!("{node_dir}/{MANIFEST}") };
        let t = super::resolve::target_of(root, &probe)?;
        let host = t.dir_host.clone();
        let node = t.node_path.trim_end_matches(&format!("/{MANIFEST}")).to_string();
        let created = RefCell::new(Vec::new());
        let s = Store { node, host, created };
        s.created.borrow_mut().extend(t.missing_dirs.iter().map(|(_, h)| h.clone()));
        Ok(s)
    }

    /// Creates the backup root if missing: the store itself 0700 (backups hold keys), any
    /// missing parents 0755 like the rest of the node's directories.
    pub(crate) fn ensure_root(&self) -> std::io::Result<()> {
        for d in self.created.borrow().iter() {
            if fs::symlink_metadata(d).is_err() {
                match fsops::mkdir(d, if *d == self.host { 0o700 } else { 0o755 }) {
                    // Another kubecert run made it meanwhile (the lock lives inside it).
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    r => r?,
                }
            }
        }
        // Whatever appeared meanwhile, the store must be a real directory, not a symlink out.
        if !fs::symlink_metadata(&self.host).is_ok_and(|m| m.is_dir()) {
            return Err(std::io::Error::other(format!("{} is not a directory", self.node)));
        }
        Ok(())
    }

    /// Whether this run creates `host` for the store (a parent the store shares with a target:
    /// the target must neither create it again nor record it as its own).
    pub(crate) fn creates(&self, host: &Path) -> bool {
        self.created.borrow().iter().any(|d| d == host)
    }

    /// Removes the directories this run created for the store, if they are still empty.
    pub(crate) fn forget_created_root(&self) {
        let _ = fs::remove_file(self.host.join(".lock"));
        for d in self.created.borrow().iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }

    /// Takes the node's install lock (creating the store first).
    pub(crate) fn lock(&self) -> Result<Lock, InstallError> {
        let fail = |e| InstallError::Backup { node_path: self.node.clone(), backup_dir: self.node.clone(), source: e };
        self.ensure_root().map_err(|e| {
            self.forget_created_root();
            fail(e)
        })?;
        let path = self.host.join(".lock");
        let f = crate::hostfs::open_lock(&path).map_err(|e| {
            self.forget_created_root();
            fail(e)
        })?;
        match f.try_lock() {
            Ok(()) => Ok(Lock(f)),
            Err(fs::TryLockError::WouldBlock) => Err(InstallError::Locked(PathBuf::from(format!("{}/.lock", self.node)))),
            Err(fs::TryLockError::Error(e)) => Err(fail(e)),
        }
    }

    /// Cleans up after installs that died before replacing anything: backup folders kubecert
    /// made (its marker inside) without a manifest lose kubecert's own entries, and `prepared`
    /// ones have their temp files and new directories removed and are marked abandoned. Safe:
    /// such installs never changed a target; nothing is removed recursively.
    pub(crate) fn clean_abandoned(&self, root: &NodeRoot) {
        for (node_dir, m) in self.list() {
            let host_dir = self.host.join(node_dir.rsplit('/').next().unwrap_or_default());
            match m {
                Err(_) if fs::symlink_metadata(host_dir.join(MANIFEST)).is_err() && is_ours(&host_dir) => {
                    // Died while copying, before the manifest existed: nothing was changed.
                    remove_own_folder(&host_dir);
                }
                Err(_) if fs::symlink_metadata(host_dir.join(MANIFEST)).is_err() && looks_like_id(&node_dir) => {
                    // Died between making the folder and writing the marker: only an empty one goes.
                    let _ = fs::remove_dir(&host_dir);
                }
                Ok(mut m) if m.state == BackupState::Prepared => {
                    clean_prepared(root, &m);
                    m.state = BackupState::Abandoned;
                    let _ = m.save(&host_dir);
                }
                _ => {}
            }
        }
    }

    /// Before a new install: cleans up abandoned installs, and refuses to continue after one that
    /// died while replacing files (unless it is the one being undone).
    pub(crate) fn settle(&self, root: &NodeRoot, allow: Option<&str>) -> Result<(), InstallError> {
        self.clean_abandoned(root);
        for (_, m) in self.list() {
            if let Ok(m) = m
                && m.state == BackupState::Committing
                && Some(m.id.as_str()) != allow
            {
                return Err(InstallError::Interrupted { id: m.id, label: m.label });
            }
        }
        Ok(())
    }

    /// Every backup folder, oldest first, with its manifest (or why it cannot be read).
    pub(crate) fn list(&self) -> Vec<(String, Result<Manifest, InstallError>)> {
        let Ok(rd) = fs::read_dir(&self.host) else { return Vec::new() };
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut out: Vec<(String, Result<Manifest, InstallError>)> = names
            .into_iter()
            .map(|n| {
                let node_dir = format!("{}/{n}", self.node);
                let m = Manifest::load(&self.host.join(&n), &node_dir);
                (node_dir, m)
            })
            .collect();
        // Ids made in the same second differ only by their random suffix: order by the manifest's
        // creation time (nanoseconds), then by name.
        out.sort_by(|(a, ma), (b, mb)| {
            let when = |m: &Result<Manifest, InstallError>| {
                m.as_ref()
                    .ok()
                    .and_then(|m| time::OffsetDateTime::parse(&m.created, &time::format_description::well_known::Rfc3339).ok())
                    .map_or(0, |t| t.unix_timestamp_nanos())
            };
            let (ka, kb) = (when(ma), when(mb));
            ka.cmp(&kb).then_with(|| a.cmp(b))
        });
        out
    }

    /// True when the store's folder exists.
    pub(crate) fn exists(&self) -> bool {
        self.host.is_dir()
    }

    /// The host folder of backup `id`.
    pub(crate) fn host_dir(&self, id: &str) -> PathBuf {
        self.host.join(id)
    }

    /// The node path of the store.
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// A fresh backup id: UTC time plus a random suffix, so ids sort by time.
    pub(crate) fn new_id(&self) -> String {
        let now = time::OffsetDateTime::now_utc();
        let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
        let stamp = now.format(&fmt).unwrap_or_else(|_| "00000000-000000".into());
        let mut b = [0u8; 2];
        let _ = aws_lc_rs::rand::fill(&mut b);
        let mut id = format!("{stamp}-{:02x}{:02x}", b[0], b[1]);
        while self.host.join(&id).exists() {
            id.push('x');
        }
        id
    }
}

/// Removes what an install that died before its first replacement left: temp files and new,
/// empty directories. The manifest's paths are resolved inside the root like any node path (its
/// temp names were checked when it was loaded); the last component is never followed.
pub(crate) fn clean_prepared(root: &NodeRoot, m: &Manifest) {
    for e in &m.entries {
        if let Some(t) = &e.temp
            && let Ok(host) = root.confine(t)
        {
            let _ = fsops::remove_if_exists(&host);
        }
    }
    for d in m.created_dirs.iter().rev() {
        if let Ok(host) = root.confine(d) {
            // remove_dir: only an empty directory, and a symlink is not a directory.
            let _ = fs::remove_dir(host);
        }
    }
}

fn looks_like_id(node_dir: &str) -> bool {
    let name = node_dir.rsplit('/').next().unwrap_or("");
    name.len() >= 20 && name.as_bytes()[8] == b'-' && name[..8].bytes().all(|b| b.is_ascii_digit())
}

/// A folder kubecert made: a real directory holding its marker as a regular file.
fn is_ours(dir: &std::path::Path) -> bool {
    fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) && fs::symlink_metadata(dir.join(MARKER)).is_ok_and(|m| m.is_file())
}

/// Removes a half-made backup folder entry by entry: the copies in `files/`, the manifest's temp
/// file, the marker, then the (now empty) folders. Anything else keeps the folder in place.
fn remove_own_folder(dir: &std::path::Path) {
    let files = dir.join("files");
    if fs::symlink_metadata(&files).is_ok_and(|m| m.is_dir())
        && let Ok(rd) = fs::read_dir(&files)
    {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()) {
                let _ = fs::remove_file(e.path());
            }
        }
        let _ = fs::remove_dir(&files);
    }
    let _ = fsops::remove_if_exists(&dir.join(".manifest.json.tmp"));
    let _ = fsops::remove_if_exists(&dir.join(MARKER));
    let _ = fs::remove_dir(dir);
}

/// Now, RFC 3339 UTC.
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
