//! Plugin-level benchmarks, driven through the in-process test host (`tests/support/host.rs`):
//! the audio thread's cost per `process()` call, and the resident memory of whole instances.
//!
//! Each measurement prints exactly one JSON object on one line on stdout; progress goes to
//! stderr. The model set is the one `DANNA_SEP_MODELS` names (a folder with `manifest.toml` and
//! the ONNX files), or the committed quarter test set when it is unset; ONNX Runtime is found as
//! the plugin finds it (`DANNA_SEP_ORT_LIB`, ...). All parameters keep their defaults.
//!
//! ```text
//! cargo bench --bench plugin -- process --block N [--calls 100000] [--rate 48000]
//! cargo bench --bench plugin -- memory --instances K [--models DIR] [--seconds 20] [--rate 44100] [--block 512]
//! ```
//!
//! - `process`: one stereo instance in `ProcessMode::Realtime` with blocks of N frames. Every
//!   `process()` call is timed on its own with `Instant` (buffer preparation is not timed), after
//!   the backend has been created; the inference worker runs in the background. Calls are not
//!   paced in real time, so the worker misses most hops (the audio thread then renders the dry
//!   fallback, about as costly as copying a finished segment); the miss count is reported.
//!   Output: `{"kind":"process","block","rate","calls","median_us","p99_us","worst_us",
//!   "budget_us","median_pct_of_budget","worst_pct_of_budget", ...}`, where the budget is the
//!   block's duration. The extra `*_cpu_us` fields are the same calls in thread CPU time
//!   (including about half a microsecond of clock-reading overhead) and
//!   `involuntary_switches` counts preemptions: on a machine with fewer cores than the worker
//!   has threads, a wall-clock worst case far above the CPU-time worst case is the scheduler,
//!   not work done in `process()`.
//! - `memory`: K (1 or 2) stereo instances of the model set `--models` (default: as above) in
//!   `ProcessMode::Offline` (where `process()` waits for every window, so every window is
//!   separated), fed `--seconds` of audio each, alternately block by block. `VmHWM`/`VmRSS`
//!   from `/proc/self/status` are read before the instances exist, once their backends are
//!   loaded and at the end. Peak resident memory only grows, so each K needs its own process:
//!   run the command once per K. Output: `{"kind":"memory",
//!   "instances","baseline_kb","after_load_hwm_kb","peak_hwm_kb","final_rss_kb","models", ...}`.
//!
//! Every `process()` call runs inside `nice_assert_no_alloc::assert_no_alloc`, as in the tests.
//! The bench profile has no debug assertions, so there the checker is a no-op and
//! `alloc_violations` is `null`; `cargo bench --profile dev --bench plugin -- ...` runs the same
//! measurement with the checker live and counts allocations on the audio thread.

// Index loops over channels read more clearly than iterator chains here.
#![allow(clippy::needless_range_loop)]

// The plugin tests' in-process driver; the benchmark uses part of it.
#[allow(dead_code)]
#[path = "../tests/common/driver.rs"]
mod driver;

use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use danna_sep_core::engine::BackendState;
use danna_sep_testkit::signals as signal;
use driver::{layout, Driver, TestActivateContext, TestProcessContext};
use nice_plug::prelude::*;

const USAGE: &str = "usage: cargo bench --bench plugin -- <subcommand> [options]
  process --block N [--calls 100000] [--rate 48000]
  memory --instances K [--models DIR] [--seconds 20] [--rate 44100] [--block 512]
  reactivate [--models DIR] [--rounds 3]";

/// Calls excluded from the `process` statistics: the first blocks after activation fill the
/// history, touch every buffer for the first time and may run before the worker has anything;
/// they are not the steady state the audio thread lives in.
const WARMUP_CALLS: usize = 1000;

