//! `kubecert completions SHELL` and `kubecert man [--out-dir DIR]`: shell completions
//! (clap_complete) and man pages (clap_mangen), both generated from the CLI definition itself,
//! so they can never disagree with the arguments the binary accepts.

use crate::global::Global;
use anyhow::Context;
use clap::CommandFactory;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Print a completion script for a shell.
#[derive(Debug, clap::Args)]
#[command(after_help = "Install, e.g.:\n  kubecert completions bash > /etc/bash_completion.d/kubecert\n  kubecert completions zsh > \"${fpath[1]}/_kubecert\"\n  kubecert completions fish > ~/.config/fish/completions/kubecert.fish")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Print the man page, or write one page per command into a directory.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write kubecert.1 and kubecert-<command>.1 for every subcommand here instead of printing kubecert.1.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

/// Writes the completion script to stdout (rendered into memory first: a closed pipe is an
/// error exit, not a panic inside clap_complete).
pub fn run_completions(args: CompletionsArgs, _global: &Global) -> anyhow::Result<ExitCode> {
    let mut cmd = crate::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "kubecert", &mut buf);
    write_stdout(&buf, "the completion script")
}

/// Prints kubecert.1, or writes every page into `--out-dir`.
pub fn run_man(args: ManArgs, _global: &Global) -> anyhow::Result<ExitCode> {
    let cmd = crate::Cli::command();
    match args.out_dir {
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut buf).context("rendering the man page")?;
            return write_stdout(&buf, "the man page");
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            // kubecert.1 plus kubecert-<command>.1 (display names) for every visible subcommand.
            clap_mangen::generate_to(cmd, &dir).with_context(|| format!("writing man pages into {}", dir.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes generated text to stdout; a reader that went away (`| head`) is not an error.
fn write_stdout(bytes: &[u8], what: &str) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e).with_context(|| format!("writing {what}")),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    fn subcommands() -> Vec<String> {
        crate::Cli::command().get_subcommands().map(|s| s.get_name().to_string()).collect()
    }

    #[test]
    fn every_shell_completes_every_subcommand() {
        let names = subcommands();
        assert!(names.iter().any(|n| n == "doctor") && names.iter().any(|n| n == "completions"), "{names:?}");
        for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut crate::Cli::command(), "kubecert", &mut buf);
            let text = String::from_utf8(buf).expect("utf-8");
            for n in &names {
                assert!(text.contains(n.as_str()), "{shell:?} completion lacks {n}");
            }
        }
    }

    #[test]
    fn man_pages_cover_the_commands_and_the_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        clap_mangen::generate_to(crate::Cli::command(), dir.path()).expect("pages");
        for n in subcommands().iter().filter(|n| *n != "help") {
            assert!(dir.path().join(format!("kubecert-{n}.1")).is_file(), "no page for {n}");
        }
        let top = std::fs::read_to_string(dir.path().join("kubecert.1")).expect("kubecert.1");
        assert!(top.contains(env!("CARGO_PKG_VERSION")) && top.contains("certificates.k8s.io/v1"), "{top}");
    }
}
