//! OpenVINO runs the same ONNX files as ONNX Runtime: the demo ensemble through the factory
//! with each runtime choice, float32 against float32, bf16 where the CPU has it (its cost
//! measured, not assumed), a whole clip of another length (OpenVINO's dynamic-shape compile),
//! and the fallback to ONNX Runtime when OpenVINO cannot be loaded.

use std::path::Path;

use danna_sep_core::config::Config;
use danna_sep_core::engine::StemBuffers;
use danna_sep_core::ensemble::{separate_clip, InferenceRuntime, SessionConfig};
use danna_sep_core::modelset::ModelSet;
use danna_sep_core::openvino_runtime::OvRuntime;
use danna_sep_core::runtime::OrtRuntime;
use danna_sep_core::selection::{BackendSpec, ModelChoice, Precision, RuntimeChoice};
use danna_sep_core::{openvino_runtime, separation};
use danna_sep_testkit::engine::tones;
use danna_sep_testkit::runtime::runtime_or_skip;
use danna_sep_testkit::venv;

const FRAMES: usize = 3 * 44_100;

fn separate(config: &Config, spec: BackendSpec) -> (String, StemBuffers) {
    let factory = separation::ensemble_factory(config, None);
    let mut backend = factory(spec).expect("the demo ensemble builds");
    backend.prepare(FRAMES).unwrap();
    let x = tones(FRAMES, 44_100, 7);
    let mut out = StemBuffers::new(FRAMES);
    backend.separate([&x, &x], &mut out).unwrap();
    (backend.describe(), out)
}

fn snr_db(reference: &StemBuffers, other: &StemBuffers) -> f64 {
    let (mut signal, mut noise) = (0.0f64, 0.0f64);
    for stem in 0..4 {
        for ch in 0..2 {
            for (&r, &o) in reference
                .channel(stem, ch)
                .iter()
                .zip(other.channel(stem, ch))
            {
                signal += f64::from(r).powi(2);
                noise += f64::from(r - o).powi(2);
            }
        }
    }
    10.0 * (signal / noise.max(1e-30)).log10()
}

fn spec(precision: Precision, runtime: RuntimeChoice) -> BackendSpec {
    BackendSpec {
        model: ModelChoice::Full,
        precision,
        runtime,
    }
}

#[test]
fn openvino_runs_the_demo_ensemble_like_onnx_runtime_and_bf16_where_the_cpu_has_it() {
    let Some((_, ov)) = both_runtimes("openvino_runs_the_demo_ensemble") else {
        return;
    };
    let config = Config::from_env();
    let (ort_text, ort) = separate(
        &config,
        spec(Precision::Float32, RuntimeChoice::OnnxRuntime),
    );
    let (ov_text, f32_out) = separate(&config, spec(Precision::Float32, RuntimeChoice::OpenVino));
    assert!(ort_text.contains(": ONNX Runtime 1.31.1,"), "{ort_text}");
    assert!(
        ov_text.contains(&format!(": OpenVINO {},", ov.version)),
        "{ov_text}"
    );
    let snr = snr_db(&ort, &f32_out);
    eprintln!("OpenVINO float32 vs ONNX Runtime float32: {snr:.1} dB SNR");
    assert!(
        snr > 60.0,
        "float32 on both runtimes should agree: {snr:.1} dB"
    );

    let (bf16_text, bf16) = separate(&config, spec(Precision::Bf16, RuntimeChoice::Auto));
    if ov.has_bf16 {
        assert!(
            bf16_text.contains("bf16 for unet, xumx (demucs float32"),
            "{bf16_text}"
        );
        let snr = snr_db(&f32_out, &bf16);
        eprintln!("OpenVINO bf16 vs float32: {snr:.1} dB SNR");
        // Float32 on the two runtimes agrees to > 140 dB: bf16 really ran, at a bounded cost.
        assert!(
            (20.0..100.0).contains(&snr),
            "bf16 cost out of range: {snr:.1} dB"
        );
    } else {
        assert!(
            bf16_text.contains("this CPU has no bf16: float32 runs"),
            "{bf16_text}"
        );
        assert_eq!(snr_db(&f32_out, &bf16), snr_db(&f32_out, &f32_out));
    }
}