fn main() -> ExitCode {
    // Cargo appends `--bench` to the arguments of harness-less benches.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let result = match args.first().map(String::as_str) {
        Some("process") => {
            parse_options(&args[1..], &["block", "calls", "rate"]).and_then(|o| bench_process(&o))
        }
        Some("memory") => parse_options(
            &args[1..],
            &["instances", "models", "seconds", "rate", "block"],
        )
        .and_then(|o| bench_memory(&o)),
        Some("reactivate") => {
            parse_options(&args[1..], &["models", "rounds"]).and_then(|o| bench_reactivate(&o))
        }
        _ => Err("missing or unknown subcommand".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// `--name value` pairs, each name one of `known`.
struct Options(HashMap<String, String>);

fn parse_options(args: &[String], known: &[&str]) -> Result<Options, String> {
    let mut map = HashMap::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let name = flag
            .strip_prefix("--")
            .filter(|n| known.contains(n))
            .ok_or_else(|| format!("unexpected argument `{flag}`"))?;
        let value = it.next().ok_or_else(|| format!("`{flag}` needs a value"))?;
        map.insert(name.to_string(), value.clone());
    }
    Ok(Options(map))
}

impl Options {
    fn get<T: std::str::FromStr>(&self, name: &str, default: Option<T>) -> Result<T, String> {
        match self.0.get(name) {
            Some(v) => v
                .parse()
                .map_err(|_| format!("`--{name} {v}`: not a valid value")),
            None => default.ok_or_else(|| format!("`--{name}` is required")),
        }
    }
}

/// Makes the plugin load the model set `dir`, else the one `DANNA_SEP_MODELS` names, else the
/// quarter test set; returns what to report (`"default"` for the quarter set).
///
/// `Driver::new` points `DANNA_SEP_MODELS` at the quarter set the first time it runs (a `Once`),
/// overwriting whatever was set. Running that `Once` here and restoring the choice afterwards
/// keeps it: later `Driver::new` calls leave the variable alone.
fn choose_models(dir: Option<String>) -> String {
    let chosen = dir
        .map(OsString::from)
        .or_else(|| std::env::var_os("DANNA_SEP_MODELS"))
        .filter(|v| !v.is_empty());
    danna_sep_testkit::use_quarter_model_set();
    match chosen {
        Some(dir) => {
            std::env::set_var("DANNA_SEP_MODELS", &dir);
            dir.to_string_lossy().into_owned()
        }
        None => "default".into(),
    }
}

/// Waits for the backend and says what became of it on stderr.
fn settle(d: &Driver, what: &str) -> BackendState {
    let t = Instant::now();
    let state = d.settle();
    eprintln!(
        "{what}: {} (after {:.1} s)",
        d.plugin.status_line(),
        t.elapsed().as_secs_f64()
    );
    state
}

/// Allocations counted so far on this thread by the checker, when it is live: debug
/// assertions on (`--profile dev`) and the checker seen to count a deliberate allocation.
fn alloc_violations() -> Option<u32> {
    #[cfg(debug_assertions)]
    {
        use std::sync::atomic::AtomicBool;
        static LIVE: AtomicBool = AtomicBool::new(false);
        static PROBE: std::sync::Once = std::sync::Once::new();
        PROBE.call_once(|| {
            let before = nice_assert_no_alloc::violation_count();
            eprintln!("checking that the allocation checker is live (one warning expected):");
            nice_assert_no_alloc::assert_no_alloc(|| std::hint::black_box(vec![1u8; 16]).len());
            let live = nice_assert_no_alloc::violation_count() > before;
            LIVE.store(live, Ordering::Relaxed);
        });
        if LIVE.load(Ordering::Relaxed) {
            return Some(nice_assert_no_alloc::violation_count());
        }
    }
    None
}

fn json_opt(v: Option<u32>) -> String {
    v.map_or("null".into(), |v| v.to_string())
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn bench_process(o: &Options) -> Result<(), String> {
    let block: usize = o.get("block", None)?;
    let calls: usize = o.get("calls", Some(100_000))?;
    let rate: f32 = o.get("rate", Some(48_000.0))?;
    if block == 0 || calls == 0 || rate <= 0.0 {
        return Err("--block, --calls and --rate must be positive".into());
    }
    let models = choose_models(None);

    let mut d = Driver::new(2, rate, block as u32, ProcessMode::Realtime);
    let state = settle(&d, "backend");
    let shared = d.plugin.engine_shared().expect("active");

    // The host's side, built once: the plugin works in place on `main`, writes the stems to
    // `aux`. Only the input copy into `buffer` happens between calls.
    let signal = signal::test_signal(1 << 16, rate);
    let mask = signal[0].len() - 1;
    let mut main = vec![vec![0.0f32; block]; 2];
    let mut aux_data = vec![vec![vec![0.0f32; block]; 2]; 4];
    let mut buffer = Buffer::default();
    let mut aux_buffers: [Buffer; 4] = Default::default();
    // SAFETY: `main` and `aux_data` outlive the buffers and are not touched while they exist.
    unsafe {
        buffer.set_slices(block, |slices| {
            slices.clear();
            slices.extend(main.iter_mut().map(|c| c.as_mut_slice()));
        });
        for (b, a) in aux_buffers.iter_mut().zip(aux_data.iter_mut()) {
            b.set_slices(block, |slices| {
                slices.clear();
                slices.extend(a.iter_mut().map(|c| c.as_mut_slice()));
            });
        }
    }
    let mut aux = AuxiliaryBuffers {
        inputs: &mut [],
        outputs: &mut aux_buffers,
    };
    let mut ctx = TestProcessContext {
        transport: Transport::new(rate),
        restart_requested: Cell::new(false),
        latency_changed: Cell::new(None),
    };

    eprintln!(
        "timing {calls} calls of {block} frames at {rate} Hz after {WARMUP_CALLS} warm-up calls \
         (models: {models})"
    );
    let missed_before = shared.status.missed_hops.load(Ordering::Relaxed);
    let hops_before = shared.status.hops_done.load(Ordering::Relaxed);
    let violations_before = alloc_violations();
    let switches_before = involuntary_switches();
    let mut times: Vec<Duration> = Vec::with_capacity(calls);
    let mut cpu_times: Vec<Duration> = Vec::with_capacity(calls);
    let mut pos = 0usize;
    for call in 0..WARMUP_CALLS + calls {
        for (ch, data) in buffer.as_slice().iter_mut().enumerate() {
            for (j, x) in data.iter_mut().enumerate() {
                *x = signal[ch][(pos + j) & mask];
            }
        }
        pos += block;
        let plugin = &mut d.plugin;
        let (status, elapsed, cpu) = nice_assert_no_alloc::assert_no_alloc(|| {
            let cpu_start = thread_cpu_time();
            let start = Instant::now();
            let status = plugin.process(&mut buffer, &mut aux, &mut ctx);
            let elapsed = start.elapsed();
            (status, elapsed, thread_cpu_time().saturating_sub(cpu_start))
        });
        std::hint::black_box(status);
        // The first WARMUP_CALLS calls are warm-up and left out of the statistics.
        if call >= WARMUP_CALLS {
            times.push(elapsed);
            cpu_times.push(cpu);
        }
    }
    let violations = alloc_violations()
        .zip(violations_before)
        .map(|(a, b)| a - b);
    let switches = involuntary_switches() - switches_before;
    let missed = shared.status.missed_hops.load(Ordering::Relaxed) - missed_before;
    let hops_done = shared.status.hops_done.load(Ordering::Relaxed) - hops_before;
    if ctx.restart_requested.get() || ctx.latency_changed.get().is_some() {
        eprintln!("warning: the plugin asked the host for a restart or a latency change");
    }

    times.sort_unstable();
    let n = times.len();
    let median = us(times[n / 2]);
    let p99 = us(times[(n * 99).div_ceil(100) - 1]);
    let worst = us(times[n - 1]);
    let budget = block as f64 / rate as f64 * 1e6;
    cpu_times.sort_unstable();
    let cpu_median = us(cpu_times[n / 2]);
    let cpu_p99 = us(cpu_times[(n * 99).div_ceil(100) - 1]);
    let cpu_worst = us(cpu_times[n - 1]);
    println!(
        "{{\"kind\":\"process\",\"block\":{block},\"rate\":{rate},\"calls\":{n},\
         \"median_us\":{median:.3},\"p99_us\":{p99:.3},\"worst_us\":{worst:.3},\
         \"budget_us\":{budget:.3},\"median_pct_of_budget\":{:.4},\
         \"worst_pct_of_budget\":{:.4},\"warmup_calls\":{WARMUP_CALLS},\
         \"median_cpu_us\":{cpu_median:.3},\"p99_cpu_us\":{cpu_p99:.3},\
         \"worst_cpu_us\":{cpu_worst:.3},\"involuntary_switches\":{switches},\
         \"missed_hops\":{missed},\"hops_done\":{hops_done},\"backend\":{},\
         \"alloc_violations\":{},\"models\":{}}}",
        100.0 * median / budget,
        100.0 * worst / budget,
        json_str(&format!("{state:?}")),
        json_opt(violations),
        json_str(&models),
    );
    Ok(())
}

/// CPU time this thread has used (`CLOCK_THREAD_CPUTIME_ID`): unlike the wall clock, it does
/// not grow while the thread is preempted, e.g. by the inference worker on a small machine.
#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    debug_assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Not measured off Unix: clock_gettime and getrusage (Unix only).
#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    unimplemented!("thread_cpu_time needs clock_gettime and getrusage (Unix only)")
}

/// Times this thread was preempted (`getrusage(RUSAGE_THREAD)`'s involuntary context switches).
#[cfg(unix)]
fn involuntary_switches() -> i64 {
    // SAFETY: an all-zero rusage is valid, and getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    usage.ru_nivcsw as i64
}

/// Not measured off Unix: clock_gettime and getrusage (Unix only).
#[cfg(not(unix))]
fn involuntary_switches() -> i64 {
    unimplemented!("involuntary_switches needs clock_gettime and getrusage (Unix only)")
}

/// `VmHWM` and `VmRSS` of this process, in kB.
fn memory_kb() -> Result<(u64, u64), String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("reading /proc/self/status: {e}"))?;
    let field = |name: &str| -> Result<u64, String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().strip_suffix("kB")?.trim().parse().ok())
            .ok_or_else(|| format!("no {name} in /proc/self/status"))
    };
    Ok((field("VmHWM")?, field("VmRSS")?))
}

