//! Engine benchmarks: model and ensemble real-time factors, DSP stages, the streaming engine's
//! CPU per audio second per tier, its quality against the whole clip, and a real-time paced run
//! that counts missed hops. Each measurement is one JSON line on stdout; `cargo xtask bench`
//! runs them all and writes the README table.
//!
//! ```text
//! cargo bench --bench engine -- models  --models DIR [--threads 1,2] [--seconds 6] [--repeats 3]
//!                                       [--runtimes ort,openvino]
//! cargo bench --bench engine -- dsp     [--seconds 6]
//! cargo bench --bench engine -- stream  --models DIR [--tiers live,balanced,studio,offline]
//!                                       [--seconds 60] [--rate 48000] [--input WAV]
//!                                       [--model full|fast|xumx|unet|demucs|karaoke|full-spleeter]
//! cargo bench --bench engine -- quality --models DIR --input WAV
//! cargo bench --bench engine -- realtime --models DIR [--tier balanced] [--seconds 600] [--model M]
//! cargo bench --bench engine -- instances --models DIR [--tier balanced] [--windows 6]
//! ```
//!
//! `stream`, `realtime` and `quality` take `--runtime ort|openvino` and `--precision
//! float32|int8|bf16` (default ONNX Runtime, float32); `models` runs every runtime of
//! `--runtimes` that loads, at every precision it offers on this CPU. Every record names the
//! runtime and precision it ran.
//!
//! CPU time is the whole process's user + system time (`getrusage`), so it counts every
//! ONNX Runtime thread, spinning included; "RTF" is wall seconds per audio second.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use std::sync::Arc;

use danna_sep_core::config::Config;
use danna_sep_core::dsp::{frame_count, magnitude, ComplexSpec, MagSpec, StftPlan, WienerFilter};
use danna_sep_core::engine::offline::separate_buffers;
use danna_sep_core::engine::{
    build, BackendFactory, BackendState, EngineConfig, LatencyBudget, LatencyTier,
    SeparationBackend, StemBuffers, TierSpec, MODEL_RATE,
};
use danna_sep_core::ensemble::{
    separate_clip, EnsembleBackend, InferenceRuntime, SessionConfig, SessionOwner, RIGHT_PAD,
};
use danna_sep_core::modelset::{find_vocal_set, ModelSet};
use danna_sep_core::openvino_runtime::{self, OvRuntime};
use danna_sep_core::runtime::{self, OrtRuntime};
use danna_sep_core::{BackendSpec, ModelChoice, Precision};
use danna_sep_testkit::signals as signal;
use serde_json::json;

use danna_sep_testkit::bench_args::{arg, parse_args, Args};

fn list(args: &Args, key: &str, default: &str) -> Vec<String> {
    args.get(key)
        .map_or(default, String::as_str)
        .split(',')
        .map(str::to_string)
        .collect()
}

/// User + system CPU seconds of the whole process so far.
#[cfg(unix)]
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Not measured off Unix: getrusage and sysconf (Unix only).
#[cfg(not(unix))]
fn cpu_seconds() -> f64 {
    unimplemented!("cpu_seconds needs getrusage and sysconf (Unix only)")
}

/// CPU time the hypervisor gave to other guests while this machine wanted it ("steal", all
/// cores, seconds since boot; 0 where /proc/stat has no such column). A paced run's misses
/// that coincide with steal are the machine's, not the engine's.
#[cfg(unix)]
fn steal_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: f64 = stat
        .lines()
        .next()
        .and_then(|cpu| cpu.split_whitespace().nth(8))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0.0);
    // SAFETY: sysconf only reads a configuration value.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Not measured off Unix: getrusage and sysconf (Unix only).
#[cfg(not(unix))]
fn steal_seconds() -> f64 {
    unimplemented!("steal_seconds needs getrusage and sysconf (Unix only)")
}

