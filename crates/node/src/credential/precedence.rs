//! Which client credential kubelet v1.37.2 presents, and why: the one place kubecert models the
//! kubelet's precedence. Every step cites the source it follows (docs/kubelet-credential-precedence.md
//! has the whole reading and the testbed's confirmation).

use super::{Credential, Location};
use serde::Serialize;
use time::OffsetDateTime;

/// `rotateCertificates` as the kubelet will run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rotation {
    /// Client certificate rotation on (kubeadm's default).
    On,
    /// Off (the default when the config does not say).
    Off,
}

/// The kubelet's kubeconfig as clientcmd would load it.
#[derive(Debug)]
pub struct KubeconfigInput<'a> {
    /// The `client-certificate`/`client-key` files (also when they are absent: the store checks).
    pub files: Option<&'a Credential>,
    /// The embedded `client-certificate-data`/`client-key-data`.
    pub embedded: Option<&'a Credential>,
    /// Why building its TLS config would fail (CA file unreadable or not a certificate).
    pub tls_error: Option<String>,
    /// The user authenticates with a bearer token.
    pub token: bool,
}

/// Why the kubelet cannot use a kubeconfig (its own or the bootstrap one); the kubelet's log
/// line quotes this.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KubeconfigError {
    /// The file cannot be read or does not parse (missing included).
    #[error("{path}: {problem}")]
    Unloadable {
        /// Node path.
        path: String,
        /// Why.
        problem: crate::snapshot::Problem,
    },
    /// It loads, but clientcmd's validation rejects it (the kubelet's own wording).
    #[error("{0}")]
    Rejected(String),
}

/// What the kubelet looks at, from the snapshot.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The KubeletConfiguration that `--config` names does not load: the kubelet exits.
    pub config_error: Option<String>,
    /// `authentication.x509.clientCAFile` is unusable (missing, empty, no certificate): the kubelet exits.
    pub client_ca_error: Option<String>,
    /// Rotation.
    pub rotation: Rotation,
    /// `--bootstrap-kubeconfig` given: `Ok` when that file loads, else why not.
    pub bootstrap: Option<Result<(), KubeconfigError>>,
    /// The kubeconfig: loaded and accepted by clientcmd's validation, or why not (missing included).
    pub kubeconfig: Result<KubeconfigInput<'a>, KubeconfigError>,
    /// `kubelet-client-current.pem` when `os.Stat` finds it (a dangling link is absent).
    pub store: Option<&'a Credential>,
    /// `<cert-dir>/kubelet-client.crt` + `.key` when both exist.
    pub cert_dir_pair: Option<&'a Credential>,
    /// The store's path (`<cert-dir>/kubelet-client-current.pem`).
    pub store_path: &'a str,
}

/// The precedence step that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The KubeletConfiguration does not load (`server.go:218-220`).
    KubeletConfigInvalid,
    /// `clientCAFile` cannot be loaded (`cmd/kubelet/app/auth.go:74-78`).
    ClientCaFileInvalid,
    /// The kubeconfig does not load or clientcmd rejects it, with nothing to bootstrap from
    /// (`bootstrap.go:60-64`, `server.go:1105-1111`).
    KubeconfigRejected,
    /// A bootstrap is needed and the bootstrap kubeconfig does not load (`bootstrap.go:89-92`, `:123-126`).
    BootstrapKubeconfigUnloadable,
    /// A bootstrap is needed: the kubeconfig's certificate is missing, unloadable or past NotAfter
    /// (`isClientConfigStillValid`, `bootstrap.go:232-272`), and the bootstrap kubeconfig loads.
    Bootstrap,
    /// Rotation off: the kubeconfig is used as is (`server.go:1105-1111`).
    KubeconfigAsIs,
    /// Rotation on: the store's `kubelet-client-current.pem`, unexpired (`store.go:143-149`, `manager.go:513-518`).
    StoreCurrent,
    /// Rotation on: the kubeconfig's `client-certificate`/`client-key` files (`store.go:151-162`).
    KubeconfigFiles,
    /// Rotation on: `<cert-dir>/kubelet-client.crt` + `.key` (`store.go:164-177`).
    CertDirPair,
    /// Rotation on: the store's pick expired or none: the kubeconfig's embedded pair, written
    /// into the store, whatever its dates (`manager.go:525-550`).
    EmbeddedFallback,
    /// Rotation on: the first pair found does not load: the certificate manager fails (`manager.go:520-522`, `store.go:189-195`).
    StorePairUnloadable,
    /// Rotation on: no unexpired pair and no embedded one, no bootstrap: the kubelet starts without a
    /// client certificate and exits after 5 minutes (`manager.go:525-527`, `transport.go:114-121`).
    NothingToPresent,
    /// The kubeconfig authenticates with a bearer token.
    Token,
}

