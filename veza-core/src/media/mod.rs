//! Audio as the platform sees it: which formats it accepts (decided from the bytes, never
//! from a client's file name or content type) and what processing learns about a file
//! (duration, sample rate, channels, codec, bitrate, waveform peaks). Decoding itself is a
//! port, `AudioAnalyzer`, implemented by an adapter.

mod spool;

pub use spool::MediaSpool;

use std::io::{Read, Seek};

/// The audio containers Veza accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioFormat {
    Mp3,
    Flac,
    Wav,
    /// Ogg Vorbis or Ogg Opus.
    Ogg,
    /// Raw AAC in ADTS frames.
    Aac,
    /// AAC (or ALAC) in an MPEG-4 container.
    M4a,
}

impl AudioFormat {
    pub fn extension(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Flac => "flac",
            AudioFormat::Wav => "wav",
            AudioFormat::Ogg => "ogg",
            AudioFormat::Aac => "aac",
            AudioFormat::M4a => "m4a",
        }
    }

    /// The format whose `extension()` is `ext`.
    pub fn from_extension(ext: &str) -> Option<Self> {
        [Self::Mp3, Self::Flac, Self::Wav, Self::Ogg, Self::Aac, Self::M4a]
            .into_iter()
            .find(|f| f.extension() == ext)
    }

    pub fn mime_type(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "audio/mpeg",
            AudioFormat::Flac => "audio/flac",
            AudioFormat::Wav => "audio/wav",
            AudioFormat::Ogg => "audio/ogg",
            AudioFormat::Aac => "audio/aac",
            AudioFormat::M4a => "audio/mp4",
        }
    }
}

/// How many leading bytes `detect_audio_format` needs to decide.
pub const SNIFF_LEN: usize = 12;

/// The format announced by a file's first bytes, or `None` for anything else (a PDF renamed
/// `.mp3` included).
pub fn detect_audio_format(head: &[u8]) -> Option<AudioFormat> {
    let at = |range: std::ops::Range<usize>| head.get(range);
    if head.starts_with(b"fLaC") {
        return Some(AudioFormat::Flac);
    }
    if head.starts_with(b"OggS") {
        return Some(AudioFormat::Ogg);
    }
    if head.starts_with(b"RIFF") && at(8..12) == Some(b"WAVE") {
        return Some(AudioFormat::Wav);
    }
    if at(4..8) == Some(b"ftyp") {
        return Some(AudioFormat::M4a);
    }
    if head.starts_with(b"ID3") {
        return Some(AudioFormat::Mp3);
    }
    match head {
        // ADTS: 12-bit sync, layer 00.
        [0xFF, b1, ..] if b1 & 0xF6 == 0xF0 => Some(AudioFormat::Aac),
        // MPEG audio frame: 11-bit sync, a defined version and layer, a usable bitrate.
        [0xFF, b1, b2, ..]
            if b1 & 0xE0 == 0xE0
                && (b1 >> 3) & 0b11 != 0b01
                && (b1 >> 1) & 0b11 != 0b00
                && b2 >> 4 != 0b1111 =>
        {
            Some(AudioFormat::Mp3)
        }
        _ => None,
    }
}

/// What processing learns from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioAnalysis {
    /// Short codec name (`mp3`, `flac`, `vorbis`, `pcm_s16le`, `aac`, …).
    pub codec: String,
    pub duration_ms: u64,
    pub sample_rate: u32,
    pub channels: u16,
    /// Average bits per second over the whole file.
    pub bitrate: Option<u32>,
    /// Peak absolute amplitude (0.0–1.0) of each run of `samples_per_peak` frames.
    pub peaks: Vec<f32>,
    pub samples_per_peak: u64,
}

/// Why a file could not be analysed, in words a musician can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    #[error("the audio is damaged: {0}")]
    Corrupt(String),
}

/// A seekable byte source the analyzer reads (a file, a blob download, a buffer).
pub trait MediaSource: Read + Seek + Send + Sync {}

impl<T: Read + Seek + Send + Sync> MediaSource for T {}

/// Decodes audio. CPU-bound and blocking: call it on a blocking thread.
pub trait AudioAnalyzer: Send + Sync {
    /// # Errors
    /// `Unsupported` when no decoder fits; `Corrupt` when the stream breaks off or is
    /// malformed. Never panics on hostile input.
    fn analyze(
        &self,
        source: Box<dyn MediaSource>,
        size_bytes: u64,
        format: AudioFormat,
    ) -> Result<AudioAnalysis, AnalysisError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognised_by_their_bytes() {
        let cases: [(&[u8], Option<AudioFormat>); 11] = [
            (b"fLaC\0\0\0\x22", Some(AudioFormat::Flac)),
            (b"OggS\0\x02\0\0", Some(AudioFormat::Ogg)),
            (b"RIFF\x24\0\0\0WAVE", Some(AudioFormat::Wav)),
            (b"RIFF\x24\0\0\0AVI ", None),
            (b"\0\0\0\x20ftypM4A ", Some(AudioFormat::M4a)),
            (b"ID3\x04\0\0\0\0", Some(AudioFormat::Mp3)),
            (&[0xFF, 0xFB, 0x90, 0x64], Some(AudioFormat::Mp3)),
            (&[0xFF, 0xF1, 0x50, 0x80], Some(AudioFormat::Aac)),
            (&[0xFF, 0xFB, 0xF0, 0x64], None),
            (b"%PDF-1.7\n%\xe2\xe3", None),
            (b"<!DOCTYPE html>", None),
        ];
        for (head, expected) in cases {
            assert_eq!(detect_audio_format(head), expected, "{head:?}");
        }
        assert_eq!(detect_audio_format(b""), None);
        assert_eq!(detect_audio_format(&[0xFF]), None);
    }
}
