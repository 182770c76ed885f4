//! Everything diagnosis needs, read from the node once: the kubelet's kubeconfig and the credential
//! it points at, the bootstrap kubeconfig, the KubeletConfiguration, the certificate directory, the
//! cluster CA and the serving certificate. Rules are pure functions of this snapshot.

use crate::credential::{self, cert_file, cert_from, embedded_cert, Choice, Credential, Location, Verdict};
use crate::discover::{discover, KubeletSetup, Overrides};
use crate::root::{relative_to, NodeFile, NodeRoot, ReadError};
use kubecert_config::{Kubeconfig, KubeletConfiguration};
use kubecert_pki::Certificate;

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
    pub(crate) fn is_missing(&self) -> bool {
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

/// An empty CA in a kubeconfig, which client-go takes as no CA (`certificate-authority-data: ""`:
/// the system's trust store) or, for a zero-byte `certificate-authority` file, as a CA that trusts
/// nothing (client-go v0.37 transport.rootCertPool with ClientsAllowCARotation, on by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmptyCa {
    /// `certificate-authority-data` is the empty string.
    Data,
    /// `certificate-authority` names this file (node path), which is empty.
    File(String),
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
    /// The client credential clientcmd would use (embedded data wins over files); None when the
    /// user has a token or nothing.
    pub client: Option<Credential>,
    /// The current cluster's CA is there but empty (client-go loads the kubeconfig all the same;
    /// the kubelet then cannot verify the API server).
    pub ca_empty: Option<EmptyCa>,
    /// Why clientcmd would refuse this kubeconfig although it parses (both a file and `-data` set,
    /// a `certificate-authority` file it cannot read), or why its TLS config cannot be built (a CA
    /// that holds no certificate).
    pub rejected: Option<String>,
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
    /// The store's pair (`kubelet-client-current.pem` as cert and key) when the kubelet's `os.Stat`
    /// finds it: absent when missing or a dangling link.
    pub store: Option<Credential>,
    /// `kubelet-client.crt` + `kubelet-client.key` when both exist.
    pub pair: Option<Credential>,
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
    /// Why the kubelet cannot load its `clientCAFile` (it then exits), if so.
    pub client_ca_error: Option<String>,
    /// The client credential the kubelet presents, the step that decided, and the unused ones.
    pub choice: Choice,
    /// The control-plane certificates, on a control-plane node.
    pub control_plane: Option<crate::controlplane::snapshot::ControlPlane>,
}

impl Snapshot {
    /// Every client credential found, the kubeconfig's first.
    pub fn credentials(&self) -> impl Iterator<Item = &Credential> {
        let k = self.kubeconfig.outcome.as_ref().ok().and_then(|v| v.client.as_ref());
        k.into_iter().chain(self.cert_dir.store.as_ref()).chain(self.cert_dir.pair.as_ref())
    }

    /// The credential at `l`.
    pub fn credential(&self, l: &Location) -> Option<&Credential> {
        self.credentials().find(|c| &c.location == l)
    }

    /// The credential the kubelet's decision is about (presented, expired, or failing to load).
    pub fn presented(&self) -> Option<&Credential> {
        self.choice.credential.as_ref().and_then(|l| self.credential(l))
    }

    /// "the kubelet will present X: <step>", for evidence lines.
    pub(crate) fn presented_evidence(&self) -> String {
        let l = self.choice.credential.as_ref().map(|l| l.to_string()).unwrap_or_else(|| "?".into());
        let what = match &self.choice.verdict {
            Verdict::Presents => format!("the kubelet will present {l}"),
            Verdict::Expired => format!("the kubelet finds only {l}, which has expired, and presents no certificate"),
            Verdict::Token => "the kubelet authenticates with its kubeconfig's token".into(),
            Verdict::Bootstraps => "the kubelet will request a new certificate with its bootstrap kubeconfig".into(),
            Verdict::NoCertificate => "the kubelet has no client certificate to present".into(),
            Verdict::RefusesToStart(why) => format!("the kubelet will refuse to start: {why}"),
        };
        format!("{what} — {}", self.choice.step.why())
    }
}

