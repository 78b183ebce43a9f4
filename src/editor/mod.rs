//! The plugin's editor, drawn with egui (nice-plug-egui).
//!
//! One screen a producer can read at a glance: four stem strips (fader, meter, mute, solo), the
//! output selector, Karaoke, model-set, precision and latency-tier selectors (with the latency
//! each tier would report), and a status bar. Every control goes through nice-plug's [`ParamSetter`]
//! (begin/set/end gesture), so the host sees, records and automates exactly what the GUI does.
//!
//! Data from the audio side arrives only through [`hub::PluginHub`] (atomics, see there); the
//! numbers and texts come from the pure [`view_model`].
//!
//! The window size is persisted in the plugin state (`DannaSepParams::editor_state`). The
//! editor object is created before the host restores the state, so [`DannaEditor`] reads the
//! persisted size each time a window is opened rather than once at creation.

pub mod view_model;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use atomic_float::AtomicF32;

use egui::{
    self, pos2, vec2, Align, Align2, Color32, CornerRadius, CursorIcon, FontId, Id, Layout, Rect,
    RichText, Sense, Stroke, StrokeKind, Ui, UiBuilder,
};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::{LogicalSize, NativeSize, Size};
use nice_plug::editor::{HostMethods, ParentWindowHandle, SpawnedEditor};
use nice_plug::plugin::TrackInfo;
use nice_plug::prelude::*;
use nice_plug_egui::resizable_window::ResizableWindow;
use nice_plug_egui::{
    baseview, create_egui_editor, EguiEditorHandle, EguiEditorState, EguiNiceSettings, Frame,
    NiceEguiApp, RepaintNotifier,
};

use danna_sep_core::engine::{LatencyTier, RuntimeInfo};
use danna_sep_core::stems::{STEMS, STEM_COUNT};

use crate::hub::PluginHub;
use crate::mixer::OutputSelect;
use crate::params::{DannaSepParams, ModelParam, PrecisionParam, StemParams, TierParam};
use view_model::{
    db_to_fader, fader_to_gain, format_db, format_db_value, gain_to_fader, meter_fraction,
    post_fader_peaks, status_view, stem_audibility, tier_label, EditorSize, MeterBallistics,
    EngineSnapshot, OrtStatus, Severity, StatusView, StemAudibility,
};

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

/// Palette: a dark, low-contrast background so the stem colours and meters carry the
/// information.
mod palette {
    use super::Color32;

    pub const BG: Color32 = Color32::from_rgb(0x13, 0x15, 0x1a);
    pub const PANEL: Color32 = Color32::from_rgb(0x1c, 0x1f, 0x26);
    pub const PANEL_EDGE: Color32 = Color32::from_rgb(0x2b, 0x2f, 0x3a);
    pub const WELL: Color32 = Color32::from_rgb(0x0c, 0x0e, 0x12);
    pub const CONTROL: Color32 = Color32::from_rgb(0x2a, 0x2e, 0x38);
    pub const CONTROL_HOVER: Color32 = Color32::from_rgb(0x36, 0x3b, 0x47);
    pub const TEXT: Color32 = Color32::from_rgb(0xe2, 0xe5, 0xec);
    pub const DIM: Color32 = Color32::from_rgb(0x8b, 0x91, 0x9e);
    pub const FAINT: Color32 = Color32::from_rgb(0x5a, 0x60, 0x6c);
    pub const HANDLE: Color32 = Color32::from_rgb(0xd4, 0xd8, 0xe0);
    pub const GOOD: Color32 = Color32::from_rgb(0x43, 0xd0, 0x7e);
    pub const WARN: Color32 = Color32::from_rgb(0xe9, 0xc4, 0x4a);
    pub const BAD: Color32 = Color32::from_rgb(0xff, 0x5d, 0x5d);
    pub const MUTE: Color32 = Color32::from_rgb(0xe8, 0x6f, 0x45);
    pub const SOLO: Color32 = Color32::from_rgb(0xe9, 0xc4, 0x4a);
    pub const KARAOKE: Color32 = Color32::from_rgb(0xff, 0x62, 0xa5);
    pub const STEMS: [Color32; 4] = [
        Color32::from_rgb(0xff, 0x8f, 0x40), // drums
        Color32::from_rgb(0x7d, 0x8e, 0xff), // bass
        Color32::from_rgb(0x3f, 0xd2, 0xa0), // other
        Color32::from_rgb(0xff, 0x62, 0xa5), // vocals
    ];
}

