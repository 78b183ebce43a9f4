//! The Rust ensemble against the Python reference pipeline (`models/danna_sep_models/
//! reference.py`: the original tool's recipe with `norbert` and float64 iSTFT) on the same
//! ONNX models, and the streaming engine against the whole-clip run.
//!
//! The fixture is made at test time in the project's venv: a `tiny` model set (random
//! initialisation, seed 7; its U-Net `chunk_frames` lowered to 100 so a 5 s clip exercises the
//! chunking and the short-last-chunk padding) and a 5 s stereo clip of sines, noise bursts and
//! a sweep. Run with `-- --nocapture` to see the numbers.
//!
//! - Whole clip: every stem of the full blend, the fast blend and each single model is within
//!   60 dB SNR of the reference (measured ≥ 100 dB; the residue is float32 STFT/iSTFT rounding
//!   against torch's and the float64 iSTFT of the tool).
//! - Streaming (each latency tier, 44.1 kHz, offline mode) against the whole clip: per-window
//!   Wiener statistics and Demucs standardisation, crossfaded windows. Reported per stem; the
//!   assertion is a floor for these random tiny models (see `STREAMING_FLOOR_DB`), the numbers
//!   for the shipped demo set are in the README.
//! - The CLI (`danna-sep separate --models DIR --tier balanced`) on a 48 kHz WAV writes exactly
//!   what the plugin's aux outputs give in an offline render at 48 kHz, shifted by the
//!   reported latency.

// Index loops over time read more clearly than iterator chains when comparing signals.
#![allow(clippy::needless_range_loop)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::driver::Driver;
use common::runtime::runtime_or_skip;
use common::venv::{python_or_skip, read_f32, run_script, snr_db};
use common::TempDir;
use danna_sep_core::engine::offline::separate_buffers;
use danna_sep_core::engine::{BackendFactory, LatencyBudget, LatencyTier, StemBuffers};
use danna_sep_core::ensemble::{separate_clip, EnsembleBackend, SessionConfig};
use danna_sep_core::modelset::ModelSet;
use danna_sep_core::runtime::OrtRuntime;
use danna_sep_core::stems::STEM_IDS;
use danna_sep_core::{BackendSpec, ModelChoice, SeparationBackend};
use nice_plug::prelude::ProcessMode;

const SCRIPT: &str = r#"
import re
import sys
from pathlib import Path

import numpy as np

from danna_sep_models import reference as ref
from danna_sep_models.modelset import export_set

out = Path(sys.argv[1])
models = out / "models"
export_set(models, config="tiny", seed=7, log=lambda *_: None)
manifest = models / "manifest.toml"
text = manifest.read_text()
# Lower the U-Net's chunk so the clip needs three chunks, the last one shorter than 64 frames.
text = re.sub(r"(\[models\.unet\][^\[]*?chunk_frames = )\d+", r"\g<1>100", text, flags=re.S)
manifest.write_text(text)

sr = 44100
L = 5 * sr + 333
rng = np.random.default_rng(11)
t = np.arange(L) / sr
env = (np.sin(2 * np.pi * 2.0 * t) > 0.3).astype(np.float32)
audio = np.stack([
    0.3 * np.sin(2 * np.pi * 110.0 * t) + 0.2 * env * rng.standard_normal(L)
    + 0.2 * np.sin(2 * np.pi * (300.0 + 400.0 * t) * t),
    0.25 * np.sin(2 * np.pi * 165.0 * t + 0.3) + 0.15 * env * rng.standard_normal(L)
    + 0.2 * np.sin(2 * np.pi * 880.0 * t) * (t % 1.0 < 0.5),
]).astype(np.float32)
audio.tofile(out / "audio.f32")

ms = ref.ModelSet(models, threads=1)
full, est = ref.separate(audio, ms, "full")
fast, _ = ref.separate(audio, ms, "fast")
full.tofile(out / "full.f32")
fast.tofile(out / "fast.f32")
for name, y in est.items():
    np.ascontiguousarray(y).tofile(out / f"{name}.f32")
(out / "len.txt").write_text(str(L))
"#;

/// Floor for streaming vs whole-clip SNR per stem with the random tiny models.
const STREAMING_FLOOR_DB: f64 = 10.0;

fn planar(stems: &StemBuffers) -> Vec<f32> {
    (0..8)
        .flat_map(|c| stems.channel(c / 2, c % 2).to_vec())
        .collect()
}

