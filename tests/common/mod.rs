//! Helpers shared by integration tests (`mod common;`). Not every test uses every helper.
#![allow(dead_code)]

pub mod clap_host;
pub mod plugin_binary;
pub mod signals;
pub mod venv;

#[path = "../support/quarter_set.rs"]
mod quarter_set;
// Re-exported for the tests that load the plugin; the others include this module too.
#[allow(unused_imports)]
pub use quarter_set::{use_quarter_model_set, QUARTER_SET};
