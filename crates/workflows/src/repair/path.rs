//! Which repair path the credentials at hand allow, least invasive first:
//!
//! 1. the node's own bootstrap kubeconfig, when its token still works and the cluster will
//!    approve the bootstrap CSR (the kubelet bootstraps again);
//! 2. a CSR through the API with cluster credentials that may get it approved;
//! 3. offline signing with the cluster CA key.
//!
//! Each step is probed only when the ones before it are unavailable; why each was skipped is kept.

use crate::target::Target;
use base64::Engine as _;
use kubecert_cluster::client::{connect, ClientOptions};
use kubecert_cluster::csr::{self as apicsr, Permissions, Signer};
use std::path::{Path, PathBuf};

/// A way to repair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairPath {
    /// The node's bootstrap kubeconfig `file` works (as `user`).
    Bootstrap {
        /// Node path.
        file: String,
        /// The bootstrap token's user.
        user: String,
    },
    /// A CSR through the API as `user`, with `kubeconfig` (none: the caller's own).
    Csr {
        /// The kubeconfig (a host path), when not the caller's own.
        kubeconfig: Option<PathBuf>,
        /// The user.
        user: String,
        /// Who approves it.
        how: String,
    },
    /// Offline signing with this CA pair (host paths).
    Sign {
        /// The CA certificate.
        ca_cert: PathBuf,
        /// The CA key.
        ca_key: PathBuf,
    },
}

/// Why a path is not available.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// The chosen path (none available) and why each earlier one was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The path.
    pub path: Option<RepairPath>,
    /// `what: why`, one per skipped path.
    pub skipped: Vec<String>,
}

/// The cluster credentials the operator has (kubectl's rules) and the CA pair they gave.
#[derive(Debug, Clone, Default)]
pub struct ClusterCredentials {
    /// `--kubeconfig` and `--context`.
    pub client: ClientOptions,
    /// True when the operator has a kubeconfig of their own (`--kubeconfig`, `$KUBECONFIG` or `~/.kube/config`).
    pub own_kubeconfig: bool,
    /// `--ca-cert`/`--ca-key`.
    pub ca: Option<(PathBuf, PathBuf)>,
}

impl ClusterCredentials {
    /// kubectl's rule for "has a kubeconfig": the flag, `$KUBECONFIG`, or `~/.kube/config`.
    pub fn from_environment(client: ClientOptions, ca: Option<(PathBuf, PathBuf)>) -> Self {
        let home = std::env::var_os("HOME").is_some_and(|h| PathBuf::from(h).join(".kube/config").is_file());
        let own_kubeconfig = client.kubeconfig.is_some() || std::env::var_os("KUBECONFIG").is_some() || home;
        ClusterCredentials { client, own_kubeconfig, ca }
    }
}

/// Tries the paths in order and returns the first available one.
pub async fn choose(t: &Target, creds: &ClusterCredentials) -> Choice {
    let mut skipped = Vec::new();
    match t.setup.bootstrap_kubeconfig.as_deref() {
        Some(file) => match probe_bootstrap(t, file).await {
            Ok(user) => return Choice { path: Some(RepairPath::Bootstrap { file: file.to_string(), user }), skipped },
            Err(why) => skipped.push(format!("bootstrap kubeconfig {file}: {why}")),
        },
        None => skipped.push("bootstrap kubeconfig: the kubelet has none configured".into()),
    }
    let admin = t.setup.layout.admin_kubeconfig();
    let candidates = cluster_candidates(creds.own_kubeconfig, admin.and_then(|p| inside(t, p)).filter(|p| p.is_file()));
    if candidates.is_empty() {
        skipped.push(format!(
            "CSR through the API: no cluster credentials (--kubeconfig, $KUBECONFIG, ~/.kube/config{})",
            admin.map(|a| format!(" or the node's {a}")).unwrap_or_default()
        ));
    }
    for kc in candidates {
        let opts = ClientOptions { kubeconfig: kc.clone().or_else(|| creds.client.kubeconfig.clone()), context: creds.client.context.clone() };
        match probe_cluster(&opts).await {
            Ok((user, p, source)) => match csr_verdict(&user, &source, &p) {
                Ok(how) => return Choice { path: Some(RepairPath::Csr { kubeconfig: kc, user, how: how.into() }), skipped },
                Err(why) => skipped.push(format!("CSR through the API: {why}")),
            },
            Err(why) => skipped.push(format!("CSR through the API: {why}")),
        }
    }
    let (ca_cert, ca_key) = ca_files(t, creds.ca.clone());
    match probe_ca(&ca_cert, &ca_key) {
        Ok(()) => Choice { path: Some(RepairPath::Sign { ca_cert, ca_key }), skipped },
        Err(why) => {
            skipped.push(why.0);
            Choice { path: None, skipped }
        }
    }
}

/// Whose cluster credentials to try: the operator's own (`None`), else the node's admin kubeconfig.
pub(crate) fn cluster_candidates(own_kubeconfig: bool, node_admin: Option<PathBuf>) -> Vec<Option<PathBuf>> {
    if own_kubeconfig {
        vec![None]
    } else {
        node_admin.map(Some).into_iter().collect()
    }
}

