//! How the CLAP plugin reports its latency when it is activated: with
//! `clap_host_latency::changed()` during `clap_plugin::activate()` (CLAP allows a latency change
//! only there), never with `request_restart()`. A restart request makes a host that follows the
//! specification (the CLAP validator does) activate the plugin a second time for nothing:
//! every new instance and every tier change then paid the model load and warm-up twice, which
//! is what pushed the validator's fuzz tests over their 45 s timeout.
//!
//! Which library is loaded: see `common::clap_host::plugin_library`.

mod common;

use std::sync::atomic::Ordering;

use clack_host::prelude::{PluginAudioConfiguration, PluginInstance};
use common::clap_host::{self as host, TestHost};
use danna_sep_core::engine::{LatencyBudget, LatencyTier};

const RATE: u32 = 44_100;
const MAX_FRAMES: u32 = 512;

/// What the host saw during one activate/deactivate cycle.
#[derive(Debug, PartialEq)]
struct Activation {
    restart_requested: bool,
    latency_notifications: u32,
    latency: u32,
}

/// Activates, runs the main-thread callback if the plugin asked for one (a host does so soon
/// after), reads the latency and deactivates.
fn activate_once(instance: &mut PluginInstance<TestHost>) -> Activation {
    let shared = |instance: &PluginInstance<TestHost>| {
        instance.access_shared_handler(|s| {
            (
                s.restart_requested.swap(false, Ordering::SeqCst),
                s.latency_changed.swap(0, Ordering::SeqCst),
            )
        })
    };
    shared(instance);
    let config = PluginAudioConfiguration {
        sample_rate: f64::from(RATE),
        min_frames_count: 1,
        max_frames_count: MAX_FRAMES,
    };
    let processor = instance
        .activate(|_, _| (), config)
        .expect("activating the plugin");
    if instance.access_shared_handler(|s| s.callback_requested.swap(false, Ordering::SeqCst)) {
        instance.call_on_main_thread_callback();
    }
    let latency = host::latency(instance);
    let (restart_requested, latency_notifications) = shared(instance);
    instance.deactivate(processor);
    Activation {
        restart_requested,
        latency_notifications,
        latency,
    }
}

fn latency_of(tier: LatencyTier) -> u32 {
    LatencyBudget::new(tier, RATE, MAX_FRAMES as usize).total() as u32
}

#[test]
fn activation_reports_the_latency_during_activate_and_never_asks_for_a_restart() {
    common::use_quarter_model_set();
    let entry = host::load_entry(&host::plugin_library());
    let mut instance = host::instantiate(&entry);
    host::set_offline(&mut instance, true);

    // A new instance: its latency goes from 0 (unknown) to the Balanced tier's.
    let first = activate_once(&mut instance);
    assert_eq!(
        first,
        Activation {
            restart_requested: false,
            latency_notifications: 1,
            latency: latency_of(LatencyTier::Balanced),
        },
        "first activation"
    );

    // The same configuration again: nothing changed, nothing to report.
    let again = activate_once(&mut instance);
    assert_eq!(
        again,
        Activation {
            restart_requested: false,
            latency_notifications: 0,
            latency: latency_of(LatencyTier::Balanced),
        },
        "same configuration"
    );

    // A tier change made while inactive (e.g. after the restart the plugin asked for when the
    // tier changed during playback): reported during the next activation, once.
    let tier = host::find_param(&mut instance, "Latency tier");
    host::set_params(&mut instance, &[(tier.id, tier.min)]);
    let live = activate_once(&mut instance);
    assert_eq!(
        live,
        Activation {
            restart_requested: false,
            latency_notifications: 1,
            latency: latency_of(LatencyTier::Live),
        },
        "after a tier change"
    );
}
