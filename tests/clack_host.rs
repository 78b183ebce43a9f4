//! Loads the built CLAP plugin in a minimal host (clack-host) and checks the host-facing
//! contract: the factory, the audio ports, the latency report, and that with the identity
//! backend (no model) the main output is the input delayed by exactly the reported latency
//! and each of the four stem outputs is a quarter of it (the identity backend splits the mix
//! equally), for several block-size patterns and at 44.1 kHz and 48 kHz.
//!
//! The exactness checks run in offline render mode: in real-time mode the engine falls back to
//! dry audio when inference misses its deadline, which a loaded test machine can cause at any
//! time, so exact comparisons there would be flaky. Real-time mode gets a smoke test.
//!
//! Which library is loaded: see `common::clap_host::plugin_library`.

mod common;

use common::clap_host::{self as host, OutputPorts, PortInfo, StreamResult, UNWRITTEN};
use common::signals::{assert_delayed, correlation_peak, noise, relative_error_db, Rng};

const MAX_FRAMES: u32 = 4096;
const STEMS: [&str; 4] = ["drums", "bass", "other", "vocals"];

/// Noise low-passed at `cutoff` Hz by a Blackman-windowed sinc FIR (stop band below -70 dB),
/// so that resampling to the model rate and back cannot remove any of its energy.
fn lowpassed_noise(seed: u64, frames: usize, sample_rate: f64, cutoff: f64) -> Vec<Vec<f32>> {
    const TAPS: usize = 255;
    let fc = cutoff / sample_rate;
    let mid = (TAPS / 2) as f64;
    let taps: Vec<f64> = (0..TAPS)
        .map(|i| {
            let x = i as f64 - mid;
            let sinc = if x == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * x).sin() / (std::f64::consts::PI * x)
            };
            let w = 2.0 * std::f64::consts::PI * i as f64 / (TAPS - 1) as f64;
            sinc * (0.42 - 0.5 * w.cos() + 0.08 * (2.0 * w).cos())
        })
        .collect();
    noise(seed, 2, frames + TAPS)
        .iter()
        .map(|ch| {
            (0..frames)
                .map(|n| {
                    let acc: f64 = taps
                        .iter()
                        .enumerate()
                        .map(|(k, t)| t * f64::from(ch[n + TAPS - 1 - k]))
                        .sum();
                    // About unity RMS gain → the same level as the white noise, times 2.
                    (acc * 2.0) as f32
                })
                .collect()
        })
        .collect()
}

/// Block-size patterns: fixed 64, 480 and 4096, and a seeded random sequence in 1..=4096.
fn block_patterns() -> Vec<(String, Vec<usize>)> {
    let mut rng = Rng(0x5eed_b10c);
    let random: Vec<usize> = (0..257)
        .map(|_| 1 + (rng.next_u64() % MAX_FRAMES as u64) as usize)
        .collect();
    vec![
        ("64".into(), vec![64]),
        ("480".into(), vec![480]),
        ("4096".into(), vec![4096]),
        ("random".into(), random),
    ]
}

/// Loads the plugin, checks the port layout and returns an instance plus the output channel
/// counts.
fn setup() -> (
    clack_host::prelude::PluginEntry,
    Vec<PortInfo>,
    Vec<PortInfo>,
) {
    common::use_quarter_model_set();
    let path = host::plugin_library();
    eprintln!("testing CLAP plugin {}", path.display());
    let entry = host::load_entry(&path);
    let ids = host::plugin_ids(&entry);
    assert!(
        ids.iter()
            .any(|id| id.as_bytes() == host::PLUGIN_ID.to_bytes()),
        "plugin id {:?} not in factory: {ids:?}",
        host::PLUGIN_ID
    );
    let mut instance = host::instantiate(&entry);
    let inputs = host::audio_ports(&mut instance, true);
    let outputs = host::audio_ports(&mut instance, false);
    drop(instance);
    (entry, inputs, outputs)
}

#[test]
fn factory_and_audio_ports() {
    let (_entry, inputs, outputs) = setup();
    assert_eq!(inputs.len(), 1, "inputs: {inputs:?}");
    assert!(inputs[0].is_main && inputs[0].channels == 2, "{inputs:?}");
    assert_eq!(outputs.len(), 5, "outputs: {outputs:?}");
    assert!(
        outputs[0].is_main && outputs[0].channels == 2,
        "{outputs:?}"
    );
    for stem in STEMS {
        let port = outputs[1..]
            .iter()
            .find(|p| p.name.to_lowercase().contains(stem))
            .unwrap_or_else(|| panic!("no output port named like {stem:?}: {outputs:?}"));
        assert!(!port.is_main && port.channels == 2, "{port:?}");
    }
}

