"""Training the three Danna-Sep networks on MUSDB18-HQ-style folders (§9 of the fact sheet).

- :mod:`.data`: track discovery, memory-mapped WAV reading, the random-mix training set with
  the CPU augmentations, consecutive validation segments;
- :mod:`.mwf`: a differentiable multichannel Wiener filter (torch port of norbert's EM step);
- :mod:`.losses`: STFT conventions, the combination loss (X-UMX, U-Net), the Demucs L1 loss
  and the validation SDR;
- :mod:`.loop`: the trainer (optimiser/scheduler per model, validation, ``best.pt`` /
  ``last.pt`` checkpoints, exact resume) behind ``python -m danna_sep_models.cli train``.

Deliberate simplifications of the original recipe are listed in :mod:`.loop`'s docstring and in
``models/README.md`` (section "Training").
"""
