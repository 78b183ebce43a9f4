//! Helpers shared by integration tests (`mod common;`). Not every test uses every helper.
#![allow(dead_code)]

pub mod clap_host;
pub mod plugin_binary;
pub mod signals;
