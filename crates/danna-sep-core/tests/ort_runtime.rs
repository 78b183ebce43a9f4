//! Loads the real ONNX Runtime (as provisioned by `cargo xtask setup`) through
//! `danna_sep_core::runtime`. `cargo xtask test` sets `DANNA_SEP_ORT_LIB`; without it the
//! project fallback `.deps/onnxruntime/libonnxruntime.so` is used.
//!
//! Outside CI a missing library only skips the test (with a message), so `cargo test` works
//! before `cargo xtask setup`; with `CI` set, or `DANNA_SEP_ORT_LIB` set, it must load.

use danna_sep_core::config::{Config, ENV_ORT_LIB};
use danna_sep_core::runtime;

#[test]
fn loads_onnx_runtime_1_31() {
    let config = Config::from_env().runtime;
    let runtime = match runtime::ensure_loaded(&config) {
        Ok(runtime) => runtime,
        Err(err) => {
            let required =
                std::env::var_os("CI").is_some() || std::env::var_os(ENV_ORT_LIB).is_some();
            if required {
                panic!("{err}");
            }
            eprintln!("SKIPPED: ONNX Runtime not provisioned (run `cargo xtask setup`): {err}");
            return;
        }
    };
    assert!(
        runtime.version.starts_with("1.31"),
        "unexpected ONNX Runtime version {:?} from {}",
        runtime.version,
        runtime.path.display()
    );
    assert!(runtime.path.is_file());
    if let Some(env_path) = std::env::var_os(ENV_ORT_LIB) {
        assert_eq!(runtime.path, std::path::PathBuf::from(env_path));
    }

    // Cached: the same instance every time, from any thread.
    let again =
        std::thread::spawn(move || runtime::ensure_loaded(&config).unwrap() as *const _ as usize)
            .join()
            .unwrap();
    assert_eq!(again, runtime as *const _ as usize);

    // The outcome can be read without loading anything.
    assert!(matches!(runtime::load_outcome(), Some(Ok(r)) if std::ptr::eq(r, runtime)));

    // The environment is usable: a session builder can be created from it.
    ort::session::Session::builder(&runtime.environment).expect("session builder");
}
