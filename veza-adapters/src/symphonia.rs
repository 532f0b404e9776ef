//! Audio analysis with Symphonia (pure Rust): probes the container, decodes every packet of
//! the default audio track, and measures duration, channels, sample rate, bitrate and
//! waveform peaks in one pass. A file whose stream stops short of the frame count its header
//! announces is reported as truncated. Symphonia demuxes Ogg Opus but has no Opus decoder:
//! those packets go to `opus-decoder` (pure Rust, RFC 8251 conformant) at 48 kHz.

use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSource as SymphoniaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::packet::Packet;
use veza_core::media::{AnalysisError, AudioAnalysis, AudioAnalyzer, AudioFormat, MediaSource};

/// About this many peaks per track, whatever its length.
const TARGET_PEAKS: u64 = 1000;
/// Decode errors tolerated (a few bad frames play as a click) before the file is refused.
const MAX_DECODE_ERRORS: u32 = 16;
/// Decoding less than this share of the frames the header announces means the file was cut.
const MIN_DECODED_SHARE: f64 = 0.98;

#[derive(Debug, Default, Clone, Copy)]
pub struct SymphoniaAnalyzer;

struct Source {
    inner: Box<dyn MediaSource>,
    len: u64,
}

impl std::io::Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf)
    }
}

impl std::io::Seek for Source {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

impl SymphoniaSource for Source {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some(self.len)
    }
}

/// Running maximum of |sample| per run of `per_peak` frames; halves its resolution whenever
/// it holds twice the target, so memory stays bounded for tracks of unknown length.
struct Peaks {
    per_peak: u64,
    peaks: Vec<f32>,
    current: f32,
    in_current: u64,
}

impl Peaks {
    fn new(per_peak: u64) -> Self {
        Self { per_peak: per_peak.max(1), peaks: Vec::new(), current: 0.0, in_current: 0 }
    }

    fn push_frame(&mut self, amplitude: f32) {
        self.current = self.current.max(amplitude);
        self.in_current += 1;
        if self.in_current == self.per_peak {
            self.peaks.push(self.current);
            (self.current, self.in_current) = (0.0, 0);
            if self.peaks.len() as u64 >= 2 * TARGET_PEAKS {
                self.peaks =
                    self.peaks.chunks(2).map(|p| p.iter().copied().fold(0.0, f32::max)).collect();
                self.per_peak *= 2;
            }
        }
    }

    fn finish(mut self) -> (Vec<f32>, u64) {
        if self.in_current > 0 {
            self.peaks.push(self.current);
        }
        (self.peaks, self.per_peak)
    }
}

fn describe(err: &SymphoniaError) -> String {
    match err {
        SymphoniaError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file ends in the middle of the audio".to_owned()
        }
        other => other.to_string(),
    }
}

/// Why a packet did not decode: a damaged frame the analysis may skip, or the end of it.
enum DecodeFailure {
    Damaged(String),
    Fatal(String),
}

/// The decoder of the track's codec: Symphonia's own, or Opus.
enum Decoding {
    Symphonia(Box<dyn AudioDecoder>),
    Opus { decoder: Box<opus_decoder::OpusDecoder>, channels: usize },
}

/// Opus decodes at 48 kHz whatever rate the encoder was fed (RFC 7845 §5.1).
const OPUS_RATE: u32 = 48_000;

impl Decoding {
    fn open(params: &AudioCodecParameters) -> Result<Self, AnalysisError> {
        if params.codec == CODEC_ID_OPUS {
            let channels = params.channels.as_ref().map_or(0, |c| c.count());
            let decoder = opus_decoder::OpusDecoder::new(OPUS_RATE, channels).map_err(|e| {
                AnalysisError::Unsupported(format!("Opus with {channels} channels: {e}"))
            })?;
            return Ok(Decoding::Opus { decoder: Box::new(decoder), channels });
        }
        symphonia::default::get_codecs()
            .make_audio_decoder(params, &AudioDecoderOptions::default())
            .map(Decoding::Symphonia)
            .map_err(|e| AnalysisError::Unsupported(format!("no decoder for this codec: {e}")))
    }

    fn codec(&self) -> String {
        match self {
            Decoding::Symphonia(decoder) => decoder.codec_info().short_name.to_owned(),
            Decoding::Opus { .. } => "opus".to_owned(),
        }
    }

