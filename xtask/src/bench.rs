//! `cargo xtask bench`: every performance number of the README, measured in one run.
//!
//! ```text
//! cargo xtask bench [--sizes demo,full] [--quick] [--realtime-seconds S] [--readme]
//! ```
//!
//! 1. exports a full-size Danna-Sep model set with random weights (speed does not depend on
//!    the values) to `target/bench/full-set`, with its int8 variants, once;
//! 2. runs `benches/engine.rs` (models, DSP stages, streaming engine per tier, quality per
//!    tier, a real-time paced run) and `benches/plugin.rs` (`process()` cost per block, peak
//!    memory of one and two plugin instances) for each size;
//! 3. times the release CLI against the Python reference pipeline on the same models and clip;
//! 4. writes every record to `docs/bench/results.jsonl`, the quality plot to
//!    `docs/bench/quality-vs-latency.png`, and with `--readme` the tables into README.md
//!    between `<!-- bench:begin -->` and `<!-- bench:end -->`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::{process, python, setup};

const USAGE: &str = "\
Usage: cargo xtask bench [--sizes demo,full] [--only PARTS] [--keep] [--report] [--quick]
                         [--realtime-seconds S] [--readme]

  --sizes LIST           model sets to measure: demo (models/demo), full (random weights,
                         the release's sizes; exported on the fly)            [demo,full]
  --only PARTS           measure only these (comma-separated): models, stream, realtime,
                         dsp, quality, process, memory, ready, cli; the other records are
                         kept
  --keep                 keep the records of sizes not measured this time
  --report               measure nothing: plot and tabulate docs/bench/results.jsonl
  --quick                short runs (10 s streams, 20000 process() calls, 20 s real time)
  --realtime-seconds S   length of the real-time paced run per size          [60]
  --readme               write the tables into README.md";

/// The parts `--only` can name, each with the record kinds it writes.
const PARTS: [(&str, &[&str]); 9] = [
    ("models", &["model"]),
    ("stream", &["stream"]),
    ("realtime", &["realtime"]),
    ("dsp", &["dsp"]),
    ("quality", &["quality", "int8_quality", "lossy_quality"]),
    ("process", &["process"]),
    ("memory", &["memory"]),
    ("ready", &["time_to_ready"]),
    ("cli", &["cli_vs_python"]),
];

struct Options {
    sizes: Vec<String>,
    /// `None`: every part.
    only: Option<Vec<String>>,
    keep: bool,
    report: bool,
    quick: bool,
    realtime_seconds: f64,
    readme: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        sizes: vec!["demo".into(), "full".into()],
        only: None,
        keep: false,
        report: false,
        quick: false,
        realtime_seconds: 60.0,
        readme: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--sizes" => o.sizes = value()?.split(',').map(str::to_string).collect(),
            "--only" => o.only = Some(value()?.split(',').map(str::to_string).collect()),
            "--quick" => o.quick = true,
            "--keep" => o.keep = true,
            "--report" => o.report = true,
            "--realtime-seconds" => o.realtime_seconds = value()?.parse()?,
            "--readme" => o.readme = true,
            "-h" | "--help" => bail!("{USAGE}"),
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    for s in &o.sizes {
        if s != "demo" && s != "full" {
            bail!("unknown size {s} (demo or full)");
        }
    }
    for p in o.only.iter().flatten() {
        if !PARTS.iter().any(|(name, _)| name == p) {
            bail!("unknown part {p}\n{USAGE}");
        }
    }
    Ok(o)
}

impl Options {
    /// Whether this run measures `part`.
    fn wants(&self, part: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|p| p == part))
    }

    /// Whether this run measures records of `kind` for `size` (and so replaces the old ones).
    fn measures(&self, kind: &Value, size: &Value) -> bool {
        self.sizes.iter().any(|s| size == s.as_str())
            && PARTS
                .iter()
                .any(|(part, kinds)| self.wants(part) && kinds.iter().any(|k| kind == *k))
    }
}

