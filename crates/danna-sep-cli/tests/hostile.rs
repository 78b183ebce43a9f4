//! The `danna-sep` binary against hostile inputs: tiny files through every model of the real
//! demo set, Ctrl-C, outputs that would overwrite an input, stems too long for WAV, headers
//! that lie about their rate, channels or length, out-of-range arguments and non-finite
//! samples. Every failure is one `error:` line, status 1 (130 for Ctrl-C), no panic message
//! and no `*.part` file left behind.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The committed demo model set: the real networks, small.
const DEMO_SET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/demo");

fn separate_with(models: &str, dir: &Path, args: &[&Path], extra: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.args(["separate", "--models", models, "-o"])
        .arg(dir)
        .args(extra)
        .args(args);
    cmd
}

/// Asserts the four stems of `name` in `dir` have `channels`, `rate`, `frames` and only finite
/// samples.
fn assert_finite_stems(dir: &Path, name: &str, channels: u16, rate: u32, frames: usize) {
    for stem in STEMS {
        let (spec, data) = read_wav(&dir.join(format!("{name}_{stem}.wav")));
        let label = format!("{}: {name}_{stem}", dir.display());
        assert_eq!(
            (spec.channels, spec.sample_rate, data.len()),
            (channels, rate, frames * channels as usize),
            "{label}"
        );
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            panic!("{label}: sample {i} is {}", data[i]);
        }
    }
}

#[test]
fn inputs_of_1_to_2048_frames_are_separated_by_every_model_of_the_demo_set() {
    let dir = tempdir("tiny");
    // (name, channels, rate, format, frames): both ends of the range, mono, and a resampled
    // rate; each costs a whole window of every model, so no more. Below 1025 frames (at the
    // model rate) every model once panicked in the whole-track path (the STFT needs more than
    // 2048 samples with its 1024-sample right pad, Demucs sliced past its output).
    let cases = [
        ("one", 2u16, 44_100u32, Format::F32, 1usize),
        ("k2", 2, 44_100, Format::I16, 2_048),
        ("mono7", 1, 44_100, Format::I16, 7),
        ("r48", 2, 48_000, Format::F32, 1_000),
    ];
    let mut inputs: Vec<PathBuf> = Vec::new();
    for &(name, channels, rate, format, frames) in &cases {
        let path = dir.join(format!("{name}.wav"));
        write_wav(
            &path,
            channels,
            rate,
            format,
            &tones(frames, channels as usize, rate),
        );
        inputs.push(path);
    }
    let args: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    // One process per model, all at once: each loads its models once for every file.
    let models = ["full", "fast", "unet", "xumx", "demucs"];
    let runs: Vec<_> = models
        .iter()
        .map(|m| {
            let out = dir.join(m);
            let child = separate_with(DEMO_SET, &out, &args, &["--model", m])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (m, out, child)
        })
        .collect();
    for (model, out, child) in runs {
        let result = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&result.stderr);
        assert!(result.status.success(), "--model {model}: {err}");
        assert_eq!(err.lines().count(), cases.len(), "--model {model}: {err}");
        for &(name, channels, rate, _, frames) in &cases {
            assert_finite_stems(&out, name, channels, rate, frames);
        }
        assert!(files_ending(&out, ".part").is_empty(), "--model {model}");
    }
}