/// Wall and CPU seconds of `f`.
fn measure(f: impl FnOnce()) -> (f64, f64) {
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    f();
    (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn emit(value: serde_json::Value) {
    println!("{value}");
}

fn load_set(args: &Args) -> (PathBuf, ModelSet) {
    let dir = PathBuf::from(args.get("models").expect("--models DIR"));
    let set = ModelSet::load(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    (dir, set)
}

/// A deterministic test mixture: the WAV given with `--input` (looped), else tones and noise.
fn mixture(args: &Args, frames: usize) -> [Vec<f32>; 2] {
    let source: [Vec<f32>; 2] = match args.get("input") {
        Some(path) => read_wav(Path::new(path)),
        None => signal::test_signal(MODEL_RATE as usize * 10, MODEL_RATE as f32),
    };
    std::array::from_fn(|ch| source[ch].iter().copied().cycle().take(frames).collect())
}

fn read_wav(path: &Path) -> [Vec<f32>; 2] {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.unwrap() as f32 * scale)
                .collect()
        }
    };
    let ch = spec.channels as usize;
    std::array::from_fn(|c| {
        samples
            .iter()
            .skip(c.min(ch - 1))
            .step_by(ch)
            .copied()
            .collect()
    })
}

fn choice_named(name: &str) -> Option<ModelChoice> {
    Some(match name {
        "full" => ModelChoice::Full,
        "fast" => ModelChoice::Fast,
        "xumx" => ModelChoice::XUmx,
        "unet" => ModelChoice::UNet,
        "demucs" => ModelChoice::Demucs,
        "karaoke" => ModelChoice::Karaoke,
        "full-spleeter" => ModelChoice::FullSpleeter,
        _ => return None,
    })
}

/// `--model` (default `full`) and its choice.
fn model_arg(args: &Args) -> (&str, ModelChoice) {
    let name = args.get("model").map_or("full", String::as_str);
    let choice = choice_named(name).unwrap_or_else(|| {
        panic!("--model {name}: full|fast|xumx|unet|demucs|karaoke|full-spleeter")
    });
    (name, choice)
}

fn choices(set: &ModelSet) -> Vec<(String, ModelChoice)> {
    let mut out: Vec<(String, ModelChoice)> = ["xumx", "unet", "demucs"]
        .iter()
        .filter(|m| set.models.contains_key(**m))
        .filter_map(|m| choice_named(m).map(|c| (m.to_string(), c)))
        .collect();
    out.push(("fast".into(), ModelChoice::Fast));
    out.push(("full".into(), ModelChoice::Full));
    out
}

/// Real-time factor of each model alone and of the ensemble, on one window of `--seconds`, on
/// every runtime of `--runtimes` that loads and at every precision it offers here.
fn bench_models(args: &Args) {
    let (dir, set) = load_set(args);
    let seconds: f64 = arg(args, "seconds", 6.0);
    let repeats: usize = arg(args, "repeats", 3);
    let frames = (seconds * MODEL_RATE as f64) as usize;
    let mix = mixture(args, frames);
    let runtimes: Vec<Inference> = list(args, "runtimes", "ort,openvino")
        .iter()
        .filter_map(|name| Inference::named(name))
        .collect();
    for threads in list(args, "threads", "1,2") {
        let threads: usize = threads.parse().expect("--threads 1,2");
        for &inference in &runtimes {
            for (name, choice) in choices(&set) {
                let ensembles = matches!(choice, ModelChoice::Full | ModelChoice::Fast);
                let has_int8 = if ensembles {
                    set.models.values().any(|m| m.int8_path.is_some())
                } else {
                    set.models[&name].int8_path.is_some()
                };
                // (parallel, precision): sequential and parallel schedules, then each lossy
                // precision this runtime offers, parallel for the ensembles.
                let mut variants = vec![(false, Precision::Float32)];
                if ensembles {
                    variants.push((true, Precision::Float32));
                }
                if has_int8 {
                    variants.push((ensembles, Precision::Int8));
                }
                if inference.has_bf16() {
                    variants.push((ensembles, Precision::Bf16));
                }
                for (parallel_models, precision) in variants {
                    let config = SessionConfig {
                        intra_threads: threads,
                        parallel_models,
                        memory_arena: true,
                        ..with_precision(SessionConfig::default(), precision)
                    };
                    let mut backend =
                        EnsembleBackend::new(inference.runtime(), &set, choice, config)
                            .expect("backend");
                    backend.prepare(frames).expect("prepare");
                    let mut stems = StemBuffers::new(frames);
                    let mut run = || {
                        backend
                            .separate([&mix[0], &mix[1]], &mut stems)
                            .expect("separate")
                    };
                    run(); // warm-up: first-run allocations and kernel selection
                    let (walls, cpus): (Vec<f64>, Vec<f64>) =
                        (0..repeats).map(|_| measure(&mut run)).unzip();
                    let (wall, cpu) = (median(walls), median(cpus));
                    let (rt, p) = (inference.label(), precision.label());
                    eprintln!(
                        "{name:7} {rt:8} threads {threads} parallel {parallel_models:5} {p:7}: RTF {:.3}, CPU {:.3} s/s",
                        wall / seconds,
                        cpu / seconds
                    );
                    emit(json!({
                        "kind": "model", "models": dir, "model": name, "threads": threads,
                        "parallel": parallel_models, "int8": precision == Precision::Int8,
                        "runtime": rt, "precision": p, "window_s": seconds,
                        "rtf": wall / seconds, "cpu_per_audio_s": cpu / seconds,
                    }));
                }
            }
        }
    }
}

