//! The `danna-sep` command line: offline separation of audio files through the same engine the
//! plugin runs (`engine::offline`), streaming from and to disk so memory stays bounded. Decoding,
//! writing and resampling live in [`crate::audio_file`], the checks before any work in
//! [`crate::preflight`]; this file wires them to the engine.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use danna_sep_core::config::Config;
use danna_sep_core::engine::offline::{separate_stream_with, separate_whole_with, OFFLINE_BLOCK};
use danna_sep_core::engine::{LatencyBudget, LatencyTier, OfflineError, TierSpec, MODEL_RATE};
use danna_sep_core::error::one_line;
use danna_sep_core::selection::{BackendSpec, ModelChoice, NullStems, Precision, RuntimeChoice};
use danna_sep_core::separation::ensemble_factory;
use danna_sep_core::stems::STEM_COUNT;

use crate::audio_file::{AudioFileError, AudioSource, BitDepth, StemWriter};
use crate::panics;
use crate::preflight::{check_info, check_input, check_outputs, check_rate, stem_name};

/// Command line of `danna-sep`.
#[derive(Debug, Parser)]
#[command(
    name = "danna-sep",
    version,
    about = "Music source separation: drums, bass, other, vocals"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Separate audio files into <name>_{drums,bass,other,vocals}.wav
    Separate(SeparateArgs),
    /// Print the latency of every tier at a sample rate and block size
    Latency {
        /// Host sample rate in Hz (8000 to 768000)
        #[arg(long, default_value_t = 48_000)]
        rate: u32,
        /// Host maximum block size (1 to 1048576)
        #[arg(long, default_value_t = 512)]
        block: usize,
    },
}

