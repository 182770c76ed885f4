//! The node's file system seen from a root folder (`--root`, `/` on the node itself). Absolute
//! paths and absolute symlinks — the kubelet writes `kubelet-client-current.pem` as an absolute
//! link — resolve inside the root, never on the machine running kubecert. Reads are bounded in size
//! and in symlink hops, so a hostile or corrupt disk cannot make kubecert hang or exhaust memory.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// Symlink hops before a path counts as a loop (the Linux limit).
const MAX_HOPS: usize = 40;
/// The largest file kubecert reads: node certificate and config files are a few KiB.
pub const MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;

/// A node's root folder.
#[derive(Debug, Clone)]
pub struct NodeRoot {
    root: PathBuf,
}

/// Why a node file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ReadError {
    /// Nothing there. `dangling_link` names the link whose target is missing, if that is why.
    #[error("{}", match dangling_link { Some(l) => format!("{l} is a symlink to a file that does not exist"), None => "no such file".to_string() })]
    NotFound {
        /// The symlink (node path) that points nowhere.
        dangling_link: Option<String>,
    },
    /// Symlinks that never end.
    #[error("too many levels of symbolic links (a symlink loop)")]
    Loop,
    /// A directory or device where a file was expected.
    #[error("not a regular file")]
    NotAFile,
    /// Larger than any certificate or config file should be.
    #[error("the file is {size} bytes, larger than the {MAX_FILE_SIZE}-byte limit for a certificate or config file")]
    TooLarge {
        /// Its size.
        size: u64,
    },
    /// Permission denied or another I/O error.
    #[error("{0}")]
    Io(String),
}

