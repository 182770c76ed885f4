//! Models of the files a kubelet reads — kubeconfigs, the KubeletConfiguration, systemd units and
//! environment files — parsed from bytes and written back, with secrets wrapped so that they never
//! reach a log. No file system access: the node crate reads, this crate understands.

#![deny(missing_docs)]

mod duration;
mod error;
mod kubeconfig;
mod kubelet_config;
pub mod kubelet_config_edit;
mod secret;
pub mod units;

pub use duration::{Duration, DurationError};
pub use error::ConfigError;
pub use kubeconfig::{Cluster, Context, Kubeconfig, NamedCluster, NamedContext, NamedUser, Resolved, User};
pub use kubelet_config::{Authentication, KubeletConfiguration, X509Authentication};
pub use secret::Secret;
