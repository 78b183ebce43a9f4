//! norbert 0.2.1's multichannel Wiener filter as the tool calls it (`models/README.md`, "Reference pipeline"):
//! `wiener(v, x, iterations=1, use_softmask=False)` for 4 sources and 2 channels
//! ([`WienerFilter::new`]), or any other number of sources ([`WienerFilter::with_sources`]: 2
//! for the Spleeter vocals/accompaniment model); the algebra does not depend on it.
//!
//! With `V_j` the magnitude estimates (mask × |X|) and `X` the mixture STFT:
//!
//! 1. `y_j = V_j·exp(i·angle(X))` (angle 0 where `X = 0`);
//! 2. `max_abs = max(1, max|X| / 10)` over the whole input; `X` and `y_j` are divided by it;
//! 3. one EM pass, with every `v`/`R` computed from the initial `y` first:
//!    `v_j = mean_c |y_j|²`, `R_j[b] = Σ_t y_j y_jᴴ / (eps + Σ_t v_j)` (one 2×2 matrix per bin,
//!    pooled over all frames), `Cxx = Σ_j v_j R_j + sqrt(eps)·I`, closed-form 2×2 inverse
//!    (`1/det` times the adjugate, no extra epsilon), `y_j = v_j R_j Cxx⁻¹ X`;
//! 4. the result times `max_abs`.
//!
//! `eps` is f64 machine epsilon (2.220446049250313e-16), so `sqrt(eps) = 2⁻²⁶`.
//!
//! # Precision
//!
//! Inputs and outputs are f32 / complex64; everything in between is f64. That is not only the
//! covariance sums: `Cxx` is ill-conditioned wherever the mixture is (nearly) mono, e.g. for
//! `X_L = X_R` it is `s·[[1,1],[1,1]] + 2⁻²⁶·I` and its determinant `2s·2⁻²⁶` vanishes in f32
//! (`(s + 2⁻²⁶)² − s²` rounds to 0 for `s ≈ 1`), and so does the adjugate applied to `X`;
//! norbert survives this only because it runs in complex128. The per-(frame, bin) work is a
//! few dozen flops in plain loops over bins (contiguous, structure of arrays), written so the
//! compiler can vectorise them (not verified in the assembly); 60 s of stereo (2584 frames)
//! took ≈ 0.4 s on the loaded 2-core dev machine. Because the algebra is the same as norbert's in the same precision,
//! the outputs differ from an f64 implementation by the final rounding to complex64 only:
//! measured max |Δ| / max |y| = 3.5e-8 against the f64 transliteration of norbert in this
//! file's tests (random stereo masks; `cargo test --lib dsp::wiener -- --nocapture`). For mono
//! input (`X_L = X_R`), where `Cxx`'s condition number is ~power/2⁻²⁶, two f64 computations
//! already differ from each other by their rounding times that conditioning: 1.4e-6 there.
//! Against `norbert.wiener` itself (complex128) on a 3 s stereo fixture with random masks:
//! max |Δ| 1.5e-5, i.e. 4.1e-8 of max |y| (`cargo test --test dsp_reference -- --nocapture`).
//!
//! Nothing allocates after [`WienerFilter::new`]; the per-bin statistics do not depend on the
//! number of frames, and the output buffer is the caller's.

use realfft::num_complex::Complex32;

use super::stft::{ComplexSpec, MagSpec, BINS};

/// Sources the filter separates jointly by default (the four stems).
pub const SOURCES: usize = 4;
/// norbert's `eps`: f64 machine epsilon.
const EPS: f64 = f64::EPSILON;

/// `max(1, max|X| / 10)` over every element of `x` (norbert's scaling), computed in f64.
pub fn mixture_max_abs(x: &ComplexSpec) -> f64 {
    let max2 = x.as_slice().iter().fold(0.0f64, |m, z| {
        let (re, im) = (z.re as f64, z.im as f64);
        m.max(re * re + im * im)
    });
    (max2.sqrt() / 10.0).max(1.0)
}