/// STFT, Wiener filter (four sources) and iSTFT (eight channels) of one window.
fn bench_dsp(args: &Args) {
    let seconds: f64 = arg(args, "seconds", 6.0);
    let repeats: usize = arg(args, "repeats", 5);
    let samples = (seconds * MODEL_RATE as f64) as usize + RIGHT_PAD;
    let frames = frame_count(samples);
    let mix = mixture(args, samples);
    let mut plan = StftPlan::new(samples);
    let mut x = ComplexSpec::new(2, frames);
    let mut mag = MagSpec::new(2, frames);
    let mut v = MagSpec::new(8, frames);
    let mut y = ComplexSpec::new(8, frames);
    let mut wiener = WienerFilter::new();
    let mut wave = vec![0.0f32; samples + danna_sep_core::dsp::N_FFT];
    let time = |name: &str, f: &mut dyn FnMut()| {
        f();
        let walls: Vec<f64> = (0..repeats).map(|_| measure(&mut *f).0).collect();
        let wall = median(walls);
        eprintln!("{name:7}: {:.4} s per audio second", wall / seconds);
        emit(
            json!({"kind": "dsp", "stage": name, "window_s": seconds, "cpu_per_audio_s": wall / seconds}),
        );
    };
    time("stft", &mut || {
        plan.stft(&[&mix[0], &mix[1]], &mut x);
        magnitude(&x, &mut mag);
    });
    for c in 0..8 {
        for t in 0..frames {
            let a: Vec<f32> = mag.frame(c % 2, t).to_vec();
            for (o, m) in v.frame_mut(c, t).iter_mut().zip(a) {
                *o = 0.25 * m;
            }
        }
    }
    time("wiener", &mut || {
        wiener.apply(&v, &x, &mut y);
    });
    time("istft", &mut || {
        for c in 0..8 {
            let len = danna_sep_core::dsp::istft_len(frames);
            plan.istft(&y, c, &mut wave[..len]);
        }
    });
}

fn tier_spec(name: &str) -> TierSpec {
    match name {
        "live" => LatencyTier::Live.spec(),
        "balanced" => LatencyTier::Balanced.spec(),
        "studio" => LatencyTier::Studio.spec(),
        "offline" => TierSpec::OFFLINE,
        other => panic!("unknown tier '{other}'"),
    }
}

/// ONNX Runtime, from the configured library (`cargo xtask bench` sets `DANNA_SEP_ORT_LIB`).
fn ort() -> &'static OrtRuntime {
    runtime::ensure_loaded(&Config::from_env().runtime).expect("ONNX Runtime")
}

/// OpenVINO from where the plugin would load it; `None` (and why, on stderr) when it cannot.
fn openvino() -> Option<&'static OvRuntime> {
    openvino_runtime::ensure_loaded(&Config::from_env().runtime)
        .map_err(|e| eprintln!("OpenVINO: {e}"))
        .ok()
}

