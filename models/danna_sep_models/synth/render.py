"""Rendering a :class:`~.compose.Song` to stems: FluidSynth for the MIDI parts, espeak-ng +
TD-PSOLA for sung syllables, then levels, one shared generated room reverb, rests and the
final mixture.

Determinism: every stem's MIDI parts go to their own MIDI file rendered by one ``fluidsynth``
process with fixed settings (FluidSynth's own reverb/chorus off, single-threaded, float
output), espeak-ng is deterministic for a given text/voice/pitch/speed, and every random
choice of the renderer (reverb noise, breath noise) uses a generator seeded by the song. The
same ``Song`` therefore gives bit-identical stems on the same installation.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import mido
import numpy as np
import scipy.fft
import scipy.io.wavfile
import scipy.signal

from .. import STEMS
from .compose import DRUM_CHANNEL, Note, Part, Song
from .sources import DEFAULT_PROFILE

SAMPLE_RATE = 44100
SOUNDFONT = Path(os.environ.get("DANNA_SYNTH_SOUNDFONT", "/usr/share/sounds/sf2/FluidR3_GM.sf2"))
TICKS_PER_BEAT = 480
# FluidSynth's master gain. The output is float (no clipping) and every stem is normalised
# afterwards, so this only has to keep the internal mix well inside float range.
FLUIDSYNTH_GAIN = 0.4
# espeak-ng: words per minute. Slow enough that a syllable has a steady vowel to stretch.
ESPEAK_SPEED = 120
PEAK_LIMIT = 0.98  # the mixture's peak after normalisation (below 1.0 with margin for rounding)
REFERENCE_RMS = 0.1  # every stem's loudness (over the sections where it plays) before the mix gains
REST_FADE = 0.5  # seconds a resting stem's release/reverb tail may ring into its rest
END_FADE = 0.02  # seconds: fade-out at the very end (the reverb tail is cut there)


class ToolMissing(RuntimeError):
    pass


def check_tools(soundfont: Path = SOUNDFONT, profile: str = DEFAULT_PROFILE) -> None:
    """Raise :class:`ToolMissing` naming what to install when a renderer dependency is absent
    (for the pooled profiles, all but ``v1``: every soundfont and kit of the profile's pool)."""
    from .sources import check_not_reserved, missing_sources

    check_not_reserved(Path(soundfont))
    missing = [t for t in ("fluidsynth", "espeak-ng") if shutil.which(t) is None]
    if profile != "v1":
        missing.extend(missing_sources(profile))
    elif not Path(soundfont).is_file():
        missing.append(f"soundfont {soundfont}")
    if missing:
        raise ToolMissing(f"missing {', '.join(missing)}: apt-get install -y fluidsynth fluid-soundfont-gm espeak-ng "
                          "(or set DANNA_SYNTH_SOUNDFONT)")


def n_samples(song: Song) -> int:
    return int(round(song.seconds * SAMPLE_RATE))


def beat_to_sample(song: Song, beat: float) -> int:
    return int(round(beat * song.beat_seconds * SAMPLE_RATE))


# ---- MIDI --------------------------------------------------------------------------------

def song_midi(song: Song, stem: str, source: Optional[str] = None) -> Optional[mido.MidiFile]:
    """Type-1 MIDI file with the stem's FluidSynth parts (one track and channel each), or
    ``None`` when the stem has none. Every file lasts the whole song, so all stems line up.
    ``source``: only the parts played by that soundfont (v2 songs use several)."""
    parts = [p for p in song.parts_of(stem)
             if p.engine == "midi" and p.notes and (source is None or p.source == source)]
    if not parts:
        return None
    end_tick = _ticks(song.seconds / song.beat_seconds)
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    tempo = mido.MidiTrack()
    tempo.append(mido.MetaMessage("set_tempo", tempo=song.tempo_us, time=0))
    tempo.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    tempo.append(mido.MetaMessage("end_of_track", time=end_tick))
    mid.tracks.append(tempo)
    for part in parts:
        mid.tracks.append(_part_track(song, part, end_tick))
    return mid


def _ticks(beats: float) -> int:
    return int(round(beats * TICKS_PER_BEAT))


def _part_track(song: Song, part: Part, end_tick: int) -> mido.MidiTrack:
    ch = part.channel
    # (tick, order, type, fields): at equal ticks controllers come first, then note-offs, then
    # note-ons, so a legato note's off never cuts the next note that starts on the same tick.
    # Messages are built once, with their delta time, at the end (mido validates every build).
    cc = "control_change"
    ev: List[Tuple[int, int, str, Dict[str, int]]] = [
        (0, 0, "program_change", {"program": part.program}),
        (0, 0, cc, {"control": 7, "value": int(round(110 * part.level))}),
        (0, 0, cc, {"control": 10, "value": int(round(64 + 63 * part.pan))}),
        (0, 0, cc, {"control": 91, "value": 0}),  # our reverb, not the synth's
        (0, 0, cc, {"control": 93, "value": 0}),
        # Pitch-bend range 2 semitones (RPN 0), stated rather than assumed.
        (0, 0, cc, {"control": 101, "value": 0}),
        (0, 0, cc, {"control": 100, "value": 0}),
        (0, 0, cc, {"control": 6, "value": 2}),
        (0, 0, cc, {"control": 38, "value": 0}),
    ]
    prev: Optional[Note] = None
    for n in part.notes:
        on = max(0, _ticks(n.start))
        off = min(end_tick, max(on + 1, _ticks(n.start + n.dur)))
        if on >= end_tick:
            continue
        if part.vibrato > 0 and ch != DRUM_CHANNEL:
            glide = prev is not None and abs(prev.start + prev.dur - n.start) < 1e-6 and abs(prev.pitch - n.pitch) <= 2
            ev.extend((t, 1, "pitchwheel", {"pitch": v})
                      for t, v in _bends(song, part, on, off, prev.pitch - n.pitch if glide else 0))
        ev.append((on, 3, "note_on", {"note": n.pitch, "velocity": n.vel}))
        ev.append((off, 2, "note_off", {"note": n.pitch, "velocity": 0}))
        prev = n
    ev.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack()
    now = 0
    for tick, _, kind, fields in ev:
        track.append(mido.Message(kind, channel=ch, time=tick - now, **fields))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - now)))
    return track


