//! Model-set folders: a `manifest.toml` plus the ONNX files it names.
//!
//! Model sets are written by the Python toolchain (`cargo xtask models export` /
//! `import-danna`, see `models/README.md` for the schema). [`ModelSet::load`] reads and
//! validates a folder without touching ONNX Runtime:
//!
//! - the manifest parses and follows schema version [`SCHEMA_VERSION`] (unknown keys are
//!   rejected, so typos surface as errors);
//! - the stem order is exactly [`STEM_IDS`], for the set and for every model;
//! - every model file is named by a plain relative path (no absolute path, no `..`), exists,
//!   resolves (symlinks followed) to a file inside the folder, is non-empty and starts like an
//!   ONNX protobuf (`ModelProto`), not like a PyTorch/zip file; so does the optional int8
//!   variant (`int8_file`, written by `cargo xtask models quantize`);
//! - `sha256` and `int8_sha256`, when present, are 64 lowercase hex digits and equal the
//!   file's SHA-256, so a truncated or bit-flipped file is refused with a line naming it. The
//!   Python toolchain writes both for every file; the digests are cached in-process by path,
//!   size and modification time ([`digest`]), so loading the set again costs a `stat` per
//!   file. A file without a hash (a hand-written manifest) that does not parse fails when
//!   its session is opened, with the same kind of line naming the file;
//! - spectrogram models have a positive `n_fft`, `hop` and `max_bins <= n_fft/2 + 1`;
//! - the blend of both modes (`full`, `fast`) names existing models once each and its weights
//!   sum to 1 (within 1e-6) for every stem.
//!
//! What needs a session is checked when the ONNX Runtime session is created (the engine's
//! job, not this module's): the session's input/output names and dims are passed to
//! [`ModelSpec::check_io`], which compares them with what the manifest declares. The Python
//! toolchain already ran the ONNX checker, shape inference and an ONNX Runtime smoke test on
//! every file when it wrote the manifest.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::stems::{STEM_COUNT, STEM_IDS};

mod digest;
mod locate;
mod vocal;
pub use locate::{default_model_dirs, find_model_set, BUNDLED_DIR};
pub use vocal::{find_vocal_set, VocalSet, VOCAL_DIR, VOCAL_STEMS};

/// The manifest file name inside a model-set folder.
pub const MANIFEST_FILE: &str = "manifest.toml";
/// The manifest schema version this loader understands.
pub const SCHEMA_VERSION: u32 = 1;
/// Tolerance on "blend weights of a stem sum to 1".
pub const WEIGHT_SUM_TOLERANCE: f64 = 1e-6;

/// Why a model set could not be loaded or does not fit a session.
#[derive(Debug, thiserror::Error)]
pub enum ModelSetError {
    #[error("no model set at {dir}: {MANIFEST_FILE} not found")]
    MissingManifest { dir: PathBuf },
    #[error(
        "no model set found (looked in {}); set {} or pass a model-set folder",
        list_tried(tried),
        crate::config::ENV_MODELS
    )]
    NotFound { tried: Vec<PathBuf> },
    #[error(
        "no Spleeter 2-stem model found (looked in {}); `cargo xtask models spleeter` makes \
         one, or set {}",
        list_tried(tried),
        crate::config::ENV_SPLEETER
    )]
    NoVocalSet { tried: Vec<PathBuf> },
    #[error("model set '{set}' has no '{model}' model")]
    MissingModel { set: String, model: String },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid manifest: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("{path}: {message}")]
    Schema { path: PathBuf, message: String },
    #[error("model `{model}`: file {path} not found")]
    MissingModelFile { model: String, path: PathBuf },
    #[error("model `{model}`: {path} resolves to {resolved}, outside the model-set folder {dir}")]
    OutsideSet {
        model: String,
        path: PathBuf,
        resolved: PathBuf,
        dir: PathBuf,
    },
    #[error(
        "model `{model}`: {path} is damaged or was changed: its sha256 is {}, the manifest \
         says {}",
        short_hash(actual),
        short_hash(expected)
    )]
    ChecksumMismatch {
        model: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("model `{model}`: {path} is not an ONNX model ({reason})")]
    NotOnnx {
        model: String,
        path: PathBuf,
        reason: String,
    },
    #[error("model `{model}`: the ONNX {what} does not match the manifest: {message}")]
    IoMismatch {
        model: String,
        what: &'static str,
        message: String,
    },
}

/// The first 16 hex digits: enough to tell two hashes apart on one line.
fn short_hash(h: &str) -> String {
    format!("{}…", &h[..h.len().min(16)])
}

fn list_tried(tried: &[PathBuf]) -> String {
    let parts: Vec<String> = tried
        .iter()
        .map(|d| format!("{} (no {MANIFEST_FILE})", d.display()))
        .collect();
    parts.join(", ")
}

/// What a model consumes and produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// `|STFT|` `(B, 2, n_fft/2+1, T)` in, non-negative mask `(B, 4, 2, n_fft/2+1, T)` out.
    SpectrogramMask,
    /// Audio `(B, 2, N)` in, stems `(B, 4, 2, N')` out.
    Waveform,
    /// `|STFT|` of the first `max_bins` bins `(B, 2, max_bins, T)` in, ratio masks of the
    /// model's own stems `(B, S, 2, max_bins, T)` out that sum to 1 (Spleeter 2stems: vocals,
    /// accompaniment). Only in a two-stem set ([`VocalSet`]), never in a four-stem set.
    RatioMask,
}

/// How the output length follows from the input length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
pub enum OutputLength {
    /// Same number of frames (samples) as the input.
    Same,
    /// DemucsSplit: `e_0 = upsample*N`, `e_{l+1} = floor((e_l - kernel_size)/stride) + 1` for
    /// `depth` levels, then `N' = ((..((e_depth - 1)*stride + kernel_size)..)) / upsample`,
    /// i.e. `2048*e_6 + 2730` for the Danna-Sep values. `N - N'` is in `[0, 2047]` there.
    Demucs {
        upsample: u32,
        depth: u32,
        kernel_size: u32,
        stride: u32,
    },
}

