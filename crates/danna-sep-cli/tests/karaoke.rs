//! `danna-sep separate --model karaoke` on the shipped demo set and the provisioned Spleeter
//! model (`cargo xtask setup`; the test is SKIPPED without it, and fails when `CI` is set):
//! the stems null (Σ stems vs input ≥ 100 dB, `--null-stems auto`), and `--null-stems off`
//! leaves the estimates as they are.

mod common;

use common::*;
use danna_sep_testkit::karaoke::{plucked_chord, spleeter_set_or_skip};
use danna_sep_testkit::venv::snr_db;

#[test]
fn karaoke_stems_sum_to_the_input_offline() {
    let Some(spleeter) = spleeter_set_or_skip("cli karaoke") else {
        return;
    };
    if danna_sep_testkit::runtime::runtime_or_skip("cli karaoke").is_none() {
        return;
    }
    let dir = tempdir("karaoke");
    let rate = 48_000;
    let chord = plucked_chord(3 * rate as usize, rate, 3);
    let stereo: Vec<f32> = chord.iter().flat_map(|&c| [c, 0.8 * c]).collect();
    let input = write_wav(&dir.path().join("in.wav"), 2, rate, Format::F32, &stereo);
    let demo = danna_sep_testkit::repo_root().join("models/demo");
    for (null, out_name) in [("auto", "auto"), ("off", "off")] {
        let out_dir = dir.path().join(out_name);
        let out = bin()
            .args([
                "separate",
                "--model",
                "karaoke",
                "--null-stems",
                null,
                "--models",
            ])
            .arg(&demo)
            .arg("-o")
            .arg(&out_dir)
            .arg(dir.path().join("in.wav"))
            .env("DANNA_SEP_SPLEETER", &spleeter)
            .output()
            .unwrap();
        assert_success(&out);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("Karaoke: vocals: spleeter-2stems"),
            "{stderr}"
        );
        let (_, sum) = stem_sum(&out_dir, "in");
        let snr = snr_db(&input, &sum);
        eprintln!("cli --model karaoke --null-stems {null}: Σ stems vs input {snr:.1} dB");
        if null == "auto" {
            assert!(stderr.contains("stems null (residual"), "{stderr}");
            assert!(snr >= 100.0, "{snr}");
        } else {
            assert!(!stderr.contains("stems null"), "{stderr}");
        }
    }
}
