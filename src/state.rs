//! The saved plugin state: its version, and what loading a state does with what it does not
//! understand.
//!
//! nice-plug saves a JSON `PluginState`: the plugin version that wrote it, every parameter by
//! its string id (enum values by their `#[id]`), and the `#[persist]` fields. On top of that the
//! `state` field carries [`STATE_VERSION`], the version of this layout (ids, value meanings), which
//! changes only when the layout does; states saved before it existed are version 0, the same
//! layout as version 1.
//!
//! Before a state is applied, [`normalize`] (the plugin's `filter_state`) rewrites it so that
//! applying it leaves every parameter at a valid value: a parameter that is missing, of the
//! wrong type or not a number gets its default, an enum id this version does not know gets the
//! default, an out-of-range number is clamped, unknown parameters and fields are dropped. A state
//! the host hands over that is not JSON at all reaches it as an empty state (the vendored
//! nice-plug wrappers do that, see `vendor/README.md`), which loads the defaults. Whatever was
//! changed, and a state from an older or newer layout, is described in one line that the
//! [`StateRecord`] receives and the editor's status bar shows ("says so").

use std::collections::BTreeMap;

use nice_plug::params::persist::{self, PersistentField};
use nice_plug::plugin::ParamValue;
use nice_plug::prelude::*;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::editor::view_model::EditorSize;
use crate::params::DannaSepParams;

/// The version of the state layout this build writes and reads.
pub const STATE_VERSION: u32 = 1;

/// The persisted field that carries [`StateHeader`].
pub const STATE_FIELD: &str = "state";

/// The persisted field with the editor's window size.
pub const EDITOR_FIELD: &str = "editor-state";

/// What the `state` field holds: the layout version when saved; on load, [`normalize`] adds
/// the notice for the instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateHeader {
    /// The layout version ([`STATE_VERSION`] when this build saved it).
    pub version: u32,
    /// What loading changed, if anything; never saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// The plugin's `state` field: saves [`STATE_VERSION`], and keeps the notice of the last state
/// loaded into this instance for the editor.
#[derive(Debug, Default)]
pub struct StateRecord {
    notice: Mutex<Option<String>>,
}

impl StateRecord {
    /// What the last state load changed or could not read (`None` after a clean load).
    pub fn notice(&self) -> Option<String> {
        self.notice.lock().clone()
    }
}

impl<'a> PersistentField<'a, StateHeader> for StateRecord {
    fn set(&self, header: StateHeader) {
        *self.notice.lock() = header.notice;
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&StateHeader) -> R,
    {
        f(&StateHeader {
            version: STATE_VERSION,
            notice: None,
        })
    }
}

/// What [`normalize`] found in a state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The host's data was not a state at all (it reached the plugin empty).
    pub unreadable: bool,
    /// The layout version saved (0: saved before versions existed), `None` if the `state` field
    /// or the whole state was not readable.
    pub saved_version: Option<u32>,
    /// The plugin version that saved it.
    pub saved_by: String,
    /// Parameters and fields this version does not know (dropped).
    pub unknown: Vec<String>,
    /// Parameters whose value was of the wrong type, not a number or an unknown enum id, and
    /// fields that did not parse (set to their defaults).
    pub invalid: Vec<String>,
    /// Parameters whose value was out of range (clamped).
    pub clamped: Vec<String>,
    /// Parameters the state did not have (set to their defaults).
    pub missing: Vec<String>,
}

impl LoadReport {
    /// One line for the user, or `None` when the state was of this version and loaded as saved.
    pub fn notice(&self) -> Option<String> {
        if self.unreadable {
            return Some("The saved settings could not be read: defaults loaded.".into());
        }
        let mut parts = Vec::new();
        match self.saved_version {
            Some(STATE_VERSION) => {}
            Some(v) if v > STATE_VERSION => parts.push(format!(
                "Settings saved by a newer version (state v{v}, Danna-Sep {}; this one reads v{STATE_VERSION})",
                or_unknown(&self.saved_by)
            )),
            Some(v) => parts.push(format!(
                "Settings from an older version (state v{v}) migrated to v{STATE_VERSION}"
            )),
            None => parts.push("The settings' version could not be read".into()),
        }
        for (what, names) in [
            ("ignored unknown", &self.unknown),
            ("reset to default", &self.invalid),
            ("clamped to range", &self.clamped),
            ("missing, set to default", &self.missing),
        ] {
            if !names.is_empty() {
                parts.push(format!("{what}: {}", list(names)));
            }
        }
        if parts.is_empty() {
            return None;
        }
        if self.saved_version == Some(STATE_VERSION) {
            parts.insert(0, "Some saved settings were not usable".into());
        }
        Some(format!("{}.", parts.join("; ")))
    }
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() {
        "unknown"
    } else {
        s
    }
}

/// Up to three names, then how many more.
fn list(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}

/// Outcome of checking one saved value.
enum Checked {
    Valid(ParamValue),
    Clamped(ParamValue),
    Invalid,
}

