//! Where the default model set is found: the same search the ONNX Runtime library gets, so a
//! bundle carries its models next to its binary and a checkout finds the shipped demo set.

use std::path::{Path, PathBuf};

use crate::modelset::{ModelSet, ModelSetError};
use crate::ort_runtime::one_line;

/// Environment variable naming a model-set folder; it overrides every other location.
pub const ENV_MODELS: &str = "DANNA_SEP_MODELS";
/// Folder name of the model set inside a bundle, next to the plugin binary.
pub const BUNDLED_DIR: &str = "danna-sep-models";
/// The demo set shipped in this repository (fallback for builds run from a checkout).
pub const PROJECT_MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo");

/// The folders searched for the default model set, in order: `$DANNA_SEP_MODELS` (alone, when
/// set and not empty), `danna-sep-models/` next to the binary that contains this code, then the
/// repository's `models/demo`.
pub fn default_model_dirs() -> Vec<PathBuf> {
    candidates(
        std::env::var_os(ENV_MODELS).as_deref(),
        &crate::ort_runtime::module_dirs(),
        Path::new(PROJECT_MODELS),
    )
}

fn candidates(
    env: Option<&std::ffi::OsStr>,
    module_dirs: &[PathBuf],
    project: &Path,
) -> Vec<PathBuf> {
    if let Some(dir) = env.filter(|v| !v.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut out: Vec<PathBuf> = module_dirs.iter().map(|d| d.join(BUNDLED_DIR)).collect();
    out.push(project.to_path_buf());
    out.dedup();
    out
}

/// Loads the model set in `dir`, or the first default folder that has a manifest. The error
/// names every folder that was tried and why it failed, on one line.
pub fn find_model_set(dir: Option<&Path>) -> Result<ModelSet, String> {
    if let Some(dir) = dir {
        return ModelSet::load(dir).map_err(|e| one_line(&e.to_string()));
    }
    let mut tried = Vec::new();
    for dir in default_model_dirs() {
        match ModelSet::load(&dir) {
            Ok(set) => return Ok(set),
            // A folder without a manifest is simply not a candidate; any other error is a
            // broken model set the user should hear about.
            Err(ModelSetError::MissingManifest { .. }) => {
                tried.push(format!("{} (no manifest.toml)", dir.display()))
            }
            Err(e) => return Err(one_line(&e.to_string())),
        }
    }
    Err(format!(
        "no model set found (looked in {}); set {ENV_MODELS} or pass a model-set folder",
        tried.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_everything() {
        let c = candidates(
            Some("/m".as_ref()),
            &[PathBuf::from("/bin")],
            Path::new("/p"),
        );
        assert_eq!(c, vec![PathBuf::from("/m")]);
    }

    #[test]
    fn bundle_then_project() {
        let c = candidates(Some("".as_ref()), &[PathBuf::from("/b")], Path::new("/p"));
        assert_eq!(
            c,
            vec![PathBuf::from("/b/danna-sep-models"), PathBuf::from("/p")]
        );
    }

    #[test]
    fn missing_folders_are_listed() {
        let e = find_model_set(Some(Path::new("/nonexistent/models"))).unwrap_err();
        assert!(e.contains("/nonexistent/models"), "{e}");
        assert!(!e.contains('\n'));
    }
}