/// The inference runtime a measurement runs on.
#[derive(Clone, Copy)]
enum Inference {
    Ort,
    OpenVino(&'static OvRuntime),
}

impl Inference {
    /// `ort` or `openvino`; `None` for OpenVINO when it does not load here.
    fn named(name: &str) -> Option<Self> {
        match name {
            "ort" => Some(Inference::Ort),
            "openvino" => openvino().map(Inference::OpenVino),
            other => panic!("unknown runtime '{other}' (ort or openvino)"),
        }
    }

    /// `--runtime` (default `ort`); ONNX Runtime when OpenVINO is asked for and does not load
    /// (the records name what ran).
    fn from_args(args: &Args) -> Self {
        let name = args.get("runtime").map_or("ort", String::as_str);
        Self::named(name).unwrap_or_else(|| {
            eprintln!("--runtime {name} does not load here: ONNX Runtime runs");
            Inference::Ort
        })
    }

    fn runtime(self) -> InferenceRuntime<'static> {
        match self {
            Inference::Ort => InferenceRuntime::Ort(ort()),
            Inference::OpenVino(ov) => InferenceRuntime::OpenVino(ov),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Inference::Ort => "ort",
            Inference::OpenVino(_) => "openvino",
        }
    }

    /// Whether bf16 runs here: OpenVINO on a CPU with bf16.
    fn has_bf16(self) -> bool {
        matches!(self, Inference::OpenVino(ov) if ov.has_bf16)
    }
}

/// `config` at `precision` (int8 files, or bf16 arithmetic).
fn with_precision(config: SessionConfig, precision: Precision) -> SessionConfig {
    SessionConfig {
        int8: precision == Precision::Int8,
        bf16: precision == Precision::Bf16,
        ..config
    }
}

/// A factory for `choice` on `inference` whatever spec it is asked for (the benchmarks never
/// swap). The choices with a vocal model take the Spleeter set the plugin would find; a
/// Karaoke bench without one would measure the full ensemble, so it stops instead.
fn factory(
    set: &ModelSet,
    choice: ModelChoice,
    config: SessionConfig,
    inference: Inference,
) -> BackendFactory {
    let set = set.clone();
    let vocals = choice.uses_vocal_model().then(|| {
        find_vocal_set(None, Some(&set.dir))
            .unwrap_or_else(|e| panic!("{}: no Spleeter set ({e})", choice.label()))
    });
    Arc::new(move |_| {
        let vocals = vocals.as_ref().ok_or_else(|| "no vocal model".to_string());
        let backend =
            EnsembleBackend::with_vocals(inference.runtime(), &set, choice, config, vocals)?;
        Ok(Box::new(backend) as Box<dyn SeparationBackend>)
    })
}

/// `--threads`, `--parallel` and `--precision` (float32, int8 or bf16; float32 where bf16 does
/// not run on `inference`, as the plugin does).
fn config_from(args: &Args, inference: Inference) -> SessionConfig {
    let mut config = SessionConfig::default();
    if let Some(t) = args.get("threads") {
        config.intra_threads = t.parse().expect("--threads N");
    }
    if let Some(p) = args.get("parallel") {
        config.parallel_models = p == "1" || p == "true";
    }
    let mut precision = precision_from(args);
    if precision == Precision::Bf16 && !inference.has_bf16() {
        eprintln!(
            "bf16 does not run on {} here: float32 runs",
            inference.label()
        );
        precision = Precision::Float32;
    }
    with_precision(config, precision)
}

fn precision_from(args: &Args) -> Precision {
    let name = args.get("precision").map_or("float32", String::as_str);
    *Precision::ALL
        .iter()
        .find(|p| p.label() == name)
        .unwrap_or_else(|| panic!("--precision {name}: float32, int8 or bf16"))
}

/// Runs `mix` through the streaming engine in offline mode (every window computed, no timing)
/// and returns the eight output channels, stem-major, and the windows it ran.
fn stream_through(
    budget: LatencyBudget,
    factory: BackendFactory,
    mix: &[Vec<f32>; 2],
) -> (Vec<f32>, u64) {
    let spec = BackendSpec::default();
    let (out, report) =
        separate_buffers(budget, factory, spec, [&mix[0], &mix[1]]).expect("streaming");
    (out, report.windows)
}

