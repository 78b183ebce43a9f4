//! Times `ModelSet::load`: the first load in a process verifies every file against the
//! manifest's sha256; later loads of the unchanged files reuse the cached digests.
//!
//! `cargo run --release -p danna-sep-core --example model_set_load -- models/demo`

use std::path::PathBuf;
use std::time::Instant;

use danna_sep_core::modelset::ModelSet;

fn main() {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| "models/demo".into(), PathBuf::from);
    let bytes: u64 = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "onnx"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    println!(
        "{}: {:.1} MB of ONNX files",
        dir.display(),
        bytes as f64 / 1e6
    );
    for round in 0..4 {
        let start = Instant::now();
        if let Err(e) = ModelSet::load(&dir) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let what = if round == 0 {
            "first load (hashes)"
        } else {
            "reload (cached)"
        };
        println!("{what}: {ms:.2} ms");
    }
}
