//! Which certificates a renewal touches: the names asked for, those that exist, those due within
//! the window, those whose CA key is here; and every reason to refuse (an expired or unusable CA,
//! a CA that would expire before the new certificate), collected before anything is written.

use super::{RenewError, RenewRequest, Skipped};
use crate::controlplane::catalog::{self, Entry, Location, CATALOG};
use crate::controlplane::{load_cert, load_embedded_kubeconfig, load_key, EmbeddedKubeconfig, LoadError};
use crate::root::NodeRoot;
use kubecert_pki::{Certificate, CertificateAuthority};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// What is renewed now.
pub(super) enum Old {
    /// A PEM certificate file (its key beside it).
    File(Box<Certificate>),
    /// A kubeconfig with an embedded client certificate.
    Kubeconfig(Box<EmbeddedKubeconfig>),
}

impl Old {
    pub(super) fn cert(&self) -> &Certificate {
        match self {
            Old::File(c) => c,
            Old::Kubeconfig(k) => &k.cert,
        }
    }
}

/// One certificate to renew, with its new validity window.
pub(super) struct Due {
    pub entry: &'static Entry,
    pub old: Old,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub clamped: bool,
    /// kubelet.conf only: the kubelet's rotating certificate, valid for this node, to point at instead of issuing.
    pub rotating: Option<Box<Certificate>>,
}

/// The selection: what is due, what is skipped, and the CAs that sign.
pub(super) struct Selection {
    pub due: Vec<Due>,
    pub skipped: Vec<Skipped>,
    pub cas: BTreeMap<&'static str, CertificateAuthority>,
}

pub(super) fn entry_of(name: &str) -> &'static Entry {
    catalog::entry(name).unwrap_or(&CATALOG[0])
}

fn requested(names: &[String]) -> Result<Vec<&'static Entry>, RenewError> {
    let renewable: Vec<&'static Entry> = CATALOG.iter().filter(|e| e.renewable).collect();
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok(renewable);
    }
    let mut out: Vec<&'static Entry> = Vec::new();
    for n in names {
        if n == catalog::KUBELET_CONF.name {
            out.push(&catalog::KUBELET_CONF);
            continue;
        }
        let e = renewable.iter().find(|e| e.name == n).ok_or_else(|| RenewError::UnknownName {
            name: n.clone(),
            known: super::renewable_names().join(", "),
        })?;
        if !out.iter().any(|o| o.name == e.name) {
            out.push(e);
        }
    }
    Ok(out)
}

enum CaState {
    Usable,
    External(String),
    Broken(String),
}

pub(super) fn select(root: &NodeRoot, req: &RenewRequest) -> Result<Selection, RenewError> {
    let mut sel = Selection { due: Vec::new(), skipped: Vec::new(), cas: BTreeMap::new() };
    let mut ca_state: BTreeMap<&'static str, CaState> = BTreeMap::new();
    let mut problems = Vec::new();
    for entry in requested(&req.names)? {
        let path = entry.location.path();
        let skip = |reason: String| Skipped { name: entry.name.into(), path: path.into(), reason, problem: false };
        if entry.name == catalog::KUBELET_CONF.name && kubeconfig_points_at_file(root, path) {
            sel.skipped.push(skip(format!("{path} does not embed its client certificate: it points at a file (the kubelet rotates it); nothing to renew")));
            continue;
        }
        let old = match entry.location {
            Location::File(p) => load_cert(root, p).map(|c| Old::File(Box::new(c))),
            Location::Kubeconfig(p) => load_embedded_kubeconfig(root, p).map(|k| Old::Kubeconfig(Box::new(k))),
        };
        let old = match old {
            Ok(o) => o,
            Err(e) if e.is_missing() => {
                sel.skipped.push(skip("missing (kubeadm: MISSING!)".into()));
                continue;
            }
            // Without a readable old certificate there is no template: renew the rest, report this one.
            Err(e) => {
                sel.skipped.push(Skipped { problem: true, ..skip(format!("cannot be read ({e}); re-create it with kubeadm init phase certs/kubeconfig")) });
                continue;
            }
        };
        let not_after_old = old.cert().info().not_after;
        if let Some(w) = req.within {
            let until = req.now.checked_add(w).unwrap_or(OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT));
            if not_after_old > until {
                sel.skipped.push(skip(format!("expires {} ({}), not within the window", crate::rules::date(not_after_old), crate::rules::relative(not_after_old, req.now))));
                continue;
            }
        }
        let ca_name = entry.ca;
        if !ca_state.contains_key(ca_name) {
            let st = load_ca(root, ca_name, req.now)?;
            if let (CaState::Usable, Some(ca)) = st {
                sel.cas.insert(ca_name, ca);
            }
            ca_state.insert(ca_name, st.0);
        }
        match &ca_state[ca_name] {
            CaState::External(why) => {
                sel.skipped.push(skip(format!("externally managed: {why}")));
                continue;
            }
            CaState::Broken(why) => {
                problems.push(format!("{} is signed by {ca_name}, which cannot sign: {why}", entry.name));
                continue;
            }
            CaState::Usable => {}
        }
        let ca = &sel.cas[ca_name];
        // kubeadm (v1beta4 defaults CertificateValidityPeriod): NotBefore = start - 5 min, NotAfter = start + validity.
        let not_before = req.now - kubecert_pki::BACKDATE;
        let Some(wanted) = req.now.checked_add(req.validity) else {
            return Err(RenewError::Refused { problems: vec![format!("a validity of {} reaches past the year 9999", req.validity)] });
        };
        let ca_end = ca.certificate().info().not_after;
        let (not_after, clamped) = if wanted <= ca_end {
            (wanted, false)
        } else if req.clamp_to_ca {
            (ca_end, true)
        } else {
            problems.push(format!(
                "{ca_name} ({}) expires {} before the renewed {} would ({}); renew the CA first, or pass --clamp-to-ca to cut the new certificate to the CA's expiry",
                catalog::ca_path(ca_name).unwrap_or_default(),
                crate::rules::date(ca_end),
                entry.name,
                crate::rules::date(wanted)
            ));
            continue;
        };
        let rotating = if entry.name == catalog::KUBELET_CONF.name { rotating_for(root, old.cert(), ca.certificate(), req.now) } else { None };
        sel.due.push(Due { entry, old, not_before, not_after, clamped, rotating });
    }
    if !problems.is_empty() {
        return Err(RenewError::Refused { problems });
    }
    Ok(sel)
}