/// Runs the benchmark suite.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let o = parse(args)?;
    setup::setup(root, true)?;
    let ort = setup::ort_lib_path(root);
    // Release builds look for OpenVINO next to the binary only: point them at the checkout's.
    let openvino = openvino_lib(root);
    let out_dir = root.join("docs/bench");
    fs::create_dir_all(&out_dir)?;
    let results = out_dir.join("results.jsonl");
    if o.report {
        let text = fs::read_to_string(&results)
            .with_context(|| format!("reading {}", results.display()))?;
        let records: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        return report(root, &o, &results, &records);
    }
    let mut records = Recorder::start(&results, root, &o)?;

    let python = python::venv_python(root);
    let mut machine = Command::new(&python);
    machine.args(["-m", "danna_sep_models.bench", "machine"]);
    records.extend(json_lines(machine, root)?)?;

    let benches = ["engine", "plugin"]
        .into_iter()
        .filter(|_| PARTS.iter().any(|(p, _)| *p != "cli" && o.wants(p)));
    for bench in benches {
        let mut build = process::cargo();
        build.args(["bench", "--bench", bench, "--no-run"]);
        process::run(build, root)?;
    }
    let mut cli = process::cargo();
    cli.args(["build", "--release", "--bin", "danna-sep"]);
    process::run(cli, root)?;

    let clip = root.join("examples/demo.wav");
    let (stream_s, calls, rt_s) = if o.quick {
        ("10", "20000", o.realtime_seconds.min(20.0))
    } else {
        ("30", "100000", o.realtime_seconds)
    };
    let clip_arg = clip.to_string_lossy().into_owned();
    for size in &o.sizes {
        let set = model_set(root, size)?;
        let set_arg = set.to_string_lossy().into_owned();
        let engine = |args: &[&str]| -> Result<Vec<Value>> {
            let mut cmd = process::cargo();
            cmd.args(["bench", "--bench", "engine", "--"])
                .args(args)
                .env("DANNA_SEP_ORT_LIB", &ort)
                .env("DANNA_SEP_OV_LIB", &openvino);
            json_lines(cmd, root)
        };
        let rt = format!("{rt_s}");
        // The streaming runs on ONNX Runtime float32 and on the fastest choice here, OpenVINO
        // bf16 (the bench runs float32 and records it where the CPU has no bf16, and ONNX
        // Runtime where OpenVINO does not load).
        let on = |runtime, precision| vec!["--runtime", runtime, "--precision", precision];
        for (part, args) in [
            ("models", vec!["--repeats", "2"]),
            (
                "stream",
                [vec!["--seconds", stream_s], on("ort", "float32")].concat(),
            ),
            (
                "stream",
                [vec!["--seconds", stream_s], on("openvino", "bf16")].concat(),
            ),
            (
                "realtime",
                [vec!["--seconds", &rt], on("ort", "float32")].concat(),
            ),
            (
                "realtime",
                [vec!["--seconds", &rt], on("openvino", "bf16")].concat(),
            ),
        ] {
            if o.wants(part) {
                let mut all = vec![part, "--models", &set_arg, "--input", &clip_arg];
                all.extend(args);
                records.extend(engine(&all)?)?;
            }
        }
        // Karaoke (the Spleeter model beside the full ensemble) per tier and paced, on the demo
        // set, where set-up provisioned the Spleeter model.
        let spleeter = root.join(crate::spleeter::SET_DIR).join("manifest.toml");
        if size == "demo" && spleeter.is_file() {
            let karaoke = [
                "--model", "karaoke", "--models", &set_arg, "--input", &clip_arg,
            ];
            for (part, args) in [
                (
                    "stream",
                    [vec!["--seconds", stream_s], on("ort", "float32")].concat(),
                ),
                (
                    "realtime",
                    [vec!["--seconds", &rt], on("ort", "float32")].concat(),
                ),
            ] {
                if o.wants(part) {
                    records.extend(engine(&[&[part][..], &karaoke, &args].concat())?)?;
                }
            }
        }
        if size == "demo" && o.wants("dsp") {
            records.extend(engine(&["dsp", "--input", &clip_arg])?)?;
        }
        if size == "demo" && o.wants("quality") {
            records.extend(engine(&[
                "quality", "--models", &set_arg, "--input", &clip_arg,
            ])?)?;
        }
        // `benches/plugin.rs` on this model set; its records tagged with the size.
        let plugin = |args: &[&str]| -> Result<Vec<Value>> {
            let mut cmd = process::cargo();
            cmd.args(["bench", "--bench", "plugin", "--"])
                .args(args)
                .env("DANNA_SEP_ORT_LIB", &ort)
                .env("DANNA_SEP_OV_LIB", &openvino)
                .env("DANNA_SEP_MODELS", &set);
            Ok(json_lines(cmd, root)?
                .into_iter()
                .map(|r| tag(r, "size", size))
                .collect())
        };
        if size == "demo" && o.wants("process") {
            for block in ["64", "512"] {
                records.extend(plugin(&["process", "--block", block, "--calls", calls])?)?;
            }
        }
        for instances in ["1", "2"].into_iter().filter(|_| o.wants("memory")) {
            records.extend(plugin(&[
                "memory",
                "--instances",
                instances,
                "--models",
                &set_arg,
            ])?)?;
        }
        if o.wants("ready") {
            // Time to Ready for a new instance (the models load) and for a re-activation of
            // the same instance at another rate (the parked backend is reused).
            records.extend(plugin(&[
                "reactivate",
                "--rounds",
                "3",
                "--models",
                &set_arg,
            ])?)?;
        }
        if o.wants("cli") {
            let bf16 = machine_has_bf16(&records.all);
            records.extend(vec![cli_vs_python(root, &set, &clip, size, bf16)?])?;
        }
    }
    let records = records.all;
    eprintln!("wrote {}", results.display());
    report(root, &o, &results, &records)
}

