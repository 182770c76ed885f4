//! Everything diagnosis needs, read from the node once: the kubelet's kubeconfig and the credential
//! it points at, the bootstrap kubeconfig, the KubeletConfiguration, the certificate directory, the
//! cluster CA and the serving certificate. Rules are pure functions of this snapshot.

use crate::discover::{discover, KubeletSetup, Overrides};
use crate::root::{relative_to, NodeFile, NodeRoot, ReadError};
use kubecert_config::{Kubeconfig, KubeletConfiguration};
use kubecert_pki::{Certificate, PkiError, PrivateKey};

/// A file that was looked for: its path and what reading it gave.
#[derive(Debug)]
pub struct Looked<T> {
    /// The node path.
    pub path: String,
    /// The content, or why there is none.
    pub outcome: Result<T, Problem>,
    /// Permission bits, when the file was read.
    pub mode: Option<u32>,
}

/// Why a looked-for thing is not usable.
#[derive(Debug, Clone)]
pub enum Problem {
    /// The file could not be read (missing, dangling link, loop, too large, I/O).
    Read(ReadError),
    /// The file was read but does not parse.
    Invalid(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Read(e) => write!(f, "{e}"),
            Problem::Invalid(e) => f.write_str(e),
        }
    }
}

impl Problem {
    /// True when the thing simply is not there (not found, or a dangling link).
    pub fn is_missing(&self) -> bool {
        matches!(self, Problem::Read(ReadError::NotFound { .. }))
    }
}

/// A certificate (leaf first) from a file or an embedded `*-data` field.
#[derive(Debug)]
pub struct CertSource {
    /// Node path of the file, or `<kubeconfig path>#client-certificate-data` for embedded data.
    pub origin: String,
    /// True when embedded in a kubeconfig.
    pub embedded: bool,
    /// The certificates, leaf first.
    pub chain: Vec<Certificate>,
}

impl CertSource {
    /// The leaf.
    pub fn leaf(&self) -> &Certificate {
        &self.chain[0]
    }
}

/// The client credential a kubeconfig's current user holds.
#[derive(Debug)]
pub struct ClientCredential {
    /// The certificate, or why it cannot be used.
    pub cert: Result<CertSource, (String, Problem)>,
    /// The key, or why it cannot be used.
    pub key: Result<(String, PrivateKey), (String, Problem)>,
    /// Mode of the key file (None for embedded keys).
    pub key_mode: Option<u32>,
}

/// A parsed kubeconfig with what its current context resolves to.
#[derive(Debug)]
pub struct KubeconfigView {
    /// The model.
    pub config: Kubeconfig,
    /// Server URL of the current cluster.
    pub server: Option<String>,
    /// The CA the kubeconfig trusts (file or embedded), if any.
    pub ca: Option<Result<CertSource, (String, Problem)>>,
    /// The client credential (None when the user has a token or nothing).
    pub client: Option<ClientCredential>,
    /// True when the user authenticates with a bearer token.
    pub has_token: bool,
    /// The token value's id part (bootstrap tokens are `id.secret`), never the secret.
    pub token_id: Option<String>,
}

/// The cert directory's interesting contents.
#[derive(Debug, Default)]
pub struct CertDir {
    /// `kubelet-client-current.pem` exists (as anything, even a dangling link).
    pub current_exists: bool,
    /// It is a symlink.
    pub current_is_symlink: bool,
    /// Where the link points, as written.
    pub current_target: Option<String>,
    /// The parsed current pair, or why not.
    pub current: Option<Result<CertSource, Problem>>,
    /// Names of `kubelet-client-<stamp>.pem` files.
    pub rotated: Vec<String>,
    /// Node names found in the CNs of those files (file name, node name), for spotting credentials
    /// of other nodes left on disk.
    pub rotated_identities: Vec<(String, String)>,
    /// `kubelet-client.key.tmp` is present (a bootstrap that never finished).
    pub stale_bootstrap_key: bool,
    /// Private key files in the directory with their modes.
    pub key_files: Vec<(String, u32)>,
}

/// The whole snapshot.
#[derive(Debug)]
pub struct Snapshot {
    /// The discovered setup.
    pub setup: KubeletSetup,
    /// The kubelet's kubeconfig.
    pub kubeconfig: Looked<KubeconfigView>,
    /// The bootstrap kubeconfig, if the setup names one.
    pub bootstrap: Option<Looked<KubeconfigView>>,
    /// The KubeletConfiguration, if the setup names one.
    pub kubelet_config: Option<Looked<KubeletConfiguration>>,
    /// The cert directory.
    pub cert_dir: CertDir,
    /// The cluster CA file of the layout (e.g. `/etc/kubernetes/pki/ca.crt`).
    pub cluster_ca: Looked<Certificate>,
    /// The kubelet's `clientCAFile`, when it differs from `cluster_ca`'s path.
    pub client_ca_file: Option<Looked<Certificate>>,
    /// The serving certificate the kubelet presents.
    pub serving: Option<Looked<Certificate>>,
    /// The control-plane certificates, on a control-plane node.
    pub control_plane: Option<crate::controlplane::snapshot::ControlPlane>,
}