/// The Wiener filter with its per-bin statistics pre-allocated.
#[derive(Debug, Clone)]
pub struct WienerFilter {
    sources: usize,
    // Spatial covariances R_j per bin, [source][bin]: the two real diagonal entries and the
    // upper off-diagonal (the lower one is its conjugate), plus Σ_t v_j.
    r00: Vec<f64>,
    r11: Vec<f64>,
    r01_re: Vec<f64>,
    r01_im: Vec<f64>,
    v_sum: Vec<f64>,
    // Per-frame scratch: the phase product u_L·conj(u_R), v_j, and G = Cxx⁻¹·X.
    p_re: Vec<f64>,
    p_im: Vec<f64>,
    v: Vec<f64>,
    g0_re: Vec<f64>,
    g0_im: Vec<f64>,
    g1_re: Vec<f64>,
    g1_im: Vec<f64>,
    // Per-frame scratch: Cxx per bin.
    m00: Vec<f64>,
    m11: Vec<f64>,
    m01_re: Vec<f64>,
    m01_im: Vec<f64>,
}

impl Default for WienerFilter {
    fn default() -> Self {
        Self::new()
    }
}

impl WienerFilter {
    /// The filter for the four stems ([`SOURCES`]); allocates the per-bin statistics
    /// (independent of the number of frames).
    pub fn new() -> Self {
        Self::with_sources(SOURCES)
    }

    /// The filter for `sources` jointly filtered sources (at least 1).
    pub fn with_sources(sources: usize) -> Self {
        assert!(sources >= 1, "a Wiener filter needs a source");
        let per_source = || vec![0.0; sources * BINS];
        let per_bin = || vec![0.0; BINS];
        Self {
            sources,
            m00: per_bin(),
            m11: per_bin(),
            m01_re: per_bin(),
            m01_im: per_bin(),
            r00: per_source(),
            r11: per_source(),
            r01_re: per_source(),
            r01_im: per_source(),
            v_sum: per_source(),
            p_re: per_bin(),
            p_im: per_bin(),
            v: per_source(),
            g0_re: per_bin(),
            g0_im: per_bin(),
            g1_re: per_bin(),
            g1_im: per_bin(),
        }
    }

    /// Number of sources.
    pub fn sources(&self) -> usize {
        self.sources
    }

    /// Filters: `v` holds the magnitude estimates with channel index `2·source + channel`
    /// (8 channels for 4 sources, the model's `(4, 2, ·, ·)` order), `x` the stereo mixture
    /// STFT, and `y` receives the source STFTs in the same order (its frame count is set).
    /// Uses `max_abs` = [`mixture_max_abs`]`(x)`, which is returned. No allocation.
    ///
    /// # Panics
    /// On channel counts other than `2·sources`/2/`2·sources`, differing frame counts, or a too small `y`.
    pub fn apply(&mut self, v: &MagSpec, x: &ComplexSpec, y: &mut ComplexSpec) -> f64 {
        let max_abs = mixture_max_abs(x);
        self.apply_with_max_abs(v, x, y, max_abs);
        max_abs
    }

    /// [`apply`](Self::apply) with a given scale instead of the one derived from `x` (norbert
    /// derives it from the whole track; a streaming caller may want a stable value).
    pub fn apply_with_max_abs(
        &mut self,
        v: &MagSpec,
        x: &ComplexSpec,
        y: &mut ComplexSpec,
        max_abs: f64,
    ) {
        assert_eq!(x.channels(), 2, "the mixture must be stereo");
        let sources = self.sources;
        assert_eq!(v.channels(), 2 * sources, "v needs 2 channels per source");
        assert_eq!(y.channels(), 2 * sources, "y needs 2 channels per source");
        assert_eq!(v.frames(), x.frames(), "v and x differ in frames");
        assert!(max_abs > 0.0, "max_abs must be positive");
        let frames = x.frames();
        y.set_frames(frames);
        self.estimate_covariances(v, x, max_abs);
        for t in 0..frames {
            self.frame_v(v, t, max_abs);
            self.solve_frame(x, t, max_abs);
            for j in 0..sources {
                self.write_source(y, j, t, max_abs);
            }
        }
    }