/// Reads the node under `root`.
pub fn take(root: &NodeRoot, ov: &Overrides) -> Snapshot {
    let setup = discover(root, ov);
    let kubeconfig = read_kubeconfig(root, &setup.kubeconfig, &setup.cert_dir);
    let bootstrap = setup.bootstrap_kubeconfig.as_deref().map(|p| read_kubeconfig(root, p, &setup.cert_dir));
    let kubelet_config = setup.config.as_deref().map(|p| {
        let (outcome, mode) = read_with(root, p, |f| KubeletConfiguration::parse(&f.bytes));
        Looked { path: p.to_string(), outcome, mode }
    });
    let mut kubeconfig = kubeconfig;
    let cert_dir = read_cert_dir(root, &setup.cert_dir);
    // The kubeconfig naming the store is the store: one location, with the link's target.
    if let (Ok(v), Some(s)) = (&mut kubeconfig.outcome, &cert_dir.store)
        && let Some(c) = &mut v.client
        && matches!(c.location, Location::Store { .. })
    {
        c.location = s.location.clone();
    }
    let cluster_ca = read_cert(root, setup.defaults.cluster_ca);
    let client_ca_file = kubelet_config
        .as_ref()
        .and_then(|k| k.outcome.as_ref().ok())
        .and_then(|k| k.client_ca_file())
        .filter(|p| *p != setup.defaults.cluster_ca)
        .map(|p| read_cert(root, p));
    let serving = serving_cert_path(root, &setup, kubelet_config.as_ref().and_then(|k| k.outcome.as_ref().ok())).map(|p| read_cert(root, &p));
    let client_ca_error = kubelet_config.as_ref().and_then(|k| k.outcome.as_ref().ok()).and_then(|k| k.client_ca_file()).and_then(|p| client_ca_problem(root, p));
    let mut snap = Snapshot {
        setup,
        kubeconfig,
        bootstrap,
        kubelet_config,
        cert_dir,
        cluster_ca,
        client_ca_file,
        serving,
        client_ca_error,
        choice: Choice { verdict: Verdict::NoCertificate, step: credential::Step::NothingToPresent, credential: None, unused: vec![] },
        control_plane: crate::controlplane::snapshot::take(root),
    };
    snap.choice = crate::credential::inputs::choose_for(&snap, time::OffsetDateTime::now_utc());
    snap
}

/// What `dynamiccertificates.NewDynamicCAContentFromFile` would say about the kubelet's
/// `clientCAFile` (auth.go:74-78, dynamic_cafile_content.go:104-121).
fn client_ca_problem(root: &NodeRoot, path: &str) -> Option<String> {
    match root.read(path) {
        Err(e) => Some(format!("clientCAFile {path}: {e}")),
        Ok(f) if f.bytes.is_empty() => Some(format!("missing content for CA bundle \"client-ca-bundle::{path}\"")),
        Ok(f) => kubecert_pki::load_certificates(&f.bytes).err().map(|e| format!("error loading CA bundle for \"client-ca-bundle::{path}\": {e}")),
    }
}

/// Reads `path` and parses it; a parse error becomes [`Problem::Invalid`] with its message.
fn read_with<T, E: std::fmt::Display>(root: &NodeRoot, path: &str, parse: impl FnOnce(&NodeFile) -> Result<T, E>) -> (Result<T, Problem>, Option<u32>) {
    match root.read(path) {
        Ok(f) => (parse(&f).map_err(|e| Problem::Invalid(e.to_string())), Some(f.mode)),
        Err(e) => (Err(Problem::Read(e)), None),
    }
}

fn read_cert(root: &NodeRoot, path: &str) -> Looked<Certificate> {
    let (outcome, mode) = read_with(root, path, |f| {
        kubecert_pki::load_certificates(&f.bytes).map(|mut c| c.remove(0))
    });
    Looked { path: path.to_string(), outcome, mode }
}

fn read_kubeconfig(root: &NodeRoot, path: &str, cert_dir: &str) -> Looked<KubeconfigView> {
    let (outcome, mode) = read_with(root, path, |f| {
        let config = Kubeconfig::parse(&f.bytes)?;
        view(root, path, config, cert_dir)
    });
    Looked { path: path.to_string(), outcome, mode }
}

