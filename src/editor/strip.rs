//! One stem strip: colour bar, name and audibility state, gain fader with its dB scale and
//! readout, pre/post-fader meter, and the mute and solo buttons.

use egui::{pos2, vec2, Align2, CornerRadius, FontId, Id, Rect, Ui};
use nice_plug::prelude::*;

use danna_sep_core::stems::STEMS;

use super::palette;
use super::view_model::{
    db_to_fader, fader_to_gain, format_db, gain_to_fader, MeterBallistics, StemAudibility,
};
use super::widgets::{apply_fader, fader, meter, panel, set_once, toggle, FaderLook};
use crate::params::StemParams;

/// What a strip shows besides its parameters.
pub(super) struct StripView {
    pub(super) index: usize,
    pub(super) audibility: StemAudibility,
    pub(super) pre: MeterBallistics,
    pub(super) post: MeterBallistics,
}

pub(super) fn draw_strip(
    ui: &mut Ui,
    rect: Rect,
    setter: &ParamSetter,
    stem: &StemParams,
    v: &StripView,
) {
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
        &format!("Solo {}: only soloed stems play", STEMS[v.index].id),
    ) {
        set_once(setter, &stem.solo, !soloed);
    }
}