def _bends(song: Song, part: Part, on: int, off: int, glide_from: int) -> List[Tuple[int, int]]:
    """Pitch-bend curve ``[(tick, value)]`` of one sung note: a glide from the previous pitch
    (legato), then a vibrato that fades in after the attack, as singers do. 40 updates/s."""
    tick_s = song.beat_seconds / TICKS_PER_BEAT
    ticks = np.arange(on, off, max(1, int(round(0.025 / tick_s))))
    sec = (ticks - on) * tick_s
    semis = glide_from * np.exp(-sec / 0.03)
    semis += part.vibrato * np.clip((sec - 0.15) / 0.3, 0.0, 1.0) * np.sin(2 * np.pi * part.vibrato_rate * ticks * tick_s)
    values = np.clip(np.round(semis / 2 * 8191), -8192, 8191).astype(int)
    return list(zip(ticks.tolist(), values.tolist()))


def render_midi(mid: mido.MidiFile, workdir: Path, name: str, length: int,
                soundfont: Path = SOUNDFONT) -> np.ndarray:
    """FluidSynth ``mid`` -> ``(2, length)`` float32 (cropped or zero-padded to ``length``)."""
    mid_path = Path(workdir) / f"{name}.mid"
    wav_path = Path(workdir) / f"{name}.wav"
    mid.save(mid_path)
    cmd = ["fluidsynth", "-ni", "-q", "-g", str(FLUIDSYNTH_GAIN), "-r", str(SAMPLE_RATE), "-O", "float", "-T", "wav",
           "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0", "-o", "synth.cpu-cores=1",
           # Load only the samples of the presets used (identical audio, ~0.2 s less per call).
           "-o", "synth.dynamic-sample-loading=1",
           # Dense parts (fast chords on long-release sounds) can exceed 128 voices; stealing the
           # oldest releasing ones changes the sound by ~-50 dB and halves the time in such parts.
           "-o", "synth.polyphony=128",
           "-F", str(wav_path), str(soundfont), str(mid_path)]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if res.returncode != 0 or not wav_path.is_file():
        raise RuntimeError(f"fluidsynth failed ({res.returncode}): {res.stderr.decode(errors='replace')[-500:]}")
    with warnings.catch_warnings():  # libsndfile's PEAK chunk, unknown to scipy
        warnings.simplefilter("ignore", scipy.io.wavfile.WavFileWarning)
        sr, data = scipy.io.wavfile.read(wav_path)
    if sr != SAMPLE_RATE or data.ndim != 2 or data.shape[1] != 2:
        raise RuntimeError(f"unexpected fluidsynth output {wav_path}: {sr} Hz, shape {data.shape}")
    out = np.zeros((2, length), dtype=np.float32)
    k = min(length, data.shape[0])
    out[:, :k] = data[:k].T
    return out


