//! `aac calibrate`: flags -> [`aac_pipeline::calibrate`], then the table of
//! agreement before and after.

use aac_pipeline::calibrate::{calibrate as run_calibrate, CalibrateConfig, FoldSpread};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `aac calibrate`.
#[derive(Args)]
pub struct CalibrateArgs {
    /// The bundle to calibrate.
    #[arg(long)]
    model: PathBuf,
    /// The reader's scans (PNG, TIFF or DICOM).
    #[arg(long)]
    images: PathBuf,
    /// Their spine points (`<id>.pts`); the bundle's finder finds the
    /// others.
    #[arg(long)]
    landmarks: Option<PathBuf>,
    /// The reader's scores: `id`, `aac24` and the 8 sub-scores
    /// (docs/data-format.md); at least 20 scans.
    #[arg(long)]
    scores: PathBuf,
    /// The calibrated bundle to write.
    #[arg(long)]
    out: PathBuf,
    /// Cross-validation folds.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Seed of the fold assignment.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// One table line: a figure before and after, mean (SD) across folds.
fn line(
    name: &str,
    before: &FoldSpread,
    after: &FoldSpread,
    f: fn(&FoldSpread) -> (f64, f64),
    pct: bool,
) {
    let cell = |(m, sd): (f64, f64)| {
        if pct {
            format!("{:+.0}% ({:.0}%)", 100.0 * m, 100.0 * sd)
        } else {
            format!("{m:.2} ({sd:.2})")
        }
    };
    println!("| {name} | {} | {} |", cell(f(before)), cell(f(after)));
}

/// Runs `aac calibrate`.
pub fn calibrate(a: CalibrateArgs) -> Result<ExitCode> {
    let r = run_calibrate(&CalibrateConfig {
        model: a.model,
        images: a.images,
        landmarks: a.landmarks,
        scores: a.scores,
        out: a.out.clone(),
        folds: a.folds,
        seed: a.seed,
    })?;
    println!(
        "{} scans, {}-fold cross-validation (mean (SD) over the test folds):\n",
        r.n_scans, r.folds
    );
    println!(
        "| against the reader | before (thresholds {:.2} / {:.2}, lengths x{:.2} / x{:.2}) | after (chosen on the other folds) |",
        r.before[0], r.before[1], r.length_scales_before[0], r.length_scales_before[1]
    );
    println!("| --- | --- | --- |");
    let (b, c) = (&r.cv_before, &r.cv_after);
    line(
        "AAC24 MAE",
        b,
        c,
        |s| (s.mean.aac24_mae, s.sd.aac24_mae),
        false,
    );
    line(
        "sub-score error per scan",
        b,
        c,
        |s| (s.mean.subscore_error, s.sd.subscore_error),
        false,
    );
    line(
        "anterior total vs reader",
        b,
        c,
        |s| (s.mean.anterior_total, s.sd.anterior_total),
        true,
    );
    line(
        "posterior total vs reader",
        b,
        c,
        |s| (s.mean.posterior_total, s.sd.posterior_total),
        true,
    );
    println!(
        "\nchosen on all {} scans: thresholds anterior {:.2}, posterior {:.2}; lengths read x{:.2} anterior, x{:.2} posterior; wrote {}",
        r.n_scans,
        r.after[0],
        r.after[1],
        r.length_scales_after[0],
        r.length_scales_after[1],
        a.out.display()
    );
    if let Some(caution) = r.caution() {
        println!("\nCaution: {caution}.");
    }
    Ok(ExitCode::SUCCESS)
}
