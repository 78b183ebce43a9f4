//! The plugin's editor, drawn with egui (nice-plug-egui).
//!
//! One screen a producer can read at a glance: four stem strips (fader, meter, mute, solo), the
//! output selector, Karaoke, model-set, precision and latency-tier selectors (with the latency
//! each tier would report), and a status bar. Every control goes through nice-plug's [`ParamSetter`]
//! (begin/set/end gesture), so the host sees, records and automates exactly what the GUI does.
//!
//! Data from the audio side arrives only through [`crate::hub::PluginHub`] (atomics, see there); the
//! numbers and texts come from the pure [`view_model`].
//!
//! The window size is persisted in the plugin state (`DannaSepParams::editor_state`). The
//! editor object is created before the host restores the state, so [`DannaEditor`] reads the
//! persisted size each time a window is opened rather than once at creation.

mod app;
mod palette;
mod panels;
mod strip;
pub mod view_model;
mod widgets;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use atomic_float::AtomicF32;

use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::{LogicalSize, NativeSize, Size};
use nice_plug::editor::{HostMethods, ParentWindowHandle, SpawnedEditor};
use nice_plug::plugin::TrackInfo;
use nice_plug::prelude::*;
use nice_plug_egui::{
    baseview, create_egui_editor, EguiEditorHandle, EguiEditorState, EguiNiceSettings,
    RepaintNotifier,
};

use crate::hub::PluginHub;
use crate::params::DannaSepParams;
use app::EditorApp;
use view_model::EditorSize;

/// Window title.
const TITLE: &str = "Danna-Sep RT";

/// Meters and status refresh at about 30 frames per second while the window is open.
const FRAME_INTERVAL: Duration = Duration::from_millis(33);

/// The editor: opens egui windows at the persisted size.
pub struct DannaEditor {
    params: Arc<DannaSepParams>,
    hub: Arc<PluginHub>,
    // Last known scale factor (physical / logical pixels), to report the size in physical
    // pixels before a window exists; shared with the open window, which learns it on resize.
    scale: Arc<AtomicF32>,
}

/// The plugin's editor (called from `Plugin::editor`; cheap, nothing is drawn until the host
/// opens a window).
pub fn create(params: Arc<DannaSepParams>, hub: Arc<PluginHub>) -> Option<DannaEditor> {
    Some(DannaEditor {
        params,
        hub,
        scale: Arc::new(AtomicF32::new(1.0)),
    })
}

fn resize_hint() -> ResizeHint {
    let min = EditorSize::MIN;
    let max = EditorSize::MAX;
    ResizeHint::RESIZABLE.with_min_max_logical_size(
        Some(LogicalSize::new(min.width as f32, min.height as f32)),
        Some(LogicalSize::new(max.width as f32, max.height as f32)),
    )
}

impl DannaEditor {
    fn persisted_size(&self) -> EditorSize {
        self.params.editor_state.load().clamped()
    }
}

impl Editor for DannaEditor {
    type Handle = EguiEditorHandle;

    fn spawn(
        &self,
        parent: Option<ParentWindowHandle>,
        wait_for_parent: bool,
        fallback_scale_factor: Option<f64>,
        gui_context: GuiContext,
        host: Option<HostMethods>,
    ) -> Result<SpawnedEditor<Self::Handle>, Box<dyn std::error::Error>> {
        if let Some(scale) = fallback_scale_factor {
            self.scale.store(scale as f32, Ordering::Relaxed);
        }
        let size = self.persisted_size();
        let state = EguiEditorState::from_size(
            LogicalSize::new(size.width as f64, size.height as f64),
            1.0,
        );
        let settings = EguiNiceSettings::new()
            .with_tile(TITLE)
            .with_resize_hint(resize_hint());
        let app = EditorApp::new(self.params.clone(), self.hub.clone(), self.scale.clone());
        let editor = create_egui_editor(state, RepaintNotifier::new(), settings, app)
            .ok_or("nice-plug-egui could not create the editor")?;
        editor.spawn(
            parent,
            wait_for_parent,
            fallback_scale_factor,
            gui_context,
            host,
        )
    }

    fn size(&self) -> NativeSize<u32> {
        let size = self.persisted_size();
        NativeSize::from_size(
            Size::Logical(LogicalSize::new(size.width as f64, size.height as f64)),
            self.scale.load(Ordering::Relaxed) as f64,
        )
    }

    fn resize_hint(&self) -> ResizeHint {
        resize_hint()
    }

    fn track_info_updated(&self, _info: TrackInfo) {}

    unsafe fn assume_standalone_in_process(&self) {
        // SAFETY: the caller (nice-plug's standalone wrapper) guarantees what baseview requires:
        // this process is a standalone application that owns its event loop.
        unsafe { baseview::assume_standalone_in_process() }
    }
}
