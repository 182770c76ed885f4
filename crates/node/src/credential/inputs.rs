//! The precedence's inputs, taken from a [`Snapshot`].

use super::precedence::{choose, Choice, Inputs, KubeconfigError, KubeconfigInput, Rotation};
use crate::snapshot::Snapshot;
use time::OffsetDateTime;

/// Is client rotation on? `None` when the layout's agent manages certificates (k3s, rke2) or the
/// KubeletConfiguration does not load (the kubelet will not start, so it neither rotates nor not).
pub fn rotation(snap: &Snapshot) -> Option<bool> {
    if snap.setup.layout.agent_managed() || config_error(snap).is_some() {
        return None;
    }
    let from_config = snap.kubelet_config.as_ref().and_then(|c| c.outcome.as_ref().ok()).and_then(|c| c.rotate_certificates);
    Some(snap.setup.rotate_flag.or(from_config).unwrap_or(false))
}

/// Why the kubelet cannot load the KubeletConfiguration its flags name.
pub(crate) fn config_error(snap: &Snapshot) -> Option<String> {
    let c = snap.kubelet_config.as_ref()?;
    let p = c.outcome.as_ref().err()?;
    // An absent default file is only a problem when the flags name it.
    let named_by_flags = snap.setup.args.iter().any(|a| a.starts_with("--config"));
    (!p.is_missing() || named_by_flags).then(|| format!("path: {}, error: {p}", c.path))
}

/// [`choose`] on the snapshot's inputs.
pub(crate) fn choose_for(snap: &Snapshot, now: OffsetDateTime) -> Choice {
    let kubeconfig = match &snap.kubeconfig.outcome {
        Ok(v) => match &v.rejected {
            Some(why) => Err(KubeconfigError::Rejected(why.clone())),
            None => {
                let (embedded, files) = match &v.client {
                    Some(c) if c.location.is_embedded() => (Some(c), None),
                    Some(c) => (None, Some(c)),
                    None => (None, None),
                };
                Ok(KubeconfigInput { files, embedded, tls_error: None, token: v.has_token })
            }
        },
        Err(p) => Err(KubeconfigError::Unloadable { path: snap.kubeconfig.path.clone(), problem: p.clone() }),
    };
    let inputs = Inputs {
        config_error: config_error(snap),
        client_ca_error: snap.client_ca_error.clone(),
        rotation: if rotation(snap) == Some(true) { Rotation::On } else { Rotation::Off },
        bootstrap: snap.bootstrap.as_ref().map(|b| b.outcome.as_ref().map(|_| ()).map_err(|p| KubeconfigError::Unloadable { path: b.path.clone(), problem: p.clone() })),
        kubeconfig,
        store: snap.cert_dir.store.as_ref(),
        cert_dir_pair: snap.cert_dir.pair.as_ref(),
        store_path: &format!("{}/kubelet-client-current.pem", snap.setup.cert_dir),
    };
    choose(&inputs, now)
}
