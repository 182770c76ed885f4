//! The file-system primitives of the engine, each a single durable step: write a new file
//! (create, write, fsync), rename over a target and fsync the directory, replace a symlink
//! atomically, unlink, make a directory. Every one passes a fault point first (see `fault`).

use super::fault::point;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `path` (which must not exist) with exactly `mode`, writes `bytes`, fsyncs it.
pub(crate) fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    point(&format!("create {}", path.display()));
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    // The umask must not weaken or strengthen the mode the plan asked for.
    f.set_permissions(fs::Permissions::from_mode(mode))?;
    let half = bytes.len() / 2;
    f.write_all(&bytes[..half])?;
    // A crash here leaves a torn temp file, which is never renamed into place.
    point(&format!("write second half of {}", path.display()));
    f.write_all(&bytes[half..])?;
    point(&format!("fsync {}", path.display()));
    f.sync_all()
}

/// Copies ownership of `from` onto `to` (root replacing a file keeps its owner).
pub(crate) fn copy_owner(from: &fs::Metadata, to: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    std::os::unix::fs::lchown(to, Some(from.uid()), Some(from.gid()))
}

/// Creates the symlink `path -> target` (`path` must not exist).
pub(crate) fn symlink_new(target: &str, path: &Path) -> io::Result<()> {
    point(&format!("symlink {} -> {target}", path.display()));
    // Node strings carry non-UTF-8 bytes encoded (root::encode_name): the link gets the real bytes.
    std::os::unix::fs::symlink(crate::root::decode_name(target), path)
}

/// Renames `from` over `to` (same directory): the atomic switch. Then fsyncs the directory.
pub(crate) fn rename_over(from: &Path, to: &Path) -> io::Result<()> {
    point(&format!("rename {} -> {}", from.display(), to.display()));
    fs::rename(from, to)?;
    fsync_dir(to.parent().unwrap_or(Path::new("/")))
}

/// Removes a file or symlink (not following it), then fsyncs its directory.
pub(crate) fn unlink(path: &Path) -> io::Result<()> {
    point(&format!("unlink {}", path.display()));
    fs::remove_file(path)?;
    fsync_dir(path.parent().unwrap_or(Path::new("/")))
}

/// Removes a file if it exists (cleanup of temp files; no fsync needed for correctness).
pub(crate) fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(_) => {
            point(&format!("remove {}", path.display()));
            fs::remove_file(path)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Makes one directory with `mode`, then fsyncs its parent.
pub(crate) fn mkdir(path: &Path, mode: u32) -> io::Result<()> {
    point(&format!("mkdir {}", path.display()));
    fs::create_dir(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    fsync_dir(path.parent().unwrap_or(Path::new("/")))
}

/// Flushes a directory's entries (new names, renames, removals) to disk.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    point(&format!("fsync dir {}", dir.display()));
    File::open(dir)?.sync_all()
}

/// Reads a whole small regular file, not following a final symlink, bounded (see `hostfs`).
pub(crate) fn read(path: &Path) -> io::Result<(Vec<u8>, fs::Metadata)> {
    crate::hostfs::read_regular(path, crate::hostfs::Follow::No, crate::hostfs::MAX_FILE_SIZE).map_err(io::Error::other)
}
