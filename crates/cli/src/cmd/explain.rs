//! `kubecert explain [CODE]`: the long explanation of a finding code, or, with no code, the causes
//! and fixes of the known lines in kubelet/API server log text (stdin or --file).

use crate::global::Global;
use crate::render;
use anyhow::Context;
use std::process::ExitCode;

/// Explain a finding code, or map kubelet log lines (stdin or --file) to causes and fixes.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A finding code (e.g. client-cert-expired). Without it, read log text.
    code: Option<String>,
    /// Read log text from this file instead of stdin (e.g. `journalctl -u kubelet > log`).
    #[arg(long, value_name = "FILE", conflicts_with = "code")]
    file: Option<std::path::PathBuf>,
    /// List every finding code.
    #[arg(long, conflicts_with_all = ["code", "file"])]
    list: bool,
}

/// Most log input kept: the last 64 MiB (journals can be big; the decisive lines are near the end).
const MAX_LOG: usize = 64 * 1024 * 1024;

/// Runs it; exit 1 when a code is unknown.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    if args.list {
        if !render::structured(global.output, &kubecert_node::codes::CODES)? {
            for c in kubecert_node::codes::CODES {
                println!("{:<32} {:<8} {}", c.code, c.severity, c.title);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(code) = &args.code {
        let Some(doc) = kubecert_node::codes::lookup(code) else {
            eprintln!("kubecert: unknown code {code:?}; `kubecert explain --list` lists them");
            return Ok(ExitCode::from(1));
        };
        if !render::structured(global.output, doc)? {
            println!("{} ({})\n\n{}\n\n{}", doc.code, doc.severity, doc.title, wrap(doc.explanation, 96));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (bytes, dropped) = match &args.file {
        // Non-blocking, regular files only: a FIFO or /proc/kmsg named by mistake must not hang it.
        Some(f) => kubecert_node::logs::read_tail(
            kubecert_node::hostfs::open_regular(f, kubecert_node::hostfs::Follow::Yes).with_context(|| format!("cannot read {}", f.display()))?.0,
            MAX_LOG,
        )?,
        None => {
            use std::io::IsTerminal;
            // Do not wait silently for input nobody knows is expected.
            if std::io::stdin().is_terminal() {
                eprintln!("kubecert explain: reading kubelet log lines from stdin (paste them, then Ctrl-D); or give a CODE, or --file FILE");
            }
            kubecert_node::logs::read_tail(std::io::stdin(), MAX_LOG).context("cannot read stdin")?
        }
    };
    if dropped {
        eprintln!("kubecert: the input is larger than {} MiB; explaining its last {} MiB", MAX_LOG >> 20, MAX_LOG >> 20);
    }
    let text = String::from_utf8_lossy(&bytes);
    let found = kubecert_node::logs::explain_lines(&text);
    if render::structured(global.output, &found)? {
        return Ok(ExitCode::SUCCESS);
    }
    if found.is_empty() {
        println!("no known certificate-related line found ({} lines read)", text.lines().count());
        return Ok(ExitCode::SUCCESS);
    }
    // Group by pattern: one explanation per cause, with the lines that showed it.
    let mut seen: Vec<&str> = Vec::new();
    let c = render::colour();
    for e in &found {
        if seen.contains(&e.pattern.id) {
            continue;
        }
        seen.push(e.pattern.id);
        let lines: Vec<String> = found.iter().filter(|x| x.pattern.id == e.pattern.id).map(|x| x.line.to_string()).collect();
        println!("{} (line {})", render::paint(c, "1", e.pattern.id), lines.join(", "));
        println!("    {}", e.text);
        println!("  cause: {}", e.pattern.cause);
        println!("  fix:   {}", e.pattern.fix);
        if let Some(code) = e.pattern.code {
            println!("  see:   kubecert explain {code}");
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

fn wrap(s: &str, width: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for w in s.split_whitespace() {
        if col + w.len() + 1 > width && col > 0 {
            out.push('\n');
            col = 0;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(w);
        col += w.len();
    }
    out
}
