//! Loading saved states in process: what `filter_state` (`danna_sep::state::normalize`) makes of
//! states of this version, older and newer ones, unknown keys, invalid values and a state the
//! host could not even hand over as JSON, and the one-line notice each leaves for the editor.
//!
//! States are built and applied the way nice-plug's wrappers do (`state.rs` there: every
//! parameter by string id, enum values by their id, the `#[persist]` fields, `filter_state`
//! before applying); the real wrappers are exercised by the CLAP and VST3 host tests.

use std::collections::BTreeMap;

use danna_sep::state::{StateHeader, STATE_VERSION};
use danna_sep::DannaSep;
use nice_plug::params::{persist, InternalParamMut};
use nice_plug::plugin::ParamValue;
use nice_plug::prelude::*;

/// The state `plugin` would save.
fn saved(plugin: &DannaSep) -> PluginState {
    let params = plugin.params();
    let values = params
        .param_map()
        .into_iter()
        .map(|(id, ptr, _)| {
            // SAFETY: the pointers point into `params`, alive for this function.
            let value = unsafe {
                match ptr {
                    ParamPtr::FloatParam(p) => ParamValue::F32((*p).unmodulated_plain_value()),
                    ParamPtr::IntParam(p) => ParamValue::I32((*p).unmodulated_plain_value()),
                    ParamPtr::BoolParam(p) => ParamValue::Bool((*p).unmodulated_plain_value()),
                    ParamPtr::EnumParam(p) => match (*p).unmodulated_plain_id() {
                        Some(id) => ParamValue::String(id.to_owned()),
                        None => ParamValue::I32((*p).unmodulated_plain_value()),
                    },
                }
            };
            (id, value)
        })
        .collect();
    PluginState {
        version: DannaSep::VERSION.to_owned(),
        params: values,
        fields: params.serialize_fields(),
    }
}

/// Loads `state` into `plugin` as the wrappers do; returns the state as applied.
fn load(plugin: &DannaSep, mut state: PluginState) -> PluginState {
    DannaSep::filter_state(&mut state);
    let params = plugin.params();
    let map: BTreeMap<String, ParamPtr> = params
        .param_map()
        .into_iter()
        .map(|(id, ptr, _)| (id, ptr))
        .collect();
    for (id, value) in &state.params {
        let Some(&ptr) = map.get(id) else { continue };
        // SAFETY: the pointers point into `params`, alive for this function.
        unsafe {
            match (ptr, value) {
                (ParamPtr::FloatParam(p), ParamValue::F32(v)) => {
                    (*p)._internal_set_plain_value(*v);
                }
                (ParamPtr::IntParam(p), ParamValue::I32(v)) => {
                    (*p)._internal_set_plain_value(*v);
                }
                (ParamPtr::BoolParam(p), ParamValue::Bool(v)) => {
                    (*p)._internal_set_plain_value(*v);
                }
                (ParamPtr::EnumParam(p), ParamValue::I32(v)) => {
                    (*p)._internal_set_plain_value(*v);
                }
                (ParamPtr::EnumParam(p), ParamValue::String(v)) => {
                    (*p).set_from_id(v);
                }
                // nice-plug ignores mismatches; `filter_state` replaced them already.
                _ => {}
            }
        }
    }
    params.deserialize_fields(&state.fields);
    state
}

/// A plugin with every kind of parameter away from its default.
fn customised() -> DannaSep {
    let plugin = DannaSep::default();
    let mut state = saved(&plugin);
    let p = &mut state.params;
    p.insert("out".into(), ParamValue::String("vocals".into()));
    p.insert("dr_gain".into(), ParamValue::F32(0.5));
    p.insert("vo_mute".into(), ParamValue::Bool(true));
    p.insert("model".into(), ParamValue::String("unet".into()));
    p.insert("tier".into(), ParamValue::String("studio".into()));
    let applied = load(&plugin, state);
    assert_eq!(plugin.parameters().state.notice(), None, "{applied:?}");
    plugin
}

fn header(state: &PluginState) -> StateHeader {
    persist::deserialize_field(&state.fields["state"]).expect("a state header")
}

fn notice(plugin: &DannaSep) -> String {
    plugin
        .parameters()
        .state
        .notice()
        .expect("the load left a notice")
}

#[test]
fn saved_states_carry_the_layout_version() {
    let state = saved(&DannaSep::default());
    assert_eq!(header(&state).version, STATE_VERSION);
    assert_eq!(header(&state).notice, None);
    assert_eq!(
        state.fields["state"],
        format!("{{\"version\":{STATE_VERSION}}}")
    );
}

#[test]
fn a_state_of_this_version_loads_as_saved_and_says_nothing() {
    let plugin = customised();
    let state = saved(&plugin);
    let fresh = DannaSep::default();
    let applied = load(&fresh, state.clone());
    assert_eq!(fresh.parameters().state.notice(), None);
    assert_eq!(
        format!("{:?}", applied.params),
        format!("{:?}", state.params),
        "nothing changed on the way"
    );
    let p = fresh.parameters();
    assert_eq!(p.output.value(), danna_sep::mixer::OutputSelect::Vocals);
    assert_eq!(p.drums.gain.value(), 0.5);
    assert!(p.vocals.mute.value());
    assert_eq!(p.model.value(), danna_sep::params::ModelParam::UNet);
    assert_eq!(p.tier.value(), danna_sep::params::TierParam::Studio);
}