#[test]
fn ctrl_c_removes_the_partial_files_and_exits_130() {
    let dir = tempdir("sigint");
    let input = dir.join("long.wav");
    // 30 s through the full demo ensemble: seconds of work after the stems are created.
    write_wav(
        &input,
        2,
        44_100,
        Format::I16,
        &tones(30 * 44_100, 2, 44_100),
    );
    let out = dir.join("out");
    let mut child = separate_with(DEMO_SET, &out, &[&input], &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while files_ending(&out, ".part").is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before its partial files were seen");
        }
        assert!(Instant::now() < deadline, "no partial file after 120 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let result = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(130), "{err}");
    assert_eq!(err, "error: interrupted\n");
    assert_eq!(files_ending(&out, ".part"), Vec::<String>::new());
    assert_eq!(files_ending(&out, ".wav"), Vec::<String>::new());
}

#[test]
fn an_output_that_is_an_input_is_refused_before_any_work() {
    let dir = tempdir("same");
    let mix = tones(4_410, 2, 44_100);
    let [first, song, stem] = ["first.wav", "song.wav", "song_drums.wav"].map(|n| dir.join(n));
    for p in [&first, &song, &stem] {
        write_wav(p, 2, 44_100, Format::I16, &mix);
    }
    let original = std::fs::read(&stem).unwrap();
    // `song`'s drums stem, written next to it, would be the input `song_drums.wav`.
    let out = separate_with(QUARTER_SET, &dir, &[&first, &song, &stem], &[])
        .output()
        .unwrap();
    assert_error_line(&out, "would overwrite this input");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("error: {}: ", stem.display())),
        "{err}"
    );
    assert_eq!(std::fs::read(&stem).unwrap(), original);
    // Refused before any work: not even the first input's stems.
    assert_eq!(files_ending(&dir, "_vocals.wav"), Vec::<String>::new());

    // Through links: a `.part` symlink and a hard link in the output folder, to the input
    // (Unix only: elsewhere the CLI compares canonical paths, which do not see hard links).
    #[cfg(unix)]
    through_links(&dir, &song);
}

#[cfg(unix)]
fn through_links(dir: &Path, song: &Path) {
    let (linked, hard) = (dir.join("linked"), dir.join("hard"));
    std::fs::create_dir_all(&linked).unwrap();
    std::fs::create_dir_all(&hard).unwrap();
    std::os::unix::fs::symlink(song, linked.join("song_vocals.wav.part")).unwrap();
    std::fs::hard_link(song, hard.join("song_bass.wav")).unwrap();
    let original = std::fs::read(song).unwrap();
    for out_dir in [&linked, &hard] {
        let out = separate_with(QUARTER_SET, out_dir, &[song], &[])
            .output()
            .unwrap();
        assert_error_line(&out, "would overwrite this input");
        assert_eq!(
            std::fs::read(song).unwrap(),
            original,
            "{}",
            out_dir.display()
        );
    }
}

#[test]
fn stems_over_the_wav_limit_are_refused_up_front() {
    let dir = tempdir("huge");
    // Headers claiming about 4 GiB of audio, with 64 KiB behind them: were any work done, the
    // run would fail later, as truncated.
    let tail = vec![0u8; 1 << 16];
    let mono = dir.join("mono.wav");
    let mut bytes = wav_header(1, 1, 44_100, 16, 0xFFFF_FF00);
    bytes.extend_from_slice(&tail);
    std::fs::write(&mono, bytes).unwrap();
    let low = dir.join("low.wav");
    let mut bytes = wav_header(1, 2, 22_050, 16, 0xF000_0000);
    bytes.extend_from_slice(&tail);
    std::fs::write(&low, bytes).unwrap();
    // Mono 16-bit in, 32-bit float stems: 8 GiB each.
    let out = separate_with(QUARTER_SET, &dir, &[&mono], &[])
        .output()
        .unwrap();
    assert_error_line(
        &out,
        "each stem would take 8.00 GiB, more than a WAV file can hold",
    );
    // 3.75 GiB as 16-bit at its own rate, twice that resampled to 44.1 kHz.
    let out = separate_with(
        QUARTER_SET,
        &dir,
        &[&low],
        &["--bit-depth", "16", "--rate", "44100"],
    )
    .output()
    .unwrap();
    assert_error_line(&out, "each stem would take 7.50 GiB");
    let out = separate_with(QUARTER_SET, &dir, &[&low], &["--bit-depth", "16"])
        .output()
        .unwrap();
    assert_error_line(&out, "truncated");
    assert_eq!(files_ending(&dir, ".part"), Vec::<String>::new());
    assert_eq!(files_ending(&dir, "_drums.wav"), Vec::<String>::new());
}