/// A file read from the node.
#[derive(Debug, Clone)]
pub struct NodeFile {
    /// The node path asked for (e.g. `/var/lib/kubelet/pki/kubelet-client-current.pem`).
    pub node_path: String,
    /// The node path it resolved to after following links.
    pub resolved: String,
    /// True when the asked-for path itself is a symlink.
    pub is_symlink: bool,
    /// Where the asked-for symlink points, as written in the link.
    pub link_target: Option<String>,
    /// Permission bits of the final file.
    pub mode: u32,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl NodeRoot {
    /// A root at `dir`, which must be a readable directory.
    pub fn new(dir: impl AsRef<Path>) -> Result<Self, String> {
        let dir = dir.as_ref();
        let meta = fs::metadata(dir).map_err(|e| format!("cannot use {} as the node root: {e}", dir.display()))?;
        if !meta.is_dir() {
            return Err(format!("cannot use {} as the node root: not a directory", dir.display()));
        }
        fs::read_dir(dir).map_err(|e| format!("cannot read the node root {}: {e}", dir.display()))?;
        Ok(NodeRoot { root: dir.canonicalize().map_err(|e| format!("{}: {e}", dir.display()))? })
    }

    /// The host folder acting as `/`.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// True when the root is the machine's own `/`.
    pub fn is_host(&self) -> bool {
        self.root == Path::new("/")
    }

    /// Where a node path lies on the host, without following links.
    pub fn host_path(&self, node_path: &str) -> PathBuf {
        let mut p = self.root.clone();
        for c in Path::new(node_path).components() {
            if let Component::Normal(n) = c {
                p.push(n);
            }
        }
        p
    }

    /// Follows `node_path` through symlinks inside the root and returns the final node path.
    pub fn resolve(&self, node_path: &str) -> Result<String, ReadError> {
        let mut pending: Vec<String> = components(node_path).into_iter().rev().collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            if c == ".." {
                cur.pop();
                continue;
            }
            cur.push(c);
            let node = format!("/{}", cur.join("/"));
            let host = self.host_path(&node);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(ReadError::Loop);
                    }
                    let target = fs::read_link(&host).map_err(|e| ReadError::Io(e.to_string()))?;
                    let target = target.to_string_lossy().into_owned();
                    cur.pop();
                    if target.starts_with('/') {
                        cur.clear();
                    }
                    pending.extend(components(&target).into_iter().rev());
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let dangling = if hops > 0 { Some(node_path.to_string()) } else { None };
                    return Err(ReadError::NotFound { dangling_link: dangling });
                }
                Err(e) => return Err(ReadError::Io(e.to_string())),
            }
        }
        Ok(format!("/{}", cur.join("/")))
    }

    /// Does anything (file, dir, even a dangling link) exist at `node_path`?
    pub fn exists_lexically(&self, node_path: &str) -> bool {
        fs::symlink_metadata(self.host_path(node_path)).is_ok()
    }

    /// Reads a regular file at `node_path`, following links inside the root.
    pub fn read(&self, node_path: &str) -> Result<NodeFile, ReadError> {
        let lmeta = fs::symlink_metadata(self.host_path(node_path));
        let is_symlink = lmeta.as_ref().is_ok_and(|m| m.file_type().is_symlink());
        let link_target = if is_symlink { fs::read_link(self.host_path(node_path)).ok().map(|t| t.to_string_lossy().into_owned()) } else { None };
        let resolved = self.resolve(node_path)?;
        let host = self.host_path(&resolved);
        let meta = fs::metadata(&host).map_err(|e| ReadError::Io(e.to_string()))?;
        if !meta.is_file() {
            return Err(ReadError::NotAFile);
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(ReadError::TooLarge { size: meta.len() });
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        fs::File::open(&host)
            .and_then(|f| f.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes))
            .map_err(|e| ReadError::Io(e.to_string()))?;
        Ok(NodeFile { node_path: node_path.to_string(), resolved, is_symlink, link_target, mode: meta.permissions().mode() & 0o7777, bytes })
    }

    /// Lists the names in a node directory (empty when it does not exist).
    pub fn list_dir(&self, node_dir: &str) -> Vec<String> {
        let Ok(resolved) = self.resolve(node_dir) else { return Vec::new() };
        let mut names: Vec<String> = fs::read_dir(self.host_path(&resolved))
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn components(p: &str) -> Vec<String> {
    Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// Joins a possibly relative path from a file (a kubeconfig's `client-certificate`) to that file's
/// directory, as client-go does.
pub fn relative_to(file_node_path: &str, p: &str) -> String {
    if p.starts_with('/') {
        return p.to_string();
    }
    let dir = Path::new(file_node_path).parent().unwrap_or(Path::new("/"));
    dir.join(p).to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_links_resolve_inside_the_root_and_loops_end() {
        let d = tempfile::tempdir().unwrap();
        let pki = d.path().join("var/lib/kubelet/pki");
        fs::create_dir_all(&pki).unwrap();
        fs::write(pki.join("kubelet-client-2026.pem"), b"x").unwrap();
        symlink("/var/lib/kubelet/pki/kubelet-client-2026.pem", pki.join("kubelet-client-current.pem")).unwrap();
        symlink("a", pki.join("b")).unwrap();
        symlink("b", pki.join("a")).unwrap();
        symlink("/var/lib/kubelet/pki/gone.pem", pki.join("dangling.pem")).unwrap();
        let r = NodeRoot::new(d.path()).unwrap();
        let f = r.read("/var/lib/kubelet/pki/kubelet-client-current.pem").unwrap();
        assert_eq!(f.resolved, "/var/lib/kubelet/pki/kubelet-client-2026.pem");
        assert!(f.is_symlink);
        assert_eq!(r.read("/var/lib/kubelet/pki/a").unwrap_err(), ReadError::Loop);
        assert!(matches!(r.read("/var/lib/kubelet/pki/dangling.pem").unwrap_err(), ReadError::NotFound { dangling_link: Some(_) }));
        assert!(matches!(r.read("/var/lib/kubelet/pki").unwrap_err(), ReadError::NotAFile));
        // ".." cannot climb out of the root.
        assert_eq!(r.resolve("/../../var/lib/kubelet/pki/kubelet-client-2026.pem").unwrap(), "/var/lib/kubelet/pki/kubelet-client-2026.pem");
    }
}
