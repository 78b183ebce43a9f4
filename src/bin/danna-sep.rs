//! `danna-sep`: offline separation with the plugin's engine.

use clap::Parser;

fn main() {
    let cli = danna_sep::cli::Cli::parse();
    if let Err(e) = danna_sep::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
