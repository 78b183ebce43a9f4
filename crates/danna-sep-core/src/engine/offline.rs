//! Offline separation for the CLI, two ways:
//! - [`separate_stream`]: a whole stream through the streaming engine, waiting for every window,
//!   with the latency trimmed off; equal to the plugin's offline render shifted by the reported
//!   latency. Memory stays bounded: audio is pulled and pushed in blocks.
//! - [`separate_whole`]: the whole track as one window, like the original tool: no overlap to
//!   recompute and whole-track statistics, but memory grows with the track.

use std::sync::atomic::Ordering;

use super::backend::{BackendFactory, StemBuffers};
use super::latency::LatencyBudget;
use super::status::BackendState;
use super::window_resampler::WindowResampler;
use super::{build, EngineConfig};
use crate::dsp::finite::{count_non_finite, flush_denormals_on_this_thread, sanitize};
use crate::error::SeparationError;
use crate::selection::{BackendSpec, NullStems};
use crate::stems::STEM_COUNT;

/// Block size used for offline runs; the output does not depend on it.
pub const OFFLINE_BLOCK: usize = 4096;

/// Why an offline run stopped: the separation failed, or the caller's reader or writer did
/// (`E`, passed on unchanged).
#[derive(Debug, thiserror::Error)]
pub enum OfflineError<E: std::error::Error + 'static> {
    /// The backend could not be created or failed mid-way.
    #[error(transparent)]
    Separation(#[from] SeparationError),
    /// The backend failed on the worker; its status line.
    #[error("{0}")]
    Backend(String),
    /// `read` or `write` failed.
    #[error(transparent)]
    Io(E),
}

/// Result summary of an offline run.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineReport {
    /// Frames delivered to the sink.
    pub frames: usize,
    /// The backend's status line at the end.
    pub backend: String,
    /// Windows the models ran on (those whose output starts past the input's end are not run).
    pub windows: u64,
    /// Input samples that were NaN or infinite and were separated as silence.
    pub non_finite_input: u64,
}

/// Runs `frames` input frames through the engine. `read(start, left, right)` fills the given
/// slices with input frames `[start, start + len)`; `write(start, stems)` receives output frames
/// `[start, start + len)` as eight slices in (stem, channel) order, aligned with the input.
/// Fails if the backend cannot be created or fails mid-way (then nothing would be separated),
/// and stops at the first error `read` or `write` returns, which it passes on.
pub fn separate_stream<E: std::error::Error + 'static>(
    budget: LatencyBudget,
    factory: BackendFactory,
    spec: BackendSpec,
    frames: usize,
    read: impl FnMut(usize, &mut [f32], &mut [f32]) -> Result<(), E>,
    write: impl FnMut(usize, [&[f32]; STEM_COUNT * 2]) -> Result<(), E>,
) -> Result<OfflineReport, OfflineError<E>> {
    separate_stream_with(
        budget,
        factory,
        spec,
        NullStems::default(),
        frames,
        read,
        write,
    )
}

/// [`separate_stream`] with a stems-that-null setting (the default is
/// [`NullStems::Auto`]).
pub fn separate_stream_with<E: std::error::Error + 'static>(
    budget: LatencyBudget,
    factory: BackendFactory,
    spec: BackendSpec,
    null: NullStems,
    frames: usize,
    mut read: impl FnMut(usize, &mut [f32], &mut [f32]) -> Result<(), E>,
    mut write: impl FnMut(usize, [&[f32]; STEM_COUNT * 2]) -> Result<(), E>,
) -> Result<OfflineReport, OfflineError<E>> {
    let budget = LatencyBudget {
        max_block: OFFLINE_BLOCK,
        ..budget
    };
    let latency = budget.total();
    let (mut engine, mut worker, shared) =
        build(EngineConfig::new(budget).offline(true).spec(spec), factory);
    shared.set_null_stems(null);
    // Set before the first input arrives, so no window past the end is ever computed.
    shared.input_end.store(frames as i64, Ordering::Release);
    let (mut l, mut r) = (vec![0.0f32; OFFLINE_BLOCK], vec![0.0f32; OFFLINE_BLOCK]);
    let total = frames + latency;
    let mut pos = 0;
    while pos < total {
        let n = OFFLINE_BLOCK.min(total - pos);
        let real = frames.saturating_sub(pos).min(n);
        if real > 0 {
            read(pos, &mut l[..real], &mut r[..real]).map_err(OfflineError::Io)?;
        }
        l[real..n].fill(0.0);
        r[real..n].fill(0.0);
        let block = engine.process(&l[..n], &r[..n]);
        // A failed window would be a silent gap in every stem file: better no files.
        let status = &shared.status;
        if status.state() == BackendState::Failed
            || status.failed_windows.load(Ordering::Relaxed) > 0
        {
            return Err(OfflineError::Backend(status.message()));
        }
        // Output frame i of this block is input frame pos + i - latency.
        let skip = latency.saturating_sub(pos).min(n);
        if skip < n {
            let out_start = pos + skip - latency;
            let stems: [&[f32]; STEM_COUNT * 2] =
                std::array::from_fn(|c| &block.stem(c / 2, c % 2)[skip..n]);
            write(out_start, stems).map_err(OfflineError::Io)?;
        }
        pos += n;
    }
    let backend = shared.status.message();
    drop(worker.stop().wait());
    let windows = shared.status.hops_done.load(Ordering::Relaxed);
    Ok(OfflineReport {
        frames,
        backend,
        windows,
        non_finite_input: shared.status.non_finite_input.load(Ordering::Relaxed),
    })
}

