//! `cargo xtask models eval`: SDR of a model set on a MUSDB18-HQ-style split, measured through
//! the Rust CLI (`danna-sep separate`, the path users get), per stem, for each single model,
//! the fast blend and the full ensemble, next to the trivial estimate (mixture / 4). With
//! `--tiers` it measures what streaming costs instead: each tier's SDR minus the whole track's.
//!
//! SDR is the MDX definition: `10·log10(Σ s² / Σ (s − ŝ)²)` over the whole track (both
//! channels), averaged over the tracks where the stem plays ([`SILENT_POWER`]). With
//! `--tune-blend` the blend weights are first fitted per stem on the `valid` split (a grid
//! over the simplex, step 0.05, maximising the mean SDR; the blend is linear in the models'
//! outputs, so blending the single-model outputs is the blend the engine computes) and
//! written into the model set's `manifest.toml`. When a Spleeter vocal set is beside the model
//! set (or at `DANNA_SEP_SPLEETER`), the Full + Spleeter choice's `[blend.vocal]` is then
//! fitted the same way, per stem, between the (newly weighted) full ensemble and the Karaoke
//! path, both run through the CLI with the new weights.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

use crate::process;

/// Stem names in the engine's order.
pub const STEMS: [&str; 4] = ["drums", "bass", "other", "vocals"];
/// Modes evaluated by default: each model alone, then the blends.
const DEFAULT_MODES: &str = "xumx,unet,demucs,fast,full";
/// Modes that run only when asked for: `karaoke`, the Spleeter vocals with the accompaniment
/// split by the full ensemble, and `full-spleeter`, that blended with the full ensemble (need
/// `models/spleeter-2stems` beside the set or `DANNA_SEP_SPLEETER`).
const EXTRA_MODES: &str = "karaoke,full-spleeter";
/// Every mode in table order.
const TABLE_ORDER: [&str; 8] = [
    "mix/4",
    "xumx",
    "unet",
    "demucs",
    "fast",
    "full",
    "karaoke",
    "full-spleeter",
];
const README_BEGIN: &str = "<!-- eval:begin -->";
const README_END: &str = "<!-- eval:end -->";
/// Markers of the `--tiers` table (streaming's SDR cost per tier).
const TIER_COST_MARKERS: (&str, &str) = ("<!-- tier-cost:begin -->", "<!-- tier-cost:end -->");

const USAGE: &str = "\
Usage: cargo xtask models eval --models DIR --data DIR [--split test] [--modes LIST]
                               [--tier whole|live|balanced|studio|offline] [--tiers LIST]
                               [--max-tracks N]
                               [--runtime auto|onnxruntime|openvino]
                               [--precision float32|int8|bf16]
                               [--tune-blend | --tune-vocal-blend] [--readme] [--cli PATH]

  --models DIR      model set (manifest.toml + ONNX files)
  --data DIR        MUSDB18-HQ-style folder: <split>/<track>/{mixture,drums,bass,other,vocals}.wav
  --split NAME      split to evaluate (default test)
  --modes LIST      comma-separated from xumx,unet,demucs,fast,full (default: all) and
                    karaoke (Spleeter vocals + the full ensemble's drums/bass/other),
                    full-spleeter (that and the full ensemble blended per stem)
  --tier NAME       the CLI's window geometry (default studio, the CLI's default); `whole`
                    is the whole track as one window, the reference the tiers' cost is
                    measured against
  --tiers LIST      the SDR cost of streaming: each mode (default full) through each of the
                    comma-separated tiers, against the whole track as one window, per stem
                    (with --readme: into README.md between the tier-cost markers)
  --runtime NAME    the CLI's inference runtime (default: the CLI's, auto)
  --precision NAME  the CLI's arithmetic (default float32): the lossy options' SDR cost
  --max-tracks N    evaluate only the first N tracks (sorted by name)
  --tune-blend      fit the full and fast blend weights on the `valid` split first and write
                    them into the manifest (and [blend.vocal] when a Spleeter set is found)
  --tune-vocal-blend
                    fit only [blend.vocal] (the full blend as the manifest has it)
  --readme          write the table into README.md between the eval markers
  --cli PATH        danna-sep binary to use (default: build target/release/danna-sep)";

/// Parsed arguments.
#[derive(Debug, Clone)]
pub struct EvalArgs {
    pub models: PathBuf,
    pub data: PathBuf,
    pub split: String,
    pub modes: Vec<String>,
    pub tier: String,
    /// `--tiers`: tiers whose SDR cost against `whole` is tabulated (empty: not asked for).
    pub tiers: Vec<String>,
    /// `--runtime` for the CLI, when given.
    pub runtime: Option<String>,
    /// `--precision` for the CLI, when given.
    pub precision: Option<String>,
    pub max_tracks: Option<usize>,
    pub tune_blend: bool,
    pub tune_vocal_blend: bool,
    pub readme: bool,
    pub cli: Option<PathBuf>,
}