/// May `user` get a client CSR approved? `Ok(who approves)` or why not.
pub(crate) fn csr_verdict(user: &str, source: &str, p: &Permissions) -> Result<&'static str, Unavailable> {
    match (p.can_create, p.auto_approved, p.can_approve) {
        (true, true, _) => Ok("the controller-manager approves its CSRs"),
        (true, false, true) => Ok("it may approve the CSR"),
        (false, ..) => Err(Unavailable(format!("{user} (from {source}) may not create CSRs"))),
        (true, false, false) => Err(Unavailable(format!("{user} (from {source}) may not get one approved (missing: {})", p.approve_missing.join(", ")))),
    }
}

/// Will the cluster let a bootstrap token `user` bootstrap? (Its CSRs must be auto-approved.)
pub(crate) fn bootstrap_verdict(user: &str, p: &Permissions) -> Result<(), Unavailable> {
    if !kubecert_cluster::names::is_bootstrap_user(user) {
        return Err(Unavailable(format!("it authenticates as {user}, not as a bootstrap token")));
    }
    if !p.can_create || !p.auto_approved {
        return Err(Unavailable(format!(
            "{user} may not {} (the kubeadm bootstrap RBAC is missing: `kubecert rbac ensure`)",
            if !p.can_create { "create CSRs" } else { "get its CSR auto-approved" }
        )));
    }
    Ok(())
}

/// The CA pair to sign with: the operator's, else the layout's own files (resolved inside the root).
pub(crate) fn ca_files(t: &Target, given: Option<(PathBuf, PathBuf)>) -> (PathBuf, PathBuf) {
    if let Some(pair) = given {
        return pair;
    }
    // Unresolvable (a dangling link, a link out of the root): an empty path, which is no file.
    let cert = inside(t, t.setup.defaults.cluster_ca).unwrap_or_default();
    let key = t.setup.layout.cluster_ca_key().and_then(|k| inside(t, k)).unwrap_or_default();
    (cert, key)
}

/// The host path of `node_path`, resolved inside the root (a symlink there must not lead out).
fn inside(t: &Target, node_path: &str) -> Option<PathBuf> {
    t.root.resolve(node_path).ok().map(|r| t.root.host_path(&r))
}

fn probe_ca(ca_cert: &Path, ca_key: &Path) -> Result<(), Unavailable> {
    if !ca_key.is_file() {
        return Err(Unavailable(format!("offline signing: no CA key (give --ca-cert and --ca-key; {} does not exist)", ca_key.display())));
    }
    let read = kubecert_node::hostfs::read_argument;
    let unusable = |e: &dyn std::fmt::Display| Unavailable(format!("offline signing with {}: {e}", ca_cert.display()));
    let cert = read(ca_cert).map_err(|e| unusable(&e))?;
    let key = read(ca_key).map_err(|e| unusable(&e))?;
    kubecert_pki::CertificateAuthority::load(&cert, &key, time::OffsetDateTime::now_utc()).map(|_| ()).map_err(|e| unusable(&e))
}

async fn probe_cluster(opts: &ClientOptions) -> Result<(String, Permissions, String), Unavailable> {
    let admin = connect(opts).await.map_err(|e| Unavailable(e.to_string()))?;
    let (user, _) = kubecert_cluster::client::whoami(&admin.client).await.map_err(|e| Unavailable(e.to_string()))?;
    let p = apicsr::permissions(&admin.client, Signer::KubeletClient).await.map_err(|e| Unavailable(e.to_string()))?;
    Ok((user, p, admin.source))
}

/// Does the node's bootstrap kubeconfig still authenticate, and will the cluster approve its CSR?
async fn probe_bootstrap(t: &Target, file: &str) -> Result<String, Unavailable> {
    let no = |e: String| Unavailable(e);
    let f = t.root.read(file).map_err(|e| no(e.to_string()))?;
    let kc = kubecert_config::Kubeconfig::parse(&f.bytes).map_err(|e| no(e.to_string()))?;
    let r = kc.resolve(None).map_err(|e| no(e.to_string()))?;
    let token = r.user.token.as_ref().ok_or_else(|| no("it holds no token".into()))?;
    let server = r.cluster.server.clone().ok_or_else(|| no("it names no server".into()))?;
    let ca_pem = match (&r.cluster.certificate_authority_data, &r.cluster.certificate_authority) {
        (Some(d), _) => base64::engine::general_purpose::STANDARD.decode(d.trim()).map_err(|e| no(format!("certificate-authority-data: {e}")))?,
        (None, Some(p)) => t.root.read(&kubecert_node::root::relative_to(file, p)).map_err(|e| no(format!("{p}: {e}")))?.bytes,
        (None, None) => return Err(no("it names no CA".into())),
    };
    let ca_der: Vec<Vec<u8>> = kubecert_pki::load_certificates(&ca_pem).map_err(|e| no(e.to_string()))?.iter().map(|c| c.der().to_vec()).collect();
    let client = kubecert_cluster::client::token_client(&server, &ca_der, Some(token.expose()), false).map_err(|e| no(e.to_string()))?;
    let (user, _) = kubecert_cluster::client::whoami(&client).await.map_err(|e| no(format!("its token does not authenticate: {e}")))?;
    let p = apicsr::permissions(&client, Signer::KubeletClient).await.map_err(|e| no(e.to_string()))?;
    bootstrap_verdict(&user, &p)?;
    Ok(user)
}