/// The checkout's OpenVINO C library (`cargo xtask setup` provisions it).
fn openvino_lib(root: &Path) -> PathBuf {
    crate::openvino::ov_dir(root).join(crate::openvino::LIBS[0])
}

/// The plot and the tables of `records`; README.md too with `--readme`.
fn report(root: &Path, o: &Options, results: &Path, records: &[Value]) -> Result<()> {
    let python = python::venv_python(root);
    let out_dir = results.parent().expect("results live in a folder");
    let png = out_dir.join("quality-vs-latency.png");
    if records.iter().any(|r| r["kind"] == "quality") {
        let mut plot = Command::new(&python);
        plot.args(["-m", "danna_sep_models.bench", "plot"])
            .arg(results)
            .arg(&png);
        process::run(plot, root)?;
        eprintln!("wrote {}", png.display());
    }
    let table = tables(records);
    println!("{table}");
    if o.readme {
        write_readme(root, &table)?;
    }
    Ok(())
}

/// Every record so far, also appended to the results file as it arrives, so an interrupted
/// run keeps what it measured.
struct Recorder {
    all: Vec<Value>,
    path: PathBuf,
    root: PathBuf,
}

impl Recorder {
    /// Starts the results file: empty, or with `--keep` or `--only` the old records this run
    /// does not measure again.
    fn start(path: &Path, root: &Path, o: &Options) -> Result<Self> {
        let old = fs::read_to_string(path).unwrap_or_default();
        let kept: Vec<Value> = if o.keep || o.only.is_some() {
            old.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|r| r["kind"] != "machine" && !o.measures(&r["kind"], &r["size"]))
                .collect()
        } else {
            Vec::new()
        };
        let text: String = kept.iter().map(|r| format!("{r}\n")).collect();
        fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(Self {
            all: kept,
            path: path.to_path_buf(),
            root: root.to_path_buf(),
        })
    }

    fn extend(&mut self, records: Vec<Value>) -> Result<()> {
        use std::io::Write;
        let mut file = fs::OpenOptions::new().append(true).open(&self.path)?;
        for r in records {
            let r = label_size(r, &self.root);
            writeln!(file, "{r}")?;
            self.all.push(r);
        }
        Ok(())
    }
}