# ---- espeak-ng syllables + TD-PSOLA ---------------------------------------------------------

@functools.lru_cache(maxsize=512)
def espeak(text: str, voice: str, pitch: int, speed: int = ESPEAK_SPEED) -> np.ndarray:
    """espeak-ng speaking ``text`` -> mono float64 at 44.1 kHz, silence trimmed (read-only)."""
    res = subprocess.run(["espeak-ng", "--stdout", "-z", "-v", voice, "-p", str(int(pitch)), "-s", str(int(speed)),
                          text], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if res.returncode != 0:
        raise RuntimeError(f"espeak-ng failed ({res.returncode}): {res.stderr.decode(errors='replace')[-500:]}")
    sr, x = _parse_stream_wav(res.stdout)
    r = Fraction(SAMPLE_RATE, sr)
    x = scipy.signal.resample_poly(x, r.numerator, r.denominator) if r != 1 else x
    loud = np.flatnonzero(np.abs(x) > 1e-3 * max(1e-9, np.abs(x).max()))
    x = x[loud[0]:loud[-1] + 1] if loud.size else x[:0]
    x.setflags(write=False)
    return x


def _parse_stream_wav(data: bytes) -> Tuple[int, np.ndarray]:
    """16-bit mono WAV from ``espeak-ng --stdout``: its header sizes are placeholders for a
    stream (0x7ffff...), so the chunks are walked by hand and the data chunk runs to the end."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise RuntimeError("espeak-ng did not write a WAV stream")
    pos, sr = 12, 0
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if cid == b"fmt ":
            fmt = np.frombuffer(data[pos + 8:pos + 24], dtype="<u2")
            channels, sr, bits = int(fmt[1]), int.from_bytes(data[pos + 12:pos + 16], "little"), int(fmt[7])
            if (fmt[0], channels, bits) != (1, 1, 16):
                raise RuntimeError(f"unexpected espeak-ng WAV format {fmt[0]}/{channels} ch/{bits} bit")
        elif cid == b"data":
            pcm = data[pos + 8:]
            pcm = pcm[:len(pcm) // 2 * 2]
            return sr, np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
        pos += 8 + size + (size & 1)
    raise RuntimeError("espeak-ng WAV stream without a data chunk")


@dataclass(frozen=True)
class Syllable:
    """A spoken syllable prepared for PSOLA: pitch marks (one per glottal period) and the
    steady vowel region ``[body_start, body_end)`` that is stretched to fill long notes."""
    x: np.ndarray
    marks: np.ndarray
    periods: np.ndarray
    body_start: int
    body_end: int
    f0: float  # median f0 of the voiced part (Hz)


def f0_track(x: np.ndarray, sr: int = SAMPLE_RATE, frame: int = 2048, hop: int = 256,
             fmin: float = 50.0, fmax: float = 700.0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame-wise ``(f0, voicing strength, rms)`` by normalised autocorrelation."""
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, frame)[::hop] * np.hanning(frame)
    spec = np.fft.rfft(frames, 2 * frame, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :frame]
    lo, hi = int(sr / fmax), int(sr / fmin)
    k = lo + np.argmax(ac[:, lo:hi], axis=1)
    rows = np.arange(len(k))
    # Parabolic interpolation of the peak: sub-sample periods keep the marks from drifting.
    a, b, c = ac[rows, k - 1], ac[rows, k], ac[rows, np.minimum(k + 1, frame - 1)]
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    lag = k + np.clip(shift, -0.5, 0.5)
    strength = b / np.maximum(ac[:, 0], 1e-12)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    return sr / lag, strength, rms


