//! The RBAC a TLS bootstrap needs, with kubeadm's names (`phases/bootstraptoken/node/tlsbootstrap.go`
//! and `clusterinfo.go`): checked object by object, checked as capabilities (SubjectAccessReviews,
//! which also see grants made under other names or by other authorizers), and created when asked.
//!
//! - [`catalog`]: the objects kubeadm creates, as it creates them;
//! - [`compare`]: each live object compared with the catalog (`check`), and completed (`ensure`);
//! - [`access`]: the same needs asked of the authorizer as access reviews.

pub mod access;
pub mod catalog;
pub mod compare;

pub use crate::names::{NODES_GROUP, NODE_BOOTSTRAPPER_ROLE, NODE_CLIENT_ROLE, SELF_NODE_CLIENT_ROLE};

/// kubeadm's object names.
pub use crate::names::kubeadm_rbac as names;

pub use access::{bootstrap_capabilities, Capability};
pub(crate) use access::renewals_auto_approved;
pub use catalog::Object;
pub use compare::{check, ensure, Action, Ensured, ObjectStatus, State};
