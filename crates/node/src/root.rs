//! The node's file system seen from a root folder (`--root`, `/` on the node itself). Absolute
//! paths and absolute symlinks — the kubelet writes `kubelet-client-current.pem` as an absolute
//! link — resolve inside the root, never on the machine running kubecert. Reads are bounded in size
//! and in symlink hops, so a hostile or corrupt disk cannot make kubecert hang or exhaust memory.

use crate::hostfs::{self, Follow};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

pub(crate) use crate::hostfs::MAX_FILE_SIZE;

/// Symlink hops before a path counts as a loop (the Linux limit).
const MAX_HOPS: usize = 40;

/// Where a walk through the tree ended.
enum Walked {
    /// Every component exists: the resolved node path.
    Whole(String),
    /// A component is missing: the resolved prefix, the names from the missing one on, links
    /// followed so far, and whether the missing part came from (or lies after) a link's target or `..`.
    Missing { prefix: String, rest: Vec<String>, hops: usize, through_link: bool },
}

/// A node's root folder.
#[derive(Debug, Clone)]
pub struct NodeRoot {
    root: PathBuf,
    /// Node paths this user was not allowed to read: kubecert's problem, not the node's.
    denied: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
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
    /// A directory where a file was expected.
    #[error("not a regular file")]
    NotAFile,
    /// A FIFO, device, socket, pseudo-file-system file, or a symlink where none may be: never read.
    #[error("not a regular file (a {what}); kubecert does not read it")]
    Special {
        /// What it is.
        what: String,
    },
    /// Larger than any certificate or config file should be.
    #[error("the file is {size} bytes, larger than the {limit}-byte limit for a certificate, config or backup file")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// kubecert may not read it: its own problem, not the node's.
    #[error("permission denied: unreadable by this user (run kubecert as root or with read access to it)")]
    PermissionDenied,
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

/// Why a folder cannot be used as a node root.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// It does not exist or cannot be looked at.
    #[error("cannot use {} as the node root: {error}", dir.display())]
    Unusable {
        /// The folder given.
        dir: std::path::PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// It is not a directory.
    #[error("cannot use {} as the node root: not a directory", dir.display())]
    NotADirectory {
        /// The folder given.
        dir: std::path::PathBuf,
    },
    /// Its entries cannot be listed.
    #[error("cannot read the node root {}: {error}", dir.display())]
    Unreadable {
        /// The folder given.
        dir: std::path::PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

impl NodeRoot {
    /// A root at `dir`, which must be a readable directory.
    pub fn new(dir: impl AsRef<Path>) -> Result<Self, RootError> {
        let dir = dir.as_ref();
        let at = |error| RootError::Unusable { dir: dir.to_path_buf(), error };
        let meta = fs::metadata(dir).map_err(at)?;
        if !meta.is_dir() {
            return Err(RootError::NotADirectory { dir: dir.to_path_buf() });
        }
        fs::read_dir(dir).map_err(|error| RootError::Unreadable { dir: dir.to_path_buf(), error })?;
        Ok(NodeRoot { root: dir.canonicalize().map_err(at)?, denied: Default::default() })
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
                p.push(decode_name(&n.to_string_lossy()));
            }
        }
        p
    }

    /// Follows `node_path` through symlinks inside the root and returns the final node path.
    pub fn resolve(&self, node_path: &str) -> Result<String, ReadError> {
        match self.walk(node_path, false)? {
            Walked::Whole(p) => Ok(p),
            Walked::Missing { hops, .. } => Err(ReadError::NotFound { dangling_link: (hops > 0).then(|| node_path.to_string()) }),
        }
    }

    /// Walks `node_path` component by component inside the root (`..` stops at the root, absolute
    /// link targets restart there); with `dirs_only`, every component must be a directory.
    fn walk(&self, node_path: &str, dirs_only: bool) -> Result<Walked, ReadError> {
        // (component, came from a symlink's target)
        let mut pending: Vec<(String, bool)> = components(node_path).into_iter().rev().map(|c| (c, false)).collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some((c, from_link)) = pending.pop() {
            if c == ".." {
                cur.pop();
                continue;
            }
            cur.push(c);
            let host = self.host_path(&format!("/{}", cur.join("/")));
            match fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(ReadError::Loop);
                    }
                    let target = encode_name(fs::read_link(&host).map_err(|e| ReadError::Io(e.to_string()))?.as_os_str());
                    cur.pop();
                    if target.starts_with('/') {
                        cur.clear();
                    }
                    pending.extend(components(&target).into_iter().rev().map(|c| (c, true)));
                }
                Ok(m) if dirs_only && !m.is_dir() => return Err(ReadError::NotAFile),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let through_link = from_link || pending.iter().any(|(c, l)| *l || c == "..");
                    let name = cur.pop().unwrap_or_default();
                    let rest = std::iter::once(name).chain(pending.into_iter().rev().map(|(c, _)| c)).collect();
                    return Ok(Walked::Missing { prefix: format!("/{}", cur.join("/")), rest, hops, through_link });
                }
                Err(e) => return Err(hostfs::read_error(&e)),
            }
        }
        Ok(Walked::Whole(format!("/{}", cur.join("/"))))
    }

    /// Does anything (file, dir, even a dangling link) exist at `node_path`?
    pub(crate) fn exists_lexically(&self, node_path: &str) -> bool {
        fs::symlink_metadata(self.host_path(node_path)).is_ok()
    }

    /// Reads a regular file at `node_path`, following links inside the root (bounded, see [`hostfs`]).
    pub fn read(&self, node_path: &str) -> Result<NodeFile, ReadError> {
        let r = self.read_inner(node_path);
        if matches!(r, Err(ReadError::PermissionDenied))
            && let Ok(mut d) = self.denied.lock()
            && !d.iter().any(|p| p == node_path)
        {
            d.push(node_path.to_string());
        }
        r
    }

    /// The node paths [`NodeRoot::read`] was refused permission to read so far.
    pub fn denied(&self) -> Vec<String> {
        self.denied.lock().map(|d| d.clone()).unwrap_or_default()
    }

    fn read_inner(&self, node_path: &str) -> Result<NodeFile, ReadError> {
        let lmeta = fs::symlink_metadata(self.host_path(node_path));
        let is_symlink = lmeta.as_ref().is_ok_and(|m| m.file_type().is_symlink());
        let link_target = if is_symlink { fs::read_link(self.host_path(node_path)).ok().map(|t| encode_name(t.as_os_str())) } else { None };
        let resolved = self.resolve(node_path)?;
        // Resolved: no symlink is left on the way, so a final one now would be a race — refused.
        let (bytes, meta) = hostfs::read_regular(&self.host_path(&resolved), Follow::No, MAX_FILE_SIZE)?;
        Ok(NodeFile { node_path: node_path.to_string(), resolved, is_symlink, link_target, mode: meta.permissions().mode() & 0o7777, bytes })
    }

    /// The host path of `node_path` with every directory on the way resolved inside the root; the
    /// final component is not followed (callers create, unlink or open it with no-follow
    /// semantics). The path for anything kubecert creates, removes or reads by a name it was given.
    pub fn confine(&self, node_path: &str) -> Result<PathBuf, ReadError> {
        let (parent, name) = split_last(node_path).ok_or(ReadError::NotAFile)?;
        let dir = self.resolve(&parent)?;
        let host = self.host_path(&dir);
        if !fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir()) {
            return Err(ReadError::NotAFile);
        }
        Ok(host.join(decode_name(&name)))
    }

    /// For creating `node_dir`: the longest prefix that exists, resolved inside the root, and the
    /// names still to create below it. A dangling symlink on the way is refused (creating through
    /// it would create wherever it points), as is anything but a directory.
    pub fn resolve_for_create(&self, node_dir: &str) -> Result<(String, Vec<String>), ReadError> {
        match self.walk(node_dir, true)? {
            Walked::Whole(p) => Ok((p, Vec::new())),
            Walked::Missing { through_link: true, .. } => Err(ReadError::NotFound { dangling_link: Some(node_dir.to_string()) }),
            Walked::Missing { prefix, rest, .. } => Ok((prefix, rest)),
        }
    }

    /// Lists the names in a node directory (empty when it does not exist).
    pub fn list_dir(&self, node_dir: &str) -> Vec<String> {
        let Ok(resolved) = self.resolve(node_dir) else { return Vec::new() };
        let mut names: Vec<String> = fs::read_dir(self.host_path(&resolved))
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| encode_name(&e.file_name())).collect())
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