@functools.lru_cache(maxsize=512)
def syllable(text: str, voice: str, pitch: int) -> Syllable:
    x = espeak(text, voice, pitch)
    if len(x) < 2048:
        x = np.pad(x, (0, 2048 - len(x)))
    hop, frame = 256, 2048
    f0, strength, rms = f0_track(x, hop=hop, frame=frame)
    centers = np.arange(len(f0)) * hop + frame // 2
    voiced = (strength > 0.4) & (rms > 0.1 * rms.max())
    if voiced.sum() >= 3:
        f0v = scipy.signal.medfilt(f0[voiced], 5) if voiced.sum() >= 5 else f0[voiced]
        f0_med = float(np.median(f0v))
        f0_at = np.interp(np.arange(len(x)), centers[voiced], f0v)
    else:  # nothing periodic found (should not happen for our syllables): constant marks
        f0_med = 150.0
        f0_at = np.full(len(x), f0_med)
    period_at = SAMPLE_RATE / f0_at

    # Seed mark: the largest peak within one period at the loudest voiced frame.
    loud = int(np.argmax(np.where(voiced, rms, 0.0))) if voiced.any() else int(np.argmax(rms))
    c0 = int(min(len(x) - 1, centers[loud]))
    p0 = int(period_at[c0])
    seed = c0 + int(np.argmax(x[c0:c0 + p0])) if c0 + p0 <= len(x) else c0
    marks = [seed]
    for direction in (1, -1):
        m = seed
        while True:
            p = period_at[m]
            guess = int(round(m + direction * p))
            w, d = int(p), max(1, int(0.15 * p))
            if guess - w - d < 0 or guess + w + d + 1 > len(x) or m - w < 0 or m + w + 1 > len(x):
                break
            # The next period is where the waveform repeats best (waveform similarity), which
            # stays locked to the glottal pulses where a fixed spacing would drift.
            ref = x[m - w:m + w + 1]
            seg = x[guess - w - d:guess + w + d + 1]
            c = np.correlate(seg, ref, mode="valid")
            m = guess - d + int(np.argmax(c))
            marks.append(m)
    marks_arr = np.array(sorted(set(marks)), dtype=np.int64)
    periods = np.diff(marks_arr) if len(marks_arr) > 1 else np.array([int(period_at[seed])])
    periods = np.append(periods, periods[-1]).astype(np.int64)

    # Steady vowel: where the level is within 10 dB of the loudest frame, minus its edges.
    strong = np.flatnonzero(rms > 0.3 * rms.max())
    b0 = int(centers[strong[0]]) if strong.size else len(x) // 3
    b1 = int(centers[strong[-1]]) if strong.size else 2 * len(x) // 3
    b0, b1 = b0 + int(0.02 * SAMPLE_RATE), b1 - int(0.03 * SAMPLE_RATE)
    if b1 - b0 < int(0.04 * SAMPLE_RATE):
        mid = (b0 + b1) // 2
        b0, b1 = max(0, mid - int(0.03 * SAMPLE_RATE)), min(len(x), mid + int(0.03 * SAMPLE_RATE))
    return Syllable(x, marks_arr, periods, b0, b1, f0_med)


