//! The kubeconfig file (`kubelet.conf`, `bootstrap-kubelet.conf`, `admin.conf`): a model that keeps
//! unknown fields, resolves the current context, and writes the two layouts kubecert produces —
//! kubeadm's bootstrap kubeconfig and the kubelet's own post-bootstrap kubeconfig.

use crate::error::{parse_yaml, ConfigError};
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

type Extra = BTreeMap<String, serde_json::Value>;

/// A kubeconfig file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Kubeconfig {
    /// `v1`.
    #[serde(rename = "apiVersion", default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Named clusters.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub clusters: Vec<NamedCluster>,
    /// Named contexts.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub contexts: Vec<NamedContext>,
    /// The context in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    /// Named users.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub users: Vec<NamedUser>,
    /// Anything else (preferences, extensions), kept as is.
    #[serde(flatten)]
    pub other: Extra,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// `clusters[]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedCluster {
    /// The name contexts refer to.
    pub name: String,
    /// The cluster.
    pub cluster: Cluster,
}

/// A cluster entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    /// API server URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// CA file path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    /// CA PEM, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    /// Skip server verification (never written by kubecert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_tls_verify: Option<bool>,
    /// Anything else, kept.
    #[serde(flatten)]
    pub other: Extra,
}

/// `contexts[]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedContext {
    /// The context's name.
    pub name: String,
    /// The context.
    pub context: Context,
}

/// A context entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Context {
    /// The cluster name.
    #[serde(default)]
    pub cluster: String,
    /// The user name.
    #[serde(default)]
    pub user: String,
    /// Anything else (namespace), kept.
    #[serde(flatten)]
    pub other: Extra,
}

/// `users[]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedUser {
    /// The user's name.
    pub name: String,
    /// The credentials.
    #[serde(default)]
    pub user: User,
}

/// A user entry: the credential kinds a kubelet uses.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct User {
    /// Client certificate file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    /// Client certificate PEM, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    /// Client key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    /// Client key PEM, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<Secret>,
    /// Bearer token (a bootstrap token in bootstrap kubeconfigs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// Anything else (exec, auth-provider), kept.
    #[serde(flatten)]
    pub other: Extra,
}

/// The cluster and user of the current context.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'a> {
    /// The context name.
    pub context: &'a str,
    /// The cluster entry's name.
    pub cluster_name: &'a str,
    /// The cluster entry.
    pub cluster: &'a Cluster,
    /// The user entry's name.
    pub user_name: &'a str,
    /// The user entry.
    pub user: &'a User,
}

impl Kubeconfig {
    /// Parses YAML or JSON.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        parse_yaml("kubeconfig", bytes)
    }

    /// Writes YAML the way kubectl does (plain single-line strings, no folded blocks).
    pub fn to_yaml(&self) -> Result<String, ConfigError> {
        let opts = serde_saphyr::ser_options! { prefer_block_scalars: false };
        serde_saphyr::to_string_with_options(self, opts)
            .map_err(|e| ConfigError::Serialise { what: "kubeconfig", detail: e.to_string() })
    }

    /// Resolves `context` (or the current context; or the only context when there is exactly one).
    pub fn resolve(&self, context: Option<&str>) -> Result<Resolved<'_>, ConfigError> {
        let name = match context.or(self.current_context.as_deref()).filter(|s| !s.is_empty()) {
            Some(n) => n,
            None if self.contexts.len() == 1 => self.contexts[0].name.as_str(),
            None => return Err(ConfigError::Dangling("no current-context is set and there is not exactly one context".into())),
        };
        let ctx = self
            .contexts
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ConfigError::Dangling(format!("context {name:?} does not exist")))?;
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == ctx.context.cluster)
            .ok_or_else(|| ConfigError::Dangling(format!("context {name:?} names cluster {:?}, which does not exist", ctx.context.cluster)))?;
        let user = self
            .users
            .iter()
            .find(|u| u.name == ctx.context.user)
            .ok_or_else(|| ConfigError::Dangling(format!("context {name:?} names user {:?}, which does not exist", ctx.context.user)))?;
        Ok(Resolved {
            context: &ctx.name,
            cluster_name: &cluster.name,
            cluster: &cluster.cluster,
            user_name: &user.name,
            user: &user.user,
        })
    }

    /// A kubeconfig with one cluster, one user and one current context.
    pub fn single(cluster_name: &str, cluster: Cluster, user_name: &str, user: User, context_name: &str) -> Self {
        Kubeconfig {
            api_version: Some("v1".into()),
            kind: Some("Config".into()),
            clusters: vec![NamedCluster { name: cluster_name.into(), cluster }],
            contexts: vec![NamedContext {
                name: context_name.into(),
                context: Context { cluster: cluster_name.into(), user: user_name.into(), other: Extra::new() },
            }],
            current_context: Some(context_name.into()),
            users: vec![NamedUser { name: user_name.into(), user }],
            other: Extra::new(),
        }
    }

    /// kubeadm's bootstrap kubeconfig: cluster `kubernetes`, user `tls-bootstrap-token-user`,
    /// context `tls-bootstrap-token-user@kubernetes`, the CA embedded (base64 of the PEM).
    pub fn bootstrap(server: &str, ca_data_base64: &str, token: Secret) -> Self {
        Self::single(
            "kubernetes",
            Cluster { server: Some(server.into()), certificate_authority_data: Some(ca_data_base64.into()), ..Default::default() },
            "tls-bootstrap-token-user",
            User { token: Some(token), ..Default::default() },
            "tls-bootstrap-token-user@kubernetes",
        )
    }

    /// The kubeconfig the kubelet writes after bootstrapping: cluster `default-cluster`, user
    /// `default-auth`, context `default-context` in namespace `default`, certificate and key both
    /// pointing at `pem_path` (normally `/var/lib/kubelet/pki/kubelet-client-current.pem`).
    pub fn kubelet(server: &str, cluster: Cluster, pem_path: &str) -> Self {
        let mut k = Self::single(
            "default-cluster",
            Cluster { server: Some(server.into()), ..cluster },
            "default-auth",
            User { client_certificate: Some(pem_path.into()), client_key: Some(pem_path.into()), ..Default::default() },
            "default-context",
        );
        k.contexts[0].context.other.insert("namespace".into(), serde_json::Value::String("default".into()));
        k
    }
}
