//! `kubecert check-expiration`: every certificate the node holds — control-plane `pki/`, etcd,
//! front-proxy, the kubeconfigs with embedded certificates, and the kubelet's own client and
//! serving certificates (which kubeadm leaves out) — driven by one declarative catalog, like
//! kubeadm's certlist. The JSON form is kubeadm's `CertificateExpirationInfo`.

use crate::root::{NodeRoot, ReadError};
use crate::snapshot::{Problem, Snapshot};
use kubecert_config::Kubeconfig;
use kubecert_pki::Certificate;
use serde::Serialize;
use time::OffsetDateTime;

use crate::controlplane::catalog::{Location, CAS, CATALOG};

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertExpiration {
    /// kubeadm's name (`apiserver`, `admin.conf`), or `kubelet-client`, `kubelet-serving`, or a path.
    pub name: String,
    /// Where it was read.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// NotAfter (absent when missing).
    #[serde(with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<OffsetDateTime>,
    /// Seconds left (negative once expired), as kubeadm reports it.
    pub residual_time: i64,
    /// kubeadm's field: true when the CA key is absent (certificates cannot be renewed here).
    pub externally_managed: bool,
    /// The issuing CA's catalog name, or its CN for certificates outside the catalog.
    #[serde(rename = "caName", skip_serializing_if = "String::is_empty")]
    pub ca_name: String,
    /// Not on disk.
    pub missing: bool,
    /// Why it could not be read, if present but unreadable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// kubeadm's `CertificateExpirationInfo`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationReport {
    /// `CertificateExpirationInfo`.
    pub kind: &'static str,
    /// `output.kubeadm.k8s.io/v1alpha3`.
    pub api_version: &'static str,
    /// Leaf certificates.
    pub certificates: Vec<CertExpiration>,
    /// CAs.
    pub certificate_authorities: Vec<CertExpiration>,
}