/// The streaming engine's CPU per audio second at each tier (overlap, resampling, STFT, Wiener,
/// iSTFT and the models), at host rate `--rate`, full ensemble.
fn bench_stream(args: &Args) {
    let (dir, set) = load_set(args);
    let seconds: f64 = arg(args, "seconds", 60.0);
    let rate: u32 = arg(args, "rate", 48_000);
    let (model, choice) = model_arg(args);
    let inference = Inference::from_args(args);
    let config = config_from(args, inference);
    let mix = mixture(args, (seconds * rate as f64) as usize);
    for tier in list(args, "tiers", "live,balanced,studio,offline") {
        let spec = tier_spec(&tier);
        let budget = LatencyBudget::from_spec(spec, rate, 512);
        // Model loading happens on the worker inside the measurement (a few seconds at most).
        let backend_factory = factory(&set, choice, config, inference);
        let mut windows = 0;
        let (wall, cpu) = measure(|| {
            windows = stream_through(budget, backend_factory, &mix).1;
        });
        // Per second of audio the windows advanced over (a run also flushes its latency with
        // windows past the end): the steady-state cost of a long stream.
        let advanced = windows as f64 * budget.geometry.hop as f64 / rate as f64;
        eprintln!(
            "{tier:8} {} {}: CPU {:.3} s per audio second, RTF {:.3} ({windows} windows, overlap {:.2})",
            inference.label(),
            config.precision().label(),
            cpu / advanced,
            wall / advanced,
            spec.window() as f64 / spec.hop as f64
        );
        emit(json!({
            "kind": "stream", "models": dir, "tier": tier, "rate": rate, "seconds": seconds,
            "model": model,
            "threads": config.intra_threads, "parallel": config.parallel_models,
            "runtime": inference.label(), "precision": config.precision().label(),
            "latency_s": LatencyBudget::from_spec(spec, rate, 512).seconds(),
            "overlap": spec.window() as f64 / spec.hop as f64, "windows": windows,
            "cpu_per_audio_s": cpu / advanced, "rtf": wall / advanced,
        }));
    }
}

fn snr_db(reference: &[f32], estimate: &[f32]) -> f64 {
    let (mut num, mut den) = (1e-12f64, 1e-12f64);
    for (&r, &e) in reference.iter().zip(estimate) {
        num += (r as f64).powi(2);
        den += (r as f64 - e as f64).powi(2);
    }
    10.0 * (num / den).log10()
}

/// SNR per stem of `estimate` against `reference`, both channels together.
fn stem_snr(reference: &StemBuffers, estimate: &StemBuffers) -> Vec<f64> {
    let both = |b: &StemBuffers, s| -> Vec<f32> {
        b.channel(s, 0)
            .iter()
            .chain(b.channel(s, 1))
            .copied()
            .collect()
    };
    (0..4)
        .map(|s| snr_db(&both(reference, s), &both(estimate, s)))
        .collect()
}