/// Streams `input` with every block pattern; returns the results.
fn run_patterns(
    sample_rate: f64,
    offline: bool,
    input: &[Vec<f32>],
    patterns: &[(String, Vec<usize>)],
) -> Vec<(String, StreamResult)> {
    let (entry, _inputs, outputs) = setup();
    let channels: Vec<u32> = outputs.iter().map(|p| p.channels).collect();
    patterns
        .iter()
        .map(|(name, sizes)| {
            let mut instance = host::instantiate(&entry);
            host::set_offline(&mut instance, offline);
            let result = host::stream(
                &mut instance,
                sample_rate,
                MAX_FRAMES,
                input,
                &channels,
                sizes,
            );
            assert_eq!(
                result.latency, result.latency_after,
                "latency changed while active ({name})"
            );
            assert!(result.latency > 0, "no latency reported ({name})");
            assert!(
                (result.latency as usize) < input[0].len() * 3 / 4,
                "latency {} too long for the {}-frame test signal",
                result.latency,
                input[0].len()
            );
            for (p, port) in result.outputs.iter().enumerate() {
                for (c, ch) in port.iter().enumerate() {
                    if let Some(i) = ch.iter().position(|&v| v == UNWRITTEN || !v.is_finite()) {
                        panic!(
                            "{name}: port {p} channel {c} frame {i} not written: {}",
                            ch[i]
                        );
                    }
                }
            }
            (name.clone(), result)
        })
        .collect()
}

#[test]
fn identity_at_44k1_is_the_input_delayed_by_the_latency() {
    let sr = 44_100.0;
    let input = noise(0xda77a, 2, 6 * 44_100);
    let results = run_patterns(sr, true, &input, &block_patterns());
    let latency = results[0].1.latency;
    for (name, result) in &results {
        assert_eq!(
            result.latency, latency,
            "latency depends on the block pattern"
        );
        let lat = result.latency as usize;
        for (p, port) in result.outputs.iter().enumerate() {
            let gain = if p == 0 { 1.0 } else { 0.25 };
            for (c, ch) in port.iter().enumerate() {
                let label = format!("44.1 kHz, blocks {name}, port {p}, channel {c}");
                assert_delayed(&label, ch, &input[c], gain, lat, 1e-5);
            }
        }
    }
    eprintln!("44.1 kHz latency: {latency} samples");
}

#[test]
fn identity_at_48k_is_the_input_delayed_by_the_latency_after_resampling() {
    let sr = 48_000.0;
    let frames = 6 * 48_000;
    let input = lowpassed_noise(0x48_000, frames, sr, 8_000.0);
    let results = run_patterns(sr, true, &input, &block_patterns());
    let latency = results[0].1.latency;
    let mut worst_db = f64::NEG_INFINITY;
    for (name, result) in &results {
        assert_eq!(
            result.latency, latency,
            "latency depends on the block pattern"
        );
        let lat = result.latency as usize;
        let main = &result.outputs[0];
        // Half a second of signal, one second in, searched over lags within ±4096 of the
        // reported latency (a full search would cost minutes with latencies of seconds; the
        // noise is broadband enough that its correlation has a single sharp peak).
        let segment = 48_000..72_000;
        let lags = lat.saturating_sub(4096)..=(lat + 4096).min(frames - segment.end);
        for (c, ch) in main.iter().enumerate() {
            let peak = correlation_peak(ch, &input[c], segment.clone(), lags.clone());
            assert_eq!(
                peak, lat,
                "48 kHz, blocks {name}, channel {c}: correlation peak at {peak}, latency {lat}"
            );
        }
        // Skip a quarter second after the first output (resampler warm-up) and the tail.
        let range = lat + 12_000..frames - 1_000;
        for (p, port) in result.outputs.iter().enumerate() {
            let gain = if p == 0 { 1.0 } else { 0.25 };
            for (c, ch) in port.iter().enumerate() {
                let db = relative_error_db(ch, &input[c], gain, lat, range.clone());
                worst_db = worst_db.max(db);
                assert!(
                    db < -40.0,
                    "48 kHz, blocks {name}, port {p}, channel {c}: relative error {db:.1} dB"
                );
            }
        }
    }
    eprintln!("48 kHz latency: {latency} samples, worst relative error {worst_db:.1} dB");
}