impl EvalArgs {
    /// The runtime and precision given to the CLI, as the table's caption names them
    /// (empty where the CLI's defaults ran).
    fn cli_choices(&self) -> String {
        let given = [("runtime", &self.runtime), ("precision", &self.precision)];
        given
            .iter()
            .filter_map(|(name, v)| v.as_ref().map(|v| format!(", {name} {v}")))
            .collect()
    }

    fn parse(args: &[String], cwd: &Path) -> Result<Self> {
        let mut out = EvalArgs {
            models: PathBuf::new(),
            data: PathBuf::new(),
            split: "test".into(),
            modes: DEFAULT_MODES.split(',').map(String::from).collect(),
            tier: "studio".into(),
            tiers: Vec::new(),
            runtime: None,
            precision: None,
            max_tracks: None,
            tune_blend: false,
            tune_vocal_blend: false,
            readme: false,
            cli: None,
        };
        let mut modes_given = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .with_context(|| format!("{a} needs a value\n\n{USAGE}"))
            };
            match a.as_str() {
                "--models" => out.models = cwd.join(value()?),
                "--data" => out.data = cwd.join(value()?),
                "--split" => out.split = value()?,
                "--modes" => {
                    out.modes = value()?.split(',').map(String::from).collect();
                    modes_given = true;
                }
                "--tier" => out.tier = value()?,
                "--tiers" => {
                    out.tiers = value()?.split(',').map(String::from).collect();
                    if !modes_given {
                        out.modes = vec!["full".into()];
                    }
                }
                "--runtime" => out.runtime = Some(value()?),
                "--precision" => out.precision = Some(value()?),
                "--max-tracks" => out.max_tracks = Some(value()?.parse()?),
                "--tune-blend" => out.tune_blend = true,
                "--tune-vocal-blend" => out.tune_vocal_blend = true,
                "--readme" => out.readme = true,
                "--cli" => out.cli = Some(cwd.join(value()?)),
                "-h" | "--help" => bail!("{USAGE}"),
                other => bail!("unknown argument `{other}`\n\n{USAGE}"),
            }
        }
        ensure!(
            !out.models.as_os_str().is_empty() && !out.data.as_os_str().is_empty(),
            "--models and --data are required\n\n{USAGE}"
        );
        for m in &out.modes {
            ensure!(
                DEFAULT_MODES
                    .split(',')
                    .chain(EXTRA_MODES.split(','))
                    .any(|k| k == m),
                "unknown mode `{m}`"
            );
        }
        Ok(out)
    }
}

/// Entry point for `cargo xtask models eval ...`.
pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let cwd = std::env::current_dir()?;
    let args = EvalArgs::parse(args, &cwd)?;
    let cli = match &args.cli {
        Some(p) => p.clone(),
        None => build_cli(root)?,
    };
    if args.tune_blend {
        tune_blend(&cli, &args)?;
    } else if args.tune_vocal_blend {
        ensure!(
            vocal_set_beside(&args.models).is_some(),
            "--tune-vocal-blend: no Spleeter set beside {} (nor DANNA_SEP_SPLEETER)",
            args.models.display()
        );
        let tracks = tracks(&args.data, "valid", args.max_tracks)?;
        let refs = stem_references(&tracks)?;
        tune_vocal_blend(&cli, &args, &tracks, &refs)?;
    }
    if !args.tiers.is_empty() {
        let text = tier_cost(&cli, &args)?;
        println!("{text}");
        if args.readme {
            write_between(&root.join("README.md"), TIER_COST_MARKERS, &text)?;
            println!("Table written to README.md");
        }
        return Ok(());
    }
    let table = evaluate(&cli, &args)?;
    let text = table.markdown(&args);
    println!("{text}");
    if args.readme {
        write_readme(&root.join("README.md"), &text)?;
        println!("Table written to README.md");
    }
    Ok(())
}

fn build_cli(root: &Path) -> Result<PathBuf> {
    let mut cmd = process::cargo();
    cmd.args(["build", "--release", "--bin", "danna-sep"]);
    process::run(cmd, root)?;
    Ok(crate::bundle::target_dir(root).join("release/danna-sep"))
}

/// A stereo track as planar channels.
pub type Stereo = [Vec<f32>; 2];

/// Reads a WAV file (any PCM/float format) as planar stereo (mono is duplicated).
pub fn read_wav(path: &Path) -> Result<Stereo> {
    let mut r = hound::WavReader::open(path).with_context(|| format!("{}", path.display()))?;
    let spec = r.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()?
        }
    };
    let c = spec.channels as usize;
    let frames = samples.len() / c;
    let ch = |k: usize| (0..frames).map(|t| samples[t * c + k.min(c - 1)]).collect();
    Ok([ch(0), ch(1)])
}