@functools.lru_cache(maxsize=64)
def _hann(half: int) -> np.ndarray:
    return np.hanning(2 * half + 1)


def psola(syl: Syllable, f0: np.ndarray, new_syllable: bool, release: bool) -> np.ndarray:
    """TD-PSOLA: the syllable re-timed to ``len(f0)`` samples and re-pitched to the f0 curve
    (Hz per output sample), keeping the voice's formants.

    The consonant (before the vowel body) keeps its natural speed, the vowel body is
    stretched or compressed to fill the note, and the release (after the body) ends the note
    when ``release``; a held note (``new_syllable=False``, a melisma) starts inside the body.
    """
    n_out = len(f0)
    x, marks, periods = syl.x, syl.marks, syl.periods
    head = syl.body_start if new_syllable else 0
    src_head = 0 if new_syllable else (syl.body_start + syl.body_end) // 2
    tail = (len(x) - syl.body_end) if release else 0
    if head + tail > 0.8 * n_out:  # short note: everything is compressed together
        k = 0.8 * n_out / max(1, head + tail)
        head, tail = int(head * k), int(tail * k)
    out_knots = [0, head, n_out - tail, n_out]
    src_knots = [src_head, syl.body_start if new_syllable else src_head, syl.body_end,
                 len(x) if release else syl.body_end]
    maxw = int(periods.max()) + 2
    out = np.zeros(n_out + 2 * maxw)
    t = 0.0
    while t < n_out:
        s = np.interp(t, out_knots, src_knots)
        j = int(np.clip(np.searchsorted(marks, s), 0, len(marks) - 1))
        if j > 0 and abs(marks[j - 1] - s) < abs(marks[j] - s):
            j -= 1
        m, p = int(marks[j]), int(periods[j])
        lo, hi = m - p, m + p + 1
        grain = np.zeros(2 * p + 1)
        a, b = max(0, lo), min(len(x), hi)
        grain[a - lo:b - lo] = x[a:b]
        pt = SAMPLE_RATE / f0[int(t)]
        # Grains overlap more when the pitch goes up: scale so the level does not follow the pitch.
        grain *= _hann(p) * (pt / p)
        ti = int(round(t)) + maxw
        out[ti - p:ti + p + 1] += grain
        t += pt
    return out[maxw:maxw + n_out]


def espeak_pitch(voice: str, target_hz: float) -> int:
    """espeak-ng ``-p`` whose voice sits closest to ``target_hz``. The scale is close to
    exponential, so it is extrapolated from the f0 measured at -p 50 and -p 99. Pitches under
    25 are not used: the voices get creaky down there (and their f0 hard to track)."""
    f_mid, f_hi = syllable("a", voice, 50).f0, syllable("a", voice, 99).f0
    if f_hi <= f_mid * 1.01:
        return 50
    return int(np.clip(round(50 + 49 * np.log(target_hz / f_mid) / np.log(f_hi / f_mid)), 25, 99))


def midi_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


