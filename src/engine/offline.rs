//! `OfflineSeparator`: a whole stream through the same engine, waiting for every window, with
//! the latency trimmed off. Used by the CLI; equal to the plugin's offline render shifted by
//! the reported latency. Memory stays bounded: audio is pulled and pushed in blocks.

use super::backend::STEM_COUNT;
use super::latency::LatencyBudget;
use super::status::BackendState;
use super::worker::BackendFactory;
use super::{build, EngineConfig};

/// Block size used for offline runs; the output does not depend on it.
pub const OFFLINE_BLOCK: usize = 4096;

/// Result summary of an offline run.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineReport {
    /// Frames delivered to the sink.
    pub frames: usize,
    /// The backend's status line at the end.
    pub backend: String,
    /// Windows the engine separated (including those that cover the latency's flush).
    pub windows: u64,
}

/// Runs `frames` input frames through the engine. `read(start, left, right)` fills the given
/// slices with input frames `[start, start + len)`; `write(start, stems)` receives output frames
/// `[start, start + len)` as eight slices in (stem, channel) order, aligned with the input.
/// Fails if the backend cannot be created or fails mid-way (then nothing would be separated),
/// and stops at the first error `read` or `write` returns, which it passes on.
pub fn separate_stream(
    budget: LatencyBudget,
    factory: BackendFactory,
    frames: usize,
    mut read: impl FnMut(usize, &mut [f32], &mut [f32]) -> Result<(), String>,
    mut write: impl FnMut(usize, [&[f32]; STEM_COUNT * 2]) -> Result<(), String>,
) -> Result<OfflineReport, String> {
    let budget = LatencyBudget {
        max_block: OFFLINE_BLOCK,
        ..budget
    };
    let latency = budget.total();
    let (mut engine, mut worker, shared) = build(
        EngineConfig {
            budget,
            offline: true,
        },
        factory,
    );
    let (mut l, mut r) = (vec![0.0f32; OFFLINE_BLOCK], vec![0.0f32; OFFLINE_BLOCK]);
    let total = frames + latency;
    let mut pos = 0;
    while pos < total {
        let n = OFFLINE_BLOCK.min(total - pos);
        let real = frames.saturating_sub(pos).min(n);
        if real > 0 {
            read(pos, &mut l[..real], &mut r[..real])?;
        }
        l[real..n].fill(0.0);
        r[real..n].fill(0.0);
        let block = engine.process(&l[..n], &r[..n]);
        if shared.status.state() == BackendState::Failed {
            return Err(shared.status.message());
        }
        // Output frame i of this block is input frame pos + i - latency.
        let skip = latency.saturating_sub(pos).min(n);
        if skip < n {
            let out_start = pos + skip - latency;
            let stems: [&[f32]; STEM_COUNT * 2] =
                std::array::from_fn(|c| &block.stem(c / 2, c % 2)[skip..n]);
            write(out_start, stems)?;
        }
        pos += n;
    }
    let backend = shared.status.message();
    worker.stop();
    let windows = shared
        .status
        .hops_done
        .load(std::sync::atomic::Ordering::Relaxed);
    Ok(OfflineReport {
        frames,
        backend,
        windows,
    })
}
