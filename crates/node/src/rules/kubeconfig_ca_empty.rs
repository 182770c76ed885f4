//! The kubelet's kubeconfig holds an empty CA. client-go loads it anyway, so the kubelet starts and
//! presents its certificate, then cannot verify the API server (shown with the real kubelet in
//! crates/cli/tests/kubelet_oracle.rs, states `kubeconfig-ca-data-empty` and `-file-empty`).

use super::Settings;
use crate::finding::{Finding, Severity};
use crate::snapshot::{EmptyCa, Snapshot};

/// `kubeconfig-ca-empty`.
pub fn check(snap: &Snapshot, _: &Settings) -> Vec<Finding> {
    let Ok(view) = &snap.kubeconfig.outcome else { return Vec::new() };
    let Some(empty) = &view.ca_empty else { return Vec::new() };
    let path = &snap.kubeconfig.path;
    let (seen, consequence) = match empty {
        EmptyCa::Data => (
            format!("{path}: certificate-authority-data is empty"),
            "verifies the API server against the system's trust store, so a cluster-signed API server certificate fails",
        ),
        EmptyCa::File(f) => (format!("{f} (certificate-authority of {path}) is empty"), "trusts no certificate at all, so every request to the API server fails"),
    };
    vec![
        Finding::new(
            crate::code!("kubeconfig-ca-empty"),
            Severity::Error,
            format!("the kubelet's kubeconfig {path} holds an empty CA: the kubelet starts but {consequence} with \"x509: certificate signed by unknown authority\""),
        )
        .evidence(seen)
        .fix(format!(
            "Put the cluster CA back: in {path} set `certificate-authority-data: $(base64 -w0 {ca})` (or point certificate-authority at {ca}), then restart the kubelet.",
            ca = snap.cluster_ca.path
        )),
    ]
}
