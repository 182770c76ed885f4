//! Plans that install a new kubelet client credential where the kubelet reads it: the kubelet's
//! own rotating layout (`kubelet-client-<stamp>.pem`, cert then key, 0600, and the absolute
//! `kubelet-client-current.pem` link swapped atomically, with the kubeconfig pointing at the
//! link), or the files the node's kubeconfig already names (CoreOS-style `worker.pem` +
//! `worker-key.pem`, k3s/rke2 `client-kubelet.crt`/`.key`, a combined pem).

use super::error::InstallError;
use super::plan::{Contents, InstallPlan};
use crate::root::{relative_to, NodeRoot, ReadError};
use base64::Engine as _;
use kubecert_config::{Cluster, Kubeconfig};
use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// The link the kubelet reads its client pair from.
pub(crate) const CURRENT_LINK: &str = "kubelet-client-current.pem";

/// A new client credential to install.
pub struct NewCredential {
    /// The certificate PEM (leaf first; intermediates may follow).
    pub cert_pem: String,
    /// The private key PEM.
    pub key_pem: Zeroizing<String>,
    /// The cluster CA PEM, used only when a kubeconfig must be written from scratch.
    pub ca_pem: Option<String>,
    /// The API server URL, used only when a kubeconfig must be written from scratch.
    pub server: Option<String>,
}

impl std::fmt::Debug for NewCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCredential").field("server", &self.server).field("key_pem", &"<redacted>").finish_non_exhaustive()
    }
}

/// How the credential will be stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "style", rename_all = "kebab-case")]
pub enum InstallStyle {
    /// The kubelet's own layout.
    KubeletRotating {
        /// The new `kubelet-client-<stamp>.pem`.
        pem: String,
        /// The `kubelet-client-current.pem` link.
        link: String,
    },
    /// Separate certificate and key files, replaced in place.
    SeparateFiles {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
    },
    /// One file holding both, replaced in place.
    CombinedFile {
        /// The file.
        path: String,
    },
}

/// A planned client credential install.
#[derive(Debug, Clone)]
pub struct ClientInstall {
    /// The plan for the engine.
    pub plan: InstallPlan,
    /// Where the credential goes.
    pub style: InstallStyle,
    /// The kubelet kubeconfig (node path).
    pub kubeconfig: String,
    /// True when the plan (re)writes the kubeconfig.
    pub kubeconfig_rewritten: bool,
    /// Things the operator should know (e.g. why the kubeconfig is rewritten).
    pub notes: Vec<String>,
}