fn per_stem_snr(reference: &[f32], estimate: &[f32], frames: usize) -> [f64; 4] {
    std::array::from_fn(|s| {
        let r = &reference[2 * s * frames..2 * (s + 1) * frames];
        let e = &estimate[2 * s * frames..2 * (s + 1) * frames];
        snr_db(r, e)
    })
}

fn streamed(rt: &'static OrtRuntime, set: &Path, tier: LatencyTier, mix: [&[f32]; 2]) -> Vec<f32> {
    let set = ModelSet::load(set).unwrap();
    let config = SessionConfig {
        intra_threads: 1,
        parallel_models: false,
        memory_arena: true,
        int8: false,
        ..SessionConfig::default()
    };
    let factory: BackendFactory = Arc::new(move |spec: BackendSpec| {
        let backend = EnsembleBackend::new(rt, &set, spec.model, config)?;
        Ok(Box::new(backend) as Box<dyn SeparationBackend>)
    });
    let spec = BackendSpec::default();
    separate_buffers(LatencyBudget::new(tier, 44_100, 4096), factory, spec, mix)
        .unwrap()
        .0
}

#[test]
fn whole_clip_matches_the_python_reference_and_streaming_stays_close() {
    let Some(python) = python_or_skip("ensemble_parity") else {
        return;
    };
    let Some(rt) = runtime_or_skip("ensemble_parity") else {
        return;
    };
    let dir = TempDir::new("ensemble-parity");
    let d = dir.path();
    run_script(&python, d, SCRIPT, &[d.to_str().unwrap()]);
    let frames: usize = std::fs::read_to_string(d.join("len.txt"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let audio = read_f32(&d.join("audio.f32"));
    let mix = [&audio[..frames], &audio[frames..]];
    let set = ModelSet::load(&d.join("models")).unwrap();
    let config = SessionConfig {
        intra_threads: 1,
        parallel_models: false,
        memory_arena: true,
        int8: false,
        ..SessionConfig::default()
    };

    let cases = [
        (ModelChoice::Full, "full"),
        (ModelChoice::Fast, "fast"),
        (ModelChoice::UNet, "unet"),
        (ModelChoice::Demucs, "demucs"),
        (ModelChoice::XUmx, "xumx"),
    ];
    let mut whole_full = Vec::new();
    for (choice, file) in cases {
        let reference = read_f32(&d.join(format!("{file}.f32")));
        let rust = planar(&separate_clip(rt, &set, choice, config, mix).unwrap());
        if matches!(choice, ModelChoice::Full | ModelChoice::Fast) {
            // The waveform model on its own thread changes nothing: the blend order is kept.
            let parallel = SessionConfig {
                parallel_models: true,
                ..config
            };
            let par = planar(&separate_clip(rt, &set, choice, parallel, mix).unwrap());
            assert!(par == rust, "{file}: parallel differs from sequential");
        }
        let snr = per_stem_snr(&reference, &rust, frames);
        println!(
            "whole clip vs Python reference, {file:>6}: {snr:.1?} dB (drums, bass, other, vocals)"
        );
        for (s, v) in snr.iter().enumerate() {
            assert!(*v >= 60.0, "{file} {}: {v:.1} dB < 60 dB", STEM_IDS[s]);
        }
        if choice == ModelChoice::Full {
            whole_full = rust;
        }
    }

    cli_equals_the_plugin_offline_render(&d.join("models"), d);
    cli_whole_track_equals_the_whole_clip_run(&d.join("models"), d, mix, &whole_full);

    for tier in LatencyTier::ALL {
        let stream = streamed(rt, &d.join("models"), tier, mix);
        let snr = per_stem_snr(&whole_full, &stream, frames);
        println!("streaming {tier:?} vs whole clip (full ensemble): {snr:.1?} dB");
        for (s, v) in snr.iter().enumerate() {
            assert!(
                *v >= STREAMING_FLOOR_DB,
                "{tier:?} {}: {v:.1} dB < {STREAMING_FLOOR_DB} dB",
                STEM_IDS[s]
            );
        }
    }
}

/// Writes `input` (two channels) as a 32-bit float stereo WAV at `rate`.
fn write_stereo_wav(path: &Path, rate: u32, input: [&[f32]; 2]) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for (l, r) in input[0].iter().zip(input[1]) {
        w.write_sample(*l).unwrap();
        w.write_sample(*r).unwrap();
    }
    w.finalize().unwrap();
}

/// Runs `danna-sep separate <tier args> --models MODELS -o OUT WAV`; returns its stderr.
fn run_cli(args: &[&str], models: &Path, out_dir: &Path, wav: &Path) -> String {
    let out = Command::new(common::cli_binary())
        .arg("separate")
        .args(args)
        .arg("--models")
        .arg(models)
        .arg("-o")
        .arg(out_dir)
        .arg(wav)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "CLI failed: {err}");
    err
}

