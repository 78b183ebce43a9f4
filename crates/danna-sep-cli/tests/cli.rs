//! The `danna-sep` binary: files in (WAV, FLAC, Ogg Vorbis, MP3), stems out, one-line errors.
//!
//! Every run loads the committed `quarter` model set (`--models`), whose one model returns a
//! quarter of the mix for every stem: the real ensemble code path, with stems that sum back to
//! the input, so the tests can check lengths, alignment and decoding without real models.
//!
//! FLAC, Ogg Vorbis and MP3 inputs are made with `sox` and `lame` (Debian packages `sox` and
//! `lame`, installed by `.ci/run`); those tests fail with a clear message when they are missing.

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::*;

/// Largest absolute difference over interleaved samples `range`.
fn max_err(a: &[f32], b: &[f32], range: std::ops::Range<usize>) -> f32 {
    range.map(|i| (a[i] - b[i]).abs()).fold(0.0, f32::max)
}

/// `10 log10(|reference|² / |out - reference|²)` over interleaved samples `range`.
fn snr_db(out: &[f32], reference: &[f32], range: std::ops::Range<usize>) -> f64 {
    let (mut sig, mut err) = (0.0f64, 0.0f64);
    for i in range {
        sig += f64::from(reference[i]).powi(2);
        err += f64::from(out[i] - reference[i]).powi(2);
    }
    10.0 * (sig / err.max(f64::MIN_POSITIVE)).log10()
}

#[test]
fn wav_inputs_of_every_format_split_into_stems_that_sum_to_the_input() {
    let dir = tempdir("wav");
    let cases = [
        (2u16, 44_100u32, Format::I16),
        (1, 44_100, Format::F32),
        (2, 44_100, Format::I24),
        (2, 48_000, Format::F32),
        (1, 48_000, Format::I16),
    ];
    let mut inputs = Vec::new();
    for (k, &(channels, rate, format)) in cases.iter().enumerate() {
        let frames = rate as usize * 2 + 17;
        let path = dir.join(format!("song{k}.wav"));
        let data = write_wav(
            &path,
            channels,
            rate,
            format,
            &tones(frames, channels as usize, rate),
        );
        inputs.push((path, data));
    }
    // One run with every file per geometry: several inputs per call.
    for tier in ["whole", "offline"] {
        let mut args: Vec<&OsStr> = vec!["--tier".as_ref(), tier.as_ref()];
        args.extend(inputs.iter().map(|(p, _)| p.as_os_str()));
        let out = separate(&dir, &args);
        assert_success(&out);
        check_stem_sums(&dir, &cases, &inputs, tier);
        let says = if tier == "whole" {
            "the whole track as one window"
        } else {
            "windows of 12.1 s"
        };
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.matches(says).count(), inputs.len(), "{tier}: {err}");
    }
    // Without --tier, a short track is one window.
    let out = separate(&dir, &[inputs[0].0.as_os_str()]);
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the whole track as one window"), "{err}");
}

/// The stems of every input in `cases` sum back to it, in its format and length.
fn check_stem_sums(
    dir: &Path,
    cases: &[(u16, u32, Format)],
    inputs: &[(PathBuf, Vec<f32>)],
    tier: &str,
) {
    for (k, (&(channels, rate, format), (_, data))) in cases.iter().zip(inputs).enumerate() {
        let label = format!("{tier}: {channels} ch {format:?} at {rate} Hz");
        let (spec, sum) = stem_sum(dir, &format!("song{k}"));
        assert_eq!(
            (
                spec.channels,
                spec.sample_rate,
                spec.bits_per_sample,
                sum.len()
            ),
            (channels, rate, 32, data.len()),
            "{label}"
        );
        assert_eq!(spec.sample_format, hound::SampleFormat::Float, "{label}");
        // At 44.1 kHz (the model rate) the stems null against the input; elsewhere the engine's
        // round trip through the model rate costs a little, most at the ends.
        let (edge, tol) = if rate == 44_100 {
            (0, 1e-5)
        } else {
            (4096 * channels as usize, 1e-2)
        };
        let err = max_err(&sum, data, edge..data.len() - edge);
        assert!(err < tol, "{label}: error {err}");
    }
}