impl OutputLength {
    /// Output length for an input of `n` frames (samples); `None` if `n` is too short.
    pub fn output_len(&self, n: usize) -> Option<usize> {
        match *self {
            OutputLength::Same => Some(n),
            OutputLength::Demucs {
                upsample,
                depth,
                kernel_size,
                stride,
            } => {
                let (k, s) = (kernel_size as usize, stride as usize);
                let mut e = n.checked_mul(upsample as usize)?;
                for _ in 0..depth {
                    e = e.checked_sub(k)? / s + 1;
                }
                let mut d = e;
                for _ in 0..depth {
                    d = (d - 1) * s + k;
                }
                Some(d / upsample as usize)
            }
        }
    }
}

/// Where the weights come from (set level).
#[derive(Debug, Clone, Deserialize)]
pub struct Provenance {
    pub origin: String,
    pub training_data: String,
    #[serde(default)]
    pub notes: Option<String>,
    /// Measured or published SDR in dB, by stem (and/or `average`), if any.
    #[serde(default)]
    pub sdr_db: Option<BTreeMap<String, f64>>,
    /// Anything else the toolchain recorded.
    #[serde(flatten)]
    pub extra: toml::Table,
}

/// One model of the set, as declared in `[models.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// File name relative to the model-set folder.
    pub file: String,
    pub kind: ModelKind,
    pub sample_rate: u32,
    /// STFT size and hop (spectrogram models; 0 for waveform models).
    pub n_fft: u32,
    pub hop: u32,
    /// Bins the network actually looks at (the mask still covers all `n_fft/2+1` bins).
    pub max_bins: u32,
    /// Minimum input length: STFT frames (spectrogram) or samples (waveform).
    pub min_frames: u32,
    /// Preferred length multiple (avoids ragged edges); any length >= `min_frames` works.
    pub frame_multiple: u32,
    /// The original recipe runs this model in independent chunks of this many frames.
    #[serde(default)]
    pub chunk_frames: Option<u32>,
    pub stems: Vec<String>,
    pub input_name: String,
    pub output_name: String,
    #[serde(default)]
    pub opset: Option<u32>,
    pub output_length: OutputLength,
    /// Architecture hyper-parameters (informational).
    #[serde(default)]
    pub config: Option<toml::Table>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// Optional int8 variant of `file` (dynamic int8 quantisation of the LSTM/MatMul weights,
    /// written by `cargo xtask models quantize`): faster and smaller, lossy. Opened instead of
    /// `file` only when the session configuration asks for int8.
    #[serde(default)]
    pub int8_file: Option<String>,
    #[serde(default)]
    pub int8_sha256: Option<String>,
    /// Per-model provenance (source file, format, ...; informational).
    #[serde(default)]
    pub provenance: Option<toml::Table>,
    /// Absolute path of `file` (filled in by the loader).
    #[serde(skip)]
    pub path: PathBuf,
    /// Absolute path of `int8_file`, if any (filled in by the loader).
    #[serde(skip)]
    pub int8_path: Option<PathBuf>,
}

impl ModelSpec {
    /// Number of STFT bins (`n_fft/2 + 1`) of a spectrogram model.
    pub fn bins(&self) -> u32 {
        self.n_fft / 2 + 1
    }

    /// Expected input dims; `None` marks a dynamic axis (batch, time).
    pub fn expected_input_dims(&self) -> Vec<Option<i64>> {
        match self.kind {
            ModelKind::SpectrogramMask => vec![None, Some(2), Some(self.bins().into()), None],
            ModelKind::Waveform => vec![None, Some(2), None],
            ModelKind::RatioMask => vec![None, Some(2), Some(self.max_bins.into()), None],
        }
    }

    /// Expected output dims; `None` marks a dynamic axis (batch, time).
    pub fn expected_output_dims(&self) -> Vec<Option<i64>> {
        let stems = STEM_COUNT as i64;
        match self.kind {
            ModelKind::SpectrogramMask => {
                vec![None, Some(stems), Some(2), Some(self.bins().into()), None]
            }
            ModelKind::Waveform => vec![None, Some(stems), Some(2), None],
            ModelKind::RatioMask => vec![
                None,
                Some(self.stems.len() as i64),
                Some(2),
                Some(self.max_bins.into()),
                None,
            ],
        }
    }

    /// Compares a session's first input and output (names and dims; a dim of `None` or a
    /// negative value is dynamic/unknown and matches anything) with the manifest. Call this
    /// when the ONNX Runtime session is created.
    pub fn check_io(
        &self,
        model: &str,
        input: (&str, &[Option<i64>]),
        output: (&str, &[Option<i64>]),
    ) -> Result<(), ModelSetError> {
        let checks = [
            ("input", &self.input_name, input, self.expected_input_dims()),
            (
                "output",
                &self.output_name,
                output,
                self.expected_output_dims(),
            ),
        ];
        for (what, name, (got_name, got_dims), expected) in checks {
            let mismatch = |message: String| ModelSetError::IoMismatch {
                model: model.to_string(),
                what,
                message,
            };
            if got_name != name.as_str() {
                return Err(mismatch(format!(
                    "name is `{got_name}`, the manifest says `{name}`"
                )));
            }
            let fits = got_dims.len() == expected.len()
                && got_dims.iter().zip(&expected).all(|(g, e)| match (g, e) {
                    (Some(g), Some(e)) => *g < 0 || g == e,
                    _ => true,
                });
            if !fits {
                return Err(mismatch(format!(
                    "dims are {}, expected {} for a {:?} model",
                    show_dims(got_dims),
                    show_dims(&expected),
                    self.kind
                )));
            }
        }
        Ok(())
    }
}

fn show_dims(dims: &[Option<i64>]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| d.map_or_else(|| "?".to_string(), |d| d.to_string()))
        .collect();
    format!("[{}]", parts.join(", "))
}

