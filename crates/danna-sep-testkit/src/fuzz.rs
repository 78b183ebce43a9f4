//! Seeded host schedules for the fuzz tests, and the reference they are checked against.
//!
//! A [`Schedule`] is what one activation sees from a host: its configuration (rate, width,
//! maximum block, offline or real time) and a random sequence of [`Op`]s (blocks of 0 to the
//! maximum frames holding signal, silence or bursts of NaN, ±Inf and subnormals; parameter
//! changes; resets). Consecutive schedules of one test are consecutive activations, so changing
//! `offline` between them is a host's offline/real-time switch. [`Reference`] keeps the
//! sanitised input of the current stream (NaN, Inf and subnormals become 0, as the engine's
//! history stores them) so a test can check that the output is that input delayed by the
//! latency.

use crate::signals::Rng;

/// What one block's input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// Noise in [-0.5, 0.5].
    Signal,
    /// Zeros.
    Silence,
    /// Noise with a burst of NaN, ±Inf and subnormal samples in it.
    Burst,
    /// Subnormal samples only (a decaying reverb tail).
    Denormals,
}

/// One host call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// `process()` with this many frames.
    Block {
        /// Frames, 0 to the activation's maximum.
        frames: usize,
        /// What the input holds.
        content: Content,
        /// Seeds the block's samples.
        seed: u64,
    },
    /// Parameter `index` (of the test's own list) set to a normalised value in 0..=1.
    Param {
        /// Which parameter, below the `params` count given to [`Schedule::random`].
        index: usize,
        /// The new normalised value.
        normalized: f32,
    },
    /// `reset()`: a new stream.
    Reset,
}

/// One activation's configuration and its host calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Host sample rate.
    pub rate: u32,
    /// 1 or 2.
    pub channels: usize,
    /// The announced maximum block size.
    pub max_block: usize,
    /// Offline render (exact output) or real time.
    pub offline: bool,
    /// The calls, in order.
    pub ops: Vec<Op>,
}

/// What [`Schedule::random`] draws from.
#[derive(Debug, Clone)]
pub struct ScheduleSpace<'a> {
    /// Host rates to pick from.
    pub rates: &'a [u32],
    /// Maximum block sizes to pick from.
    pub max_blocks: &'a [usize],
    /// Number of parameters `Op::Param` indexes into (0: none).
    pub params: usize,
    /// Ops per schedule, at least 1.
    pub ops: std::ops::RangeInclusive<usize>,
}

impl Schedule {
    /// A random schedule drawn from `space`.
    pub fn random(rng: &mut Rng, space: &ScheduleSpace<'_>) -> Self {
        let max_block = space.max_blocks[rng.below(space.max_blocks.len())];
        let (lo, hi) = (*space.ops.start(), *space.ops.end());
        let count = lo + rng.below(hi - lo + 1);
        let ops = (0..count)
            .map(|_| {
                let r = rng.unit();
                if r < 0.04 {
                    Op::Reset
                } else if r < 0.2 && space.params > 0 {
                    let index = rng.below(space.params);
                    // Ends of the range are where the special cases live (mute, -inf dB).
                    let normalized = match rng.below(4) {
                        0 => 0.0,
                        1 => 1.0,
                        _ => rng.unit() as f32,
                    };
                    Op::Param { index, normalized }
                } else {
                    Op::Block {
                        frames: block_size(rng, max_block),
                        content: match rng.below(20) {
                            0 => Content::Silence,
                            1 | 2 => Content::Burst,
                            3 => Content::Denormals,
                            _ => Content::Signal,
                        },
                        seed: rng.next_u64(),
                    }
                }
            })
            .collect();
        Self {
            rate: space.rates[rng.below(space.rates.len())],
            channels: 1 + rng.below(2),
            max_block,
            offline: rng.below(2) == 0,
            ops,
        }
    }

    /// Frames of input the schedule's blocks hold in all.
    pub fn frames(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Block { frames, .. } => *frames,
                _ => 0,
            })
            .sum()
    }
}

/// 0, 1 and the maximum often; anything in between otherwise.
fn block_size(rng: &mut Rng, max: usize) -> usize {
    match rng.below(10) {
        0 => 0,
        1 => 1.min(max),
        2 | 3 => max,
        _ => rng.below(max + 1),
    }
}

/// Fills `channels[..][..frames]` with a block's input.
pub fn fill_block(channels: &mut [Vec<f32>], frames: usize, content: Content, seed: u64) {
    let mut rng = Rng::new(seed);
    for ch in channels.iter_mut() {
        for x in &mut ch[..frames] {
            *x = match content {
                Content::Silence => 0.0,
                Content::Denormals => f32::MIN_POSITIVE * rng.range(-0.99, 0.99) as f32,
                Content::Signal | Content::Burst => rng.range(-0.5, 0.5) as f32,
            };
        }
        if content == Content::Burst && frames > 0 {
            let at = rng.below(frames);
            let len = (1 + rng.below(64)).min(frames - at);
            const BAD: [f32; 4] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-41];
            for x in &mut ch[at..at + len] {
                *x = BAD[rng.below(BAD.len())];
            }
        }
    }
}

/// The sanitised input of the current stream, per channel, and the latency it must come out
/// with.
#[derive(Debug, Clone)]
pub struct Reference {
    latency: usize,
    input: Vec<Vec<f32>>,
}

impl Reference {
    /// An empty stream with `channels` channels.
    pub fn new(channels: usize, latency: usize) -> Self {
        Self {
            latency,
            input: vec![Vec::new(); channels],
        }
    }

    /// A new stream (after `reset()`).
    pub fn reset(&mut self) {
        self.input.iter_mut().for_each(Vec::clear);
    }

    /// Frames written in this stream.
    pub fn position(&self) -> usize {
        self.input[0].len()
    }

    /// Appends one block's input as the engine's history stores it.
    pub fn push(&mut self, block: &[Vec<f32>], frames: usize) {
        for (dst, src) in self.input.iter_mut().zip(block) {
            dst.extend(
                src[..frames]
                    .iter()
                    .map(|&x| if x.is_normal() { x } else { 0.0 }),
            );
        }
    }

    /// What output frame `pos` of the stream must be on channel `ch` at unity gain: the input
    /// `latency` frames earlier, or silence before it.
    pub fn expected(&self, ch: usize, pos: usize) -> f32 {
        pos.checked_sub(self.latency)
            .map_or(0.0, |t| self.input[ch][t])
    }
}