#[test]
fn flac_ogg_and_mp3_decode_to_full_length_aligned_stems() {
    let dir = tempdir("codecs");
    let (rate, frames) = (44_100u32, 3 * 44_100 + 1_234);
    let wav = dir.join("source.wav");
    let data = write_wav(&wav, 2, rate, Format::I16, &tones(frames, 2, rate));
    let wav48 = dir.join("source48.wav");
    let frames48 = 2 * 48_000 + 77;
    let data48 = write_wav(&wav48, 1, 48_000, Format::I16, &tones(frames48, 1, 48_000));
    let flac = dir.join("flac.flac");
    let ogg = dir.join("vorbis.ogg");
    let mp3 = dir.join("mp3.mp3");
    let mono_mp3 = dir.join("mono48.mp3");
    let untagged_mp3 = dir.join("untagged.mp3");
    // `-D`: no dither, so the FLAC holds exactly the WAV's samples.
    tool("sox", &[wav.as_os_str(), "-D".as_ref(), flac.as_os_str()]);
    tool("sox", &[wav.as_os_str(), ogg.as_os_str()]);
    // lame writes a LAME tag with its encoder delay and padding, so decoding is gapless.
    tool(
        "lame",
        &["--quiet".as_ref(), wav.as_os_str(), mp3.as_os_str()],
    );
    tool(
        "lame",
        &["--quiet".as_ref(), wav48.as_os_str(), mono_mp3.as_os_str()],
    );
    // `-t`: no LAME tag, so no stated length (only a bit-rate estimate): counted by decoding.
    tool(
        "lame",
        &[
            "--quiet".as_ref(),
            "-t".as_ref(),
            wav.as_os_str(),
            untagged_mp3.as_os_str(),
        ],
    );
    assert_success(&separate(
        &dir,
        &[&flac, &ogg, &mp3, &mono_mp3, &untagged_mp3],
    ));

    // Lossless: the stems null against the input.
    let (spec, sum) = stem_sum(&dir, "flac");
    assert_eq!((spec.channels, spec.sample_rate), (2, rate), "FLAC");
    assert_eq!(sum.len(), data.len(), "FLAC length");
    let err = max_err(&sum, &data, 0..data.len());
    assert!(err < 1e-5, "FLAC: error {err}");

    // Lossy: the decoded length is exact (encoder delay and padding removed) and the stems line
    // up with the input: a shift of one sample alone would bring the SNR down to about 16 dB.
    for (name, channels, in_rate, reference) in [
        ("vorbis", 2u16, rate, &data),
        ("mp3", 2, rate, &data),
        ("mono48", 1, 48_000, &data48),
    ] {
        let (spec, sum) = stem_sum(&dir, name);
        assert_eq!(
            (spec.channels, spec.sample_rate),
            (channels, in_rate),
            "{name}"
        );
        assert_eq!(sum.len(), reference.len(), "{name}: length");
        let edge = 4096 * channels as usize;
        let snr = snr_db(&sum, reference, edge..reference.len() - edge);
        eprintln!("{name}: {snr:.1} dB SNR against the input");
        assert!(snr > 20.0, "{name}: SNR {snr:.1} dB against the input");
    }

    // Without the tag the encoder's delay and padding stay in: every decoded MP3 frame counts.
    let (_, sum) = stem_sum(&dir, "untagged");
    let n = sum.len() / 2;
    assert!(
        n >= frames && n.is_multiple_of(1152),
        "untagged MP3: {n} frames"
    );
}

/// `sin(2π f t)` at `rate`, interleaved with `channels` copies, the k-th channel at `f · (k+1)`.
fn sines(frames: usize, channels: usize, rate: u32, f: f64) -> Vec<f32> {
    (0..frames * channels)
        .map(|i| {
            let (n, c) = (i / channels, i % channels);
            let t = n as f64 / f64::from(rate);
            (0.5 * (std::f64::consts::TAU * f * (c + 1) as f64 * t).sin()) as f32
        })
        .collect()
}

#[test]
fn rate_44100_resamples_the_stems_keeping_frequency_alignment_and_length() {
    let dir = tempdir("rate");
    // Stereo float at 48 kHz (down), mono 16-bit at 22.05 kHz (up), 44.1 kHz (unchanged).
    let cases = [
        (2usize, 48_000u32, Format::F32, 2 * 48_000 + 17, "32f"),
        (1, 22_050, Format::I16, 22_050 + 3, "16"),
        (2, 44_100, Format::F32, 44_100 + 5, "32f"),
    ];
    for (channels, rate, format, frames, depth) in cases {
        let label = format!("{channels} ch at {rate} Hz");
        let name = format!("sine{rate}");
        let input = dir.join(format!("{name}.wav"));
        write_wav(
            &input,
            channels as u16,
            rate,
            format,
            &sines(frames, channels, rate, 1_000.0),
        );
        let out = separate(
            &dir,
            &[
                "--rate".as_ref(),
                "44100".as_ref(),
                "--bit-depth".as_ref(),
                OsStr::new(depth),
                input.as_os_str(),
            ],
        );
        assert_success(&out);
        let (spec, sum) = stem_sum(&dir, &name);
        let want_frames = (frames as u64 * 44_100).div_ceil(u64::from(rate)) as usize;
        assert_eq!(
            (spec.channels as usize, spec.sample_rate, sum.len()),
            (channels, 44_100, want_frames * channels),
            "{label}"
        );
        // The same sines sampled at 44.1 kHz: same frequency, same phase (no delay). The
        // engine's own round trip through the model rate and the stems' resampling both leave
        // their ends less exact.
        let want = sines(want_frames, channels, 44_100, 1_000.0);
        let edge = 4096 * channels;
        let tol = if depth == "16" { 5e-4 } else { 1e-4 };
        let err = max_err(&sum, &want, edge..want.len() - edge);
        eprintln!("{label} -> 44.1 kHz: max error {err:.2e}");
        assert!(err < tol, "{label}: error {err}");
    }
}