/// The quality cost of each lossy precision (whole clip against the same runtime's float32:
/// int8 on ONNX Runtime, bf16 on OpenVINO where this CPU has it), then streaming vs whole clip,
/// SNR per stem, for every tier (44.1 kHz, so no resampling) on `--runtime` at `--precision`.
fn bench_quality(args: &Args) {
    let (dir, set) = load_set(args);
    let path = PathBuf::from(args.get("input").expect("--input WAV"));
    let mix = read_wav(&path);
    let frames = mix[0].len();
    let inference = Inference::from_args(args);
    let config = config_from(args, inference);
    let choice = ModelChoice::Full;
    let clip = |inference: Inference, config| {
        separate_clip(
            inference.runtime(),
            &set,
            choice,
            config,
            [&mix[0], &mix[1]],
        )
        .expect("whole clip")
    };
    let mut lossy = Vec::new();
    if set.models.values().any(|m| m.int8_path.is_some()) {
        lossy.push((Inference::Ort, Precision::Int8));
    }
    if let Some(ov) = Inference::named("openvino").filter(|i| i.has_bf16()) {
        lossy.push((ov, Precision::Bf16));
    }
    for (on, precision) in lossy {
        let exact = clip(on, with_precision(config, Precision::Float32));
        let snr = stem_snr(&exact, &clip(on, with_precision(config, precision)));
        let (rt, p) = (on.label(), precision.label());
        eprintln!("{p} vs float32 on {rt} (whole clip): {snr:.1?} dB");
        emit(json!({
            "kind": "lossy_quality", "models": dir, "input": path, "runtime": rt,
            "precision": p, "snr_db": snr,
        }));
    }
    let whole = clip(inference, config);
    let reference: Vec<f32> = (0..8)
        .flat_map(|c| whole.channel(c / 2, c % 2).to_vec())
        .collect();
    for tier in list(args, "tiers", "live,balanced,studio,offline") {
        let spec = tier_spec(&tier);
        let budget = LatencyBudget::from_spec(spec, MODEL_RATE, 512);
        let out = stream_through(budget, factory(&set, choice, config, inference), &mix).0;
        let snr: Vec<f64> = (0..4)
            .map(|s| {
                let r = &reference[2 * s * frames..2 * (s + 1) * frames];
                snr_db(r, &out[2 * s * frames..2 * (s + 1) * frames])
            })
            .collect();
        eprintln!("{tier:8}: streaming vs whole clip {snr:.1?} dB");
        emit(json!({
            "kind": "quality", "models": dir, "input": path, "tier": tier,
            "runtime": inference.label(), "precision": config.precision().label(),
            "latency_s": budget.seconds(), "snr_db": snr,
        }));
    }
}