/// Plans the install of `cred` for the kubelet whose kubeconfig is `kubeconfig` and whose
/// certificate directory is `cert_dir` (both node paths), following the layout the node uses.
pub fn plan_client_install(
    root: &NodeRoot,
    kubeconfig: &str,
    cert_dir: &str,
    cred: &NewCredential,
    now: OffsetDateTime,
    label: &str,
) -> Result<ClientInstall, InstallError> {
    let combined = Zeroizing::new(format!("{}{}", ensure_nl(&cred.cert_pem), ensure_nl(&cred.key_pem)));
    let mut notes = Vec::new();
    let existing = match root.read(kubeconfig) {
        Ok(f) => match Kubeconfig::parse(&f.bytes) {
            Ok(kc) => Some((kc, f.mode)),
            Err(e) => {
                notes.push(format!("{kubeconfig} cannot be parsed ({e}); it will be replaced (a copy goes to the backup)"));
                None
            }
        },
        Err(ReadError::NotFound { .. }) => {
            notes.push(format!("{kubeconfig} does not exist; it will be written"));
            None
        }
        Err(e) => return Err(InstallError::Read { node_path: kubeconfig.to_string(), detail: e.to_string() }),
    };
    let mut plan = InstallPlan::new(label);

    if let Some((kc, _)) = &existing
        && let Ok(r) = kc.resolve(None)
        && let (Some(c), Some(k)) = (&r.user.client_certificate, &r.user.client_key)
    {
        let c = relative_to(kubeconfig, c);
        let k = relative_to(kubeconfig, k);
        let is_link = root.confine(&c).and_then(|h| std::fs::symlink_metadata(h).map_err(|e| crate::hostfs::read_error(&e))).is_ok_and(|m| m.file_type().is_symlink());
        if c == k && (is_link || c.ends_with(&format!("/{CURRENT_LINK}"))) {
            let dir = parent(&c);
            let pem = stamped_pem(root, &dir, now);
            plan = plan.write(pem.clone(), Contents::secret(combined.as_bytes()), 0o600).symlink(c.clone(), pem.clone());
            return Ok(ClientInstall { plan, style: InstallStyle::KubeletRotating { pem, link: c }, kubeconfig: kubeconfig.into(), kubeconfig_rewritten: false, notes });
        }
        if c == k {
            plan = plan.write(c.clone(), Contents::secret(combined.as_bytes()), 0o600);
            return Ok(ClientInstall { plan, style: InstallStyle::CombinedFile { path: c }, kubeconfig: kubeconfig.into(), kubeconfig_rewritten: false, notes });
        }
        if c.starts_with("/var/lib/rancher/") {
            notes.push("k3s/rke2: the agent fetches client-kubelet.crt/.key from its server at every start and may replace these files".into());
        }
        // Key first: until the certificate is switched too the kubelet would hold a mismatched pair,
        // so the two renames sit next to each other; a crash between them is rolled back (see README).
        let cert_mode = root.read(&c).map(|f| f.mode).unwrap_or(0o644) & 0o644;
        plan = plan
            .write(k.clone(), Contents::secret(cred.key_pem.as_bytes()), 0o600)
            .write(c.clone(), Contents::public(ensure_nl(&cred.cert_pem).into_bytes()), cert_mode);
        return Ok(ClientInstall { plan, style: InstallStyle::SeparateFiles { cert: c, key: k }, kubeconfig: kubeconfig.into(), kubeconfig_rewritten: false, notes });
    }

    // The kubelet layout, with a kubeconfig that points at the link.
    let dir = cert_dir.trim_end_matches('/').to_string();
    let link = format!("{dir}/{CURRENT_LINK}");
    let pem = stamped_pem(root, &dir, now);
    let (cluster, mode) = match &existing {
        Some((kc, mode)) => match kc.resolve(None) {
            Ok(r) => {
                notes.push(format!("{kubeconfig} embeds its credential or has none; it will point at {link} instead"));
                (Some(r.cluster.clone()), *mode)
            }
            Err(_) => (None, *mode),
        },
        None => (None, 0o600),
    };
    let cluster = match cluster {
        Some(c) if c.server.is_some() => c,
        _ => {
            let (Some(server), Some(ca)) = (&cred.server, &cred.ca_pem) else {
                return Err(InstallError::InvalidPlan(format!(
                    "{kubeconfig} gives no usable cluster, so a new one must be written: the API server URL and the cluster CA are needed \
                     (--server and --ca-cert, or a bootstrap kubeconfig)"
                )));
            };
            Cluster {
                server: Some(server.clone()),
                certificate_authority_data: Some(base64::engine::general_purpose::STANDARD.encode(ca.as_bytes())),
                ..Default::default()
            }
        }
    };
    let server = cluster.server.clone().unwrap_or_default();
    let yaml = Kubeconfig::kubelet(&server, cluster, &link)
        .to_yaml()
        .map_err(|e| InstallError::InvalidPlan(format!("cannot write the kubeconfig: {e}")))?;
    plan = plan
        .write(pem.clone(), Contents::secret(combined.as_bytes()), 0o600)
        .symlink(link.clone(), pem.clone())
        .write(kubeconfig.to_string(), Contents::public(yaml.into_bytes()), mode & 0o7777);
    Ok(ClientInstall { plan, style: InstallStyle::KubeletRotating { pem, link }, kubeconfig: kubeconfig.into(), kubeconfig_rewritten: true, notes })
}