/// One blend mode: models in accumulation order and their per-stem weights.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlendMode {
    /// Accumulation order (the original accumulates in float32 in this order).
    pub order: Vec<String>,
    /// Weights per model, in [`STEM_IDS`] order.
    pub weights: BTreeMap<String, Vec<f64>>,
}

impl BlendMode {
    /// `(model, weights)` in accumulation order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, [f32; 4])> {
        self.order.iter().map(|m| {
            let w = &self.weights[m];
            (
                m.as_str(),
                [w[0] as f32, w[1] as f32, w[2] as f32, w[3] as f32],
            )
        })
    }
}

/// Blend weights of both modes, and of the vocal model's path when the set has them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blend {
    /// All models (Danna-Sep: U-Net, Demucs, X-UMX).
    pub full: BlendMode,
    /// The cheaper mode (Danna-Sep `--fast`: U-Net, Demucs).
    pub fast: BlendMode,
    /// The Full + Spleeter choice's per-stem share of the Karaoke path (optional: sets made
    /// before it, or not tuned with a vocal set, lack it).
    #[serde(default)]
    pub vocal: Option<VocalBlend>,
}

/// `[blend.vocal]`: how much of each stem the Full + Spleeter choice takes from the Karaoke
/// path (Spleeter vocals, the accompaniment split by the ensemble) rather than the full
/// ensemble, `out = (1 − w)·full + w·karaoke`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocalBlend {
    /// `w` per stem in [`STEM_IDS`] order, each in `[0, 1]`.
    pub weights: Vec<f64>,
    /// Where the weights come from (e.g. the split they were tuned on).
    #[serde(default)]
    pub tuned_on: String,
}

impl VocalBlend {
    /// The weights as `f32`, in stem order.
    pub fn stem_weights(&self) -> [f32; STEM_COUNT] {
        std::array::from_fn(|s| self.weights[s] as f32)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestToml {
    schema_version: u32,
    name: String,
    #[serde(default)]
    description: String,
    sample_rate: u32,
    stems: Vec<String>,
    provenance: Provenance,
    models: BTreeMap<String, ModelSpec>,
    blend: Blend,
}

/// Whether a model set's weights are the published release or anything else, as the editor
/// and the status line say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsKind {
    /// The published Danna-Sep release checkpoints.
    Official,
    /// Anything else: demo training runs, fine-tunes, test sets.
    Demo,
}

impl WeightsKind {
    /// Classifies a manifest's `name` and `[provenance] origin`. Only sets that say they are
    /// the official release count as official, so a demo set is never passed off as the real
    /// thing.
    pub fn classify(name: &str, origin: &str) -> Self {
        let text = format!("{name} {origin}").to_lowercase();
        let official = text.contains("official") || text.contains("release checkpoint");
        if official && !text.contains("demo") {
            WeightsKind::Official
        } else {
            WeightsKind::Demo
        }
    }

    /// `official` or `demo`.
    pub fn label(self) -> &'static str {
        match self {
            WeightsKind::Official => "official",
            WeightsKind::Demo => "demo",
        }
    }
}

/// A validated model-set folder.
#[derive(Debug, Clone)]
pub struct ModelSet {
    pub dir: PathBuf,
    pub name: String,
    pub description: String,
    pub sample_rate: u32,
    pub provenance: Provenance,
    pub models: BTreeMap<String, ModelSpec>,
    pub blend: Blend,
}