/// `models/demo`, or the full-size random set under `target/bench/full-set` (exported once).
fn model_set(root: &Path, size: &str) -> Result<PathBuf> {
    if size == "demo" {
        return Ok(root.join("models/demo"));
    }
    let dir = root.join("target/bench/full-set");
    if !dir.join("manifest.toml").exists() {
        let mut cmd = Command::new(python::venv_python(root));
        cmd.args([
            "-m",
            "danna_sep_models.cli",
            "export",
            "--config",
            "full",
            "--out",
        ])
        .arg(&dir)
        .args(["--name", "danna-sep-full-random"]);
        process::run(cmd, root).context("exporting the full-size model set")?;
    }
    let manifest = fs::read_to_string(dir.join("manifest.toml"))?;
    if !manifest.contains("int8_file") {
        let mut cmd = Command::new(python::venv_python(root));
        cmd.args(["-m", "danna_sep_models.cli", "quantize"])
            .arg(&dir);
        process::run(cmd, root).context("quantising the full-size model set")?;
    }
    Ok(dir)
}

/// Runs `cmd` (stderr shown) and parses each stdout line that is a JSON object.
fn json_lines(mut cmd: Command, root: &Path) -> Result<Vec<Value>> {
    cmd.current_dir(root).stderr(Stdio::inherit());
    let shown = process::describe(&cmd);
    eprintln!("+ {shown}");
    let out = cmd
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        bail!("`{shown}` failed ({})", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(Value::is_object)
        .collect())
}

fn tag(mut record: Value, key: &str, value: &str) -> Value {
    record[key] = json!(value);
    record
}

/// Adds `size` (demo / full) from the record's model-set path.
fn label_size(record: Value, root: &Path) -> Value {
    if record.get("size").is_some() {
        return record;
    }
    let models = record["models"].as_str().unwrap_or_default();
    if models.is_empty() {
        return record;
    }
    let size = if Path::new(models).starts_with(root.join("models/demo")) {
        "demo"
    } else {
        "full"
    };
    tag(record, "size", size)
}

/// Whether the machine record lists a bf16 flag (the CPU can run OpenVINO's bf16).
fn machine_has_bf16(records: &[Value]) -> bool {
    find(records, |r| r["kind"] == "machine")
        .and_then(|m| m["flags"].as_array())
        .is_some_and(|flags| flags.iter().any(|f| f == "avx512_bf16" || f == "amx_bf16"))
}

/// Wall time of the release CLI (its default, which takes a clip of up to 20 s as one window,
/// its streamed `offline` geometry, and with `bf16` its default at `--precision bf16`) and of
/// the Python reference on the same clip and models.
fn cli_vs_python(root: &Path, set: &Path, clip: &Path, size: &str, bf16: bool) -> Result<Value> {
    let tmp = root.join("target/bench/out");
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    let cli = |tier: &str, precision: &str| {
        let mut cli = Command::new(root.join("target/release/danna-sep"));
        cli.arg("separate")
            .arg(clip)
            .args(["--tier", tier, "--precision", precision, "--models"])
            .arg(set)
            .arg("-o")
            .arg(tmp.join(format!("cli-{tier}-{precision}")))
            .env("DANNA_SEP_ORT_LIB", setup::ort_lib_path(root))
            .env("DANNA_SEP_OV_LIB", openvino_lib(root));
        timed(cli, root)
    };
    let cli_s = cli("auto", "float32")?;
    let cli_offline_s = cli("offline", "float32")?;
    let cli_bf16_s = if bf16 {
        Some(cli("auto", "bf16")?)
    } else {
        None
    };
    let mut py = Command::new(python::venv_python(root));
    py.args([
        "-m",
        "danna_sep_models.cli",
        "reference",
        "--mode",
        "full",
        "--model-set",
    ])
    .arg(set)
    .arg("--outdir")
    .arg(tmp.join("python"))
    .arg(clip);
    let py_s = timed(py, root)?;
    let audio_s = hound::WavReader::open(clip)?.duration() as f64 / 44_100.0;
    Ok(json!({
        "kind": "cli_vs_python", "size": size, "audio_s": audio_s,
        "cli_wall_s": cli_s, "cli_offline_wall_s": cli_offline_s, "python_wall_s": py_s,
        "cli_rtf": cli_s / audio_s, "python_rtf": py_s / audio_s, "speedup": py_s / cli_s,
        "cli_bf16_wall_s": cli_bf16_s, "cli_bf16_rtf": cli_bf16_s.map(|s| s / audio_s),
        "bf16_speedup": cli_bf16_s.map(|s| py_s / s),
    }))
}

