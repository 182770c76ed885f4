//! Finding the kubelet's files the way the kubelet gets them: systemd unit and drop-ins
//! (`Environment=`, `EnvironmentFile=`, `ExecStart=`), the env files kubeadm and distributions
//! use, then the `--config` file; explicit kubecert options override all of it. Every path here is
//! a node path, resolved later inside the root.

use crate::layout::{Layout, LayoutPaths};
use crate::root::NodeRoot;
use kubecert_config::units;
use serde::Serialize;
use std::collections::BTreeMap;

/// Paths the user gave kubecert explicitly; each wins over discovery.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--kubeconfig` of the kubelet.
    pub kubeconfig: Option<String>,
    /// `--config` of the kubelet.
    pub config: Option<String>,
    /// `--cert-dir` of the kubelet.
    pub cert_dir: Option<String>,
    /// The node name.
    pub node_name: Option<String>,
}

/// Where a discovered value came from, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A kubecert option.
    Option,
    /// A kubelet flag (from the unit/env files listed in `flag_files`).
    Flag,
    /// The layout's default.
    Default,
    /// The root's `/etc/hostname`.
    Hostname,
    /// Not found at all.
    Unknown,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Option => "the --node-name option",
            Source::Flag => "the kubelet's --hostname-override flag",
            Source::Default => "the layout's default",
            Source::Hostname => "the root's /etc/hostname",
            Source::Unknown => "nowhere",
        })
    }
}

/// The kubelet's setup as discovered.
#[derive(Debug, Clone, Serialize)]
pub struct KubeletSetup {
    /// The recognised layout.
    pub layout: Layout,
    /// Unit, drop-in and env files that contributed flags, in the order read.
    pub flag_files: Vec<String>,
    /// The kubelet's arguments after expansion (empty when no unit was found).
    pub args: Vec<String>,
    /// `--kubeconfig`.
    pub kubeconfig: String,
    /// `--bootstrap-kubeconfig`, if any.
    pub bootstrap_kubeconfig: Option<String>,
    /// `--config`, if any.
    pub config: Option<String>,
    /// `--cert-dir`.
    pub cert_dir: String,
    /// The node name, and where it came from.
    pub node_name: Option<String>,
    /// Source of `node_name`.
    pub node_name_source: Source,
    /// `--rotate-certificates` given as a flag (deprecated, still honoured by the kubelet).
    pub rotate_flag: Option<bool>,
    /// The layout's default paths, for files the flags do not name (e.g. the cluster CA).
    pub defaults: LayoutPaths,
    /// Why the unit's `ExecStart=` could not be expanded (larger than the kernel would pass), if so.
    pub unit_problem: Option<String>,
}

const UNIT_DIRS: [&str; 4] = ["/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"];
const UNIT_NAMES: [&str; 3] = ["kubelet.service", "k3s-agent.service", "rke2-agent.service"];
/// Env files read even when no unit names them (kubeadm and distribution packages).
const LOOSE_ENV_FILES: [&str; 4] = ["/var/lib/kubelet/kubeadm-flags.env", "/etc/default/kubelet", "/etc/sysconfig/kubelet", "/etc/kubernetes/kubelet.env"];

/// Detects the layout from marker files.
pub(crate) fn detect_layout(root: &NodeRoot) -> Layout {
    Layout::DETECTION_ORDER
        .into_iter()
        .find(|l| root.exists_lexically(l.paths().marker))
        .unwrap_or(Layout::Kubeadm)
}

/// Discovers the kubelet's setup under `root`.
pub fn discover(root: &NodeRoot, ov: &Overrides) -> KubeletSetup {
    let layout = detect_layout(root);
    let defaults = layout.paths();
    let (args, flag_files, unit_problem) = kubelet_args(root);
    let flag = |n: &str| units::flag_value(&args, n).map(str::to_string);
    let root_dir = flag("root-dir").unwrap_or_else(|| "/var/lib/kubelet".into());
    let kubeconfig = ov.kubeconfig.clone().or_else(|| flag("kubeconfig")).unwrap_or_else(|| defaults.kubeconfig.into());
    // When the kubelet's command line is known, a flag it lacks means the kubelet does without
    // (no bootstrap, no config file); layout defaults only fill in for an unknown command line.
    let known = !args.is_empty();
    let bootstrap_kubeconfig = flag("bootstrap-kubeconfig").or_else(|| if known { None } else { defaults.bootstrap_kubeconfig.map(String::from) });
    let config = ov.config.clone().or_else(|| flag("config")).or_else(|| if known { None } else { defaults.config.map(String::from) });
    let cert_dir = ov.cert_dir.clone().or_else(|| flag("cert-dir")).unwrap_or_else(|| {
        if layout == Layout::Kubeadm || layout == Layout::Kubespray { format!("{root_dir}/pki") } else { defaults.cert_dir.into() }
    });
    let (node_name, node_name_source) = if let Some(n) = &ov.node_name {
        (Some(n.clone()), Source::Option)
    } else if let Some(h) = flag("hostname-override").filter(|h| !h.is_empty()) {
        // The kubelet lowercases and trims the override, as it does the hostname.
        (Some(h.trim().to_lowercase()), Source::Flag)
    } else if let Ok(f) = root.read("/etc/hostname") {
        // As systemd sets the kernel hostname (which the kubelet uses) from the file.
        match units::etc_hostname(&String::from_utf8_lossy(&f.bytes)) {
            Some(h) => (Some(h), Source::Hostname),
            None => (None, Source::Unknown),
        }
    } else {
        (None, Source::Unknown)
    };
    let rotate_flag = flag("rotate-certificates").map(|v| v != "false").or_else(|| args.iter().any(|a| a == "--rotate-certificates").then_some(true));
    KubeletSetup {
        layout,
        flag_files,
        args,
        kubeconfig,
        bootstrap_kubeconfig,
        config,
        cert_dir,
        node_name,
        node_name_source,
        rotate_flag,
        defaults,
        unit_problem,
    }
}

