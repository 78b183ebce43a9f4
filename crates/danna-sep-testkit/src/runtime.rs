//! ONNX Runtime for the tests that run real sessions.

use danna_sep_core::config::Config;
use danna_sep_core::runtime::{self, OrtRuntime};

/// ONNX Runtime loaded with the process's configuration (`cargo xtask test` sets
/// `DANNA_SEP_ORT_LIB`), or `None` after printing a loud SKIPPED banner for `test`. With `CI`
/// set a missing runtime fails the test instead.
pub fn runtime_or_skip(test: &str) -> Option<&'static OrtRuntime> {
    match runtime::ensure_loaded(&Config::from_env().runtime) {
        Ok(rt) => Some(rt),
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI is set but {e}");
            eprintln!(
                "\n########################################################################\n\
                 # SKIPPED {test}: {e}\n\
                 ########################################################################\n"
            );
            None
        }
    }
}
