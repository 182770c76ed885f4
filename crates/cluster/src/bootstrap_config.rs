//! The bootstrap kubeconfig a kubelet needs to join (or rejoin) by TLS bootstrap, and the
//! preflight that says whether the cluster can complete that bootstrap: the authorizer lets the
//! token file and watch a CSR and lets the controller-manager auto-approve it, and recent CSRs of
//! the kubelet signer were approved and issued. Made where an admin kubeconfig is available
//! (field report 000's `boot.sh`, in one step).

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Api, ListParams};
use kubecert_config::Kubeconfig;
use serde::Serialize;
use time::OffsetDateTime;

use crate::client::AdminClient;
use crate::csr::{is_stuck, state_of, CsrState};
use crate::error::{describe, ApiError, Context};
use crate::rbac::{bootstrap_capabilities, Capability};
use crate::token::{self, CreateError, Token, TokenInfo, TokenSpec};

use crate::names::KUBELET_CLIENT_SIGNER;
/// Where the kubelet looks for its bootstrap kubeconfig unless told otherwise (kubeadm's drop-in).
pub use crate::names::KUBEADM_BOOTSTRAP_KUBECONFIG as DEFAULT_PATH;

/// kubeadm's bootstrap kubeconfig: cluster `kubernetes` (server, CA embedded), user
/// `tls-bootstrap-token-user` holding the token, context `tls-bootstrap-token-user@kubernetes`.
pub fn kubeconfig(server: &str, ca_pem: &str, token: &Token) -> Kubeconfig {
    Kubeconfig::bootstrap(server, &STANDARD.encode(ca_pem.as_bytes()), token.expose())
}

/// What recent kubelet-client CSRs show about the approver and the signer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CsrHealth {
    /// CSRs of the kubelet client signer seen.
    pub total: usize,
    /// Of those, approved and issued.
    pub issued: usize,
    /// Pending (neither approved nor denied) for longer than [`crate::csr::STUCK_AFTER_SECONDS`]: `name (requestor, age)`.
    pub stuck_pending: Vec<String>,
    /// Approved but without a certificate for longer than [`crate::csr::STUCK_AFTER_SECONDS`] (the signer is not running).
    pub approved_not_issued: Vec<String>,
    /// The newest CSR's state, if any: `name: state`.
    pub newest: Option<String>,
}

/// Reads the kubelet-client CSRs and says whether they get approved and issued.
pub(crate) async fn csr_health(client: &kube::Client, now: OffsetDateTime) -> Result<CsrHealth, ApiError> {
    let lp = ListParams::default().fields(&format!("spec.signerName={KUBELET_CLIENT_SIGNER}"));
    let list = Api::<CertificateSigningRequest>::all(client.clone()).list(&lp).await.ctx(|| "list CertificateSigningRequests".to_string())?;
    let mut h = CsrHealth { total: list.items.len(), ..Default::default() };
    let mut newest: Option<(i64, String)> = None;
    for csr in &list.items {
        let name = csr.metadata.name.clone().unwrap_or_default();
        let created = csr.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()).unwrap_or(0);
        let age = now.unix_timestamp() - created;
        let state = state_of(csr);
        let who = csr.spec.username.clone().unwrap_or_default();
        match state {
            CsrState::Issued { .. } => h.issued += 1,
            CsrState::Pending if is_stuck(age) => h.stuck_pending.push(format!("{name} ({who}, {age}s old)")),
            CsrState::Approved { .. } if is_stuck(age) => h.approved_not_issued.push(format!("{name} ({who}, {age}s old)")),
            _ => {}
        }
        let state = state.label();
        if newest.as_ref().is_none_or(|(t, _)| created > *t) {
            newest = Some((created, format!("{name}: {state}")));
        }
    }
    h.newest = newest.map(|(_, s)| s);
    Ok(h)
}