/// Reads the node under `root`.
pub fn take(root: &NodeRoot, ov: &Overrides) -> Snapshot {
    let setup = discover(root, ov);
    let kubeconfig = read_kubeconfig(root, &setup.kubeconfig);
    let bootstrap = setup.bootstrap_kubeconfig.as_deref().map(|p| read_kubeconfig(root, p));
    let kubelet_config = setup.config.as_deref().map(|p| {
        let (outcome, mode) = read_with(root, p, |f| KubeletConfiguration::parse(&f.bytes).map_err(|e| e.to_string()));
        Looked { path: p.to_string(), outcome, mode }
    });
    let cert_dir = read_cert_dir(root, &setup.cert_dir);
    let cluster_ca = read_cert(root, setup.defaults.cluster_ca);
    let client_ca_file = kubelet_config
        .as_ref()
        .and_then(|k| k.outcome.as_ref().ok())
        .and_then(|k| k.client_ca_file())
        .filter(|p| *p != setup.defaults.cluster_ca)
        .map(|p| read_cert(root, p));
    let serving = serving_cert_path(root, &setup, kubelet_config.as_ref().and_then(|k| k.outcome.as_ref().ok())).map(|p| read_cert(root, &p));
    let control_plane = crate::controlplane::snapshot::take(root);
    Snapshot { setup, kubeconfig, bootstrap, kubelet_config, cert_dir, cluster_ca, client_ca_file, serving, control_plane }
}

fn read_with<T>(root: &NodeRoot, path: &str, parse: impl FnOnce(&NodeFile) -> Result<T, String>) -> (Result<T, Problem>, Option<u32>) {
    match root.read(path) {
        Ok(f) => (parse(&f).map_err(Problem::Invalid), Some(f.mode)),
        Err(e) => (Err(Problem::Read(e)), None),
    }
}

fn read_cert(root: &NodeRoot, path: &str) -> Looked<Certificate> {
    let (outcome, mode) = read_with(root, path, |f| {
        kubecert_pki::load_certificates(&f.bytes).map(|mut c| c.remove(0)).map_err(|e| e.to_string())
    });
    Looked { path: path.to_string(), outcome, mode }
}

fn read_kubeconfig(root: &NodeRoot, path: &str) -> Looked<KubeconfigView> {
    let (outcome, mode) = read_with(root, path, |f| {
        let config = Kubeconfig::parse(&f.bytes).map_err(|e| e.to_string())?;
        view(root, path, config)
    });
    Looked { path: path.to_string(), outcome, mode }
}

fn view(root: &NodeRoot, path: &str, config: Kubeconfig) -> Result<KubeconfigView, String> {
    let r = config.resolve(None).map_err(|e| e.to_string())?;
    let server = r.cluster.server.clone();
    let ca = match (&r.cluster.certificate_authority_data, &r.cluster.certificate_authority) {
        (Some(data), _) => Some(embedded(path, "certificate-authority-data", data)),
        (None, Some(file)) => Some(cert_file(root, &relative_to(path, file))),
        (None, None) => None,
    };
    let u = r.user;
    let client = if u.client_certificate.is_some() || u.client_certificate_data.is_some() || u.client_key.is_some() || u.client_key_data.is_some() {
        let cert = client_cert(root, path, u);
        let (key, key_mode) = match (&u.client_key_data, &u.client_key) {
            (Some(data), _) => {
                let origin = format!("{path}#client-key-data");
                (key_from(kubecert_pki::load_bundle_base64(data.expose()), &origin), None)
            }
            (None, Some(file)) => {
                let p = relative_to(path, file);
                match root.read(&p) {
                    Ok(f) => (key_from(kubecert_pki::load_bundle(&f.bytes), &p), Some(f.mode)),
                    Err(e) => (Err((p, Problem::Read(e))), None),
                }
            }
            (None, None) => (Err((path.to_string(), Problem::Invalid("the user has a client certificate but no key".into()))), None),
        };
        Some(ClientCredential { cert, key, key_mode })
    } else {
        None
    };
    let token_id = u.token.as_ref().and_then(|t| t.expose().split_once('.').map(|(id, _)| id.to_string()));
    Ok(KubeconfigView { server, ca, client, has_token: u.token.is_some(), token_id, config })
}

