//! The four stems, in the one order every model, buffer, file and port uses.

/// Number of stems every backend produces.
pub const STEM_COUNT: usize = 4;

/// One stem: its id (manifests, file names, CLI) and its display name (ports, editor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stem {
    /// Lower-case id: `drums`, `bass`, `other`, `vocals`.
    pub id: &'static str,
    /// Display name: `Drums`, `Bass`, `Other`, `Vocals`.
    pub name: &'static str,
}

/// The stems in output order (the Danna-Sep order).
pub const STEMS: [Stem; STEM_COUNT] = [
    Stem {
        id: "drums",
        name: "Drums",
    },
    Stem {
        id: "bass",
        name: "Bass",
    },
    Stem {
        id: "other",
        name: "Other",
    },
    Stem {
        id: "vocals",
        name: "Vocals",
    },
];

/// Index of the vocals in [`STEMS`] (karaoke).
pub const VOCALS: usize = 3;

/// The stem ids in order (for manifests and file names).
pub const STEM_IDS: [&str; STEM_COUNT] = [STEMS[0].id, STEMS[1].id, STEMS[2].id, STEMS[3].id];

/// The display names in order (for port names).
pub const STEM_DISPLAY_NAMES: [&str; STEM_COUNT] =
    [STEMS[0].name, STEMS[1].name, STEMS[2].name, STEMS[3].name];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocals_is_the_vocals_stem_and_the_tables_agree() {
        assert_eq!(STEMS[VOCALS].id, "vocals");
        for (s, stem) in STEMS.iter().enumerate() {
            assert_eq!(STEM_IDS[s], stem.id);
            assert_eq!(STEM_DISPLAY_NAMES[s], stem.name);
            assert_eq!(stem.name.to_lowercase(), stem.id);
        }
    }
}