impl ModelSet {
    /// Reads and validates `dir/manifest.toml` and the files it names (see the module docs).
    pub fn load(dir: &Path) -> Result<ModelSet, ModelSetError> {
        let (path, doc) = read_manifest(dir, |d: &ManifestToml| d.schema_version)?;
        let schema = |message: String| ModelSetError::Schema {
            path: path.clone(),
            message,
        };
        check_stems(&doc.stems).map_err(|m| schema(format!("stems: {m}")))?;
        if doc.models.is_empty() {
            return Err(schema("no models".into()));
        }
        let real_dir = fs::canonicalize(dir).map_err(|source| ModelSetError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut models = doc.models;
        for (name, m) in models.iter_mut() {
            check_model(name, m, doc.sample_rate).map_err(&schema)?;
            m.path = model_path(dir, name, "file", &m.file).map_err(&schema)?;
            check_model_file(name, &m.path, &real_dir, m.sha256.as_deref())?;
            if let Some(file) = &m.int8_file {
                let path = model_path(dir, name, "int8_file", file).map_err(&schema)?;
                check_model_file(name, &path, &real_dir, m.int8_sha256.as_deref())?;
                m.int8_path = Some(path);
            }
        }
        for (mode, b) in [("full", &doc.blend.full), ("fast", &doc.blend.fast)] {
            check_blend(mode, b, &models).map_err(&schema)?;
        }
        if let Some(v) = &doc.blend.vocal {
            check_vocal_blend(v).map_err(&schema)?;
        }
        Ok(ModelSet {
            dir: dir.to_path_buf(),
            name: doc.name,
            description: doc.description,
            sample_rate: doc.sample_rate,
            provenance: doc.provenance,
            models,
            blend: doc.blend,
        })
    }

    /// Official or demo weights.
    pub fn weights_kind(&self) -> WeightsKind {
        WeightsKind::classify(&self.name, &self.provenance.origin)
    }

    /// The blend of a mode: `"full"` or `"fast"`.
    pub fn blend_mode(&self, fast: bool) -> &BlendMode {
        if fast {
            &self.blend.fast
        } else {
            &self.blend.full
        }
    }
}

/// Reads and parses `dir/manifest.toml` into `T` and checks its schema version (read from the
/// parsed document by `version`): the steps every kind of set starts with. Returns the
/// manifest's path for the errors that follow.
pub(crate) fn read_manifest<T: serde::de::DeserializeOwned>(
    dir: &Path,
    version: impl Fn(&T) -> u32,
) -> Result<(PathBuf, T), ModelSetError> {
    let path = dir.join(MANIFEST_FILE);
    if !path.is_file() {
        return Err(ModelSetError::MissingManifest {
            dir: dir.to_path_buf(),
        });
    }
    let text = fs::read_to_string(&path).map_err(|source| ModelSetError::Io {
        path: path.clone(),
        source,
    })?;
    let doc: T = toml::from_str(&text).map_err(|e| ModelSetError::Parse {
        path: path.clone(),
        source: Box::new(e),
    })?;
    let found = version(&doc);
    if found != SCHEMA_VERSION {
        return Err(ModelSetError::Schema {
            path,
            message: format!("schema_version {found} is not supported (expected {SCHEMA_VERSION})"),
        });
    }
    Ok((path, doc))
}

fn check_stems(stems: &[String]) -> Result<(), String> {
    if stems.iter().map(String::as_str).eq(STEM_IDS) {
        Ok(())
    } else {
        Err(format!("must be exactly {STEM_IDS:?}, got {stems:?}"))
    }
}

fn check_model(name: &str, m: &ModelSpec, sample_rate: u32) -> Result<(), String> {
    check_stems(&m.stems).map_err(|e| format!("models.{name}.stems {e}"))?;
    if m.kind == ModelKind::RatioMask {
        return Err(format!(
            "models.{name}: kind ratio_mask belongs in a two-stem vocal set, not a four-stem set"
        ));
    }
    check_model_common(name, m, sample_rate)
}

/// The checks every model gets, whatever its stems.
fn check_model_common(name: &str, m: &ModelSpec, sample_rate: u32) -> Result<(), String> {
    if m.sample_rate != sample_rate {
        return Err(format!(
            "models.{name}.sample_rate is {}, the set's is {sample_rate}",
            m.sample_rate
        ));
    }
    if m.min_frames == 0 || m.frame_multiple == 0 {
        return Err(format!(
            "models.{name}: min_frames and frame_multiple must be >= 1"
        ));
    }
    if matches!(m.kind, ModelKind::SpectrogramMask | ModelKind::RatioMask)
        && (m.n_fft == 0 || m.hop == 0 || m.max_bins == 0 || m.max_bins > m.bins())
    {
        return Err(format!(
            "models.{name}: a spectrogram model needs n_fft > 0, hop > 0 and \
             0 < max_bins <= n_fft/2+1 (got n_fft {}, hop {}, max_bins {})",
            m.n_fft, m.hop, m.max_bins
        ));
    }
    for (key, hash) in [("sha256", &m.sha256), ("int8_sha256", &m.int8_sha256)] {
        if let Some(h) = hash.as_deref().filter(|h| !is_sha256(h)) {
            return Err(format!(
                "models.{name}.{key} `{h}` is not a sha256 (64 lowercase hex digits)"
            ));
        }
    }
    match (&m.int8_file, &m.int8_sha256) {
        (None, Some(_)) => return Err(format!("models.{name}: int8_sha256 without int8_file")),
        (Some(f), _) if *f == m.file => {
            return Err(format!("models.{name}.int8_file must differ from file"))
        }
        _ => {}
    }
    if m.chunk_frames.is_some_and(|c| c < m.min_frames) {
        return Err(format!("models.{name}: chunk_frames is below min_frames"));
    }
    if let OutputLength::Demucs {
        upsample,
        stride,
        kernel_size,
        depth,
    } = m.output_length
    {
        if upsample == 0 || stride == 0 || kernel_size == 0 || depth > 16 {
            return Err(format!(
                "models.{name}.output_length: upsample, stride and kernel_size must be >= 1 \
                 and depth <= 16"
            ));
        }
    }
    Ok(())
}

fn is_sha256(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `file` (the value of `key`) must be a plain relative path inside the folder.
fn model_path(dir: &Path, name: &str, key: &str, file: &str) -> Result<PathBuf, String> {
    let rel = Path::new(file);
    if file.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "models.{name}.{key} `{file}` must be a relative path inside the model-set folder"
        ));
    }
    Ok(dir.join(rel))
}

/// A model file of the set in `real_dir` (canonical): inside it once symlinks are resolved,
/// plausibly ONNX, and equal to `sha256` when the manifest gives one.
fn check_model_file(
    name: &str,
    path: &Path,
    real_dir: &Path,
    sha256: Option<&str>,
) -> Result<(), ModelSetError> {
    let missing = || ModelSetError::MissingModelFile {
        model: name.to_string(),
        path: path.to_path_buf(),
    };
    let io = |source| ModelSetError::Io {
        path: path.to_path_buf(),
        source,
    };
    let resolved = match fs::canonicalize(path) {
        Ok(resolved) => resolved,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(io(e)),
    };
    if !resolved.starts_with(real_dir) {
        return Err(ModelSetError::OutsideSet {
            model: name.to_string(),
            path: path.to_path_buf(),
            resolved,
            dir: real_dir.to_path_buf(),
        });
    }
    check_onnx_file(name, path)?;
    if let Some(expected) = sha256 {
        let (actual, _) = digest::CACHE.sha256(&resolved).map_err(io)?;
        if actual != expected {
            return Err(ModelSetError::ChecksumMismatch {
                model: name.to_string(),
                path: path.to_path_buf(),
                expected: expected.to_string(),
                actual,
            });
        }
    }
    Ok(())
}

