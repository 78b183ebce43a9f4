//! `danna_sep_core::dsp` against the Python reference pipeline (`models/danna_sep_models/
//! reference.py`): `torch.stft`, `norbert.wiener` (1 EM iteration, no soft mask) and
//! `torch.istft` in float64 (the tool) and float32 (training), on a 3 s stereo fixture made at
//! test time by the project's venv (`.venv`, provisioned by `cargo xtask setup`, which
//! `cargo xtask test` runs before `cargo test`).
//!
//! Without `.venv/bin/python` the test is skipped with a loud message, unless the environment
//! variable `CI` is set, in which case it fails. Run with `-- --nocapture` to see the measured
//! errors (`cargo test --test dsp_reference -- --nocapture`).

use std::path::Path;

use danna_sep_testkit::venv::{python_or_skip, read_f32, run_script};
use danna_sep_testkit::TempDir;

use danna_sep_core::dsp::{istft_len, ComplexSpec, MagSpec, StftPlan, WienerFilter, BINS, SOURCES};
use realfft::num_complex::{Complex32, Complex64};

const SCRIPT: &str = r#"
import sys
from pathlib import Path

import numpy as np
import torch

from danna_sep_models import reference as ref

out = Path(sys.argv[1])
rng = np.random.default_rng(20261122)
sr = 44100
L = 3 * sr + 517
t = np.arange(L) / sr
audio = np.stack([
    0.5 * np.sin(2 * np.pi * 220.0 * t) + 0.1 * rng.standard_normal(L),
    0.3 * np.sin(2 * np.pi * 330.0 * t + 0.5) + 0.4 * np.sin(2 * np.pi * 220.0 * t)
    + 0.1 * rng.standard_normal(L),
]).astype(np.float32)
X = ref.stft(audio)                                   # (2, F, T) complex64
mag = np.abs(X)
mask = rng.uniform(0.0, 1.0, size=(4,) + mag.shape).astype(np.float32)
V = (mask * mag[None]).astype(np.float32)             # (4, 2, F, T)
Y = ref.wiener_norbert(V, X)                          # (4, 2, F, T) complex128
y64 = ref.istft(Y)                                    # float64 iSTFT -> float32 (4, 2, N)
w = torch.hann_window(4096, periodic=True)
y32 = torch.istft(torch.from_numpy(Y.astype(np.complex64)).reshape(8, 2049, -1), 4096, 1024,
                  4096, window=w, center=True).numpy()  # float32 iSTFT (8, N)
rec32 = torch.istft(torch.from_numpy(X), 4096, 1024, 4096, window=w, center=True).numpy()


def save(name, a, dtype):
    np.ascontiguousarray(a).astype(dtype).tofile(out / name)


save("audio.f32", audio, "<f4")                        # (2, L)
save("X.c64", X.transpose(0, 2, 1), "<c8")            # (2, T, F)
save("V.f32", V.transpose(0, 1, 3, 2), "<f4")         # (4, 2, T, F)
save("Y.c128", Y.transpose(0, 1, 3, 2), "<c16")       # (4, 2, T, F)
save("y64.f32", y64, "<f4")                           # (4, 2, N)
save("y32.f32", y32, "<f4")                           # (8, N)
save("rec32.f32", rec32, "<f4")                       # (2, N)
(out / "shape.txt").write_text(f"{L} {X.shape[-1]}\n")
"#;

fn read_c128(dir: &Path, name: &str) -> Vec<Complex64> {
    let bytes = std::fs::read(dir.join(name)).unwrap();
    bytes
        .chunks_exact(16)
        .map(|b| {
            Complex64::new(
                f64::from_le_bytes(b[..8].try_into().unwrap()),
                f64::from_le_bytes(b[8..].try_into().unwrap()),
            )
        })
        .collect()
}

fn c64(z: Complex32) -> Complex64 {
    Complex64::new(z.re as f64, z.im as f64)
}

/// (max |a − b|, max |b|).
fn max_err<A: Copy, B: Copy>(
    a: &[A],
    b: &[B],
    diff: impl Fn(A, B) -> f64,
    mag: impl Fn(B) -> f64,
) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold((0.0, 0.0), |(e, p), (&x, &y)| {
        (e.max(diff(x, y)), p.max(mag(y)))
    })
}

fn real_err(a: &[f32], b: &[f32]) -> (f64, f64) {
    max_err(
        a,
        b,
        |x, y| (x as f64 - y as f64).abs(),
        |y| (y as f64).abs(),
    )
}

