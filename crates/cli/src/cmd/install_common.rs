//! Shared by `sign`, `csr` and `repair`: where a new kubelet credential goes on the node, the
//! plan (`--dry-run` stops there), the install through the node crate's engine, and the doctor
//! run afterwards. Also the "refused" error that those commands turn into exit code 1.

use super::node_args::NodeArgs;
use crate::global::Global;
use crate::render;
use kubecert_node::install::{self, Applied, ApplyOptions, ClientInstall, InstallPlan, InstallStyle, NewCredential, PlannedChange};
use kubecert_node::{KubeletSetup, NodeRoot, Overrides, Severity};
use serde::Serialize;
use std::process::ExitCode;

/// An input or a state that the command refuses to act on (exit code 1, nothing written).
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused: {}", self.0)
    }
}

impl std::error::Error for Refused {}

/// `Err(Refused(..))` as an anyhow error.
pub fn refuse<T>(msg: impl Into<String>) -> anyhow::Result<T> {
    Err(anyhow::Error::new(Refused(msg.into())))
}

/// Turns a refusal or a failed install into exit code 1 with its message; other errors pass (exit 2).
pub fn finish(r: anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    match r {
        Err(e) if e.is::<Refused>() || e.is::<install::InstallError>() => {
            eprintln!("kubecert: {}", render::error_text(&e));
            Ok(ExitCode::from(1))
        }
        other => other,
    }
}

/// Options of every command that installs a credential on a node.
#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Where backups of replaced files go (a node path).
    #[arg(long, value_name = "PATH", default_value = install::DEFAULT_BACKUP_ROOT)]
    pub backup_dir: String,
    /// The API server URL, used only if the node has no usable kubelet kubeconfig to take it from.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Install even though the kubelet on this node runs under another node name (NodeRestriction
    /// would then refuse it, as in field report 004).
    #[arg(long)]
    pub allow_name_mismatch: bool,
}

/// Refuses `--restart-kubelet` for a node tree that is not this machine's own root, before anything
/// is changed: systemd here cannot restart the kubelet of a mounted disk.
pub fn check_can_restart_kubelet(root: &kubecert_node::NodeRoot) -> anyhow::Result<()> {
    if root.is_host() {
        Ok(())
    } else {
        refuse(format!("--restart-kubelet works only with --root / (the kubelet under {} is not this machine's)", root.dir().display()))
    }
}

/// `systemctl restart kubelet` on this machine (after [`check_can_restart_kubelet`]).
pub fn restart_kubelet() -> anyhow::Result<()> {
    use anyhow::Context as _;
    let st = std::process::Command::new("systemctl").args(["restart", "kubelet"]).status().context("run systemctl restart kubelet")?;
    if !st.success() {
        anyhow::bail!("systemctl restart kubelet failed ({st}); the new credential is installed: restart the kubelet by hand");
    }
    eprintln!("kubelet restarted");
    Ok(())
}

/// Where a command that issues a kubelet credential puts it (`sign`, `csr`): a bundle directory or
/// the node itself, and whether to only show the plan.
#[derive(Debug, Clone, clap::Args)]
pub struct Destination {
    /// Write the bundle (certificate, key 0600, CA, kubelet kubeconfig) into this new or empty directory.
    #[arg(long = "out-dir", value_name = "DIR")]
    pub out_dir: Option<std::path::PathBuf>,
    /// Install on the node under --root, in the layout it uses (backups first; see `kubecert backups`).
    #[arg(long)]
    pub install: bool,
    /// Show what would be done (for `csr`: after checking the permissions); create nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The node and how to install on it.
    #[command(flatten)]
    pub target: InstallArgs,
}

impl Destination {
    /// Installed on the node under `target` (no bundle), the way `repair` does it.
    pub fn install_on(target: InstallArgs, dry_run: bool) -> Destination {
        Destination { out_dir: None, install: true, dry_run, target }
    }
}

/// The node, opened and discovered.
pub struct Target {
    /// Its root.
    pub root: NodeRoot,
    /// Discovery overrides.
    pub overrides: Overrides,
    /// What discovery found.
    pub setup: KubeletSetup,
}

impl InstallArgs {
    /// Opens the node and discovers the kubelet's files.
    pub fn open(&self) -> anyhow::Result<Target> {
        let (root, overrides) = self.node.open()?;
        let setup = kubecert_node::discover::discover(&root, &overrides);
        Ok(Target { root, overrides, setup })
    }
}

impl Target {
    /// Refuses a credential for `node` on a node whose kubelet registers under another name.
    pub fn check_node_name(&self, node: &str, allow: bool) -> anyhow::Result<Option<String>> {
        match &self.setup.node_name {
            Some(n) if n != node && !allow => refuse(format!(
                "the kubelet on this node runs as {n:?} (from {:?}), but the certificate is for {node:?}: the API server would refuse \
                 every request about Node {n:?} (NodeRestriction). Use --node {n}, or pass --allow-name-mismatch",
                self.setup.node_name_source
            )),
            Some(n) if n != node => Ok(Some(format!("the kubelet on this node runs as {n:?}, not {node:?} (allowed by --allow-name-mismatch)"))),
            Some(_) => Ok(None),
            None => Ok(Some("could not tell this node's name (no --hostname-override, no /etc/hostname); not checked".into())),
        }
    }

    /// Plans the client credential install in the layout the node uses.
    pub fn plan_client(&self, cred: &NewCredential, label: &str) -> anyhow::Result<ClientInstall> {
        let now = time::OffsetDateTime::now_utc();
        install::plan_client_install(&self.root, &self.setup.kubeconfig, &self.setup.cert_dir, cred, now, label).map_err(|e| match e {
            install::InstallError::InvalidPlan(m) => anyhow::Error::new(Refused(m)),
            e => anyhow::Error::new(e),
        })
    }
}