    /// R_j and Σ_t v_j from the initial estimate `y_j = V_j·exp(i·angle(X)) / max_abs`.
    fn estimate_covariances(&mut self, v: &MagSpec, x: &ComplexSpec, max_abs: f64) {
        for buf in [
            &mut self.r00,
            &mut self.r11,
            &mut self.r01_re,
            &mut self.r01_im,
            &mut self.v_sum,
        ] {
            buf.fill(0.0);
        }
        for t in 0..x.frames() {
            // y_L·conj(y_R) = V_L·V_R·u_L·conj(u_R) with u = X/|X| (1 where X = 0).
            let (x0, x1) = (x.frame(0, t), x.frame(1, t));
            let (p_re, p_im) = (&mut self.p_re[..BINS], &mut self.p_im[..BINS]);
            for b in 0..BINS {
                let (u0r, u0i) = unit(x0[b]);
                let (u1r, u1i) = unit(x1[b]);
                p_re[b] = u0r * u1r + u0i * u1i;
                p_im[b] = u0i * u1r - u0r * u1i;
            }
            for j in 0..self.sources {
                let (v0, v1) = (v.frame(2 * j, t), v.frame(2 * j + 1, t));
                let s = j * BINS..(j + 1) * BINS;
                let r00 = &mut self.r00[s.clone()];
                let r11 = &mut self.r11[s.clone()];
                let r01_re = &mut self.r01_re[s.clone()];
                let r01_im = &mut self.r01_im[s.clone()];
                let v_sum = &mut self.v_sum[s];
                for b in 0..BINS {
                    let w0 = v0[b] as f64 / max_abs;
                    let w1 = v1[b] as f64 / max_abs;
                    let (q0, q1, c) = (w0 * w0, w1 * w1, w0 * w1);
                    r00[b] += q0;
                    r11[b] += q1;
                    r01_re[b] += c * p_re[b];
                    r01_im[b] += c * p_im[b];
                    v_sum[b] += 0.5 * (q0 + q1);
                }
            }
        }
        let n = self.sources * BINS;
        let (r00, r11) = (&mut self.r00[..n], &mut self.r11[..n]);
        let (r01_re, r01_im) = (&mut self.r01_re[..n], &mut self.r01_im[..n]);
        let v_sum = &self.v_sum[..n];
        for i in 0..n {
            let weight = EPS + v_sum[i];
            r00[i] /= weight;
            r11[i] /= weight;
            r01_re[i] /= weight;
            r01_im[i] /= weight;
        }
    }

    /// v_j for frame `t` (from the initial estimate), into `self.v`.
    fn frame_v(&mut self, v: &MagSpec, t: usize, max_abs: f64) {
        for j in 0..self.sources {
            let (v0, v1) = (v.frame(2 * j, t), v.frame(2 * j + 1, t));
            let out = &mut self.v[j * BINS..(j + 1) * BINS];
            for b in 0..BINS {
                let w0 = v0[b] as f64 / max_abs;
                let w1 = v1[b] as f64 / max_abs;
                out[b] = 0.5 * (w0 * w0 + w1 * w1);
            }
        }
    }