#[test]
fn a_host_passing_only_the_main_port_gets_the_delayed_input_and_nothing_past_its_array() {
    let (entry, _inputs, outputs) = setup();
    let channels: Vec<u32> = outputs.iter().map(|p| p.channels).collect();
    let sr = 44_100.0;
    let input = noise(0x3a1c, 2, 5 * 44_100);
    let mut instance = host::instantiate(&entry);
    host::set_offline(&mut instance, true);
    let result = host::stream_ports(
        &mut instance,
        sr,
        MAX_FRAMES,
        &input,
        &channels,
        &[480],
        OutputPorts::MainOnly,
    );
    assert!(
        result.poison_intact,
        "the plugin wrote to the port entry past the host's array (audio_outputs_count = 1)"
    );
    assert_eq!(result.outputs.len(), 1);
    // Stock nice-plug skipped process() when stem ports were missing, leaving the main port
    // unwritten (the host's UNWRITTEN marker).
    for (c, ch) in result.outputs[0].iter().enumerate() {
        let label = format!("main port only, channel {c}");
        assert_delayed(&label, ch, &input[c], 1.0, result.latency as usize, 1e-5);
    }
}

#[test]
fn the_tail_is_reported_from_activation_on() {
    let (entry, _inputs, outputs) = setup();
    let channels: Vec<u32> = outputs.iter().map(|p| p.channels).collect();
    let input = noise(0x7a12, 2, MAX_FRAMES as usize);
    let mut instance = host::instantiate(&entry);
    host::set_offline(&mut instance, true);
    let result = host::stream(
        &mut instance,
        44_100.0,
        MAX_FRAMES,
        &input,
        &channels,
        &[MAX_FRAMES as usize],
    );
    assert!(result.latency > 0);
    assert_eq!(
        result.tail_before_first_block, result.latency,
        "tail.get() before the first block (a host planning a bounce asks then)"
    );
}

#[test]
fn realtime_mode_runs_and_reports_the_same_latency() {
    let sr = 44_100.0;
    let input = noise(0x7ea1, 2, 6 * 44_100);
    let patterns = vec![("480".to_string(), vec![480])];
    let realtime = run_patterns(sr, false, &input, &patterns);
    let offline = run_patterns(sr, true, &input[..], &patterns);
    assert_eq!(realtime[0].1.latency, offline[0].1.latency);
}

#[test]
fn a_model_change_during_playback_requests_no_restart_and_the_stems_keep_coming() {
    let (entry, _inputs, outputs) = setup();
    let channels: Vec<u32> = outputs.iter().map(|p| p.channels).collect();
    let sr = 44_100.0;
    let input = noise(0x5a4b, 2, 6 * 44_100);
    let mut instance = host::instantiate(&entry);
    // Offline (a bounce): every window is waited for, so the render is exact.
    host::set_offline(&mut instance, true);
    let model = host::find_param(&mut instance, "Model set");
    let precision = host::find_param(&mut instance, "Precision");
    assert_eq!((model.min, model.max), (0.0, 6.0), "seven model choices");
    let changes = [
        // "Fast" two seconds in, int8 a second later: staged swaps, not restarts.
        host::ParamChange {
            frame: 2 * 44_100 + 17,
            param: model.id,
            value: 1.0,
        },
        host::ParamChange {
            frame: 3 * 44_100,
            param: precision.id,
            value: precision.max,
        },
    ];
    let result = host::stream_with_changes(
        &mut instance,
        sr,
        MAX_FRAMES,
        &input,
        &channels,
        &[480, 512, 1],
        &changes,
    );
    assert!(
        !result.restart_requested,
        "a model change restarted the plugin"
    );
    assert_eq!(result.latency, result.latency_after);
    let lat = result.latency as usize;
    // The quarter set gives the same stems for every choice: the stems go on, to the sample,
    // through both changes.
    for (p, port) in result.outputs.iter().enumerate() {
        let gain = if p == 0 { 1.0 } else { 0.25 };
        for (c, ch) in port.iter().enumerate() {
            assert_delayed(
                &format!("port {p} channel {c}"),
                ch,
                &input[c],
                gain,
                lat,
                1e-5,
            );
        }
    }

    // The latency tier is the one change that needs a restart.
    let mut instance = host::instantiate(&entry);
    host::set_offline(&mut instance, true);
    let tier = host::find_param(&mut instance, "Latency tier");
    let result = host::stream_with_changes(
        &mut instance,
        sr,
        MAX_FRAMES,
        &input[..],
        &channels,
        &[512],
        &[host::ParamChange {
            frame: 44_100,
            param: tier.id,
            value: tier.min,
        }],
    );
    assert!(
        result.restart_requested,
        "a tier change must ask for a restart"
    );
}