/// True when the kubeconfig's current user names a client certificate file instead of embedding one.
fn kubeconfig_points_at_file(root: &NodeRoot, path: &str) -> bool {
    let Ok(f) = root.read(path) else { return false };
    let Ok(k) = kubecert_config::Kubeconfig::parse(&f.bytes) else { return false };
    k.resolve(None).is_ok_and(|r| r.user.client_certificate_data.is_none() && r.user.client_certificate.is_some())
}

/// The kubelet's rotating client certificate when kubelet.conf can point at it (kubeadm's
/// documented fix for kubeadm#2054): valid now, for the same node (`system:node:NAME` in
/// `system:nodes`), signed by the cluster CA, with its key beside it in the same file.
fn rotating_for(root: &NodeRoot, old: &Certificate, ca: &Certificate, now: OffsetDateTime) -> Option<Box<Certificate>> {
    let f = root.read(catalog::KUBELET_CLIENT_CURRENT).ok()?;
    let bundle = kubecert_pki::load_bundle(&f.bytes).ok()?;
    let cert = bundle.certificates.into_iter().next()?;
    let key = bundle.key?.ok()?;
    let (i, o) = (cert.info(), old.info());
    let same_node = i.common_names == o.common_names && i.common_names.iter().any(|cn| cn.starts_with("system:node:")) && i.organizations.iter().any(|g| g == "system:nodes");
    let valid = i.not_before <= now && now < i.not_after;
    (same_node && valid && key.matches(&cert) && kubecert_pki::verify_signed_by(&cert, ca).is_ok()).then(|| Box::new(cert))
}

/// Loads a CA pair; a missing key means an external CA (kubeadm skips those).
fn load_ca(root: &NodeRoot, name: &'static str, now: OffsetDateTime) -> Result<(CaState, Option<CertificateAuthority>), RenewError> {
    let cert_path = catalog::ca_path(name).unwrap_or_default();
    let key_path = catalog::key_path(cert_path);
    let cert = match load_cert(root, cert_path) {
        Ok(c) => c,
        Err(e @ LoadError::Missing { .. }) => return Ok((CaState::Broken(e.to_string()), None)),
        Err(e) => return Err(e.into()),
    };
    let key = match load_key(root, &key_path) {
        Ok(k) => k,
        Err(LoadError::Missing { .. }) => return Ok((CaState::External(format!("no CA key at {key_path}")), None)),
        Err(e) => return Err(e.into()),
    };
    match CertificateAuthority::new(cert, key, now) {
        Ok(ca) => Ok((CaState::Usable, Some(ca))),
        Err(e) => Ok((CaState::Broken(format!("{cert_path}: {e}")), None)),
    }
}