/// Exists, non-empty, and the first bytes are a plausible `ModelProto` protobuf field
/// (exporters write `ir_version`, field 1 varint, first: byte 0x08).
fn check_onnx_file(name: &str, path: &Path) -> Result<(), ModelSetError> {
    let not_onnx = |reason: &str| ModelSetError::NotOnnx {
        model: name.to_string(),
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if !path.is_file() {
        return Err(ModelSetError::MissingModelFile {
            model: name.to_string(),
            path: path.to_path_buf(),
        });
    }
    let mut head = Vec::with_capacity(16);
    fs::File::open(path)
        .and_then(|f| f.take(16).read_to_end(&mut head))
        .map_err(|source| ModelSetError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if head.is_empty() {
        return Err(not_onnx("the file is empty"));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Err(not_onnx(
            "it is a zip archive, e.g. a PyTorch/TorchScript file: convert it with \
             `cargo xtask models import-danna`",
        ));
    }
    let tag = head[0];
    let (field, wire) = (tag >> 3, tag & 7);
    // ModelProto fields are 1..=8, 14, 20, 25, 26 (single-byte tags cover 1..=15); varint or
    // length-delimited.
    if !(1..=15).contains(&field) || !(wire == 0 || wire == 2) || head.len() < 2 {
        return Err(not_onnx(&format!(
            "unexpected first byte 0x{tag:02x} for an ONNX protobuf"
        )));
    }
    Ok(())
}

fn check_blend(
    mode: &str,
    b: &BlendMode,
    models: &BTreeMap<String, ModelSpec>,
) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for m in &b.order {
        if !seen.insert(m.as_str()) {
            return Err(format!("blend.{mode}.order names `{m}` twice"));
        }
        if !models.contains_key(m) {
            return Err(format!("blend.{mode}.order: unknown model `{m}`"));
        }
        match b.weights.get(m) {
            Some(w) if w.len() == STEM_COUNT && w.iter().all(|x| x.is_finite()) => {}
            Some(w) => {
                return Err(format!(
                    "blend.{mode}.weights.{m} must be {} finite numbers, got {w:?}",
                    STEM_COUNT
                ))
            }
            None => return Err(format!("blend.{mode}.weights has no entry for `{m}`")),
        }
    }
    if let Some(extra) = b.weights.keys().find(|k| !seen.contains(k.as_str())) {
        return Err(format!(
            "blend.{mode}.weights.{extra} is not in blend.{mode}.order"
        ));
    }
    if b.order.is_empty() {
        return Err(format!("blend.{mode}.order is empty"));
    }
    for (s, stem) in STEM_IDS.iter().enumerate() {
        let sum: f64 = b.order.iter().map(|m| b.weights[m][s]).sum();
        if (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
            return Err(format!(
                "blend.{mode}: the weights of stem `{stem}` sum to {sum}, expected 1"
            ));
        }
    }
    Ok(())
}

fn check_vocal_blend(v: &VocalBlend) -> Result<(), String> {
    if v.weights.len() != STEM_COUNT || !v.weights.iter().all(|w| (0.0..=1.0).contains(w)) {
        return Err(format!(
            "blend.vocal.weights must be {STEM_COUNT} numbers in [0, 1], got {:?}",
            v.weights
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_official_only_when_the_manifest_says_so() {
        let origin =
            "Danna-Sep v1.0.2 release checkpoints (github.com/yoyololicon/danna-sep), imported";
        assert_eq!(
            WeightsKind::classify("danna-sep", origin),
            WeightsKind::Official
        );
        assert_eq!(
            WeightsKind::classify("danna-sep-demo", "trained by `cargo xtask models train`"),
            WeightsKind::Demo
        );
        assert_eq!(
            WeightsKind::classify("demo", "official recipe, demo training run"),
            WeightsKind::Demo
        );
    }
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A temporary model-set folder, removed on drop.
    struct TempSet(PathBuf);

    impl TempSet {
        fn new(manifest: &str) -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "danna-modelset-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&dir).unwrap();
            // plausible ModelProto start: ir_version = 8, then producer_name
            for f in ["xumx.onnx", "unet.onnx", "demucs.onnx"] {
                fs::write(dir.join(f), b"\x08\x08\x12\x07pytorch").unwrap();
            }
            fs::write(dir.join(MANIFEST_FILE), manifest).unwrap();
            TempSet(dir)
        }
    }

    impl Drop for TempSet {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const MODEL_XUMX: &str = r#"
[models.xumx]
file = "xumx.onnx"
kind = "spectrogram_mask"
sample_rate = 44100
n_fft = 4096
hop = 1024
max_bins = 1487
min_frames = 1
frame_multiple = 1
stems = ["drums", "bass", "other", "vocals"]
input_name = "mag"
output_name = "mask"
opset = 17
config = { hidden_channels = 512 }
[models.xumx.output_length]
rule = "same"
"#;

    const MODEL_UNET: &str = r#"
[models.unet]
file = "unet.onnx"
kind = "spectrogram_mask"
sample_rate = 44100
n_fft = 4096
hop = 1024
max_bins = 1487
min_frames = 64
frame_multiple = 64
chunk_frames = 2584
stems = ["drums", "bass", "other", "vocals"]
input_name = "mag"
output_name = "mask"
[models.unet.output_length]
rule = "same"
[models.unet.provenance]
source_file = "unet_attention.pth"
format = "torchscript"
"#;

    const MODEL_DEMUCS: &str = r#"
[models.demucs]
file = "demucs.onnx"
kind = "waveform"
sample_rate = 44100
n_fft = 0
hop = 0
max_bins = 0
min_frames = 4778
frame_multiple = 1
stems = ["drums", "bass", "other", "vocals"]
input_name = "audio"
output_name = "stems"
[models.demucs.output_length]
rule = "demucs"
upsample = 2
depth = 6
kernel_size = 8
stride = 4
"#;

    const BLEND: &str = r#"
[blend.full]
order = ["unet", "demucs", "xumx"]
[blend.full.weights]
unet = [0.2, 0.17, 0.5, 0.4]
demucs = [0.6, 0.73, 0.5, 0.4]
xumx = [0.2, 0.1, 0.0, 0.2]
[blend.fast]
order = ["unet", "demucs"]
[blend.fast.weights]
unet = [0.4, 0.27, 0.5, 0.6]
demucs = [0.6, 0.73, 0.5, 0.4]
"#;

    fn manifest() -> String {
        format!(
            r#"schema_version = 1
name = "test"
description = "unit test"
sample_rate = 44100
stems = ["drums", "bass", "other", "vocals"]
[provenance]
origin = "random"
training_data = "none"
[provenance.sdr_db]
average = 6.77
{MODEL_XUMX}{MODEL_UNET}{MODEL_DEMUCS}{BLEND}"#
        )
    }

    fn load_with(manifest: &str) -> Result<ModelSet, ModelSetError> {
        let t = TempSet::new(manifest);
        ModelSet::load(&t.0)
    }

    fn schema_err(manifest: &str) -> String {
        match load_with(manifest) {
            Err(ModelSetError::Schema { message, .. }) => message,
            other => panic!("expected a schema error, got {other:?}"),
        }
    }

    #[test]
    fn loads_a_valid_set() {
        let t = TempSet::new(&manifest());
        let set = ModelSet::load(&t.0).unwrap();
        assert_eq!(set.name, "test");
        assert_eq!(set.models.len(), 3);
        let unet = &set.models["unet"];
        assert_eq!(unet.kind, ModelKind::SpectrogramMask);
        assert_eq!((unet.min_frames, unet.chunk_frames), (64, Some(2584)));
        assert_eq!(unet.path, t.0.join("unet.onnx"));
        assert_eq!(set.models["demucs"].kind, ModelKind::Waveform);
        assert_eq!(set.provenance.sdr_db.as_ref().unwrap()["average"], 6.77);
        let full: Vec<_> = set.blend_mode(false).iter().collect();
        assert_eq!(full[0], ("unet", [0.2, 0.17, 0.5, 0.4]));
        assert_eq!(full.len(), 3);
        assert_eq!(set.blend_mode(true).order, ["unet", "demucs"]);
    }

    /// The manifest the Python writer produces for the Danna-Sep import (kept current by
    /// `models/tests/test_manifest_fixture.py`): the cross-language contract.
    #[test]
    fn loads_the_python_written_fixture() {
        let t = TempSet::new(include_str!(
            "../../../../models/tests/fixtures/manifest_v1.toml"
        ));
        let set = ModelSet::load(&t.0).unwrap();
        assert_eq!(set.name, "danna-sep");
        assert_eq!(set.models["unet"].chunk_frames, Some(2584));
        assert_eq!(set.models["demucs"].min_frames, 4778);
        assert_eq!(set.models["xumx"].max_bins, 1487);
        assert_eq!(
            set.models["demucs"].output_length.output_len(44_100),
            Some(2048 * 20 + 2730)
        );
        let fast: Vec<_> = set.blend_mode(true).iter().map(|(m, _)| m).collect();
        assert_eq!(fast, ["unet", "demucs"]);
    }

    #[test]
    fn demucs_output_length_rule() {
        let rule = OutputLength::Demucs {
            upsample: 2,
            depth: 6,
            kernel_size: 8,
            stride: 4,
        };
        assert_eq!(rule.output_len(4777), None);
        assert_eq!(rule.output_len(4778), Some(2048 + 2730));
        assert_eq!(rule.output_len(6000), Some(4778));
        for n in [4778usize, 10_000, 44_100, 441_000, 1_000_003] {
            let out = rule.output_len(n).unwrap();
            assert!(out <= n && n - out <= 2047, "{n} -> {out}");
            assert_eq!((out - 2730) % 2048, 0);
        }
        assert_eq!(OutputLength::Same.output_len(7), Some(7));
    }

    #[test]
    fn missing_manifest() {
        let dir = std::env::temp_dir().join("danna-modelset-does-not-exist");
        assert!(matches!(
            ModelSet::load(&dir),
            Err(ModelSetError::MissingManifest { .. })
        ));
    }

    #[test]
    fn invalid_toml_and_unknown_keys() {
        assert!(matches!(
            load_with("schema_version = ["),
            Err(ModelSetError::Parse { .. })
        ));
        let typo = manifest().replace("min_frames = 64", "min_frame = 64");
        let err = load_with(&typo).unwrap_err().to_string();
        assert!(err.contains("min_frame"), "{err}");
        let bad_kind = manifest().replace("kind = \"waveform\"", "kind = \"magic\"");
        assert!(matches!(
            load_with(&bad_kind),
            Err(ModelSetError::Parse { .. })
        ));
    }

    #[test]
    fn schema_version_and_stems() {
        let v2 = manifest().replace("schema_version = 1", "schema_version = 2");
        assert!(schema_err(&v2).contains("schema_version 2"));
        let order = manifest().replacen(
            r#"stems = ["drums", "bass", "other", "vocals"]"#,
            r#"stems = ["bass", "drums", "other", "vocals"]"#,
            1,
        );
        assert!(schema_err(&order).starts_with("stems"));
        let model_order = manifest().replace(
            "min_frames = 4778\nframe_multiple = 1\nstems = [\"drums\", \"bass\", \"other\", \"vocals\"]",
            "min_frames = 4778\nframe_multiple = 1\nstems = [\"vocals\", \"other\", \"bass\", \"drums\"]",
        );
        assert!(schema_err(&model_order).contains("models.demucs.stems"));
    }

    #[test]
    fn the_vocal_blend_is_optional_and_its_weights_are_shares() {
        assert!(ModelSet::load(&TempSet::new(&manifest()).0)
            .unwrap()
            .blend
            .vocal
            .is_none());
        let vocal = |w: &str| {
            format!(
                "{}\n[blend.vocal]\nweights = {w}\ntuned_on = \"valid\"\n",
                manifest()
            )
        };
        let set = ModelSet::load(&TempSet::new(&vocal("[0.0, 0.25, 0.5, 1.0]")).0).unwrap();
        let v = set.blend.vocal.expect("parsed");
        assert_eq!(v.stem_weights(), [0.0, 0.25, 0.5, 1.0]);
        assert_eq!(v.tuned_on, "valid");
        for bad in [
            "[0.0, 0.25, 0.5]",
            "[0.0, 0.25, 0.5, 1.5]",
            "[0.0, -0.1, 0.5, 1.0]",
        ] {
            assert!(
                schema_err(&vocal(bad)).contains("blend.vocal.weights"),
                "{bad}"
            );
        }
    }

    #[test]
    fn blend_weights_must_sum_to_one() {
        let bad = manifest().replace("xumx = [0.2, 0.1, 0.0, 0.2]", "xumx = [0.2, 0.1, 0.1, 0.2]");
        let msg = schema_err(&bad);
        assert!(
            msg.contains("`other`") && msg.contains("blend.full"),
            "{msg}"
        );
        let unknown = manifest().replace(
            "order = [\"unet\", \"demucs\"]",
            "order = [\"unet\", \"demucs\", \"hdemucs\"]",
        );
        assert!(schema_err(&unknown).contains("unknown model `hdemucs`"));
        let short = manifest().replace("unet = [0.4, 0.27, 0.5, 0.6]", "unet = [0.4, 0.27, 0.5]");
        assert!(schema_err(&short).contains("blend.fast.weights.unet"));
    }

    #[test]
    fn missing_empty_or_foreign_model_files() {
        let t = TempSet::new(&manifest());
        fs::remove_file(t.0.join("demucs.onnx")).unwrap();
        assert!(matches!(
            ModelSet::load(&t.0),
            Err(ModelSetError::MissingModelFile { ref model, .. }) if model == "demucs"
        ));
        fs::write(t.0.join("demucs.onnx"), b"").unwrap();
        let err = ModelSet::load(&t.0).unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
        fs::write(t.0.join("demucs.onnx"), b"PK\x03\x04rest of a zip").unwrap();
        let err = ModelSet::load(&t.0).unwrap_err().to_string();
        assert!(err.contains("zip"), "{err}");
        fs::write(t.0.join("demucs.onnx"), b"\xff\xfegarbage").unwrap();
        assert!(matches!(
            ModelSet::load(&t.0),
            Err(ModelSetError::NotOnnx { .. })
        ));
        let escape = manifest().replace("file = \"unet.onnx\"", "file = \"../unet.onnx\"");
        assert!(schema_err(&escape).contains("relative path"));
    }

    /// sha256 of the placeholder model files `TempSet` writes.
    const FILE_SHA: &str = "7e3331bc72f89056c6af5c2abad23193bf882a26765c50f4cb33cc769a5b583a";

    /// The manifest with `sha256` given for the U-Net.
    fn manifest_with_sha(sha: &str) -> String {
        manifest().replace(
            "input_name = \"mag\"\noutput_name = \"mask\"\n[models.unet",
            &format!(
                "input_name = \"mag\"\noutput_name = \"mask\"\nsha256 = \"{sha}\"\n[models.unet"
            ),
        )
    }

    #[test]
    fn checksums_are_verified_and_a_damaged_file_is_named() {
        let t = TempSet::new(&manifest_with_sha(FILE_SHA));
        let set = ModelSet::load(&t.0).expect("the recorded sha256 matches");
        assert_eq!(set.models["unet"].sha256.as_deref(), Some(FILE_SHA));
        let unet = t.0.join("unet.onnx");
        let good = fs::read(&unet).unwrap();
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 0x01;
        let truncated = &good[..good.len() - 1];
        for (label, bytes) in [("bit-flipped", &flipped[..]), ("truncated", truncated)] {
            fs::write(&unet, bytes).unwrap();
            let err = ModelSet::load(&t.0).expect_err(label);
            assert!(
                matches!(err, ModelSetError::ChecksumMismatch { ref model, .. } if model == "unet"),
                "{label}: {err:?}"
            );
            let line = crate::error::one_line(&err);
            assert!(!line.contains('\n'), "{line}");
            assert!(
                line.contains(&unet.display().to_string()),
                "{label}: {line}"
            );
            assert!(
                line.contains("sha256") && line.contains("7e3331bc72f89056"),
                "{line}"
            );
        }
        // Restored, it loads again.
        fs::write(&unet, &good).unwrap();
        ModelSet::load(&t.0).unwrap();
    }

    #[test]
    fn a_wrong_int8_checksum_is_refused() {
        let t = TempSet::new(&manifest_with_int8("demucs.int8.onnx", FILE_SHA));
        fs::write(t.0.join("demucs.int8.onnx"), INT8_BYTES).unwrap();
        let err = ModelSet::load(&t.0).unwrap_err();
        assert!(
            matches!(err, ModelSetError::ChecksumMismatch { ref path, .. }
                if path.ends_with("demucs.int8.onnx")),
            "{err:?}"
        );
    }

    #[test]
    fn absolute_paths_are_refused() {
        let t = TempSet::new(&manifest());
        let inside = t.0.join("unet.onnx");
        let absolute = manifest().replace(
            "file = \"unet.onnx\"",
            &format!("file = \"{}\"", inside.display()),
        );
        let msg = schema_err(&absolute);
        assert!(
            msg.contains("models.unet.file") && msg.contains("relative path"),
            "{msg}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_may_not_leave_the_set_folder() {
        use std::os::unix::fs::symlink;
        let outside = TempSet::new(&manifest());
        let t = TempSet::new(&manifest());
        // A link to a file inside the set is fine (a set may share one file under two names).
        fs::rename(t.0.join("unet.onnx"), t.0.join("unet-real.onnx")).unwrap();
        symlink("unet-real.onnx", t.0.join("unet.onnx")).unwrap();
        ModelSet::load(&t.0).expect("a link inside the folder");
        // A link to a file elsewhere, directly or through a linked folder, is not.
        fs::remove_file(t.0.join("unet.onnx")).unwrap();
        symlink(outside.0.join("unet.onnx"), t.0.join("unet.onnx")).unwrap();
        let err = ModelSet::load(&t.0).unwrap_err();
        assert!(
            matches!(err, ModelSetError::OutsideSet { ref model, .. } if model == "unet"),
            "{err:?}"
        );
        let line = crate::error::one_line(&err);
        assert!(
            line.contains("unet.onnx") && line.contains("outside"),
            "{line}"
        );
        symlink(&outside.0, t.0.join("sub")).unwrap();
        let via_folder = manifest().replace("file = \"unet.onnx\"", "file = \"sub/unet.onnx\"");
        fs::write(t.0.join(MANIFEST_FILE), via_folder).unwrap();
        assert!(matches!(
            ModelSet::load(&t.0),
            Err(ModelSetError::OutsideSet { .. })
        ));
        // The set folder itself may be reached through a link (a symlinked plugin bundle).
        let linked = outside.0.join("linked-set");
        symlink(&t.0, &linked).unwrap();
        fs::write(t.0.join(MANIFEST_FILE), manifest()).unwrap();
        fs::remove_file(t.0.join("unet.onnx")).unwrap();
        fs::rename(t.0.join("unet-real.onnx"), t.0.join("unet.onnx")).unwrap();
        ModelSet::load(&linked).expect("a linked set folder");
    }

    /// The test's int8 file, `\x08\x08\x12\x07onnx.quantize`, and its sha256.
    const INT8_BYTES: &[u8] = b"\x08\x08\x12\x07onnx.quantize";
    const INT8_SHA: &str = "dca4d84f57fbd0ccd0c6fdf2a118b6f47f84f80f98d03d4e1ed957f7f2ba4d4c";

    /// The manifest with an int8 variant declared for Demucs (keys as `quantize` writes them).
    fn manifest_with_int8(file: &str, sha: &str) -> String {
        manifest().replace(
            "input_name = \"audio\"",
            &format!("input_name = \"audio\"\nint8_file = \"{file}\"\nint8_sha256 = \"{sha}\""),
        )
    }

    #[test]
    fn int8_variants_parse_and_resolve() {
        let t = TempSet::new(&manifest_with_int8("demucs.int8.onnx", INT8_SHA));
        fs::write(t.0.join("demucs.int8.onnx"), INT8_BYTES).unwrap();
        let set = ModelSet::load(&t.0).unwrap();
        let demucs = &set.models["demucs"];
        assert_eq!(demucs.int8_file.as_deref(), Some("demucs.int8.onnx"));
        assert_eq!(demucs.int8_sha256.as_deref(), Some(INT8_SHA));
        assert_eq!(demucs.int8_path, Some(t.0.join("demucs.int8.onnx")));
        assert_eq!(demucs.path, t.0.join("demucs.onnx"), "the float file stays");
        assert_eq!(set.models["unet"].int8_path, None);
        // The shipped demo set has int8 variants for Demucs and X-UMX.
        let demo = ModelSet::load(&crate::paths::project_models()).expect("the demo set loads");
        assert!(demo.models["demucs"].int8_path.is_some());
        assert!(demo.models["xumx"].int8_path.is_some());
    }

    #[test]
    fn int8_variants_are_validated_like_the_float_files() {
        // a bad int8 sha: not a sha256
        let short = manifest_with_int8("demucs.int8.onnx", "d8629d8b");
        let msg = schema_err(&short);
        assert!(msg.contains("models.demucs.int8_sha256"), "{msg}");
        let upper = manifest_with_int8("demucs.int8.onnx", &INT8_SHA.to_uppercase());
        assert!(schema_err(&upper).contains("int8_sha256"));
        let bad_float = manifest().replace(
            "input_name = \"audio\"",
            "input_name = \"audio\"\nsha256 = \"xyz\"",
        );
        assert!(schema_err(&bad_float).contains("models.demucs.sha256"));
        // a sha without a file, the float file again, a path outside the folder
        let orphan = manifest().replace(
            "input_name = \"audio\"",
            &format!("input_name = \"audio\"\nint8_sha256 = \"{INT8_SHA}\""),
        );
        assert!(schema_err(&orphan).contains("without int8_file"));
        assert!(schema_err(&manifest_with_int8("demucs.onnx", INT8_SHA)).contains("must differ"));
        let escape = manifest_with_int8("../demucs.int8.onnx", INT8_SHA);
        assert!(schema_err(&escape).contains("models.demucs.int8_file"));
        // missing, or not ONNX
        let t = TempSet::new(&manifest_with_int8("demucs.int8.onnx", INT8_SHA));
        assert!(matches!(
            ModelSet::load(&t.0),
            Err(ModelSetError::MissingModelFile { ref model, ref path })
                if model == "demucs" && path.ends_with("demucs.int8.onnx")
        ));
        fs::write(t.0.join("demucs.int8.onnx"), b"PK\x03\x04zip").unwrap();
        let err = ModelSet::load(&t.0).unwrap_err().to_string();
        assert!(
            err.contains("demucs.int8.onnx") && err.contains("zip"),
            "{err}"
        );
        // unknown keys are still rejected
        let typo = manifest().replace(
            "input_name = \"audio\"",
            "input_name = \"audio\"\nint8 = true",
        );
        assert!(matches!(load_with(&typo), Err(ModelSetError::Parse { .. })));
    }

    #[test]
    fn spectrogram_parameters_are_checked() {
        let bad = manifest().replace(
            "max_bins = 1487\nmin_frames = 1",
            "max_bins = 3000\nmin_frames = 1",
        );
        assert!(schema_err(&bad).contains("models.xumx"));
    }

    #[test]
    fn session_io_check() {
        let t = TempSet::new(&manifest());
        let set = ModelSet::load(&t.0).unwrap();
        let unet = &set.models["unet"];
        let ok_in = [None, Some(2), Some(2049), Some(-1)];
        let ok_out = [Some(-1), Some(4), Some(2), Some(2049), None];
        unet.check_io("unet", ("mag", &ok_in), ("mask", &ok_out))
            .unwrap();
        let err = unet
            .check_io("unet", ("spec", &ok_in), ("mask", &ok_out))
            .unwrap_err();
        assert!(err.to_string().contains("`spec`"), "{err}");
        let bins = [None, Some(2), Some(1487), None];
        let err = unet
            .check_io("unet", ("mag", &bins), ("mask", &ok_out))
            .unwrap_err()
            .to_string();
        assert!(err.contains("input") && err.contains("1487"), "{err}");
        let demucs = &set.models["demucs"];
        let rank = [None, Some(8), None];
        assert!(demucs
            .check_io(
                "demucs",
                ("audio", &[None, Some(2), None]),
                ("stems", &rank)
            )
            .is_err());
        demucs
            .check_io(
                "demucs",
                ("audio", &[None, Some(2), None]),
                ("stems", &[None, Some(4), Some(2), None]),
            )
            .unwrap();
    }
}