/// Checks, after an install, that the kubelet's kubeconfig leads to the expected certificate and
/// a key that matches it — exactly what the kubelet will load at its next start.
pub fn verify_client_install(root: &NodeRoot, kubeconfig: &str, expected_cert_der: &[u8]) -> Result<(), InstalledCredentialError> {
    use InstalledCredentialError as E;
    let unreadable = |what: String, e: &dyn std::fmt::Display| E::Unreadable { what, detail: e.to_string() };
    let f = root.read(kubeconfig).map_err(|e| unreadable(kubeconfig.to_string(), &e))?;
    let kc = Kubeconfig::parse(&f.bytes).map_err(|e| unreadable(kubeconfig.to_string(), &e))?;
    let r = kc.resolve(None).map_err(|e| unreadable(kubeconfig.to_string(), &e))?;
    let load = |path: &Option<String>, data: Option<&str>, what: &'static str| -> Result<kubecert_pki::Bundle, E> {
        match (path, data) {
            (_, Some(d)) => kubecert_pki::load_bundle_base64(d).map_err(|e| unreadable(format!("{what} data in {kubeconfig}"), &e)),
            (Some(p), None) => {
                let p = relative_to(kubeconfig, p);
                let file = root.read(&p).map_err(|e| unreadable(format!("{what} {p}"), &e))?;
                kubecert_pki::load_bundle(&file.bytes).map_err(|e| unreadable(format!("{what} {p}"), &e))
            }
            (None, None) => Err(E::NotNamed { kubeconfig: kubeconfig.to_string(), what }),
        }
    };
    let cert = load(&r.user.client_certificate, r.user.client_certificate_data.as_deref(), "certificate")?;
    let key = load(&r.user.client_key, r.user.client_key_data.as_ref().map(|s| s.expose()), "key")?;
    let leaf = cert.certificates.first().ok_or(E::NoCertificate)?;
    if leaf.der() != expected_cert_der {
        return Err(E::OtherCertificate { subject: leaf.info().subject.clone() });
    }
    let key = key.key.ok_or(E::NoKey)?.map_err(|e| unreadable("client key".into(), &e))?;
    if !key.matches(leaf) {
        return Err(E::KeyMismatch);
    }
    Ok(())
}

/// Why the credential the kubelet would load after an install is not the one installed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstalledCredentialError {
    /// A file or embedded value on the way cannot be read or parsed.
    #[error("{what}: {detail}")]
    Unreadable {
        /// What (a node path, or `certificate data in <kubeconfig>`).
        what: String,
        /// Why.
        detail: String,
    },
    /// The kubeconfig names no client certificate or key.
    #[error("{kubeconfig} names no client {what}")]
    NotNamed {
        /// The kubeconfig.
        kubeconfig: String,
        /// `certificate` or `key`.
        what: &'static str,
    },
    /// No certificate where the kubeconfig points.
    #[error("the client certificate file holds no certificate")]
    NoCertificate,
    /// Another certificate than the one installed.
    #[error("the kubelet would load certificate {subject:?}, not the one just installed")]
    OtherCertificate {
        /// Its subject.
        subject: String,
    },
    /// No key where the kubeconfig points.
    #[error("the client key file holds no key")]
    NoKey,
    /// The key is not the certificate's.
    #[error("the installed key does not match the installed certificate")]
    KeyMismatch,
}

/// `<dir>/kubelet-client-<YYYY-MM-DD-HH-MM-SS>.pem`, the kubelet's own naming, not yet taken.
fn stamped_pem(root: &NodeRoot, dir: &str, now: OffsetDateTime) -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]-[hour]-[minute]-[second]");
    let mut t = now;
    loop {
        let p = format!("{dir}/kubelet-client-{}.pem", t.format(&fmt).unwrap_or_default());
        if !root.exists_lexically(&p) {
            return p;
        }
        t += time::Duration::seconds(1);
    }
}

fn parent(p: &str) -> String {
    match p.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => p[..i].to_string(),
    }
}

fn ensure_nl(s: &str) -> String {
    if s.ends_with('\n') { s.to_string() } else { format!("{s}\n") }
}


