//! Running as a kubectl plugin: kubectl runs `kubectl-kubecert` (found on PATH, or krew's link
//! to it) for `kubectl kubecert ...`, with the executable's path as argv[0]. Help and errors
//! then name the command the user typed.

use std::ffi::OsStr;
use std::path::Path;

/// The command name help shows: `kubectl kubecert` when started through a `kubectl-kubecert`
/// file name (kubectl's plugin naming; krew links the same name), else None.
pub fn bin_name(argv0: Option<&OsStr>) -> Option<&'static str> {
    let file = Path::new(argv0?).file_name()?.to_str()?;
    (file == "kubectl-kubecert" || file == "kubectl-kubecert.exe").then_some("kubectl kubecert")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_plugin_only_under_its_plugin_name() {
        assert_eq!(bin_name(Some(OsStr::new("/root/.krew/bin/kubectl-kubecert"))), Some("kubectl kubecert"));
        assert_eq!(bin_name(Some(OsStr::new("kubectl-kubecert"))), Some("kubectl kubecert"));
        assert_eq!(bin_name(Some(OsStr::new("/usr/local/bin/kubecert"))), None);
        assert_eq!(bin_name(Some(OsStr::new("/x/kubectl-kubecert-old"))), None);
        assert_eq!(bin_name(None), None);
    }
}
