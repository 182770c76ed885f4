//! `kubecert doctor`: diagnose one node offline and print the findings.

use super::node_args::{parse_duration, NodeArgs};
use crate::global::Global;
use crate::render::{self, safe_line};
use kubecert_node::{diagnose, Diagnosis, Settings, Severity};
use std::process::ExitCode;

/// Diagnose this node's kubelet certificates (offline; reads files only).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    node: NodeArgs,
    /// Warn about certificates that expire within this window (e.g. 30d, 72h).
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = parse_duration)]
    warn_within: time::Duration,
}

/// Runs the diagnosis; exit 1 when a finding is an error.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let (root, ov) = args.node.open()?;
    let settings = Settings { warn_within: args.warn_within, ..Settings::default() };
    let d = diagnose(&root, &ov, &settings);
    if !d.unreadable.is_empty() {
        // Permission problems are kubecert's, not the node's: no findings built on them.
        anyhow::bail!(
            "cannot diagnose this node: permission denied reading {}; run kubecert as root or with read access to these files",
            d.unreadable.join(", ")
        );
    }
    if !render::structured(global.output, &d)? {
        print!("{}", text(&d, global));
    }
    // Not a node is not a broken node: kubecert could not do its job here (exit 2).
    if d.no_kubelet.is_some() {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::from(if d.has_errors() { 1 } else { 0 }))
}

/// One line: what the kubelet will present and why.
fn client_line(d: &Diagnosis) -> String {
    use kubecert_node::credential::Verdict;
    let c = &d.client_credential;
    let l = c.credential.as_ref().map(|l| l.to_string()).unwrap_or_default();
    let what = match &c.verdict {
        Verdict::Presents => format!("presents {l}"),
        Verdict::Expired => format!("finds only {l}, expired: presents none"),
        Verdict::Token => "a bearer token".into(),
        Verdict::Bootstraps => "will TLS-bootstrap a new one".into(),
        Verdict::NoCertificate => "none".into(),
        Verdict::RefusesToStart(_) => "the kubelet will refuse to start".into(),
    };
    format!("{what} ({:?})", c.step)
}

/// The readable report.
pub fn text(d: &Diagnosis, global: &Global) -> String {
    use std::fmt::Write;
    let c = render::colour();
    let mut s = String::new();
    // Every value below comes from the node: escaped (render::safe_line), colours added after.
    let node = safe_line(d.node.as_deref().unwrap_or("<unknown>"));
    if let Some(looked) = &d.no_kubelet {
        let _ = writeln!(s, "no kubelet found under {}: no kubelet unit or drop-in, no flags file, no KubeletConfiguration, no kubeconfig, no /var/lib/kubelet.", safe_line(&d.root));
        let _ = writeln!(s, "looked at:");
        for p in looked {
            let _ = writeln!(s, "  {}", safe_line(p));
        }
        let _ = writeln!(s, "If the kubelet is installed elsewhere, say where: --kubelet-kubeconfig, --config, --cert-dir.");
        return s;
    }
    let _ = writeln!(s, "node {node} (root {}, layout {})", safe_line(&d.root), d.setup.layout);
    let _ = writeln!(s, "  client credential: {}", safe_line(&client_line(d)));
    let _ = writeln!(s, "  kubeconfig {}  cert-dir {}", safe_line(&d.setup.kubeconfig), safe_line(&d.setup.cert_dir));
    if global.output == crate::global::Output::Wide || global.verbose > 0 {
        let _ = writeln!(s, "  bootstrap-kubeconfig {}  config {}", safe_line(d.setup.bootstrap_kubeconfig.as_deref().unwrap_or("-")), safe_line(d.setup.config.as_deref().unwrap_or("-")));
        let _ = writeln!(s, "  flags from: {}", if d.setup.flag_files.is_empty() { "(no unit or env file found)".to_string() } else { safe_line(&d.setup.flag_files.join(", ")) });
    }
    if d.findings.is_empty() {
        let _ = writeln!(s, "\n{} no problems found", render::paint(c, "32", "ok"));
        return s;
    }
    for f in &d.findings {
        let (code, label) = match f.severity {
            Severity::Error => ("1;31", "error"),
            Severity::Warning => ("1;33", "warning"),
            Severity::Info => ("36", "info"),
        };
        let _ = writeln!(s, "\n{} [{}] {}", render::paint(c, code, label), f.code, safe_line(&f.summary));
        for e in &f.evidence {
            let _ = writeln!(s, "    seen: {}", safe_line(e));
        }
        for (i, x) in f.fix.iter().enumerate() {
            let _ = writeln!(s, "    {} {}", if i == 0 { "fix: " } else { "     " }, safe_line(x));
        }
    }
    let errors = d.findings.iter().filter(|f| f.severity == Severity::Error).count();
    let warnings = d.findings.iter().filter(|f| f.severity == Severity::Warning).count();
    let _ = writeln!(s, "\n{errors} error(s), {warnings} warning(s). `kubecert explain CODE` tells more about a code.");
    s
}
