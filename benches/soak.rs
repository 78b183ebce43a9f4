//! Soak runs (issue 13, item 14): a long stream through one engine, checking that nothing
//! drifts or grows. Not a CI test; each run prints one JSON line on stdout and exits non-zero
//! when a check fails.
//!
//! ```text
//! cargo bench --bench soak -- identity [--hours 1] [--tier balanced] [--block 512]
//! cargo bench --bench soak -- paced --models models/demo [--minutes 10] [--tier balanced]
//!                                   [--rate 48000] [--block 512]
//! ```
//!
//! `identity`: time-compressed (offline mode, as fast as it runs) at 44.1 kHz with the identity
//! backend, so every output frame must equal the input delayed by the latency; a NaN every ten
//! minutes of audio must enter as silence and be counted. `paced`: real time, one block per
//! block duration of wall time, with the full ensemble of a real model set. Both sample the
//! resident memory (`/proc/self/statm`) after a one-minute warm-up and then every minute of
//! audio, and check that it stays within 5 MB, that no hop was missed (identity) and no window
//! failed, and that the worker's backlog (windows between the output and the newest finished
//! one) stays bounded.

// Index loops over time read more clearly than iterator chains when comparing signals.
#![allow(clippy::needless_range_loop)]

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use danna_sep_core::config::Config;
use danna_sep_core::engine::testing::IdentityBackend;
use danna_sep_core::engine::{
    build, factory_of, BackendFactory, BackendState, EngineConfig, EngineShared, LatencyBudget,
    LatencyTier,
};
use danna_sep_core::separation::ensemble_factory;
use danna_sep_testkit::engine::unity_mix;
use danna_sep_testkit::Rng;
use serde_json::json;

use danna_sep_testkit::bench_args::{arg, parse_args, Args};

fn tier(args: &Args) -> LatencyTier {
    match args.get("tier").map_or("balanced", String::as_str) {
        "live" => LatencyTier::Live,
        "balanced" => LatencyTier::Balanced,
        "studio" => LatencyTier::Studio,
        other => panic!("--tier {other}: live, balanced or studio"),
    }
}

/// Resident memory in bytes.
#[cfg(unix)]
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("statm's resident field");
    // SAFETY: sysconf only reads a system constant.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// Not measured off Unix: /proc and sysconf (Unix only).
#[cfg(not(unix))]
fn rss_bytes() -> u64 {
    unimplemented!("rss_bytes needs /proc and sysconf (Unix only)")
}

/// What a soak measured.
#[derive(Default)]
struct Soak {
    /// Resident memory after the warm-up, then each minute of audio.
    rss: Vec<u64>,
    /// Largest |output − delayed input| (identity runs).
    max_error: f32,
    /// The same over the last minute of audio.
    final_error: f32,
    /// Windows between the output position and the newest finished one, after the warm-up.
    backlog: (i64, i64),
    /// NaN samples written into the input.
    nan_injected: u64,
    wall: f64,
}

const MB: f64 = 1024.0 * 1024.0;

