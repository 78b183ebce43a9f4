//! Keeping numbers finite and normal: what the engine does to samples that cross into or out
//! of the models, and the flush-to-zero mode of the inference threads.
//!
//! One NaN in a window makes every sample the models compute from it NaN (an STFT frame, a
//! convolution, an LSTM state spread it), so the engine replaces non-finite input before it
//! enters the history and rejects windows whose stems are not finite. Subnormal floats are not
//! wrong but can make x86 arithmetic many times slower (they decay out of reverb tails and
//! filter states), so the inference threads treat them as zero.

/// `x`, or 0 where it is NaN, infinite or subnormal; `true` in the second place when `x` was
/// not finite (subnormals are not counted: they are valid, only slow).
#[inline]
pub fn sanitize(x: f32) -> (f32, bool) {
    if x.is_normal() || x == 0.0 {
        (x, false)
    } else {
        (0.0, !x.is_finite())
    }
}

/// Number of samples in `x` that are NaN or infinite.
pub fn count_non_finite(x: &[f32]) -> usize {
    x.iter().filter(|v| !v.is_finite()).count()
}

/// Sets flush-to-zero and denormals-are-zero for the calling thread (x86-64: MXCSR bits 15 and
/// 6; AArch64: FPCR.FZ), so subnormal inputs and results count as zero. Called first on every
/// inference thread (worker, loader, waveform); ONNX Runtime's own pool gets the same through
/// its session option. Elsewhere a no-op.
pub fn flush_denormals_on_this_thread() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads and writes the calling thread's SSE control register only; FTZ and DAZ
    // change how subnormals round, nothing Rust's memory model depends on.
    unsafe {
        let mut csr: u32 = 0;
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
        csr |= (1 << 15) | (1 << 6);
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above, the calling thread's floating-point control register (FZ is bit 24).
    unsafe {
        let mut fpcr: u64;
        std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack));
        fpcr |= 1 << 24;
        std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack));
    }
}

/// Flush-to-zero and denormals-are-zero on the calling thread until dropped, then the
/// thread's previous mode again: for the host's audio thread, whose mode belongs to the host.
/// Only register moves (no syscall), so it may be used in `process()`.
pub struct ScopedFlushToZero {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

impl ScopedFlushToZero {
    /// Sets the flags, remembering the previous ones.
    #[inline]
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let mut saved: u32 = 0;
            // SAFETY: as in `flush_denormals_on_this_thread`.
            unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut saved, options(nostack)) };
            flush_denormals_on_this_thread();
            Self { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Self {}
    }
}

impl Default for ScopedFlushToZero {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ScopedFlushToZero {
    #[inline]
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: restores the value read in `new` on the same thread.
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &self.saved, options(nostack))
        };
    }
}

/// Whether subnormal arithmetic flushes to zero on the calling thread (for tests).
pub fn denormals_flush_on_this_thread() -> bool {
    let tiny = std::hint::black_box(f32::MIN_POSITIVE);
    std::hint::black_box(tiny * std::hint::black_box(0.5)) == 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_normal_numbers_and_zeroes_the_rest() {
        assert_eq!(sanitize(0.5), (0.5, false));
        assert_eq!(sanitize(-0.0), (-0.0, false));
        assert_eq!(sanitize(f32::NAN), (0.0, true));
        assert_eq!(sanitize(f32::INFINITY), (0.0, true));
        assert_eq!(sanitize(f32::NEG_INFINITY), (0.0, true));
        assert_eq!(sanitize(f32::MIN_POSITIVE / 4.0), (0.0, false));
        assert_eq!(count_non_finite(&[1.0, f32::NAN, f32::INFINITY, 1e-40]), 2);
    }

    #[test]
    fn flush_to_zero_applies_to_the_calling_thread_only() {
        let flushed = std::thread::spawn(|| {
            let before = denormals_flush_on_this_thread();
            flush_denormals_on_this_thread();
            (before, denormals_flush_on_this_thread())
        })
        .join()
        .unwrap();
        if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
            assert_eq!(flushed, (false, true));
        }
        assert!(
            !denormals_flush_on_this_thread(),
            "the test thread is untouched"
        );
    }
}
