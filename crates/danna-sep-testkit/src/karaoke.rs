//! What the Karaoke tests need: the provisioned Spleeter 2-stem set, synthetic speech
//! (espeak-ng) and a plucked chord to mix it with.
//!
//! The Spleeter set is made by `cargo xtask setup` (not committed): a test without it prints a
//! loud SKIPPED banner, or fails when `CI` is set (CI provisions it).

use std::path::PathBuf;
use std::process::Command;

/// `models/spleeter-2stems` when provisioned, else `None` after a SKIPPED banner (a failure
/// with `CI` set).
pub fn spleeter_set_or_skip(test: &str) -> Option<PathBuf> {
    let dir = crate::repo_root().join("models/spleeter-2stems");
    if dir.join("manifest.toml").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {} is missing: run `cargo xtask setup` (or `cargo xtask models spleeter`)",
        dir.display()
    );
    skipped(test, &format!("{} not provisioned", dir.display()));
    None
}

fn skipped(test: &str, why: &str) {
    eprintln!(
        "\n########################################################################\n\
         # SKIPPED {test}: {why}\n\
         ########################################################################\n"
    );
}

/// A few seconds of English speech from espeak-ng at 44.1 kHz, peak 0.5, or `None` (SKIPPED;
/// a failure with `CI` set) without espeak-ng.
pub fn speech_or_skip(test: &str) -> Option<Vec<f32>> {
    let out = Command::new("espeak-ng")
        .args(["-v", "en", "-s", "150", "--stdout"])
        .arg("The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore.")
        .output();
    let wav = match out {
        Ok(o) if o.status.success() => o.stdout,
        other => {
            let why = format!("espeak-ng did not run: {other:?}");
            assert!(std::env::var_os("CI").is_none(), "CI is set but {why}");
            skipped(test, &why);
            return None;
        }
    };
    let (rate, samples) = parse_wav_i16(&wav).expect("espeak-ng writes a 16-bit PCM WAV");
    // espeak-ng speaks at 22.05 kHz: linear interpolation to 44.1 kHz is plenty for a test.
    let factor = 44_100 / rate as usize;
    let mut up = Vec::with_capacity(samples.len() * factor);
    for w in samples.windows(2) {
        for k in 0..factor {
            up.push(w[0] + (w[1] - w[0]) * k as f32 / factor as f32);
        }
    }
    let peak = up.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-9);
    Some(up.into_iter().map(|v| 0.5 * v / peak).collect())
}

/// The sample rate and mono samples of a RIFF/WAVE file of 16-bit PCM.
fn parse_wav_i16(bytes: &[u8]) -> Option<(u32, Vec<f32>)> {
    if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let mut at = 12;
    let mut rate = 0;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = at + 8;
        if id == b"fmt " {
            rate = u32::from_le_bytes(bytes.get(body + 4..body + 8)?.try_into().ok()?);
        } else if id == b"data" {
            // espeak-ng writing to a pipe leaves the length at its placeholder: take the rest.
            let end = body.saturating_add(len).min(bytes.len());
            let samples = bytes[body..end]
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0)
                .collect();
            return (rate > 0).then_some((rate, samples));
        }
        at = body + len + (len & 1);
    }
    None
}

/// Karplus-Strong plucks of a C major chord, re-plucked every half second, peak 0.3.
pub fn plucked_chord(n: usize, rate: u32, seed: u64) -> Vec<f32> {
    let mut rng = crate::Rng::new(seed);
    let mut out = vec![0.0f32; n];
    let half = rate as usize / 2;
    for start in (0..n).step_by(half) {
        for f in [130.81f32, 164.81, 196.0, 261.63] {
            let period = (rate as f32 / f).round() as usize;
            let mut buf: Vec<f32> = (0..period).map(|_| rng.range(-1.0, 1.0) as f32).collect();
            for i in 0..(rate as usize).min(n - start) {
                let j = i % period;
                out[start + i] += buf[j];
                buf[j] = 0.996 * 0.5 * (buf[j] + buf[(j + 1) % period]);
            }
        }
    }
    let peak = out.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-9);
    out.into_iter().map(|v| 0.3 * v / peak).collect()
}