#[test]
fn more_than_two_channels_use_the_first_two_and_say_so_once() {
    let dir = tempdir("channels");
    let frames = 44_100;
    let input = dir.join("quad.wav");
    let data = write_wav(&input, 4, 44_100, Format::F32, &tones(frames, 4, 44_100));
    let out = separate(&dir, &[&input]);
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("4 channels; separating the first two").count(),
        1,
        "{err}"
    );
    let (spec, sum) = stem_sum(&dir, "quad");
    assert_eq!((spec.channels, sum.len()), (2, frames * 2));
    let first_two: Vec<f32> = data.chunks(4).flat_map(|f| [f[0], f[1]]).collect();
    let err = max_err(&sum, &first_two, 0..sum.len());
    assert!(err < 1e-5, "error {err}");
}

#[test]
fn inputs_of_any_length_down_to_one_frame_are_separated() {
    // The streaming engine pads the input with silence to whole windows, and the whole-track
    // path pads a clip shorter than a model's minimum: there is no minimum length.
    let dir = tempdir("short");
    for tier in ["whole", "offline"] {
        for frames in [1usize, 5, 4_097] {
            let input = dir.join(format!("short{frames}.wav"));
            let data = write_wav(&input, 2, 44_100, Format::F32, &tones(frames, 2, 44_100));
            assert_success(&separate(&dir, &["--tier", tier, input.to_str().unwrap()]));
            let (_, sum) = stem_sum(&dir, &format!("short{frames}"));
            assert_eq!(sum.len(), data.len(), "{tier}, {frames} frames");
            let err = max_err(&sum, &data, 0..data.len());
            assert!(err < 1e-5, "{tier}, {frames} frames: error {err}");
        }
    }
}