/// [`separate_stream`] on a stereo mix held in memory: returns the eight output channels,
/// planar (stem-major, then channel, `mix[0].len()` frames each), and the report.
pub fn separate_buffers(
    budget: LatencyBudget,
    factory: BackendFactory,
    spec: BackendSpec,
    mix: [&[f32]; 2],
) -> Result<(Vec<f32>, OfflineReport), OfflineError<std::convert::Infallible>> {
    let frames = mix[0].len();
    let mut out = vec![0.0f32; STEM_COUNT * 2 * frames];
    let report = separate_stream(
        budget,
        factory,
        spec,
        frames,
        |start, l, r| {
            l.copy_from_slice(&mix[0][start..start + l.len()]);
            r.copy_from_slice(&mix[1][start..start + r.len()]);
            Ok(())
        },
        |start, stems| {
            for (c, s) in stems.iter().enumerate() {
                let at = c * frames + start;
                out[at..at + s.len()].copy_from_slice(s);
            }
            Ok(())
        },
    )?;
    Ok((out, report))
}

/// Shortest window [`separate_whole`] runs, in seconds; shorter tracks are padded with silence
/// up to it. The models have minimum lengths (the STFT needs more than 2048 samples with its
/// 1024-sample right pad; Demucs returns nothing past its 22 050-sample shift for a few
/// samples), which a second clears with room to spare.
pub const MIN_WHOLE_SECONDS: f64 = 1.0;

/// Separates `frames` input frames at `sample_rate` as one window: reads them all, resamples
/// them to the model rate, runs the backend once and hands the stems back in
/// [`OFFLINE_BLOCK`]-frame pieces. `read` and `write` are called as by [`separate_stream`].
/// Memory grows with `frames` (the input, the stems at both rates and the models' activations);
/// a track shorter than [`MIN_WHOLE_SECONDS`] runs as that long a window, padded with silence.
pub fn separate_whole<E: std::error::Error + 'static>(
    sample_rate: u32,
    factory: BackendFactory,
    spec: BackendSpec,
    frames: usize,
    read: impl FnMut(usize, &mut [f32], &mut [f32]) -> Result<(), E>,
    write: impl FnMut(usize, [&[f32]; STEM_COUNT * 2]) -> Result<(), E>,
) -> Result<OfflineReport, OfflineError<E>> {
    separate_whole_with(
        sample_rate,
        factory,
        spec,
        NullStems::default(),
        frames,
        read,
        write,
    )
}

