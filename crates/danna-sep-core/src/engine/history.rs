//! `MixHistory`: the host-rate stereo input, written by the audio thread, read by the worker.
//!
//! A single-writer ring of `f32` samples stored as atomics (relaxed loads and stores compile to
//! plain moves) with seqlock-style validation: the writer announces which positions it is about
//! to overwrite before touching them, and a reader that copied a window checks afterwards that
//! no announcement reached its range. The writer never waits, the reader never blocks it.

use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use crate::dsp::finite::sanitize;

/// Stereo input history shared between the audio thread and the inference worker.
pub struct MixHistory {
    left: Box<[AtomicU32]>,
    right: Box<[AtomicU32]>,
    mask: u64,
    /// Absolute frames published (readable).
    written: AtomicU64,
    /// Absolute frames the writer may be overwriting (≥ `written`).
    reserved: AtomicU64,
    /// Incremented at every stream reset; stream positions restart at 0 with each epoch.
    epoch: AtomicU64,
    /// Absolute frame index of stream position 0 in the current epoch.
    origin: AtomicU64,
}

/// A consistent view of the current stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamView {
    /// Stream epoch (changes at every reset).
    pub epoch: u64,
    /// Frames written in this epoch.
    pub len: i64,
}

fn zeroed(n: usize) -> Box<[AtomicU32]> {
    (0..n).map(|_| AtomicU32::new(0)).collect()
}

impl MixHistory {
    /// A history holding at least `min_frames` frames.
    pub fn new(min_frames: usize) -> Self {
        let cap = min_frames.max(2).next_power_of_two();
        Self {
            left: zeroed(cap),
            right: zeroed(cap),
            mask: cap as u64 - 1,
            written: AtomicU64::new(0),
            reserved: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            origin: AtomicU64::new(0),
        }
    }

    /// Frames the ring holds.
    pub fn capacity(&self) -> usize {
        self.left.len()
    }

    /// Appends frames (audio thread only). `right` may equal `left` for mono. NaN, infinite
    /// and subnormal samples are stored as 0 (see [`crate::dsp::finite`]); returns how many
    /// were not finite.
    pub fn write(&self, left: &[f32], right: &[f32]) -> usize {
        debug_assert_eq!(left.len(), right.len());
        let start = self.written.load(Ordering::Relaxed);
        let end = start + left.len() as u64;
        self.reserved.store(end, Ordering::Relaxed);
        // Readers that observe any of the stores below also observe the reservation.
        fence(Ordering::Release);
        let mut non_finite = 0;
        for (i, (&l, &r)) in left.iter().zip(right).enumerate() {
            let slot = ((start + i as u64) & self.mask) as usize;
            let (l, bad_l) = sanitize(l);
            let (r, bad_r) = sanitize(r);
            non_finite += usize::from(bad_l) + usize::from(bad_r);
            self.left[slot].store(l.to_bits(), Ordering::Relaxed);
            self.right[slot].store(r.to_bits(), Ordering::Relaxed);
        }
        self.written.store(end, Ordering::Release);
        non_finite
    }

    /// Starts a new stream at the current write position (audio thread only, allocation free).
    pub fn reset_stream(&self) {
        self.origin
            .store(self.written.load(Ordering::Relaxed), Ordering::Relaxed);
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// The current epoch and how many frames it holds.
    pub fn view(&self) -> StreamView {
        loop {
            let epoch = self.epoch.load(Ordering::Acquire);
            let origin = self.origin.load(Ordering::Relaxed);
            let written = self.written.load(Ordering::Acquire);
            if self.epoch.load(Ordering::Acquire) == epoch {
                return StreamView {
                    epoch,
                    len: written.saturating_sub(origin) as i64,
                };
            }
        }
    }

    /// The frame at stream position `pos` (audio thread: reads its own writes). Positions before
    /// the stream start read as silence.
    pub fn frame(&self, pos: i64) -> (f32, f32) {
        if pos < 0 {
            return (0.0, 0.0);
        }
        let abs = self.origin.load(Ordering::Relaxed) + pos as u64;
        let slot = (abs & self.mask) as usize;
        (
            f32::from_bits(self.left[slot].load(Ordering::Relaxed)),
            f32::from_bits(self.right[slot].load(Ordering::Relaxed)),
        )
    }

    /// Copies stream positions `[start, start + left.len())` of epoch `epoch` (worker side).
    /// Positions before the stream start read as silence. Returns `false` when the range is not
    /// written yet, was overwritten, or the stream was reset meanwhile.
    pub fn read(&self, epoch: u64, start: i64, left: &mut [f32], right: &mut [f32]) -> bool {
        let n = left.len();
        if self.epoch.load(Ordering::Acquire) != epoch {
            return false;
        }
        let origin = self.origin.load(Ordering::Relaxed);
        let written = self.written.load(Ordering::Acquire);
        let end = origin as i64 + start + n as i64;
        if end > written as i64 {
            return false;
        }
        let zeros = (-start).clamp(0, n as i64) as usize;
        left[..zeros].fill(0.0);
        right[..zeros].fill(0.0);
        let first_abs = (origin as i64 + start + zeros as i64) as u64;
        for i in zeros..n {
            let slot = ((first_abs + (i - zeros) as u64) & self.mask) as usize;
            left[i] = f32::from_bits(self.left[slot].load(Ordering::Relaxed));
            right[i] = f32::from_bits(self.right[slot].load(Ordering::Relaxed));
        }
        fence(Ordering::Acquire);
        let reserved = self.reserved.load(Ordering::Relaxed);
        let not_overwritten = reserved <= first_abs + self.capacity() as u64;
        not_overwritten && self.epoch.load(Ordering::Acquire) == epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_was_written_with_silence_before_the_start() {
        let h = MixHistory::new(16);
        let l: Vec<f32> = (0..10).map(|i| i as f32).collect();
        let r: Vec<f32> = (0..10).map(|i| -(i as f32)).collect();
        h.write(&l, &r);
        let (mut a, mut b) = (vec![9.0; 6], vec![9.0; 6]);
        assert!(h.read(h.view().epoch, -2, &mut a, &mut b));
        assert_eq!(a, [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]);
        assert_eq!(b, [0.0, 0.0, 0.0, -1.0, -2.0, -3.0]);
        assert_eq!(h.frame(4), (4.0, -4.0));
        assert_eq!(h.frame(-1), (0.0, 0.0));
    }

    #[test]
    fn refuses_unwritten_overwritten_and_stale_ranges() {
        let h = MixHistory::new(8);
        let x: Vec<f32> = (0..12).map(|i| i as f32).collect();
        h.write(&x, &x);
        let e = h.view().epoch;
        let (mut a, mut b) = (vec![0.0; 4], vec![0.0; 4]);
        assert!(!h.read(e, 10, &mut a, &mut b), "not written yet");
        assert!(!h.read(e, 2, &mut a, &mut b), "overwritten");
        assert!(h.read(e, 8, &mut a, &mut b));
        assert_eq!(a, [8.0, 9.0, 10.0, 11.0]);
        h.reset_stream();
        assert!(!h.read(e, 8, &mut a, &mut b), "stale epoch");
        let v = h.view();
        assert_eq!(v.len, 0);
        h.write(&[5.0], &[6.0]);
        assert!(h.read(v.epoch, -3, &mut a, &mut b));
        assert_eq!(a, [0.0, 0.0, 0.0, 5.0]);
    }
}
