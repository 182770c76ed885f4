//! The one way kubecert opens a file: bounded, non-blocking, regular files only. A node tree may
//! come from a compromised disk and an argument may be a typo, so a FIFO must not hang kubecert, a
//! device or a sparse file must not exhaust its memory, `/proc/kmsg` must not be drained, and a
//! symlink planted where kubecert creates its own files must not lead it elsewhere.
//!
//! Every open is `O_NONBLOCK | O_CLOEXEC` (a FIFO opens at once instead of waiting for a writer),
//! is checked with `fstat` and `fstatfs` before a byte is read, and reads at most the limit plus one.

use crate::root::ReadError;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest file kubecert reads: node certificate, config and manifest files are a few KiB.
pub(crate) const MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;

/// Whether a final symlink is followed. Intermediate directories are the caller's business
/// ([`crate::NodeRoot`] resolves them inside the root first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Follow a final symlink (a path the operator named on the command line).
    Yes,
    /// Refuse a final symlink (a path already resolved inside the root, kubecert's own files).
    No,
}

fn flags(follow: Follow) -> i32 {
    let mut f = rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC | rustix::fs::OFlags::NOCTTY;
    if follow == Follow::No {
        f |= rustix::fs::OFlags::NOFOLLOW;
    }
    // The bits fit an i32: they are the kernel's open(2) flags.
    i32::try_from(f.bits()).unwrap_or(0)
}

/// Maps an open/read error to what it means for the operator.
pub(crate) fn read_error(e: &io::Error) -> ReadError {
    match e.kind() {
        io::ErrorKind::NotFound => ReadError::NotFound { dangling_link: None },
        io::ErrorKind::PermissionDenied => ReadError::PermissionDenied,
        _ if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => ReadError::Loop,
        _ => ReadError::Io(e.to_string()),
    }
}

/// Pseudo file systems whose files are not data: reading them blocks, drains a queue
/// (`/proc/kmsg`) or has side effects. Magic numbers from linux/magic.h.
const PSEUDO_FS: [u64; 12] = [
    0x9fa0,     // proc
    0x6265_6572, // sysfs
    0x6462_6720, // debugfs
    0x7472_6163, // tracefs
    0x7363_6673, // securityfs
    0x2_7e0eb,  // cgroup
    0x6367_7270, // cgroup2
    0xcafe_4a11, // bpf
    0x6265_6570, // configfs
    0x6165_676c, // pstore
    0xde5e_81e4, // efivarfs
    0x1cd1,     // devpts
];

/// Opens `path` for reading if it is a regular file on a real file system; returns it with its metadata.
pub fn open_regular(path: &Path, follow: Follow) -> Result<(File, Metadata), ReadError> {
    let f = OpenOptions::new().read(true).custom_flags(flags(follow)).open(path).map_err(|e| match read_error(&e) {
        // O_NOFOLLOW on a symlink fails with ELOOP: it is a link, not a loop.
        ReadError::Loop if follow == Follow::No && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) => {
            ReadError::Special { what: "symlink".into() }
        }
        other => other,
    })?;
    let meta = f.metadata().map_err(|e| read_error(&e))?;
    let t = meta.file_type();
    if t.is_dir() {
        return Err(ReadError::NotAFile);
    }
    if !t.is_file() {
        let kind = if t.is_fifo() {
            "FIFO"
        } else if t.is_char_device() || t.is_block_device() {
            "device"
        } else if t.is_socket() {
            "socket"
        } else {
            "special file"
        };
        return Err(ReadError::Special { what: kind.into() });
    }
    if rustix::fs::fstatfs(&f).is_ok_and(|st| is_pseudo(&st)) {
        return Err(ReadError::Special { what: "file on a pseudo file system (/proc, /sys)".into() });
    }
    Ok((f, meta))
}

fn is_pseudo(st: &rustix::fs::StatFs) -> bool {
    // f_type's integer type differs between architectures; the magic numbers are 32-bit.
    #[allow(clippy::unnecessary_cast, trivial_numeric_casts)]
    let magic = (st.f_type as i64 as u64) & 0xffff_ffff;
    PSEUDO_FS.contains(&magic)
}

/// True when the directory `dir` lies on a pseudo file system (/proc, /sys, ...): not to be walked.
pub(crate) fn is_pseudo_dir(dir: &Path) -> bool {
    rustix::fs::statfs(dir).is_ok_and(|st| is_pseudo(&st))
}

/// Reads a whole regular file of at most `limit` bytes (see the module doc).
pub(crate) fn read_regular(path: &Path, follow: Follow, limit: u64) -> Result<(Vec<u8>, Metadata), ReadError> {
    let (f, meta) = open_regular(path, follow)?;
    if meta.len() > limit {
        return Err(ReadError::TooLarge { size: meta.len(), limit });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    f.take(limit.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| read_error(&e))?;
    let got = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if got > limit {
        // The file grew while it was read (or its size lied).
        return Err(ReadError::TooLarge { size: got, limit });
    }
    Ok((bytes, meta))
}

/// Reads a file the operator named (`--ca-key`, `--csr`, `--file`), following links, bounded.
pub fn read_argument(path: &Path) -> Result<Vec<u8>, ReadError> {
    read_regular(path, Follow::Yes, MAX_FILE_SIZE).map(|(b, _)| b)
}

/// Opens (creating it 0600 if missing) a lock file, never through a symlink and never blocking
/// on a FIFO; anything but a regular file is refused.
pub(crate) fn open_lock(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).custom_flags(flags(Follow::No)).open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::other(format!("{} is not a regular file", path.display())));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifos_devices_links_and_big_files_are_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert_eq!(read_regular(&fifo, Follow::Yes, 10).unwrap_err(), ReadError::Special { what: "FIFO".into() });
        assert_eq!(read_regular(Path::new("/dev/zero"), Follow::Yes, 10).unwrap_err(), ReadError::Special { what: "device".into() });
        let big = d.path().join("big");
        File::create(&big).unwrap().set_len(1 << 30).unwrap();
        assert_eq!(read_regular(&big, Follow::Yes, 10).unwrap_err(), ReadError::TooLarge { size: 1 << 30, limit: 10 });
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&big, &link).unwrap();
        assert_eq!(read_regular(&link, Follow::No, 10).unwrap_err(), ReadError::Special { what: "symlink".into() });
        assert!(matches!(read_regular(Path::new("/proc/self/status"), Follow::Yes, 1 << 20).unwrap_err(), ReadError::Special { .. }));
        std::fs::write(d.path().join("ok"), b"hello").unwrap();
        assert_eq!(read_regular(&d.path().join("ok"), Follow::No, 5).unwrap().0, b"hello");
        // The lock: a FIFO is refused at once, a symlink is not followed.
        assert!(open_lock(&fifo).is_err());
        std::os::unix::fs::symlink(d.path().join("elsewhere"), d.path().join("lock")).unwrap();
        assert!(open_lock(&d.path().join("lock")).is_err());
        assert!(!d.path().join("elsewhere").exists());
    }
}
