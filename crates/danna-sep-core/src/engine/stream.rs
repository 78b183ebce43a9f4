//! `StreamingEngine`: the audio-thread side. Writes the input into the history, collects the
//! worker's segments and joins them with complementary crossfades into a latency-aligned stream.
//!
//! Nothing here allocates, locks, logs or makes syscalls in real-time mode; in offline mode
//! (host bounce) `process` waits for every segment, so the output is exact.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rtrb::{Consumer, Producer};

use super::latency::LatencyBudget;
use super::status::BackendState;
use super::worker::Segment;
use super::{EngineShared, FIRST_SEGMENT};
use crate::selection::BackendSpec;
use crate::stems::STEM_COUNT;

/// The engine's output for one block: the four stems, the latency-aligned dry input and how
/// much of the dry input stands in for stems that were not ready (0..1 per frame).
#[derive(Debug, Clone)]
pub struct EngineBlock {
    frames: usize,
    stems: Vec<Vec<f32>>,
    dry: [Vec<f32>; 2],
    dry_weight: Vec<f32>,
}

impl EngineBlock {
    fn new(capacity: usize) -> Self {
        Self {
            frames: 0,
            stems: vec![vec![0.0; capacity]; STEM_COUNT * 2],
            dry: [vec![0.0; capacity], vec![0.0; capacity]],
            dry_weight: vec![0.0; capacity],
        }
    }

    /// Frames in this block.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// One channel (0 left, 1 right) of one stem.
    pub fn stem(&self, stem: usize, ch: usize) -> &[f32] {
        &self.stems[stem * 2 + ch][..self.frames]
    }

    /// The input delayed by the reported latency.
    pub fn dry(&self, ch: usize) -> &[f32] {
        &self.dry[ch][..self.frames]
    }

    /// Per frame, the weight with which the dry input replaces missing stems.
    pub fn dry_weight(&self) -> &[f32] {
        &self.dry_weight[..self.frames]
    }
}

/// A segment the output is currently reading from; `seg == None` means it was missed and the
/// dry signal stands in for it.
struct SegmentSlot {
    index: i64,
    seg: Option<Box<Segment>>,
}

/// The audio-thread half of the engine.
pub struct StreamingEngine {
    shared: Arc<EngineShared>,
    budget: LatencyBudget,
    latency: i64,
    hop: i64,
    /// `fade_in[i]`, the incoming segment's weight at crossfade position `i`; the outgoing
    /// segment gets exactly `1 - fade_in[i]`.
    fade_in: Box<[f32]>,
    free: Producer<Box<Segment>>,
    done: Consumer<Box<Segment>>,
    pending: Option<Box<Segment>>,
    prev: SegmentSlot,
    cur: SegmentSlot,
    /// Frames written in this stream.
    pos: i64,
    epoch: u64,
    wait: bool,
    /// The spec last requested from the worker.
    requested: BackendSpec,
    block: EngineBlock,
}

impl StreamingEngine {
    pub(crate) fn new(
        shared: Arc<EngineShared>,
        budget: LatencyBudget,
        free: Producer<Box<Segment>>,
        done: Consumer<Box<Segment>>,
        wait_for_results: bool,
        spec: BackendSpec,
    ) -> Self {
        let f = budget.geometry.crossfade;
        // sin² fade: smooth at both ends, and the two weights sum to exactly one.
        let fade_in = (0..f)
            .map(|i| {
                let x = (i as f64 + 0.5) / f as f64 * std::f64::consts::FRAC_PI_2;
                (x.sin() * x.sin()) as f32
            })
            .collect();
        let epoch = shared.history.view().epoch;
        Self {
            latency: budget.total() as i64,
            hop: budget.geometry.hop as i64,
            block: EngineBlock::new(budget.max_block),
            shared,
            budget,
            fade_in,
            free,
            done,
            pending: None,
            prev: SegmentSlot {
                index: FIRST_SEGMENT - 2,
                seg: None,
            },
            cur: SegmentSlot {
                index: FIRST_SEGMENT - 1,
                seg: None,
            },
            pos: 0,
            epoch,
            wait: wait_for_results,
            requested: spec,
        }
    }

