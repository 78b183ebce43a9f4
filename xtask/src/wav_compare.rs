//! How close two renders of the same stem are: the signal-to-difference ratio of two WAV files
//! (`10 log10(Σ ref² / Σ (ref − other)²)`, all channels), used to compare the Windows build's
//! stems with the Linux build's.

use anyhow::{ensure, Context, Result};
use std::path::Path;

/// The samples of a WAV file (interleaved, as f32) with its channel count and rate.
pub struct Wav {
    pub channels: u16,
    pub rate: u32,
    pub samples: Vec<f32>,
}

/// Reads a 32-bit float or integer WAV.
pub fn read(path: &Path) -> Result<Wav> {
    let mut reader =
        hound::WavReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let spec = reader.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()?
        }
    };
    Ok(Wav {
        channels: spec.channels,
        rate: spec.sample_rate,
        samples,
    })
}

/// The ratio in dB of `reference`'s energy to the energy of `other − reference`; infinite when
/// they are identical. Both must have the same layout and length.
pub fn snr_db(reference: &Wav, other: &Wav) -> Result<f64> {
    ensure!(
        (reference.channels, reference.rate, reference.samples.len())
            == (other.channels, other.rate, other.samples.len()),
        "different layouts: {} ch {} Hz {} samples vs {} ch {} Hz {} samples",
        reference.channels,
        reference.rate,
        reference.samples.len(),
        other.channels,
        other.rate,
        other.samples.len()
    );
    let (mut signal, mut noise) = (0f64, 0f64);
    for (&r, &o) in reference.samples.iter().zip(&other.samples) {
        signal += f64::from(r) * f64::from(r);
        noise += (f64::from(o) - f64::from(r)).powi(2);
    }
    Ok(if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(samples: Vec<f32>) -> Wav {
        Wav {
            channels: 2,
            rate: 44_100,
            samples,
        }
    }

    #[test]
    fn identical_is_infinite_and_a_tenth_off_is_20_db() {
        let a = wav(vec![1.0, -1.0, 0.5, -0.5]);
        assert_eq!(snr_db(&a, &wav(a.samples.clone())).unwrap(), f64::INFINITY);
        let b = wav(a.samples.iter().map(|s| s * 1.1).collect());
        assert!((snr_db(&a, &b).unwrap() - 20.0).abs() < 1e-3);
    }

    #[test]
    fn different_lengths_are_an_error() {
        assert!(snr_db(&wav(vec![0.0; 4]), &wav(vec![0.0; 2])).is_err());
    }
}
