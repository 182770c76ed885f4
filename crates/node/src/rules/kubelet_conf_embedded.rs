//! Control plane: kubelet.conf embeds its client certificate instead of pointing at
//! `kubelet-client-current.pem`, so the kubelet's rotation never replaces it: on the first
//! control-plane node of clusters made before kubeadm 1.17 (or without kubelet-finalize) the
//! kubelet dies on the certificate's birthday (kubeadm#2054).

use super::{date, Settings};
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;

/// `kubelet-conf-embedded-cert`.
pub fn check(snap: &Snapshot, _: &Settings) -> Vec<Finding> {
    let Some(cp) = &snap.control_plane else { return Vec::new() };
    let Some(cert) = &cp.kubelet_conf_embedded else { return Vec::new() };
    vec![
        Finding::new(crate::code!("kubelet-conf-embedded-cert"), Severity::Warning, format!("kubelet.conf embeds a client certificate that rotation will not replace (expires {})", date(cert.info().not_after)))
            .evidence(format!("/etc/kubernetes/kubelet.conf: client-certificate-data {:?}", cert.info().subject))
            .fix("Point it at the rotating file, as kubeadm does: `kubeadm init phase kubelet-finalize enable-client-cert-rotation` (needs /var/lib/kubelet/pki/kubelet-client-current.pem), then restart the kubelet."),
    ]
}
