//! `danna-sep`: offline separation with the plugin's engine.

use clap::Parser;
use danna_sep_core::config::Config;

fn main() {
    let cli = danna_sep_cli::cli::Cli::parse();
    // The composition root: the environment is read here, once.
    let config = Config::from_env();
    if let Err(e) = danna_sep_cli::cli::run(cli, &config) {
        eprintln!("error: {}", danna_sep_core::error::one_line(&e));
        std::process::exit(1);
    }
}