    /// Asks the worker to run `spec` (a staged swap; see [`super::worker`]). Allocation and
    /// lock free: a compare and, when it changed, one atomic store.
    pub fn request_backend(&mut self, spec: BackendSpec) {
        if spec != self.requested {
            self.requested = spec;
            self.shared.request(spec, self.pos);
        }
    }

    /// Switches between offline rendering (wait for every window, exact) and real time (never
    /// wait, dry where a window is late) without a re-activation: a host that says "offline"
    /// only in its blocks (Ardour's export) switches on its processing thread. A switch
    /// starts a new stream ([`Self::reset`]), as a re-activation would; the latency stays.
    /// Allocation and lock free; nothing happens when the mode is already `offline`.
    pub fn set_offline(&mut self, offline: bool) {
        if offline != self.wait {
            self.wait = offline;
            self.shared.offline.store(offline, Ordering::Release);
            self.reset();
        }
    }

    /// Whether this engine renders offline (see [`Self::set_offline`]).
    pub fn is_offline(&self) -> bool {
        self.wait
    }

    /// The latency budget this engine was built with.
    pub fn budget(&self) -> &LatencyBudget {
        &self.budget
    }

    /// Reported latency in samples.
    pub fn latency(&self) -> usize {
        self.latency as usize
    }

    /// Starts a new stream: forgets buffered audio and in-flight results (allocation free).
    pub fn reset(&mut self) {
        for seg in [
            self.prev.seg.take(),
            self.cur.seg.take(),
            self.pending.take(),
        ]
        .into_iter()
        .flatten()
        {
            self.recycle(seg);
        }
        while let Ok(seg) = self.done.pop() {
            self.recycle(seg);
        }
        self.prev.index = FIRST_SEGMENT - 2;
        self.cur.index = FIRST_SEGMENT - 1;
        self.pos = 0;
        self.shared.wanted.store(FIRST_SEGMENT, Ordering::Relaxed);
        self.shared.history.reset_stream();
        self.epoch = self.shared.history.view().epoch;
        // Positions restart: a pending request applies from the new stream's start.
        self.shared.request(self.requested, 0);
    }

    /// Processes one block of at most `budget().max_block` frames; `right == left` for mono.
    pub fn process(&mut self, left: &[f32], right: &[f32]) -> &EngineBlock {
        let n = left.len();
        assert!(
            n <= self.block.dry_weight.len(),
            "block larger than the announced maximum"
        );
        let non_finite = self.shared.history.write(left, right);
        if non_finite > 0 {
            self.shared
                .status
                .non_finite_input
                .fetch_add(non_finite as u64, Ordering::Relaxed);
        }
        let start = self.pos;
        self.pos += n as i64;
        self.block.frames = n;
        let mut i = 0;
        while i < n {
            let t = start + i as i64 - self.latency;
            if t < 0 {
                let run = ((-t) as usize).min(n - i);
                self.silence(i, run);
                i += run;
                continue;
            }
            let k = t.div_euclid(self.hop);
            while self.cur.index < k {
                self.advance();
            }
            let o = (t - k * self.hop) as usize;
            let f = self.fade_in.len();
            let run = if o < f { f - o } else { self.hop as usize - o }.min(n - i);
            self.render(i, o, run);
            i += run;
        }
        let [dry_l, dry_r] = &mut self.block.dry;
        for (j, (dl, dr)) in dry_l[..n].iter_mut().zip(&mut dry_r[..n]).enumerate() {
            (*dl, *dr) = self.shared.history.frame(start + j as i64 - self.latency);
        }
        &self.block
    }

    fn silence(&mut self, at: usize, run: usize) {
        for s in &mut self.block.stems {
            s[at..at + run].fill(0.0);
        }
        self.block.dry_weight[at..at + run].fill(1.0);
    }