/// Whether the cluster can complete a TLS bootstrap for a token with these groups.
#[derive(Debug, Clone, Serialize)]
pub struct Preflight {
    /// Each permission asked of the authorizer.
    pub capabilities: Vec<Capability>,
    /// What recent CSRs show.
    pub csrs: CsrHealth,
    /// What blocks a bootstrap (the file would not work): one line each, naming the fix.
    pub blocking: Vec<String>,
    /// What may go wrong later or elsewhere.
    pub warnings: Vec<String>,
}

impl Preflight {
    /// True when nothing blocks.
    pub fn ok(&self) -> bool {
        self.blocking.is_empty()
    }
}

/// Runs the preflight for `token_user` with `groups`, for node `node`.
pub async fn preflight(client: &kube::Client, token_user: &str, groups: &[String], node: &str) -> Result<Preflight, ApiError> {
    let (caps, csrs) = tokio::join!(bootstrap_capabilities(client, token_user, groups, node), csr_health(client, OffsetDateTime::now_utc()));
    let (capabilities, csrs) = (caps?, csrs?);
    let mut blocking = Vec::new();
    let mut warnings = Vec::new();
    for c in &capabilities {
        if c.allowed {
            continue;
        }
        let who = if c.user == token_user { format!("a bootstrap token in {}", groups.join(",")) } else { c.user.clone() };
        let fix = if c.user != token_user || groups.iter().any(|g| g == crate::names::KUBEADM_NODE_TOKEN_GROUP) {
            format!("missing: ClusterRoleBinding {} (`kubecert rbac ensure` creates it)", c.granted_by)
        } else {
            format!("kubeadm's ClusterRoleBinding {} covers only {}: bind the same role to the token's group", c.granted_by, crate::token::DEFAULT_GROUP)
        };
        let line = format!("{who} may not {} — {}; {fix}", c.request, c.purpose);
        if c.required { blocking.push(line) } else { warnings.push(line) }
    }
    if !csrs.approved_not_issued.is_empty() {
        warnings.push(format!(
            "approved kubelet CSRs have no certificate after 5 minutes ({}): the controller-manager's CSR signer may not be running (--cluster-signing-cert-file/--cluster-signing-key-file)",
            csrs.approved_not_issued.join(", ")
        ));
    }
    if !csrs.stuck_pending.is_empty() {
        warnings.push(format!(
            "kubelet CSRs pending for over 5 minutes ({}): either their requester lacks the auto-approval binding or the controller-manager's csrapproving controller is not running",
            csrs.stuck_pending.join(", ")
        ));
    }
    Ok(Preflight { capabilities, csrs, blocking, warnings })
}

