//! `danna-sep-standalone`: the plugin with its editor as a standalone application (nice-plug's
//! standalone wrapper). `--backend dummy` runs it without any audio device, which is how
//! `cargo xtask screenshot` shows the editor under Xvfb.

fn main() {
    nice_plug::nice_export_standalone::<danna_sep::DannaSep>();
}
