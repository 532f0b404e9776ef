//! Analyses audio files the way the `track.process` job does and prints what it found and how
//! fast, in times real time: `cargo run --release -p veza-adapters --example analyze -- FILE...`.

use std::time::Instant;
use veza_adapters::symphonia::SymphoniaAnalyzer;
use veza_core::media::{AudioAnalyzer, SNIFF_LEN, detect_audio_format};

fn main() -> std::process::ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: analyze FILE...");
        return std::process::ExitCode::FAILURE;
    }
    let mut failed = false;
    for path in paths {
        let result = std::fs::read(&path).map_err(|e| e.to_string()).and_then(|bytes| {
            let head = &bytes[..bytes.len().min(SNIFF_LEN)];
            let format = detect_audio_format(head).ok_or("not an accepted audio format")?;
            let size = bytes.len() as u64;
            let started = Instant::now();
            let analysis = SymphoniaAnalyzer
                .analyze(Box::new(std::io::Cursor::new(bytes)), size, format)
                .map_err(|e| e.to_string())?;
            Ok((analysis, started.elapsed()))
        });
        match result {
            Ok((a, took)) => {
                let realtime = a.duration_ms as f64 / 1000.0 / took.as_secs_f64();
                println!(
                    "{path}: {} {} Hz {} ch, {} ms, {} peaks, analysed in {:.1} ms = {realtime:.0}x real time",
                    a.codec,
                    a.sample_rate,
                    a.channels,
                    a.duration_ms,
                    a.peaks.len(),
                    took.as_secs_f64() * 1000.0
                );
            }
            Err(reason) => {
                failed = true;
                println!("{path}: {reason}");
            }
        }
    }
    if failed { std::process::ExitCode::FAILURE } else { std::process::ExitCode::SUCCESS }
}
