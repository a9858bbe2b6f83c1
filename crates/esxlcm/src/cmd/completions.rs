//! `esxlcm completions SHELL` and `esxlcm man`: shell completion scripts (clap_complete) and
//! man pages (clap_mangen), both generated from the command definition itself, so they
//! never drift from `--help`. `main` passes that definition in (commands never import
//! `cli.rs`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use clap_complete::Shell;

use super::Status;
use crate::output;

const COMPLETIONS_HELP: &str = "\
Examples:
  esxlcm completions bash > /etc/bash_completion.d/esxlcm
  esxlcm completions zsh > \"${fpath[1]}/_esxlcm\"
  esxlcm completions fish > ~/.config/fish/completions/esxlcm.fish
  esxlcm completions powershell >> $PROFILE";

const MAN_HELP: &str = "\
Without --out, esxlcm.1 is written to stdout (`esxlcm man | man -l -`). With --out DIR,
esxlcm.1 and one page per subcommand (esxlcm-depot-inspect.1, esxlcm-mirror-sync.1, …) are
written into DIR, created if missing; existing pages are replaced.

Example:
  esxlcm man --out /usr/local/share/man/man1 && mandb";

#[derive(Debug, Clone, Args)]
#[command(after_help = COMPLETIONS_HELP)]
pub struct CompletionsArgs {
    /// The shell to write the script for
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = MAN_HELP)]
pub struct ManArgs {
    /// Write every page into this directory instead of esxlcm.1 to stdout
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Write the completion script of `command` for `args.shell` to stdout.
pub fn completions(args: &CompletionsArgs, mut command: clap::Command) -> anyhow::Result<Status> {
    let name = command.get_name().to_owned();
    // Into memory first: the generator panics on a write error (a closed pipe); ours returns it.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    let mut out = output::stdout();
    out.write_all(&script)?;
    out.flush()?;
    Ok(Status::Success)
}

/// Write `command`'s man page to stdout, or every page into `args.out`.
pub fn man(args: &ManArgs, mut command: clap::Command) -> anyhow::Result<Status> {
    command.build();
    let mut out = output::stdout();
    match &args.out {
        None => render(&command, &mut out)?,
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let mut written = Vec::new();
            write_pages(&command, command.get_name(), dir, &mut written)?;
            writeln!(out, "wrote {} to {}", output::count(written.len(), "man page", "man pages"), dir.display())?;
        }
    }
    out.flush()?;
    Ok(Status::Success)
}

fn render(command: &clap::Command, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    clap_mangen::Man::new(command.clone()).render(out).context("rendering the man page")
}

/// `NAME.1` for `command`, then `NAME-SUB.1` for each visible subcommand, depth first.
fn write_pages(command: &clap::Command, name: &str, dir: &Path, written: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let page = command.clone().name(name.to_owned()).display_name(name.to_owned());
    let path = dir.join(format!("{name}.1"));
    let mut bytes = Vec::new();
    render(&page, &mut bytes)?;
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