/// Streams `seconds` of noise through one engine in blocks of the budget's maximum, paced to
/// the wall clock in real-time mode. With `nan_every` (identity runs: the engine is then
/// transparent) one NaN goes into the left channel every `nan_every` frames and every output
/// frame is compared with the sanitised input `latency` frames earlier.
fn soak(
    budget: LatencyBudget,
    offline: bool,
    factory: BackendFactory,
    seconds: f64,
    nan_every: Option<usize>,
) -> (Soak, std::sync::Arc<EngineShared>) {
    let (rate, block) = (budget.sample_rate as usize, budget.max_block);
    let (mut engine, mut worker, shared) =
        build(EngineConfig::new(budget).offline(offline), factory);
    // The clock starts once the models are loaded, as a host plays after loading.
    while shared.status.state() == BackendState::Loading {
        std::thread::sleep(Duration::from_millis(20));
    }
    let latency = engine.latency();
    let hop = budget.geometry.hop as i64;
    // The sanitised input of the last `latency + block` frames, per channel.
    let ring_len = latency + block;
    let mut ring = [vec![0.0f32; ring_len], vec![0.0f32; ring_len]];
    let (mut left, mut right) = (vec![0.0f32; block], vec![0.0f32; block]);
    let mut main = [vec![0.0f32; block], vec![0.0f32; block]];
    let mut rng = Rng::new(14);
    let total = (seconds * rate as f64) as usize;
    let (warm_up, minute) = (60 * rate, 60 * rate);
    let mut out = Soak {
        backlog: (i64::MAX, i64::MIN),
        ..Soak::default()
    };
    let start = Instant::now();
    let mut pos = 0usize;
    let mut next_sample = warm_up;
    while pos < total {
        for i in 0..block {
            let t = pos + i;
            left[i] = rng.range(-0.5, 0.5) as f32;
            right[i] = rng.range(-0.5, 0.5) as f32;
            let clean = (left[i], right[i]);
            if nan_every.is_some_and(|every| t % every == every / 2) {
                left[i] = f32::NAN;
                out.nan_injected += 1;
            }
            ring[0][t % ring_len] = if left[i].is_finite() { clean.0 } else { 0.0 };
            ring[1][t % ring_len] = clean.1;
        }
        let b = engine.process(&left, &right);
        if nan_every.is_some() {
            for (ch, m) in main.iter_mut().enumerate() {
                unity_mix(b, ch, m);
            }
            for i in 0..block {
                let t = pos + i;
                for ch in 0..2 {
                    let x = if t >= latency {
                        ring[ch][(t - latency) % ring_len]
                    } else {
                        0.0
                    };
                    // A NaN counts as the largest error.
                    let e = match (main[ch][i] - x).abs() {
                        e if e.is_nan() => f32::INFINITY,
                        e => e,
                    };
                    out.max_error = out.max_error.max(e);
                    if t + minute >= total {
                        out.final_error = out.final_error.max(e);
                    }
                }
            }
        }
        pos += block;
        if pos >= warm_up {
            let due = (pos - latency.min(pos)) as i64 / hop;
            let done = shared.status.last_segment_done.load(Ordering::Relaxed);
            let backlog = due - done;
            out.backlog = (out.backlog.0.min(backlog), out.backlog.1.max(backlog));
        }
        if pos >= next_sample {
            out.rss.push(rss_bytes());
            next_sample += minute;
        }
        if !offline {
            let deadline = start + Duration::from_secs_f64(pos as f64 / rate as f64);
            if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    out.rss.push(rss_bytes());
    out.wall = start.elapsed().as_secs_f64();
    drop(worker.stop().wait());
    (out, shared)
}

/// Prints the result and the failed checks; true when every check passed.
fn report(
    kind: &str,
    args: &Args,
    budget: &LatencyBudget,
    seconds: f64,
    s: &Soak,
    shared: &EngineShared,
    extra: serde_json::Value,
) -> bool {
    let status = &shared.status;
    let missed = status.missed_hops.load(Ordering::Relaxed);
    let failed = status.failed_windows.load(Ordering::Relaxed);
    let non_finite = status.non_finite_input.load(Ordering::Relaxed);
    let first = *s.rss.first().unwrap_or(&0) as f64 / MB;
    let (lo, hi) = s.rss.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &r| {
        (lo.min(r as f64 / MB), hi.max(r as f64 / MB))
    });
    let last = *s.rss.last().unwrap_or(&0) as f64 / MB;
    eprintln!(
        "{kind}: {:.0} min of audio in {:.1} min wall; RSS after warm-up {first:.1} MB, \
         range {lo:.1}..{hi:.1} MB, end {last:.1} MB; missed hops {missed}, failed windows \
         {failed}, NaN/Inf input {non_finite}; backlog {}..{} windows; max error {:e} (last minute {:e})",
        seconds / 60.0,
        s.wall / 60.0,
        s.backlog.0,
        s.backlog.1,
        s.max_error,
        s.final_error,
    );
    println!(
        "{}",
        json!({
            "kind": kind, "args": args, "audio_s": seconds, "wall_s": s.wall,
            "rate": budget.sample_rate, "block": budget.max_block, "latency": budget.total(),
            "rss_mb_after_warmup": first, "rss_mb_min": lo, "rss_mb_max": hi, "rss_mb_end": last,
            "missed_hops": missed, "failed_windows": failed, "non_finite_input": non_finite,
            "backlog_windows": [s.backlog.0, s.backlog.1],
            "max_error": s.max_error, "final_error": s.final_error, "extra": extra,
        })
    );
    let mut ok = true;
    let mut check = |pass: bool, what: &str| {
        if !pass {
            eprintln!("FAILED: {what}");
            ok = false;
        }
    };
    check(
        hi - lo <= 5.0,
        "resident memory grew by more than 5 MB after the warm-up",
    );
    check(failed == 0, "windows failed");
    // More windows outstanding than the latency spans would mean hops played dry.
    let bound = (budget.total() / budget.geometry.hop) as i64 + 2;
    check(
        s.backlog.1 <= bound,
        "the worker's backlog exceeded what the latency spans",
    );
    ok
}

fn main() {
    let (cmd, args) = parse_args();
    let block: usize = arg(&args, "block", 512);
    let ok = match cmd.as_str() {
        "identity" => {
            let seconds = arg(&args, "hours", 1.0) * 3600.0;
            let rate = 44_100;
            let budget = LatencyBudget::new(tier(&args), rate, block);
            let nan_every = 600 * rate as usize;
            let (s, shared) = soak(
                budget,
                true,
                factory_of(|| IdentityBackend),
                seconds,
                Some(nan_every),
            );
            let mut ok = report("identity", &args, &budget, seconds, &s, &shared, json!({}));
            let status = &shared.status;
            for (pass, what) in [
                (
                    s.max_error <= 1e-5,
                    "output not the input delayed by the latency",
                ),
                (
                    status.missed_hops.load(Ordering::Relaxed) == 0,
                    "hops missed offline",
                ),
                (
                    status.non_finite_input.load(Ordering::Relaxed) == s.nan_injected,
                    "NaN input not counted",
                ),
            ] {
                if !pass {
                    eprintln!("FAILED: {what}");
                    ok = false;
                }
            }
            ok
        }
        "paced" => {
            let seconds = arg(&args, "minutes", 10.0) * 60.0;
            let rate: u32 = arg(&args, "rate", 48_000);
            let models = PathBuf::from(args.get("models").map_or("models/demo", String::as_str));
            let budget = LatencyBudget::new(tier(&args), rate, block);
            let factory = ensemble_factory(&Config::from_env(), Some(models));
            let (s, shared) = soak(budget, false, factory, seconds, None);
            let ok = shared.status.state() != BackendState::Failed;
            if !ok {
                eprintln!("FAILED: {}", shared.status.message());
            }
            let extra = json!({ "peak_load": shared.status.peak_load.load(Ordering::Relaxed),
                                "hops_done": shared.status.hops_done.load(Ordering::Relaxed) });
            report("paced", &args, &budget, seconds, &s, &shared, extra) && ok
        }
        _ => {
            eprintln!("usage: cargo bench --bench soak -- identity|paced [--key value ...] (see the doc comment)");
            false
        }
    };
    std::process::exit(if ok { 0 } else { 1 });
}