/// Display names and plain values of the parameters the state tests change, away from their
/// defaults: an enum by id, a float, a bool, the models (Fast: the quarter set has no single
/// models) and the tier (which changes the latency).
const CUSTOM: [(&str, f64); 6] = [
    ("Output", 4.0),
    ("Drums gain", 0.5),
    ("Vocals mute", 1.0),
    ("Model set", 1.0),
    ("Precision", 1.0),
    ("Latency tier", 2.0),
];

/// A new instance with the [`CUSTOM`] values set through `params.flush`, as a host restores
/// automation.
fn customised(
    entry: &clack_host::prelude::PluginEntry,
) -> clack_host::prelude::PluginInstance<host::TestHost> {
    let mut instance = host::instantiate(entry);
    let changes: Vec<_> = CUSTOM
        .iter()
        .map(|&(name, value)| (host::find_param(&mut instance, name).id, value))
        .collect();
    host::set_params(&mut instance, &changes);
    instance
}

/// A CLAP state as nice-plug writes it: the JSON's length (u64, little endian), then the JSON.
fn clap_state(json: &[u8]) -> Vec<u8> {
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json);
    bytes
}

/// Streams an offline render and checks that the stems are the input delayed by the reported
/// latency and the main output is `main_gain` times it; returns that latency.
fn renders_aligned(
    instance: &mut clack_host::prelude::PluginInstance<host::TestHost>,
    main_gain: f32,
) -> u32 {
    let (_entry, _inputs, outputs) = setup();
    let channels: Vec<u32> = outputs.iter().map(|p| p.channels).collect();
    host::set_offline(instance, true);
    // Long enough for the Studio tier's latency (9.3 s) and a few windows after it.
    let input = noise(0x57a7e, 2, 12 * 44_100);
    let result = host::stream(instance, 44_100.0, MAX_FRAMES, &input, &channels, &[4096]);
    let lat = result.latency as usize;
    assert!(lat + 44_100 < input[0].len(), "latency {lat}");
    for (p, port) in result.outputs.iter().enumerate() {
        let gain = if p == 0 { main_gain } else { 0.25 };
        for (c, ch) in port.iter().enumerate() {
            assert_delayed(
                &format!("port {p} channel {c}"),
                ch,
                &input[c],
                gain,
                lat,
                1e-5,
            );
        }
    }
    result.latency
}

#[test]
fn state_round_trips_through_a_new_instance() {
    let (entry, _inputs, _outputs) = setup();
    let mut saved_from = customised(&entry);
    let values = host::param_values(&mut saved_from);
    let defaults = host::param_values(&mut host::instantiate(&entry));
    assert_ne!(
        values, defaults,
        "the custom values differ from the defaults"
    );
    let bytes = host::save_state(&mut saved_from);
    drop(saved_from);

    let mut loaded = host::instantiate(&entry);
    assert!(
        host::load_state(&mut loaded, &bytes),
        "loading a saved state"
    );
    assert_eq!(
        host::param_values(&mut loaded),
        values,
        "every value comes back"
    );
    assert_eq!(
        host::save_state(&mut loaded),
        bytes,
        "saving again gives the same state"
    );
    // The engine runs what was loaded: the Studio tier's latency, the stems aligned.
    let studio = danna_sep_core::engine::LatencyBudget::new(
        danna_sep_core::engine::LatencyTier::Studio,
        44_100,
        MAX_FRAMES as usize,
    );
    // The main output plays the muted vocals: silence.
    assert_eq!(renders_aligned(&mut loaded, 0.0) as usize, studio.total());
}