/// The kubelet's command line as systemd would build it, plus the files read.
fn kubelet_args(root: &NodeRoot) -> (Vec<String>, Vec<String>, Option<String>) {
    let mut files = Vec::new();
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut env_files: Vec<(String, bool)> = Vec::new();
    let mut exec: Vec<String> = Vec::new();
    for name in UNIT_NAMES {
        let main = UNIT_DIRS.iter().map(|d| format!("{d}/{name}")).find(|p| root.read(p).is_ok());
        let dropins = dropins(root, name);
        if main.is_none() && dropins.is_empty() {
            continue;
        }
        for path in main.into_iter().chain(dropins) {
            let Ok(f) = root.read(&path) else { continue };
            let d = units::parse_unit(&String::from_utf8_lossy(&f.bytes));
            env.extend(d.environment);
            env_files.extend(d.environment_files);
            // A service has one ExecStart; the last one set (after any `ExecStart=` reset) is it.
            exec.extend(d.exec_start);
            files.push(path);
        }
        break;
    }
    // EnvironmentFile= values override Environment= ones, in file order; loose files always count.
    let mut seen = Vec::new();
    for (path, _optional) in env_files.iter().map(|(p, o)| (p.clone(), *o)).chain(LOOSE_ENV_FILES.iter().map(|p| (p.to_string(), true))) {
        if seen.contains(&path) {
            continue;
        }
        seen.push(path.clone());
        if let Ok(f) = root.read(&path) {
            env.extend(units::parse_env_file(&String::from_utf8_lossy(&f.bytes)));
            files.push(path);
        }
    }
    let mut problem = None;
    let args = match exec.last() {
        Some(line) => units::expand_exec_checked(line, &env).unwrap_or_else(|e| {
            problem = Some(e.to_string());
            Vec::new()
        }),
        // No unit: the flags still live in the env files kubeadm and packages write.
        None => ["KUBELET_KUBECONFIG_ARGS", "KUBELET_CONFIG_ARGS", "KUBELET_KUBEADM_ARGS", "KUBELET_ARGS", "KUBELET_EXTRA_ARGS"]
            .iter()
            .filter_map(|k| env.get(*k))
            .flat_map(|v| units::split_words(v))
            .collect(),
    };
    (args, files, problem)
}

/// Drop-ins for `unit` from every unit directory; a file in /etc masks the same name lower down.
fn dropins(root: &NodeRoot, unit: &str) -> Vec<String> {
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for dir in UNIT_DIRS.iter().rev() {
        let d = format!("{dir}/{unit}.d");
        for name in root.list_dir(&d) {
            if name.ends_with(".conf") {
                by_name.insert(name.clone(), format!("{d}/{name}"));
            }
        }
    }
    by_name.into_values().collect()
}

/// Where kubecert looked for a kubelet, when it found none: no unit, drop-in or flags file, no
/// KubeletConfiguration, no kubeconfig, no `/var/lib/kubelet`, no distribution marker, and no
/// path given by the user. `None` when any of them is there (then it is a node, maybe a broken one).
pub fn no_kubelet(root: &NodeRoot, setup: &KubeletSetup, ov: &Overrides) -> Option<Vec<String>> {
    if ov.kubeconfig.is_some() || ov.config.is_some() || ov.cert_dir.is_some() || !setup.flag_files.is_empty() {
        return None;
    }
    let mut looked: Vec<String> = UNIT_NAMES.iter().flat_map(|n| UNIT_DIRS.iter().flat_map(move |d| [format!("{d}/{n}"), format!("{d}/{n}.d/")])).collect();
    looked.extend(LOOSE_ENV_FILES.iter().map(|s| s.to_string()));
    let mut files = vec![setup.kubeconfig.clone(), "/var/lib/kubelet".to_string()];
    files.extend(setup.config.clone().or_else(|| setup.defaults.config.map(String::from)));
    files.extend(Layout::DETECTION_ORDER.iter().filter(|l| **l != Layout::Kubeadm).map(|l| l.paths().marker.to_string()));
    if files.iter().any(|p| root.exists_lexically(p)) {
        return None;
    }
    looked.extend(files);
    Some(looked)
}
