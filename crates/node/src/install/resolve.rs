//! Where a step lands on the host: its parent directory resolved inside the root (a symlinked
//! `/etc/kubernetes` must not lead out of `--root`), the directories still to create, and what
//! is there now.

use super::error::InstallError;
use super::plan::Step;
use crate::root::{NodeRoot, ReadError};
use serde::Serialize;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// What a path holds before the install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Current {
    /// Nothing.
    Absent,
    /// A regular file.
    File {
        /// Permission bits, octal.
        mode: String,
        /// Size in bytes.
        size: u64,
    },
    /// A symlink.
    Symlink {
        /// Where it points, as written.
        target: String,
    },
    /// A directory (a plan may not replace one).
    Directory,
    /// A device, socket or fifo.
    Other,
}

impl std::fmt::Display for Current {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Current::Absent => f.write_str("absent"),
            Current::File { mode, size } => write!(f, "file, mode {mode}, {size} bytes"),
            Current::Symlink { target } => write!(f, "symlink -> {target}"),
            Current::Directory => f.write_str("a directory"),
            Current::Other => f.write_str("not a regular file"),
        }
    }
}

/// A step's landing place.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The node path acted on (a write through a symlink acts on the link's target).
    pub node_path: String,
    /// Its host path.
    pub host: PathBuf,
    /// The host path of its (resolved) parent directory.
    pub dir_host: PathBuf,
    /// Directories to create first, outermost first, as (node path, host path).
    pub missing_dirs: Vec<(String, PathBuf)>,
    /// What is there now.
    pub current: Current,
}

/// Lexically normalises an absolute node path; refuses relative paths and `..`.
pub(crate) fn normalise(node_path: &str) -> Result<String, InstallError> {
    if !node_path.starts_with('/') {
        return Err(InstallError::InvalidPlan(format!("{node_path:?} is not an absolute node path")));
    }
    let mut parts = Vec::new();
    for c in Path::new(node_path).components() {
        match c {
            Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(InstallError::InvalidPlan(format!("{node_path:?} contains '..'")));
            }
        }
    }
    if parts.is_empty() {
        return Err(InstallError::InvalidPlan("the node root itself cannot be replaced".into()));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// What is at `host` now, not following a final symlink.
pub(crate) fn state_of(host: &Path) -> Current {
    match fs::symlink_metadata(host) {
        Err(_) => Current::Absent,
        Ok(m) if m.file_type().is_symlink() => Current::Symlink {
            target: fs::read_link(host).map(|t| crate::root::encode_name(t.as_os_str())).unwrap_or_default(),
        },
        Ok(m) if m.is_file() => Current::File { mode: format!("{:04o}", m.permissions().mode() & 0o7777), size: m.len() },
        Ok(m) if m.is_dir() => Current::Directory,
        Ok(_) => Current::Other,
    }
}

/// Resolves the directory `node_dir` inside the root; returns its resolved node path and the
/// trailing components that do not exist yet (a dangling symlink on the way is refused).
fn resolve_dir(root: &NodeRoot, node_dir: &str) -> Result<(String, Vec<String>), InstallError> {
    match root.resolve_for_create(node_dir) {
        Ok(r) => Ok(r),
        Err(ReadError::NotAFile) => Err(InstallError::InvalidPlan(format!("{node_dir} is not a directory"))),
        Err(ReadError::NotFound { .. }) => Err(InstallError::InvalidPlan(format!(
            "{node_dir} runs through a symlink to a directory that does not exist inside the root; kubecert does not create through it"
        ))),
        Err(e) => Err(InstallError::Read { node_path: node_dir.to_string(), detail: e.to_string() }),
    }
}

/// Where `step` lands.
pub(crate) fn target_of(root: &NodeRoot, step: &Step) -> Result<Target, InstallError> {
    let node_path = normalise(step.node_path())?;
    let (parent, name) = split(&node_path);
    let (dir, missing) = resolve_dir(root, parent)?;
    let mut lexical = join(&dir, &missing, name);
    let mut host = root.host_path(&lexical);
    let mut current = state_of(&host);
    if let (Step::Write { .. }, Current::Symlink { target }) = (step, &current) {
        // Write through the link: the node keeps its layout (e.g. worker.pem -> a versioned file).
        match root.resolve(&lexical) {
            Ok(resolved) => {
                lexical = resolved;
                host = root.host_path(&lexical);
                current = state_of(&host);
            }
            Err(_) => {
                return Err(InstallError::InvalidPlan(format!(
                    "{node_path} is a symlink to {target}, which does not exist; remove the link or write the target instead"
                )))
            }
        }
    }
    if matches!(current, Current::Directory | Current::Other) {
        return Err(InstallError::InvalidPlan(format!("{lexical} is {current}, not a file kubecert may replace")));
    }
    let dir_host = host.parent().map(Path::to_path_buf).unwrap_or_else(|| root.dir().to_path_buf());
    let mut missing_dirs = Vec::new();
    let mut acc = dir.clone();
    for m in &missing {
        acc = if acc == "/" { format!("/{m}") } else { format!("{acc}/{m}") };
        missing_dirs.push((acc.clone(), root.host_path(&acc)));
    }
    Ok(Target { node_path: lexical, host, dir_host, missing_dirs, current })
}

/// For descriptions: the node path a step acts on and what is there now (errors shown as absent).
pub(crate) fn current_state(root: &NodeRoot, step: &Step) -> (String, Current) {
    match target_of(root, step) {
        Ok(t) => (t.node_path, t.current),
        Err(_) => (step.node_path().to_string(), root.confine(step.node_path()).map_or(Current::Absent, |h| state_of(&h))),
    }
}

fn split(node_path: &str) -> (&str, &str) {
    match node_path.rfind('/') {
        Some(0) => ("/", &node_path[1..]),
        Some(i) => (&node_path[..i], &node_path[i + 1..]),
        None => ("/", node_path),
    }
}

fn join(dir: &str, missing: &[String], name: &str) -> String {
    let mut p = dir.trim_end_matches('/').to_string();
    for m in missing {
        p.push('/');
        p.push_str(m);
    }
    p.push('/');
    p.push_str(name);
    p
}
