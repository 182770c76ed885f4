//! Offline issuance (`kubecert sign`, and `repair`'s last path): a fresh key and a kubelet client
//! certificate for exactly one node, shaped like the kube-controller-manager signer's, checked
//! as the API server will, then written as a bundle, installed on the node, or (for `--csr`)
//! returned alone.

use crate::bundle::{write_bundle, Bundle};
use crate::error::{pki, Result, WorkflowError};
use crate::install::{run_install, InstallOptions, InstallReport};
use crate::target::Target;
use kubecert_node::install::{plan_serving_install, InstallPlan, NewCredential};
use kubecert_pki::{
    node_common_name, parse_csr, sign_for_csr, sign_for_key, validate_node_name, verify_for_tls, verify_signed_by, CertInfo, CertificateAuthority,
    KeyType, LeafProfile, PrivateKey, SignedCertificate, TlsUsage, NODES_GROUP,
};
use serde::Serialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// What to sign.
#[derive(Debug, Clone)]
pub struct SignRequest {
    /// The node (with `csr`, defaults to the CSR's).
    pub node: Option<String>,
    /// The cluster CA certificate file.
    pub ca_cert: PathBuf,
    /// The cluster CA key file.
    pub ca_key: PathBuf,
    /// Type of the new key.
    pub key_type: KeyType,
    /// Lifetime (cut at the CA's expiry).
    pub valid_for: time::Duration,
    /// Also issue a serving certificate.
    pub serving: bool,
    /// Serving SANs (default: the node name).
    pub sans: Vec<String>,
    /// Sign this CSR file instead of making a key.
    pub csr: Option<PathBuf>,
    /// Install even a certificate that would not authenticate now.
    pub force: bool,
}

impl SignRequest {
    /// A client certificate for `node` with the kubelet's defaults (ECDSA P-256, one year): what `repair` asks for.
    pub fn client(node: &str, ca_cert: PathBuf, ca_key: PathBuf) -> SignRequest {
        SignRequest { node: Some(node.to_string()), ca_cert, ca_key, key_type: KeyType::EcdsaP256, valid_for: time::Duration::days(365), serving: false, sans: Vec::new(), csr: None, force: false }
    }
}

/// Where an issued credential goes.
pub enum Destination<'a> {
    /// A bundle directory; `server` for its kubelet kubeconfig.
    Bundle {
        /// The directory (new or empty).
        dir: &'a Path,
        /// The API server URL (for a CSR, default: the API server it was filed with).
        server: Option<&'a str>,
    },
    /// Installed on the node.
    Install {
        /// The node.
        target: &'a Target,
        /// How.
        options: &'a InstallOptions,
    },
    /// Nowhere: the certificate is returned (only for `sign --csr`; `csr` refuses it).
    Return,
}

/// What was issued.
#[derive(Debug, Serialize)]
pub struct Issued {
    /// The node.
    pub node: String,
    /// The client certificate.
    pub client: CertInfo,
    /// When the lifetime was cut at the CA's expiry, that time (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clamped_to_ca_expiry: Option<String>,
    /// The serving certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<CertInfo>,
    /// The bundle's files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bundle: Vec<String>,
    /// The install.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install: Option<InstallReport>,
    /// The client certificate PEM.
    #[serde(skip)]
    pub cert_pem: String,
}

