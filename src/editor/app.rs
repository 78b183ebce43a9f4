//! The state of one open editor window ([`EditorApp`]) and its egui app: each frame it
//! updates the meters, builds the status view and lays out the header, strips, side panel and
//! footer.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use atomic_float::AtomicF32;

use egui::{self, pos2, vec2, Rect, Ui};
use nice_plug::context::gui::GuiContext;
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::{baseview, Frame, NiceEguiApp};

use danna_sep_core::engine::RuntimeInfo;
use danna_sep_core::stems::STEM_COUNT;

use super::palette::style_context;
use super::panels::draw_footer;
use super::strip::{draw_strip, StripView};
use super::view_model::{
    post_fader_peaks, status_view, stem_audibility, EditorSize, MeterBallistics, RuntimeStatus,
};
use super::FRAME_INTERVAL;
use crate::hub::PluginHub;
use crate::params::DannaSepParams;

/// GUI-side state of one open window.
pub(super) struct EditorApp {
    pub(super) params: Arc<DannaSepParams>,
    pub(super) hub: Arc<PluginHub>,
    gui: Option<GuiContext>,
    stems_pre: [MeterBallistics; STEM_COUNT],
    stems_post: [MeterBallistics; STEM_COUNT],
    pub(super) main: MeterBallistics,
    last_frame: Instant,
    scale: Arc<AtomicF32>,
}

impl EditorApp {
    pub(super) fn new(
        params: Arc<DannaSepParams>,
        hub: Arc<PluginHub>,
        scale: Arc<AtomicF32>,
    ) -> Self {
        Self {
            params,
            hub,
            gui: None,
            stems_pre: Default::default(),
            stems_post: Default::default(),
            main: MeterBallistics::default(),
            last_frame: Instant::now(),
            scale,
        }
    }
}

impl NiceEguiApp for EditorApp {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), baseview::HandlerError> {
        style_context(&egui_ctx);
        self.gui = Some(nice_gui_ctx);
        self.last_frame = Instant::now();
        Ok(())
    }

    fn ui(&mut self, ui: &mut Ui, _frame: &mut Frame) {
        let Some(gui) = self.gui.clone() else {
            return;
        };
        let setter = gui.param_setter();
        let now = Instant::now();
        let dt = now.duration_since(self.last_frame).as_secs_f32();
        self.last_frame = now;
        ui.ctx().request_repaint_after(FRAME_INTERVAL);

        let settings = self.params.mixer_settings();
        let (pre, main) = self.hub.meters.take();
        let post = post_fader_peaks(&settings, pre);
        let meters = self.stems_pre.iter_mut().zip(&mut self.stems_post);
        for (s, (pre_meter, post_meter)) in meters.enumerate() {
            pre_meter.update(pre[s], dt);
            post_meter.update(post[s], dt);
        }
        self.main.update(main, dt);
        let snapshot = self.hub.snapshot();
        let info = snapshot.as_ref().and_then(|s| s.info.clone());
        let runtime = RuntimeStatus::of(
            info.as_ref()
                .map_or(&RuntimeInfo::NotLoaded, |i| &i.runtime),
        );
        let model_set = info.as_ref().and_then(|i| i.model_set.clone());
        // Shown until the next activation or state load clears them.
        let refusal = snapshot.is_none().then(|| self.hub.refusal()).flatten();
        let status = status_view(snapshot.as_ref(), &runtime, model_set.as_ref())
            .noted(self.params.state.notice())
            .noted(refusal);
        let audibility = stem_audibility(&settings);

        let min = EditorSize::MIN;
        ResizableWindow::new("danna-sep-editor")
            .min_size(vec2(min.width as f32, min.height as f32))
            .show(ui, |ui| {
                let full = ui.max_rect().shrink(12.0);
                let header = Rect::from_min_size(full.min, vec2(full.width(), 34.0));
                let footer_h = 66.0;
                let footer = Rect::from_min_max(pos2(full.min.x, full.max.y - footer_h), full.max);
                let middle = Rect::from_min_max(
                    pos2(full.min.x, header.max.y + 10.0),
                    pos2(full.max.x, footer.min.y - 10.0),
                );
                let side_w = 232.0;
                let strips = Rect::from_min_max(
                    middle.min,
                    pos2(middle.max.x - side_w - 12.0, middle.max.y),
                );
                let side = Rect::from_min_max(pos2(strips.max.x + 12.0, middle.min.y), middle.max);

                self.draw_header(ui, header, &setter, &status);
                let gap = 8.0;
                let w = (strips.width() - gap * (STEM_COUNT as f32 - 1.0)) / STEM_COUNT as f32;
                for (s, stem) in self.params.stems().into_iter().enumerate() {
                    let x = strips.min.x + s as f32 * (w + gap);
                    let rect = Rect::from_min_size(pos2(x, strips.min.y), vec2(w, strips.height()));
                    let strip = StripView {
                        index: s,
                        audibility: audibility[s],
                        pre: self.stems_pre[s],
                        post: self.stems_post[s],
                    };
                    draw_strip(ui, rect, &setter, stem, &strip);
                }
                self.draw_side(ui, side, &setter, snapshot.as_ref());
                draw_footer(ui, footer, &status);
            });
    }

    fn resized(&mut self, new_size: baseview::WindowSize) {
        // Persisted with the plugin state, so the next window (and the next session) opens at
        // this size.
        let size = EditorSize {
            width: new_size.logical.width.round() as u32,
            height: new_size.logical.height.round() as u32,
        }
        .clamped();
        self.params.editor_state.store(size);
        self.scale
            .store(new_size.scale_factor as f32, Ordering::Relaxed);
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}