    /// Renders `run` frames starting at block frame `at`, segment offset `o`, all in one region
    /// (crossfade or plain).
    fn render(&mut self, at: usize, o: usize, run: usize) {
        let hop = self.hop as usize;
        let weight = &mut self.block.dry_weight[at..at + run];
        if o < self.fade_in.len() {
            let fade = &self.fade_in[o..o + run];
            for (w, &a) in weight.iter_mut().zip(fade) {
                let mut dw = 0.0;
                if self.cur.seg.is_none() {
                    dw += a;
                }
                if self.prev.seg.is_none() {
                    dw += 1.0 - a;
                }
                *w = dw;
            }
            for (c, out) in self.block.stems.iter_mut().enumerate() {
                let out = &mut out[at..at + run];
                let (stem, ch) = (c / 2, c % 2);
                let cur = self
                    .cur
                    .seg
                    .as_ref()
                    .map(|s| &s.stems.channel(stem, ch)[o..o + run]);
                let prev = self
                    .prev
                    .seg
                    .as_ref()
                    .map(|s| &s.stems.channel(stem, ch)[o + hop..o + hop + run]);
                for (j, y) in out.iter_mut().enumerate() {
                    let a = fade[j];
                    *y = cur.map_or(0.0, |x| a * x[j]) + prev.map_or(0.0, |x| (1.0 - a) * x[j]);
                }
            }
        } else {
            weight.fill(if self.cur.seg.is_none() { 1.0 } else { 0.0 });
            for (c, out) in self.block.stems.iter_mut().enumerate() {
                let out = &mut out[at..at + run];
                match self.cur.seg.as_ref() {
                    Some(s) => out.copy_from_slice(&s.stems.channel(c / 2, c % 2)[o..o + run]),
                    None => out.fill(0.0),
                }
            }
        }
    }

    /// Moves on to the next segment: the current one becomes the previous (its tail is the
    /// fade-out), the next one is fetched or, if it is late, replaced by the dry signal.
    fn advance(&mut self) {
        let k = self.cur.index + 1;
        if let Some(old) = self.prev.seg.take() {
            self.recycle(old);
        }
        self.prev = SegmentSlot {
            index: self.cur.index,
            seg: self.cur.seg.take(),
        };
        let fetched = self.fetch(k);
        // A failed window was counted by the worker; the dry input stands in for it.
        let failed = fetched.as_ref().is_some_and(|s| s.failed);
        let seg = match fetched {
            Some(seg) if failed => {
                self.recycle(seg);
                None
            }
            seg => seg,
        };
        if seg.is_none() && !failed && self.shared.status.state() == BackendState::Ready {
            self.shared
                .status
                .missed_hops
                .fetch_add(1, Ordering::Relaxed);
        }
        self.cur = SegmentSlot { index: k, seg };
        // Whatever happened to `k`, the worker should now work on later windows.
        self.shared.wanted.store(k + 1, Ordering::Release);
    }

    fn fetch(&mut self, k: i64) -> Option<Box<Segment>> {
        self.shared.wanted.store(k, Ordering::Release);
        loop {
            let next = match self.pending.take() {
                Some(seg) => Some(seg),
                None => self.done.pop().ok(),
            };
            match next {
                Some(seg) if seg.epoch != self.epoch || seg.index < k => self.recycle(seg),
                Some(seg) if seg.index == k => return Some(seg),
                Some(seg) => {
                    // A later segment: keep it for when it is due.
                    self.pending = Some(seg);
                    return None;
                }
                None => {
                    if !(self.wait && self.shared.will_deliver(self.requested)) {
                        return None;
                    }
                    // Offline render only: the host allows blocking, and exactness needs it.
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
    }

    fn recycle(&mut self, seg: Box<Segment>) {
        // The free ring holds every segment, so this cannot fail; if it did, dropping here would
        // deallocate on the audio thread, so keep it as pending instead.
        if let Err(rtrb::PushError::Full(seg)) = self.free.push(seg) {
            self.pending = Some(seg);
        }
    }
}
