//! `kubecert serving enable`: `serverTLSBootstrap: true` in the KubeletConfiguration the kubelet
//! really reads (the file its `--config` flag names), every other byte kept.

use super::ServingError;
use crate::discover::{discover, Overrides};
use crate::install::{Contents, InstallPlan};
use crate::root::NodeRoot;
use kubecert_config::kubelet_config_edit::{set_top_level_bool, Edit};

/// The KubeletConfiguration field that makes the kubelet request its serving certificate through
/// `kubernetes.io/kubelet-serving` CSRs and rotate it.
pub(crate) const FIELD: &str = "serverTLSBootstrap";

/// What `serving enable` will do.
#[derive(Debug)]
pub struct EnablePlan {
    /// The KubeletConfiguration (node path).
    pub config_path: String,
    /// The install, or `None` when the setting is already on.
    pub install: Option<InstallPlan>,
    /// The node's name, if known (for the CSR the kubelet will file).
    pub node_name: Option<String>,
    /// Things the operator should know (e.g. an explicit tlsCertFile that stops being used).
    pub notes: Vec<String>,
}

/// Plans `serverTLSBootstrap: true` for the kubelet under `root`.
pub fn plan_enable(root: &NodeRoot, ov: &Overrides) -> Result<EnablePlan, ServingError> {
    let setup = discover(root, ov);
    if setup.layout.agent_managed() {
        return Err(ServingError::AgentManaged(setup.layout));
    }
    // Flags win over the config file: `--rotate-server-certificates` is the flag form of
    // serverTLSBootstrap (cmd/kubelet/app/options/options.go), and the feature gate must be on.
    let overriding = setup.args.iter().find(|a| {
        a.strip_prefix("--rotate-server-certificates=").is_some_and(|v| go_bool(v) == Some(false))
            || a.strip_prefix("--feature-gates=").is_some_and(|v| v.split(',').any(|g| gate_off(g.trim())))
    });
    if let Some(flag) = overriding {
        return Err(ServingError::FlagOverrides { flag: flag.clone(), files: setup.flag_files.join(", ") });
    }
    let config_path = setup.config.clone().ok_or(ServingError::NoConfig)?;
    let file = root.read(&config_path).map_err(|source| ServingError::Read { path: config_path.clone(), source })?;
    let text = std::str::from_utf8(&file.bytes)
        .map_err(|_| ServingError::Edit { path: config_path.clone(), source: kubecert_config::ConfigError::NotUtf8 { what: "KubeletConfiguration" } })?;
    let mut notes = Vec::new();
    if let Ok(cfg) = kubecert_config::KubeletConfiguration::parse(&file.bytes) {
        if cfg.other.get("featureGates").and_then(|g| g.get(GATE)).and_then(|v| v.as_bool()) == Some(false) {
            return Err(ServingError::Edit {
                path: config_path.clone(),
                source: kubecert_config::ConfigError::Dangling(format!("featureGates.{GATE} is false: the kubelet ignores serverTLSBootstrap while it is; remove that gate first")),
            });
        }
        if let Some(cert) = cfg.tls_cert_file.as_deref() {
            notes.push(format!("tlsCertFile ({cert}) is set: with serverTLSBootstrap the kubelet requests and rotates its own serving certificate and no longer serves that file"));
        }
    }
    let install = match set_top_level_bool(text, FIELD, true).map_err(|source| ServingError::Edit { path: config_path.clone(), source })? {
        Edit::Unchanged => None,
        // the config holds no secret; keep the file's own permission bits
        Edit::Changed(new) => Some(InstallPlan::new("serving enable").write(config_path.clone(), Contents::public(new), file.mode & 0o7777)),
    };
    Ok(EnablePlan { config_path, install, node_name: setup.node_name, notes })
}

/// The feature gate serverTLSBootstrap needs (Beta, on by default in v1.37).
const GATE: &str = "RotateKubeletServerCertificate";

fn gate_off(g: &str) -> bool {
    g.split_once('=').is_some_and(|(k, v)| k.trim() == GATE && go_bool(v.trim()) == Some(false))
}

/// Go's strconv.ParseBool, which pflag uses for boolean flags.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}
