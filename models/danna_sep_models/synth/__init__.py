"""Synthetic multitrack generator: procedurally composed songs rendered to MUSDB18-HQ style
stems (drums, bass, other, vocals + mixture), to train demo separation weights.

- :mod:`.compose`: pure, seeded composition (form, harmony, parts, mix decisions);
- :mod:`.render`: FluidSynth / espeak-ng rendering, levels, reverb, rests, mixture;
- :mod:`.dataset`: the ``<out>/<split>/<track>/{mixture,drums,bass,other,vocals}.wav``
  folders, in parallel (``python -m danna_sep_models.cli synth``).
"""
from .compose import Song, compose_song

__all__ = ["Song", "compose_song"]
