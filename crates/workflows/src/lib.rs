//! kubecert's workflows: the decisions that combine a node (kubecert-node) and its cluster
//! (kubecert-cluster). Which findings a repair handles and which path it takes, how a kubelet
//! credential is issued offline (`sign`) or through a CSR (`csr`) and when an issued certificate
//! is accepted, how a bundle is written, how a node is made to bootstrap again, and the checks
//! before an install (node name, key/certificate pair). The CLI parses arguments, calls one of
//! these and renders the typed result.

#![deny(missing_docs)]

pub mod bootstrap;
mod bundle;
pub mod csr;
mod error;
pub mod install;
mod pair;
pub mod repair;
pub mod sign;
mod target;

pub use error::WorkflowError;
pub use install::{DoctorSummary, InstallOptions, InstallReport};
pub use target::Target;
