//! Issuing the new certificates and turning them into one install plan: for a PEM pair the key
//! (0600) then the certificate (0644), as kubeadm's WriteCertAndKey; for a kubeconfig the whole
//! file (0600) with the new client certificate and key and the current CA embedded.

use super::select::{Due, Old, Selection};
use super::error::{InstalledMismatch, KubeconfigEditError};
use super::{RenewError, RenewRequest, Renewed};
use crate::controlplane::catalog::{self, Location};
use crate::controlplane::{base64_pem, load_cert, load_embedded_kubeconfig, load_key};
use crate::install::{Contents, InstallPlan, Step};
use crate::root::NodeRoot;
use kubecert_config::{Kubeconfig, Secret};
use kubecert_pki::{Certificate, KeyType, PrivateKey};
use time::OffsetDateTime;

/// What the node must hold after the install: (catalog name, new certificate DER).
pub(super) type Expect = Vec<(&'static str, Vec<u8>)>;

pub(super) struct Issued {
    pub renewed: Vec<Renewed>,
    pub plan: InstallPlan,
    pub expect: Expect,
}

fn key_label(k: KeyType) -> &'static str {
    KeyType::ALL.iter().find(|(t, _)| *t == k).map(|(_, n)| *n).unwrap_or("?")
}

pub(super) fn issue_all(sel: &Selection, req: &RenewRequest) -> Result<Issued, RenewError> {
    let label = format!("renew {}", if req.names.is_empty() { "all".to_string() } else { req.names.join(" ") });
    let mut out = Issued { renewed: Vec::new(), plan: InstallPlan::new(label), expect: Vec::new() };
    for due in &sel.due {
        let name = due.entry.name;
        let pki = |source| RenewError::Pki { name: name.to_string(), source };
        let ca = &sel.cas[due.entry.ca];
        let old = due.old.cert();
        if let (Some(rc), Old::Kubeconfig(k)) = (&due.rotating, &due.old) {
            let bytes = point_at_rotating(&k.kubeconfig, ca.certificate()).map_err(|source| RenewError::Kubeconfig { path: due.entry.location.path().into(), source })?;
            out.plan.steps.push(Step::Write { node_path: due.entry.location.path().into(), contents: Contents::secret(bytes), mode: 0o600 });
            let key_type = format!("the kubelet's rotating certificate ({})", catalog::KUBELET_CLIENT_CURRENT);
            out.renewed.push(renewed(due, rc.info().not_after, false, key_type));
            continue;
        }
        // kubeadm makes a new key of the cluster's EncryptionAlgorithm; offline, the old key's type is that.
        let key_type = kubecert_pki::key_type_of(old).ok_or_else(|| {
            pki(kubecert_pki::PkiError::UnsupportedKey(format!("{} key of {name}", old.info().key)))
        })?;
        let key = PrivateKey::generate(key_type).map_err(pki)?;
        let cert = kubecert_pki::renew_like(ca, old, &key, due.not_before, due.not_after).map_err(pki)?;
        add_steps(&mut out.plan, due, &cert, &key, ca.certificate())?;
        out.renewed.push(renewed(due, cert.info().not_after, due.clamped, key_label(key_type).into()));
        out.expect.push((name, cert.der().to_vec()));
    }
    Ok(out)
}

/// The report line for `due`, whether it was re-issued or pointed at the rotating store.
fn renewed(due: &Due, new_expiration: OffsetDateTime, clamped_to_ca: bool, key_type: String) -> Renewed {
    Renewed {
        name: due.entry.name.into(),
        path: due.entry.location.path().into(),
        ca_name: due.entry.ca.into(),
        old_expiration: due.old.cert().info().not_after,
        new_expiration,
        clamped_to_ca,
        key_type,
    }
}