    /// G = Cxx⁻¹·(X / max_abs) for frame `t`, into `self.g*`.
    fn solve_frame(&mut self, x: &ComplexSpec, t: usize, max_abs: f64) {
        let sqrt_eps = EPS.sqrt();
        let (x0, x1) = (x.frame(0, t), x.frame(1, t));
        let (g0_re, g0_im) = (&mut self.g0_re[..BINS], &mut self.g0_im[..BINS]);
        let (g1_re, g1_im) = (&mut self.g1_re[..BINS], &mut self.g1_im[..BINS]);
        let (m00, m11) = (&mut self.m00[..BINS], &mut self.m11[..BINS]);
        let (m01_re, m01_im) = (&mut self.m01_re[..BINS], &mut self.m01_im[..BINS]);
        for m in [&mut *m00, &mut *m11, &mut *m01_re, &mut *m01_im] {
            m.fill(0.0);
        }
        // Cxx − sqrt(eps)·I = Σ_j v_j R_j, accumulated in source order per bin.
        for j in 0..self.sources {
            let s = j * BINS..(j + 1) * BINS;
            let v = &self.v[s.clone()];
            let (r00, r11) = (&self.r00[s.clone()], &self.r11[s.clone()]);
            let (r01_re, r01_im) = (&self.r01_re[s.clone()], &self.r01_im[s]);
            for b in 0..BINS {
                let vj = v[b];
                m00[b] += vj * r00[b];
                m11[b] += vj * r11[b];
                m01_re[b] += vj * r01_re[b];
                m01_im[b] += vj * r01_im[b];
            }
        }
        for b in 0..BINS {
            let (m00, m11, m01_re, m01_im) = (m00[b], m11[b], m01_re[b], m01_im[b]);
            let m00 = m00 + sqrt_eps;
            let m11 = m11 + sqrt_eps;
            // m10 = conj(m01), so m01·m10 = |m01|² and det is real.
            let inv_det = 1.0 / (m00 * m11 - (m01_re * m01_re + m01_im * m01_im));
            let (a_re, a_im) = (x0[b].re as f64 / max_abs, x0[b].im as f64 / max_abs);
            let (c_re, c_im) = (x1[b].re as f64 / max_abs, x1[b].im as f64 / max_abs);
            // [[m11, −m01], [−conj(m01), m00]]·[a, c] / det
            g0_re[b] = (m11 * a_re - (m01_re * c_re - m01_im * c_im)) * inv_det;
            g0_im[b] = (m11 * a_im - (m01_re * c_im + m01_im * c_re)) * inv_det;
            g1_re[b] = (m00 * c_re - (m01_re * a_re + m01_im * a_im)) * inv_det;
            g1_im[b] = (m00 * c_im - (m01_re * a_im - m01_im * a_re)) * inv_det;
        }
    }

    /// y_j = max_abs · v_j · R_j · G for frame `t`.
    fn write_source(&self, y: &mut ComplexSpec, j: usize, t: usize, max_abs: f64) {
        let s = j * BINS..(j + 1) * BINS;
        let v = &self.v[s.clone()];
        let (r00, r11) = (&self.r00[s.clone()], &self.r11[s.clone()]);
        let (r01_re, r01_im) = (&self.r01_re[s.clone()], &self.r01_im[s]);
        let (g0_re, g0_im) = (&self.g0_re[..BINS], &self.g0_im[..BINS]);
        let (g1_re, g1_im) = (&self.g1_re[..BINS], &self.g1_im[..BINS]);
        let out0 = y.frame_mut(2 * j, t);
        for b in 0..BINS {
            let k = v[b] * max_abs;
            // R·G, row 0: r00·g0 + r01·g1
            let re = r00[b] * g0_re[b] + (r01_re[b] * g1_re[b] - r01_im[b] * g1_im[b]);
            let im = r00[b] * g0_im[b] + (r01_re[b] * g1_im[b] + r01_im[b] * g1_re[b]);
            out0[b] = Complex32::new((k * re) as f32, (k * im) as f32);
        }
        let out1 = y.frame_mut(2 * j + 1, t);
        for b in 0..BINS {
            let k = v[b] * max_abs;
            // row 1: conj(r01)·g0 + r11·g1
            let re = (r01_re[b] * g0_re[b] + r01_im[b] * g0_im[b]) + r11[b] * g1_re[b];
            let im = (r01_re[b] * g0_im[b] - r01_im[b] * g0_re[b]) + r11[b] * g1_im[b];
            out1[b] = Complex32::new((k * re) as f32, (k * im) as f32);
        }
    }
}

