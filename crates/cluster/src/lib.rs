//! Cluster-side jobs for node certificates, one module each, like kubeadm's phases:
//!
//! - [`client`]: a `kube::Client` from a kubeconfig, following kubectl's conventions;
//! - [`token`]: bootstrap tokens — format, generate, and the Secret kubeadm writes (create/list/delete);
//! - [`rbac`]: the bindings a TLS bootstrap needs, checked and created with kubeadm's names;
//! - [`jws`]: the detached HS256 signatures on `kube-public/cluster-info`;
//! - [`discovery`]: kubeadm-compatible token discovery with CA pinning (the node side);
//! - [`bootstrap_config`]: the bootstrap kubeconfig and the preflight that a TLS bootstrap can complete;
//! - [`csr`]: a node certificate through a CertificateSigningRequest (create, approve, wait).
//! - [`kubelet_tls`]: a kubelet's serving chain read over TLS without trusting it;
//! - [`scan`]: the whole cluster's certificate health (nodes, kubelets, CSRs, tokens, RBAC, clock).
//! - [`approve`]: a policy-checked approver for kubelet client and serving CSRs.
//! - [`exporter`]: Prometheus metrics of one node over HTTP, Node events, and the in-cluster client.
//! - [`lease`]: leader election on a coordination.k8s.io Lease (the approver's replicas).
//!
//! Functions take their client and inputs as arguments, return what they found or did, and print
//! nothing: the CLI renders.

#![deny(missing_docs)]

pub mod approve;
pub mod bootstrap_config;
pub mod client;
pub mod csr;
pub mod discovery;
mod error;
pub mod exporter;
pub mod jws;
pub mod kubelet_tls;
pub mod lease;
pub mod names;
mod micro_time;
pub mod rbac;
pub mod scan;
pub mod serving_status;
pub mod static_pods;
pub mod token;

pub use error::ApiError;
