"""The v2 generator: source pools (seen / unseen, reserved soundfonts), sampled kits, the
genre-aware composer with its casting, and the v2 renderer (exact mixtures, determinism, rests).

Rendering needs the generator's Debian packages (``install-debian-packages.sh --synth``, which
``cargo xtask test`` installs); without them these tests fail with the install hint.
"""
import dataclasses
from collections import Counter

import numpy as np
import pytest

from danna_sep_models import STEMS
from danna_sep_models.synth import arrange, samples, sources
from danna_sep_models.synth.compose import Note, compose_song
from danna_sep_models.synth.dataset import generate_dataset, part_label
from danna_sep_models.synth.render import SAMPLE_RATE, read_wav, render_song, rest_mask
from danna_sep_models.synth.report import counts, source_kind, write_report

VOICE_LIKE = {52, 53, 54, 85, 91}


# ---- pools -----------------------------------------------------------------------------------

def test_reserved_soundfonts_are_refused_and_never_pooled():
    for path in ("/usr/share/sounds/sf2/MuseScore_General.sf2", "/usr/share/sounds/sf3/MuseScore_General.sf3",
                 "/usr/share/sounds/sf2/TimGM6mb.sf2", "/x/timgm6mb-soundfont/a.sf2"):
        with pytest.raises(sources.ReservedSource):
            sources.check_not_reserved(path)
    assert sources.check_not_reserved("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    for sf in sources.SOUNDFONTS.values():
        assert not any(m in (sf.file + sf.package).lower() for m in sources.RESERVED_SOUNDFONT_MARKERS)
    with pytest.raises(sources.ReservedSource):
        render_song(compose_song(1, 3.0), soundfont="/usr/share/sounds/sf2/TimGM6mb.sf2")


def test_seen_and_unseen_pools_share_no_source():
    seen, unseen = sources.SEEN, sources.UNSEEN
    for field in ("melodic_soundfonts", "kit_soundfonts", "drumkits", "percussion_kits", "synth_engines",
                  "drum_engines", "espeak_languages", "espeak_variants", "formant_voices"):
        assert not set(getattr(seen, field)) & set(getattr(unseen, field)), field
    # Whole GM families only the held-out profile plays.
    assert {"brass", "reed", "pipe", "ethnic"} <= set(unseen.families) - set(seen.families)
    # One maker's kits stay on one side (the Millo and Black Pearl families are held out).
    assert all(k.startswith(("millo", "black-pearl")) for k in unseen.drumkits)
    assert not any(k.startswith(("millo", "black-pearl")) for k in seen.drumkits)
    assert all(sources.missing_sources(p) == () for p in sources.PROFILES)


def test_v3_profiles_play_every_family_and_keep_the_v2_sources():
    for profile, v2 in (("v3", "v2"), ("v3-holdout", "v2-holdout")):
        pool, base = sources.pool_of(profile), sources.pool_of(v2)
        assert set(pool.families) == set(sources.GM_FAMILIES) - {"bass", "synth-fx"}
        assert dataclasses.replace(pool, name=base.name, families=base.families) == base
    # v3 and v3-holdout differ in sources only: every family is on both sides.
    assert sources.pool_of("v3").families == sources.pool_of("v3-holdout").families
    with pytest.raises(ValueError, match="no source pool"):
        sources.pool_of("v1")


def test_missing_v2_sources_are_named_with_their_package(tmp_path, monkeypatch):
    from danna_sep_models.synth import render

    monkeypatch.setattr(sources, "HYDROGEN_DIR", tmp_path)
    assert any("hydrogen-drumkits" in m for m in sources.missing_sources("v2"))
    with pytest.raises(render.ToolMissing, match="apt-get install hydrogen-drumkits"):
        render.check_tools(profile="v2-holdout")


# ---- sampled kits ------------------------------------------------------------------------

def test_kit_names_map_to_gm_notes():
    cases = {"Kick": 36, "BassDrum": 36, "c3 - bass drum 1": 36, "Snare Jazz": 38, "Snare Roll": None,
             "Hand Clap": 39, "Stick": 37, "Closed HH": 42, "Hi Hat Opened": 46, "Sabian Hat Semi-Open": 46,
             "Pedal HH": 44, "VariBreaks Hat 1 Pd": 44, "Ride Jazz": 51, "China (Paiste Alpha 18\")": 49,
             "Floor Tom": 41, "Tom Low": 45, "Tom Mid": 47, "Tom Hi": 50, "Cowbell": 56, "Whistle": None}
    for name, note in cases.items():
        assert samples.gm_note_of(name) == note, name


def test_every_pooled_kit_can_play_the_grooves():
    for name, kit in sources.DRUMKITS.items():
        m = samples.kit_map(str(kit.path), kit.percussion)
        assert m.notes, name
        assert samples.is_full_kit(m) != kit.percussion, name


def test_an_open_hat_is_choked_by_the_next_closed_hat():
    kit = sources.DRUMKITS["colombo"]
    m = samples.kit_map(str(kit.path), False)
    beat = 0.5
    alone = samples.render_kit(m, [Note(0.0, 0.25, samples.OPEN, 100)], beat, SAMPLE_RATE * 2, SAMPLE_RATE)
    choked = samples.render_kit(m, [Note(0.0, 0.25, samples.OPEN, 100), Note(0.5, 0.25, samples.HAT, 1)], beat,
                                SAMPLE_RATE * 2, SAMPLE_RATE)
    assert alone.shape == (2, SAMPLE_RATE * 2)
    cut = int(0.25 * SAMPLE_RATE) + int(samples.CHOKE_FADE * SAMPLE_RATE) + 10
    tail_alone = np.abs(alone[:, cut:cut + 2000]).max()
    assert tail_alone > 1e-3  # the open hat rings there on its own ...
    # ... and after the choke only the (quiet) closed hat sounds.
    hat_only = samples.render_kit(m, [Note(0.5, 0.25, samples.HAT, 1)], beat, SAMPLE_RATE * 2, SAMPLE_RATE)
    assert np.abs(choked[:, cut:cut + 2000] - hat_only[:, cut:cut + 2000]).max() < 1e-6
    # Velocity picks louder layers and gains.
    soft = samples.render_kit(m, [Note(0.0, 0.25, samples.KICK, 20)], beat, SAMPLE_RATE, SAMPLE_RATE)
    hard = samples.render_kit(m, [Note(0.0, 0.25, samples.KICK, 127)], beat, SAMPLE_RATE, SAMPLE_RATE)
    assert np.abs(hard).max() > 2 * np.abs(soft).max()


# ---- composition ---------------------------------------------------------------------------

def _pool_sources(pool):
    return {
        "midi": set(pool.melodic_soundfonts) | set(pool.kit_soundfonts),
        "kit": set(pool.drumkits) | set(pool.percussion_kits),
        "synth": set(pool.synth_engines),
        "drumsynth": set(pool.drum_engines),
    }


@pytest.mark.parametrize("profile", ["v2", "v2-holdout", "v3", "v3-holdout"])
def test_every_part_is_cast_from_the_profile_pool(profile):
    pool = sources.pool_of(profile)
    allowed = _pool_sources(pool)
    genres, engines, families = Counter(), Counter(), set()
    for seed in range(40):
        song = compose_song(seed, 60.0, profile)
        assert song == compose_song(seed, 60.0, profile) and song.profile == profile
        genre = arrange.GENRES[song.genre]
        assert genre.tempo[0] <= round(song.bpm) <= genre.tempo[1]
        genres[song.genre] += 1
        for p in song.parts:
            engines[p.engine] += 1
            if p.engine in allowed:
                assert p.source in allowed[p.engine], (seed, p.stem, p.engine, p.source)
            if p.engine == "midi" and p.stem == "other":
                assert p.program not in VOICE_LIKE
                family = [f for f, first in sources.GM_FAMILIES.items() if first == p.program // 8 * 8][0]
                assert family in pool.families, (seed, p.program)
                families.add(family)
            if p.engine in ("espeak", "speech"):
                lang, variant = p.voice.split("+")
                assert lang in pool.espeak_languages and variant in pool.espeak_variants
            if p.engine == "formant":
                assert p.voice in pool.formant_voices
            if p.stem != "vocals":
                assert p.engine not in ("espeak", "speech", "formant")
        assert {p.stem for p in song.parts} == set(STEMS)
        assert set(dict(song.production.chains)) == set(STEMS)
        assert all(-9.0 <= g <= 9.0 for _, g in song.mix.gains_db)
    assert len(genres) >= 6
    expected = {"midi", "kit", "synth", "espeak", "formant"} | ({"drumsynth"} if profile in ("v2", "v3") else set())
    assert expected <= set(engines), engines
    if profile.startswith("v3"):
        # The families v2 never plays do turn up in "other".
        assert families & {"brass", "reed", "pipe", "ethnic"}, families


def test_v1_songs_are_unchanged_by_the_v2_fields():
    song = compose_song(11, 30.0, "v1")
    assert song.profile == "v1" and song.production is None
    assert all(p.source == "" and p.patch == () for p in song.parts)
    assert compose_song(11, 30.0, "v2") != song


# ---- rendering -----------------------------------------------------------------------------

@pytest.mark.parametrize("profile,seed", [("v2", 3), ("v2-holdout", 4)])
def test_v2_render_is_exact_deterministic_and_rests(profile, seed):
    song = compose_song(seed, 12.0, profile)
    a = render_song(song)
    b = render_song(song)
    n = int(round(12.0 * SAMPLE_RATE))
    for k in ("mixture",) + tuple(STEMS):
        assert a[k].shape == (2, n) and a[k].dtype == np.float32 and np.isfinite(a[k]).all(), k
        assert np.array_equal(a[k], b[k]), k
    total = np.zeros_like(a["mixture"])
    for s in STEMS:
        total += a[s]
    assert np.array_equal(total, a["mixture"])
    assert np.abs(a["mixture"]).max() <= 0.98 + 1e-6
    for s in STEMS:
        assert np.sqrt(np.mean(a[s] ** 2)) > 1e-4, s  # every stem sounds
        mask = rest_mask(song, s, n)
        assert np.abs(a[s][:, mask == 0.0]).max(initial=0.0) == 0.0, s


def test_long_rests_are_silent_in_a_song_that_has_them():
    for seed in range(40):
        song = compose_song(seed, 45.0, "v2")
        resting = [s for s in STEMS if any(s not in sec.active for sec in song.sections[1:-1])]
        if resting:
            break
    else:
        pytest.fail("no v2 song of 40 rests a stem in a middle section")
    out = render_song(song)
    mask = rest_mask(song, resting[0], out["mixture"].shape[1])
    assert (mask == 0).sum() > SAMPLE_RATE and np.abs(out[resting[0]][:, mask == 0]).max() == 0.0


def test_dataset_report_and_labels(tmp_path):
    data = tmp_path / "data"
    generate_dataset(data, {"train": 2, "valid": 0, "test": 1}, seconds=5.0, seed=9, jobs=1, profile="v2",
                     log=lambda _: None)
    tracks = __import__("json").loads((data / "synth.json").read_text())["tracks"]
    assert {t["profile"] for t in tracks} == {"v2"} and all(t["genre"] in arrange.GENRES for t in tracks)
    mixture = read_wav(data / "train" / "synth-0001" / "mixture.wav")
    assert mixture.shape == (2, 5 * SAMPLE_RATE)
    c = counts(tracks)
    assert sum(c["drums"].values()) >= 3 and sum(c["genre"].values()) == 3
    files = write_report(data, tmp_path / "report", spectrogram_tracks=2)
    assert [f.name for f in files] == ["synth-report.md", "synth-histograms.png", "synth-spectrograms.png"]
    assert files[0].stat().st_size > 300 and all(f.stat().st_size > 5000 for f in files[1:])
    assert "## vocals" in files[0].read_text()
    assert source_kind("fluid:gm33") == "fluid/bass" and source_kind("formant:alto/shout") == "formant:alto"
    assert source_kind("espeak:pt+m5") == "espeak:pt" and source_kind("kit:colombo") == "kit:colombo"
    part = dataclasses.replace(compose_song(1, 10.0, "v2").parts[0], engine="kit", source="colombo")
    assert part_label(part) == "kit:colombo"