/// Mean square (both channels) below which a reference stem counts as resting for the whole
/// track: −80 dBFS, the threshold the training's validation uses (`losses.SILENT_POWER`).
pub const SILENT_POWER: f64 = 1e-8;

/// MDX SDR of an estimate against a reference over both channels, in dB; `None` when the
/// reference rests for the whole track (mean square below [`SILENT_POWER`]). Such a pair says
/// only how much leaks into a silent stem (tens of dB below zero for a good model), so it is
/// left out of the stem's mean rather than dominating it.
pub fn sdr(reference: &Stereo, estimate: &Stereo) -> Option<f64> {
    let (mut s, mut e) = (0.0f64, 0.0f64);
    let mut samples = 0usize;
    for ch in 0..2 {
        let n = reference[ch].len().min(estimate[ch].len());
        samples += reference[ch].len();
        for t in 0..reference[ch].len() {
            let r = reference[ch][t] as f64;
            let x = if t < n { estimate[ch][t] as f64 } else { 0.0 };
            s += r * r;
            e += (r - x) * (r - x);
        }
    }
    if samples == 0 || s / (samples as f64) < SILENT_POWER {
        return None;
    }
    // The MDX challenge's tiny epsilons keep a perfect estimate finite.
    Some(10.0 * ((s + 1e-8) / (e + 1e-8)).log10())
}

/// Track folders of a split, sorted by name.
pub fn tracks(data: &Path, split: &str, max: Option<usize>) -> Result<Vec<PathBuf>> {
    let dir = data.join(split);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("mixture.wav").is_file())
        .collect();
    out.sort();
    if let Some(m) = max {
        out.truncate(m);
    }
    ensure!(
        !out.is_empty(),
        "no tracks with mixture.wav in {}",
        dir.display()
    );
    Ok(out)
}

/// Runs the CLI on one track in one mode and returns its four stems.
fn separate(
    cli: &Path,
    args: &EvalArgs,
    track: &Path,
    mode: &str,
    out: &Path,
) -> Result<Vec<Stereo>> {
    separate_with(cli, args, track, mode, out, &[])
}

/// [`separate`] with `extra` CLI arguments.
fn separate_with(
    cli: &Path,
    args: &EvalArgs,
    track: &Path,
    mode: &str,
    out: &Path,
    extra: &[&str],
) -> Result<Vec<Stereo>> {
    std::fs::create_dir_all(out)?;
    let status = Command::new(cli)
        .args([
            "separate", "--model", mode, "--tier", &args.tier, "--models",
        ])
        .arg(&args.models)
        .args(args.runtime.iter().flat_map(|r| ["--runtime", r.as_str()]))
        .args(
            args.precision
                .iter()
                .flat_map(|p| ["--precision", p.as_str()]),
        )
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg(track.join("mixture.wav"))
        .env("INDICATIF_HIDE", "1")
        .status()
        .with_context(|| format!("running {}", cli.display()))?;
    ensure!(
        status.success(),
        "{} failed on {}",
        cli.display(),
        track.display()
    );
    STEMS
        .iter()
        .map(|s| read_wav(&out.join(format!("mixture_{s}.wav"))))
        .collect()
}

/// Per mode (and the trivial estimate), mean SDR per stem over the tracks where that stem
/// plays (NaN where it rests in every track).
#[derive(Debug, Default)]
pub struct Table {
    pub rows: BTreeMap<String, [f64; 4]>,
    pub tracks: usize,
    pub seconds: f64,
    /// Per stem, the tracks left out of its mean because the stem rests for the whole track.
    pub resting: [usize; 4],
}

impl Table {
    /// Mean over the stems of a row (over those that play somewhere, if one never does).
    pub fn average(&self, mode: &str) -> f64 {
        let played: Vec<f64> = self.rows[mode]
            .iter()
            .copied()
            .filter(|v| !v.is_nan())
            .collect();
        played.iter().sum::<f64>() / played.len() as f64
    }

    /// The table's note on stems left out, empty when every stem plays in every track.
    fn resting_note(&self) -> String {
        let left_out: Vec<String> = STEMS
            .iter()
            .zip(self.resting)
            .filter(|&(_, n)| n > 0)
            .map(|(stem, n)| format!("{stem} in {n}"))
            .collect();
        if left_out.is_empty() {
            String::new()
        } else {
            format!(
                "; left out where the stem rests for the whole track: {}",
                left_out.join(", ")
            )
        }
    }