def sing(song: Song, part: Part, length: int) -> np.ndarray:
    """An espeak-ng part -> mono float64 ``(length,)``: one PSOLA'd syllable per note, with a
    vibrato that fades in, glides between legato notes and short fades at the note edges."""
    notes = [n for n in part.notes if beat_to_sample(song, n.start) < length]
    out = np.zeros(length)
    if not notes:
        return out
    # The source voice sits a few semitones under the melody's middle: PSOLA moves the pitch
    # mostly upwards, where it sounds best, and the formants stay those of the voice.
    target = midi_hz(float(np.median([n.pitch for n in notes])) - 4)
    pitch = espeak_pitch(part.voice, target)
    prev: Optional[Note] = None
    prev_text = "a"
    for i, n in enumerate(notes):
        start = beat_to_sample(song, n.start)
        end = min(length, beat_to_sample(song, n.start + n.dur))
        if end - start < 64:
            continue
        nxt = notes[i + 1] if i + 1 < len(notes) else None
        legato_in = prev is not None and abs(prev.start + prev.dur - n.start) < 1e-6
        held_next = nxt is not None and nxt.syllable == "" and abs(n.start + n.dur - nxt.start) < 1e-6
        text = n.syllable or (prev_text if legato_in else "a")
        syl = syllable(text, part.voice, pitch)
        t = np.arange(end - start) / SAMPLE_RATE
        semis = np.zeros_like(t)
        if legato_in and prev.pitch != n.pitch:
            semis += (prev.pitch - n.pitch) * np.exp(-t / 0.035)
        ramp = np.clip((t - 0.12) / 0.3, 0.0, 1.0)
        semis += part.vibrato * ramp * np.sin(2 * np.pi * part.vibrato_rate * (t + start / SAMPLE_RATE))
        f0 = midi_hz(n.pitch) * 2.0 ** (semis / 12)
        y = psola(syl, f0, new_syllable=bool(n.syllable) or not legato_in, release=not held_next)
        fade_in = min(len(y), int(0.004 * SAMPLE_RATE) if n.syllable or not legato_in else int(0.02 * SAMPLE_RATE))
        fade_out = min(len(y), int(0.015 * SAMPLE_RATE) if not held_next else int(0.02 * SAMPLE_RATE))
        y[:fade_in] *= np.linspace(0.0, 1.0, fade_in)
        y[len(y) - fade_out:] *= np.linspace(1.0, 0.0, fade_out)
        rms = np.sqrt(np.mean(syl.x[syl.body_start:syl.body_end] ** 2)) + 1e-9
        out[start:end] += y * (n.vel / 127.0) * (0.2 / rms)
        prev, prev_text = n, text
    return out