/// The doctor's verdict after an install.
#[derive(Debug, Serialize)]
pub struct DoctorSummary {
    /// Error findings.
    pub errors: usize,
    /// Warning findings.
    pub warnings: usize,
    /// `severity code: summary`, one per finding.
    pub findings: Vec<String>,
}

/// What an install did (or, with `--dry-run`, would do).
#[derive(Debug, Serialize)]
pub struct InstallReport {
    /// True when nothing was touched.
    pub dry_run: bool,
    /// Where the credential goes (absent for changes that install no credential, e.g. `serving enable`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<InstallStyle>,
    /// The kubelet's kubeconfig, for client credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    /// Notes for the operator.
    pub notes: Vec<String>,
    /// The changes.
    pub changes: Vec<PlannedChange>,
    /// The backup made (absent for a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<Applied>,
    /// The doctor afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doctor: Option<DoctorSummary>,
}

/// Applies a client install `ci` (with `extra` steps appended, e.g. a serving pair), verifies
/// that the kubelet will load `expected_der`, and runs the doctor; with `dry_run` only describes.
pub fn run_install(target: &Target, args: &InstallArgs, mut ci: ClientInstall, extra: InstallPlan, expected_der: &[u8], dry_run: bool) -> anyhow::Result<InstallReport> {
    ci.plan.steps.extend(extra.steps);
    let kubeconfig = ci.kubeconfig.clone();
    let verify = |root: &NodeRoot| install::verify_client_install(root, &kubeconfig, expected_der);
    apply_plan(target, args, ci.plan, Some(ci.style), Some(ci.kubeconfig), ci.notes, &verify, dry_run)
}

/// Applies any plan with `verify` (or only describes it with `dry_run`), then runs the doctor.
#[allow(clippy::too_many_arguments)]
pub fn apply_plan(
    target: &Target,
    args: &InstallArgs,
    plan: InstallPlan,
    style: Option<InstallStyle>,
    kubeconfig: Option<String>,
    notes: Vec<String>,
    verify: install::Verify,
    dry_run: bool,
) -> anyhow::Result<InstallReport> {
    let changes = plan.describe(&target.root);
    if dry_run {
        return Ok(InstallReport { dry_run, style, kubeconfig, notes, changes, backup: None, doctor: None });
    }
    let opts = ApplyOptions { backup_root: args.backup_dir.clone(), verify: Some(verify), rollback_of: None };
    let applied = install::apply(&target.root, &plan, &opts)?;
    let doctor = doctor_summary(target);
    Ok(InstallReport { dry_run, style, kubeconfig, notes, changes: applied.changes.clone(), backup: Some(applied), doctor: Some(doctor) })
}

/// Checks that the pair a style names (after an install) is `expected_der` with a matching key.
pub fn verify_pair(root: &NodeRoot, style: &InstallStyle, expected_der: &[u8]) -> Result<(), String> {
    let read = |p: &str| root.read(p).map_err(|e| format!("{p}: {e}")).and_then(|f| kubecert_pki::load_bundle(&f.bytes).map_err(|e| format!("{p}: {e}")));
    let (cert, key) = match style {
        InstallStyle::KubeletRotating { link, .. } => (read(link)?, read(link)?),
        InstallStyle::SeparateFiles { cert, key } => (read(cert)?, read(key)?),
        InstallStyle::CombinedFile { path } => (read(path)?, read(path)?),
    };
    let leaf = cert.certificates.first().ok_or("no certificate in the installed file")?;
    if leaf.der() != expected_der {
        return Err("the installed certificate is not the new one".into());
    }
    match key.key {
        Some(Ok(k)) if k.matches(leaf) => Ok(()),
        Some(Ok(_)) => Err("the installed key does not match the installed certificate".into()),
        Some(Err(e)) => Err(format!("the installed key: {e}")),
        None => Err("no key in the installed file".into()),
    }
}

/// Runs the doctor on the node and summarises it.
pub fn doctor_summary(target: &Target) -> DoctorSummary {
    let d = kubecert_node::diagnose(&target.root, &target.overrides, &kubecert_node::Settings::default());
    DoctorSummary {
        errors: d.findings.iter().filter(|f| f.severity == Severity::Error).count(),
        warnings: d.findings.iter().filter(|f| f.severity == Severity::Warning).count(),
        findings: d.findings.iter().map(|f| format!("{} {}: {}", f.severity, f.code, f.summary)).collect(),
    }
}

/// Prints an install report as text.
pub fn print_report(r: &InstallReport, global: &Global) {
    let c = render::colour();
    if r.dry_run {
        println!("{} nothing will be changed. The install would:", render::paint(c, "1;33", "dry run:"));
    } else {
        println!("installed:");
    }
    for ch in &r.changes {
        println!("  {}", render::safe_line(&ch.line(!r.dry_run)));
    }
    for n in &r.notes {
        println!("  note: {}", render::safe_line(n));
    }
    if let Some(b) = &r.backup {
        println!("backup {} in {} (undo with `kubecert rollback --to {}`)", b.backup_id, b.backup_dir, b.backup_id);
    }
    if let Some(d) = &r.doctor {
        if d.errors == 0 {
            println!("doctor afterwards: {} ({} warning(s))", render::paint(c, "32", "no errors"), d.warnings);
        } else {
            println!("doctor afterwards: {} error(s), {} warning(s)", d.errors, d.warnings);
        }
        if d.errors > 0 || global.verbose > 0 || global.output == crate::global::Output::Wide {
            for f in &d.findings {
                println!("  {}", render::safe_line(f));
            }
        }
    }
}
