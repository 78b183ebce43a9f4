"""Helpers for ``cargo xtask bench``: the machine's matrix-multiply peak through ONNX Runtime
(so numbers from different machines can be compared) and the quality-vs-latency plot.

``python -m danna_sep_models.bench machine`` prints one JSON line;
``python -m danna_sep_models.bench plot RESULTS.jsonl OUT.png`` draws the ``quality`` records.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

STEMS = ("drums", "bass", "other", "vocals")


def matmul_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of an n×n float32 MatMul in ONNX Runtime with ``threads`` intra-op threads."""
    import onnx
    import onnx.helper as h
    import onnxruntime as ort

    graph = h.make_graph([h.make_node("MatMul", ["a", "b"], ["c"])], "peak",
                         [h.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [n, n]),
                          h.make_tensor_value_info("b", onnx.TensorProto.FLOAT, [n, n])],
                         [h.make_tensor_value_info("c", onnx.TensorProto.FLOAT, [n, n])])
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    s = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    s.run(None, {"a": a, "b": a})
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        s.run(None, {"a": a, "b": a})
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


# The instruction sets the runtimes' fast paths need (bf16: OpenVINO's bf16; VNNI: int8).
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def machine() -> Dict[str, object]:
    import os
    import platform

    cpu = platform.processor() or ""
    flags: List[str] = []
    try:
        # The first core's lines: every core of these machines reports the same.
        for line in Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                present = set(value.split())
                flags = [f for f in CPU_FLAGS if f in present]
    except OSError:
        pass
    return {"kind": "machine", "cpu": cpu, "cores": os.cpu_count(), "flags": flags,
            "matmul_gflops_1_thread": round(matmul_gflops(1), 1),
            "matmul_gflops_2_threads": round(matmul_gflops(2), 1)}


def plot(results: Path, out: Path) -> None:
    """Streaming-vs-whole-clip SNR per stem against each tier's latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records: List[dict] = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    quality = sorted((r for r in records if r["kind"] == "quality"), key=lambda r: r["latency_s"])
    if not quality:
        raise SystemExit(f"{results}: no quality records")
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    x = [r["latency_s"] for r in quality]
    for i, stem in enumerate(STEMS):
        ax.plot(x, [r["snr_db"][i] for r in quality], marker="o", label=stem)
    for r in quality:
        ax.annotate(r["tier"], (r["latency_s"], max(r["snr_db"])), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("latency reported to the host (s, 44.1 kHz, 512-sample blocks; offline = CLI)")
    ax.set_ylabel("SNR vs whole-clip separation (dB)")
    models = Path(str(quality[0].get("models", ""))).name
    ax.set_title(f"Streaming quality per latency tier (model set '{models}')")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m danna_sep_models.bench")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("machine")
    q = sub.add_parser("plot")
    q.add_argument("results", type=Path)
    q.add_argument("out", type=Path)
    args = p.parse_args()
    if args.cmd == "machine":
        print(json.dumps(machine()))
    else:
        plot(args.results, args.out)


if __name__ == "__main__":
    main()
