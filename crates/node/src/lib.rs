//! A Kubernetes node's certificate files: found the way the kubelet finds them, diagnosed by
//! independent rules into [`Finding`]s, explained from kubelet log lines, listed with their expiry,
//! and replaced safely. Synchronous file-system code only; no network.

pub mod finding;
pub mod install;
pub mod root;

pub use finding::{Finding, Severity};
pub use root::{NodeFile, NodeRoot, ReadError};