fn timed(cmd: Command, root: &Path) -> Result<f64> {
    let start = Instant::now();
    process::run(cmd, root)?;
    Ok(start.elapsed().as_secs_f64())
}

fn f(v: &Value, digits: usize) -> String {
    v.as_f64().map_or("–".into(), |x| format!("{x:.digits$}"))
}

fn find(records: &[Value], pred: impl Fn(&Value) -> bool) -> Option<&Value> {
    records.iter().find(|r| pred(r))
}

/// The runtime and precision a record ran on (`ort`, `float32` for records from before the
/// runtimes were recorded).
fn ran_on(r: &Value) -> (&str, &str) {
    let runtime = r["runtime"].as_str().unwrap_or("ort");
    let precision =
        r["precision"]
            .as_str()
            .unwrap_or(if r["int8"] == true { "int8" } else { "float32" });
    (runtime, precision)
}

/// `ONNX Runtime float32`, `OpenVINO bf16`, ... for a table cell.
fn ran_on_label(r: &Value) -> String {
    let (runtime, precision) = ran_on(r);
    let runtime = match runtime {
        "ort" => "ONNX Runtime",
        "openvino" => "OpenVINO",
        other => other,
    };
    format!("{runtime} {precision}")
}

/// The model choice a stream or paced record ran (`full` for records made before it was
/// recorded).
fn model_label(r: &Value) -> &str {
    r["model"].as_str().unwrap_or("full")
}