/// One stem file the CLI wrote (interleaved stereo), checked for its rate and length.
fn read_stem(path: &Path, rate: u32, frames: usize) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).unwrap();
    assert_eq!(r.spec().sample_rate, rate, "{}", path.display());
    let samples: Vec<f32> = r.samples::<f32>().map(Result::unwrap).collect();
    assert_eq!(samples.len(), 2 * frames, "{}: length", path.display());
    samples
}

/// The CLI's default geometry on a short 44.1 kHz file (the whole track as one window) writes
/// exactly the whole-clip run, which matches the Python reference; on ONNX Runtime, which the
/// whole-clip run used (the default runtime, Auto, may pick OpenVINO: the same to ~140 dB, not
/// to the bit).
fn cli_whole_track_equals_the_whole_clip_run(
    models: &Path,
    dir: &Path,
    mix: [&[f32]; 2],
    whole: &[f32],
) {
    let frames = mix[0].len();
    let wav = dir.join("clip44k.wav");
    write_stereo_wav(&wav, 44_100, mix);
    let out_dir = dir.join("cli-whole");
    let err = run_cli(&["--runtime", "onnxruntime"], models, &out_dir, &wav);
    assert!(err.contains("the whole track as one window"), "{err}");
    for (s, name) in STEM_IDS.iter().enumerate() {
        let cli = read_stem(&out_dir.join(format!("clip44k_{name}.wav")), 44_100, frames);
        let max_diff = (0..frames)
            .flat_map(|t| (0..2).map(move |ch| (t, ch)))
            .map(|(t, ch)| (cli[2 * t + ch] - whole[(s * 2 + ch) * frames + t]).abs())
            .fold(0.0f32, f32::max);
        assert!(
            max_diff == 0.0,
            "{name}: CLI whole track and whole-clip run differ by {max_diff}"
        );
    }
}

/// The CLI's stems of a 48 kHz file equal the plugin's offline render, shifted by its latency.
fn cli_equals_the_plugin_offline_render(models: &Path, dir: &Path) {
    let rate = 48_000u32;
    let frames = 3 * rate as usize + 777;
    let input: Vec<Vec<f32>> = (0..2)
        .map(|c| {
            (0..frames)
                .map(|t| {
                    let x = t as f32 / rate as f32;
                    0.3 * (2.0 * std::f32::consts::PI * (220.0 + 110.0 * c as f32) * x).sin()
                        + 0.2
                            * (2.0 * std::f32::consts::PI * 3.0 * x).sin().signum()
                            * (2.0 * std::f32::consts::PI * 1500.0 * x).sin()
                })
                .collect()
        })
        .collect();
    let wav = dir.join("clip48k.wav");
    write_stereo_wav(&wav, rate, [&input[0], &input[1]]);
    let out_dir = dir.join("cli-out");
    run_cli(&["--tier", "balanced"], models, &out_dir, &wav);

    common::use_quarter_model_set();
    std::env::set_var("DANNA_SEP_MODELS", models);
    let mut d = Driver::new(2, rate as f32, 512, ProcessMode::Offline);
    assert_eq!(d.settle(), danna_sep_core::BackendState::Ready);
    let latency = d.latency as usize;
    let padded: Vec<Vec<f32>> = input
        .iter()
        .map(|c| {
            c.iter()
                .copied()
                .chain(std::iter::repeat_n(0.0, latency))
                .collect()
        })
        .collect();
    let total = frames + latency;
    let blocks: Vec<usize> = (0..total)
        .step_by(512)
        .map(|s| 512.min(total - s))
        .collect();
    let render = d.run(&padded, &blocks);
    for (s, name) in STEM_IDS.iter().enumerate() {
        let cli = read_stem(&out_dir.join(format!("clip48k_{name}.wav")), rate, frames);
        let mut max_diff = 0.0f32;
        for t in 0..frames {
            for ch in 0..2 {
                let p = render.aux[s][ch][t + latency];
                max_diff = max_diff.max((cli[2 * t + ch] - p).abs());
            }
        }
        println!("CLI vs plugin offline render at 48 kHz, {name}: max |diff| {max_diff:e}");
        assert!(
            max_diff == 0.0,
            "{name}: CLI and plugin differ by {max_diff}"
        );
    }
}
