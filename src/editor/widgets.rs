//! Reusable drawing helpers: panels and captions, toggles, the fader, peak meters, enum
//! selectors and status-bar items, plus the one-gesture parameter setter they share.

use egui::{
    self, pos2, vec2, Align, Align2, Color32, CornerRadius, CursorIcon, FontId, Id, Layout, Rect,
    RichText, Sense, Stroke, StrokeKind, Ui, UiBuilder,
};
use nice_plug::prelude::*;

use super::palette;
use super::view_model::{db_to_fader, fader_to_gain, meter_fraction, MeterBallistics};

pub(super) fn panel(ui: &Ui, rect: Rect) {
    ui.painter().rect(
        rect,
        CornerRadius::same(8),
        palette::PANEL,
        Stroke::new(1.0, palette::PANEL_EDGE),
        StrokeKind::Inside,
    );
}

/// A label in small capitals above a control.
pub(super) fn caption(ui: &Ui, pos: egui::Pos2, text: &str) {
    ui.painter().text(
        pos,
        Align2::LEFT_TOP,
        text,
        FontId::proportional(10.5),
        palette::DIM,
    );
}

/// Runs `f` in a child `Ui` confined to `rect`.
pub(super) fn in_rect<R>(ui: &mut Ui, rect: Rect, f: impl FnOnce(&mut Ui) -> R) -> R {
    let mut child = ui.new_child(
        UiBuilder::new()
            .max_rect(rect)
            .layout(Layout::left_to_right(Align::Center)),
    );
    f(&mut child)
}

/// Sets a parameter as one complete gesture (a click, a menu choice).
pub(super) fn set_once<P: Param>(setter: &ParamSetter, param: &P, value: P::Plain) {
    setter.begin_set_parameter(param);
    setter.set_parameter(param, value);
    setter.end_set_parameter(param);
}

/// A rounded toggle button; returns true when clicked.
pub(super) fn toggle(
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
pub(super) struct FaderResult {
    started: bool,
    pub(super) moved_to: Option<f32>,
    stopped: bool,
    reset: bool,
}

/// Orientation, range and colour of a fader.
#[derive(Clone, Copy)]
pub(super) struct FaderLook {
    /// Top of the travel as a fader-law position (1.0 = +12 dB, 0.75 = 0 dB).
    pub(super) max_pos: f32,
    pub(super) vertical: bool,
    pub(super) accent: Color32,
}

/// A fader on the [`view_model`](super::view_model) fader law. `pos` is the current position (0..=`max_pos`);
/// dragging moves relative to where it was grabbed (Shift for fine moves), double-click resets.
pub(super) fn fader(
    ui: &mut Ui,
    rect: Rect,
    id: Id,
    pos: f32,
    look: FaderLook,
    tip: &str,
) -> FaderResult {
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
pub(super) fn paint_handle(
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
pub(super) fn apply_fader(setter: &ParamSetter, param: &FloatParam, r: &FaderResult) {
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
pub(super) fn meter(
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

/// Height of a caption above its control.
pub(super) const CAPTION_H: f32 = 14.0;

/// A [`caption`] with an [`enum_selector`] under it; `rect` is the selector's, the caption
/// sits [`CAPTION_H`] above it.
pub(super) fn captioned_selector<T: Enum + PartialEq + Copy + 'static>(
    ui: &mut Ui,
    rect: Rect,
    text: &str,
    setter: &ParamSetter,
    param: &EnumParam<T>,
    label: impl Fn(T) -> String,
) {
    caption(ui, rect.min - egui::vec2(0.0, CAPTION_H), text);
    enum_selector(ui, rect, &text.to_lowercase(), setter, param, label);
}

/// A selector for an enum parameter, drawn as a combo box with `label` per variant.
pub(super) fn enum_selector<T: Enum + PartialEq + Copy + 'static>(
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

pub(super) fn variant_name<T: Enum>(v: T) -> String {
    T::variants()[v.to_index()].to_string()
}

/// One "CAPTION value" pair of the status bar; returns the x after it.
pub(super) fn status_item(
    ui: &Ui,
    x: f32,
    y: f32,
    caption_text: &str,
    value: &str,
    color: Color32,
) -> f32 {
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