/// The first of the 256 code points (the end of Supplementary Private Use Area-B) that stand for
/// the bytes of a file name that are not UTF-8: node paths are strings, and a name like
/// `kubelet-client-\xff.pem` must survive the round trip (listing, backup, rollback) byte for byte.
const RAW_BYTE_BASE: u32 = 0x10_FF00;

/// A file name (or link target) as a node-path string, losslessly (see [`RAW_BYTE_BASE`]).
pub fn encode_name(name: &std::ffi::OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for chunk in name.as_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.extend(char::from_u32(RAW_BYTE_BASE + u32::from(*b)));
        }
    }
    out
}

/// The host bytes of a node-path string made by [`encode_name`].
pub(crate) fn decode_name(s: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let mut bytes = Vec::with_capacity(s.len());
    for c in s.chars() {
        match u32::from(c).checked_sub(RAW_BYTE_BASE).and_then(|b| u8::try_from(b).ok()) {
            Some(b) => bytes.push(b),
            None => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    std::ffi::OsString::from_vec(bytes)
}

/// `/a/b/c` → (`/a/b`, `c`); none for the root itself or a name that is `..`.
fn split_last(node_path: &str) -> Option<(String, String)> {
    let mut parts = components(node_path);
    let name = parts.pop().filter(|n| n != "..")?;
    Some((format!("/{}", parts.join("/")), name))
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
        // A non-UTF-8 name survives listing and reading.
        let odd = pki.join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"kubelet-client-\xff.pem"));
        fs::write(&odd, b"y").unwrap();
        let name = r.list_dir("/var/lib/kubelet/pki").into_iter().find(|n| n.contains('\u{10ffff}')).unwrap();
        assert_eq!(r.read(&format!("/var/lib/kubelet/pki/{name}")).unwrap().bytes, b"y");
        assert_eq!(decode_name(&encode_name(odd.as_os_str())), odd.as_os_str());
        // ".." cannot climb out of the root.
        assert_eq!(r.resolve("/../../var/lib/kubelet/pki/kubelet-client-2026.pem").unwrap(), "/var/lib/kubelet/pki/kubelet-client-2026.pem");
    }
}
