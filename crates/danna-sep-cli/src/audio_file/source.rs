//! `AudioSource`: a decoded audio file handed out frame by frame (WAV, FLAC, MP3, Ogg Vorbis
//! through symphonia), holding one decoded packet at a time.

use super::AudioFileError;
use std::fs::File;
use std::path::Path;

use symphonia::core::codecs::audio::well_known::{CODEC_ID_MP1, CODEC_ID_MP2, CODEC_ID_MP3};
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// What the formats we decode are, for error messages.
const SUPPORTED: &str = "WAV, AIFF, FLAC, MP3 or Ogg Vorbis";

/// The shape of a decoded audio file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioInfo {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channels in the file; [`AudioSource::read`] hands out the first two (mono duplicated).
    pub channels: usize,
    /// Playable frames (encoder delay and padding removed).
    pub frames: usize,
}

/// A decoded audio file, read front to back in frames.
///
/// Only the current packet is held in memory. The frame count is known up front (the engine
/// needs it): from the container when it states it reliably, otherwise from a counting pass
/// that decodes the file once and throws the audio away.
pub struct AudioSource {
    decoder: Decoder,
    info: AudioInfo,
    /// The current packet, interleaved with `info.channels` channels.
    packet: Vec<f32>,
    /// Next frame of `packet` to hand out.
    packet_pos: usize,
    /// Frames handed out so far.
    delivered: usize,
}

impl AudioSource {
    /// Opens `path`, probing its format from the content (the extension is only a hint). The
    /// error is one line without the path.
    pub fn open(path: &Path) -> Result<Self, AudioFileError> {
        let mut decoder = Decoder::open(path)?;
        let mut packet = Vec::new();
        // Streams that state their shape only in the audio itself: decode the first packet now
        // (it stays queued for `read`).
        if decoder.rate.is_none() || decoder.channels.is_none() {
            decoder.next(&mut packet)?;
        }
        let frames = match decoder.frames {
            Some(n) => n,
            None => Decoder::open(path)?.count()?,
        };
        let info = AudioInfo {
            sample_rate: decoder.rate.unwrap_or(0),
            channels: decoder.channels.unwrap_or(0),
            frames: usize::try_from(frames).map_err(|_| "too long for this machine")?,
        };
        if info.sample_rate == 0 || info.channels == 0 {
            // Only reachable when the stream holds no audio at all.
            return Err("contains no audio".into());
        }
        Ok(Self {
            decoder,
            info,
            packet,
            packet_pos: 0,
            delivered: 0,
        })
    }

    /// The file's sample rate, channel count and length.
    pub fn info(&self) -> AudioInfo {
        self.info
    }

    /// Fills `left` and `right` (equal lengths) with the next frames: the first two channels,
    /// a mono file on both. Asking for more than [`AudioInfo::frames`] in total, or a stream
    /// that ends early or is corrupt, is an error: a silently shorter input would shift
    /// everything after the gap.
    pub fn read(&mut self, left: &mut [f32], right: &mut [f32]) -> Result<(), AudioFileError> {
        debug_assert_eq!(left.len(), right.len());
        let ch = self.info.channels;
        let mut done = 0;
        while done < left.len() {
            let available = self.packet.len() / ch - self.packet_pos;
            if available == 0 {
                if self.delivered + done >= self.info.frames {
                    return Err(format!("read past the end ({} frames)", self.info.frames).into());
                }
                if self.decoder.next(&mut self.packet)?.is_none() {
                    return Err(format!(
                        "the audio ends after {} of the {} frames it announces (truncated or \
                         corrupt file)",
                        self.delivered + done,
                        self.info.frames
                    )
                    .into());
                }
                self.packet_pos = 0;
                continue;
            }
            let n = available.min(left.len() - done);
            let frames = self.packet[self.packet_pos * ch..(self.packet_pos + n) * ch].chunks(ch);
            let second = if ch == 1 { 0 } else { 1 };
            for ((l, r), f) in left[done..done + n]
                .iter_mut()
                .zip(&mut right[done..done + n])
                .zip(frames)
            {
                *l = f[0];
                *r = f[second];
            }
            self.packet_pos += n;
            done += n;
        }
        self.delivered += done;
        Ok(())
    }
}