/// The README tables.
fn tables(records: &[Value]) -> String {
    let mut t = String::new();
    let null = Value::Null;
    if let Some(m) = find(records, |r| r["kind"] == "machine") {
        let flags: Vec<&str> = m["flags"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let flags = if flags.is_empty() {
            "none of avx512_bf16, amx_bf16, avx512_vnni".to_string()
        } else {
            flags.join(", ")
        };
        t += &format!(
            "Machine: {} ({} cores; {flags}); ONNX Runtime MatMul peak {} GFLOP/s on 1 thread, \
             {} on 2.\n\n",
            m["cpu"].as_str().unwrap_or("?"),
            m["cores"],
            f(&m["matmul_gflops_1_thread"], 0),
            f(&m["matmul_gflops_2_threads"], 0)
        );
    }
    let sizes: Vec<&str> = ["full", "demo"]
        .into_iter()
        .filter(|s| records.iter().any(|r| r["size"] == *s))
        .collect();

    t += "**Models and ensemble, one 6 s window** (wall seconds per audio second = RTF; CPU \
          seconds per audio second, all threads). `seq`: one model after another, `par`: the \
          waveform model on a second thread; `int8`: the lossy int8 LSTM/MatMul files; `bf16`: \
          OpenVINO's bf16 arithmetic for the spectrogram models (lossy; offered where the CPU \
          has it).\n\n\
          | set | model | runtime | RTF 1 thread | CPU 1 thread | RTF 2 threads | CPU 2 threads |\n\
          |---|---|---|---|---|---|---|\n";
    for size in &sizes {
        for model in ["xumx", "unet", "demucs", "fast", "full"] {
            for runtime in ["ort", "openvino"] {
                for precision in ["float32", "int8", "bf16"] {
                    for parallel in [false, true] {
                        let get = |threads: u64| {
                            find(records, |r| {
                                r["kind"] == "model"
                                    && r["size"] == *size
                                    && r["model"] == model
                                    && r["threads"] == threads
                                    && r["parallel"] == parallel
                                    && ran_on(r) == (runtime, precision)
                            })
                        };
                        let (Some(a), b) = (get(1), get(2)) else {
                            continue;
                        };
                        let b = b.unwrap_or(&null);
                        let schedule = match (model, parallel) {
                            ("fast" | "full", false) => " (seq)",
                            ("fast" | "full", true) => " (par)",
                            _ => "",
                        };
                        t += &format!(
                            "| {size} | {model}{schedule} | {} | {} | {} | {} | {} |\n",
                            ran_on_label(a),
                            f(&a["rtf"], 3),
                            f(&a["cpu_per_audio_s"], 3),
                            f(&b["rtf"], 3),
                            f(&b["cpu_per_audio_s"], 3)
                        );
                    }
                }
            }
        }
    }
    let dsp: Vec<&Value> = records.iter().filter(|r| r["kind"] == "dsp").collect();
    if !dsp.is_empty() {
        t += "\n**DSP stages** (CPU seconds per audio second, 6 s window): ";
        t += &dsp
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r["stage"].as_str().unwrap_or("?"),
                    f(&r["cpu_per_audio_s"], 4)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        t += " (Wiener and iSTFT run once per spectrogram model).\n";
    }

    let lossy = |r: &&Value| r["kind"] == "int8_quality" || r["kind"] == "lossy_quality";
    for r in records.iter().filter(lossy) {
        let snr: Vec<String> = r["snr_db"]
            .as_array()
            .map(|a| a.iter().map(|v| f(v, 1)).collect())
            .unwrap_or_default();
        let (runtime, precision) = ran_on(r);
        let precision = if r["kind"] == "int8_quality" {
            "int8"
        } else {
            precision
        };
        t += &format!(
            "\n**Quality cost of {precision}** (full ensemble, whole clip, {precision} against \
             float32 on {runtime}, SNR drums / bass / other / vocals, {} set, \
             `examples/demo.wav`): {} dB.\n",
            r["size"].as_str().unwrap_or("?"),
            snr.join(" / ")
        );
    }

    t += "\n**Streaming engine** (48 kHz host, so every window is resampled; the default \
          schedule; CPU seconds per audio second of the whole process, including overlap, \
          resampling, STFT, Wiener, iSTFT and the models; `karaoke` adds the Spleeter model and \
          the accompaniment split to the full ensemble):\n\n\
          | set | model | runtime | tier | latency (512 blocks) | window / hop | CPU s per audio s | RTF |\n\
          |---|---|---|---|---|---|---|---|\n";
    for size in &sizes {
        for r in records
            .iter()
            .filter(|r| r["kind"] == "stream" && r["size"] == *size)
        {
            t += &format!(
                "| {size} | {} | {} | {} | {} s | {} | {} | {} |\n",
                model_label(r),
                ran_on_label(r),
                r["tier"].as_str().unwrap_or("?"),
                f(&r["latency_s"], 2),
                f(&r["overlap"], 2),
                f(&r["cpu_per_audio_s"], 3),
                f(&r["rtf"], 3)
            );
        }
    }

    t += "\n**Real-time paced stream** (512-sample blocks at 48 kHz handed over at their \
          deadlines):\n\n\
          | set | model | runtime | tier | audio | hops done | missed hops | peak load | CPU s per audio s |\n\
          |---|---|---|---|---|---|---|---|---|\n";
    for r in records.iter().filter(|r| r["kind"] == "realtime") {
        t += &format!(
            "| {} | {} | {} | {} | {} s | {} | {} | {} | {} |\n",
            r["size"].as_str().unwrap_or("?"),
            model_label(r),
            ran_on_label(r),
            r["tier"].as_str().unwrap_or("?"),
            f(&r["seconds"], 0),
            r["hops_done"],
            r["missed_hops"],
            f(&r["peak_load"], 2),
            f(&r["cpu_per_audio_s"], 3)
        );
    }

    t += "\n**Audio thread**: `process()` in real-time mode, stereo, 48 kHz, while the worker \
          runs (calls not paced, so most blocks take the dry-fallback path); wall time per call, \
          and the thread's CPU time (wall outliers are the scheduler giving the core to the \
          model threads: 2 cores, 4 busy threads):\n\n\
          | block | calls | median | p99 | worst wall | worst CPU | median / worst CPU, % of the block's time |\n\
          |---|---|---|---|---|---|---|\n";
    for r in records.iter().filter(|r| r["kind"] == "process") {
        let budget = r["budget_us"].as_f64().unwrap_or(f64::NAN);
        let worst_cpu_pct = r["worst_cpu_us"]
            .as_f64()
            .map(|w| json!(100.0 * w / budget));
        t += &format!(
            "| {} | {} | {} µs | {} µs | {} µs | {} µs | {} % / {} % |\n",
            r["block"],
            r["calls"],
            f(&r["median_us"], 2),
            f(&r["p99_us"], 2),
            f(&r["worst_us"], 0),
            f(&r["worst_cpu_us"], 0),
            f(&r["median_pct_of_budget"], 3),
            f(&worst_cpu_pct.unwrap_or(Value::Null), 2)
        );
    }

    t += "\n**Memory**: peak resident set (VmHWM) of plugin instances in one process:\n\n\
          | set | one instance | two instances | the second adds |\n|---|---|---|---|\n";
    for size in &sizes {
        let peak = |n: u64| {
            find(records, |r| {
                r["kind"] == "memory" && r["size"] == *size && r["instances"] == n
            })
            .and_then(|r| r["peak_hwm_kb"].as_f64())
        };
        if let (Some(one), Some(two)) = (peak(1), peak(2)) {
            t += &format!(
                "| {size} | {:.0} MB | {:.0} MB | {:.0} MB |\n",
                one / 1024.0,
                two / 1024.0,
                (two - one) / 1024.0
            );
        }
    }

    t += "\n**CLI against the Python reference pipeline** (same ONNX models, same clip, full \
          ensemble; the CLI's default, which separates a clip of up to 20 s as one window, \
          and its streamed `--tier offline` geometry; the reference's whole-clip recipe with \
          norbert's Wiener filter; RTF and speed-up are the default's, float32; `bf16`: the \
          default with `--precision bf16`, where the CPU has it):\n\n\
          | set | audio | CLI | CLI `--tier offline` | Python reference | CLI RTF | speed-up | CLI bf16 | bf16 RTF | bf16 speed-up |\n\
          |---|---|---|---|---|---|---|---|---|---|\n";
    for r in records.iter().filter(|r| r["kind"] == "cli_vs_python") {
        let bf16_s = r["cli_bf16_wall_s"]
            .as_f64()
            .map_or("–".into(), |s| format!("{s:.1} s"));
        let bf16_speedup = r["bf16_speedup"]
            .as_f64()
            .map_or("–".into(), |x| format!("{x:.2}×"));
        t += &format!(
            "| {} | {} s | {} s | {} s | {} s | {} | {}× | {bf16_s} | {} | {bf16_speedup} |\n",
            r["size"].as_str().unwrap_or("?"),
            f(&r["audio_s"], 1),
            f(&r["cli_wall_s"], 1),
            f(&r["cli_offline_wall_s"], 1),
            f(&r["python_wall_s"], 1),
            f(&r["cli_rtf"], 3),
            f(&r["speedup"], 2),
            f(&r["cli_bf16_rtf"], 3)
        );
    }
    let quality: Vec<&Value> = records.iter().filter(|r| r["kind"] == "quality").collect();
    if !quality.is_empty() {
        t += "\n**Streaming quality** (SNR of the streamed stems against the whole-clip \
              separation, drums / bass / other / vocals, `examples/demo.wav`, demo set; plot: \
              `docs/bench/quality-vs-latency.png`):\n\n| runtime | tier | latency | SNR (dB) |\n|---|---|---|---|\n";
        for r in quality {
            let snr: Vec<String> = r["snr_db"]
                .as_array()
                .map(|a| a.iter().map(|v| f(v, 1)).collect())
                .unwrap_or_default();
            t += &format!(
                "| {} | {} | {} s | {} |\n",
                ran_on_label(r),
                r["tier"].as_str().unwrap_or("?"),
                f(&r["latency_s"], 2),
                snr.join(" / ")
            );
        }
    }
    t
}

fn write_readme(root: &Path, table: &str) -> Result<()> {
    let markers = ("<!-- bench:begin -->", "<!-- bench:end -->");
    crate::eval::write_between(&root.join("README.md"), markers, table)?;
    eprintln!("updated README.md");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_show_what_the_records_hold() {
        let records = vec![
            json!({"kind": "model", "size": "full", "model": "unet", "threads": 1, "parallel": false, "rtf": 0.8, "cpu_per_audio_s": 0.79}),
            json!({"kind": "model", "size": "full", "model": "unet", "threads": 2, "parallel": false, "rtf": 0.5, "cpu_per_audio_s": 0.99}),
            json!({"kind": "memory", "size": "full", "instances": 1, "peak_hwm_kb": 1_048_576.0}),
            json!({"kind": "memory", "size": "full", "instances": 2, "peak_hwm_kb": 1_153_434.0}),
            json!({"kind": "cli_vs_python", "size": "full", "audio_s": 20.0, "cli_wall_s": 10.0, "cli_offline_wall_s": 20.0, "python_wall_s": 30.0, "cli_rtf": 0.5, "speedup": 3.0}),
            json!({"kind": "model", "size": "full", "model": "unet", "threads": 1, "parallel": false, "runtime": "openvino", "precision": "bf16", "rtf": 0.3, "cpu_per_audio_s": 0.31}),
            json!({"kind": "lossy_quality", "size": "demo", "runtime": "openvino", "precision": "bf16", "snr_db": [40.0, 41.0, 42.0, 43.0]}),
            json!({"kind": "realtime", "size": "full", "tier": "balanced", "runtime": "openvino", "precision": "bf16", "seconds": 600.0, "hops_done": 1000, "missed_hops": 0, "peak_load": 0.5, "cpu_per_audio_s": 0.9}),
            json!({"kind": "stream", "size": "demo", "model": "karaoke", "tier": "live", "latency_s": 0.4, "overlap": 2.0, "cpu_per_audio_s": 0.5, "rtf": 0.3}),
            json!({"kind": "machine", "cpu": "Xeon", "cores": 2, "flags": ["avx512_bf16", "amx_bf16"]}),
            json!({"kind": "cli_vs_python", "size": "demo", "audio_s": 20.0, "cli_wall_s": 8.0, "cli_offline_wall_s": 16.0, "python_wall_s": 16.0, "cli_rtf": 0.4, "speedup": 2.0, "cli_bf16_wall_s": 4.0, "cli_bf16_rtf": 0.2, "bf16_speedup": 4.0}),
        ];
        let t = tables(&records);
        // Records from before the runtimes were recorded ran ONNX Runtime float32.
        assert!(
            t.contains("| full | unet | ONNX Runtime float32 | 0.800 | 0.790 | 0.500 | 0.990 |"),
            "{t}"
        );
        assert!(
            t.contains("| full | unet | OpenVINO bf16 | 0.300 | 0.310 | – | – |"),
            "{t}"
        );
        assert!(
            t.contains("bf16 against float32 on openvino, SNR drums / bass / other / vocals, demo set, `examples/demo.wav`): 40.0 / 41.0 / 42.0 / 43.0 dB"),
            "{t}"
        );
        assert!(
            t.contains(
                "| full | full | OpenVINO bf16 | balanced | 600 s | 1000 | 0 | 0.50 | 0.900 |"
            ),
            "{t}"
        );
        assert!(
            t.contains(
                "| demo | karaoke | ONNX Runtime float32 | live | 0.40 s | 2.00 | 0.500 | 0.300 |"
            ),
            "{t}"
        );
        assert!(
            t.contains("Machine: Xeon (2 cores; avx512_bf16, amx_bf16)"),
            "{t}"
        );
        assert!(t.contains("| full | 1024 MB | 1126 MB | 102 MB |"), "{t}");
        assert!(
            t.contains("| full | 20.0 s | 10.0 s | 20.0 s | 30.0 s | 0.500 | 3.00× | – | – | – |"),
            "{t}"
        );
        assert!(
            t.contains(
                "| demo | 20.0 s | 8.0 s | 16.0 s | 16.0 s | 0.400 | 2.00× | 4.0 s | 0.200 | 4.00× |"
            ),
            "{t}"
        );
    }

    #[test]
    fn the_cli_is_timed_in_bf16_only_where_the_machine_record_lists_a_bf16_flag() {
        let machine = |flags: Value| vec![json!({"kind": "machine", "cpu": "X", "flags": flags})];
        assert!(machine_has_bf16(&machine(json!([
            "avx512_vnni",
            "amx_bf16"
        ]))));
        assert!(machine_has_bf16(&machine(json!(["avx512_bf16"]))));
        assert!(!machine_has_bf16(&machine(json!(["avx512_vnni"]))));
        assert!(!machine_has_bf16(&machine(json!([]))));
        assert!(!machine_has_bf16(&[]));
    }
}
