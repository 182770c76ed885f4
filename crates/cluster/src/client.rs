//! A `kube::Client` from a kubeconfig, chosen as kubectl chooses it: `--kubeconfig` (a path, or a
//! colon-separated list like `$KUBECONFIG`, merged first-wins), else `$KUBECONFIG`, else
//! `~/.kube/config`; `--context` or the current context. Also hands back the cluster's server URL
//! and CA so that a bootstrap kubeconfig can point at the same place.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The kubeconfig file could not be read or parsed.
    #[error("cannot load kubeconfig {path}: {detail}")]
    Load {
        /// The file (or list) that was read.
        path: String,
        /// Why.
        detail: String,
    },
    /// The kubeconfig does not describe a usable cluster/context.
    #[error("kubeconfig {path}: {detail}")]
    Config {
        /// The file (or list) that was read.
        path: String,
        /// Why.
        detail: String,
    },
    /// The HTTP client could not be built (TLS material unusable).
    #[error("cannot build a client for {server}: {detail}")]
    Build {
        /// The API server URL.
        server: String,
        /// Why.
        detail: String,
    },
}

/// Where to find the kubeconfig.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// `--kubeconfig` (may be a colon-separated list, as `$KUBECONFIG` is).
    pub kubeconfig: Option<PathBuf>,
    /// `--context`.
    pub context: Option<String>,
}

/// A connected client and what it points at.
#[derive(Clone)]
pub struct AdminClient {
    /// The client.
    pub client: kube::Client,
    /// The API server URL (`https://host:port`).
    pub server: String,
    /// The CA certificates (DER) the kubeconfig trusts for that server, if it names any.
    pub ca_der: Vec<Vec<u8>>,
    /// Which kubeconfig was used (for messages).
    pub source: String,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient").field("server", &self.server).field("source", &self.source).finish_non_exhaustive()
    }
}

/// Installs aws-lc-rs as rustls' process-wide crypto provider (once; later calls do nothing).
pub(crate) fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// The kubeconfig that kubectl would read for these options, as a label and the merged file.
fn load_kubeconfig(opts: &ClientOptions) -> Result<(String, Kubeconfig), ClientError> {
    let load_err = |path: &str, e: kube::config::KubeconfigError| ClientError::Load { path: path.to_string(), detail: e.to_string() };
    match &opts.kubeconfig {
        Some(p) => {
            let label = p.display().to_string();
            let mut merged: Option<Kubeconfig> = None;
            for part in std::env::split_paths(p.as_os_str()).filter(|p| !p.as_os_str().is_empty()) {
                let kc = Kubeconfig::read_from(&part).map_err(|e| load_err(&part.display().to_string(), e))?;
                merged = Some(match merged {
                    None => kc,
                    Some(m) => m.merge(kc).map_err(|e| load_err(&label, e))?,
                });
            }
            merged.map(|m| (label.clone(), m)).ok_or(ClientError::Load { path: label, detail: "no file named".into() })
        }
        None => {
            let label = std::env::var("KUBECONFIG").unwrap_or_else(|_| "~/.kube/config".into());
            Kubeconfig::read().map(|k| (label.clone(), k)).map_err(|e| load_err(&label, e))
        }
    }
}

/// Builds the client. Reads files only; the first request is the first network traffic.
pub async fn connect(opts: &ClientOptions) -> Result<AdminClient, ClientError> {
    let (source, kc) = load_kubeconfig(opts)?;
    build(source, kc, opts.context.clone()).await
}

/// Builds the client from a kubeconfig a node holds (e.g. its `/etc/kubernetes/admin.conf`, read
/// root-confined and bounded by the caller). Nothing on the node is trusted: a kubeconfig that
/// names other files (certificate, key, CA, token file) or runs a command is refused, since
/// following those would read or run outside the root.
pub(crate) async fn connect_node_kubeconfig(label: &str, yaml: &[u8], context: Option<String>) -> Result<AdminClient, ClientError> {
    let err = |detail: String| ClientError::Load { path: label.to_string(), detail };
    let text = std::str::from_utf8(yaml).map_err(|_| err("not UTF-8".into()))?;
    let kc = Kubeconfig::from_yaml(text).map_err(|e| err(e.to_string()))?;
    for c in &kc.clusters {
        if c.cluster.as_ref().is_some_and(|c| c.certificate_authority.is_some()) {
            return Err(err(format!("cluster {:?} names a CA file; only embedded data is used from a node's kubeconfig (pass --kubeconfig)", c.name)));
        }
    }
    for a in &kc.auth_infos {
        let Some(i) = a.auth_info.as_ref() else { continue };
        if i.client_certificate.is_some() || i.client_key.is_some() || i.token_file.is_some() || i.exec.is_some() || i.auth_provider.is_some() {
            return Err(err(format!("user {:?} names files or a command; only embedded data is used from a node's kubeconfig (pass --kubeconfig)", a.name)));
        }
    }
    build(label.to_string(), kc, context).await
}

async fn build(source: String, kc: Kubeconfig, context: Option<String>) -> Result<AdminClient, ClientError> {
    install_crypto_provider();
    let options = KubeConfigOptions { context, ..Default::default() };
    let config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| ClientError::Config { path: source.clone(), detail: e.to_string() })?;
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let ca_der = config.root_cert.clone().unwrap_or_default();
    let client = kube::Client::try_from(config).map_err(|e| ClientError::Build { server: server.clone(), detail: crate::error::describe(&e) })?;
    Ok(AdminClient { client, server, ca_der, source })
}

/// A client for `server` that authenticates with a bearer `token` (or anonymously with `None`),
/// trusting `ca_der`, or trusting anything when `ca_der` is empty and `insecure` is set.
pub fn token_client(server: &str, ca_der: &[Vec<u8>], token: Option<&str>, insecure: bool) -> Result<kube::Client, ClientError> {
    install_crypto_provider();
    let build = |detail: String| ClientError::Build { server: server.to_string(), detail };
    // The URI type is http's; inference names it for us.
    let mut config = kube::Config::new(server.parse().map_err(|e| build(format!("not a URL: {e}")))?);
    if !ca_der.is_empty() {
        config.root_cert = Some(ca_der.to_vec());
    }
    config.accept_invalid_certs = insecure;
    config.default_retry = false;
    config.connect_timeout = Some(std::time::Duration::from_secs(10));
    config.read_timeout = Some(std::time::Duration::from_secs(30));
    if let Some(t) = token {
        // AuthInfo's token is a SecretString; going through serde avoids naming that crate.
        config.auth_info = serde_json::from_value(serde_json::json!({ "token": t })).map_err(|e| build(e.to_string()))?;
    }
    kube::Client::try_from(config).map_err(|e| build(crate::error::describe(&e)))
}

/// Asks the API server who this client is (a SelfSubjectReview): the user name, e.g.
/// `system:bootstrap:abcdef` for a bootstrap token, and the groups. A token that does not
/// authenticate (unknown, expired, deleted, or bootstrap-token auth disabled) gets a 401.
pub async fn whoami(client: &kube::Client) -> Result<(String, Vec<String>), crate::ApiError> {
    use crate::error::Context;
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let got = kube::Api::<SelfSubjectReview>::all(client.clone())
        .create(&kube::api::PostParams::default(), &SelfSubjectReview::default())
        .await
        .ctx(|| "create a SelfSubjectReview".to_string())?;
    let ui = got.status.and_then(|s| s.user_info).unwrap_or_default();
    Ok((ui.username.unwrap_or_default(), ui.groups.unwrap_or_default()))
}
