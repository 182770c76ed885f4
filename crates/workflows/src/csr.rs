//! Online issuance (`kubecert csr`, and `repair`'s CSR path): the key is made here, a
//! `certificates.k8s.io/v1` CSR is filed as the kubelet would, approved when asked and allowed,
//! waited for, and the issued certificate is accepted only when it is what was asked for
//! ([`accept_issued`]); then it is written as a bundle or installed.

use crate::bundle::{write_bundle, Bundle};
use crate::error::{pki, Result, WorkflowError};
use crate::install::{run_install, run_serving_install, InstallOptions, InstallReport};
use crate::sign::{split_sans, Destination};
use crate::target::Target;
use kubecert_cluster::client::{connect, AdminClient, ClientOptions};
use kubecert_cluster::csr::{self, Approval, CsrState, Permissions, Signer, Waited};
use kubecert_node::install::{plan_serving_install, InstallPlan, NewCredential};
use kubecert_pki::{
    build_csr, load_certificates, node_common_name, validate_node_name, verify_for_tls, verify_signed_by, CertInfo, Certificate, KeyType, PrivateKey,
    RequestSubject, TlsUsage, NODES_GROUP,
};
use serde::Serialize;
use std::time::Duration;
use time::OffsetDateTime;

/// What to ask for.
#[derive(Debug, Clone)]
pub struct CsrRequest {
    /// The node.
    pub node: String,
    /// Which signer.
    pub signer: Signer,
    /// Approve it with the caller's credentials.
    pub approve: bool,
    /// How long to wait for the certificate.
    pub timeout: Duration,
    /// Type of the new key.
    pub key_type: KeyType,
    /// The lifetime asked for (expirationSeconds).
    pub valid_for: Option<Duration>,
    /// Serving SANs.
    pub sans: Vec<String>,
    /// Keep the CSR object when giving up.
    pub keep_csr: bool,
}

impl CsrRequest {
    /// A client certificate for `node`, approved with the caller's credentials: what `repair` asks for.
    pub fn client(node: &str, timeout: Duration) -> CsrRequest {
        CsrRequest { node: node.to_string(), signer: Signer::KubeletClient, approve: true, timeout, key_type: KeyType::EcdsaP256, valid_for: None, sans: Vec::new(), keep_csr: false }
    }
}

/// What happened, as it happens (for a progress display).
#[derive(Debug)]
pub enum Event<'a> {
    /// The CSR about to be created (`dry_run`: it will not be).
    Planned {
        /// The caller.
        user: &'a str,
        /// The requested CN.
        common_name: &'a str,
        /// The signer.
        signer: Signer,
        /// The usages.
        usages: &'a [&'static str],
        /// Who approves it, in words.
        how: &'a str,
        /// Nothing is created.
        dry_run: bool,
    },
    /// The CSR was created.
    Created {
        /// Its name.
        name: &'a str,
    },
    /// What approving it did.
    Approved {
        /// The CSR.
        name: &'a str,
        /// The outcome.
        approval: &'a Approval,
    },
    /// A poll while waiting.
    Waiting {
        /// The CSR.
        name: &'a str,
        /// Its state.
        state: &'a CsrState,
        /// Time waited.
        waited: Duration,
    },
}

/// The outcome of a request.
#[derive(Debug, Serialize)]
pub struct CsrReport {
    /// The node.
    pub node: String,
    /// The signer's name.
    pub signer: &'static str,
    /// The usages asked for.
    pub usages: Vec<&'static str>,
    /// The CSR's name (none for a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csr: Option<String>,
    /// What the caller may do.
    pub permissions: Permissions,
    /// What approving did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// The issued certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertInfo>,
    /// The CA it chains to, and where that CA came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_against: Option<String>,
    /// The bundle's files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bundle: Vec<String>,
    /// The install.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install: Option<InstallReport>,
}

