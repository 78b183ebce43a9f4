//! Helpers shared by the CLI's integration tests: running the binary, writing and reading WAV
//! files, and the one-line error check.

// Each test binary uses its own subset.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

pub use danna_sep_core::stems::STEM_IDS as STEMS;
/// The committed test model set (every stem is a quarter of the mix).
pub use danna_sep_testkit::{TempDir, QUARTER_SET};

/// The binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_danna-sep"))
}

/// A fresh temporary folder for one test.
pub fn tempdir(name: &str) -> TempDir {
    TempDir::new(&format!("cli-{name}"))
}

/// Runs `danna-sep separate --models <quarter set> -o <dir> <args...>`.
pub fn separate<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Output {
    bin()
        .args(["separate", "--models", QUARTER_SET, "-o"])
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs an external tool that makes test inputs; a missing tool fails with what to install.
pub fn tool<S: AsRef<OsStr>>(name: &str, args: &[S]) {
    let out = Command::new(name).args(args).output().unwrap_or_else(|e| {
        panic!(
            "`{name}` makes this test's inputs but could not be run ({e}); install the Debian \
             packages `sox` and `lame` (.ci/run does)"
        )
    });
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[derive(Clone, Copy, Debug)]
pub enum Format {
    I16,
    I24,
    F32,
}

/// Writes interleaved `data` as a WAV file and returns it as a decoder reads it back
/// (quantised for integer formats).
pub fn write_wav(path: &Path, channels: u16, rate: u32, format: Format, data: &[f32]) -> Vec<f32> {
    let (bits, sample_format) = match format {
        Format::I16 => (16, hound::SampleFormat::Int),
        Format::I24 => (24, hound::SampleFormat::Int),
        Format::F32 => (32, hound::SampleFormat::Float),
    };
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let scale = (1i64 << (bits - 1)) as f32;
    let mut read_back = Vec::with_capacity(data.len());
    for &v in data {
        match format {
            Format::F32 => {
                w.write_sample(v).unwrap();
                read_back.push(v);
            }
            _ => {
                let q = (v * scale).round().clamp(-scale, scale - 1.0) as i32;
                w.write_sample(q).unwrap();
                read_back.push(q as f32 / scale);
            }
        }
    }
    w.finalize().unwrap();
    read_back
}

/// A WAV file's spec and samples as f32 (integers scaled to ±1).
pub fn read_wav(path: &Path) -> (hound::WavSpec, Vec<f32>) {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    let data = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => {
            let scale = (1i64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.unwrap() as f32 / scale)
                .collect()
        }
    };
    (spec, data)
}

/// The four stems of `name` in `dir`, summed; asserts they share one spec and length.
pub fn stem_sum(dir: &Path, name: &str) -> (hound::WavSpec, Vec<f32>) {
    let (spec, mut sum) = read_wav(&dir.join(format!("{name}_drums.wav")));
    for stem in &STEMS[1..] {
        let (s, data) = read_wav(&dir.join(format!("{name}_{stem}.wav")));
        assert_eq!(s, spec, "{name}_{stem}");
        assert_eq!(data.len(), sum.len(), "{name}_{stem}");
        for (a, b) in sum.iter_mut().zip(&data) {
            *a += b;
        }
    }
    (spec, sum)
}

/// Interleaved sums of sines, each channel its own set, peaks below 0.5; all partials are
/// between 100 Hz and 5 kHz, well inside every rate and every lossy codec's band.
pub fn tones(frames: usize, channels: usize, rate: u32) -> Vec<f32> {
    let partials = [(110.0, 0.2), (440.0, 0.1), (1_250.0, 0.08), (4_700.0, 0.05)];
    let mut out = Vec::with_capacity(frames * channels);
    for i in 0..frames {
        let t = i as f64 / f64::from(rate);
        for c in 0..channels {
            let v: f64 = partials
                .iter()
                .map(|&(f, a)| a * (std::f64::consts::TAU * f * (1.0 + 0.13 * c as f64) * t).sin())
                .sum();
            out.push(v as f32);
        }
    }
    out
}

/// Runs `cmd` on `input` and checks for exit code 1, one line `error: <input>: ...<says>...`
/// on stderr and no stem files (finished or partial) in `dir`.
pub fn assert_one_line_error(mut cmd: Command, dir: &Path, input: &Path, says: &str) {
    let out = cmd.arg(input).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let label = input.file_name().unwrap().to_string_lossy();
    assert_eq!(out.status.code(), Some(1), "{label}: {err}");
    assert_eq!(err.lines().count(), 1, "{label}: one line: {err}");
    let prefix = format!("error: {}: ", input.display());
    assert!(
        err.starts_with(&prefix) && err.contains(says),
        "{label}: {err}"
    );
    let stem = input.file_stem().unwrap().to_string_lossy();
    for s in STEMS {
        for suffix in ["wav", "wav.part"] {
            let f = dir.join(format!("{stem}_{s}.{suffix}"));
            assert!(!f.exists(), "{label}: {} left behind", f.display());
        }
    }
}

/// A canonical 44-byte WAV header (PCM, or float with `format` 3) whose sizes claim
/// `data_len` bytes of audio, whatever follows it: for headers that lie.
pub fn wav_header(format: u16, channels: u16, rate: u32, bits: u16, data_len: u32) -> Vec<u8> {
    let block = channels.wrapping_mul(bits / 8);
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&format.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&rate.wrapping_mul(u32::from(block)).to_le_bytes());
    h.extend_from_slice(&block.to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

/// The files in `dir` whose names end with `suffix`.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Asserts that `out` failed with status 1 and exactly one stderr line that starts with
/// `error: ` and contains `says`, and that no panic message was printed.
pub fn assert_error_line(out: &Output, says: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: ") && err.contains(says), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
