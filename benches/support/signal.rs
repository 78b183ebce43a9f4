//! The benchmarks' synthetic stereo test signal (speed does not depend on the values, but
//! silence or a pure tone could take shortcuts that music does not).

/// A deterministic stereo test signal, `len` frames per channel at `rate` Hz: a few steady
/// tones plus white noise from a fixed-seed xorshift generator, peaking below 1.
pub fn test_signal(len: usize, rate: f32) -> [Vec<f32>; 2] {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
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
                tone + 0.2 * noise()
            })
            .collect()
    })
}
