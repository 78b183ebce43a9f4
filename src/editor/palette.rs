//! Palette: a dark, low-contrast background so the stem colours and meters carry the
//! information. Also the egui style built from it and the colours for [`Severity`] levels.

use egui::{vec2, Color32, CornerRadius, Stroke};

use super::view_model::Severity;

pub(super) const BG: Color32 = Color32::from_rgb(0x13, 0x15, 0x1a);
pub(super) const PANEL: Color32 = Color32::from_rgb(0x1c, 0x1f, 0x26);
pub(super) const PANEL_EDGE: Color32 = Color32::from_rgb(0x2b, 0x2f, 0x3a);
pub(super) const WELL: Color32 = Color32::from_rgb(0x0c, 0x0e, 0x12);
pub(super) const CONTROL: Color32 = Color32::from_rgb(0x2a, 0x2e, 0x38);
pub(super) const CONTROL_HOVER: Color32 = Color32::from_rgb(0x36, 0x3b, 0x47);
pub(super) const TEXT: Color32 = Color32::from_rgb(0xe2, 0xe5, 0xec);
pub(super) const DIM: Color32 = Color32::from_rgb(0x8b, 0x91, 0x9e);
pub(super) const FAINT: Color32 = Color32::from_rgb(0x5a, 0x60, 0x6c);
pub(super) const HANDLE: Color32 = Color32::from_rgb(0xd4, 0xd8, 0xe0);
pub(super) const GOOD: Color32 = Color32::from_rgb(0x43, 0xd0, 0x7e);
pub(super) const WARN: Color32 = Color32::from_rgb(0xe9, 0xc4, 0x4a);
pub(super) const BAD: Color32 = Color32::from_rgb(0xff, 0x5d, 0x5d);
pub(super) const MUTE: Color32 = Color32::from_rgb(0xe8, 0x6f, 0x45);
pub(super) const SOLO: Color32 = Color32::from_rgb(0xe9, 0xc4, 0x4a);
pub(super) const KARAOKE: Color32 = Color32::from_rgb(0xff, 0x62, 0xa5);
pub(super) const STEMS: [Color32; 4] = [
    Color32::from_rgb(0xff, 0x8f, 0x40), // drums
    Color32::from_rgb(0x7d, 0x8e, 0xff), // bass
    Color32::from_rgb(0x3f, 0xd2, 0xa0), // other
    Color32::from_rgb(0xff, 0x62, 0xa5), // vocals
];

pub(super) fn severity_color(s: Severity) -> Color32 {
    match s {
        Severity::Neutral => DIM,
        Severity::Good => GOOD,
        Severity::Warning => WARN,
        Severity::Bad => BAD,
    }
}

pub(super) fn style_context(ctx: &egui::Context) {
    let mut v = egui::Visuals::dark();
    v.panel_fill = BG;
    v.window_fill = PANEL;
    v.extreme_bg_color = WELL;
    v.override_text_color = Some(TEXT);
    v.widgets.inactive.weak_bg_fill = CONTROL;
    v.widgets.inactive.bg_fill = CONTROL;
    v.widgets.inactive.bg_stroke = Stroke::NONE;
    v.widgets.hovered.weak_bg_fill = CONTROL_HOVER;
    v.widgets.hovered.bg_fill = CONTROL_HOVER;
    v.widgets.active.weak_bg_fill = CONTROL_HOVER;
    v.widgets.open.weak_bg_fill = CONTROL_HOVER;
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

/// Values read in the normal text colour unless they need attention.
pub(super) fn value_color(s: Severity) -> Color32 {
    match s {
        Severity::Neutral | Severity::Good => TEXT,
        Severity::Warning => WARN,
        Severity::Bad => BAD,
    }
}