def breaths(song: Song, length: int, level: float, rng: np.random.Generator) -> np.ndarray:
    """Inhalations (band-passed noise swells) before vocal phrases that follow a rest."""
    out = np.zeros(length)
    sos = scipy.signal.butter(2, [350, 3500], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    prev_end = -1e9
    for start_b, end_b in song.phrases:
        start = beat_to_sample(song, start_b)
        gap = (start - prev_end) / SAMPLE_RATE
        prev_end = beat_to_sample(song, end_b)
        if gap < 0.6 or start >= length:
            continue
        dur = int(min(0.4, 0.5 * gap) * SAMPLE_RATE * rng.uniform(0.7, 1.0))
        b0 = start - dur - int(0.04 * SAMPLE_RATE)
        if b0 < 0:
            continue
        noise = scipy.signal.sosfilt(sos, rng.standard_normal(dur + 2048))[2048:]
        env = np.sin(np.pi * np.linspace(0, 1, dur) ** 0.7) ** 2  # quick rise, slower fall
        out[b0:b0 + dur] += level * rng.uniform(0.6, 1.0) * env * noise / (np.std(noise) + 1e-12)
    return out


# ---- mix ------------------------------------------------------------------------------

def pan_stereo(mono: np.ndarray, pan: float) -> np.ndarray:
    """Constant-power pan, ``pan`` in -1..1."""
    theta = (pan + 1) * np.pi / 4
    return np.stack([np.cos(theta) * mono, np.sin(theta) * mono])


def impulse_response(song: Song, rng: np.random.Generator) -> np.ndarray:
    """``(2, L)`` room: pre-delay, then decorrelated noise decaying by 60 dB in RT60 seconds,
    darker as it decays (the late tail is low-passed harder), unit energy per channel."""
    mix = song.mix
    n = int(mix.reverb_seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    env = 10.0 ** (-3.0 * t / mix.reverb_seconds)
    noise = rng.standard_normal((2, n))
    bright = noise
    sos = scipy.signal.butter(1, mix.reverb_damping_hz, fs=SAMPLE_RATE, output="sos")
    dark = scipy.signal.sosfilt(sos, noise, axis=-1)
    w = np.clip(t / (0.5 * mix.reverb_seconds), 0.0, 1.0)
    ir = env * ((1 - w) * bright + w * dark)
    ir /= np.sqrt(np.sum(ir ** 2, axis=-1, keepdims=True))
    pre = int(mix.reverb_predelay * SAMPLE_RATE)
    return np.concatenate([np.zeros((2, pre)), ir], axis=-1)


class Room:
    """One shared reverb for all stems: the impulse response's spectrum is computed once."""

    def __init__(self, ir: np.ndarray, length: int):
        self.length = length
        self.nfft = scipy.fft.next_fast_len(length + ir.shape[-1] - 1, real=True)
        self.ir_spec = scipy.fft.rfft(ir.astype(np.float32), self.nfft, axis=-1)

    def wet(self, stereo: np.ndarray) -> np.ndarray:
        mono = (0.5 * (stereo[0] + stereo[1])).astype(np.float32)
        spec = scipy.fft.rfft(mono, self.nfft)
        return scipy.fft.irfft(self.ir_spec * spec, self.nfft, axis=-1)[:, :self.length]


def _sounding_rms(x: np.ndarray) -> float:
    """RMS over the samples within 60 dB of the peak (the level while something sounds)."""
    env = np.abs(x).max(axis=0)
    sounding = env > 1e-3 * max(1e-12, env.max())
    return float(np.sqrt(np.mean(x[:, sounding] ** 2))) if sounding.any() else 0.0


def rest_mask(song: Song, stem: str, length: int) -> np.ndarray:
    """1 where ``stem`` plays, 0 in its rests. A rest starts with a short fade (``REST_FADE``)
    so release and reverb tails decay naturally, then is digital silence until the section ends."""
    mask = np.ones(length, dtype=np.float32)
    bar_s = 4 * song.beat_seconds
    fade = int(REST_FADE * SAMPLE_RATE)
    for i, s in enumerate(song.sections):
        if stem in s.active:
            continue
        a = int(round(s.start_bar * bar_s * SAMPLE_RATE))
        last = i == len(song.sections) - 1
        plays_next = not last and stem in song.sections[i + 1].active
        b = length if last else int(round((s.start_bar + s.bars) * bar_s * SAMPLE_RATE))
        a, b = min(a, length), min(b, length)
        f = min(fade, b - a)
        mask[a:a + f] *= np.cos(0.5 * np.pi * np.arange(f) / max(1, f)) ** 2
        mask[a + f:b] = 0.0
        # Back to 1 just before the next section: its first notes may be humanised a few ms early.
        ramp = min(int(0.03 * SAMPLE_RATE), b - a - f)
        if ramp > 0 and plays_next:
            mask[b - ramp:b] = np.linspace(0.0, 1.0, ramp)
    return mask


def at_stem_level(y: np.ndarray, mask: np.ndarray, gain_db: float) -> np.ndarray:
    """``y`` (in place) at ``REFERENCE_RMS`` + ``gain_db`` over the samples where the stem plays."""
    playing = mask > 0.999
    power = np.einsum("ij,ij->j", y, y, dtype=np.float64)
    rms = np.sqrt(power[playing].mean() / 2) if playing.any() else 0.0
    if rms > 0:
        y *= np.float32(REFERENCE_RMS * 10.0 ** (gain_db / 20.0) / rms)
    return y


def fade_end(stems: Dict[str, np.ndarray], length: int) -> None:
    """A short fade-out at the very end of every stem (in place; the reverb tails are cut there)."""
    end = int(END_FADE * SAMPLE_RATE)
    for y in stems.values():
        y[:, length - end:] *= np.linspace(1.0, 0.0, end, dtype=np.float32)


def render_song(song: Song, workdir: Optional[Path] = None, soundfont: Path = SOUNDFONT) -> Dict[str, np.ndarray]:
    """``{"mixture", "drums", "bass", "other", "vocals"}`` -> ``(2, N)`` float32, ``N`` =
    ``round(seconds * 44100)``; the mixture is the float32 sum of the four stems. A ``v2``
    song (its own sources, ``soundfont`` unused) is rendered by :mod:`.render_v2`."""
    if song.profile != "v1":
        from .render_v2 import render_song_v2  # it builds on this module

        check_tools(soundfont, song.profile)
        return render_song_v2(song, workdir)
    check_tools(soundfont, "v1")
    length = n_samples(song)
    rng = np.random.default_rng(np.random.SeedSequence([song.seed, 0x5EED]))
    room = Room(impulse_response(song, rng), length)
    gains = dict(song.mix.gains_db)
    sends = dict(song.mix.reverb_sends)
    stems: Dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory(prefix="danna-synth-") as tmp:
        work = Path(workdir) if workdir is not None else Path(tmp)
        for stem in STEMS:
            # float32 from here on: what is written anyway, and half the memory traffic.
            dry = np.zeros((2, length), dtype=np.float32)
            mid = song_midi(song, stem)
            if mid is not None:
                dry += render_midi(mid, work, f"{stem}", length, soundfont)
            for part in song.parts_of(stem):
                if part.engine == "espeak" and part.notes:
                    sung = pan_stereo(sing(song, part, length), part.pan)
                    if mid is not None:  # as loud as the GM voice while sounding (phrases swap engines)
                        sung *= _sounding_rms(dry) / max(_sounding_rms(sung), 1e-12)
                    dry += sung
            if stem == "vocals":  # breaths ~14 dB under the sung level
                level = 0.2 * _sounding_rms(dry)
                pan = song.parts_of("vocals")[0].pan if song.parts_of("vocals") else 0.0
                dry += pan_stereo(breaths(song, length, level, rng), pan)
            mask = rest_mask(song, stem, length)
            dry *= mask  # a resting stem is silent, release tails included ...
            y = room.wet(dry)
            y *= np.float32(sends[stem])
            y += dry
            y *= mask  # ... and so is its reverb
            stems[stem] = at_stem_level(y, mask, gains[stem])
    fade_end(stems, length)
    mix = stems["drums"] + stems["bass"] + stems["other"] + stems["vocals"]
    rms = np.sqrt(np.einsum("ij,ij->", mix, mix, dtype=np.float64) / mix.size)
    peak = float(np.abs(mix).max())
    g = 10.0 ** (song.mix.mixture_rms_db / 20.0) / rms if rms > 0 else 1.0
    if peak * g > PEAK_LIMIT:
        g = PEAK_LIMIT / peak
    out = {s: stems[s] * np.float32(g) for s in STEMS}
    mixture = np.zeros((2, length), dtype=np.float32)
    for s in STEMS:  # fixed order, float32: the file's mixture is exactly this sum
        mixture += out[s]
    out["mixture"] = mixture
    return out


def read_wav(path: Path) -> np.ndarray:
    """``(2, N)`` float32 from one of our files."""
    sr, data = scipy.io.wavfile.read(path)
    if sr != SAMPLE_RATE:
        raise ValueError(f"{path}: {sr} Hz")
    return np.ascontiguousarray(data.T)


def write_wav(path: Path, audio: np.ndarray) -> None:
    """``(2, N)`` float32 -> IEEE-float stereo WAV."""
    scipy.io.wavfile.write(path, SAMPLE_RATE, np.ascontiguousarray(np.asarray(audio, dtype=np.float32).T))

