//! `kubecert serving renew`: the kubelet's self-signed serving certificate (`kubelet.crt`) is never
//! renewed (kubernetes#99418). The kubelet makes a new one at start when `kubelet.crt`/`kubelet.key`
//! cannot be read (cmd/kubelet/app/server.go `InitializeTLS`), so moving both aside — with a backup —
//! and restarting the kubelet renews it. What operators do by hand, with rollback.

use super::ServingError;
use crate::discover::{discover, Overrides};
use crate::install::InstallPlan;
use crate::root::NodeRoot;
use kubecert_pki::Certificate;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

/// Why the self-signed certificate is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RenewReason {
    /// Past its not-after.
    Expired,
    /// Expires within the window asked for.
    ExpiringSoon,
    /// Asked for by name (`--force`).
    Forced,
}

/// What `serving renew` will do.
#[derive(Debug)]
pub struct RenewPlan {
    /// `kubelet.crt` (node path).
    pub cert_path: String,
    /// `kubelet.key` (node path).
    pub key_path: String,
    /// The certificate's not-after.
    pub not_after: OffsetDateTime,
    /// Why.
    pub reason: RenewReason,
    /// Move both aside.
    pub install: InstallPlan,
    /// What stays true after the renewal (a new self-signed certificate still has no IP SANs).
    pub notes: Vec<String>,
}

/// Plans moving the kubelet's self-signed serving certificate aside.
pub fn plan_renew(root: &NodeRoot, ov: &Overrides, now: OffsetDateTime, within: Duration, force: bool) -> Result<RenewPlan, ServingError> {
    let setup = discover(root, ov);
    if setup.layout.agent_managed() {
        return Err(ServingError::AgentManaged(setup.layout));
    }
    let cfg = setup.config.as_deref().and_then(|p| root.read(p).ok()).and_then(|f| kubecert_config::KubeletConfiguration::parse(&f.bytes).ok());
    if let Some(cfg) = &cfg {
        if cfg.server_tls_bootstrap == Some(true) {
            return Err(ServingError::NothingToDo(
                "serverTLSBootstrap is on: the kubelet requests and rotates a cluster-signed serving certificate itself (kubelet-server-current.pem); if it is stuck, its kubelet-serving CSR needs approving: `kubecert approve`".into(),
            ));
        }
        if let Some(p) = &cfg.tls_cert_file {
            return Err(ServingError::NothingToDo(format!("the kubelet serves the certificate its configuration names (tlsCertFile: {p}); whoever provides that file renews it")));
        }
    }
    let cert_path = format!("{}/kubelet.crt", setup.cert_dir);
    let key_path = format!("{}/kubelet.key", setup.cert_dir);
    let file = root.read(&cert_path).map_err(|source| ServingError::Read { path: cert_path.clone(), source })?;
    let cert: Certificate = kubecert_pki::load_certificates(&file.bytes)
        .ok()
        .and_then(|c| c.into_iter().next())
        .ok_or_else(|| ServingError::NothingToDo(format!("{cert_path} holds no certificate; the kubelet will refuse to start with it: move it and {key_path} aside by hand")))?;
    let info = cert.info();
    let reason = if now > info.not_after {
        RenewReason::Expired
    } else if info.not_after - now < within {
        RenewReason::ExpiringSoon
    } else if force {
        RenewReason::Forced
    } else {
        return Err(ServingError::NothingToDo(format!(
            "{cert_path} is valid until {} (more than the window away); nothing to renew (--force renews anyway)",
            info.not_after.date()
        )));
    };
    let mut notes = vec![];
    if !info.self_issued {
        notes.push(format!("{cert_path} is not self-signed (issuer {:?}); the kubelet will replace it with a self-signed one", info.issuer));
    }
    notes.push("the kubelet's new self-signed certificate names only its host name (no IP SANs) and is not trusted by the cluster CA: `kubecert serving enable` (cluster-signed, rotating) is the lasting fix".into());
    let install = InstallPlan::new("serving renew").move_aside(cert_path.clone()).move_aside(key_path.clone());
    Ok(RenewPlan { cert_path, key_path, not_after: info.not_after, reason, install, notes })
}
