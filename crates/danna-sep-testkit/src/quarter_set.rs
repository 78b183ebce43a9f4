//! The committed test model set whose one model returns a quarter of the mix for every stem
//! (`tests/fixtures/quarter-set`): the real ensemble code path, with stems that sum exactly to
//! the input.

/// Path of the quarter set.
pub const QUARTER_SET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/quarter-set"
);

/// Points the plugin (loaded into this process) at [`QUARTER_SET`] through
/// `DANNA_SEP_MODELS`. Call it first thing in every test that loads the plugin; it sets the
/// variable once, before the first plugin instance reads it.
pub fn use_quarter_model_set() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("DANNA_SEP_MODELS", QUARTER_SET));
}
