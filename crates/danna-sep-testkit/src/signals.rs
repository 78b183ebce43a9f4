//! Test signals and comparisons shared by the host tests (CLAP and VST3): a seeded PRNG,
//! noise and tones, and checks of "output = gain × input delayed by the latency".

/// A small deterministic PRNG (xorshift64*), so signals and block sequences are identical on
/// every run.
pub struct Rng(pub u64);

impl Rng {
    /// A generator from `seed` (any value; zero is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f64) as usize).min(n - 1)
    }
}

/// White noise in [-0.5, 0.5), `[channel][frame]`, channels independent.
pub fn noise(seed: u64, channels: usize, frames: usize) -> Vec<Vec<f32>> {
    let mut rng = Rng(seed);
    (0..channels)
        .map(|_| (0..frames).map(|_| (rng.unit() - 0.5) as f32).collect())
        .collect()
}

/// Per channel, a sum of eight sines between 60 Hz and 9.5 kHz with seeded amplitudes and
/// phases: well inside both the host's and the model's band, so resampling keeps all of it.
pub fn tones(seed: u64, channels: usize, frames: usize, rate: f64) -> Vec<Vec<f32>> {
    let mut rng = Rng(seed);
    (0..channels)
        .map(|_| {
            let parts: Vec<(f64, f64, f64)> = (0..8)
                .map(|_| {
                    (
                        60.0 + rng.unit() * 9_440.0,
                        0.03 + rng.unit() * 0.09,
                        rng.unit() * std::f64::consts::TAU,
                    )
                })
                .collect();
            (0..frames)
                .map(|i| {
                    let t = i as f64 / rate;
                    parts
                        .iter()
                        .map(|&(f, a, p)| a * (std::f64::consts::TAU * f * t + p).sin())
                        .sum::<f64>() as f32
                })
                .collect()
        })
        .collect()
}

/// Asserts `out[n] == gain * input[n - latency]` within `tol`, and silence before the latency.
pub fn assert_delayed(
    label: &str,
    out: &[f32],
    input: &[f32],
    gain: f32,
    latency: usize,
    tol: f32,
) {
    let want = |n: usize| {
        if n >= latency {
            gain * input[n - latency]
        } else {
            0.0
        }
    };
    let mut worst = (0.0f32, 0usize);
    for (n, &o) in out.iter().enumerate() {
        let err = (o - want(n)).abs();
        if err > worst.0 {
            worst = (err, n);
        }
    }
    assert!(
        worst.0 <= tol,
        "{label}: max error {} at frame {} (latency {latency}): got {}, want {}",
        worst.0,
        worst.1,
        out[worst.1],
        want(worst.1)
    );
}

/// The lag in `lags` maximising the normalised cross-correlation of `out` against `input` over
/// `segment` (indices into `input`). Normalised by the output energy at each lag, so a louder
/// stretch of output cannot win over the best-matching one.
pub fn correlation_peak(
    out: &[f32],
    input: &[f32],
    segment: std::ops::Range<usize>,
    lags: std::ops::RangeInclusive<usize>,
) -> usize {
    lags.map(|lag| {
        let (mut c, mut e) = (0.0f64, 0.0f64);
        for n in segment.clone() {
            let o = f64::from(out[n + lag]);
            c += o * f64::from(input[n]);
            e += o * o;
        }
        (lag, c / e.sqrt().max(f64::MIN_POSITIVE))
    })
    .max_by(|a, b| a.1.total_cmp(&b.1))
    .unwrap()
    .0
}

/// `10 log10(|out - gain·delayed input|² / |gain·delayed input|²)` over output frames `range`.
pub fn relative_error_db(
    out: &[f32],
    input: &[f32],
    gain: f32,
    latency: usize,
    range: std::ops::Range<usize>,
) -> f64 {
    let (mut err, mut sig) = (0.0f64, 0.0f64);
    for n in range {
        let want = f64::from(gain * input[n - latency]);
        err += (f64::from(out[n]) - want).powi(2);
        sig += want * want;
    }
    10.0 * (err / sig).log10()
}

/// The benchmarks' deterministic stereo test signal, `len` frames per channel at `rate` Hz: a
/// few steady tones plus white noise, peaking below 1 (speed does not depend on the values,
/// but silence or a pure tone could take shortcuts that music does not).
pub fn test_signal(len: usize, rate: f32) -> [Vec<f32>; 2] {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let tones: [[(f32, f32); 3]; 2] = [
        [(110.0, 0.2), (440.0, 0.1), (2_500.0, 0.05)],
        [(82.4, 0.2), (660.0, 0.1), (3_300.0, 0.05)],
    ];
    std::array::from_fn(|ch| {
        (0..len)
            .map(|i| {
                let t = i as f32 / rate;
                let tone: f32 = tones[ch]
                    .iter()
                    .map(|&(f, a)| a * (std::f32::consts::TAU * f * t).sin())
                    .sum();
                tone + 0.2 * (rng.unit() - 0.5) as f32
            })
            .collect()
    })
}