/// One pass over a file: the demuxer, the decoder of its audio track and what is known so far.
struct Decoder {
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    rate: Option<u32>,
    channels: Option<usize>,
    /// The playable length, when the container states it reliably.
    frames: Option<u64>,
    /// Frames decoded so far, for positions in error messages.
    decoded: u64,
}

impl Decoder {
    fn open(path: &Path) -> Result<Self, AudioFileError> {
        let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let stream = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(&ext.to_ascii_lowercase());
        }
        let format = symphonia::default::get_probe()
            .probe(
                &hint,
                stream,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .map_err(|e| match e {
                // No known format marker in the first megabyte (the probe's own error).
                SymphoniaError::Unsupported(what) if what.starts_with("core") => {
                    format!("not a supported audio file ({SUPPORTED})")
                }
                // A known container holding something we cannot decode (e.g. GSM in WAV).
                SymphoniaError::Unsupported(what) => format!("unsupported audio encoding ({what})"),
                // A known format whose headers are broken.
                e => format!("not a readable audio file: {}", describe(&e)),
            })?;
        let track = format
            .default_track(TrackType::Audio)
            .ok_or("contains no audio track")?;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .ok_or("contains no decodable audio track")?;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
            .map_err(|e| match e {
                SymphoniaError::Unsupported(_) => {
                    format!("unsupported audio codec (supported: {SUPPORTED})")
                }
                e => describe(&e),
            })?;
        let mpeg = [CODEC_ID_MP1, CODEC_ID_MP2, CODEC_ID_MP3].contains(&params.codec);
        // An MPEG audio file without a LAME/Info tag gets a length estimated from its bit rate
        // (its delay is only known with the tag): count instead of trusting the estimate.
        let frames = track.num_frames.filter(|_| !mpeg || track.delay.is_some());
        Ok(Self {
            track_id: track.id,
            rate: params.sample_rate.filter(|&r| r > 0),
            channels: params
                .channels
                .as_ref()
                .map(|c| c.count())
                .filter(|&c| c > 0),
            frames,
            decoder,
            format,
            decoded: 0,
        })
    }

    /// Decodes the next packet of the track into `out` (interleaved), replacing its content.
    /// `Ok(None)` at the end of the stream; packets that decode to nothing are skipped.
    fn next(&mut self, out: &mut Vec<f32>) -> Result<Option<usize>, AudioFileError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(None),
                Err(e) => return Err(self.at_position(&e).into()),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let buf = match self.decoder.decode(&packet) {
                Ok(buf) => buf,
                Err(e) => return Err(self.at_position(&e).into()),
            };
            let frames = buf.frames();
            if frames == 0 {
                continue;
            }
            let (rate, channels) = (buf.spec().rate(), buf.spec().channels().count());
            if *self.rate.get_or_insert(rate) != rate
                || *self.channels.get_or_insert(channels) != channels
            {
                return Err(format!(
                    "the stream changes from {} Hz, {} channels to {rate} Hz, {channels} \
                     channels part-way (not supported)",
                    self.rate.unwrap_or(0),
                    self.channels.unwrap_or(0)
                )
                .into());
            }
            buf.copy_to_vec_interleaved(out);
            self.decoded += frames as u64;
            return Ok(Some(frames));
        }
    }

    /// Decodes the rest of the stream and returns its length in frames.
    fn count(mut self) -> Result<u64, AudioFileError> {
        let mut scratch = Vec::new();
        while self.next(&mut scratch)?.is_some() {}
        Ok(self.decoded)
    }

    fn at_position(&self, e: &SymphoniaError) -> String {
        match self.rate {
            Some(rate) => format!(
                "{} at {:.2} s",
                describe(e),
                self.decoded as f64 / f64::from(rate)
            ),
            None => describe(e),
        }
    }
}

/// One line for a symphonia error while reading the stream.
fn describe(e: &SymphoniaError) -> String {
    match e {
        SymphoniaError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file ends part-way through the audio (truncated?)".into()
        }
        SymphoniaError::IoError(e) => format!("read error: {e}"),
        SymphoniaError::DecodeError(what) => format!("corrupt audio data: {what}"),
        SymphoniaError::Unsupported(what) => format!("unsupported feature: {what}"),
        SymphoniaError::ResetRequired => {
            "the stream changes format part-way (chained streams are not supported)".into()
        }
        e => e.to_string(),
    }
}