fn view(root: &NodeRoot, path: &str, config: Kubeconfig, cert_dir: &str) -> Result<KubeconfigView, kubecert_config::ConfigError> {
    let r = config.resolve(None)?;
    let server = r.cluster.server.clone();
    // clientcmd and client-go test lengths, not presence: an empty field counts as absent
    // (validation.go validateClusterInfo, transport.go dataFromSliceOrFile/rootCertPool).
    let ca_data = r.cluster.certificate_authority_data.as_deref().filter(|d| !d.is_empty());
    let ca_file = r.cluster.certificate_authority.as_deref().filter(|f| !f.is_empty()).map(|f| relative_to(path, f));
    let mut ca_empty = None;
    let ca = match (ca_data, &ca_file) {
        (Some(data), _) => Some(embedded_cert(path, "certificate-authority-data", data)),
        (None, Some(file)) => match root.read(file) {
            Ok(f) if f.bytes.is_empty() => {
                ca_empty = Some(EmptyCa::File(file.clone()));
                None
            }
            read => Some(cert_from(file, read)),
        },
        (None, None) => {
            ca_empty = r.cluster.certificate_authority_data.is_some().then_some(EmptyCa::Data);
            None
        }
    };
    let u = r.user;
    let has_cert = u.client_certificate.is_some() || u.client_certificate_data.is_some() || u.client_key.is_some() || u.client_key_data.is_some();
    let client = has_cert.then(|| kubeconfig_credential(root, path, u, cert_dir));
    let mut rejected = None;
    if u.client_certificate.is_some() && u.client_certificate_data.is_some() {
        rejected = Some(format!("client-cert-data and client-cert are both specified for {:?}. client-cert-data will override.", r.user_name));
    } else if u.client_key.is_some() && u.client_key_data.is_some() {
        rejected = Some(format!("client-key-data and client-key are both specified for {:?}; client-key-data will override", r.user_name));
    } else if ca_file.is_some() && ca_data.is_some() {
        rejected = Some("certificate-authority-data and certificate-authority are both specified".into());
    } else if let Some(Err((p, e))) = &ca {
        rejected = Some(format!("unable to read certificate-authority {p}: {e}"));
    }
    let token_id = u.token.as_ref().and_then(|t| t.expose().split_once('.').map(|(id, _)| id.to_string()));
    Ok(KubeconfigView { server, ca, ca_empty, client, rejected, has_token: u.token.is_some(), token_id, config })
}

/// The credential a kubeconfig's user holds, as clientcmd uses it: embedded data wins over files.
fn kubeconfig_credential(root: &NodeRoot, path: &str, u: &kubecert_config::User, cert_dir: &str) -> Credential {
    if u.client_certificate_data.is_some() || u.client_key_data.is_some() {
        return Credential::embedded(path, u.client_certificate_data.as_deref(), u.client_key_data.as_ref().map(|k| k.expose()));
    }
    let cert = u.client_certificate.as_deref().map(|f| relative_to(path, f));
    let key = u.client_key.as_deref().map(|f| relative_to(path, f));
    let store = format!("{cert_dir}/kubelet-client-current.pem");
    let location = match (&cert, &key) {
        (Some(c), Some(k)) if c == k && *c == store => Location::Store { current: store.clone(), target: None },
        (Some(c), Some(k)) if c == k => Location::Combined { path: c.clone() },
        (c, k) => Location::FilePair { cert: c.clone().unwrap_or_default(), key: k.clone().unwrap_or_default() },
    };
    let mut cred = Credential::read_files(root, location, cert.as_deref().unwrap_or(""), key.as_deref().unwrap_or(""));
    if cert.is_none() {
        cred.cert = Err((path.to_string(), Problem::Invalid("the user has a client key but no client certificate".into())));
    }
    if key.is_none() {
        cred.key = Err((path.to_string(), Problem::Invalid("the user has a client certificate but no key".into())));
    }
    cred
}

/// The client certificate of a kubeconfig's user (the kubeconfig at node path `path`): embedded
/// data, or a file relative to the kubeconfig.
pub(crate) fn client_cert(root: &NodeRoot, path: &str, u: &kubecert_config::User) -> Result<CertSource, (String, Problem)> {
    match (&u.client_certificate_data, &u.client_certificate) {
        (Some(data), _) => embedded_cert(path, "client-certificate-data", data),
        (None, Some(file)) => cert_file(root, &relative_to(path, file)),
        (None, None) => Err((path.to_string(), Problem::Invalid("the user has no client certificate".into()))),
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
        // The kubelet's os.Stat follows the link: a dangling one is no pair at all.
        if !matches!(root.read(&current_path), Err(ReadError::NotFound { .. })) {
            let location = Location::Store { current: current_path.clone(), target: cd.current_target.clone() };
            cd.store = Some(Credential::read_files(root, location, &current_path, &current_path));
        }
    }
    let (crt, key) = (format!("{dir}/kubelet-client.crt"), format!("{dir}/kubelet-client.key"));
    if root.exists_lexically(&crt) && root.exists_lexically(&key) {
        cd.pair = Some(Credential::read_files(root, Location::FilePair { cert: crt.clone(), key: key.clone() }, &crt, &key));
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