/// Files the CSR and follows it through to a written or installed credential; with `dry_run`
/// checks the permissions and describes the install only. Refusals delete the CSR unless
/// `keep_csr`.
pub async fn request(req: &CsrRequest, dest: Destination<'_>, dry_run: bool, cluster: &ClientOptions, on: &mut dyn FnMut(Event<'_>)) -> Result<CsrReport> {
    // A CSR's certificate is only useful with the key made here: it has to go somewhere.
    if matches!(dest, Destination::Return) {
        return Err(WorkflowError::refused("say where the certificate goes: --out-dir DIR or --install"));
    }
    validate_node_name(&req.node).map_err(|e| WorkflowError::Refused(e.to_string()))?;
    let signer = req.signer;
    if signer == Signer::KubeletClient && !req.sans.is_empty() {
        return Err(WorkflowError::refused("--san is for --signer serving: the client signer refuses certificates with names"));
    }
    let mut notes = Vec::new();
    if let Destination::Install { target, options } = &dest
        && let Some(n) = target.check_node_name(&req.node, options.allow_name_mismatch)?
    {
        notes.push(n);
    }

    let key = PrivateKey::generate(req.key_type).map_err(pki("cannot make the key"))?;
    let (dns, ips) = if signer == Signer::KubeletServing { split_sans(&req.node, &req.sans)? } else { (Vec::new(), Vec::new()) };
    let subject = RequestSubject { common_name: node_common_name(&req.node), organization: Some(NODES_GROUP.into()), dns_names: dns, ip_addresses: ips };
    let csr_pem = build_csr(&key, &subject).map_err(pki("cannot make the CSR"))?;

    let admin = connect(cluster).await?;
    let (user, _) = kubecert_cluster::client::whoami(&admin.client).await.unwrap_or_else(|_| ("<unknown user>".into(), Vec::new()));
    let perms = csr::permissions(&admin.client, signer).await?;
    if !perms.can_create {
        return Err(WorkflowError::refused(format!("{user} (from {}) may not create CertificateSigningRequests; use credentials that may", admin.source)));
    }
    let mut report = CsrReport {
        node: req.node.clone(),
        signer: signer.name(),
        usages: signer.usages(key.is_rsa()),
        csr: None,
        permissions: perms.clone(),
        approval: None,
        certificate: None,
        verified_against: None,
        bundle: Vec::new(),
        install: None,
    };
    let how = approval_plan(&perms, req.approve, &user, signer);
    on(Event::Planned { user: &user, common_name: &subject.common_name, signer, usages: &report.usages, how: &how, dry_run });

    if dry_run {
        if let Destination::Install { target, options } = &dest {
            let placeholder = "-----BEGIN CERTIFICATE-----\n(the certificate the cluster issues)\n-----END CERTIFICATE-----\n";
            report.install = Some(install_issued(target, options, req, placeholder, &key, &admin, notes, b"", true)?);
        }
        return Ok(report);
    }

    let name = csr::create(&admin.client, &req.node, signer, &csr_pem, key.is_rsa(), req.valid_for).await?;
    report.csr = Some(name.clone());
    on(Event::Created { name: &name });
    if req.approve {
        let a = csr::approve(&admin.client, &name).await?;
        on(Event::Approved { name: &name, approval: &a });
        report.approval = Some(a);
    }

    let waited = csr::wait(&admin.client, &name, req.timeout, |state, waited| on(Event::Waiting { name: &name, state, waited })).await?;
    let pem = match waited {
        Waited::Issued(pem) => pem,
        Waited::Refused(s) => return Err(give_up(&admin, req, &name, format!("CSR {name} was not issued: {s}")).await),
        Waited::TimedOut(s) => {
            let hint = match s {
                CsrState::Pending => format!(
                    "nobody approved it; someone allowed to must run `kubectl certificate approve {name}` (or rerun with --approve and credentials that may approve {})",
                    signer.name()
                ),
                _ => "the signer did not issue it (is the kube-controller-manager's csrsigning controller running?)".into(),
            };
            return Err(give_up(&admin, req, &name, format!("CSR {name} was still {s} after {}s: {hint}", req.timeout.as_secs())).await);
        }
    };

    // Check what came back before anything is written.
    let (cas, source) = match (signer, csr::apiserver_client_ca(&admin.client).await) {
        (Signer::KubeletClient, Some(bundle)) => (load_certificates(bundle.as_bytes()).unwrap_or_default(), "the API server's client CA bundle, kube-system/extension-apiserver-authentication"),
        _ => (admin.ca_der.iter().filter_map(|d| Certificate::from_der(d).ok()).collect(), "the cluster CA in your kubeconfig"),
    };
    let (cert, ca) = match accept_issued(&pem, &subject.common_name, &key, signer, &cas, OffsetDateTime::now_utc()) {
        Ok(ok) => ok,
        Err(Rejected::NotACertificate) => return Err(give_up(&admin, req, &name, format!("CSR {name} was issued something that is not a certificate")).await),
        Err(Rejected::Unchained) => return Err(WorkflowError::refused(format!("the issued certificate does not chain to {source}; not installing it"))),
        Err(r) => return Err(WorkflowError::refused(r.to_string())),
    };
    report.verified_against = Some(format!("{} ({source})", ca.info().subject));
    report.certificate = Some(cert.info().clone());

    let ca_pem = ca.to_pem();
    match dest {
        Destination::Bundle { dir, server } => {
            let (client, serving) = if signer == Signer::KubeletClient { (Some(&key), None) } else { (None, Some((&key, &cert))) };
            let server = server.unwrap_or(&admin.server);
            let b = Bundle { node: &req.node, cert: &cert, key: client, serving, ca_pem: &ca_pem, server: Some(server) };
            report.bundle = write_bundle(dir, &b, false)?;
        }
        Destination::Install { target, options } => {
            report.install = Some(install_issued(target, options, req, &pem, &key, &admin, notes, cert.der(), false)?);
        }
        Destination::Return => {} // refused above
    }
    Ok(report)
}

