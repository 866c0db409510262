//! `aac`: automated AAC24 scoring of lateral DXA VFA scans.

mod cmd_io;
mod cmd_synth;
mod progress;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Automated abdominal aortic calcification (AAC24) scoring in DXA vertebral
/// fracture assessment images (Chaplin & Cootes 2019, and beyond).
#[derive(Parser)]
#[command(name = "aac", version, about, long_about = None)]
struct Cli {
    /// Log more (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show facts about image or DICOM files.
    Info(cmd_io::InfoArgs),
    /// Convert an image (PNG, TIFF, DICOM) to a 16-bit PNG as the pipeline sees it.
    Convert(cmd_io::ConvertArgs),
    /// Validate a dataset against the contract in docs/data-format.md.
    Check(cmd_io::CheckArgs),
    /// Generate a realistic synthetic VFA cohort with full ground truth.
    Synth(cmd_synth::SynthArgs),
    /// Render a montage of dataset images with landmarks and masks.
    Montage(cmd_synth::MontageArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AAC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
    let result = match cli.command {
        Command::Info(a) => cmd_io::info(a),
        Command::Convert(a) => cmd_io::convert(a),
        Command::Check(a) => cmd_io::check(a),
        Command::Synth(a) => cmd_synth::synth(a),
        Command::Montage(a) => cmd_synth::montage(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