/// [`separate_whole`] with a stems-that-null setting (the default is [`NullStems::Auto`]).
pub fn separate_whole_with<E: std::error::Error + 'static>(
    sample_rate: u32,
    factory: BackendFactory,
    spec: BackendSpec,
    null: NullStems,
    frames: usize,
    mut read: impl FnMut(usize, &mut [f32], &mut [f32]) -> Result<(), E>,
    mut write: impl FnMut(usize, [&[f32]; STEM_COUNT * 2]) -> Result<(), E>,
) -> Result<OfflineReport, OfflineError<E>> {
    // This thread runs the models here: subnormals count as zero, as on the engine's threads.
    flush_denormals_on_this_thread();
    let mut backend = SeparationError::catching("loading the models", || factory(spec))?;
    let window = frames.max((MIN_WHOLE_SECONDS * f64::from(sample_rate)).ceil() as usize);
    let (mut l, mut r) = (vec![0.0f32; window], vec![0.0f32; window]);
    for start in (0..frames).step_by(OFFLINE_BLOCK) {
        let end = (start + OFFLINE_BLOCK).min(frames);
        read(start, &mut l[start..end], &mut r[start..end]).map_err(OfflineError::Io)?;
    }
    // As the engine's input history does: NaN and infinities become silence, counted.
    let mut non_finite_input = 0;
    for v in l.iter_mut().chain(r.iter_mut()) {
        let (clean, bad) = sanitize(*v);
        *v = clean;
        non_finite_input += u64::from(bad);
    }
    let mut resampler = WindowResampler::new(sample_rate, window)?;
    let m = resampler.model_frames();
    let (mut ml, mut mr) = (vec![0.0f32; m], vec![0.0f32; m]);
    resampler.to_model([&l, &r], &mut ml, &mut mr)?;
    let null = null.applies_to(spec.model);
    let input = if null {
        Some((l, r))
    } else {
        drop((l, r));
        None
    };
    let mut model_stems = StemBuffers::new(m);
    SeparationError::catching("separating the track", || {
        backend.prepare(m)?;
        backend.separate([&ml, &mr], &mut model_stems)?;
        let count: usize = model_stems
            .channels_mut()
            .map(|c| count_non_finite(c))
            .sum();
        match count {
            0 => Ok(()),
            count => Err(SeparationError::NonFinite { count }),
        }
    })?;
    let mut stems = StemBuffers::new(window);
    {
        let mut dest: Vec<&mut [f32]> = stems.channels_mut().collect();
        resampler.to_host(&mut model_stems, 0, &mut dest)?;
    }
    drop(model_stems);
    let mut residual = None;
    if let Some((l, r)) = input {
        residual = Some(super::null::null_residual(&mut stems, [&l, &r], true));
    }
    for start in (0..frames).step_by(OFFLINE_BLOCK) {
        let end = (start + OFFLINE_BLOCK).min(frames);
        write(
            start,
            std::array::from_fn(|c| &stems.channel(c / 2, c % 2)[start..end]),
        )
        .map_err(OfflineError::Io)?;
    }
    let mut backend = backend.describe();
    if let Some(db) = residual {
        backend = format!("{backend}; stems null (residual {db:.1} dB assigned)");
    }
    Ok(OfflineReport {
        frames,
        backend,
        windows: 1,
        non_finite_input,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::backend::factory_of;
    use crate::engine::testing::RecordingBackend;
    use crate::engine::MODEL_RATE;

    /// `separate_whole` on `frames` frames of a ramp at `rate`: the window it prepared and the
    /// drums stem it wrote.
    fn whole(frames: usize, rate: u32) -> (Vec<usize>, Vec<f32>) {
        let backend = RecordingBackend::default();
        let log = backend.0.clone();
        let mut drums = vec![f32::NAN; frames];
        let report = separate_whole::<std::convert::Infallible>(
            rate,
            factory_of(move || backend.clone()),
            BackendSpec::default(),
            frames,
            |start, l, r| {
                for (i, (l, r)) in l.iter_mut().zip(r).enumerate() {
                    *l = (start + i + 1) as f32 * 1e-3;
                    *r = *l;
                }
                Ok(())
            },
            |start, stems| {
                drums[start..start + stems[0].len()].copy_from_slice(stems[0]);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(report.frames, frames);
        let prepared = log.lock().unwrap().prepared.clone();
        (prepared, drums)
    }

    #[test]
    fn a_track_shorter_than_a_second_runs_as_a_padded_one_second_window() {
        let second = (MIN_WHOLE_SECONDS * f64::from(MODEL_RATE)) as usize;
        for frames in [1usize, 7, 2_048] {
            let (prepared, drums) = whole(frames, MODEL_RATE);
            assert_eq!(prepared, [second], "{frames} frames");
            // The identity backend's quarter of the input, for the input's frames only.
            for (i, &d) in drums.iter().enumerate() {
                assert_eq!(
                    d,
                    0.25 * ((i + 1) as f32 * 1e-3),
                    "{frames} frames, frame {i}"
                );
            }
        }
        // Longer tracks are one window of their own length.
        assert_eq!(whole(second + 5, MODEL_RATE).0, [second + 5]);
        // At another rate the padded second is a model-rate second.
        let (prepared, drums) = whole(10, 48_000);
        assert_eq!(prepared, [second]);
        assert!(drums.iter().all(|d| d.is_finite()));
    }
}