#[derive(Debug, clap::Args)]
struct SeparateArgs {
    /// Input files: WAV, AIFF, FLAC, MP3 or Ogg Vorbis, any sample rate, mono or stereo
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder (created if missing)
    #[arg(short, long, default_value = ".")]
    out: PathBuf,
    /// Which models to run (`karaoke`: vocals from the Spleeter 2-stem model, the rest split
    /// by the full ensemble; `full-spleeter`: that and the full ensemble blended per stem with
    /// the set's tuned weights; both run the full ensemble when no Spleeter model is
    /// provisioned)
    #[arg(long, value_enum, default_value_t = ModelArg::Full)]
    model: ModelArg,
    /// Make the four stems sum to the input exactly (the residual is shared out in proportion
    /// to the stems' magnitudes): `auto` is on for `--model karaoke` only
    #[arg(long, value_enum, default_value_t = NullArg::Auto)]
    null_stems: NullArg,
    /// Shorthand for `--model fast`
    #[arg(long, conflicts_with = "model")]
    fast: bool,
    /// Folder holding the model set to load (default: $DANNA_SEP_MODELS, else the shipped set)
    #[arg(long, value_name = "DIR")]
    models: Option<PathBuf>,
    /// Arithmetic: `float32` (exact), `int8` (int8 LSTM/MatMul weights where the model set has
    /// them) or `bf16` (bf16 arithmetic for the spectrogram models, OpenVINO on CPUs with
    /// AVX512_BF16 or AMX; float32 runs elsewhere, saying why). int8 and bf16 are faster and
    /// lossy: the README's Performance section has their cost
    #[arg(long, value_enum, default_value_t = PrecisionArg::Float32)]
    precision: PrecisionArg,
    /// Shorthand for `--precision int8`
    #[arg(long, conflicts_with_all = ["precision", "bf16"])]
    int8: bool,
    /// Shorthand for `--precision bf16`
    #[arg(long, conflicts_with = "precision")]
    bf16: bool,
    /// Inference runtime: `auto` (the faster one on this CPU: OpenVINO where the CPU has
    /// AVX-512 and OpenVINO loads, else ONNX Runtime), `onnxruntime`
    /// or `openvino`; when OpenVINO cannot be loaded ONNX Runtime runs and the status line
    /// says why
    #[arg(long, value_enum, default_value_t = RuntimeArg::Auto)]
    runtime: RuntimeArg,
    /// Window geometry: `whole` (the track as one window, like the original tool; memory grows
    /// with the track, ~0.3 GiB per second with full-size models), `offline` (12 s windows,
    /// bounded memory), `auto` (whole up to 20 s, else offline) or a plugin latency tier, to
    /// get what the plugin renders (the result depends on the windows only, not on timing)
    #[arg(long, value_enum, default_value_t = TierArg::Auto)]
    tier: TierArg,
    /// Sample format of the written stems
    #[arg(long, value_enum, default_value_t = BitDepthArg::F32)]
    bit_depth: BitDepthArg,
    /// Sample rate of the written stems: the input's, or 44.1 kHz like the original Danna-Sep
    #[arg(long, value_enum, default_value_t = RateArg::Input)]
    rate: RateArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModelArg {
    Full,
    Fast,
    Xumx,
    Unet,
    Demucs,
    Karaoke,
    FullSpleeter,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum NullArg {
    Auto,
    On,
    Off,
}

impl From<NullArg> for NullStems {
    fn from(n: NullArg) -> Self {
        match n {
            NullArg::Auto => NullStems::Auto,
            NullArg::On => NullStems::On,
            NullArg::Off => NullStems::Off,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PrecisionArg {
    Float32,
    Int8,
    Bf16,
}

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Self {
        match p {
            PrecisionArg::Float32 => Precision::Float32,
            PrecisionArg::Int8 => Precision::Int8,
            PrecisionArg::Bf16 => Precision::Bf16,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RuntimeArg {
    Auto,
    Onnxruntime,
    Openvino,
}

impl From<RuntimeArg> for RuntimeChoice {
    fn from(r: RuntimeArg) -> Self {
        match r {
            RuntimeArg::Auto => RuntimeChoice::Auto,
            RuntimeArg::Onnxruntime => RuntimeChoice::OnnxRuntime,
            RuntimeArg::Openvino => RuntimeChoice::OpenVino,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TierArg {
    Auto,
    Whole,
    Offline,
    Live,
    Balanced,
    Studio,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BitDepthArg {
    #[value(name = "16")]
    I16,
    #[value(name = "24")]
    I24,
    #[value(name = "32f")]
    F32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum RateArg {
    /// The input file's rate
    Input,
    /// 44.1 kHz
    #[value(name = "44100")]
    Hz44100,
}

impl From<ModelArg> for ModelChoice {
    fn from(m: ModelArg) -> Self {
        match m {
            ModelArg::Full => ModelChoice::Full,
            ModelArg::Fast => ModelChoice::Fast,
            ModelArg::Xumx => ModelChoice::XUmx,
            ModelArg::Unet => ModelChoice::UNet,
            ModelArg::Demucs => ModelChoice::Demucs,
            ModelArg::Karaoke => ModelChoice::Karaoke,
            ModelArg::FullSpleeter => ModelChoice::FullSpleeter,
        }
    }
}

impl From<BitDepthArg> for BitDepth {
    fn from(b: BitDepthArg) -> Self {
        match b {
            BitDepthArg::I16 => BitDepth::I16,
            BitDepthArg::I24 => BitDepth::I24,
            BitDepthArg::F32 => BitDepth::F32,
        }
    }
}

/// Longest track `--tier auto` separates as one window. The full-size U-Net's activations take
/// about 0.3 GiB per second of window, so up to here one window needs no more memory than the
/// `offline` geometry's 12 s windows (measured: 9.3 GiB whole for 20 s, 8.6 GiB streamed;
/// README, "Command line"), and it runs no overlap: 2.5× less compute on a 20 s clip.
const WHOLE_TRACK_MAX_SECONDS: f64 = 20.0;

impl TierArg {
    /// The streaming geometry for a track of `seconds`, or `None` for one whole-track window.
    fn geometry(self, seconds: f64) -> Option<TierSpec> {
        match self {
            TierArg::Auto if seconds <= WHOLE_TRACK_MAX_SECONDS => None,
            TierArg::Whole => None,
            TierArg::Auto | TierArg::Offline => Some(TierSpec::OFFLINE),
            TierArg::Live => Some(LatencyTier::Live.spec()),
            TierArg::Balanced => Some(LatencyTier::Balanced.spec()),
            TierArg::Studio => Some(LatencyTier::Studio.spec()),
        }
    }
}

/// Largest `latency --block`: a host block of 2^20 frames is already far beyond any host's.
const MAX_BLOCK: usize = 1 << 20;

/// Why the command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An argument is out of range.
    #[error("{0}")]
    Argument(String),
    /// The inputs cannot all be separated (unreadable, or two would write the same files).
    #[error("{0}")]
    Inputs(String),
    /// The output folder cannot be created.
    #[error("{path}: {source}")]
    OutputDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// One input failed.
    #[error("{}: {}", input.display(), one_line(source.as_ref()))]
    File {
        /// The input file.
        input: PathBuf,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Why one file failed.
#[derive(Debug, thiserror::Error)]
enum FileError {
    #[error(transparent)]
    Audio(#[from] AudioFileError),
    #[error(transparent)]
    Separation(#[from] OfflineError<AudioFileError>),
    /// A bug: a panic while reading, separating or writing this file.
    #[error("{0}")]
    Panic(String),
}

/// Runs the command line with the configuration read once by `main`.
pub fn run(cli: Cli, config: &Config) -> Result<(), CliError> {
    match cli.command {
        Command::Separate(args) => {
            check_outputs(&args.inputs, &args.out).map_err(CliError::Inputs)?;
            let file_error = |input: &Path, e: FileError| CliError::File {
                input: input.to_path_buf(),
                source: Box::new(e),
            };
            for input in &args.inputs {
                panics::catch(|| check_input(input, args.out_rate(), args.bit_depth.into()))
                    .map_err(FileError::Panic)
                    .and_then(|checked| checked.map_err(FileError::from))
                    .map_err(|e| file_error(input, e))?;
            }
            std::fs::create_dir_all(&args.out).map_err(|source| CliError::OutputDir {
                path: args.out.clone(),
                source,
            })?;
            for input in &args.inputs {
                panics::catch(|| separate_file(input, &args, config))
                    .map_err(FileError::Panic)
                    .and_then(|separated| separated)
                    .map_err(|e| file_error(input, e))?;
            }
            Ok(())
        }
        Command::Latency { rate, block } => {
            check_rate(rate).map_err(CliError::Argument)?;
            if !(1..=MAX_BLOCK).contains(&block) {
                return Err(CliError::Argument(format!(
                    "block size {block} is outside the supported 1 to {MAX_BLOCK}"
                )));
            }
            for tier in LatencyTier::ALL {
                let b = LatencyBudget::new(tier, rate, block);
                println!(
                    "{tier:?}: {} samples = {:.3} s at {rate} Hz, block {block}",
                    b.total(),
                    b.seconds()
                );
            }
            Ok(())
        }
    }
}

impl SeparateArgs {
    /// The rate of the written stems, `None` for the input's.
    fn out_rate(&self) -> Option<u32> {
        match self.rate {
            RateArg::Input => None,
            RateArg::Hz44100 => Some(44_100),
        }
    }
}

/// Separates one file.
fn separate_file(input: &Path, args: &SeparateArgs, config: &Config) -> Result<(), FileError> {
    let mut source = AudioSource::open(input)?;
    let info = source.info();
    // Checked up front already; again on what this open found, in case the file changed.
    check_info(&info, args.out_rate(), args.bit_depth.into())?;
    if info.channels > 2 {
        eprintln!(
            "{}: {} channels; separating the first two",
            input.display(),
            info.channels
        );
    }
    let out_rate = args.out_rate().unwrap_or(info.sample_rate);
    let mut writer = StemWriter::create(
        &args.out,
        &stem_name(input),
        info.channels.min(2),
        info.sample_rate,
        out_rate,
        args.bit_depth.into(),
        info.frames,
    )?;
    let model = if args.fast {
        ModelArg::Fast
    } else {
        args.model
    };
    let precision = if args.int8 {
        Precision::Int8
    } else if args.bf16 {
        Precision::Bf16
    } else {
        args.precision.into()
    };
    let factory = ensemble_factory(config, args.models.clone());
    let spec = BackendSpec {
        model: model.into(),
        precision,
        runtime: args.runtime.into(),
    };
    let seconds = info.frames as f64 / f64::from(info.sample_rate);
    let bar = progress_bar(info.frames, input);
    let read = |_, l: &mut [f32], r: &mut [f32]| source.read(l, r);
    let write = |_, stems: [&[f32]; STEM_COUNT * 2]| {
        writer.write(stems)?;
        bar.inc(stems[0].len() as u64);
        Ok(())
    };
    // A read or write error stops the engine at once; dropping the writer discards the partial
    // stems (on a panic too, as it unwinds).
    let geometry = args.tier.geometry(seconds);
    let report = match geometry {
        Some(tier) => separate_stream_with(
            LatencyBudget::from_spec(tier, info.sample_rate, OFFLINE_BLOCK),
            factory,
            spec,
            args.null_stems.into(),
            info.frames,
            read,
            write,
        ),
        None => separate_whole_with(
            info.sample_rate,
            factory,
            spec,
            args.null_stems.into(),
            info.frames,
            read,
            write,
        ),
    };
    bar.finish_and_clear();
    let report = report?;
    let written = writer.finish()?;
    let windows = match geometry {
        None => "the whole track as one window".to_string(),
        Some(spec) => format!(
            "{} windows of {:.1} s",
            report.windows,
            f64::from(spec.window()) / f64::from(MODEL_RATE)
        ),
    };
    eprintln!(
        "{}: {} frames -> {} frames at {out_rate} Hz in {} ({windows}; {})",
        input.display(),
        report.frames,
        written,
        args.out.display(),
        report.backend
    );
    if report.non_finite_input > 0 {
        eprintln!(
            "{}: note: {} NaN/Inf input samples were separated as silence",
            input.display(),
            report.non_finite_input
        );
    }
    Ok(())
}

/// A progress bar on stderr, hidden when stderr is not a terminal (logs, pipes, tests).
fn progress_bar(frames: usize, input: &Path) -> ProgressBar {
    let bar = ProgressBar::new(frames as u64).with_message(input.display().to_string());
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {percent}% {elapsed}/{eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar
}
