//! The `danna-sep` command line: offline separation of audio files through the same engine the
//! plugin runs (`engine::offline`), streaming from and to disk so memory stays bounded.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::offline::separate_stream;
use crate::engine::{LatencyBudget, LatencyTier, STEM_NAMES};
use crate::params::ModelChoice;
use crate::separation::backend_factory;

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
        /// Host sample rate in Hz
        #[arg(long, default_value_t = 48_000)]
        rate: u32,
        /// Host maximum block size
        #[arg(long, default_value_t = 512)]
        block: usize,
    },
}

#[derive(Debug, clap::Args)]
struct SeparateArgs {
    /// Input WAV files
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output folder (created if missing)
    #[arg(short, long, default_value = ".")]
    out: PathBuf,
    /// Which models to run
    #[arg(long, value_enum, default_value_t = ModelArg::Full)]
    model: ModelArg,
    /// Window geometry (the offline result does not depend on timing, only on the windows)
    #[arg(long, value_enum, default_value_t = TierArg::Studio)]
    tier: TierArg,
    /// Sample format of the written stems
    #[arg(long, value_enum, default_value_t = BitDepth::F32)]
    bit_depth: BitDepth,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModelArg {
    Full,
    Fast,
    Xumx,
    Unet,
    Demucs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TierArg {
    Live,
    Balanced,
    Studio,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BitDepth {
    #[value(name = "16")]
    I16,
    #[value(name = "24")]
    I24,
    #[value(name = "32f")]
    F32,
}

impl From<ModelArg> for ModelChoice {
    fn from(m: ModelArg) -> Self {
        match m {
            ModelArg::Full => ModelChoice::Full,
            ModelArg::Fast => ModelChoice::Fast,
            ModelArg::Xumx => ModelChoice::XUmx,
            ModelArg::Unet => ModelChoice::UNet,
            ModelArg::Demucs => ModelChoice::Demucs,
        }
    }
}

impl From<TierArg> for LatencyTier {
    fn from(t: TierArg) -> Self {
        match t {
            TierArg::Live => LatencyTier::Live,
            TierArg::Balanced => LatencyTier::Balanced,
            TierArg::Studio => LatencyTier::Studio,
        }
    }
}

/// Runs the command line; the error is one line for the user.
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Separate(args) => {
            std::fs::create_dir_all(&args.out)
                .map_err(|e| format!("{}: {e}", args.out.display()))?;
            for input in &args.inputs {
                separate_file(input, &args)?;
            }
            Ok(())
        }
        Command::Latency { rate, block } => {
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

/// Sequential sample source over a WAV file, converting every format to f32.
struct WavSource {
    samples: Box<dyn Iterator<Item = Result<f32, hound::Error>>>,
    channels: usize,
}

impl WavSource {
    fn open(path: &Path) -> Result<(Self, hound::WavSpec, usize), String> {
        let reader = hound::WavReader::open(path)
            .map_err(|e| format!("{}: not a readable WAV file ({e})", path.display()))?;
        let spec = reader.spec();
        let frames = reader.duration() as usize;
        let channels = spec.channels as usize;
        let samples: Box<dyn Iterator<Item = Result<f32, hound::Error>>> = match spec.sample_format
        {
            hound::SampleFormat::Float => Box::new(reader.into_samples::<f32>()),
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
                Box::new(
                    reader
                        .into_samples::<i32>()
                        .map(move |s| s.map(|v| v as f32 * scale)),
                )
            }
        };
        Ok((Self { samples, channels }, spec, frames))
    }

    /// Reads frames into `left`/`right` (mono duplicates, channels beyond two are dropped).
    fn read(&mut self, left: &mut [f32], right: &mut [f32]) -> Result<(), hound::Error> {
        for (l, r) in left.iter_mut().zip(right.iter_mut()) {
            let mut frame = [0.0f32; 2];
            for ch in 0..self.channels {
                let v = self.samples.next().unwrap_or(Ok(0.0))?;
                if let Some(slot) = frame.get_mut(ch) {
                    *slot = v;
                }
            }
            *l = frame[0];
            *r = if self.channels == 1 {
                frame[0]
            } else {
                frame[1]
            };
        }
        Ok(())
    }
}

fn separate_file(input: &Path, args: &SeparateArgs) -> Result<(), String> {
    let (mut source, spec, frames) = WavSource::open(input)?;
    if frames == 0 {
        return Err(format!("{}: contains no audio", input.display()));
    }
    let out_channels = spec.channels.min(2);
    let (bits, format) = match args.bit_depth {
        BitDepth::I16 => (16, hound::SampleFormat::Int),
        BitDepth::I24 => (24, hound::SampleFormat::Int),
        BitDepth::F32 => (32, hound::SampleFormat::Float),
    };
    let out_spec = hound::WavSpec {
        channels: out_channels,
        sample_rate: spec.sample_rate,
        bits_per_sample: bits,
        sample_format: format,
    };
    let stem_base = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let paths: Vec<PathBuf> = STEM_NAMES
        .iter()
        .map(|n| args.out.join(format!("{stem_base}_{n}.wav")))
        .collect();
    let mut writers = paths
        .iter()
        .map(|p| hound::WavWriter::create(p, out_spec).map_err(|e| format!("{}: {e}", p.display())))
        .collect::<Result<Vec<_>, _>>()?;
    let budget = LatencyBudget::new(args.tier.into(), spec.sample_rate, 4096);
    let bar = ProgressBar::new(frames as u64).with_message(input.display().to_string());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {percent}% {elapsed}/{eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    let mut read_error: Option<String> = None;
    let mut write_error: Option<String> = None;
    let report = separate_stream(
        budget,
        backend_factory(args.model.into()),
        frames,
        |_, l, r| {
            if let Err(e) = source.read(l, r) {
                read_error.get_or_insert_with(|| format!("{}: {e}", input.display()));
            }
        },
        |_, stems| {
            let n = stems[0].len();
            for (s, w) in writers.iter_mut().enumerate() {
                let (l, r) = (stems[2 * s], stems[2 * s + 1]);
                for i in 0..n {
                    let frame = [l[i], r[i]];
                    let values: &[f32] = if out_channels == 1 {
                        &[0.5 * (frame[0] + frame[1])]
                    } else {
                        &frame
                    };
                    for &v in values {
                        let res = match format {
                            hound::SampleFormat::Float => w.write_sample(v),
                            hound::SampleFormat::Int => {
                                let max = ((1i64 << (bits - 1)) - 1) as f32;
                                w.write_sample((v.clamp(-1.0, 1.0) * max).round() as i32)
                            }
                        };
                        if let Err(e) = res {
                            write_error.get_or_insert_with(|| format!("writing stems: {e}"));
                        }
                    }
                }
            }
            bar.inc(n as u64);
        },
    )?;
    bar.finish_and_clear();
    if let Some(e) = read_error.or(write_error) {
        return Err(e);
    }
    for (w, p) in writers.into_iter().zip(&paths) {
        w.finalize().map_err(|e| format!("{}: {e}", p.display()))?;
    }
    eprintln!(
        "{}: {} frames -> {} ({})",
        input.display(),
        report.frames,
        args.out.display(),
        report.backend
    );
    Ok(())
}
