//! Two-stem vocal sets: a folder with one `ratio_mask` model whose stems are
//! [`VOCAL_STEMS`] (`vocals`, `accompaniment`), e.g. Spleeter 2stems converted by
//! `cargo xtask setup` into `models/spleeter-2stems/` (`models/README.md`, "Spleeter 2-stem").
//!
//! The manifest follows the schema of a four-stem set (version [`super::SCHEMA_VERSION`],
//! unknown keys rejected, the file checks and `sha256` of [`super::ModelSet::load`]) except
//! that the stems are `vocals, accompaniment`, there is exactly one model, of kind
//! `ratio_mask`, no blend, and `[provenance]` must name a `licence` (the status line shows it).
//!
//! The set is optional: [`find_vocal_set`] looks where the four-stem set is found, and the
//! Karaoke choice falls back to the full ensemble (saying why) when there is none.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{
    check_model_common, check_model_file, model_path, read_manifest, ModelKind, ModelSetError,
    ModelSpec, Provenance,
};
use crate::paths;

/// The stems of a vocal set, in model output order.
pub const VOCAL_STEMS: [&str; 2] = ["vocals", "accompaniment"];
/// Folder name of the vocal set: next to the four-stem set's folder, in a bundle next to
/// `danna-sep-models/`, in a checkout `models/spleeter-2stems`.
pub const VOCAL_DIR: &str = "spleeter-2stems";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VocalToml {
    schema_version: u32,
    name: String,
    #[serde(default)]
    description: String,
    sample_rate: u32,
    stems: Vec<String>,
    provenance: Provenance,
    models: BTreeMap<String, ModelSpec>,
}

/// A validated two-stem vocal set.
#[derive(Debug, Clone)]
pub struct VocalSet {
    pub dir: PathBuf,
    pub name: String,
    pub description: String,
    pub provenance: Provenance,
    /// The model's name in the manifest (`spleeter`).
    pub model_name: String,
    pub model: ModelSpec,
}

