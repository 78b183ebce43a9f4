//! Project automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! Commands:
//! - `setup [--no-python] [--windows] [--synth]`: provision ONNX Runtime into `.deps/` (and the Python
//!   venv; with `--windows` the Windows cross-build too);
//! - `bundle <package> [--release] ...`: build the VST3/CLAP bundles and ship ONNX Runtime in
//!   them (`bundle danna-sep [--release] --target windows`: the Windows bundles and CLI);
//! - `test [--windows]`: the project's single test command (setup, bundle, tests, clippy, fmt,
//!   Python; the Windows build under wine with `--windows` or when `CI` is set);
//! - `test-windows`: only that Windows stage (`test_windows.rs`);
//! - `demo [--no-python]`: setup, release bundle, then separate `examples/demo.wav`;
//! - `models ...`: the model toolchain (see `models.rs`);
//! - `bench ...`: the benchmark suite behind the README's performance tables (see `bench.rs`);
//! - `screenshot`: the editor under Xvfb (standalone build) to `docs/screenshot.png`;
//! - anything else is handed to `nice-plug-xtask` (e.g. `known-packages`).

mod bench;
mod bundle;
mod bundle_windows;
mod demo;
mod eval;
mod models;
mod openvino;
mod process;
mod python;
mod screenshot;
mod setup;
mod spleeter;
mod test;
mod test_windows;
mod wav_compare;
mod windows;
mod wine;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
Usage: cargo xtask <command> [args]

Commands:
  setup [--no-python] [--windows] [--synth]
                                  provision ONNX Runtime (.deps/onnxruntime) and the Python venv
                                  (--windows: also the Windows cross-build, .deps/windows;
                                  --synth: the v2 data generator's soundfonts and drum kits)
  bundle <package> [--release]    build plugin bundles (target/bundled) including ONNX Runtime
  bundle danna-sep [--release] --target windows
                                  Windows VST3/CLAP bundles and CLI (target/bundled/windows)
  test [--windows]                run every check: bundle, cargo test, clippy, fmt, Python tests
                                  (--windows, or CI set: also the Windows build under wine)
  test-windows                    only that Windows stage
  demo [--no-python]              release bundle + `danna-sep separate examples/demo.wav`
  models <args>                   model toolchain (export/convert models)
  bench [--quick] [--readme]      benchmarks (speed, memory, quality per tier) -> docs/bench
  screenshot                      the editor under Xvfb (standalone build) -> docs/screenshot.png";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> anyhow::Result<()> {
    let root = project_root();
    let Some(command) = args.first() else {
        println!("{USAGE}");
        return Ok(());
    };
    let rest = &args[1..];
    match command.as_str() {
        "setup" => setup::run(&root, rest),
        "bench" => bench::run(&root, rest),
        "bundle" => bundle::run(&root, rest),
        "test" => test::run(&root, rest),
        "test-windows" => test_windows::run(&root),
        "demo" => demo::run(&root, rest),
        "models" => models::run(&root, rest),
        "screenshot" => screenshot::run(&root),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        _ => nice_plug_xtask::main_with_args("cargo xtask", args.iter().cloned()),
    }
}

/// The workspace root. Taken from where this crate was compiled rather than the working
/// directory, so `cargo xtask` works from any subdirectory.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