#[test]
fn lying_headers_and_out_of_range_arguments_give_one_line_errors() {
    let dir = tempdir("headers");
    let pcm = vec![0u8; 4_000];
    let header_file = |name: &str, channels: u16, rate: u32| {
        let path = dir.join(name);
        let mut bytes = wav_header(1, channels, rate, 16, pcm.len() as u32);
        bytes.extend_from_slice(&pcm);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    for (path, says) in [
        (
            header_file("ghz.wav", 2, 4_000_000_000),
            "sample rate 4000000000 Hz is outside the supported 8000 to 768000 Hz",
        ),
        (header_file("slow.wav", 2, 7_999), "sample rate 7999 Hz"),
        (header_file("fast.wav", 1, 768_001), "sample rate 768001 Hz"),
        (header_file("none.wav", 0, 44_100), "channel count"),
    ] {
        let out = separate_with(QUARTER_SET, &dir, &[&path], &[])
            .output()
            .unwrap();
        assert_error_line(&out, says);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with(&format!("error: {}: ", path.display())),
            "{err}"
        );
    }
    assert_eq!(files_ending(&dir, ".part"), Vec::<String>::new());

    // Eight channels: the first two are separated, with one note.
    let eight = dir.join("eight.wav");
    write_wav(&eight, 8, 48_000, Format::F32, &tones(4_800, 8, 48_000));
    let out = separate_with(QUARTER_SET, &dir, &[&eight], &[])
        .output()
        .unwrap();
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("8 channels; separating the first two").count(),
        1
    );
    assert_finite_stems(&dir, "eight", 2, 48_000, 4_800);
    // 32 channels trip an overflow in the WAV reader's channel-mask repair (a panic where
    // overflow checks are on): separated, or one line, never a panic message.
    let many = dir.join("many.wav");
    write_wav(&many, 32, 44_100, Format::I16, &tones(441, 32, 44_100));
    let out = separate_with(QUARTER_SET, &dir, &[&many], &[])
        .output()
        .unwrap();
    if !out.status.success() {
        assert_error_line(&out, &format!("{}: ", many.display()));
    }

    for (args, says) in [
        (&["--rate", "0"][..], "sample rate 0 Hz is outside"),
        (&["--rate", "4000000000"], "sample rate 4000000000 Hz"),
        (
            &["--block", "0"],
            "block size 0 is outside the supported 1 to 1048576",
        ),
        (
            &["--block", "18446744073709551615"],
            "block size 18446744073709551615",
        ),
    ] {
        let out = bin().arg("latency").args(args).output().unwrap();
        assert_error_line(&out, says);
    }
    let out = bin()
        .args(["latency", "--rate", "8000", "--block", "1"])
        .output()
        .unwrap();
    assert_success(&out);
    // A usage error: clap's message on one line, its status 2.
    let out = bin()
        .args(["separate", "--rate", "48000", "x.wav"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("[possible values: input, 44100]"), "{err}");
}

// `/dev/full` is Linux's.
#[cfg(unix)]
#[test]
fn a_failed_write_leaves_no_partial_file() {
    let dir = tempdir("full-disk");
    let input = dir.join("x.wav");
    write_wav(&input, 2, 44_100, Format::F32, &tones(44_100, 2, 44_100));
    // The drums stem goes to a full disk.
    std::os::unix::fs::symlink("/dev/full", dir.join("x_drums.wav.part")).unwrap();
    let out = separate_with(QUARTER_SET, &dir, &[&input], &[])
        .output()
        .unwrap();
    assert_error_line(&out, "No space left on device");
    assert_eq!(files_ending(&dir, ".part"), Vec::<String>::new());
    assert_eq!(files_ending(&dir, "_vocals.wav"), Vec::<String>::new());
}

/// Depends on the core's sanitising of the engine's input and the backends' output (issue 13,
/// item 1): today one NaN turns a whole-track run into NaN.
#[test]
fn nan_and_inf_samples_give_finite_stems() {
    let dir = tempdir("nan");
    let mut mix = tones(2 * 44_100, 2, 44_100);
    mix[2 * 1_000] = f32::NAN;
    mix[2 * 30_000 + 1] = f32::INFINITY;
    let input = dir.join("bad.wav");
    write_wav(&input, 2, 44_100, Format::F32, &mix);
    for tier in ["whole", "offline"] {
        let out = separate_with(QUARTER_SET, &dir, &[&input], &["--tier", tier])
            .output()
            .unwrap();
        assert_success(&out);
        assert_finite_stems(&dir, "bad", 2, 44_100, 2 * 44_100);
    }
}