#[test]
fn fast_is_model_fast_and_conflicts_with_model() {
    let dir = tempdir("fast");
    let input = dir.join("x.wav");
    write_wav(&input, 2, 44_100, Format::F32, &tones(10_000, 2, 44_100));
    let out = separate(
        &dir,
        &[
            "--fast".as_ref(),
            "--model".as_ref(),
            "full".as_ref(),
            input.as_os_str(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'--fast' cannot be used with '--model"),
        "{err}"
    );
    assert!(!dir.join("x_drums.wav").exists());

    let out = separate(&dir, &["--fast".as_ref(), input.as_os_str()]);
    assert_success(&out);
    // The summary line ends with the backend's description, which names the blend it runs.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("fast"), "{err}");
    assert!(dir.join("x_vocals.wav").exists());
}

#[test]
fn int8_is_passed_to_the_engine() {
    let dir = tempdir("int8");
    let input = dir.join("x.wav");
    let mix = write_wav(&input, 2, 44_100, Format::F32, &tones(10_000, 2, 44_100));
    let out = separate(&dir, &["--int8".as_ref(), input.as_os_str()]);
    assert_success(&out);
    // The quarter set has no int8 files: the engine asked for int8 says it runs float32.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("float32 (no int8 files in the set)"), "{err}");
    let (_, sum) = stem_sum(&dir, "x");
    assert!(max_err(&sum, &mix, 0..mix.len()) < 1e-5);
    let out = separate(&dir, &[input.as_os_str()]);
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("float32") && !err.contains("int8 LSTM"),
        "{err}"
    );
}

#[test]
fn bad_inputs_give_one_line_errors_and_a_nonzero_exit() {
    let dir = tempdir("bad");
    let frames = 44_100;
    let good = dir.join("good.wav");
    write_wav(&good, 2, 44_100, Format::I16, &tones(frames, 2, 44_100));

    let random = dir.join("random.wav");
    let mut rng = danna_sep_testkit::Rng::new(0x2545_f491_4f6c_dd1d);
    let noise: Vec<u8> = (0..50_000).map(|_| rng.next_u64() as u8).collect();
    std::fs::write(&random, noise).unwrap();
    let text = dir.join("text.mp3");
    std::fs::write(&text, b"this is not audio").unwrap();
    let empty = dir.join("empty.wav");
    write_wav(&empty, 2, 44_100, Format::I16, &[]);
    // A WAV whose data chunk is cut short, and FLAC files cut short or damaged in the middle.
    let bytes = std::fs::read(&good).unwrap();
    let short_wav = dir.join("short.wav");
    std::fs::write(&short_wav, &bytes[..bytes.len() / 2]).unwrap();
    let flac = dir.join("whole.flac");
    tool("sox", &[good.as_os_str(), flac.as_os_str()]);
    let bytes = std::fs::read(&flac).unwrap();
    let short_flac = dir.join("short.flac");
    std::fs::write(&short_flac, &bytes[..bytes.len() / 2]).unwrap();
    let mut damaged = bytes.clone();
    let mid = damaged.len() / 2;
    for b in &mut damaged[mid..mid + 400] {
        *b ^= 0x5a;
    }
    let corrupt_flac = dir.join("corrupt.flac");
    std::fs::write(&corrupt_flac, damaged).unwrap();
    // A WAV container with a codec we do not decode (GSM 6.10).
    let gsm = dir.join("gsm.wav");
    tool(
        "sox",
        &[
            good.as_os_str(),
            "-r".as_ref(),
            "8000".as_ref(),
            "-c".as_ref(),
            "1".as_ref(),
            "-e".as_ref(),
            "gsm-full-rate".as_ref(),
            gsm.as_os_str(),
        ],
    );
    let missing = dir.join("missing.wav");

    for (path, says) in [
        (&missing, "cannot open"),
        (&random, "not a supported audio file"),
        (&text, "not a supported audio file"),
        (&empty, "contains no audio"),
        (&short_wav, "truncated"),
        (&short_flac, "truncated"),
        (&corrupt_flac, "corrupt"),
        (&gsm, "unsupported audio encoding"),
    ] {
        let mut cmd = bin();
        cmd.args(["separate", "--models", QUARTER_SET, "-o"])
            .arg(&dir);
        assert_one_line_error(cmd, &dir, path, says);
    }
    // Failures of the backend come from the engine, with the input named in front.
    let mut cmd = bin();
    cmd.args(["separate", "-o"])
        .arg(&dir)
        .arg("--models")
        .arg(dir.join("no-models"));
    assert_one_line_error(cmd, &dir, &good, "no model set");
    let mut cmd = bin();
    cmd.args(["separate", "--models", QUARTER_SET, "-o"])
        .arg(&dir)
        .env("DANNA_SEP_ORT_LIB", "/nonexistent/libonnxruntime.so")
        .env("DANNA_SEP_ORT_NO_FALLBACK", "1");
    assert_one_line_error(cmd, &dir, &good, "ONNX Runtime");
}

#[test]
fn the_runtime_choice_reaches_the_engine_and_a_missing_openvino_falls_back_saying_why() {
    let dir = tempdir("runtime");
    let input = dir.join("x.wav");
    write_wav(&input, 2, 44_100, Format::F32, &tones(10_000, 2, 44_100));
    let run_with = |args: &[&str], missing: bool| {
        let mut cmd = bin();
        cmd.args(["separate", "--models", QUARTER_SET, "-o"])
            .arg(&dir)
            .args(args)
            .arg(&input);
        if missing {
            cmd.env("DANNA_SEP_OV_LIB", dir.join("no-such-libopenvino_c.so"))
                .env("DANNA_SEP_OV_NO_FALLBACK", "1");
        }
        let out = cmd.output().unwrap();
        assert_success(&out);
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let run = |missing: bool| run_with(&["--runtime", "openvino", "--bf16"], missing);
    let err = run(true);
    assert!(
        err.contains("OpenVINO unavailable (could not load OpenVINO 2026.4.1; tried: ")
            && err.contains("no-such-libopenvino_c.so (not found)): ONNX Runtime runs; bf16 needs OpenVINO: float32 runs"),
        "{err}"
    );
    assert!(err.contains(": ONNX Runtime 1.31.1,"), "{err}");
    // The checkout's OpenVINO (`cargo xtask setup`); CI provisions it.
    let err = run(false);
    assert!(err.contains(": OpenVINO 2026.4.1,"), "{err}");
    // The default, Auto, runs OpenVINO for bf16 (`--precision` spells what `--bf16` does); at
    // float32 where it loads on a CPU with AVX-512, and says why ONNX Runtime runs otherwise.
    let err = run_with(&["--precision", "bf16"], false);
    assert!(err.contains(": OpenVINO 2026.4.1,"), "{err}");
    let err = run_with(&[], true);
    let why = if danna_sep_core::selection::auto_prefers_openvino() {
        "OpenVINO unavailable ("
    } else {
        danna_sep_core::selection::AUTO_ORT_NOTE
    };
    assert!(
        err.contains(": ONNX Runtime 1.31.1,") && err.contains(why),
        "{err}"
    );
}