/// `exp(i·angle(z))` in f64: `z/|z|`, or 1 where `z = 0`.
#[inline]
fn unit(z: Complex32) -> (f64, f64) {
    let (re, im) = (z.re as f64, z.im as f64);
    let n = (re * re + im * im).sqrt();
    if n > 0.0 {
        (re / n, im / n)
    } else {
        (1.0, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use realfft::num_complex::Complex64;

    /// The test kit's one RNG, as the two draws these tests use.
    struct Rng(danna_sep_testkit::Rng);
    impl Rng {
        fn uniform(&mut self) -> f32 {
            self.0.unit() as f32
        }
        fn signed(&mut self) -> f32 {
            2.0 * self.uniform() - 1.0
        }
    }

    /// A random stereo "mixture" spectrogram (levels spanning ~4 decades, like music) and
    /// random masks times its magnitude. `mono` makes both channels (and masks) identical.
    fn fixture(frames: usize, seed: u64, mono: bool) -> (MagSpec, ComplexSpec) {
        let mut rng = Rng(danna_sep_testkit::Rng::new(
            seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        ));
        let mut x = ComplexSpec::new(2, frames);
        for t in 0..frames {
            for b in 0..BINS {
                let level = 300.0 * (-(b as f32) / 300.0).exp() + 0.03;
                let z = Complex32::new(rng.signed(), rng.signed()) * level;
                let z1 = if mono {
                    z
                } else {
                    Complex32::new(rng.signed(), rng.signed()) * level
                };
                x.frame_mut(0, t)[b] = z;
                x.frame_mut(1, t)[b] = z1;
            }
        }
        let mut v = MagSpec::new(2 * SOURCES, frames);
        for j in 0..SOURCES {
            for t in 0..frames {
                for b in 0..BINS {
                    let m0 = rng.uniform();
                    let m1 = if mono { m0 } else { rng.uniform() };
                    v.frame_mut(2 * j, t)[b] = m0 * x.frame(0, t)[b].norm();
                    v.frame_mut(2 * j + 1, t)[b] = m1 * x.frame(1, t)[b].norm();
                }
            }
        }
        (v, x)
    }

    type Planes = Vec<Vec<Complex64>>;

    /// norbert's algorithm transliterated in f64 with explicit 2×2 complex matrices: returns
    /// y as `[source·2 + channel][frame][bin]`, and what Σ_j y_j must be by algebra,
    /// `x − sqrt(eps)·max_abs·Cxx⁻¹·x_s`, as `[channel][frame][bin]`.
    fn reference(v: &MagSpec, x: &ComplexSpec) -> (Planes, Planes) {
        let frames = x.frames();
        let n = frames * BINS;
        let c64 = |z: Complex32| Complex64::new(z.re as f64, z.im as f64);
        let max_abs = x
            .as_slice()
            .iter()
            .map(|z| c64(*z).norm())
            .fold(0.0, f64::max)
            / 10.0;
        let max_abs = max_abs.max(1.0);
        let xs: Vec<Vec<Complex64>> = (0..2)
            .map(|c| x.channel(c).iter().map(|z| c64(*z) / max_abs).collect())
            .collect();
        let mut y = vec![vec![Complex64::default(); n]; 2 * SOURCES];
        for (k, yk) in y.iter_mut().enumerate() {
            let xc = x.channel(k % 2);
            for (i, o) in yk.iter_mut().enumerate() {
                let angle = (xc[i].im as f64).atan2(xc[i].re as f64);
                *o = Complex64::from_polar(v.channel(k)[i] as f64, angle) / max_abs;
            }
        }
        type M = [[Complex64; 2]; 2];
        let mut vj = vec![vec![0.0f64; n]; SOURCES];
        let mut r = vec![vec![M::default(); BINS]; SOURCES];
        for j in 0..SOURCES {
            let mut weight = vec![EPS; BINS];
            for i in 0..n {
                let (a, b) = (y[2 * j][i], y[2 * j + 1][i]);
                vj[j][i] = (a.norm_sqr() + b.norm_sqr()) / 2.0;
                let m = &mut r[j][i % BINS];
                m[0][0] += a * a.conj();
                m[0][1] += a * b.conj();
                m[1][0] += b * a.conj();
                m[1][1] += b * b.conj();
                weight[i % BINS] += vj[j][i];
            }
            for (m, w) in r[j].iter_mut().zip(&weight) {
                m.iter_mut().flatten().for_each(|e| *e /= w);
            }
        }
        let mut out = vec![vec![Complex64::default(); n]; 2 * SOURCES];
        let mut sum = vec![vec![Complex64::default(); n]; 2];
        for i in 0..n {
            let b = i % BINS;
            let mut cxx = M::default();
            for j in 0..SOURCES {
                for (p, q) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    cxx[p][q] += vj[j][i] * r[j][b][p][q];
                }
            }
            cxx[0][0] += EPS.sqrt();
            cxx[1][1] += EPS.sqrt();
            let inv_det = 1.0 / (cxx[0][0] * cxx[1][1] - cxx[0][1] * cxx[1][0]);
            let inv = [
                [inv_det * cxx[1][1], -inv_det * cxx[0][1]],
                [-inv_det * cxx[1][0], inv_det * cxx[0][0]],
            ];
            for (p, s) in sum.iter_mut().enumerate() {
                let g = inv[p][0] * xs[0][i] + inv[p][1] * xs[1][i];
                s[i] = (xs[p][i] - EPS.sqrt() * g) * max_abs;
            }
            for j in 0..SOURCES {
                // W = v_j R_j Cxx⁻¹; y = W x
                let mut w = M::default();
                for p in 0..2 {
                    for q in 0..2 {
                        w[p][q] =
                            vj[j][i] * (r[j][b][p][0] * inv[0][q] + r[j][b][p][1] * inv[1][q]);
                    }
                }
                for p in 0..2 {
                    out[2 * j + p][i] = (w[p][0] * xs[0][i] + w[p][1] * xs[1][i]) * max_abs;
                }
            }
        }
        (out, sum)
    }

    fn run(v: &MagSpec, x: &ComplexSpec) -> ComplexSpec {
        let mut y = ComplexSpec::new(2 * SOURCES, x.frames());
        WienerFilter::new().apply(v, x, &mut y);
        y
    }

    /// max |y − ref| / max |ref|.
    fn rel_error(y: &ComplexSpec, reference: &[Vec<Complex64>]) -> f64 {
        let (mut err, mut peak) = (0.0f64, 0.0f64);
        for (k, r) in reference.iter().enumerate() {
            for (a, b) in y.channel(k).iter().zip(r) {
                err = err.max((Complex64::new(a.re as f64, a.im as f64) - b).norm());
                peak = peak.max(b.norm());
            }
        }
        err / peak
    }

    #[test]
    fn agrees_with_an_f64_transliteration_of_norbert() {
        // Mono makes Cxx nearly singular (condition ~ power / sqrt(eps)): there the two f64
        // computations differ by their own rounding amplified by the conditioning.
        for (mono, bound) in [(false, 1e-7), (true, 1e-5)] {
            let (v, x) = fixture(24, 11, mono);
            let y = run(&v, &x);
            let e = rel_error(&y, &reference(&v, &x).0);
            eprintln!("wiener vs f64 reference (mono: {mono}): max rel error {e:.2e}");
            assert!(e < bound, "mono {mono}: {e}");
        }
    }

    /// max |a − b| / max |b| over channels `0..b.len()`, where `a` is `[channel][frame][bin]`.
    fn planes_error(a: &[Vec<Complex32>], b: &[Vec<Complex64>]) -> f64 {
        let (mut err, mut peak) = (0.0f64, 0.0f64);
        for (pa, pb) in a.iter().zip(b) {
            for (p, q) in pa.iter().zip(pb) {
                err = err.max((Complex64::new(p.re as f64, p.im as f64) - q).norm());
                peak = peak.max(q.norm());
            }
        }
        err / peak
    }

    fn c64_planes(x: &ComplexSpec) -> Planes {
        let c64 = |z: &Complex32| Complex64::new(z.re as f64, z.im as f64);
        (0..x.channels())
            .map(|c| x.channel(c).iter().map(c64).collect())
            .collect()
    }

    #[test]
    fn sources_sum_to_the_mixture_up_to_the_regularisation() {
        // With one EM iteration Σ_j v_j R_j = Cxx − sqrt(eps)·I, so
        // Σ_j y_j = x − sqrt(eps)·Cxx⁻¹·x exactly: ≈ x except in bins whose power is not
        // large against sqrt(eps) ≈ 1.5e-8 (after the max_abs scaling).
        for mono in [false, true] {
            let (v, x) = fixture(16, 5, mono);
            let y = run(&v, &x);
            let sums: Vec<Vec<Complex32>> = (0..2)
                .map(|c| {
                    (0..x.frames() * BINS)
                        .map(|i| (0..SOURCES).map(|j| y.channel(2 * j + c)[i]).sum())
                        .collect()
                })
                .collect();
            let (_, predicted) = reference(&v, &x);
            let exact = planes_error(&sums, &predicted);
            let to_mix = planes_error(&sums, &c64_planes(&x));
            eprintln!(
                "mono {mono}: |Σy − (x − √eps·Cxx⁻¹x)| {exact:.2e}, |Σy − x| {to_mix:.2e} \
                 (relative to the peak)"
            );
            // Mono: the prediction itself carries f64 rounding amplified by Cxx's conditioning.
            let bound = if mono { 1e-5 } else { 2e-7 };
            assert!(exact < bound, "mono {mono}: {exact}");
            assert!(to_mix < 1e-4, "mono {mono}: {to_mix}");
        }
    }

    #[test]
    fn a_single_active_source_gets_the_whole_mixture() {
        let (mut v, x) = fixture(12, 9, false);
        for j in 0..SOURCES {
            for c in 0..2 {
                for (o, z) in v.channel_mut(2 * j + c).iter_mut().zip(x.channel(c)) {
                    *o = if j == 2 { z.norm() } else { 0.0 };
                }
            }
        }
        let y = run(&v, &x);
        for j in [0, 1, 3] {
            for c in 0..2 {
                assert!(y
                    .channel(2 * j + c)
                    .iter()
                    .all(|z| *z == Complex32::default()));
            }
        }
        let other: Vec<Vec<Complex32>> = (4..6).map(|k| y.channel(k).to_vec()).collect();
        let exact = planes_error(&other, &reference(&v, &x).1);
        let to_mix = planes_error(&other, &c64_planes(&x));
        eprintln!("single source: vs x − √eps·Cxx⁻¹x {exact:.2e}, vs x {to_mix:.2e}");
        assert!(exact < 2e-7 && to_mix < 1e-4, "{exact} {to_mix}");
    }

    #[test]
    fn two_sources_sum_to_the_mixture_and_four_match_the_default() {
        let (v4, x) = fixture(10, 21, false);
        // Two sources: source 0 gets the first two stems' magnitudes, source 1 the rest.
        let mut v2 = MagSpec::new(4, x.frames());
        for c in 0..2 {
            for (i, o) in v2.channel_mut(c).iter_mut().enumerate() {
                *o = v4.channel(c)[i] + v4.channel(2 + c)[i];
            }
            for (i, o) in v2.channel_mut(2 + c).iter_mut().enumerate() {
                *o = v4.channel(4 + c)[i] + v4.channel(6 + c)[i];
            }
        }
        let mut y = ComplexSpec::new(4, x.frames());
        let mut filter = WienerFilter::with_sources(2);
        assert_eq!(filter.sources(), 2);
        filter.apply(&v2, &x, &mut y);
        let sums: Vec<Vec<Complex32>> = (0..2)
            .map(|c| {
                (0..x.frames() * BINS)
                    .map(|i| y.channel(c)[i] + y.channel(2 + c)[i])
                    .collect()
            })
            .collect();
        let to_mix = planes_error(&sums, &c64_planes(&x));
        eprintln!("two sources: |Σy − x| {to_mix:.2e} of the peak");
        assert!(to_mix < 1e-4, "{to_mix}");
        let mut a = ComplexSpec::new(8, x.frames());
        let mut b = ComplexSpec::new(8, x.frames());
        WienerFilter::new().apply(&v4, &x, &mut a);
        WienerFilter::with_sources(4).apply(&v4, &x, &mut b);
        assert_eq!(a.as_slice(), b.as_slice());
    }

    #[test]
    fn max_abs_is_one_tenth_of_the_peak_but_at_least_one() {
        let mut x = ComplexSpec::new(2, 2);
        assert_eq!(mixture_max_abs(&x), 1.0);
        x.frame_mut(1, 1)[7] = Complex32::new(30.0, 40.0);
        assert_eq!(mixture_max_abs(&x), 5.0);
    }

    // The checker counts in debug builds only (nice-assert-no-alloc's `warn_debug`).
    #[cfg(debug_assertions)]
    #[test]
    fn filtering_does_not_allocate() {
        let (v, x) = fixture(8, 3, false);
        let mut y = ComplexSpec::new(2 * SOURCES, 8);
        let mut filter = WienerFilter::new();
        let before = nice_assert_no_alloc::violation_count();
        nice_assert_no_alloc::assert_no_alloc(|| {
            filter.apply(&v, &x, &mut y);
        });
        assert_eq!(nice_assert_no_alloc::violation_count(), before);
    }
}