    /// The table as Markdown, rows in a fixed order.
    pub fn markdown(&self, args: &EvalArgs) -> String {
        fn label(m: &str) -> &str {
            match m {
                "mix/4" => "mixture / 4 (trivial)",
                "xumx" => "X-UMX",
                "unet" => "U-Net",
                "demucs" => "DemucsSplit",
                "fast" => "fast blend (U-Net + Demucs)",
                "full" => "full ensemble",
                "karaoke" => "Karaoke (Spleeter 2stems vocals, ensemble split)",
                "full-spleeter" => "full + Spleeter (tuned blend)",
                other => other,
            }
        }
        let mut s = format!(
            "SDR in dB (MDX definition, mean over {} tracks, {:.0} s of audio; split `{}` of `{}`; \
             model set `{}`; CLI tier {}{}{}):\n\n| model | drums | bass | other | vocals | average |\n\
             |---|---|---|---|---|---|\n",
            self.tracks,
            self.seconds,
            args.split,
            args.data.file_name().unwrap_or_default().to_string_lossy(),
            args.models.file_name().unwrap_or_default().to_string_lossy(),
            args.tier,
            args.cli_choices(),
            self.resting_note()
        );
        // A stem that rests in every track has no SDR.
        let cell = |v: f64| {
            if v.is_nan() {
                "–".to_string()
            } else {
                format!("{v:.2}")
            }
        };
        for m in TABLE_ORDER {
            if let Some(r) = self.rows.get(m) {
                s += &format!(
                    "| {} | {} | {} | {} | {} | {} |\n",
                    label(m),
                    cell(r[0]),
                    cell(r[1]),
                    cell(r[2]),
                    cell(r[3]),
                    cell(self.average(m))
                );
            }
        }
        s
    }
}

fn evaluate(cli: &Path, args: &EvalArgs) -> Result<Table> {
    let tracks = tracks(&args.data, &args.split, args.max_tracks)?;
    let tmp = std::env::temp_dir().join(format!("danna-sep-eval-{}", std::process::id()));
    let mut sums: BTreeMap<String, [f64; 4]> = BTreeMap::new();
    let mut resting = [0usize; 4];
    let mut seconds = 0.0;
    for (i, track) in tracks.iter().enumerate() {
        let name = track.file_name().unwrap_or_default().to_string_lossy();
        let refs: Vec<Stereo> = STEMS
            .iter()
            .map(|s| read_wav(&track.join(format!("{s}.wav"))))
            .collect::<Result<_>>()?;
        let mix = read_wav(&track.join("mixture.wav"))?;
        seconds += mix[0].len() as f64 / 44_100.0;
        let quarter: Stereo = [0, 1].map(|c| mix[c].iter().map(|x| 0.25 * x).collect());
        let row = sums.entry("mix/4".into()).or_default();
        for (s, r) in refs.iter().enumerate() {
            match sdr(r, &quarter) {
                Some(v) => row[s] += v,
                None => resting[s] += 1,
            }
        }
        for mode in &args.modes {
            let est = separate(cli, args, track, mode, &tmp.join(mode).join(&*name))?;
            let row = sums.entry(mode.clone()).or_default();
            for s in 0..4 {
                row[s] += sdr(&refs[s], &est[s]).unwrap_or(0.0);
            }
        }
        eprintln!("[{}/{}] {name}", i + 1, tracks.len());
    }
    let _ = std::fs::remove_dir_all(&tmp);
    // 0 / 0 = NaN for a stem that rests in every track.
    let played: [f64; 4] = resting.map(|r| (tracks.len() - r) as f64);
    Ok(Table {
        rows: sums
            .into_iter()
            .map(|(k, v)| (k, std::array::from_fn(|s| v[s] / played[s])))
            .collect(),
        tracks: tracks.len(),
        seconds,
        resting,
    })
}

/// The weights (on a 0.05 grid, summing to 1) of `estimates` (per model, per track) that
/// maximise the mean SDR of one stem over the tracks where it plays (equal weights, score
/// −∞, when it rests in all of them).
pub fn best_weights(refs: &[Stereo], estimates: &[Vec<Stereo>]) -> (Vec<f64>, f64) {
    let models = estimates.len();
    let steps = 20usize;
    let mut best = (vec![1.0 / models as f64; models], f64::NEG_INFINITY);
    let mut w = vec![0usize; models];
    // Enumerate compositions of `steps` into `models` parts.
    fn rec(k: usize, left: usize, w: &mut Vec<usize>, f: &mut dyn FnMut(&[usize])) {
        if k + 1 == w.len() {
            w[k] = left;
            f(w);
            return;
        }
        for v in 0..=left {
            w[k] = v;
            rec(k + 1, left - v, w, f);
        }
    }
    rec(0, steps, &mut w, &mut |w| {
        let weights: Vec<f64> = w.iter().map(|&v| v as f64 / steps as f64).collect();
        let (mut total, mut played) = (0.0, 0usize);
        for (t, r) in refs.iter().enumerate() {
            let blend: Stereo = [0, 1].map(|c| {
                (0..r[c].len())
                    .map(|i| {
                        weights
                            .iter()
                            .zip(estimates)
                            .map(|(&wt, e)| wt as f32 * e[t][c].get(i).copied().unwrap_or(0.0))
                            .sum()
                    })
                    .collect()
            });
            if let Some(v) = sdr(r, &blend) {
                total += v;
                played += 1;
            }
        }
        let mean = total / played as f64;
        if mean > best.1 {
            best = (weights, mean);
        }
    });
    best
}