/// Plans the install of a kubelet serving pair, appended to `plan`, where this kubelet loads it:
/// `tlsCertFile`/`tlsPrivateKeyFile` (config or flags) when set; with `serverTLSBootstrap` the
/// rotating `kubelet-server-<stamp>.pem` + `kubelet-server-current.pem` link; otherwise the
/// `kubelet.crt`/`kubelet.key` pair in the cert dir, which the kubelet uses instead of making a
/// self-signed one.
pub fn plan_serving_install(
    root: &NodeRoot,
    setup: &crate::discover::KubeletSetup,
    cert_pem: &str,
    key_pem: &str,
    now: OffsetDateTime,
    mut plan: InstallPlan,
) -> Result<(InstallPlan, InstallStyle), InstallError> {
    let config_path = setup.config.clone();
    let config = config_path
        .as_deref()
        .and_then(|p| root.read(p).ok())
        .and_then(|f| kubecert_config::KubeletConfiguration::parse(&f.bytes).ok());
    let flag = |n: &str| kubecert_config::units::flag_value(&setup.args, n).map(str::to_string);
    let rel = |p: String| match &config_path {
        Some(c) => relative_to(c, &p),
        None => p,
    };
    let cert_file = flag("tls-cert-file").or_else(|| config.as_ref().and_then(|c| c.tls_cert_file.clone()).map(rel));
    let key_file = flag("tls-private-key-file").or_else(|| config.as_ref().and_then(|c| c.tls_private_key_file.clone()).map(rel));
    let bootstrap = config.as_ref().and_then(|c| c.server_tls_bootstrap).unwrap_or(false)
        || flag("rotate-server-certificates").is_some_and(|v| v != "false");
    let dir = setup.cert_dir.trim_end_matches('/').to_string();
    let cert_pem = ensure_nl(cert_pem);
    let key_pem = Zeroizing::new(ensure_nl(key_pem));
    if let (Some(c), Some(k)) = (cert_file, key_file) {
        plan = plan
            .write(k.clone(), Contents::secret(key_pem.as_bytes()), 0o600)
            .write(c.clone(), Contents::public(cert_pem.into_bytes()), 0o644);
        return Ok((plan, InstallStyle::SeparateFiles { cert: c, key: k }));
    }
    if bootstrap {
        let fmt = time::macros::format_description!("[year]-[month]-[day]-[hour]-[minute]-[second]");
        let mut t = now;
        let pem = loop {
            let p = format!("{dir}/kubelet-server-{}.pem", t.format(&fmt).unwrap_or_default());
            if !root.exists_lexically(&p) {
                break p;
            }
            t += time::Duration::seconds(1);
        };
        let link = format!("{dir}/kubelet-server-current.pem");
        let combined = Zeroizing::new(format!("{cert_pem}{}", key_pem.as_str()));
        plan = plan.write(pem.clone(), Contents::secret(combined.as_bytes()), 0o600).symlink(link.clone(), pem.clone());
        return Ok((plan, InstallStyle::KubeletRotating { pem, link }));
    }
    let (c, k) = (format!("{dir}/kubelet.crt"), format!("{dir}/kubelet.key"));
    plan = plan
        .write(k.clone(), Contents::secret(key_pem.as_bytes()), 0o600)
        .write(c.clone(), Contents::public(cert_pem.into_bytes()), 0o644);
    Ok((plan, InstallStyle::SeparateFiles { cert: c, key: k }))
}

/// Would the kubelet authenticate with the certificate `leaf_der` now? It must be inside its
/// validity period at `now` and signed by the cluster CA this node trusts (the kubelet
/// kubeconfig's CA, else the layout's CA file). An install that fails this would replace a
/// credential with one the API server refuses: make the node worse. Returns why, when not.
pub fn check_would_authenticate(root: &NodeRoot, overrides: &crate::Overrides, leaf_der: &[u8], now: OffsetDateTime) -> Result<(), WouldNotAuthenticate> {
    use WouldNotAuthenticate as W;
    let leaf = kubecert_pki::Certificate::from_der(leaf_der).map_err(|e| W::Unparsable(e.to_string()))?;
    let info = leaf.info();
    if now < info.not_before {
        return Err(W::NotYetValid { from: info.not_before });
    }
    if now >= info.not_after {
        return Err(W::Expired { ended: info.not_after });
    }
    let snap = crate::snapshot::take(root, overrides);
    // A node that names no readable CA (a kubeconfig to be written from scratch) has nothing to
    // contradict: the kubeconfig written then carries the signer's CA.
    let Some(ca) = crate::rules::cluster_ca(&snap) else { return Ok(()) };
    kubecert_pki::verify_signed_by(&leaf, ca).map_err(|reason| W::Untrusted { ca_subject: ca.info().subject.clone(), reason })
}

/// Why the API server would refuse a new certificate now (an install would make the node worse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WouldNotAuthenticate {
    /// It does not parse.
    #[error("the new certificate cannot be parsed: {0}")]
    Unparsable(String),
    /// Before its NotBefore.
    #[error("the new certificate is not valid yet (from {from})")]
    NotYetValid {
        /// NotBefore.
        from: OffsetDateTime,
    },
    /// Past its NotAfter.
    #[error("the new certificate is already expired (it ended {ended})")]
    Expired {
        /// NotAfter.
        ended: OffsetDateTime,
    },
    /// Not signed by the CA the node trusts.
    #[error("the new certificate is not signed by the cluster CA this node trusts ({ca_subject}): {reason}")]
    Untrusted {
        /// The CA's subject.
        ca_subject: String,
        /// Why it does not verify.
        reason: kubecert_pki::VerifyFailure,
    },
}
