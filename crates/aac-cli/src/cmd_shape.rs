//! `aac ssm fit|eval|plot` and `aac warp`: flags -> [`aac_pipeline::shape`],
//! then printing.

use aac_pipeline::defaults::SHAPE_VARIANCE as DEFAULT_VARIANCE;
use aac_pipeline::shape::{
    evaluate_shape_model, fit_shape_model, plot_shape_model, warp_dataset, WarpConfig,
};
use aac_warp::AortaSource;
use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// `aac ssm` subcommands.
#[derive(Subcommand)]
pub enum SsmCommand {
    /// Fit the shape model to the 30-point landmarks of a dataset.
    Fit(SsmFitArgs),
    /// Cross-validated aorta-prediction error and 3 SD coverage.
    Eval(SsmEvalArgs),
    /// Figure like the paper's Fig. 1 (mean shape, modes, a fitted image).
    Plot(SsmPlotArgs),
}

/// Arguments of `aac ssm fit`.
#[derive(Args)]
pub struct SsmFitArgs {
    /// Dataset root (landmarks with 30 points).
    #[arg(long)]
    data: PathBuf,
    /// Output model (JSON).
    #[arg(long)]
    out: PathBuf,
    /// Fraction of the shape variance the kept modes explain.
    #[arg(long, default_value_t = DEFAULT_VARIANCE)]
    variance: f64,
}

/// Arguments of `aac ssm eval`.
#[derive(Args)]
pub struct SsmEvalArgs {
    /// Dataset root.
    #[arg(long)]
    data: PathBuf,
    /// Number of folds.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Fraction of the shape variance the kept modes explain.
    #[arg(long, default_value_t = DEFAULT_VARIANCE)]
    variance: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `aac ssm plot`.
#[derive(Args)]
pub struct SsmPlotArgs {
    /// Shape model.
    #[arg(long)]
    ssm: PathBuf,
    /// Dataset with an image to show the fit on.
    #[arg(long)]
    data: PathBuf,
    /// Image id (default: the first).
    #[arg(long)]
    id: Option<String>,
    /// Output PNG.
    #[arg(long)]
    out: PathBuf,
}

/// Runs an `aac ssm` subcommand.
pub fn ssm(cmd: SsmCommand) -> Result<ExitCode> {
    match cmd {
        SsmCommand::Fit(a) => {
            let model = fit_shape_model(&a.data, a.variance, &a.out)?;
            eprintln!(
                "fitted {} shapes: {} modes explain {:.1}% of the variance; wrote {}",
                model.n_train,
                model.n_modes(),
                100.0 * model.variance_fraction,
                a.out.display()
            );
        }
        SsmCommand::Eval(a) => {
            let r = evaluate_shape_model(&a.data, a.folds, a.variance)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_shape_eval(&r);
            }
        }
        SsmCommand::Plot(a) => {
            plot_shape_model(&a.ssm, &a.data, a.id.as_deref(), &a.out)?;
            println!("wrote {}", a.out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The table of `aac ssm eval`.
fn print_shape_eval(r: &aac_shape::eval::EvalReport) {
    println!(
        "aorta prediction from the spine, {}-fold cross-validation on {} images",
        r.folds, r.n
    );
    println!("               mean   median   95th pct");
    println!(
        "  error px   {:7.2}  {:7.2}  {:9.2}",
        r.error_px.mean, r.error_px.median, r.error_px.p95
    );
    if let Some(e) = &r.error_mm {
        println!(
            "  error mm   {:7.2}  {:7.2}  {:9.2}",
            e.mean, e.median, e.p95
        );
    } else {
        println!("  error mm   (pixel spacing unknown)");
    }
    println!(
        "  true point within 3 SD: {:.1}% (mean SD {:.1} px)",
        100.0 * r.coverage_3sd,
        r.mean_sd_px
    );
}

/// Which aorta to build the ROI from.
#[derive(Clone, Copy, ValueEnum)]
pub enum AortaArg {
    /// Predicted from the spine points by the shape model.
    Predicted,
    /// The annotated aorta points 20..29.
    Annotated,
}

/// Arguments of `aac warp`.
#[derive(Args)]
pub struct WarpArgs {
    /// Raw dataset root.
    #[arg(long)]
    data: PathBuf,
    /// Shape model from `aac ssm fit`.
    #[arg(long)]
    ssm: PathBuf,
    /// Output warped dataset root.
    #[arg(long)]
    out: PathBuf,
    /// Aorta used for the ROI.
    #[arg(long, value_enum, default_value = "predicted")]
    aorta: AortaArg,
}

/// Runs `aac warp`.
pub fn warp(a: WarpArgs) -> Result<ExitCode> {
    let s = warp_dataset(&WarpConfig {
        data: a.data,
        ssm: a.ssm,
        out: a.out.clone(),
        aorta: match a.aorta {
            AortaArg::Predicted => AortaSource::Predicted,
            AortaArg::Annotated => AortaSource::Annotated,
        },
    })?;
    for (id, e) in &s.failed {
        eprintln!("error: {id}: {e:#}");
    }
    eprintln!(
        "warped {} of {} images into {}",
        s.n_images - s.failed.len(),
        s.n_images,
        a.out.display()
    );
    if s.failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        bail!("{} image(s) could not be warped", s.failed.len())
    }
}