/// Issues (and writes or installs, unless `dry_run`) a kubelet credential with the CA at hand.
pub fn sign(req: &SignRequest, dest: Destination<'_>, dry_run: bool) -> Result<Issued> {
    let now = OffsetDateTime::now_utc();
    if req.csr.is_none() && matches!(dest, Destination::Return) {
        return Err(WorkflowError::refused("say where the new key goes: --out-dir DIR (a bundle to copy to the node) or --install (on the node under --root)"));
    }
    let ca_pem = read(&req.ca_cert, "CA certificate")?;
    let ca_key = Zeroizing::new(read(&req.ca_key, "CA key")?);
    let ca = CertificateAuthority::load(&ca_pem, &ca_key, now).map_err(WorkflowError::pki_refusal)?;

    let csr = match &req.csr {
        Some(p) => Some(parse_csr(&read(p, "CSR")?).map_err(WorkflowError::pki_refusal)?),
        None => None,
    };
    let node = match (&req.node, &csr) {
        (Some(n), Some(c)) => {
            let from = c.node_name().map_err(WorkflowError::pki_refusal)?;
            if from != n {
                return Err(WorkflowError::refused(format!("the CSR asks for node {from:?}, not {n:?}")));
            }
            n.clone()
        }
        (None, Some(c)) => c.node_name().map_err(WorkflowError::pki_refusal)?.to_string(),
        (Some(n), None) => n.clone(),
        (None, None) => return Err(WorkflowError::refused("--node NAME is required (the node the certificate is for)")),
    };
    validate_node_name(&node).map_err(|e| WorkflowError::Refused(e.to_string()))?;

    let mut notes = Vec::new();
    if let Destination::Install { target, options } = &dest
        && let Some(n) = target.check_node_name(&node, options.allow_name_mismatch)?
    {
        notes.push(n);
    }

    let profile = LeafProfile {
        common_name: node_common_name(&node),
        organization: Some(NODES_GROUP.to_string()),
        client_auth: true,
        server_auth: false,
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
        valid_for: req.valid_for,
    };
    let (key, signed) = match &csr {
        Some(c) => (None, sign_for_csr(&ca, c, &profile, now).map_err(pki("cannot sign the CSR"))?),
        None => {
            let key = PrivateKey::generate(req.key_type).map_err(pki("cannot make the key"))?;
            let signed = sign_for_key(&ca, &key, &profile, now).map_err(pki("cannot sign the certificate"))?;
            (Some(key), signed)
        }
    };
    check_issued(&signed, &ca, TlsUsage::ClientAuth, now)?;

    let serving = if req.serving {
        let (dns, ips) = split_sans(&node, &req.sans)?;
        let key = PrivateKey::generate(req.key_type).map_err(pki("cannot make the key"))?;
        let p = LeafProfile { client_auth: false, server_auth: true, dns_names: dns, ip_addresses: ips, ..profile.clone() };
        let s = sign_for_key(&ca, &key, &p, now).map_err(pki("cannot sign the serving certificate"))?;
        check_issued(&s, &ca, TlsUsage::ServerAuth, now)?;
        Some((key, s))
    } else {
        None
    };

    let ca_cert_pem = ca.certificate().to_pem();
    let mut issued = Issued {
        node: node.clone(),
        client: signed.certificate.info().clone(),
        clamped_to_ca_expiry: signed.clamped_to_ca_expiry.map(rfc3339),
        serving: serving.as_ref().map(|(_, s)| s.certificate.info().clone()),
        bundle: Vec::new(),
        install: None,
        cert_pem: signed.certificate.to_pem(),
    };

    match dest {
        Destination::Bundle { dir, server } => {
            let b = Bundle { node: &node, cert: &signed.certificate, key: key.as_ref(), serving: serving.as_ref().map(|(k, s)| (k, &s.certificate)), ca_pem: &ca_cert_pem, server };
            issued.bundle = write_bundle(dir, &b, dry_run)?;
        }
        Destination::Install { target: t, options } => {
            let Some(key) = key.as_ref() else {
                return Err(WorkflowError::refused("a signed CSR cannot be installed: its key is not here"));
            };
            let cred = NewCredential { cert_pem: signed.certificate.to_pem(), key_pem: key.to_pem(), ca_pem: Some(ca_cert_pem.clone()), server: options.server.clone() };
            // Never make the node worse: a certificate the API server would refuse now is not installed.
            if !req.force
                && let Err(why) = kubecert_node::install::check_would_authenticate(&t.root, &t.overrides, signed.certificate.der(), OffsetDateTime::now_utc())
            {
                return Err(WorkflowError::refused(format!("{why}; nothing was changed (pass --force to install it anyway)")));
            }
            let label = format!("sign --node {node}{}", if serving.is_some() { " --serving" } else { "" });
            let mut ci = t.plan_client(&cred, &label)?;
            ci.notes.append(&mut notes);
            let extra = match &serving {
                Some((k, s)) => plan_serving_install(&t.root, &t.setup, &s.certificate.to_pem(), &k.to_pem(), now, InstallPlan::new(""))?.0,
                None => InstallPlan::new(""),
            };
            issued.install = Some(run_install(t, options, ci, extra, signed.certificate.der(), dry_run)?);
        }
        Destination::Return => {}
    }
    Ok(issued)
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>> {
    kubecert_node::hostfs::read_argument(path).map_err(|source| WorkflowError::ReadArgument { what, path: path.to_path_buf(), source })
}

/// Checks what was just signed, as the API server will: chain to the CA and the TLS usage.
fn check_issued(s: &SignedCertificate, ca: &CertificateAuthority, usage: TlsUsage, now: OffsetDateTime) -> Result<()> {
    verify_signed_by(&s.certificate, ca.certificate()).map_err(|source| WorkflowError::Verify { context: "the new certificate does not verify against the CA", source })?;
    verify_for_tls(&s.certificate, ca.certificate(), usage, now).map_err(|source| WorkflowError::Verify { context: "the new certificate would not pass TLS verification", source })?;
    Ok(())
}

/// Splits `--san` values into DNS names and IP addresses; none given: the node name.
pub(crate) fn split_sans(node: &str, sans: &[String]) -> Result<(Vec<String>, Vec<IpAddr>)> {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if sans.is_empty() {
        dns.push(node.to_string());
    }
    for s in sans {
        match s.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => {
                validate_node_name(s).map_err(|_| WorkflowError::refused(format!("--san {s:?} is neither an IP address nor a valid DNS name")))?;
                dns.push(s.clone());
            }
        }
    }
    Ok((dns, ips))
}

/// RFC 3339, as in every report.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}