fn add_steps(plan: &mut InstallPlan, due: &Due, cert: &Certificate, key: &PrivateKey, ca: &Certificate) -> Result<(), RenewError> {
    let write = |node_path: String, contents, mode| Step::Write { node_path, contents, mode };
    match (&due.old, due.entry.location) {
        (Old::File(_), Location::File(p)) => {
            plan.steps.push(write(catalog::key_path(p), Contents::secret(key.to_pem_like_kubeadm().as_bytes()), 0o600));
            plan.steps.push(write(p.into(), Contents::public(cert.to_pem()), 0o644));
            Ok(())
        }
        (Old::Kubeconfig(k), Location::Kubeconfig(p)) => {
            let bytes = rewrite_kubeconfig(&k.kubeconfig, cert, key, ca).map_err(|source| RenewError::Kubeconfig { path: p.into(), source })?;
            plan.steps.push(write(p.into(), Contents::secret(bytes), 0o600));
            Ok(())
        }
        _ => Err(RenewError::Kubeconfig { path: due.entry.location.path().into(), source: KubeconfigEditError::KindMismatch }),
    }
}

/// kubeadm's kubeConfigReadWriter.Write: the current context's cluster gets the CA, its user the
/// new certificate and key; everything else is kept.
fn rewrite_kubeconfig(k: &Kubeconfig, cert: &Certificate, key: &PrivateKey, ca: &Certificate) -> Result<Vec<u8>, KubeconfigEditError> {
    edit_current(k, ca, |user| {
        user.client_certificate_data = Some(base64_pem(&cert.to_pem()));
        user.client_key_data = Some(Secret::new(base64_pem(&key.to_pem_like_kubeadm())));
    })
}

/// The kubeconfig with its current cluster's CA data set to `ca` and its current user changed by `f`.
fn edit_current(k: &Kubeconfig, ca: &Certificate, f: impl FnOnce(&mut kubecert_config::User)) -> Result<Vec<u8>, KubeconfigEditError> {
    let mut k = k.clone();
    let (cluster_name, user_name) = {
        let r = k.resolve(None)?;
        (r.cluster_name.to_string(), r.user_name.to_string())
    };
    let cluster = k.clusters.iter_mut().find(|c| c.name == cluster_name).ok_or(KubeconfigEditError::ClusterVanished)?;
    cluster.cluster.certificate_authority_data = Some(base64_pem(&ca.to_pem()));
    let user = k.users.iter_mut().find(|u| u.name == user_name).ok_or(KubeconfigEditError::UserVanished)?;
    f(&mut user.user);
    Ok(k.to_yaml()?.into_bytes())
}

/// kubeadm's kubelet-finalize: the current user's certificate and key become the kubelet's
/// rotating PEM (the kubelet renews it from then on); the CA data is refreshed.
fn point_at_rotating(k: &Kubeconfig, ca: &Certificate) -> Result<Vec<u8>, KubeconfigEditError> {
    edit_current(k, ca, |user| {
        user.client_certificate_data = None;
        user.client_key_data = None;
        user.client_certificate = Some(catalog::KUBELET_CLIENT_CURRENT.into());
        user.client_key = Some(catalog::KUBELET_CLIENT_CURRENT.into());
    })
}

/// After the switch: each renewed certificate is on disk with a key that matches it.
pub(super) fn verify(root: &NodeRoot, expect: &Expect) -> Result<(), InstalledMismatch> {
    for &(name, ref der) in expect {
        let entry = super::select::entry_of(name);
        let (cert, key) = match entry.location {
            Location::File(p) => (load_cert(root, p)?, load_key(root, &catalog::key_path(p))?),
            Location::Kubeconfig(p) => {
                let k = load_embedded_kubeconfig(root, p)?;
                let key = k.key.ok_or(InstalledMismatch::NoKey { path: p })??;
                (k.cert, key)
            }
        };
        if cert.der() != der.as_slice() {
            return Err(InstalledMismatch::NotWritten { name });
        }
        if !key.matches(&cert) {
            return Err(InstalledMismatch::KeyMismatch { name });
        }
    }
    Ok(())
}