/// Both runtimes, or `None` where the test is skipped (OpenVINO must load in CI).
fn both_runtimes(test: &str) -> Option<(&'static OrtRuntime, &'static OvRuntime)> {
    let ort = runtime_or_skip(test)?;
    match openvino_runtime::ensure_loaded(&Config::from_env().runtime) {
        Ok(ov) => Some((ort, ov)),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED {test}: OpenVINO not provisioned (run `cargo xtask setup`): {e}");
            None
        }
        Err(e) => panic!("OpenVINO must load in CI: {e}"),
    }
}

fn demo_set() -> ModelSet {
    ModelSet::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/demo"))
        .expect("the demo set loads")
}

/// The engine binds each model to its window shape; a whole clip of any other length runs
/// the dynamic-shape compile, made on first use, and must agree with ONNX Runtime too.
#[test]
fn openvino_separates_a_whole_clip_of_another_length_like_onnx_runtime() {
    let Some((ort, ov)) = both_runtimes("openvino_separates_a_whole_clip") else {
        return;
    };
    let set = demo_set();
    // 2.1 s: neither the window of the other test nor a multiple of the STFT hop.
    let frames = 92_611;
    let x = tones(frames, 44_100, 11);
    let whole = |rt: InferenceRuntime<'_>| {
        separate_clip(
            rt,
            &set,
            ModelChoice::Full,
            SessionConfig::default(),
            [&x, &x],
        )
        .expect("a whole clip separates")
    };
    let by_ort = whole(ort.into());
    let by_ov = whole(InferenceRuntime::OpenVino(ov));
    assert_eq!(by_ov.frames(), frames);
    let snr = snr_db(&by_ort, &by_ov);
    eprintln!("whole clip, OpenVINO float32 vs ONNX Runtime float32: {snr:.1} dB SNR");
    assert!(
        snr > 60.0,
        "the runtimes should agree on a whole clip: {snr:.1} dB"
    );
}

/// `run_with` takes any shape after `bind`: the bound one, then another (the dynamic compile
/// is made from the file's shape, not the window's the model was reshaped to), then the bound
/// one again, each agreeing with ONNX Runtime.
#[test]
fn an_openvino_model_bound_to_a_window_still_runs_other_shapes() {
    let Some((ort, ov)) = both_runtimes("an_openvino_model_bound_to_a_window") else {
        return;
    };
    let set = demo_set();
    let spec = &set.models["xumx"];
    let open = |rt: InferenceRuntime<'_>| rt.open("xumx", spec, SessionConfig::default()).unwrap();
    let (mut by_ort, mut by_ov) = (open(ort.into()), open(InferenceRuntime::OpenVino(ov)));
    let bound = [1, 2, 2049, 64];
    by_ov.bind(&bound, &[1, 8, 2049, 64]).unwrap();
    for frames in [64, 100, 64] {
        let shape = [1, 2, 2049, frames];
        let x: Vec<f32> = tones(2 * 2049 * frames, 44_100, frames as u64)
            .iter()
            .map(|v| v.abs())
            .collect();
        let a = by_ort.run(&x, &shape, |_, d| d.to_vec()).unwrap();
        let (out_shape, b) = by_ov
            .run(&x, &shape, |s, d| (s.to_vec(), d.to_vec()))
            .unwrap();
        assert_eq!(out_shape.last(), Some(&(frames as i64)), "{out_shape:?}");
        let snr = venv::snr_db(&a, &b);
        assert!(
            snr > 60.0,
            "{frames} frames: {snr:.1} dB against ONNX Runtime"
        );
    }
}