#[test]
fn unknown_parameters_and_fields_are_dropped_and_named() {
    let plugin = DannaSep::default();
    let mut state = saved(&plugin);
    state
        .params
        .insert("zz_reverb".into(), ParamValue::F32(0.3));
    state.fields.insert("zz_notes".into(), "\"hello\"".into());
    let applied = load(&plugin, state);
    assert!(!applied.params.contains_key("zz_reverb"));
    assert!(!applied.fields.contains_key("zz_notes"));
    let n = notice(&plugin);
    assert!(n.contains("ignored unknown: zz_reverb, zz_notes"), "{n}");
}

#[test]
fn a_newer_version_loads_what_it_knows_and_says_so() {
    let plugin = DannaSep::default();
    let mut state = saved(&customised());
    state.version = "9.0.0".into();
    state.fields.insert(
        "state".into(),
        format!("{{\"version\":{}}}", STATE_VERSION + 1),
    );
    state.params.insert("vo_width".into(), ParamValue::F32(0.5));
    load(&plugin, state);
    let n = notice(&plugin);
    assert!(n.contains("newer version"), "{n}");
    assert!(n.contains("9.0.0"), "{n}");
    assert!(n.contains("vo_width"), "{n}");
    // What this version knows is kept.
    assert_eq!(
        plugin.parameters().model.value(),
        danna_sep::params::ModelParam::UNet
    );
}

#[test]
fn an_older_state_without_a_version_is_migrated_and_missing_settings_get_defaults() {
    let plugin = customised();
    let mut state = saved(&customised());
    // Before the layout version existed: no `state` field. And a parameter it did not have.
    state.fields.remove("state");
    state.params.remove("precision");
    state.params.remove("tier");
    load(&plugin, state);
    let n = notice(&plugin);
    assert!(n.contains("older version (state v0)"), "{n}");
    assert!(
        n.contains("missing, set to default: precision, tier"),
        "{n}"
    );
    let p = plugin.parameters();
    assert_eq!(p.tier.value(), danna_sep::params::TierParam::Balanced);
    assert_eq!(p.model.value(), danna_sep::params::ModelParam::UNet);
    // A clean load afterwards clears the notice.
    load(&plugin, saved(&DannaSep::default()));
    assert_eq!(plugin.parameters().state.notice(), None);
}

#[test]
fn invalid_values_get_defaults_and_out_of_range_numbers_are_clamped() {
    let plugin = customised();
    let mut state = saved(&plugin);
    let p = &mut state.params;
    p.insert("dr_gain".into(), ParamValue::F32(1.0e30));
    p.insert("ba_gain".into(), ParamValue::F32(-3.0));
    p.insert("ot_gain".into(), ParamValue::Bool(true));
    p.insert("model".into(), ParamValue::String("hyper".into()));
    p.insert("tier".into(), ParamValue::I32(42));
    p.insert("vo_mute".into(), ParamValue::F32(1.0));
    state
        .fields
        .insert("editor-state".into(), "{\"width\":\"wide\"}".into());
    let applied = load(&plugin, state);
    let n = notice(&plugin);
    assert!(
        n.contains("reset to default: ot_gain, vo_mute, model and 2 more"),
        "{n}"
    );
    assert!(n.contains("clamped to range: dr_gain, ba_gain"), "{n}");
    let p = plugin.parameters();
    assert_eq!(p.drums.gain.value(), nice_plug::util::db_to_gain(12.0));
    assert_eq!(p.bass.gain.value(), 0.0);
    assert_eq!(p.other.gain.value(), 1.0);
    assert_eq!(p.model.value(), danna_sep::params::ModelParam::Full);
    assert_eq!(p.tier.value(), danna_sep::params::TierParam::Balanced);
    assert!(!p.vocals.mute.value());
    assert_eq!(
        applied.fields["editor-state"],
        persist::serialize_field(&danna_sep::editor::view_model::EditorSize::DEFAULT).unwrap()
    );
}

#[test]
fn an_unreadable_state_loads_the_defaults_and_says_so() {
    let plugin = customised();
    // What the vendored wrappers hand over when the host's bytes are not a state.
    let empty = PluginState {
        version: String::new(),
        params: BTreeMap::new(),
        fields: BTreeMap::new(),
    };
    load(&plugin, empty);
    assert_eq!(
        notice(&plugin),
        "The saved settings could not be read: defaults loaded."
    );
    let defaults = saved(&DannaSep::default());
    assert_eq!(
        format!("{:?}", saved(&plugin).params),
        format!("{:?}", defaults.params)
    );
}

#[test]
fn an_unreadable_version_field_is_said_and_the_rest_loads() {
    let plugin = DannaSep::default();
    let mut state = saved(&customised());
    state
        .fields
        .insert("state".into(), "{\"version\":\"two\"}".into());
    load(&plugin, state);
    let n = notice(&plugin);
    assert!(
        n.starts_with("The settings' version could not be read"),
        "{n}"
    );
    assert_eq!(
        plugin.parameters().model.value(),
        danna_sep::params::ModelParam::UNet
    );
}