/// The engine paced like a real-time host (512-sample blocks at 48 kHz, each handed over at
/// its deadline), counting the hops the worker missed.
fn bench_realtime(args: &Args) {
    let (dir, set) = load_set(args);
    let seconds: f64 = arg(args, "seconds", 600.0);
    let rate: u32 = arg(args, "rate", 48_000);
    let block: usize = arg(args, "block", 512);
    let tier = args
        .get("tier")
        .map_or("balanced", String::as_str)
        .to_string();
    let inference = Inference::from_args(args);
    let config = config_from(args, inference);
    let budget = LatencyBudget::from_spec(tier_spec(&tier), rate, block);
    let (model, choice) = model_arg(args);
    let (mut engine, mut worker, shared) = build(
        EngineConfig::new(budget),
        factory(&set, choice, config, inference),
    );
    // Wait for the models before the clock starts, as a host plays after loading.
    while shared.status.state() == BackendState::Loading {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mix = mixture(args, (rate as f64 * 30.0) as usize);
    let total = (seconds * rate as f64) as usize;
    let (cpu0, start) = (cpu_seconds(), Instant::now());
    let mut pos = 0;
    // Stream time of each miss (whether misses bunch at the start or come at random) and the
    // steal in the 5 s before it; steal is sampled about once a second.
    let mut missed_at: Vec<f64> = Vec::new();
    let mut steal_before_miss: Vec<f64> = Vec::new();
    let steal0 = steal_seconds();
    let mut steal_samples = std::collections::VecDeque::from([(0.0, steal0)]);
    let sample_every = rate as usize / block;
    let mut blocks = 0;
    while pos < total {
        let at = pos % (mix[0].len() - block);
        engine.process(&mix[0][at..at + block], &mix[1][at..at + block]);
        pos += block;
        blocks += 1;
        let now = pos as f64 / rate as f64;
        let missed = shared.status.missed_hops.load(Ordering::Relaxed) as usize;
        if blocks % sample_every == 0 || missed > missed_at.len() {
            steal_samples.push_back((now, steal_seconds()));
            while steal_samples.len() > 2 && steal_samples[1].0 <= now - 5.0 {
                steal_samples.pop_front();
            }
        }
        if missed > missed_at.len() {
            let (first, last) = (steal_samples[0].1, steal_samples[steal_samples.len() - 1].1);
            missed_at.resize(missed, now);
            steal_before_miss.resize(missed, last - first);
        }
        let deadline = start + Duration::from_secs_f64(pos as f64 / rate as f64);
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu0);
    let steal = steal_seconds() - steal0;
    let status = &shared.status;
    let missed = status.missed_hops.load(Ordering::Relaxed);
    let done = status.hops_done.load(Ordering::Relaxed);
    let peak = status.peak_load.load(Ordering::Relaxed);
    drop(worker.stop().wait());
    eprintln!("{tier} {} {}: {seconds} s paced, {done} hops done, {missed} missed (at {missed_at:.1?} s, steal in the 5 s before: {steal_before_miss:.2?} s), peak load {peak:.2}, CPU {:.3} s/s, steal {steal:.2} s", inference.label(), config.precision().label(), cpu / wall);
    emit(json!({
        "kind": "realtime", "models": dir, "model": model, "tier": tier, "rate": rate, "block": block,
        "seconds": seconds, "hops_done": done, "missed_hops": missed, "peak_load": peak,
        "missed_at_s": missed_at, "steal_5s_before_miss_s": steal_before_miss,
        "steal_s": steal,
        "cpu_per_audio_s": cpu / wall, "latency_s": budget.seconds(),
        "threads": config.intra_threads, "parallel": config.parallel_models,
        "runtime": inference.label(), "precision": config.precision().label(),
    }));
}

/// Windows per second that one and two engines of the same model set get, side by side, each
/// on its own thread with one single-threaded model after another (one core each): with their
/// own sessions (the default pool) and, for comparison, forced to share one session per model
/// (`pool_size` 1, how every instance ran before the pools), where they take turns.
fn bench_instances(args: &Args) {
    let (dir, set) = load_set(args);
    let tier = args.get("tier").map_or("balanced", String::as_str);
    let windows: usize = arg(args, "windows", 6);
    let budget = LatencyBudget::from_spec(tier_spec(tier), MODEL_RATE, 512);
    let frames = budget.geometry.window();
    let mix = mixture(args, frames);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut single = 0.0;
    for (instances, pool_size) in [(1, 2), (2, 2), (2, 1)] {
        let backends: Vec<EnsembleBackend> = (0..instances)
            .map(|_| {
                let config = SessionConfig {
                    intra_threads: 1,
                    parallel_models: false,
                    owner: SessionOwner::unique(),
                    pool_size,
                    ..SessionConfig::default()
                };
                let mut b =
                    EnsembleBackend::new(ort(), &set, ModelChoice::Full, config).expect("backend");
                b.prepare(frames).expect("prepare");
                b.warm_up(frames).expect("warm-up");
                b
            })
            .collect();
        let start = Instant::now();
        std::thread::scope(|scope| {
            for mut backend in backends {
                let mix = &mix;
                scope.spawn(move || {
                    let mut stems = StemBuffers::new(frames);
                    for _ in 0..windows {
                        backend
                            .separate([&mix[0], &mix[1]], &mut stems)
                            .expect("separate");
                    }
                });
            }
        });
        let rate = (instances * windows) as f64 / start.elapsed().as_secs_f64();
        if instances == 1 {
            single = rate;
        }
        let speedup = rate / single;
        eprintln!(
            "{tier}: {instances} instance(s), pool {pool_size}: {rate:.2} windows/s, {speedup:.2}x one instance ({cores} cores)"
        );
        emit(json!({
            "kind": "instances", "models": dir, "tier": tier, "instances": instances,
            "pool_size": pool_size, "windows_per_s": rate, "speedup": speedup,
            "window_s": frames as f64 / MODEL_RATE as f64, "cores": cores,
        }));
    }
}

fn main() {
    let (cmd, args) = parse_args();
    match cmd.as_str() {
        "models" => bench_models(&args),
        "dsp" => bench_dsp(&args),
        "stream" => bench_stream(&args),
        "quality" => bench_quality(&args),
        "realtime" => bench_realtime(&args),
        "instances" => bench_instances(&args),
        _ => {
            eprintln!("usage: cargo bench --bench engine -- models|dsp|stream|quality|realtime|instances [--key value ...] (see the doc comment)");
            std::process::exit(2);
        }
    }
}
