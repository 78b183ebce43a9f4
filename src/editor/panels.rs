//! The panels around the stem strips: the header (title, engine state, bypass), the side
//! panel (output, Karaoke, model set, runtime, precision, latency tier, main meter) and the
//! status-bar footer.

use egui::{pos2, vec2, Align2, CornerRadius, FontId, Id, Rect, Sense, Stroke, StrokeKind, Ui};
use nice_plug::prelude::*;

use danna_sep_core::engine::LatencyTier;

use super::app::EditorApp;
use super::palette::{self, severity_color, value_color};
use super::view_model::{
    db_to_fader, fader_to_gain, format_db, format_db_value, gain_to_fader, tier_label,
    EngineSnapshot, StatusView,
};
use super::widgets::{
    apply_fader, caption, captioned_selector, fader, meter, panel, set_once, status_item, toggle,
    variant_name, FaderLook, CAPTION_H,
};
use crate::mixer::OutputSelect;
use crate::params::{ModelParam, PrecisionParam, RuntimeParam, TierParam};

impl EditorApp {
    pub(super) fn draw_header(
        &self,
        ui: &mut Ui,
        rect: Rect,
        setter: &ParamSetter,
        status: &StatusView,
    ) {
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

    pub(super) fn draw_side(
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

        // Each selector row: its caption, then the selector.
        let row =
            |y: f32, x: f32, w: f32| Rect::from_min_size(pos2(x, y + CAPTION_H), vec2(w, row_h));
        let row_step = CAPTION_H + row_h + 8.0;
        captioned_selector(
            ui,
            row(y, x, w),
            "OUTPUT",
            setter,
            &p.output,
            |v: OutputSelect| match v {
                OutputSelect::Mix => "Mix (all stems)".to_string(),
                other => format!("{} only", variant_name(other)),
            },
        );
        y += row_step;

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
            "Karaoke: turn the vocals down to the level on the right. With the Full ensemble \
             (and \"Karaoke vocals\" on Spleeter), the vocals come from the real pretrained \
             Spleeter model",
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

        captioned_selector(
            ui,
            row(y, x, w),
            "MODEL SET",
            setter,
            &p.model,
            |v: ModelParam| variant_name(v),
        );
        y += row_step;

        // Runtime and precision share a row (the side panel has no height to spare).
        let half = (w - 6.0) / 2.0;
        captioned_selector(
            ui,
            row(y, x, half),
            "RUNTIME",
            setter,
            &p.runtime,
            |v: RuntimeParam| match v {
                RuntimeParam::Auto => "Auto".to_string(),
                RuntimeParam::OnnxRuntime => "ONNX RT".to_string(),
                RuntimeParam::OpenVino => "OpenVINO".to_string(),
            },
        );
        captioned_selector(
            ui,
            row(y, x + half + 6.0, half),
            "PRECISION",
            setter,
            &p.precision,
            |v: PrecisionParam| match v {
                PrecisionParam::Float32 => "Float32".to_string(),
                PrecisionParam::Int8 => "Int8".to_string(),
                PrecisionParam::Bf16 => "BF16".to_string(),
            },
        );
        y += row_step;

        let facts = self.hub.facts();
        let rate = facts.map_or(48_000.0, |f| f.sample_rate);
        let block = facts.map_or(512, |f| f.max_block);
        captioned_selector(
            ui,
            row(y, x, w),
            "LATENCY",
            setter,
            &p.tier,
            |t: TierParam| tier_label(&variant_name(t), LatencyTier::from(t), rate, block),
        );
        y += row_step;

        // A tier change takes effect when the host re-activates the plugin; a model, runtime or
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

pub(super) fn draw_footer(ui: &mut Ui, rect: Rect, s: &StatusView) {
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
    let runtime_start = x;
    x = status_item(
        ui,
        x,
        row1,
        "RUNTIME",
        &s.runtime,
        value_color(s.runtime_severity),
    );
    // The runtime's file, or why ONNX Runtime did not load (every path tried), on hover.
    let runtime_rect = Rect::from_min_max(pos2(runtime_start, row1 - 8.0), pos2(x, row1 + 8.0));
    ui.interact(runtime_rect, Id::unique("runtime-detail"), Sense::hover())
        .on_hover_text(&s.runtime_detail);
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