/// Why a row's certificate could not be read (the report's `error` field).
#[derive(Debug, thiserror::Error)]
enum RowError {
    /// The file cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The file holds no usable certificate.
    #[error(transparent)]
    Pki(#[from] kubecert_pki::PkiError),
    /// The kubeconfig does not parse or resolve.
    #[error(transparent)]
    Kubeconfig(#[from] kubecert_config::ConfigError),
    /// The credential the snapshot found is unusable.
    #[error("{0}")]
    Unusable(Problem),
    /// `--scan` did not look inside (the reason).
    #[error("skipped: {0}")]
    Skipped(String),
}

fn row(name: &str, path: &str, cert: Result<Option<Certificate>, RowError>, ca_name: &str, now: OffsetDateTime, externally_managed: bool) -> CertExpiration {
    let (date, missing, error) = match cert {
        Ok(Some(c)) => (Some(c.info().not_after), false, None),
        Ok(None) => (None, true, None),
        Err(e) => (None, false, Some(e.to_string())),
    };
    CertExpiration {
        name: name.to_string(),
        path: path.to_string(),
        residual_time: date.map(|d| (d - now).whole_seconds()).unwrap_or(0),
        expiration_date: date,
        externally_managed,
        ca_name: ca_name.to_string(),
        missing,
        error,
    }
}

fn load_file(root: &NodeRoot, path: &str) -> Result<Option<Certificate>, RowError> {
    match root.read(path) {
        Ok(f) => Ok(Some(kubecert_pki::load_certificates(&f.bytes)?.remove(0))),
        Err(ReadError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn load_kubeconfig_cert(root: &NodeRoot, path: &str) -> Result<Option<Certificate>, RowError> {
    let f = match root.read(path) {
        Ok(f) => f,
        Err(ReadError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let k = Kubeconfig::parse(&f.bytes)?;
    let r = k.resolve(None)?;
    match crate::snapshot::client_cert(root, path, r.user) {
        Ok(source) => Ok(source.chain.into_iter().next()),
        // A kubeconfig that names a certificate file that is not there: like an absent file.
        Err((_, p)) if p.is_missing() => Ok(None),
        Err((_, p)) => Err(RowError::Unusable(p)),
    }
}

/// Builds the report for the node under `root`; `snap` supplies the kubelet's discovered paths.
pub fn report(root: &NodeRoot, snap: &Snapshot, now: OffsetDateTime) -> ExpirationReport {
    let control_plane = crate::controlplane::is_control_plane(root);
    let mut cas = Vec::new();
    let mut ca_keys = std::collections::BTreeMap::new();
    for (name, path) in CAS {
        let cert = load_file(root, path);
        let present = matches!(cert, Ok(Some(_)));
        let key_present = root.exists_lexically(&path.replace(".crt", ".key"));
        ca_keys.insert(*name, key_present);
        if present || control_plane || (*name == "ca" && cert.is_err()) {
            cas.push(row(name, path, cert, "", now, present && !key_present));
        }
    }
    let mut certs = Vec::new();
    for e in CATALOG {
        let (path, cert) = match e.location {
            Location::File(p) => (p, load_file(root, p)),
            Location::Kubeconfig(p) => (p, load_kubeconfig_cert(root, p)),
        };
        let absent = matches!(cert, Ok(None));
        if absent && !(control_plane && e.control_plane) {
            continue;
        }
        let external = !ca_keys.get(e.ca).copied().unwrap_or(false) && !absent;
        certs.push(row(e.name, path, cert, e.ca, now, external));
    }
    // The kubelet's own client certificate, which kubeadm does not list: the one the kubelet
    // presents by its own precedence (crate::credential), then the ones on the node it does not use.
    let kubelet_client = match snap.presented() {
        Some(c) => match &c.cert {
            Ok(src) => Ok(Some(src.leaf().clone())),
            Err((_, p)) if p.is_missing() => Ok(None),
            Err((_, p)) => Err(RowError::Unusable(p.clone())),
        },
        None => Ok(None),
    };
    let client_origin = snap.presented().map(|c| match &c.cert {
        Ok(s) => s.origin.clone(),
        Err((p, _)) => p.clone(),
    });
    certs.push(row("kubelet.conf", &client_origin.unwrap_or_else(|| snap.kubeconfig.path.clone()), kubelet_client, "ca", now, !ca_keys["ca"]));
    for c in snap.choice.unused.iter().filter_map(|l| snap.credential(l)) {
        let (origin, cert) = match &c.cert {
            Ok(src) => (src.origin.clone(), Ok(Some(src.leaf().clone()))),
            Err((p, e)) if e.is_missing() => (p.clone(), Ok(None)),
            Err((p, e)) => (p.clone(), Err(RowError::Unusable(e.clone()))),
        };
        certs.push(row("kubelet-client-unused", &origin, cert, "ca", now, !ca_keys["ca"]));
    }
    if let Some(s) = &snap.serving {
        let ca_name = match &s.outcome {
            Ok(c) if c.info().self_issued => "self-signed".to_string(),
            _ => "ca".to_string(),
        };
        let cert = s.outcome.as_ref().map(|c| Some(c.clone())).map_err(|p| RowError::Unusable(p.clone()));
        certs.push(row("kubelet-serving", &s.path, cert, &ca_name, now, ca_name == "self-signed"));
    }
    ExpirationReport { kind: "CertificateExpirationInfo", api_version: "output.kubeadm.k8s.io/v1alpha3", certificates: certs, certificate_authorities: cas }
}

/// How deep `--scan` walks: certificate folders are a few levels deep.
pub(crate) const MAX_SCAN_DEPTH: usize = 32;

/// Every certificate file under a host directory (recursively, not following links, at most
/// [`MAX_SCAN_DEPTH`] deep), for `check-expiration --scan DIR`. Files that hold no certificate are
/// skipped; unreadable, special (FIFO, device), oversized files, pseudo file systems (/proc, /sys)
/// and folders too deep are reported as rows with their error, never read.
pub fn scan_dir(dir: &std::path::Path, now: OffsetDateTime) -> Vec<CertExpiration> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    let skipped = |p: &std::path::Path, why: String| {
        let name = p.to_string_lossy().into_owned();
        row(&name, &name, Err(RowError::Skipped(why)), "", now, false)
    };
    while let Some((d, depth)) = stack.pop() {
        if crate::hostfs::is_pseudo_dir(&d) {
            out.push(skipped(&d, "a pseudo file system (/proc, /sys): not certificates".into()));
            continue;
        }
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) => {
                out.push(skipped(&d, crate::hostfs::read_error(&e).to_string()));
                continue;
            }
        };
        let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if depth >= MAX_SCAN_DEPTH {
                    out.push(skipped(&p, format!("deeper than {MAX_SCAN_DEPTH} folders")));
                } else {
                    stack.push((p, depth + 1));
                }
                continue;
            }
            if ft.is_symlink() {
                continue;
            }
            let name = p.to_string_lossy().into_owned();
            let bytes = match crate::hostfs::read_regular(&p, crate::hostfs::Follow::No, crate::root::MAX_FILE_SIZE) {
                Ok((b, _)) => b,
                Err(e) => {
                    out.push(skipped(&p, e.to_string()));
                    continue;
                }
            };
            if let Ok(b) = kubecert_pki::load_bundle(&bytes)
                && let Some(c) = b.certificates.first() {
                    let ca = c.info().issuer_common_name.clone().unwrap_or_default();
                    out.push(row(&name, &name, Ok(Some(c.clone())), &ca, now, false));
                }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

impl ExpirationReport {
    /// Keeps only the rows that need attention before `until` (`check-expiration --within`):
    /// expiring by then, already expired, missing on a control-plane node, or unreadable.
    pub fn retain_due(&mut self, until: OffsetDateTime) {
        let due = |c: &CertExpiration| c.missing || c.error.is_some() || c.expiration_date.is_some_and(|d| d <= until);
        self.certificates.retain(due);
        self.certificate_authorities.retain(due);
    }
}