/// Checks `value` for the parameter behind `ptr`.
///
/// # Safety
/// `ptr` must point into a live parameter object.
unsafe fn check(ptr: ParamPtr, value: &ParamValue) -> Checked {
    // SAFETY: the caller guarantees `ptr` is live.
    unsafe {
        match (ptr, value) {
            (ParamPtr::FloatParam(p), ParamValue::F32(v)) => {
                if !v.is_finite() {
                    return Checked::Invalid;
                }
                let (lo, hi) = ((*p).preview_plain(0.0), (*p).preview_plain(1.0));
                if *v < lo || *v > hi {
                    Checked::Clamped(ParamValue::F32(v.clamp(lo, hi)))
                } else {
                    Checked::Valid(ParamValue::F32(*v))
                }
            }
            (ParamPtr::IntParam(p), ParamValue::I32(v)) => {
                let (lo, hi) = ((*p).preview_plain(0.0), (*p).preview_plain(1.0));
                if *v < lo || *v > hi {
                    Checked::Clamped(ParamValue::I32((*v).clamp(lo, hi)))
                } else {
                    Checked::Valid(ParamValue::I32(*v))
                }
            }
            (ParamPtr::BoolParam(_), ParamValue::Bool(v)) => Checked::Valid(ParamValue::Bool(*v)),
            // `set_from_id` on the probe says whether the id exists (the probe's value does not
            // matter: the defaults were read before).
            (ParamPtr::EnumParam(p), ParamValue::String(id)) if (*p).set_from_id(id) => {
                Checked::Valid(ParamValue::String(id.clone()))
            }
            (ParamPtr::EnumParam(p), ParamValue::I32(i))
                if (0..=(*p).step_count().unwrap_or(0) as i32).contains(i) =>
            {
                Checked::Valid(ParamValue::I32(*i))
            }
            _ => Checked::Invalid,
        }
    }
}

/// The default of the parameter behind `ptr`, as a state would store it.
///
/// # Safety
/// `ptr` must point into a live parameter object still at its default.
unsafe fn default_value(ptr: ParamPtr) -> ParamValue {
    // SAFETY: the caller guarantees `ptr` is live.
    unsafe {
        match ptr {
            ParamPtr::FloatParam(p) => ParamValue::F32((*p).default_plain_value()),
            ParamPtr::IntParam(p) => ParamValue::I32((*p).default_plain_value()),
            ParamPtr::BoolParam(p) => ParamValue::Bool((*p).default_plain_value()),
            ParamPtr::EnumParam(p) => match (*p).unmodulated_plain_id() {
                Some(id) => ParamValue::String(id.to_owned()),
                None => ParamValue::I32((*p).default_plain_value()),
            },
        }
    }
}

/// Rewrites `state` so that loading it sets every parameter to a valid value and every field
/// this version knows (see the module docs), stores the notice in its `state` field for the
/// instance that loads it, and returns what it found. Main thread; allocates.
pub fn normalize(state: &mut PluginState) -> LoadReport {
    let mut report = LoadReport {
        unreadable: state.version.is_empty() && state.params.is_empty() && state.fields.is_empty(),
        saved_by: state.version.clone(),
        ..LoadReport::default()
    };
    // A fresh parameter set: the table of ids, types, ranges and defaults.
    let probe = DannaSepParams::default();
    let table = probe.param_map();
    // SAFETY: every pointer points into `probe`, alive until the end of this function; the
    // defaults are read before `check` touches the probe.
    let defaults: Vec<ParamValue> = table
        .iter()
        .map(|(_, ptr, _)| unsafe { default_value(*ptr) })
        .collect();
    let mut saved = std::mem::take(&mut state.params);
    for ((id, ptr, _), default) in table.iter().zip(defaults) {
        let value = match saved.remove(id) {
            None => {
                if !report.unreadable {
                    report.missing.push(id.clone());
                }
                default
            }
            // SAFETY: as above.
            Some(v) => match unsafe { check(*ptr, &v) } {
                Checked::Valid(v) => v,
                Checked::Clamped(v) => {
                    report.clamped.push(id.clone());
                    v
                }
                Checked::Invalid => {
                    report.invalid.push(id.clone());
                    default
                }
            },
        };
        state.params.insert(id.clone(), value);
    }
    report.unknown.extend(saved.into_keys());

    let mut fields = std::mem::take(&mut state.fields);
    report.saved_version = match fields.remove(STATE_FIELD) {
        // States saved before the layout had a version.
        None => Some(0),
        Some(json) => persist::deserialize_field::<StateHeader>(&json)
            .ok()
            .map(|h| h.version),
    };
    let editor_default = probe.serialize_fields().remove(EDITOR_FIELD);
    let editor = match fields.remove(EDITOR_FIELD) {
        Some(json) if persist::deserialize_field::<EditorSize>(&json).is_ok() => Some(json),
        Some(_) => {
            report.invalid.push(EDITOR_FIELD.into());
            editor_default
        }
        None => editor_default,
    };
    report.unknown.extend(fields.into_keys());
    if report.unreadable {
        report.saved_version = None;
    }
    let notice = report.notice();
    if let Some(n) = &notice {
        nice_warn!("{n}");
    }
    let header = StateHeader {
        version: STATE_VERSION,
        notice,
    };
    let mut out = BTreeMap::new();
    if let Ok(json) = persist::serialize_field(&header) {
        out.insert(STATE_FIELD.to_owned(), json);
    }
    if let Some(json) = editor {
        out.insert(EDITOR_FIELD.to_owned(), json);
    }
    state.fields = out;
    report
}
