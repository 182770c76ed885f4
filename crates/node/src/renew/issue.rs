//! Issuing the new certificates and turning them into one install plan: for a PEM pair the key
//! (0600) then the certificate (0644), as kubeadm's WriteCertAndKey; for a kubeconfig the whole
//! file (0600) with the new client certificate and key and the current CA embedded.

use super::select::{Due, Old, Selection};
use super::{RenewError, RenewRequest, Renewed};
use crate::controlplane::catalog::{self, Location};
use crate::controlplane::{base64_pem, load_cert, load_embedded_kubeconfig, load_key};
use crate::install::{Contents, InstallPlan, Step};
use crate::root::NodeRoot;
use kubecert_config::{Kubeconfig, Secret};
use kubecert_pki::{Certificate, KeyType, PrivateKey};

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
            let bytes = point_at_rotating(&k.kubeconfig, ca.certificate()).map_err(|detail| RenewError::Kubeconfig { path: due.entry.location.path().into(), detail })?;
            out.plan.steps.push(Step::Write { node_path: due.entry.location.path().into(), contents: Contents::secret(bytes), mode: 0o600 });
            out.renewed.push(Renewed {
                name: name.into(),
                path: due.entry.location.path().into(),
                ca_name: due.entry.ca.into(),
                old_expiration: old.info().not_after,
                new_expiration: rc.info().not_after,
                clamped_to_ca: false,
                key_type: format!("the kubelet's rotating certificate ({})", catalog::KUBELET_CLIENT_CURRENT),
            });
            continue;
        }
        // kubeadm makes a new key of the cluster's EncryptionAlgorithm; offline, the old key's type is that.
        let key_type = kubecert_pki::key_type_of(old).ok_or_else(|| {
            pki(kubecert_pki::PkiError::UnsupportedKey(format!("{} key of {name}", old.info().key)))
        })?;
        let key = PrivateKey::generate(key_type).map_err(pki)?;
        let cert = kubecert_pki::renew_like(ca, old, &key, due.not_before, due.not_after).map_err(pki)?;
        add_steps(&mut out.plan, due, &cert, &key, ca.certificate())?;
        out.renewed.push(Renewed {
            name: name.into(),
            path: due.entry.location.path().into(),
            ca_name: due.entry.ca.into(),
            old_expiration: old.info().not_after,
            new_expiration: cert.info().not_after,
            clamped_to_ca: due.clamped,
            key_type: key_label(key_type).into(),
        });
        out.expect.push((name, cert.der().to_vec()));
    }
    Ok(out)
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
            let bytes = rewrite_kubeconfig(&k.kubeconfig, cert, key, ca).map_err(|detail| RenewError::Kubeconfig { path: p.into(), detail })?;
            plan.steps.push(write(p.into(), Contents::secret(bytes), 0o600));
            Ok(())
        }
        _ => Err(RenewError::Kubeconfig { path: due.entry.location.path().into(), detail: "catalog entry and file kind disagree".into() }),
    }
}

/// kubeadm's kubeConfigReadWriter.Write: the current context's cluster gets the CA, its user the
/// new certificate and key; everything else is kept.
fn rewrite_kubeconfig(k: &Kubeconfig, cert: &Certificate, key: &PrivateKey, ca: &Certificate) -> Result<Vec<u8>, String> {
    edit_current(k, ca, |user| {
        user.client_certificate_data = Some(base64_pem(&cert.to_pem()));
        user.client_key_data = Some(Secret::new(base64_pem(&key.to_pem_like_kubeadm())));
    })
}

/// The kubeconfig with its current cluster's CA data set to `ca` and its current user changed by `f`.
fn edit_current(k: &Kubeconfig, ca: &Certificate, f: impl FnOnce(&mut kubecert_config::User)) -> Result<Vec<u8>, String> {
    let mut k = k.clone();
    let (cluster_name, user_name) = {
        let r = k.resolve(None).map_err(|e| e.to_string())?;
        (r.cluster_name.to_string(), r.user_name.to_string())
    };
    let cluster = k.clusters.iter_mut().find(|c| c.name == cluster_name).ok_or("the current cluster vanished")?;
    cluster.cluster.certificate_authority_data = Some(base64_pem(&ca.to_pem()));
    let user = k.users.iter_mut().find(|u| u.name == user_name).ok_or("the current user vanished")?;
    f(&mut user.user);
    k.to_yaml().map(String::into_bytes).map_err(|e| e.to_string())
}

/// kubeadm's kubelet-finalize: the current user's certificate and key become the kubelet's
/// rotating PEM (the kubelet renews it from then on); the CA data is refreshed.
fn point_at_rotating(k: &Kubeconfig, ca: &Certificate) -> Result<Vec<u8>, String> {
    edit_current(k, ca, |user| {
        user.client_certificate_data = None;
        user.client_key_data = None;
        user.client_certificate = Some(catalog::KUBELET_CLIENT_CURRENT.into());
        user.client_key = Some(catalog::KUBELET_CLIENT_CURRENT.into());
    })
}

/// After the switch: each renewed certificate is on disk with a key that matches it.
pub(super) fn verify(root: &NodeRoot, expect: &Expect) -> Result<(), String> {
    for (name, der) in expect {
        let entry = super::select::entry_of(name);
        let (cert, key) = match entry.location {
            Location::File(p) => (
                load_cert(root, p).map_err(|e| e.to_string())?,
                load_key(root, &catalog::key_path(p)).map_err(|e| e.to_string())?,
            ),
            Location::Kubeconfig(p) => {
                let k = load_embedded_kubeconfig(root, p).map_err(|e| e.to_string())?;
                let key = k.key.ok_or_else(|| format!("{p} has no client-key-data"))??;
                (k.cert, key)
            }
        };
        if cert.der() != der.as_slice() {
            return Err(format!("{name}: the certificate on disk is not the one just written"));
        }
        if !key.matches(&cert) {
            return Err(format!("{name}: the key on disk does not match the new certificate"));
        }
    }
    Ok(())
}
