//! `danna-sep`: offline separation with the plugin's engine.

use clap::error::ErrorKind;
use clap::Parser;
use danna_sep_cli::{cli, interrupt, panics};
use danna_sep_core::config::Config;
use danna_sep_core::error::one_line;

fn main() {
    panics::install_hook();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        // `danna-sep` alone prints the help (status 2), as do --help and --version (status 0).
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        Err(e) if e.use_stderr() => usage_error(&e),
        Err(e) => e.exit(),
    };
    // The composition root: the environment is read here, once.
    let config = Config::from_env();
    let result = panics::catch(|| {
        interrupt::install().map_err(|e| format!("cannot handle Ctrl-C: {e}"))?;
        cli::run(cli, &config).map_err(|e| one_line(&e))
    });
    if let Err(e) = result.and_then(|run| run) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Prints a usage error as one line (clap's text without its usage block) and exits with
/// clap's status, 2.
fn usage_error(e: &clap::Error) -> ! {
    let text = e.render().to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:"))
        .collect();
    eprintln!("{}", parts.join(" "));
    std::process::exit(e.exit_code());
}