impl VocalSet {
    /// Reads and validates `dir/manifest.toml` and its model file.
    pub fn load(dir: &Path) -> Result<Self, ModelSetError> {
        let (path, doc) = read_manifest(dir, |d: &VocalToml| d.schema_version)?;
        let schema = |message: String| ModelSetError::Schema {
            path: path.clone(),
            message,
        };
        if !doc.stems.iter().map(String::as_str).eq(VOCAL_STEMS) {
            return Err(schema(format!(
                "stems must be exactly {VOCAL_STEMS:?} in a vocal set, got {:?}",
                doc.stems
            )));
        }
        if doc.provenance.licence().is_none() {
            return Err(schema("provenance.licence is missing".into()));
        }
        let mut models = doc.models.into_iter();
        let (Some((model_name, mut model)), None) = (models.next(), models.next()) else {
            return Err(schema("a vocal set has exactly one model".into()));
        };
        if model.kind != ModelKind::RatioMask {
            return Err(schema(format!(
                "models.{model_name}.kind must be ratio_mask in a vocal set"
            )));
        }
        if !model.stems.iter().map(String::as_str).eq(VOCAL_STEMS) {
            return Err(schema(format!(
                "models.{model_name}.stems must be exactly {VOCAL_STEMS:?}"
            )));
        }
        check_model_common(&model_name, &model, doc.sample_rate).map_err(&schema)?;
        if model.int8_file.is_some() {
            return Err(schema(format!(
                "models.{model_name}: a vocal set has no int8 variant"
            )));
        }
        let real_dir = fs::canonicalize(dir).map_err(|source| ModelSetError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        model.path = model_path(dir, &model_name, "file", &model.file).map_err(&schema)?;
        check_model_file(&model_name, &model.path, &real_dir, model.sha256.as_deref())?;
        Ok(Self {
            dir: dir.to_path_buf(),
            name: doc.name,
            description: doc.description,
            provenance: doc.provenance,
            model_name,
            model,
        })
    }

    /// For the status line: e.g. `vocals: spleeter-2stems (Deezer Spleeter 2stems ..., MIT ...)`.
    pub fn describe(&self) -> String {
        format!(
            "vocals: {} ({}; licence {})",
            self.name,
            self.provenance.origin,
            self.provenance.licence().unwrap_or("unknown")
        )
    }
}

impl Provenance {
    /// `[provenance] licence`, when the manifest states one.
    pub fn licence(&self) -> Option<&str> {
        self.extra.get("licence").and_then(|v| v.as_str())
    }
}

/// The folders searched for the vocal set beside the four-stem set in `beside`, in order:
/// `beside/../spleeter-2stems`, `spleeter-2stems/` next to this binary, then in a development
/// build the checkout's `models/spleeter-2stems`.
pub fn vocal_dirs(beside: Option<&Path>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(parent) = beside.and_then(Path::parent) {
        out.push(parent.join(VOCAL_DIR));
    }
    out.extend(paths::module_dirs().iter().map(|d| d.join(VOCAL_DIR)));
    out.extend(paths::dev_spleeter());
    out.dedup();
    out
}

/// Loads the vocal set in `dir` (`DANNA_SEP_SPLEETER`, alone when set) or the first of
/// [`vocal_dirs`]`(beside)` that has a manifest.
pub fn find_vocal_set(
    dir: Option<&Path>,
    beside: Option<&Path>,
) -> Result<VocalSet, ModelSetError> {
    if let Some(dir) = dir {
        return VocalSet::load(dir);
    }
    let mut tried = Vec::new();
    for dir in vocal_dirs(beside) {
        match VocalSet::load(&dir) {
            Ok(set) => return Ok(set),
            Err(ModelSetError::MissingManifest { dir }) => tried.push(dir),
            Err(e) => return Err(e),
        }
    }
    Err(ModelSetError::NoVocalSet { tried })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::one_line;

    fn write_set(dir: &Path, manifest: &str) {
        fs::create_dir_all(dir).unwrap();
        // A plausible ONNX header (field 1 varint) is all the loader checks without a hash.
        fs::write(dir.join("model.onnx"), b"\x08\x07rest").unwrap();
        fs::write(dir.join(super::super::MANIFEST_FILE), manifest).unwrap();
    }

    const GOOD: &str = r#"
schema_version = 1
name = "spleeter-2stems"
sample_rate = 44100
stems = ["vocals", "accompaniment"]
[provenance]
origin = "Deezer Spleeter 2stems"
training_data = "Deezer's catalogue"
licence = "MIT"
[models.spleeter]
file = "model.onnx"
kind = "ratio_mask"
sample_rate = 44100
n_fft = 4096
hop = 1024
max_bins = 1024
min_frames = 64
frame_multiple = 64
stems = ["vocals", "accompaniment"]
input_name = "mix_mag"
output_name = "masks"
output_length = { rule = "same" }
"#;

    #[test]
    fn a_two_stem_set_loads_and_names_its_licence() {
        let tmp = danna_sep_testkit::TempDir::new("vocal-set");
        let dir = tmp.path().join(VOCAL_DIR);
        write_set(&dir, GOOD);
        let set = VocalSet::load(&dir).unwrap();
        assert_eq!(set.model_name, "spleeter");
        assert_eq!(set.model.kind, ModelKind::RatioMask);
        assert_eq!(
            set.model.expected_output_dims(),
            vec![None, Some(2), Some(2), Some(1024), None]
        );
        assert!(set.describe().contains("licence MIT"), "{}", set.describe());
        // Found beside a four-stem set in the same parent folder.
        let found = find_vocal_set(None, Some(&tmp.path().join("demo"))).unwrap();
        assert_eq!(found.dir, dir);
    }

    #[test]
    fn wrong_stems_kind_or_licence_are_refused_on_one_line() {
        let tmp = danna_sep_testkit::TempDir::new("vocal-set-bad");
        for (what, bad) in [
            (
                "stems",
                GOOD.replacen("[\"vocals\", \"accompaniment\"]", "[\"vocals\"]", 1),
            ),
            (
                "ratio_mask",
                GOOD.replace("\"ratio_mask\"", "\"spectrogram_mask\""),
            ),
            ("licence", GOOD.replace("licence = \"MIT\"\n", "")),
        ] {
            let dir = tmp.path().join(what);
            write_set(&dir, &bad);
            let e = one_line(&VocalSet::load(&dir).unwrap_err());
            assert!(e.contains(what), "{what}: {e}");
        }
    }

    #[test]
    fn no_vocal_set_lists_the_folders_tried() {
        let dirs = vocal_dirs(Some(Path::new("/sets/demo")));
        assert_eq!(dirs[0], PathBuf::from("/sets/spleeter-2stems"));
        let text = one_line(&ModelSetError::NoVocalSet { tried: dirs });
        assert!(
            text.contains("/sets/spleeter-2stems (no manifest.toml)"),
            "{text}"
        );
        assert!(text.contains("cargo xtask models spleeter"), "{text}");
    }
}
