//! `BlendPlan`: which models run, in which order, with which per-stem weights.

use crate::error::SeparationError;
use crate::modelset::{ModelSet, ModelSetError};
use crate::selection::ModelChoice;
use crate::stems::STEM_COUNT;

/// Models in accumulation order with their weights in stem order (drums, bass, other, vocals).
#[derive(Debug, Clone, PartialEq)]
pub struct BlendPlan {
    mode: &'static str,
    entries: Vec<(String, [f32; STEM_COUNT])>,
}

impl BlendPlan {
    /// The plan for `choice`: the manifest's `full` or `fast` blend, or one model with weight 1.
    pub fn for_choice(set: &ModelSet, choice: ModelChoice) -> Result<Self, SeparationError> {
        let single = |name: &str| -> Result<Self, SeparationError> {
            if !set.models.contains_key(name) {
                return Err(ModelSetError::MissingModel {
                    set: set.name.clone(),
                    model: name.to_string(),
                }
                .into());
            }
            Ok(Self {
                mode: "single model",
                entries: vec![(name.to_string(), [1.0; STEM_COUNT])],
            })
        };
        let blended = |fast: bool| -> Result<Self, SeparationError> {
            let mode = set.blend_mode(fast);
            let entries: Vec<_> = mode.iter().map(|(name, w)| (name.to_string(), w)).collect();
            if let Some((missing, _)) = entries.iter().find(|(n, _)| !set.models.contains_key(n)) {
                return Err(ModelSetError::MissingModel {
                    set: set.name.clone(),
                    model: missing.clone(),
                }
                .into());
            }
            Ok(Self {
                mode: if fast { "fast blend" } else { "full ensemble" },
                entries,
            })
        };
        match choice {
            // Karaoke: the full ensemble splits the accompaniment (its vocals are replaced);
            // Full + Spleeter blends that with the ensemble as it is.
            ModelChoice::Full | ModelChoice::Karaoke | ModelChoice::FullSpleeter => blended(false),
            ModelChoice::Fast => blended(true),
            ModelChoice::XUmx => single("xumx"),
            ModelChoice::UNet => single("unet"),
            ModelChoice::Demucs => single("demucs"),
        }
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no model runs (never for a valid set).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(model, weights)` in accumulation order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[f32; STEM_COUNT])> {
        self.entries.iter().map(|(n, w)| (n.as_str(), w))
    }

    /// E.g. `full ensemble: unet+demucs+xumx`.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.iter().map(|(n, _)| n).collect();
        format!("{}: {}", self.mode, names.join("+"))
    }
}