/// Deletes the CSR (unless `--keep-csr`) and says so in the refusal.
async fn give_up(admin: &AdminClient, req: &CsrRequest, name: &str, why: String) -> WorkflowError {
    if !req.keep_csr {
        let _ = csr::delete(&admin.client, name).await;
    }
    let kept = if req.keep_csr { format!(" (CSR {name} kept)") } else { format!(" (CSR {name} deleted)") };
    WorkflowError::Refused(format!("{why}{kept}"))
}

/// Why an issued certificate is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The signer returned something that is not a certificate.
    #[error("the issued certificate cannot be read")]
    NotACertificate,
    /// Another subject than the one requested.
    #[error("the issued certificate's subject {0:?} is not the one requested")]
    WrongSubject(String),
    /// Not for the key made here.
    #[error("the issued certificate is not for the key made here")]
    WrongKey,
    /// It chains to none of the CAs that will check it (or not for the signer's TLS usage).
    #[error("the issued certificate does not chain to a trusted CA")]
    Unchained,
}

/// Accepts an issued certificate only when it is exactly what was asked for: CN `common_name`
/// in group system:nodes, for `key`, chaining to one of `cas` for the signer's TLS usage at `now`.
/// Returns the certificate and the CA it chains to.
pub(crate) fn accept_issued(pem: &str, common_name: &str, key: &PrivateKey, signer: Signer, cas: &[Certificate], now: OffsetDateTime) -> Result<(Certificate, Certificate), Rejected> {
    let cert = load_certificates(pem.as_bytes()).ok().and_then(|c| c.into_iter().next()).ok_or(Rejected::NotACertificate)?;
    let info = cert.info();
    if info.common_names != [common_name.to_string()] || info.organizations != [NODES_GROUP.to_string()] {
        return Err(Rejected::WrongSubject(info.subject.clone()));
    }
    if !key.matches(&cert) {
        return Err(Rejected::WrongKey);
    }
    let usage = if signer == Signer::KubeletClient { TlsUsage::ClientAuth } else { TlsUsage::ServerAuth };
    let ca = cas.iter().find(|ca| verify_signed_by(&cert, ca).is_ok() && verify_for_tls(&cert, ca, usage, now).is_ok()).cloned().ok_or(Rejected::Unchained)?;
    Ok((cert, ca))
}

/// Says who will approve the CSR.
pub(crate) fn approval_plan(p: &Permissions, approve: bool, user: &str, signer: Signer) -> String {
    match (approve, p.can_approve, p.auto_approved) {
        (_, _, true) => format!("the kube-controller-manager approves it by itself ({user} may create certificatesigningrequests/nodeclient)"),
        (true, true, _) => format!("kubecert approves it ({user} may approve {})", signer.name()),
        (true, false, _) => format!(
            "{user} may NOT approve it (missing: {}); someone who may must run `kubectl certificate approve <csr>` before the timeout",
            p.approve_missing.join(", ")
        ),
        (false, true, _) => format!("nobody approves it automatically; pass --approve ({user} may approve {}) or approve it by hand", signer.name()),
        (false, false, _) => format!(
            "nobody approves it automatically and {user} may not (missing: {}); someone who may must run `kubectl certificate approve <csr>`",
            p.approve_missing.join(", ")
        ),
    }
}

/// Installs the issued pair (or, with `dry_run`, describes the install).
#[allow(clippy::too_many_arguments)]
fn install_issued(
    t: &Target,
    options: &InstallOptions,
    req: &CsrRequest,
    cert_pem: &str,
    key: &PrivateKey,
    admin: &AdminClient,
    notes: Vec<String>,
    expected_der: &[u8],
    dry_run: bool,
) -> Result<InstallReport> {
    let label = format!("csr --node {} --signer {}", req.node, if req.signer == Signer::KubeletClient { "client" } else { "serving" });
    let ca_pem = admin.ca_der.first().and_then(|d| Certificate::from_der(d).ok()).map(|c| c.to_pem());
    match req.signer {
        Signer::KubeletClient => {
            let cred = NewCredential { cert_pem: cert_pem.to_string(), key_pem: key.to_pem(), ca_pem, server: options.server.clone().or_else(|| Some(admin.server.clone())) };
            let mut ci = t.plan_client(&cred, &label)?;
            ci.notes.extend(notes);
            run_install(t, options, ci, InstallPlan::new(""), expected_der, dry_run)
        }
        Signer::KubeletServing => {
            let now = OffsetDateTime::now_utc();
            let (plan, style) = plan_serving_install(&t.root, &t.setup, cert_pem, &key.to_pem(), now, InstallPlan::new(label))?;
            run_serving_install(t, options, plan, style, notes, expected_der, dry_run)
        }
    }
}