fn severity_color(s: Severity) -> Color32 {
    match s {
        Severity::Neutral => palette::DIM,
        Severity::Good => palette::GOOD,
        Severity::Warning => palette::WARN,
        Severity::Bad => palette::BAD,
    }
}

/// GUI-side state of one open window.
struct EditorApp {
    params: Arc<DannaSepParams>,
    hub: Arc<PluginHub>,
    gui: Option<GuiContext>,
    stems_pre: [MeterBallistics; STEM_COUNT],
    stems_post: [MeterBallistics; STEM_COUNT],
    main: MeterBallistics,
    last_frame: Instant,
    scale: Arc<AtomicF32>,
}

impl EditorApp {
    fn new(params: Arc<DannaSepParams>, hub: Arc<PluginHub>, scale: Arc<AtomicF32>) -> Self {
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

fn style_context(ctx: &egui::Context) {
    let mut v = egui::Visuals::dark();
    v.panel_fill = palette::BG;
    v.window_fill = palette::PANEL;
    v.extreme_bg_color = palette::WELL;
    v.override_text_color = Some(palette::TEXT);
    v.widgets.inactive.weak_bg_fill = palette::CONTROL;
    v.widgets.inactive.bg_fill = palette::CONTROL;
    v.widgets.inactive.bg_stroke = Stroke::NONE;
    v.widgets.hovered.weak_bg_fill = palette::CONTROL_HOVER;
    v.widgets.hovered.bg_fill = palette::CONTROL_HOVER;
    v.widgets.active.weak_bg_fill = palette::CONTROL_HOVER;
    v.widgets.open.weak_bg_fill = palette::CONTROL_HOVER;
    v.selection.bg_fill = Color32::from_rgb(0x3b, 0x4a, 0x6b);
    for w in [
        &mut v.widgets.inactive,
        &mut v.widgets.hovered,
        &mut v.widgets.active,
        &mut v.widgets.open,
    ] {
        w.corner_radius = CornerRadius::same(5);
    }
    ctx.set_visuals_of(egui::Theme::Dark, v);
    ctx.set_theme(egui::Theme::Dark);
    ctx.all_styles_mut(|s| {
        s.spacing.item_spacing = vec2(6.0, 4.0);
        s.spacing.button_padding = vec2(8.0, 3.0);
        s.spacing.interact_size.y = 24.0;
    });
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
        let ort = OrtStatus::of(info.as_ref().map_or(&RuntimeInfo::NotLoaded, |i| &i.runtime));
        let model_set = info.as_ref().and_then(|i| i.model_set.clone());
        let status = status_view(snapshot.as_ref(), &ort, model_set.as_ref());
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

fn panel(ui: &Ui, rect: Rect) {
    ui.painter().rect(
        rect,
        CornerRadius::same(8),
        palette::PANEL,
        Stroke::new(1.0, palette::PANEL_EDGE),
        StrokeKind::Inside,
    );
}

/// A label in small capitals above a control.
fn caption(ui: &Ui, pos: egui::Pos2, text: &str) {
    ui.painter().text(
        pos,
        Align2::LEFT_TOP,
        text,
        FontId::proportional(10.5),
        palette::DIM,
    );
}

/// Runs `f` in a child `Ui` confined to `rect`.
fn in_rect<R>(ui: &mut Ui, rect: Rect, f: impl FnOnce(&mut Ui) -> R) -> R {
    let mut child = ui.new_child(
        UiBuilder::new()
            .max_rect(rect)
            .layout(Layout::left_to_right(Align::Center)),
    );
    f(&mut child)
}

/// Sets a parameter as one complete gesture (a click, a menu choice).
fn set_once<P: Param>(setter: &ParamSetter, param: &P, value: P::Plain) {
    setter.begin_set_parameter(param);
    setter.set_parameter(param, value);
    setter.end_set_parameter(param);
}

/// A rounded toggle button; returns true when clicked.
fn toggle(
    ui: &mut Ui,
    rect: Rect,
    id: Id,
    label: &str,
    on: bool,
    on_color: Color32,
    tip: &str,
) -> bool {
    let response = ui
        .interact(rect, id, Sense::click())
        .on_hover_cursor(CursorIcon::PointingHand)
        .on_hover_text(tip);
    let (fill, text) = if on {
        (on_color, palette::BG)
    } else if response.hovered() {
        (palette::CONTROL_HOVER, palette::TEXT)
    } else {
        (palette::CONTROL, palette::DIM)
    };
    let painter = ui.painter();
    painter.rect_filled(rect, CornerRadius::same(5), fill);
    painter.text(
        rect.center(),
        Align2::CENTER_CENTER,
        label,
        FontId::proportional(13.0),
        text,
    );
    response.clicked()
}

/// What a fader did this frame.
#[derive(Default)]
struct FaderResult {
    started: bool,
    moved_to: Option<f32>,
    stopped: bool,
    reset: bool,
}

/// Orientation, range and colour of a fader.
#[derive(Clone, Copy)]
struct FaderLook {
    /// Top of the travel as a fader-law position (1.0 = +12 dB, 0.75 = 0 dB).
    max_pos: f32,
    vertical: bool,
    accent: Color32,
}

/// A fader on the [`view_model`] fader law. `pos` is the current position (0..=`max_pos`);
/// dragging moves relative to where it was grabbed (Shift for fine moves), double-click resets.
fn fader(ui: &mut Ui, rect: Rect, id: Id, pos: f32, look: FaderLook, tip: &str) -> FaderResult {
    let FaderLook {
        max_pos,
        vertical,
        accent,
    } = look;
    let response = ui
        .interact(rect, id, Sense::click_and_drag())
        .on_hover_cursor(if vertical {
            CursorIcon::ResizeVertical
        } else {
            CursorIcon::ResizeHorizontal
        })
        .on_hover_text(tip);
    let travel = if vertical {
        rect.height() - 16.0
    } else {
        rect.width() - 16.0
    }
    .max(1.0);
    let mut result = FaderResult::default();
    let drag_id = id.with("drag-pos");
    if response.drag_started() {
        result.started = true;
        ui.data_mut(|d| d.insert_temp(drag_id, pos));
    }
    if response.dragged() {
        let delta = response.drag_delta();
        let along = if vertical { -delta.y } else { delta.x };
        let fine = if ui.input(|i| i.modifiers.shift) {
            0.2
        } else {
            1.0
        };
        let start = ui.data(|d| d.get_temp::<f32>(drag_id)).unwrap_or(pos);
        let new = (start + along / travel * max_pos * fine).clamp(0.0, max_pos);
        if delta != egui::Vec2::ZERO {
            ui.data_mut(|d| d.insert_temp(drag_id, new));
            result.moved_to = Some(new);
        }
    }
    if response.drag_stopped() {
        result.stopped = true;
        ui.data_mut(|d| d.remove::<f32>(drag_id));
    }
    if response.double_clicked() {
        result.reset = true;
    }
    let shown = result.moved_to.unwrap_or(pos);
    let t = (shown / max_pos).clamp(0.0, 1.0);
    let painter = ui.painter();
    let active = response.hovered() || response.dragged();
    if vertical {
        let cx = rect.center().x;
        let track = Rect::from_center_size(pos2(cx, rect.center().y), vec2(6.0, travel));
        painter.rect_filled(track, CornerRadius::same(3), palette::WELL);
        let y = track.max.y - t * travel;
        let lit = Rect::from_min_max(pos2(track.min.x, y), track.max);
        painter.rect_filled(lit, CornerRadius::same(3), accent.gamma_multiply(0.55));
        // Unity tick.
        let unity = track.max.y - db_to_fader(0.0) / max_pos * travel;
        painter.line_segment(
            [
                pos2(track.min.x - 6.0, unity),
                pos2(track.max.x + 6.0, unity),
            ],
            Stroke::new(1.0, palette::FAINT),
        );
        let handle = Rect::from_center_size(pos2(cx, y), vec2(rect.width().min(34.0), 14.0));
        let mark = [pos2(handle.min.x + 5.0, y), pos2(handle.max.x - 5.0, y)];
        paint_handle(painter, handle, mark, active, accent);
    } else {
        let cy = rect.center().y;
        let track = Rect::from_center_size(pos2(rect.center().x, cy), vec2(travel, 6.0));
        painter.rect_filled(track, CornerRadius::same(3), palette::WELL);
        let x = track.min.x + t * travel;
        let lit = Rect::from_min_max(track.min, pos2(x, track.max.y));
        painter.rect_filled(lit, CornerRadius::same(3), accent.gamma_multiply(0.55));
        let handle = Rect::from_center_size(pos2(x, cy), vec2(12.0, rect.height().min(20.0)));
        let mark = [pos2(x, handle.min.y + 4.0), pos2(x, handle.max.y - 4.0)];
        paint_handle(painter, handle, mark, active, accent);
    }
    result
}

/// A fader handle: a bright block while dragged, with a line in the stem's colour.
fn paint_handle(
    painter: &egui::Painter,
    handle: Rect,
    mark: [egui::Pos2; 2],
    active: bool,
    accent: Color32,
) {
    let fill = if active {
        Color32::WHITE
    } else {
        palette::HANDLE
    };
    painter.rect_filled(handle, CornerRadius::same(3), fill);
    painter.line_segment(mark, Stroke::new(2.0, accent));
}

/// Applies a fader's result to a gain parameter.
fn apply_fader(setter: &ParamSetter, param: &FloatParam, r: &FaderResult) {
    if r.started {
        setter.begin_set_parameter(param);
    }
    if let Some(pos) = r.moved_to {
        setter.set_parameter(param, fader_to_gain(pos).min(param.preview_plain(1.0)));
    }
    if r.stopped {
        setter.end_set_parameter(param);
    }
    if r.reset && !r.started {
        set_once(setter, param, param.default_plain_value());
    }
}

/// A peak meter: `bright` is the level that reaches the output, `ghost` (drawn dim behind it)
/// the stem's own level, visible even when the stem is muted.
fn meter(
    ui: &Ui,
    rect: Rect,
    bright: &MeterBallistics,
    ghost: Option<&MeterBallistics>,
    vertical: bool,
) {
    let painter = ui.painter();
    painter.rect_filled(rect, CornerRadius::same(2), palette::WELL);
    let inner = rect.shrink(2.0);
    let len = if vertical {
        inner.height()
    } else {
        inner.width()
    };
    let span = |from: f32, to: f32| -> Rect {
        if vertical {
            Rect::from_min_max(
                pos2(inner.min.x, inner.max.y - to * len),
                pos2(inner.max.x, inner.max.y - from * len),
            )
        } else {
            Rect::from_min_max(
                pos2(inner.min.x + from * len, inner.min.y),
                pos2(inner.min.x + to * len, inner.max.y),
            )
        }
    };
    if let Some(g) = ghost {
        let f = meter_fraction(g.level_db);
        if f > 0.0 {
            painter.rect_filled(
                span(0.0, f),
                CornerRadius::ZERO,
                Color32::from_rgb(0x3a, 0x3f, 0x4a),
            );
        }
    }
    let f = meter_fraction(bright.level_db);
    let zones = [
        (meter_fraction(-12.0), palette::GOOD),
        (meter_fraction(-3.0), palette::WARN),
        (1.0, palette::BAD),
    ];
    let mut from = 0.0;
    for (to, color) in zones {
        let end = f.min(to);
        if end > from {
            painter.rect_filled(span(from, end), CornerRadius::ZERO, color);
        }
        from = to;
    }
    let h = meter_fraction(bright.hold_db);
    if h > 0.0 {
        let color = if bright.clipped() {
            palette::BAD
        } else {
            palette::TEXT
        };
        let r = span(h, h);
        let line = if vertical {
            [pos2(r.min.x, r.min.y), pos2(r.max.x, r.min.y)]
        } else {
            [pos2(r.min.x, r.min.y), pos2(r.min.x, r.max.y)]
        };
        painter.line_segment(line, Stroke::new(1.5, color));
    }
}

/// What a strip shows besides its parameters.
struct StripView {
    index: usize,
    audibility: StemAudibility,
    pre: MeterBallistics,
    post: MeterBallistics,
}

fn draw_strip(ui: &mut Ui, rect: Rect, setter: &ParamSetter, stem: &StemParams, v: &StripView) {
    let accent = palette::STEMS[v.index];
    let audible = v.audibility.is_audible();
    panel(ui, rect);
    let painter = ui.painter();
    // Colour bar: full colour when the stem is heard, dimmed when not.
    let bar = Rect::from_min_size(rect.min + vec2(10.0, 8.0), vec2(rect.width() - 20.0, 3.0));
    painter.rect_filled(
        bar,
        CornerRadius::same(1),
        if audible {
            accent
        } else {
            accent.gamma_multiply(0.3)
        },
    );
    painter.text(
        pos2(rect.center().x, rect.min.y + 26.0),
        Align2::CENTER_CENTER,
        STEMS[v.index].name.to_uppercase(),
        FontId::proportional(15.0),
        if audible { palette::TEXT } else { palette::DIM },
    );
    let state_color = match v.audibility {
        StemAudibility::Audible => palette::DIM,
        StemAudibility::Muted => palette::MUTE,
        StemAudibility::NotSoloed | StemAudibility::NotSelected | StemAudibility::FaderOff => {
            palette::FAINT
        }
        StemAudibility::Karaoke => palette::KARAOKE,
    };
    painter.text(
        pos2(rect.center().x, rect.min.y + 44.0),
        Align2::CENTER_CENTER,
        v.audibility.label(),
        FontId::proportional(11.0),
        state_color,
    );

    let buttons_h = 26.0;
    let readout_h = 22.0;
    let body = Rect::from_min_max(
        pos2(rect.min.x + 8.0, rect.min.y + 58.0),
        pos2(
            rect.max.x - 8.0,
            rect.max.y - 10.0 - buttons_h - readout_h - 4.0,
        ),
    );
    // Scale | fader | meter, centred.
    let scale_w = 24.0;
    let fader_w = 34.0;
    let meter_w = 10.0;
    let total = scale_w + fader_w + 6.0 + meter_w;
    let x0 = body.center().x - total / 2.0;
    let fader_rect =
        Rect::from_min_size(pos2(x0 + scale_w, body.min.y), vec2(fader_w, body.height()));
    let meter_rect = Rect::from_min_max(
        pos2(fader_rect.max.x + 6.0, body.min.y + 8.0),
        pos2(fader_rect.max.x + 6.0 + meter_w, body.max.y - 8.0),
    );
    let travel = body.height() - 16.0;
    for db in [12.0f32, 0.0, -12.0, -30.0, -60.0] {
        let y = body.max.y - 8.0 - db_to_fader(db) * travel;
        let text = if db > 0.0 {
            format!("+{db:.0}")
        } else {
            format!("{db:.0}")
        };
        painter.text(
            pos2(x0 + scale_w - 6.0, y),
            Align2::RIGHT_CENTER,
            text,
            FontId::proportional(9.5),
            palette::FAINT,
        );
    }

    let gain = stem.gain.unmodulated_plain_value();
    let id = Id::unique(("stem-fader", v.index));
    let tip = format!(
        "{}: drag to set, Shift for fine steps, double-click for 0 dB",
        stem.gain.name()
    );
    let r = fader(
        ui,
        fader_rect,
        id,
        gain_to_fader(gain),
        FaderLook {
            max_pos: 1.0,
            vertical: true,
            accent,
        },
        &tip,
    );
    apply_fader(setter, &stem.gain, &r);
    meter(ui, meter_rect, &v.post, Some(&v.pre), true);

    let shown_gain = r.moved_to.map(fader_to_gain).unwrap_or(gain);
    let readout = Rect::from_min_size(
        pos2(rect.min.x + 8.0, body.max.y + 2.0),
        vec2(rect.width() - 16.0, readout_h),
    );
    ui.painter().text(
        readout.center(),
        Align2::CENTER_CENTER,
        format_db(shown_gain),
        FontId::monospace(13.0),
        if audible { palette::TEXT } else { palette::DIM },
    );

    let row = Rect::from_min_max(
        pos2(rect.min.x + 10.0, rect.max.y - 10.0 - buttons_h),
        pos2(rect.max.x - 10.0, rect.max.y - 10.0),
    );
    let half = (row.width() - 6.0) / 2.0;
    let m = Rect::from_min_size(row.min, vec2(half, buttons_h));
    let s = Rect::from_min_size(
        pos2(row.min.x + half + 6.0, row.min.y),
        vec2(half, buttons_h),
    );
    let muted = stem.mute.value();
    if toggle(
        ui,
        m,
        Id::unique(("mute", v.index)),
        "M",
        muted,
        palette::MUTE,
        &format!("Mute {}", STEMS[v.index].id),
    ) {
        set_once(setter, &stem.mute, !muted);
    }
    let soloed = stem.solo.value();
    if toggle(
        ui,
        s,
        Id::unique(("solo", v.index)),
        "S",
        soloed,
        palette::SOLO,
        &format!(
            "Solo {}: only soloed stems play",
            STEMS[v.index].id
        ),
    ) {
        set_once(setter, &stem.solo, !soloed);
    }
}

/// A selector for an enum parameter, drawn as a combo box with `label` per variant.
fn enum_selector<T: Enum + PartialEq + Copy + 'static>(
    ui: &mut Ui,
    rect: Rect,
    id: &str,
    setter: &ParamSetter,
    param: &EnumParam<T>,
    label: impl Fn(T) -> String,
) {
    let current = param.value();
    let mut chosen = None;
    in_rect(ui, rect, |ui| {
        egui::ComboBox::from_id_salt(id)
            .width(rect.width() - 4.0)
            .selected_text(RichText::new(label(current)).size(13.0))
            .show_ui(ui, |ui| {
                for i in 0..T::variants().len() {
                    let v = T::from_index(i);
                    if ui
                        .selectable_label(v == current, RichText::new(label(v)).size(13.0))
                        .clicked()
                    {
                        chosen = Some(v);
                    }
                }
            });
    });
    if let Some(v) = chosen.filter(|&v| v != current) {
        set_once(setter, param, v);
    }
}

fn variant_name<T: Enum>(v: T) -> String {
    T::variants()[v.to_index()].to_string()
}

impl EditorApp {
    fn draw_header(&self, ui: &mut Ui, rect: Rect, setter: &ParamSetter, status: &StatusView) {
        let painter = ui.painter();
        painter.text(
            pos2(rect.min.x + 2.0, rect.center().y),
            Align2::LEFT_CENTER,
            "DANNA-SEP RT",
            FontId::proportional(20.0),
            palette::TEXT,
        );
        painter.text(
            pos2(rect.min.x + 160.0, rect.center().y + 1.0),
            Align2::LEFT_CENTER,
            "real-time stem separation",
            FontId::proportional(12.0),
            palette::DIM,
        );
        // Bypass toggle at the far right, engine state pill to its left.
        let bypass = Rect::from_min_max(
            pos2(rect.max.x - 78.0, rect.min.y + 4.0),
            pos2(rect.max.x, rect.max.y - 4.0),
        );
        let bypassed = self.params.bypass.value();
        if toggle(
            ui,
            bypass,
            Id::unique("bypass"),
            "BYPASS",
            bypassed,
            palette::WARN,
            "Play the input dry (still delayed by the reported latency)",
        ) {
            set_once(setter, &self.params.bypass, !bypassed);
        }
        let painter = ui.painter();
        let font = FontId::proportional(13.0);
        let text = status.state.clone();
        let galley = painter.layout_no_wrap(text, font, palette::TEXT);
        let pill_w = galley.size().x + 30.0;
        let pill = Rect::from_min_max(
            pos2(bypass.min.x - 10.0 - pill_w, bypass.min.y),
            pos2(bypass.min.x - 10.0, bypass.max.y),
        );
        painter.rect(
            pill,
            CornerRadius::same(13),
            palette::PANEL,
            Stroke::new(1.0, palette::PANEL_EDGE),
            StrokeKind::Inside,
        );
        painter.circle_filled(
            pos2(pill.min.x + 13.0, pill.center().y),
            4.5,
            severity_color(status.state_severity),
        );
        painter.galley(
            pos2(pill.min.x + 22.0, pill.center().y - galley.size().y / 2.0),
            galley,
            palette::TEXT,
        );
        let rate = Rect::from_min_max(
            pos2(pill.min.x - 150.0, rect.min.y),
            pos2(pill.min.x - 10.0, rect.max.y),
        );
        if let Some(summary) = &status.summary {
            painter.text(
                pos2(rate.max.x, rate.center().y),
                Align2::RIGHT_CENTER,
                summary,
                FontId::proportional(13.0),
                palette::DIM,
            );
        }
    }

    fn draw_side(
        &self,
        ui: &mut Ui,
        rect: Rect,
        setter: &ParamSetter,
        snapshot: Option<&EngineSnapshot>,
    ) {
        panel(ui, rect);
        let p = &self.params;
        let inner = rect.shrink2(vec2(12.0, 10.0));
        let x = inner.min.x;
        let w = inner.width();
        let mut y = inner.min.y;
        let row_h = 26.0;

        caption(ui, pos2(x, y), "OUTPUT");
        y += 14.0;
        enum_selector(
            ui,
            Rect::from_min_size(pos2(x, y), vec2(w, row_h)),
            "output",
            setter,
            &p.output,
            |v: OutputSelect| match v {
                OutputSelect::Mix => "Mix (all stems)".to_string(),
                other => format!("{} only", variant_name(other)),
            },
        );
        y += row_h + 8.0;

        caption(ui, pos2(x, y), "KARAOKE");
        let karaoke = p.karaoke.value();
        let level = p.karaoke_level.unmodulated_plain_value();
        let level_caption_y = y;
        y += 14.0;
        let button = Rect::from_min_size(pos2(x, y), vec2(96.0, row_h));
        if toggle(
            ui,
            button,
            Id::unique("karaoke"),
            "KARAOKE",
            karaoke,
            palette::KARAOKE,
            "Karaoke: turn the vocals down to the level on the right",
        ) {
            set_once(setter, &p.karaoke, !karaoke);
        }
        let slider = Rect::from_min_max(pos2(button.max.x + 10.0, y), pos2(inner.max.x, y + row_h));
        let max_pos = db_to_fader(0.0);
        let r = fader(
            ui,
            slider,
            Id::unique("karaoke-level"),
            gain_to_fader(level).min(max_pos),
            FaderLook {
                max_pos,
                vertical: false,
                accent: palette::KARAOKE,
            },
            "Vocal level while Karaoke is on (double-click: -inf, vocals out)",
        );
        apply_fader(setter, &p.karaoke_level, &r);
        let shown = r.moved_to.map(fader_to_gain).unwrap_or(level);
        ui.painter().text(
            pos2(inner.max.x, level_caption_y),
            Align2::RIGHT_TOP,
            format!("vocals {}", format_db(shown)),
            FontId::monospace(10.5),
            if karaoke {
                palette::KARAOKE
            } else {
                palette::DIM
            },
        );
        y += row_h + 8.0;

        // Model set and precision share a row (the side panel has no height to spare).
        let precision_w = 80.0;
        let precision_x = inner.max.x - precision_w;
        caption(ui, pos2(x, y), "MODEL SET");
        caption(ui, pos2(precision_x, y), "PRECISION");
        y += 14.0;
        enum_selector(
            ui,
            Rect::from_min_size(pos2(x, y), vec2(w - precision_w - 6.0, row_h)),
            "model",
            setter,
            &p.model,
            |v: ModelParam| variant_name(v),
        );
        enum_selector(
            ui,
            Rect::from_min_size(pos2(precision_x, y), vec2(precision_w, row_h)),
            "precision",
            setter,
            &p.precision,
            |v: PrecisionParam| match v {
                PrecisionParam::Float32 => "Float32".to_string(),
                PrecisionParam::Int8 => "Int8".to_string(),
            },
        );
        y += row_h + 8.0;

        caption(ui, pos2(x, y), "LATENCY");
        y += 14.0;
        let facts = self.hub.facts();
        let rate = facts.map_or(48_000.0, |f| f.sample_rate);
        let block = facts.map_or(512, |f| f.max_block);
        enum_selector(
            ui,
            Rect::from_min_size(pos2(x, y), vec2(w, row_h)),
            "tier",
            setter,
            &p.tier,
            |t: TierParam| tier_label(&variant_name(t), LatencyTier::from(t), rate, block),
        );
        y += row_h + 8.0;

        // A tier change takes effect when the host re-activates the plugin; a model or
        // precision change loads in the background while the current models keep playing.
        let tier_pending = self
            .hub
            .active_tier()
            .is_some_and(|t| t != p.latency_tier());
        let swap_pending = snapshot.is_some_and(|s| s.swap_pending());
        let pending = if tier_pending {
            Some("applies when the host restarts the plugin")
        } else if swap_pending {
            Some("loading the new models…")
        } else {
            None
        };
        if let Some(text) = pending {
            ui.painter().text(
                pos2(x, y),
                Align2::LEFT_TOP,
                text,
                FontId::proportional(10.5),
                palette::WARN,
            );
        }

        // Main output meter along the bottom.
        let meter_rect =
            Rect::from_min_max(pos2(x, inner.max.y - 10.0), pos2(inner.max.x, inner.max.y));
        caption(ui, pos2(x, meter_rect.min.y - 16.0), "MAIN OUTPUT");
        ui.painter().text(
            pos2(inner.max.x, meter_rect.min.y - 16.0),
            Align2::RIGHT_TOP,
            format_db_value(self.main.hold_db),
            FontId::monospace(10.5),
            if self.main.clipped() {
                palette::BAD
            } else {
                palette::DIM
            },
        );
        meter(ui, meter_rect, &self.main, None, false);
    }
}

/// One "CAPTION value" pair of the status bar; returns the x after it.
fn status_item(ui: &Ui, x: f32, y: f32, caption_text: &str, value: &str, color: Color32) -> f32 {
    let painter = ui.painter();
    let c = painter.text(
        pos2(x, y),
        Align2::LEFT_CENTER,
        caption_text,
        FontId::proportional(10.0),
        palette::FAINT,
    );
    let v = painter.text(
        pos2(c.max.x + 6.0, y),
        Align2::LEFT_CENTER,
        value,
        FontId::proportional(12.5),
        color,
    );
    v.max.x + 18.0
}

fn draw_footer(ui: &mut Ui, rect: Rect, s: &StatusView) {
    panel(ui, rect);
    let x0 = rect.min.x + 12.0;
    let row1 = rect.min.y + 14.0;
    let row2 = rect.min.y + 33.0;
    let row3 = rect.min.y + 52.0;
    let mut x = status_item(
        ui,
        x0,
        row1,
        "MODEL SET",
        &s.model_set,
        value_color(s.model_set_severity),
    );
    let ort_start = x;
    x = status_item(
        ui,
        x,
        row1,
        "ONNX RUNTIME",
        &s.ort,
        value_color(s.ort_severity),
    );
    // The full ONNX Runtime explanation (every path tried) on hover.
    let ort_rect = Rect::from_min_max(pos2(ort_start, row1 - 8.0), pos2(x, row1 + 8.0));
    ui.interact(ort_rect, Id::unique("ort-detail"), Sense::hover())
        .on_hover_text(&s.ort_detail);
    status_item(ui, x, row1, "SAMPLE RATE", &s.sample_rate, palette::TEXT);

    let mut x = status_item(ui, x0, row2, "REPORTED", &s.latency, palette::TEXT);
    x = status_item(ui, x, row2, "LOAD", &s.load, value_color(s.load_severity));
    status_item(ui, x, row2, "", &s.missed, value_color(s.missed_severity));

    // The backend's own status line, clipped to the bar (full text on hover).
    let msg_rect = Rect::from_min_max(pos2(x0, row3 - 8.0), pos2(rect.max.x - 12.0, row3 + 8.0));
    let painter = ui.painter().with_clip_rect(msg_rect);
    painter.text(
        pos2(x0, row3),
        Align2::LEFT_CENTER,
        &s.message,
        FontId::proportional(11.0),
        palette::DIM,
    );
    ui.interact(msg_rect, Id::unique("status-message"), Sense::hover())
        .on_hover_text(&s.message);
}

/// Values read in the normal text colour unless they need attention.
fn value_color(s: Severity) -> Color32 {
    match s {
        Severity::Neutral | Severity::Good => palette::TEXT,
        Severity::Warning => palette::WARN,
        Severity::Bad => palette::BAD,
    }
}