#[test]
fn matches_torch_and_norbert_on_a_python_fixture() {
    let Some(python) = python_or_skip("dsp_reference") else {
        return;
    };
    let dir = TempDir::new("dsp-ref");
    run_script(&python, &dir.0, SCRIPT, &[dir.0.to_str().unwrap()]);
    let d = &dir.0;
    let shape = std::fs::read_to_string(d.join("shape.txt")).unwrap();
    let mut it = shape
        .split_whitespace()
        .map(|s| s.parse::<usize>().unwrap());
    let (len, frames) = (it.next().unwrap(), it.next().unwrap());
    let n = istft_len(frames);

    // STFT vs torch.stft (float32).
    let audio = read_f32(&d.join("audio.f32"));
    let (left, right) = audio.split_at(len);
    let mut plan = StftPlan::new(len);
    let mut x = ComplexSpec::new(2, plan.max_frames());
    plan.stft(&[left, right], &mut x);
    assert_eq!(x.frames(), frames);
    let x_torch: Vec<Complex32> = read_c64(d, "X.c64");
    let (e, p) = max_err(
        x.as_slice(),
        &x_torch,
        |a, b| (c64(a) - c64(b)).norm(),
        |b| b.norm() as f64,
    );
    eprintln!(
        "stft vs torch.stft: max |Δ| {e:.3e}, relative to max |X| {:.2e}",
        e / p
    );
    assert!(e / p < 1e-6, "stft: {}", e / p);

    // Wiener vs norbert.wiener (complex128), on torch's X.
    let mut xt = ComplexSpec::new(2, frames);
    xt.as_mut_slice().copy_from_slice(&x_torch);
    let mut v = MagSpec::new(2 * SOURCES, frames);
    v.as_mut_slice()
        .copy_from_slice(&read_f32(&d.join("V.f32")));
    let mut y = ComplexSpec::new(2 * SOURCES, frames);
    WienerFilter::new().apply(&v, &xt, &mut y);
    let y_norbert = read_c128(d, "Y.c128");
    let (e, p) = max_err(
        y.as_slice(),
        &y_norbert,
        |a, b| (c64(a) - b).norm(),
        |b| b.norm(),
    );
    eprintln!(
        "wiener vs norbert.wiener: max |Δ| {e:.3e}, relative to max |Y| {:.2e}",
        e / p
    );
    assert!(e / p < 1e-6, "wiener: {}", e / p);

    // iSTFT (f32) of norbert's Y vs torch.istft in float64 (the tool) and float32 (training).
    let mut y_ref = ComplexSpec::new(2 * SOURCES, frames);
    for (o, z) in y_ref.as_mut_slice().iter_mut().zip(&y_norbert) {
        *o = Complex32::new(z.re as f32, z.im as f32);
    }
    let y64 = read_f32(&d.join("y64.f32"));
    let y32 = read_f32(&d.join("y32.f32"));
    let mut wave = vec![0.0f32; 2 * SOURCES * n];
    for (k, w) in wave.chunks_exact_mut(n).enumerate() {
        plan.istft(&y_ref, k, w);
    }
    let (e64, p) = real_err(&wave, &y64);
    let (e32, _) = real_err(&wave, &y32);
    eprintln!(
        "istft (f32) vs torch.istft float64: max |Δ| {e64:.3e} ({:.2e} of peak); \
         vs torch.istft float32: {e32:.3e} ({:.2e})",
        e64 / p,
        e32 / p
    );
    assert!(e64 / p < 1e-6 && e32 / p < 1e-6, "istft: {e64} {e32}");

    // Perfect reconstruction vs torch's float32 round trip and the signal itself.
    let rec32 = read_f32(&d.join("rec32.f32"));
    let mut rec = vec![0.0f32; 2 * n];
    for (c, r) in rec.chunks_exact_mut(n).enumerate() {
        plan.istft(&xt, c, r);
    }
    let (e_torch, _) = real_err(&rec, &rec32);
    let truth: Vec<f32> = [left, right]
        .iter()
        .flat_map(|c| c[..n].iter().copied())
        .collect();
    let (e_sig, _) = real_err(&rec, &truth);
    eprintln!("istft(X) vs torch.istft(X) float32: {e_torch:.3e}; vs the signal: {e_sig:.3e}");
    assert!(e_torch < 1e-5 && e_sig < 1e-5);

    // The whole chain (our stft → wiener with the fixture's V → istft) vs the tool's.
    WienerFilter::new().apply(&v, &x, &mut y);
    for (k, w) in wave.chunks_exact_mut(n).enumerate() {
        plan.istft(&y, k, w);
    }
    let (e, p) = real_err(&wave, &y64);
    eprintln!(
        "chain stft → wiener → istft vs tool: max |Δ| {e:.3e} ({:.2e} of peak)",
        e / p
    );
    assert!(e / p < 2e-6, "chain: {}", e / p);
    assert_eq!(BINS, 2049);
}

fn read_c64(dir: &Path, name: &str) -> Vec<Complex32> {
    let f = read_f32(&dir.join(name));
    f.chunks_exact(2)
        .map(|c| Complex32::new(c[0], c[1]))
        .collect()
}
