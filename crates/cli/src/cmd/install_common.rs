//! Shared by `sign`, `csr`, `repair` and `serving`: the arguments that say where a new kubelet
//! credential goes and how, rendering the install report (kubecert-workflows makes it), and the
//! "refused" outcome those commands turn into exit code 1.

use super::node_args::NodeArgs;
use crate::global::Global;
use crate::render;
use kubecert_node::install;
use kubecert_workflows::{InstallOptions, WorkflowError};
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
        Err(e) if e.is::<Refused>() || e.is::<install::InstallError>() || e.downcast_ref::<WorkflowError>().is_some_and(WorkflowError::is_refusal) => {
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

pub use kubecert_workflows::install::doctor_summary;
pub use kubecert_workflows::{DoctorSummary, InstallReport, Target};

impl Destination {
    /// Where the flags send the credential: `--out-dir` wins, then `--install` (its opened
    /// `target`), else nowhere (the command decides whether that is allowed).
    pub fn of<'a>(&'a self, target: Option<&'a Target>, options: &'a InstallOptions) -> kubecert_workflows::sign::Destination<'a> {
        use kubecert_workflows::sign::Destination as D;
        match (&self.out_dir, target) {
            (Some(dir), _) => D::Bundle { dir, server: self.target.server.as_deref() },
            (None, Some(target)) => D::Install { target, options },
            (None, None) => D::Return,
        }
    }
}

impl InstallArgs {
    /// Opens the node and discovers the kubelet's files.
    pub fn open(&self) -> anyhow::Result<Target> {
        let (root, overrides) = self.node.open()?;
        Ok(Target::discover(root, overrides))
    }

    /// How the workflows install on the node.
    pub fn options(&self) -> InstallOptions {
        InstallOptions { backup_dir: self.backup_dir.clone(), server: self.server.clone(), allow_name_mismatch: self.allow_name_mismatch }
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