    /// Decodes `packet` into `samples` (interleaved, replacing what was there); returns the
    /// sample rate and channel count of what it holds.
    fn decode(
        &mut self,
        packet: &Packet,
        samples: &mut Vec<f32>,
    ) -> Result<(u32, usize), DecodeFailure> {
        match self {
            Decoding::Symphonia(decoder) => {
                let buffer = decoder.decode(packet).map_err(|err| match err {
                    SymphoniaError::DecodeError(_) | SymphoniaError::IoError(_) => {
                        DecodeFailure::Damaged(describe(&err))
                    }
                    other => DecodeFailure::Fatal(describe(&other)),
                })?;
                let spec = buffer.spec();
                let (rate, channels) = (spec.rate(), spec.channels().count());
                buffer.copy_to_vec_interleaved(samples);
                Ok((rate, channels))
            }
            Decoding::Opus { decoder, channels } => {
                samples.resize(opus_decoder::OpusDecoder::MAX_FRAME_SIZE_48K * *channels, 0.0);
                match decoder.decode_float(&packet.data, samples, false) {
                    Ok(frames) => {
                        samples.truncate(frames * *channels);
                        Ok((OPUS_RATE, *channels))
                    }
                    Err(err) => {
                        samples.clear();
                        Err(DecodeFailure::Damaged(format!("opus: {err}")))
                    }
                }
            }
        }
    }
}

