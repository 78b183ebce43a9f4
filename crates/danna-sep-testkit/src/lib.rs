//! The test kit shared by every crate's tests and the benches: one seeded RNG and the signals
//! made with it ([`signals`]), block sequences and a small engine geometry ([`engine`]), one
//! temporary-folder helper ([`temp`]), the committed quarter model set ([`quarter_set`]), the
//! Python reference venv ([`venv`]), which plugin binary the host tests load
//! ([`plugin_binary`]), minimal CLAP and VST3 hosts ([`clap_host`], [`vst3_host`]), a
//! headless Ardour driver ([`ardour`]) and seeded host schedules for the fuzz tests
//! ([`fuzz`]).
//!
//! The backends the engine tests run live in the core, in `danna_sep_core::engine::testing`.

// Ardour is driven as a Linux program, and the VST3 host loads the Linux bundle layout with
// `dlopen` flags: both Unix-only (Windows builds are tested through the CLAP host and the CLI).
#[cfg(unix)]
pub mod ardour;
pub mod bench_args;
pub mod clap_host;
pub mod cli_binary;
pub mod engine;
pub mod fuzz;
pub mod karaoke;
pub mod plugin_binary;
pub mod quarter_set;
pub mod runtime;
pub mod signals;
pub mod temp;
pub mod venv;
#[cfg(unix)]
pub mod vst3_host;

use std::path::PathBuf;

pub use cli_binary::cli_binary;
pub use quarter_set::{use_quarter_model_set, QUARTER_SET};
pub use signals::Rng;
pub use temp::TempDir;

/// The repository root (the workspace folder), whichever crate's tests run.
pub fn repo_root() -> PathBuf {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    std::fs::canonicalize(root).unwrap_or_else(|_| PathBuf::from(root))
}