impl Step {
    /// One sentence: what the kubelet does at this step.
    pub fn why(self) -> &'static str {
        match self {
            Step::KubeletConfigInvalid => "the kubelet exits when its --config file does not load (server.go:218-220)",
            Step::ClientCaFileInvalid => "the kubelet loads authentication.x509.clientCAFile at start and exits if it is missing, empty or holds no certificate (auth.go:74-78)",
            Step::KubeconfigRejected => "the kubeconfig does not load or clientcmd rejects it, and there is no bootstrap to replace it: the kubelet exits (bootstrap.go:60-64, server.go:1105-1111)",
            Step::BootstrapKubeconfigUnloadable => "the kubeconfig's certificate is not usable (isClientConfigStillValid) so the kubelet needs its bootstrap kubeconfig, which does not load: it exits (bootstrap.go:89-92)",
            Step::Bootstrap => "the kubeconfig's certificate is missing, unloadable or past NotAfter (isClientConfigStillValid, bootstrap.go:232-272): the kubelet requests a new one with the bootstrap kubeconfig",
            Step::KubeconfigAsIs => "rotation is off: the kubelet uses the kubeconfig's credential as is (server.go:1105-1111)",
            Step::StoreCurrent => "rotation is on: the store's kubelet-client-current.pem comes first and is unexpired (certificate_store.go:143-149, certificate_manager.go:513-518)",
            Step::KubeconfigFiles => "rotation is on and there is no kubelet-client-current.pem: the kubeconfig's client-certificate/client-key files (certificate_store.go:151-162)",
            Step::CertDirPair => "rotation is on, no kubelet-client-current.pem, the kubeconfig names no existing files: kubelet-client.crt/.key in the cert dir (certificate_store.go:164-177)",
            Step::EmbeddedFallback => "rotation is on and the store holds no unexpired pair: the kubelet falls back to the kubeconfig's embedded pair and writes it into the store, whatever its dates (certificate_manager.go:525-550)",
            Step::StorePairUnloadable => "rotation is on and the first pair the store finds does not load: the certificate manager fails and the kubelet exits (certificate_manager.go:520-522)",
            Step::NothingToPresent => "rotation is on, no unexpired pair, nothing embedded, no bootstrap: the kubelet runs without a client certificate and exits after 5 minutes (certificate_manager.go:525-527, transport.go:114-121)",
            Step::Token => "the kubeconfig authenticates with a bearer token",
        }
    }
}

/// What the kubelet will do with its client credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "verdict", content = "why")]
pub enum Verdict {
    /// It presents [`Choice::credential`] (which the API server may still refuse).
    Presents,
    /// It authenticates with the kubeconfig's bearer token.
    Token,
    /// It requests a new certificate with the bootstrap kubeconfig.
    Bootstraps,
    /// It runs without a client certificate.
    NoCertificate,
    /// The only pair it finds, [`Choice::credential`], has expired and nothing replaces it: it
    /// presents none.
    Expired,
    /// It exits at start; why. [`Choice::credential`] names the pair it failed to load, if that was it.
    RefusesToStart(String),
}

/// The decision, the step that made it, and the credentials on the node the kubelet will not use.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    /// What the kubelet does.
    pub verdict: Verdict,
    /// The deciding step.
    pub step: Step,
    /// The credential the verdict is about: presented, expired, or failing to load.
    pub credential: Option<Location>,
    /// Every other client credential found on the node.
    pub unused: Vec<Location>,
}

/// Applies kubelet v1.37.2's precedence to `i` at `now`.
pub fn choose(i: &Inputs, now: OffsetDateTime) -> Choice {
    let (verdict, step, credential) = decide(i, now);
    let mut all: Vec<&Location> = Vec::new();
    if let Ok(k) = &i.kubeconfig {
        all.extend(k.files.map(|c| &c.location));
        all.extend(k.embedded.map(|c| &c.location));
    }
    all.extend(i.store.map(|c| &c.location));
    all.extend(i.cert_dir_pair.map(|c| &c.location));
    let presented = credential.as_ref();
    let mut unused: Vec<Location> = Vec::new();
    for l in all {
        // The kubeconfig naming the store's file is the store itself.
        let same_as_store = matches!(l, Location::Combined { path } if path == i.store_path);
        if Some(l) != presented && !same_as_store && !unused.contains(l) {
            unused.push(l.clone());
        }
    }
    Choice { verdict, step, credential, unused }
}

type Decision = (Verdict, Step, Option<Location>);

fn refuse(step: Step, why: impl Into<String>) -> Decision {
    (Verdict::RefusesToStart(why.into()), step, None)
}

/// `isClientConfigStillValid`: loads, TLS config loads, certificates parse, none past NotAfter.
fn still_valid(k: &KubeconfigInput, now: OffsetDateTime) -> bool {
    if k.tls_error.is_some() {
        return false;
    }
    // Embedded data wins over files in the TLS config (clientcmd: "-data will override").
    let Some(c) = k.embedded.or(k.files) else { return false };
    // Files are only read here; embedded data is also checked with tls.X509KeyPair (transport.go:137-141).
    let loads = if c.location.is_embedded() { c.load_error().is_none() } else { c.cert.is_ok() && c.key.is_ok() };
    loads && c.cert.as_ref().is_ok_and(|s| s.chain.iter().all(|cert| now <= cert.info().not_after))
}