/// The client certificate of a kubeconfig's user (the kubeconfig at node path `path`): embedded
/// data, or a file relative to the kubeconfig.
pub(crate) fn client_cert(root: &NodeRoot, path: &str, u: &kubecert_config::User) -> Result<CertSource, (String, Problem)> {
    match (&u.client_certificate_data, &u.client_certificate) {
        (Some(data), _) => embedded(path, "client-certificate-data", data),
        (None, Some(file)) => cert_file(root, &relative_to(path, file)),
        (None, None) => Err((path.to_string(), Problem::Invalid("the user has no client certificate".into()))),
    }
}

fn key_from(bundle: Result<kubecert_pki::Bundle, PkiError>, origin: &str) -> Result<(String, PrivateKey), (String, Problem)> {
    let invalid = |e: String| (origin.to_string(), Problem::Invalid(e));
    match bundle {
        Ok(b) => match b.key {
            Some(Ok(k)) => Ok((origin.to_string(), k)),
            Some(Err(e)) => Err(invalid(e.to_string())),
            None => Err(invalid("no private key in it".into())),
        },
        Err(e) => Err(invalid(e.to_string())),
    }
}

fn embedded(path: &str, field: &str, data: &str) -> Result<CertSource, (String, Problem)> {
    let origin = format!("{path}#{field}");
    match kubecert_pki::load_bundle_base64(data) {
        Ok(b) if !b.certificates.is_empty() => Ok(CertSource { origin, embedded: true, chain: b.certificates }),
        Ok(_) => Err((origin, Problem::Invalid("no certificate in the data".into()))),
        Err(e) => Err((origin, Problem::Invalid(e.to_string()))),
    }
}

fn cert_file(root: &NodeRoot, path: &str) -> Result<CertSource, (String, Problem)> {
    match root.read(path) {
        Ok(f) => match kubecert_pki::load_bundle(&f.bytes) {
            Ok(b) if !b.certificates.is_empty() => Ok(CertSource { origin: path.to_string(), embedded: false, chain: b.certificates }),
            Ok(_) => Err((path.to_string(), Problem::Invalid("no certificate in the file".into()))),
            Err(e) => Err((path.to_string(), Problem::Invalid(e.to_string()))),
        },
        Err(e) => Err((path.to_string(), Problem::Read(e))),
    }
}

fn read_cert_dir(root: &NodeRoot, dir: &str) -> CertDir {
    let current_path = format!("{dir}/kubelet-client-current.pem");
    let host = root.host_path(&current_path);
    let lmeta = std::fs::symlink_metadata(&host);
    let mut cd = CertDir {
        current_exists: lmeta.is_ok(),
        current_is_symlink: lmeta.as_ref().is_ok_and(|m| m.file_type().is_symlink()),
        current_target: std::fs::read_link(&host).ok().map(|t| t.to_string_lossy().into_owned()),
        ..Default::default()
    };
    if cd.current_exists {
        cd.current = Some(cert_file(root, &current_path).map_err(|(_, p)| p));
    }
    for name in root.list_dir(dir) {
        let p = format!("{dir}/{name}");
        if name == "kubelet-client.key.tmp" {
            cd.stale_bootstrap_key = true;
        }
        if name.starts_with("kubelet-client-") && name.ends_with(".pem") && name != "kubelet-client-current.pem" && name != "kubelet-client-updated.pem" {
            cd.rotated.push(name.clone());
            let cn = root.read(&p).ok().and_then(|f| kubecert_pki::load_bundle(&f.bytes).ok()).and_then(|b| b.certificates.first().and_then(|c| c.info().common_names.first().cloned()));
            if let Some(node) = cn.as_deref().and_then(kubecert_pki::node_name_from_common_name) {
                cd.rotated_identities.push((name.clone(), node.to_string()));
            }
        }
        let looks_like_key = name.ends_with(".key") || name.ends_with("-key.pem") || name.ends_with(".key.tmp") || (name.starts_with("kubelet-") && name.ends_with(".pem"));
        if looks_like_key
            && let Ok(m) = std::fs::symlink_metadata(root.host_path(&p))
                && m.is_file() {
                    use std::os::unix::fs::PermissionsExt;
                    cd.key_files.push((p, m.permissions().mode() & 0o7777));
                }
    }
    cd
}

/// The serving certificate the kubelet presents: `tlsCertFile`, else the rotated
/// `kubelet-server-current.pem`, else the self-signed `kubelet.crt` (k3s/rke2: `serving-kubelet.crt`).
fn serving_cert_path(root: &NodeRoot, setup: &KubeletSetup, cfg: Option<&KubeletConfiguration>) -> Option<String> {
    if let Some(p) = cfg.and_then(|c| c.tls_cert_file.clone()) {
        return Some(p);
    }
    ["kubelet-server-current.pem", "kubelet.crt", "serving-kubelet.crt"]
        .iter()
        .map(|n| format!("{}/{n}", setup.cert_dir))
        .find(|p| root.exists_lexically(p))
}
