"""Danna-Sep model toolchain: architectures, ONNX export/import, manifests and the
reference (golden) inference pipeline.

The three networks follow the Danna-Sep training code exactly (module names, parameter
names, shapes, registration order, buffers), so a state_dict of the original training code
or a TorchScript file of the released tool loads with ``strict=True``.
"""

# Stem order used by every model, manifest and output file (the dataset's source order).
STEMS = ("drums", "bass", "other", "vocals")

__all__ = ["STEMS"]
