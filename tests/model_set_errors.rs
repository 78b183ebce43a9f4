//! A missing or corrupt model set (a garbage, truncated or bit-flipped model file) leaves the
//! plugin loadable: it activates, reports its latency, passes the input through on the main
//! output delayed by exactly that latency, keeps the stem outputs silent, and its status line
//! says why, naming the file.
//!
//! One test in its own binary, because it points `DANNA_SEP_MODELS` (process-wide) at broken
//! folders one after another.

// Index loops over time read more clearly than iterator chains when comparing signals.
#![allow(clippy::needless_range_loop)]

mod common;

use common::driver::Driver;
use common::engine::{fixed_blocks, noise};
use common::TempDir;
use danna_sep_core::engine::BackendState;
use nice_plug::prelude::*;

fn check_passthrough(label: &str, expect_in_status: &str) {
    let mut d = Driver::new(2, 48_000.0, 512, ProcessMode::Offline);
    assert_eq!(d.settle(), BackendState::Failed, "{label}");
    let status = d.plugin.status_line();
    assert!(
        status.contains(expect_in_status),
        "{label}: status line '{status}' does not mention '{expect_in_status}'"
    );
    assert!(!status.contains('\n'), "{label}: status is one line");
    let latency = d.latency as usize;
    let total = latency + 20_000;
    let input: Vec<Vec<f32>> = (0..2).map(|c| noise(total, 40 + c as u64)).collect();
    let out = d.run(&input, &fixed_blocks(total, 512));
    for ch in 0..2 {
        for t in 0..total {
            let expected = if t >= latency {
                input[ch][t - latency]
            } else {
                0.0
            };
            assert_eq!(
                out.main[ch][t], expected,
                "{label}: main ch {ch} sample {t}"
            );
        }
        for s in 0..4 {
            assert!(
                out.aux[s][ch].iter().all(|&x| x == 0.0),
                "{label}: stem {s} is silent"
            );
        }
    }
    println!("{label}: passthrough, status: {status}");
}

#[test]
fn missing_or_corrupt_model_sets_pass_audio_through_and_say_why() {
    // Consume the helper's one-time setting so it cannot overwrite ours.
    common::use_quarter_model_set();
    let tmp = TempDir::new("bad-models");

    let missing = tmp.join("missing");
    std::env::set_var("DANNA_SEP_MODELS", &missing);
    check_passthrough("missing folder", "no model set at");

    // The quarter set's manifest with garbage instead of the ONNX file (checksum removed so
    // the failure comes from ONNX Runtime opening the file).
    let corrupt = tmp.join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    let quarter = common::QUARTER_SET;
    let manifest = std::fs::read_to_string(format!("{quarter}/manifest.toml")).unwrap();
    let manifest: String = manifest
        .lines()
        .filter(|l| !l.starts_with("sha256"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(corrupt.join("manifest.toml"), manifest).unwrap();
    std::fs::write(corrupt.join("quarter.onnx"), b"not an onnx model").unwrap();
    std::env::set_var("DANNA_SEP_MODELS", &corrupt);
    check_passthrough("corrupt model file", "quarter.onnx");

    // Without a checksum, a truncated file that still starts like ONNX gets as far as ONNX
    // Runtime, whose refusal names the file too.
    let model = std::fs::read(format!("{quarter}/quarter.onnx")).unwrap();
    std::fs::write(corrupt.join("quarter.onnx"), &model[..model.len() / 2]).unwrap();
    check_passthrough("truncated model file, no checksum", "quarter.onnx");

    // With the manifest's checksum, one flipped bit is enough to refuse the file at load.
    let damaged = tmp.join("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    std::fs::copy(
        format!("{quarter}/manifest.toml"),
        damaged.join("manifest.toml"),
    )
    .unwrap();
    let mut flipped = model.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x04;
    std::fs::write(damaged.join("quarter.onnx"), &flipped).unwrap();
    std::env::set_var("DANNA_SEP_MODELS", &damaged);
    check_passthrough(
        "bit-flipped model file",
        "quarter.onnx is damaged or was changed",
    );
}
