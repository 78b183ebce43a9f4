//! DSP foundation of the spectrogram models: the STFT/iSTFT with PyTorch semantics
//! ([`stft`]) and norbert's multichannel Wiener filter ([`wiener`]), as specified in
//! `models/README.md` ("Reference pipeline").
//!
//! [`finite`] keeps what crosses into and out of the models finite.
//!
//! Both work on [`SpecBuf`]s, laid out `[channel][frame][bin]` (bins innermost, contiguous),
//! pre-allocated for a maximum number of frames, so that nothing allocates after construction.

pub mod finite;
pub mod resample;
pub mod stft;
pub mod wiener;

pub use resample::even_fft_resampler;
pub use stft::{
    frame_count, istft_len, magnitude, ComplexSpec, MagSpec, SpecBuf, StftPlan, BINS, HOP, MIN_LEN,
    N_FFT,
};
pub use wiener::{mixture_max_abs, WienerFilter, SOURCES};
