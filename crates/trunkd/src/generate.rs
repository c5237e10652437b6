//! `trunkd generate` (hidden): the man pages and the shell completion scripts, written at
//! packaging time from the same clap definition that parses the command line, so that neither
//! can drift from `--help`. Nothing generated is committed; the .deb build runs this.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use clap_complete::Shell;

/// What `trunkd generate` writes, and where.
#[derive(Args, Debug, Clone)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub what: Generated,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Generated {
    /// Man pages: trunkd.1 and one trunkd-COMMAND.1 per subcommand
    Man {
        /// Directory to write them to (created if missing)
        #[arg(long)]
        out: PathBuf,
    },
    /// The completion script for one shell
    Completions {
        shell: Shell,
        /// Directory to write it to (created if missing)
        #[arg(long)]
        out: PathBuf,
    },
}

/// A file or directory that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct GenerateError {
    path: String,
    source: std::io::Error,
}

/// Writes what `args` asks for; the paths written.
pub fn run(args: &GenerateArgs) -> Result<Vec<PathBuf>, GenerateError> {
    let out = match &args.what {
        Generated::Man { out } | Generated::Completions { out, .. } => out,
    };
    let failed = |path: &Path| {
        let path = path.display().to_string();
        move |source| GenerateError { path, source }
    };
    std::fs::create_dir_all(out).map_err(failed(out))?;
    let command = for_operators(crate::config::command());
    match &args.what {
        Generated::Man { .. } => man_pages(command, out).map_err(failed(out)),
        Generated::Completions { shell, .. } => {
            let mut command = command;
            clap_complete::generate_to(*shell, &mut command, "trunkd", out)
                .map(|path| vec![path])
                .map_err(failed(out))
        }
    }
}

/// `command` less its hidden subcommands (this one among them: it is not for operators), which
/// clap_complete would otherwise offer.
fn for_operators(command: clap::Command) -> clap::Command {
    let mut visible = clap::Command::new("trunkd")
        .version(env!("CARGO_PKG_VERSION"))
        .args(command.get_arguments().cloned())
        .subcommands(
            command
                .get_subcommands()
                .filter(|c| !c.is_hide_set())
                .cloned(),
        )
        .subcommand_required(command.is_subcommand_required_set());
    if let Some(about) = command.get_about() {
        visible = visible.about(about.clone());
    }
    visible
}

/// trunkd.1 for the whole command, then trunkd-NAME.1 for each subcommand.
fn man_pages(command: clap::Command, out: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut command = command.disable_help_subcommand(true);
    // Built, each subcommand holds the global flags (`--config`) and is named `trunkd-NAME`.
    command.build();
    let mut written = vec![clap_mangen::Man::new(command.clone()).generate_to(out)?];
    for subcommand in command.get_subcommands() {
        written.push(clap_mangen::Man::new(subcommand.clone()).generate_to(out)?);
    }
    Ok(written)
}
