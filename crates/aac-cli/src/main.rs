//! `aac`: automated AAC24 scoring of lateral DXA VFA scans.

mod allocator;
mod cmd_calibrate;
mod cmd_demo;
mod cmd_eval;
mod cmd_io;
mod cmd_predict;
mod cmd_review;
mod cmd_score;
mod cmd_seg;
mod cmd_shape;
mod cmd_synth;
mod headline;
mod training_args;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Automated abdominal aortic calcification (AAC24) scoring in DXA vertebral
/// fracture assessment images (Chaplin & Cootes 2019, and beyond).
#[derive(Parser)]
#[command(name = "aac", version, about, long_about = None)]
struct Cli {
    /// Log more (-v debug, -vv trace; progress messages are shown at info).
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
    /// AAC24 and its 8 sub-scores from 128x256 label masks (midline fit).
    Score(cmd_score::ScoreArgs),
    /// Dice, Jaccard and accuracy between two mask directories.
    Compare(cmd_score::CompareArgs),
    /// Agreement between two score tables (R², r, rho, ICC, Bland-Altman, kappa).
    Agree(cmd_score::AgreeArgs),
    /// Statistical shape model of spine + aorta: fit, evaluate, plot.
    #[command(subcommand)]
    Ssm(cmd_shape::SsmCommand),
    /// Warp the L1-L4 region of every image to the 128x256 AAC space.
    Warp(cmd_shape::WarpArgs),
    /// Train a model (random forest, U-net, deployable bundle).
    #[command(subcommand)]
    Train(TrainCommand),
    /// Segment calcification in a warped dataset with a trained model.
    Segment(cmd_seg::SegmentArgs),
    /// The paper's experiment: k-fold cross-validation, Table 1, figures, HTML report.
    Eval(cmd_eval::EvalArgs),
    /// Synthetic cohort like the paper's, evaluated end to end (the main job).
    Demo(cmd_demo::DemoArgs),
    /// Score new scans with a model bundle: scores.csv, QC overlays, index.html.
    Predict(cmd_predict::PredictArgs),
    /// Join the outputs of several `aac predict` shards.
    Merge(cmd_predict::MergeArgs),
    /// Find the 20 spine points of raw scans with a bundle's landmark finder.
    Landmarks(cmd_predict::LandmarksArgs),
    /// Adapt a bundle to a reader: per-wall thresholds and length factors
    /// chosen on the reader's scores by cross-validation, written into a
    /// copy.
    Calibrate(cmd_calibrate::CalibrateArgs),
    /// Review a predict output in the browser, most doubtful scans first;
    /// decisions go to OUT/review/<reader>.csv (docs/review.md).
    Review(cmd_review::ReviewArgs),
}

/// `aac train` subcommands.
#[derive(Subcommand)]
enum TrainCommand {
    /// Haar-feature random forest on a warped dataset (the paper's baseline).
    Rf(cmd_seg::TrainRfArgs),
    /// U-net (binary or 2-class) on a raw dataset with shape-model augmentation.
    Unet(cmd_seg::TrainUnetArgs),
    /// A deployable bundle (shape model + 2-class U-net + thresholds) for `aac predict`.
    Bundle(cmd_predict::TrainBundleArgs),
}

/// Makes a failed write to standard output (a closed pipe, a full disk) an
/// error exit instead of a panic: `println!` panics on such a failure, in
/// every command, and this is the one place that sees all of them.
fn exit_cleanly_when_stdout_fails() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if let Some(why) = msg.strip_prefix("failed printing to stdout: ") {
            use std::io::Write;
            if !why.contains("Broken pipe") {
                let _ = writeln!(
                    std::io::stderr(),
                    "error: cannot write to standard output: {why}"
                );
            }
            std::process::exit(1);
        }
        default_hook(info);
    }));
}

fn main() -> ExitCode {
    allocator::keep_freed_memory();
    exit_cleanly_when_stdout_fails();
    let cli = Cli::parse();
    // The library reports progress at `info`; -v shows its details.
    let level = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    // Our crates at `level`, dependencies (burn, dicom-rs) at warn only.
    let ours = [
        "aac",
        "aac_io",
        "aac_synth",
        "aac_shape",
        "aac_warp",
        "aac_rf",
        "aac_unet",
        "aac_score",
        "aac_pipeline",
        "aac_landmarks",
        "aac_review",
    ];
    let directives = std::iter::once("warn".to_string())
        .chain(ours.iter().map(|c| format!("{c}={level}")))
        .collect::<Vec<_>>()
        .join(",");
    let filter = tracing_subscriber::EnvFilter::try_from_env("AAC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directives));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
    let result = match cli.command {
        Command::Info(a) => cmd_io::info(a),
        Command::Convert(a) => cmd_io::convert(a),
        Command::Check(a) => cmd_io::check(a),
        Command::Synth(a) => cmd_synth::synth(a),
        Command::Montage(a) => cmd_synth::montage(a),
        Command::Score(a) => cmd_score::score(a),
        Command::Compare(a) => cmd_score::compare(a),
        Command::Agree(a) => cmd_score::agree(a),
        Command::Ssm(c) => cmd_shape::ssm(c),
        Command::Warp(a) => cmd_shape::warp(a),
        Command::Train(TrainCommand::Rf(a)) => cmd_seg::train_rf(a),
        Command::Train(TrainCommand::Unet(a)) => cmd_seg::train_unet(a),
        Command::Segment(a) => cmd_seg::segment(a),
        Command::Eval(a) => cmd_eval::eval(a),
        Command::Demo(a) => cmd_demo::demo(a),
        Command::Predict(a) => cmd_predict::predict(a),
        Command::Merge(a) => cmd_predict::merge(a),
        Command::Landmarks(a) => cmd_predict::landmarks(a),
        Command::Train(TrainCommand::Bundle(a)) => cmd_predict::train_bundle(a),
        Command::Calibrate(a) => cmd_calibrate::calibrate(a),
        Command::Review(a) => cmd_review::review(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
