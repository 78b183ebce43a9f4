//! The plugin's test helpers: the in-process [`driver`] of `DannaSep`; everything else comes
//! from the shared test kit (`danna-sep-testkit`), re-exported here. Not every test uses every
//! helper.
#![allow(dead_code, unused_imports)]

pub mod driver;

pub use danna_sep_testkit::*;