fn tune_blend(cli: &Path, args: &EvalArgs) -> Result<()> {
    let tracks = tracks(&args.data, "valid", args.max_tracks)?;
    let tmp = std::env::temp_dir().join(format!("danna-sep-tune-{}", std::process::id()));
    let manifest_path = args.models.join("manifest.toml");
    let text = std::fs::read_to_string(&manifest_path)?;
    let mut doc: toml::Table = toml::from_str(&text)?;
    let refs = stem_references(&tracks)?;
    let mut est: BTreeMap<String, Vec<Vec<Stereo>>> = BTreeMap::new();
    for model in ["unet", "demucs", "xumx"] {
        est.insert(model.into(), vec![Vec::new(); 4]);
    }
    for track in &tracks {
        let name = track.file_name().unwrap_or_default().to_string_lossy();
        for (model, per_stem) in est.iter_mut() {
            let out = separate(cli, args, track, model, &tmp.join(model).join(&*name))?;
            for (s, e) in out.into_iter().enumerate() {
                per_stem[s].push(e);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    for (mode, order) in [
        ("full", vec!["unet", "demucs", "xumx"]),
        ("fast", vec!["unet", "demucs"]),
    ] {
        let mut weights: BTreeMap<&str, Vec<f64>> =
            order.iter().map(|m| (*m, vec![0.0; 4])).collect();
        for s in 0..4 {
            let per_model: Vec<Vec<Stereo>> = order.iter().map(|m| est[*m][s].clone()).collect();
            let (w, score) = best_weights(&refs[s], &per_model);
            eprintln!(
                "{mode} {}: weights {order:?} = {w:?}, valid SDR {score:.2} dB",
                STEMS[s]
            );
            for (m, v) in order.iter().zip(w) {
                weights.get_mut(m).expect("model")[s] = v;
            }
        }
        let table = doc
            .get_mut("blend")
            .and_then(|b| b.get_mut(mode))
            .and_then(|b| b.as_table_mut())
            .with_context(|| format!("manifest has no [blend.{mode}]"))?;
        let mut w = toml::Table::new();
        for (m, v) in weights {
            w.insert(
                m.into(),
                toml::Value::Array(v.into_iter().map(toml::Value::Float).collect()),
            );
        }
        table.insert("weights".into(), toml::Value::Table(w));
    }
    // Say where the weights come from (the blend tables themselves take no extra keys).
    let note = format!(
        "full and fast weights fitted per stem on the `valid` split of {} ({} tracks, 0.05 grid, \
         mean SDR) by `cargo xtask models eval --tune-blend`",
        args.data.file_name().unwrap_or_default().to_string_lossy(),
        tracks.len()
    );
    doc.get_mut("provenance")
        .and_then(|p| p.as_table_mut())
        .context("manifest has no [provenance]")?
        .insert("blend_tuning".into(), toml::Value::String(note));
    std::fs::write(&manifest_path, toml::to_string(&doc)?)?;
    eprintln!("Blend weights written to {}", manifest_path.display());
    match vocal_set_beside(&args.models) {
        Some(_) => tune_vocal_blend(cli, args, &tracks, &refs),
        None => {
            eprintln!(
                "No Spleeter set beside {} (nor DANNA_SEP_SPLEETER): [blend.vocal] not tuned",
                args.models.display()
            );
            Ok(())
        }
    }
}

/// The reference stems of `tracks`, `[stem][track]`.
fn stem_references(tracks: &[PathBuf]) -> Result<Vec<Vec<Stereo>>> {
    STEMS
        .iter()
        .map(|stem| {
            tracks
                .iter()
                .map(|t| read_wav(&t.join(format!("{stem}.wav"))))
                .collect()
        })
        .collect()
}

/// The Spleeter vocal set the CLI would use for `models`: `DANNA_SEP_SPLEETER`, else
/// `spleeter-2stems` beside it (the layout `cargo xtask setup` makes under `models/`).
fn vocal_set_beside(models: &Path) -> Option<PathBuf> {
    std::env::var_os("DANNA_SEP_SPLEETER")
        .map(PathBuf::from)
        .or_else(|| models.parent().map(|p| p.join("spleeter-2stems")))
        .filter(|d| d.join("manifest.toml").is_file())
}

/// Fits `[blend.vocal]`: per stem, the Karaoke path's share against the full ensemble (both
/// through the CLI with the manifest's current full weights, nulling off so the blend is the
/// engine's), and writes it into the manifest.
fn tune_vocal_blend(
    cli: &Path,
    args: &EvalArgs,
    tracks: &[PathBuf],
    refs: &[Vec<Stereo>],
) -> Result<()> {
    let tmp = std::env::temp_dir().join(format!("danna-sep-tune-vocal-{}", std::process::id()));
    let mut est: Vec<Vec<Vec<Stereo>>> = vec![vec![Vec::new(); 4]; 2];
    for track in tracks {
        let name = track.file_name().unwrap_or_default().to_string_lossy();
        for (k, mode) in ["full", "karaoke"].iter().enumerate() {
            let out = tmp.join(mode).join(&*name);
            let stems = separate_with(cli, args, track, mode, &out, &["--null-stems", "off"])?;
            for (s, e) in stems.into_iter().enumerate() {
                est[k][s].push(e);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    let mut weights = Vec::with_capacity(4);
    for s in 0..4 {
        let pair = vec![est[0][s].clone(), est[1][s].clone()];
        let (w, score) = best_weights(&refs[s], &pair);
        eprintln!(
            "full + Spleeter {}: Karaoke share {:.2}, valid SDR {score:.2} dB",
            STEMS[s], w[1]
        );
        weights.push(toml::Value::Float(w[1]));
    }
    let manifest_path = args.models.join("manifest.toml");
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(&manifest_path)?)?;
    let mut vocal = toml::Table::new();
    vocal.insert("weights".into(), toml::Value::Array(weights));
    vocal.insert(
        "tuned_on".into(),
        toml::Value::String(format!(
            "the `valid` split of {} ({} tracks, 0.05 grid, mean SDR, CLI tier {})",
            args.data.file_name().unwrap_or_default().to_string_lossy(),
            tracks.len(),
            args.tier
        )),
    );
    doc.get_mut("blend")
        .and_then(|b| b.as_table_mut())
        .context("manifest has no [blend]")?
        .insert("vocal".into(), toml::Value::Table(vocal));
    std::fs::write(&manifest_path, toml::to_string(&doc)?)?;
    eprintln!("[blend.vocal] written to {}", manifest_path.display());
    Ok(())
}

fn write_readme(path: &Path, table: &str) -> Result<()> {
    write_between(path, (README_BEGIN, README_END), table)
}

/// Replaces what lies between a pair of markers in `path` with `table`.
pub fn write_between(path: &Path, (begin, end): (&str, &str), table: &str) -> Result<()> {
    let text = std::fs::read_to_string(path)?;
    let (Some(a), Some(b)) = (text.find(begin), text.find(end)) else {
        bail!("{} has no {begin} ... {end} markers", path.display());
    };
    let new = format!("{}{begin}\n{table}{}", &text[..a], &text[b..]);
    std::fs::write(path, new)?;
    Ok(())
}

/// `--tiers`: every mode through `whole` and each tier; per stem the whole track's SDR and
/// each tier's difference to it (negative: what streaming costs).
fn tier_cost(cli: &Path, args: &EvalArgs) -> Result<String> {
    let run = |tier: &str| {
        eprintln!("tier {tier}:");
        evaluate(
            cli,
            &EvalArgs {
                tier: tier.into(),
                ..args.clone()
            },
        )
    };
    let whole = run("whole")?;
    let tiers = args
        .tiers
        .iter()
        .filter(|t| t.as_str() != "whole")
        .map(|t| Ok((t.clone(), run(t)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(tier_cost_markdown(args, &whole, &tiers))
}

/// The `--tiers` table: a `whole` row per mode with absolute SDR, then each tier's difference.
fn tier_cost_markdown(args: &EvalArgs, whole: &Table, tiers: &[(String, Table)]) -> String {
    let mut s = format!(
        "SDR cost of streaming, in dB against the whole track as one window (MDX definition, \
         mean over {} tracks, {:.0} s of audio; split `{}` of `{}`; model set `{}`{}):\n\n\
         | model | tier | drums | bass | other | vocals | average |\n|---|---|---|---|---|---|---|\n",
        whole.tracks,
        whole.seconds,
        args.split,
        args.data.file_name().unwrap_or_default().to_string_lossy(),
        args.models.file_name().unwrap_or_default().to_string_lossy(),
        args.cli_choices()
    );
    // Absolute values for the whole track, signed differences for the tiers.
    let cells = |r: [f64; 4], avg: f64, signed: bool| -> String {
        r.iter()
            .chain([&avg])
            .map(|v| {
                if signed {
                    format!(" {v:+.2} |")
                } else {
                    format!(" {v:.2} |")
                }
            })
            .collect()
    };
    for mode in &args.modes {
        let reference = whole.rows[mode];
        let whole_avg = whole.average(mode);
        s += &format!(
            "| {mode} | whole (SDR) |{}\n",
            cells(reference, whole_avg, false)
        );
        for (tier, table) in tiers {
            let d: [f64; 4] = std::array::from_fn(|k| table.rows[mode][k] - reference[k]);
            let avg = table.average(mode) - whole_avg;
            s += &format!("| {mode} | {tier} (Δ) |{}\n", cells(d, avg, true));
        }
    }
    s
}

#[cfg(test)]
// Index loops over time and stems read more clearly than iterator chains in these checks.
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    fn stereo(v: Vec<f32>) -> Stereo {
        [v.clone(), v]
    }

    #[test]
    fn sdr_is_the_mdx_definition() {
        let r = stereo(vec![1.0, -1.0, 1.0, -1.0]);
        let e = stereo(vec![0.5, -0.5, 0.5, -0.5]);
        // Σs² = 8, Σ(s−ŝ)² = 2 → 10·log10(4).
        assert!((sdr(&r, &e).unwrap() - 10.0 * 4f64.log10()).abs() < 1e-6);
        // A missing tail counts as silence.
        let short = stereo(vec![1.0, -1.0]);
        assert!((sdr(&r, &short).unwrap() - 10.0 * 2f64.log10()).abs() < 1e-6);
    }

    #[test]
    fn a_stem_that_rests_for_the_whole_track_has_no_sdr() {
        // −90 dBFS of reference: resting, whatever leaks into the estimate.
        let quiet = stereo(vec![3e-5, -3e-5, 3e-5, -3e-5]);
        assert_eq!(sdr(&quiet, &stereo(vec![0.1; 4])), None);
        assert_eq!(sdr(&stereo(vec![0.0; 4]), &stereo(vec![0.0; 4])), None);
        // −70 dBFS plays.
        let soft = stereo(vec![3e-4, -3e-4, 3e-4, -3e-4]);
        assert!(sdr(&soft, &soft).unwrap() > 0.0);
    }

    #[test]
    fn best_weights_ignore_a_track_where_the_stem_rests() {
        // Track 0: the stem plays and model a is exact. Track 1: it rests, a leaks loudly
        // into it and b is silent. Counted, track 1's ratio (−109 dB for a) would pick b.
        let r = vec![stereo(vec![1.0, -1.0, 1.0, -1.0]), stereo(vec![0.0; 4])];
        let a = vec![r[0].clone(), stereo(vec![10.0; 4])];
        let b = vec![stereo(vec![0.0; 4]), stereo(vec![0.0; 4])];
        let (w, score) = best_weights(&r, &[a, b]);
        assert_eq!(w, vec![1.0, 0.0]);
        assert!(score > 70.0, "{score}");
    }

    fn write(path: &Path, x: &Stereo) {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for t in 0..x[0].len() {
            w.write_sample(x[0][t]).unwrap();
            w.write_sample(x[1][t]).unwrap();
        }
        w.finalize().unwrap();
    }

    /// The whole eval path through the CLI on a two-track fixture, with the committed quarter
    /// model set (every stem = mixture / 4): both blends must score exactly the trivial
    /// estimate, and the stems must differ in score (the references are different signals).
    #[test]
    fn eval_through_the_cli_on_a_two_track_fixture() {
        let root = crate::project_root();
        let cli = crate::bundle::target_dir(&root).join("debug/danna-sep");
        assert!(
            cli.is_file(),
            "{} is missing: `cargo test --workspace` builds it (or `cargo build --bin danna-sep`)",
            cli.display()
        );
        let data =
            std::env::temp_dir().join(format!("danna-sep-eval-fixture-{}", std::process::id()));
        let mut seed = 1u32;
        let mut noise = |n: usize, gain: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    gain * ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
                })
                .collect()
        };
        for (k, frames) in [(1, 70_000usize), (2, 90_001)] {
            let dir = data.join("test").join(format!("track-{k}"));
            std::fs::create_dir_all(&dir).unwrap();
            let stems: Vec<Stereo> = (0..4)
                .map(|s| [noise(frames, 0.1 * (s + 1) as f32), noise(frames, 0.1)])
                .collect();
            for (s, name) in STEMS.iter().enumerate() {
                write(&dir.join(format!("{name}.wav")), &stems[s]);
            }
            let mix: Stereo = [0, 1].map(|c| {
                (0..frames)
                    .map(|t| stems.iter().map(|x| x[c][t]).sum())
                    .collect()
            });
            write(&dir.join("mixture.wav"), &mix);
        }
        let args = EvalArgs {
            models: root.join("tests/fixtures/quarter-set"),
            data: data.clone(),
            split: "test".into(),
            modes: vec!["fast".into(), "full".into()],
            tier: "live".into(),
            tiers: Vec::new(),
            // Passed through to the CLI as a user would give them.
            runtime: Some("onnxruntime".into()),
            precision: Some("float32".into()),
            max_tracks: None,
            tune_blend: false,
            tune_vocal_blend: false,
            readme: false,
            cli: Some(cli.clone()),
        };
        let table = evaluate(&cli, &args).unwrap();
        let _ = std::fs::remove_dir_all(&data);
        assert_eq!(table.tracks, 2);
        for mode in ["fast", "full"] {
            for s in 0..4 {
                let (got, want) = (table.rows[mode][s], table.rows["mix/4"][s]);
                assert!(
                    (got - want).abs() < 1e-3,
                    "{mode} {}: {got} vs {want}",
                    STEMS[s]
                );
            }
        }
        let trivial = table.rows["mix/4"];
        assert!(
            trivial[3] > trivial[0] + 3.0,
            "louder stems score higher: {trivial:?}"
        );
        let md = table.markdown(&args);
        assert!(md.contains("| full ensemble |"), "{md}");
        assert!(
            md.contains("CLI tier live, runtime onnxruntime, precision float32)"),
            "{md}"
        );
    }

    #[test]
    fn tier_cost_rows_are_differences_to_the_whole_track() {
        let table = |v: [f64; 4]| Table {
            rows: BTreeMap::from([("full".to_string(), v)]),
            tracks: 6,
            seconds: 240.0,
            resting: [0; 4],
        };
        let args = EvalArgs::parse(
            &[
                "--models",
                "m/demo",
                "--data",
                "d/synth",
                "--tiers",
                "live,balanced",
            ]
            .map(String::from),
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(
            args.modes,
            ["full"],
            "--tiers measures the full ensemble by default"
        );
        let whole = table([6.0, 5.0, 4.0, 7.0]);
        let tiers = [
            ("live".to_string(), table([6.5, 4.75, 4.0, 6.5])),
            ("balanced".to_string(), table([6.0, 5.0, 3.5, 6.9])),
        ];
        let md = tier_cost_markdown(&args, &whole, &tiers);
        assert!(
            md.contains("| full | whole (SDR) | 6.00 | 5.00 | 4.00 | 7.00 | 5.50 |"),
            "{md}"
        );
        assert!(
            md.contains("| full | live (Δ) | +0.50 | -0.25 | +0.00 | -0.50 | -0.06 |"),
            "{md}"
        );
        assert!(
            md.contains("| full | balanced (Δ) | +0.00 | +0.00 | -0.50 | -0.10 | -0.15 |"),
            "{md}"
        );
        assert!(md.contains("mean over 6 tracks, 240 s"), "{md}");
        // An explicit --modes wins over the default, in either order.
        let args = EvalArgs::parse(
            &[
                "--modes", "unet", "--models", "m", "--data", "d", "--tiers", "live",
            ]
            .map(String::from),
            Path::new("/"),
        )
        .unwrap();
        assert_eq!(args.modes, ["unet"]);
    }

    #[test]
    fn blend_tuning_finds_the_complementary_weights() {
        // The reference is 0.3·a + 0.7·b: the grid contains it exactly.
        let a: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..64).map(|i| (i as f32 * 1.13).cos()).collect();
        let r: Vec<f32> = a.iter().zip(&b).map(|(x, y)| 0.3 * x + 0.7 * y).collect();
        let (w, score) = best_weights(&[stereo(r)], &[vec![stereo(a)], vec![stereo(b)]]);
        assert!(
            (w[0] - 0.3).abs() < 1e-9 && (w[1] - 0.7).abs() < 1e-9,
            "{w:?}"
        );
        assert!(score > 60.0, "{score}");
    }

    #[test]
    fn the_table_says_which_stems_were_left_out_and_averages_the_rest() {
        let table = Table {
            rows: BTreeMap::from([("full".to_string(), [6.0, 4.0, 2.0, f64::NAN])]),
            tracks: 3,
            seconds: 120.0,
            resting: [0, 1, 0, 3],
        };
        assert_eq!(table.average("full"), 4.0);
        let args = EvalArgs::parse(
            &["--models", "m/demo", "--data", "d/synth"].map(String::from),
            Path::new("/"),
        )
        .unwrap();
        let md = table.markdown(&args);
        assert!(
            md.contains("| full ensemble | 6.00 | 4.00 | 2.00 | – | 4.00 |"),
            "{md}"
        );
        assert!(
            md.contains(
                "left out where the stem rests for the whole track: bass in 1, vocals in 3"
            ),
            "{md}"
        );
    }
}