impl AudioAnalyzer for SymphoniaAnalyzer {
    fn analyze(
        &self,
        source: Box<dyn MediaSource>,
        size_bytes: u64,
        format: AudioFormat,
    ) -> Result<AudioAnalysis, AnalysisError> {
        let stream = MediaSourceStream::new(
            Box::new(Source { inner: source, len: size_bytes }),
            Default::default(),
        );
        let mut hint = Hint::new();
        hint.with_extension(format.extension());
        let mut reader = symphonia::default::get_probe()
            .probe(&hint, stream, FormatOptions::default(), MetadataOptions::default())
            .map_err(|e| {
                AnalysisError::Corrupt(format!(
                    "not readable as {}: {}",
                    format.extension(),
                    describe(&e)
                ))
            })?;
        let track = reader
            .default_track(TrackType::Audio)
            .ok_or_else(|| AnalysisError::Unsupported("the file has no audio track".into()))?;
        let track_id = track.id;
        let announced_frames = track.num_frames;
        let params = track
            .codec_params
            .as_ref()
            .and_then(|p| p.audio())
            .cloned()
            .ok_or_else(|| AnalysisError::Unsupported("unknown audio codec".into()))?;
        let mut decoder = Decoding::open(&params)?;
        let codec = decoder.codec();

        let mut sample_rate = params.sample_rate.unwrap_or(0);
        let mut channels = params.channels.as_ref().map_or(0, |c| c.count());
        let per_peak = match (announced_frames, sample_rate) {
            (Some(frames), _) => frames.div_ceil(TARGET_PEAKS),
            (None, rate) if rate > 0 => u64::from(rate) / 10,
            _ => 4410,
        };
        let mut peaks = Peaks::new(per_peak);
        let mut samples: Vec<f32> = Vec::new();
        let (mut decoded_frames, mut decode_errors) = (0_u64, 0_u32);
        loop {
            let packet = match reader.next_packet() {
                Ok(Some(packet)) => packet,
                Ok(None) => break,
                Err(SymphoniaError::ResetRequired) => {
                    return Err(AnalysisError::Unsupported(
                        "the stream changes format mid-file".into(),
                    ));
                }
                Err(err) => return Err(AnalysisError::Corrupt(describe(&err))),
            };
            if packet.track_id != track_id {
                continue;
            }
            (sample_rate, channels) = match decoder.decode(&packet, &mut samples) {
                Ok(spec) => spec,
                Err(DecodeFailure::Damaged(_)) if decode_errors < MAX_DECODE_ERRORS => {
                    decode_errors += 1;
                    continue;
                }
                Err(DecodeFailure::Damaged(reason) | DecodeFailure::Fatal(reason)) => {
                    return Err(AnalysisError::Corrupt(reason));
                }
            };
            if channels == 0 {
                continue;
            }
            for frame in samples.chunks_exact(channels) {
                peaks.push_frame(frame.iter().fold(0.0_f32, |m, s| m.max(s.abs())).min(1.0));
            }
            decoded_frames += (samples.len() / channels) as u64;
        }

        if decoded_frames == 0 || sample_rate == 0 {
            return Err(AnalysisError::Corrupt("no audio could be decoded".into()));
        }
        let frames = match announced_frames {
            Some(expected) if (decoded_frames as f64) < expected as f64 * MIN_DECODED_SHARE => {
                return Err(AnalysisError::Corrupt(format!(
                    "the file is truncated: {decoded_frames} of {expected} audio frames present"
                )));
            }
            // Decoders may emit encoder delay and padding; the header's count is the playable part.
            Some(expected) => expected.min(decoded_frames),
            None => decoded_frames,
        };
        let duration_ms = frames * 1000 / u64::from(sample_rate);
        let bitrate = (duration_ms > 0)
            .then(|| size_bytes.saturating_mul(8_000) / duration_ms)
            .and_then(|bps| u32::try_from(bps).ok());
        let (peaks, samples_per_peak) = peaks.finish();
        Ok(AudioAnalysis {
            codec,
            duration_ms,
            sample_rate,
            channels: u16::try_from(channels).unwrap_or(u16::MAX),
            bitrate,
            peaks,
            samples_per_peak,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/audio");

    fn analyze(bytes: Vec<u8>) -> Result<AudioAnalysis, AnalysisError> {
        let format = veza_core::media::detect_audio_format(&bytes).expect("a known format");
        let len = bytes.len() as u64;
        SymphoniaAnalyzer.analyze(Box::new(Cursor::new(bytes)), len, format)
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).unwrap()
    }

    /// 16-bit PCM WAV of a 440 Hz tone at half amplitude.
    fn wav_tone(seconds: u32, rate: u32, channels: u16) -> Vec<u8> {
        let frames = seconds * rate;
        let data_len = frames * u32::from(channels) * 2;
        let mut out = Vec::with_capacity(44 + data_len as usize);
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16_u32.to_le_bytes());
        out.extend_from_slice(&1_u16.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * u32::from(channels) * 2).to_le_bytes());
        out.extend_from_slice(&(channels * 2).to_le_bytes());
        out.extend_from_slice(&16_u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        for i in 0..frames {
            let t = f64::from(i) / f64::from(rate);
            let sample = ((t * 440.0 * std::f64::consts::TAU).sin() * 16384.0) as i16;
            for _ in 0..channels {
                out.extend_from_slice(&sample.to_le_bytes());
            }
        }
        out
    }

    fn assert_two_second_tone(analysis: &AudioAnalysis, codec: &str) {
        assert_eq!(analysis.codec, codec);
        assert!(analysis.duration_ms.abs_diff(2000) <= 50, "{codec}: {} ms", analysis.duration_ms);
        assert_eq!(analysis.channels, 2, "{codec}");
        assert!(!analysis.peaks.is_empty() && analysis.peaks.len() <= 2 * TARGET_PEAKS as usize);
        let loudest = analysis.peaks.iter().copied().fold(0.0, f32::max);
        assert!(
            (0.4..=0.6).contains(&loudest),
            "{codec}: a half-amplitude tone peaks near 0.5, got {loudest}"
        );
    }

    #[test]
    fn a_generated_wav_reads_back_exactly() {
        let analysis = analyze(wav_tone(2, 44_100, 2)).unwrap();
        assert_two_second_tone(&analysis, "pcm_s16le");
        assert_eq!(analysis.duration_ms, 2000);
        assert_eq!(analysis.sample_rate, 44_100);
        assert_eq!(analysis.bitrate.map(|b| b / 1000), Some(1411), "CD-quality PCM");
    }

    #[test]
    fn mp3_flac_and_vorbis_fixtures_give_their_duration_within_50_ms() {
        for (file, codec) in
            [("tone-2s.mp3", "mp3"), ("tone-2s.flac", "flac"), ("tone-2s.ogg", "vorbis")]
        {
            let analysis = analyze(fixture(file)).unwrap();
            assert_two_second_tone(&analysis, codec);
            assert_eq!(analysis.sample_rate, 44_100, "{file}");
        }
    }

    #[test]
    fn a_truncated_mp3_is_reported_as_damaged() {
        let err = analyze(fixture("truncated.mp3")).unwrap_err();
        assert!(
            matches!(&err, AnalysisError::Corrupt(reason) if reason.contains("truncated")),
            "{err}"
        );
    }

    #[test]
    fn ogg_opus_decodes_at_48_khz_with_its_duration() {
        let analysis = analyze(fixture("tone-2s.opus")).unwrap();
        assert_eq!(analysis.codec, "opus");
        assert_eq!(analysis.sample_rate, 48_000);
        assert!(analysis.duration_ms.abs_diff(2000) <= 50, "{} ms", analysis.duration_ms);
        assert!(analysis.peaks.iter().any(|&p| p > 0.1), "a tone, not silence");
        let mut cut = fixture("tone-2s.opus");
        cut.truncate(cut.len() / 2);
        assert!(analyze(cut).is_err(), "half an Opus file is truncated");
    }

    #[test]
    fn random_or_cut_bytes_are_errors_not_panics() {
        let mut noise = b"RIFF\x24\0\0\0WAVEfmt ".to_vec();
        noise.extend((0..4096_u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        assert!(analyze(noise).is_err());
        let flac = fixture("tone-2s.flac");
        assert!(analyze(flac[..64].to_vec()).is_err());
        let mut ogg = fixture("tone-2s.ogg");
        ogg.truncate(300);
        assert!(analyze(ogg).is_err());
        assert!(analyze(b"ID3\x04\0\0\0\0\0\x10garbage".to_vec()).is_err());
    }
}