/// Polls until `token` authenticates as `system:bootstrap:<id>` (the authenticator reads tokens
/// through an informer, so a new token takes a moment).
pub(crate) async fn wait_authenticates(server: &str, ca_der: &[Vec<u8>], token: &Token, timeout: Duration) -> Result<(), NotAuthenticating> {
    let client = crate::client::token_client(server, ca_der, Some(token.expose().expose()), false)?;
    let deadline = Instant::now() + timeout;
    loop {
        let last = match crate::client::whoami(&client).await {
            Ok((user, _)) if user == token.user() => return Ok(()),
            Ok((user, _)) => NotAuthenticating::OtherUser { user, expected: token.user() },
            Err(e) => NotAuthenticating::Refused(describe(&e.cause)),
        };
        if Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Why a new token does not authenticate (yet).
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotAuthenticating {
    /// No client for the server could be made.
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    /// It authenticates as someone else.
    #[error("it authenticates as {user:?}, not {expected:?}")]
    OtherUser {
        /// Who it is.
        user: String,
        /// Who it should be.
        expected: String,
    },
    /// The server refused it or could not be reached (the last answer).
    #[error("{0}")]
    Refused(String),
}

/// What to make.
#[derive(Debug, Clone)]
pub struct Request {
    /// The node the file is for (named in the token's description; its renewals are checked).
    pub node: String,
    /// The server URL for the kubelet; default: the admin kubeconfig's.
    pub server: Option<String>,
    /// The CA PEM; default: the admin kubeconfig's.
    pub ca_pem: Option<String>,
    /// The token to create.
    pub spec: TokenSpec,
    /// Check and validate server-side, but create nothing.
    pub dry_run: bool,
    /// Write even when the preflight finds a blocking problem.
    pub force: bool,
}

/// What was made.
#[derive(Debug, Clone)]
pub struct Made {
    /// The new token (not yet stored anywhere on a dry run).
    pub token: Token,
    /// Its Secret as read back.
    pub info: Option<TokenInfo>,
    /// The bootstrap kubeconfig.
    pub kubeconfig: Kubeconfig,
    /// The server it points at.
    pub server: String,
    /// The preflight's findings.
    pub preflight: Preflight,
}

/// Why no bootstrap kubeconfig was made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapConfigError {
    /// The cluster cannot complete a TLS bootstrap; nothing was created.
    #[error("the cluster cannot complete a TLS bootstrap, so no bootstrap kubeconfig was written and no token created:\n  - {}", .0.blocking.join("\n  - "))]
    Preflight(Box<Preflight>),
    /// No CA to embed.
    #[error("the admin kubeconfig {0} names no CA for the server; give --ca-file")]
    NoCa(String),
    /// The given CA is not a certificate.
    #[error("--ca-file: {0}")]
    BadCa(String),
    /// Token creation failed.
    #[error(transparent)]
    Token(#[from] CreateError),
    /// The new token does not authenticate; it was deleted again.
    #[error("the new token {token} does not authenticate ({detail}); is bootstrap-token authentication enabled on the API server (--enable-bootstrap-token-auth)? The token was deleted again")]
    NotAuthenticating {
        /// The masked token.
        token: String,
        /// The last answer.
        detail: String,
    },
    /// An API call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Preflight, token, check that the token authenticates, kubeconfig. Writes no file.
pub async fn make(admin: &AdminClient, req: &Request) -> Result<Made, BootstrapConfigError> {
    let server = req.server.clone().unwrap_or_else(|| admin.server.clone());
    let ca_pem = match &req.ca_pem {
        Some(pem) => {
            let certs = kubecert_pki::load_certificates(pem.as_bytes()).map_err(|e| BootstrapConfigError::BadCa(e.to_string()))?;
            certs.iter().map(|c| c.to_pem()).collect::<String>()
        }
        None if admin.ca_der.is_empty() => return Err(BootstrapConfigError::NoCa(admin.source.clone())),
        None => admin.ca_der.iter().map(|d| kubecert_pki::pem_encode("CERTIFICATE", d)).collect(),
    };
    req.spec.validate().map_err(CreateError::from)?;
    let token = Token::generate();
    let preflight = preflight(&admin.client, &token.user(), &req.spec.groups, &req.node).await?;
    if !preflight.ok() && !req.force {
        return Err(BootstrapConfigError::Preflight(Box::new(preflight)));
    }
    let (token, info) = token::create(&admin.client, Some(token), &req.spec, req.dry_run).await?;
    if !req.dry_run && req.spec.usages.iter().any(|u| u == "authentication") {
        let ca_der: Vec<Vec<u8>> = kubecert_pki::load_certificates(ca_pem.as_bytes()).map(|c| c.iter().map(|c| c.der().to_vec()).collect()).unwrap_or_default();
        if let Err(e) = wait_authenticates(&server, &ca_der, &token, Duration::from_secs(5)).await {
            let _ = token::delete(&admin.client, token.id()).await;
            return Err(BootstrapConfigError::NotAuthenticating { token: token.to_string(), detail: e.to_string() });
        }
    }
    let kubeconfig = kubeconfig(&server, &ca_pem, &token);
    Ok(Made { token, info: Some(info), kubeconfig, server, preflight })
}