fn bench_memory(o: &Options) -> Result<(), String> {
    let instances: usize = o.get("instances", None)?;
    let dir: Option<String> = o.0.get("models").cloned();
    let seconds: f64 = o.get("seconds", Some(20.0))?;
    let rate: f32 = o.get("rate", Some(44_100.0))?;
    let block: usize = o.get("block", Some(512))?;
    if !(1..=2).contains(&instances) {
        return Err("--instances must be 1 or 2".into());
    }
    if block == 0 || rate <= 0.0 || seconds < 0.0 {
        return Err("--block and --rate must be positive, --seconds not negative".into());
    }
    let models = choose_models(dir);

    let (baseline_hwm, baseline_rss) = memory_kb()?;
    let started = Instant::now();
    let mut drivers: Vec<Driver> = (0..instances)
        .map(|_| Driver::new(2, rate, block as u32, ProcessMode::Offline))
        .collect();
    let mut states = Vec::new();
    for (i, d) in drivers.iter().enumerate() {
        states.push(settle(d, &format!("instance {i}")));
    }
    let (after_load_hwm, after_load_rss) = memory_kb()?;

    let signal = signal::test_signal(1 << 16, rate);
    let mask = signal[0].len() - 1;
    let total = (seconds * rate as f64).round() as usize;
    let mut io = vec![vec![0.0f32; block]; 2];
    let mut aux = vec![vec![vec![0.0f32; block]; 2]; 4];
    let mut pos = 0;
    let mut last_report = Instant::now();
    while pos < total {
        let n = block.min(total - pos);
        for d in &mut drivers {
            for ch in 0..2 {
                for j in 0..n {
                    io[ch][j] = signal[ch][(pos + j) & mask];
                }
            }
            let mut slices: Vec<&mut [f32]> = io.iter_mut().map(|v| &mut v[..n]).collect();
            d.process(&mut slices, &mut aux);
        }
        pos += n;
        if last_report.elapsed() > Duration::from_secs(5) {
            last_report = Instant::now();
            eprintln!(
                "{:.1} / {seconds} s of audio per instance, VmHWM {} kB",
                pos as f64 / rate as f64,
                memory_kb()?.0
            );
        }
    }
    let (peak_hwm, final_rss) = memory_kb()?;
    let hops_done: Vec<String> = drivers
        .iter()
        .map(|d| {
            let shared = d.plugin.engine_shared().expect("active");
            shared.status.hops_done.load(Ordering::Relaxed).to_string()
        })
        .collect();
    let states: Vec<String> = states.iter().map(|s| json_str(&format!("{s:?}"))).collect();
    println!(
        "{{\"kind\":\"memory\",\"instances\":{instances},\"baseline_kb\":{baseline_rss},\
         \"after_load_hwm_kb\":{after_load_hwm},\"peak_hwm_kb\":{peak_hwm},\
         \"final_rss_kb\":{final_rss},\"models\":{},\"baseline_hwm_kb\":{baseline_hwm},\
         \"after_load_rss_kb\":{after_load_rss},\"seconds\":{seconds},\"rate\":{rate},\
         \"block\":{block},\"backend\":[{}],\"hops_done\":[{}],\"wall_s\":{:.2}}}",
        json_str(&models),
        states.join(","),
        hops_done.join(","),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

/// Seconds from `start` until the plugin's backend left Loading (Ready or Failed).
fn time_to_ready(d: &Driver, start: Instant) -> Result<f64, String> {
    let shared = d.plugin.engine_shared().ok_or("the plugin is not active")?;
    let deadline = start + Duration::from_secs(900);
    while shared.status.state() == BackendState::Loading {
        if Instant::now() > deadline {
            return Err("the backend did not load within 15 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if shared.status.state() != BackendState::Ready {
        return Err(format!("the backend failed: {}", d.plugin.status_line()));
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Time from `activate()` to Ready: for a new instance (the models load; before sessions were
/// kept across activations, every re-activation cost this) and for a re-activation of the same
/// instance with a new rate and block size (the parked backend is reused). Real-time mode, so
/// both include the warm-up window.
fn bench_reactivate(o: &Options) -> Result<(), String> {
    let models = choose_models(o.0.get("models").cloned());
    let rounds: usize = o.get("rounds", Some(3))?;
    for round in 0..rounds {
        // The previous round's instance is gone, and its sessions with it.
        let start = Instant::now();
        let mut d = Driver::new(2, 44_100.0, 512, ProcessMode::Realtime);
        let new_instance = time_to_ready(&d, start)?;
        d.plugin.deactivate();
        let config = BufferConfig {
            sample_rate: 48_000.0,
            min_buffer_size: None,
            max_buffer_size: 1024,
            process_mode: ProcessMode::Realtime,
        };
        let mut ctx = TestActivateContext {
            latency: Cell::new(0),
        };
        let start = Instant::now();
        if !d.plugin.activate(&layout(2), &config, &mut ctx) {
            return Err("re-activation refused".into());
        }
        let reactivation = time_to_ready(&d, start)?;
        eprintln!(
            "round {round}: new instance {new_instance:.3} s to Ready, re-activation at 48 kHz \
             {reactivation:.3} s (models: {models})"
        );
        println!(
            "{{\"kind\":\"time_to_ready\",\"models\":{:?},\"round\":{round},\
             \"new_instance_s\":{new_instance:.4},\"reactivation_s\":{reactivation:.4}}}",
            models
        );
    }
    Ok(())
}