fn decide(i: &Inputs, now: OffsetDateTime) -> Decision {
    if let Some(e) = &i.config_error {
        return refuse(Step::KubeletConfigInvalid, format!("failed to load kubelet config file: {e}"));
    }
    if let Some(e) = &i.client_ca_error {
        return refuse(Step::ClientCaFileInvalid, e.clone());
    }
    let valid = i.kubeconfig.as_ref().is_ok_and(|k| still_valid(k, now));
    // When the kubeconfig fails that check, the decision is about its certificate.
    let failed = i.kubeconfig.as_ref().ok().and_then(|k| k.embedded.or(k.files)).map(|c| c.location.clone());
    // With a bootstrap kubeconfig and an unusable kubeconfig, the kubelet bootstraps (or dies).
    let bootstrapping = match &i.bootstrap {
        Some(b) if !valid => match b {
            Ok(()) => true,
            Err(e) => {
                return (Verdict::RefusesToStart(format!("unable to load bootstrap kubeconfig: {e}")), Step::BootstrapKubeconfigUnloadable, failed);
            }
        },
        _ => false,
    };
    match i.rotation {
        Rotation::Off => {
            if bootstrapping {
                return (Verdict::Bootstraps, Step::Bootstrap, failed);
            }
            let k = match &i.kubeconfig {
                Ok(k) => k,
                Err(e) => return refuse(Step::KubeconfigRejected, format!("invalid kubeconfig: {e}")),
            };
            match k.embedded.or(k.files) {
                Some(c) => (Verdict::Presents, Step::KubeconfigAsIs, Some(c.location.clone())),
                None if k.token => (Verdict::Token, Step::Token, None),
                None => (Verdict::NoCertificate, Step::KubeconfigAsIs, None),
            }
        }
        Rotation::On => {
            // Step A (LoadClientConfig): which config the manager is built from.
            let (files, embedded) = if bootstrapping {
                // kubelet.conf is rewritten to point at the store; nothing embedded.
                (None, None)
            } else {
                match &i.kubeconfig {
                    Ok(k) if k.token && k.files.is_none() && k.embedded.is_none() => return (Verdict::Token, Step::Token, None),
                    Ok(k) => (k.files, k.embedded),
                    Err(e) => return refuse(Step::KubeconfigRejected, format!("unable to load kubeconfig: {e}")),
                }
            };
            // Step B (fileStore.Current): the first pair that exists.
            let mut expired = None;
            let files_exist = files.filter(|c| !missing(c));
            let first = [(i.store, Step::StoreCurrent), (files_exist, Step::KubeconfigFiles), (i.cert_dir_pair, Step::CertDirPair)]
                .into_iter()
                .find_map(|(c, s)| c.map(|c| (c, s)));
            if let Some((c, step)) = first {
                expired = Some(c.location.clone());
                if let Some(e) = c.load_error() {
                    let why = format!("failed to initialize client certificate manager: {}: {e}", c.location);
                    return (Verdict::RefusesToStart(why), Step::StorePairUnloadable, Some(c.location.clone()));
                }
                if c.leaf().is_some_and(|l| now < l.info().not_after) {
                    return (Verdict::Presents, step, Some(c.location.clone()));
                }
            }
            if let Some(e) = embedded {
                if let Some(err) = e.load_error() {
                    let why = format!("failed to initialize client certificate manager: {}: {err}", e.location);
                    return (Verdict::RefusesToStart(why), Step::StorePairUnloadable, Some(e.location.clone()));
                }
                return (Verdict::Presents, Step::EmbeddedFallback, Some(e.location.clone()));
            }
            if bootstrapping {
                return (Verdict::Bootstraps, Step::Bootstrap, failed);
            }
            match expired {
                Some(l) => (Verdict::Expired, Step::NothingToPresent, Some(l)),
                // Name what the kubeconfig points at (missing files), if anything.
                None => (Verdict::NoCertificate, Step::NothingToPresent, failed),
            }
        }
    }
}

/// Neither file of a file credential exists (the store skips it).
fn missing(c: &Credential) -> bool {
    let gone = |r: Result<(), bool>| r.is_err_and(|m| m);
    gone(c.cert.as_ref().map(|_| ()).map_err(|(_, p)| p.is_missing())) || gone(c.key.as_ref().map(|_| ()).map_err(|(_, p)| p.is_missing()))
}

impl Location {
    /// Embedded in a kubeconfig.
    pub(crate) fn is_embedded(&self) -> bool {
        matches!(self, Location::Embedded { .. })
    }
}
