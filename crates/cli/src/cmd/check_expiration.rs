//! `kubecert check-expiration`: every certificate on the node with its expiry, as a table or as
//! kubeadm's `CertificateExpirationInfo` JSON/YAML.

use super::node_args::NodeArgs;
use crate::global::{Global, Output};
use crate::render;
use comfy_table::Table;
use kubecert_node::expiration::{report, scan_dir, CertExpiration, ExpirationReport};
use std::process::ExitCode;

/// List every certificate on the node (control plane, etcd, kubeconfigs, kubelet client and serving) with its expiry.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    node: NodeArgs,
    /// Instead of the node's catalog, list every certificate file under this host directory.
    #[arg(long, value_name = "DIR")]
    scan: Option<std::path::PathBuf>,
    /// List only what expires within this window (30d, 12h), is expired, missing or unreadable; exit 1 when anything is listed.
    #[arg(long, value_name = "DURATION", value_parser = super::node_args::parse_duration)]
    within: Option<time::Duration>,
}

/// Runs it; exit 1 when any listed certificate has expired, else 2 when a file could not be read.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let now = time::OffsetDateTime::now_utc();
    let mut rep = if let Some(dir) = &args.scan {
        anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
        ExpirationReport { kind: "CertificateExpirationInfo", api_version: "output.kubeadm.k8s.io/v1alpha3", certificates: scan_dir(dir, now), certificate_authorities: vec![] }
    } else {
        let (root, ov) = args.node.open()?;
        let snap = kubecert_node::snapshot::take(&root, &ov);
        report(&root, &snap, now)
    };
    if let Some(w) = args.within {
        rep.retain_due(now.checked_add(w).unwrap_or(time::OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT)));
    }
    let due = args.within.is_some() && !(rep.certificates.is_empty() && rep.certificate_authorities.is_empty());
    let expired = due || rep.certificates.iter().chain(&rep.certificate_authorities).any(|c| c.expiration_date.is_some() && c.residual_time < 0);
    if !render::structured(global.output, &rep)? {
        print!("{}", table(&rep.certificates, global.output == Output::Wide, true));
        if !rep.certificate_authorities.is_empty() {
            println!();
            print!("{}", table(&rep.certificate_authorities, global.output == Output::Wide, false));
        }
    }
    // A report with holes is not a clean bill of health: say so, and do not exit 0.
    let unreadable = rep.certificates.iter().chain(&rep.certificate_authorities).filter(|c| c.error.is_some()).count();
    if unreadable > 0 {
        eprintln!("kubecert: {unreadable} certificate file(s) could not be read or were skipped (see <unreadable: ...>); the report is incomplete");
    }
    Ok(ExitCode::from(if expired { 1 } else if unreadable > 0 { 2 } else { 0 }))
}

fn table(rows: &[CertExpiration], wide: bool, leaf: bool) -> String {
    let mut t = Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    let mut header = vec![if leaf { "CERTIFICATE" } else { "CERTIFICATE AUTHORITY" }, "EXPIRES", "RESIDUAL TIME"];
    if leaf {
        header.push("CERTIFICATE AUTHORITY");
    }
    header.push("EXTERNALLY MANAGED");
    if wide {
        header.push("PATH");
    }
    t.set_header(header);
    for r in rows {
        let (expires, residual) = match (&r.error, r.expiration_date) {
            (Some(e), _) => (format!("<unreadable: {}>", render::safe_line(e)), String::new()),
            (None, Some(d)) => (
                d.format(&time::macros::format_description!("[month repr:short] [day], [year] [hour]:[minute] UTC")).unwrap_or_default(),
                if r.residual_time < 0 { "<expired>".into() } else { render::human_duration(time::Duration::seconds(r.residual_time)) },
            ),
            (None, None) => ("<missing>".into(), String::new()),
        };
        let mut row = vec![render::safe_line(&r.name), expires, residual];
        if leaf {
            row.push(render::safe_line(&r.ca_name));
        }
        row.push(if r.externally_managed { "yes".into() } else { "no".into() });
        if wide {
            row.push(render::safe_line(&r.path));
        }
        t.add_row(row);
    }
    format!("{t}\n")
}