#[test]
fn garbage_newer_and_unknown_states_leave_the_plugin_usable_with_defaults() {
    let (entry, _inputs, _outputs) = setup();
    let defaults = host::param_values(&mut host::instantiate(&entry));

    // Not JSON: the host hears that loading failed, the plugin falls back to its defaults.
    let garbage: [&[u8]; 3] = [b"{\"params\": 3", b"\xff\xfe garbage", b""];
    for garbage in garbage {
        let mut instance = customised(&entry);
        assert!(
            !host::load_state(&mut instance, &clap_state(garbage)),
            "{garbage:?} was accepted"
        );
        assert_eq!(host::param_values(&mut instance), defaults, "{garbage:?}");
    }
    // A length prefix promising more than there is: the JSON is cut short, the same outcome.
    let mut instance = customised(&entry);
    let mut truncated = host::save_state(&mut instance);
    truncated.truncate(truncated.len() / 2);
    assert!(!host::load_state(&mut instance, &truncated));
    assert_eq!(
        host::param_values(&mut instance),
        defaults,
        "truncated state"
    );
    renders_aligned(&mut instance, 1.0);

    // A newer version with a parameter and a field this one does not know, and an enum value
    // id it does not know: the rest loads, the unknown value gets its default.
    let mut saved_from = customised(&entry);
    let bytes = host::save_state(&mut saved_from);
    let mut json: serde_json::Value = serde_json::from_slice(&bytes[8..]).expect("JSON state");
    json["version"] = "9.0.0".into();
    json["fields"]["state"] = "{\"version\":99}".into();
    json["fields"]["zz_notes"] = "\"hello\"".into();
    json["params"]["zz_width"] = serde_json::json!({"f32": 0.5});
    json["params"]["model"] = serde_json::json!({"string": "hyper"});
    let newer = clap_state(&serde_json::to_vec(&json).unwrap());
    let mut instance = host::instantiate(&entry);
    assert!(
        host::load_state(&mut instance, &newer),
        "a newer state loads"
    );
    let model = host::find_param(&mut instance, "Model set").id.get();
    let values = host::param_values(&mut instance);
    let expected = host::param_values(&mut saved_from);
    for ((id, name, value), (_, _, want)) in values.iter().zip(&expected) {
        if *id == model {
            assert_eq!(*value, 0.0, "the unknown model id loads the default");
        } else {
            assert_eq!(value, want, "{name}");
        }
    }
    let resaved: serde_json::Value =
        serde_json::from_slice(&host::save_state(&mut instance)[8..]).unwrap();
    assert!(resaved["params"].get("zz_width").is_none());
    assert!(resaved["fields"].get("zz_notes").is_none());
    assert_eq!(resaved["fields"]["state"], "{\"version\":1}");
    renders_aligned(&mut instance, 0.0);
}

#[test]
fn activation_refuses_bad_rates_and_clamps_an_absurd_max_block() {
    let (entry, _inputs, outputs) = setup();
    let mut instance = host::instantiate(&entry);
    for rate in [f64::NAN, 0.0, -48_000.0, f64::INFINITY] {
        assert!(
            !host::try_activate(&mut instance, rate, MAX_FRAMES),
            "{rate} Hz was accepted"
        );
    }
    // Finite rates outside 8..768 kHz are clamped (the CLAP validator probes 1234.5678 Hz).
    for rate in [8_000.0, 1_234.567_8, 1_000_000.0] {
        assert!(
            host::try_activate(&mut instance, rate, MAX_FRAMES),
            "{rate} Hz"
        );
    }
    // u32::MAX frames: the engine is built for 65,536 and the latency says so.
    let channels: Vec<u32> = outputs.iter().map(|p| p.channels).collect();
    host::set_offline(&mut instance, true);
    let input = noise(0xb16, 2, 6 * 44_100);
    let result = host::stream(
        &mut instance,
        44_100.0,
        u32::MAX,
        &input,
        &channels,
        &[8192],
    );
    let expected = danna_sep_core::engine::LatencyBudget::new(
        danna_sep_core::engine::LatencyTier::Balanced,
        44_100,
        danna_sep::host_config::MAX_BLOCK as usize,
    );
    assert_eq!(result.latency as usize, expected.total());
    for (p, port) in result.outputs.iter().enumerate() {
        let gain = if p == 0 { 1.0 } else { 0.25 };
        for (c, ch) in port.iter().enumerate() {
            let label = format!("port {p} channel {c}");
            assert_delayed(&label, ch, &input[c], gain, result.latency as usize, 1e-5);
        }
    }
}
