//! The `KubeletConfiguration` file (`--config`, normally `/var/lib/kubelet/config.yaml`): the fields
//! that decide where certificates live and whether they rotate. Unknown fields are kept.

use crate::error::{parse_yaml, ConfigError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The certificate-relevant part of a KubeletConfiguration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletConfiguration {
    /// `kubelet.config.k8s.io/v1beta1`.
    #[serde(default)]
    pub api_version: Option<String>,
    /// `KubeletConfiguration`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Client certificate rotation. Absent means false in v1beta1 (kubeadm sets it to true).
    #[serde(default)]
    pub rotate_certificates: Option<bool>,
    /// Serving certificate through CSRs (`kubernetes.io/kubelet-serving`).
    #[serde(default, rename = "serverTLSBootstrap")]
    pub server_tls_bootstrap: Option<bool>,
    /// Explicit serving certificate.
    #[serde(default, rename = "tlsCertFile")]
    pub tls_cert_file: Option<String>,
    /// Explicit serving key.
    #[serde(default, rename = "tlsPrivateKeyFile")]
    pub tls_private_key_file: Option<String>,
    /// Authentication settings (the client CA lives here).
    #[serde(default)]
    pub authentication: Option<Authentication>,
    /// Serving address.
    #[serde(default)]
    pub address: Option<String>,
    /// Serving port (10250 by default).
    #[serde(default)]
    pub port: Option<u16>,
    /// Anything else, kept.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `authentication`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Authentication {
    /// `authentication.x509`.
    #[serde(default)]
    pub x509: Option<X509Authentication>,
    /// Anything else, kept.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `authentication.x509`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct X509Authentication {
    /// The CA that client certificates presented to the kubelet must chain to. The kubelet spells
    /// it `clientCAFile` (camelCase would read `clientCaFile` and never match).
    #[serde(default, rename = "clientCAFile")]
    pub client_ca_file: Option<String>,
}

impl KubeletConfiguration {
    /// Parses YAML or JSON.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        parse_yaml("KubeletConfiguration", bytes)
    }

    /// `authentication.x509.clientCAFile`, if set.
    pub fn client_ca_file(&self) -> Option<&str> {
        self.authentication.as_ref()?.x509.as_ref()?.client_ca_file.as_deref()
    }
}
