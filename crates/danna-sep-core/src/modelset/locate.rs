//! Where the default model set is found: the same search the ONNX Runtime library gets, so a
//! bundle carries its models next to its binary and a development build from a checkout finds
//! the shipped demo set (release builds know no checkout, see [`crate::paths`]).

use std::path::{Path, PathBuf};

use super::{ModelSet, ModelSetError};
use crate::paths;

/// Folder name of the model set inside a bundle, next to the plugin binary.
pub const BUNDLED_DIR: &str = "danna-sep-models";

/// The folders searched for the default model set, in order: `danna-sep-models/` next to the
/// binary that contains this code (its real folder first, see [`paths::dirs_of`]), then, in a
/// development build only, the checkout's `models/demo`.
pub fn default_model_dirs() -> Vec<PathBuf> {
    candidates(&paths::module_dirs(), paths::dev_models().as_deref())
}

fn candidates(module_dirs: &[PathBuf], project: Option<&Path>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = module_dirs.iter().map(|d| d.join(BUNDLED_DIR)).collect();
    out.extend(project.map(Path::to_path_buf));
    out.dedup();
    out
}

/// Loads the model set in `dir` (the CLI's `--models`, or `DANNA_SEP_MODELS` through
/// [`crate::config::Config::models_dir`]) or, when `None`, the first of
/// [`default_model_dirs`] that has a manifest.
pub fn find_model_set(dir: Option<&Path>) -> Result<ModelSet, ModelSetError> {
    if let Some(dir) = dir {
        return ModelSet::load(dir);
    }
    let mut tried = Vec::new();
    for dir in default_model_dirs() {
        match ModelSet::load(&dir) {
            Ok(set) => return Ok(set),
            // A folder without a manifest is simply not a candidate; any other error is a
            // broken model set the user should hear about.
            Err(ModelSetError::MissingManifest { dir }) => tried.push(dir),
            Err(e) => return Err(e),
        }
    }
    Err(ModelSetError::NotFound { tried })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::one_line;

    #[test]
    fn bundle_then_project() {
        let c = candidates(&[PathBuf::from("/b")], Some(Path::new("/p")));
        assert_eq!(
            c,
            vec![PathBuf::from("/b/danna-sep-models"), PathBuf::from("/p")]
        );
        let release = candidates(&[PathBuf::from("/b")], None);
        assert_eq!(release, vec![PathBuf::from("/b/danna-sep-models")]);
    }

    #[test]
    fn a_missing_folder_is_named_on_one_line() {
        let e = find_model_set(Some(Path::new("/nonexistent/models"))).unwrap_err();
        let text = one_line(&e);
        assert!(text.contains("/nonexistent/models"), "{text}");
        assert!(matches!(e, ModelSetError::MissingManifest { .. }));
    }

    #[test]
    fn not_found_lists_every_folder_tried() {
        let e = ModelSetError::NotFound {
            tried: vec![PathBuf::from("/a"), PathBuf::from("/b")],
        };
        let text = one_line(&e);
        assert!(
            text.contains("/a (no manifest.toml), /b (no manifest.toml)"),
            "{text}"
        );
        assert!(text.contains("DANNA_SEP_MODELS"), "{text}");
    }
}
