//! `aac ssm fit|eval|plot` and `aac warp`.

use aac_io::{read_image, read_mask, write_mask, write_png16, write_pts, Dataset, Point};
use aac_pipeline::dataset_util::{pixel_spacings, read_all_landmarks, read_landmarks_any};
use aac_pipeline::progress::bar;
use aac_shape::{eval::cross_validate, ShapeModel};
use aac_warp::warp_image::{warp_gray16, warp_points};
use aac_warp::{prepare_roi, AortaSource, WarpMap};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use rayon::prelude::*;
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
    #[arg(long, default_value_t = 0.98)]
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
    #[arg(long, default_value_t = 0.98)]
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
            check_fraction(a.variance)?;
            let ds = Dataset::open(&a.data)?;
            let shapes: Vec<Vec<Point>> = read_all_landmarks(&ds)?
                .into_iter()
                .map(|(_, p)| p)
                .collect();
            let model = ShapeModel::fit(&shapes, a.variance, 5)?;
            model.save(&a.out)?;
            eprintln!(
                "fitted {} shapes: {} modes explain {:.1}% of the variance; wrote {}",
                model.n_train,
                model.n_modes(),
                100.0 * model.variance_fraction,
                a.out.display()
            );
        }
        SsmCommand::Eval(a) => {
            check_fraction(a.variance)?;
            let ds = Dataset::open(&a.data)?;
            let all = read_all_landmarks(&ds)?;
            let spacing = pixel_spacings(&ds)?;
            let mm: Vec<Option<f64>> = all.iter().map(|(id, _)| spacing.get(id).copied()).collect();
            let shapes: Vec<Vec<Point>> = all.into_iter().map(|(_, p)| p).collect();
            let r = cross_validate(&shapes, &mm, a.folds, a.variance)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
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
        }
        SsmCommand::Plot(a) => {
            let model = ShapeModel::load(&a.ssm)?;
            let ds = Dataset::open(&a.data)?;
            let id = a.id.unwrap_or_else(|| ds.ids()[0].clone());
            let img = read_image(&ds.image_path(&id))?;
            let pts = read_landmarks_any(&ds.landmarks_path(&id))?;
            let fig = aac_pipeline::shape_plot::figure(&model, &img, &pts)?;
            aac_io::write_rgb_png(&a.out, &fig)?;
            println!("wrote {}", a.out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_fraction(v: f64) -> Result<()> {
    if !(v > 0.0 && v <= 1.0) {
        bail!("--variance must be in (0, 1], got {v}");
    }
    Ok(())
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
    let ssm = ShapeModel::load(&a.ssm)?;
    let ds = Dataset::open(&a.data)?;
    let source = match a.aorta {
        AortaArg::Predicted => AortaSource::Predicted,
        AortaArg::Annotated => AortaSource::Annotated,
    };
    let ids = ds.ids();
    let pb = bar(ids.len() as u64, "warp");
    let results: Vec<(String, Result<()>)> = ids
        .par_iter()
        .map(|id| {
            let r = warp_one(&ds, id, &ssm, source, &a.out);
            pb.inc(1);
            (id.clone(), r)
        })
        .collect();
    pb.finish_and_clear();
    let failed: Vec<_> = results
        .iter()
        .filter_map(|(id, r)| r.as_ref().err().map(|e| (id, e)))
        .collect();
    for (id, e) in &failed {
        eprintln!("error: {id}: {e:#}");
    }
    let scores = ds.scores_path();
    if scores.exists() {
        let text = std::fs::read_to_string(&scores)
            .with_context(|| format!("reading {}", scores.display()))?;
        aac_io::write_string_atomic(&a.out.join("scores.csv"), &text)?;
    }
    eprintln!(
        "warped {} of {} images into {}",
        ids.len() - failed.len(),
        ids.len(),
        a.out.display()
    );
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        bail!("{} image(s) could not be warped", failed.len())
    }
}

fn warp_one(
    ds: &Dataset,
    id: &str,
    ssm: &ShapeModel,
    source: AortaSource,
    out: &std::path::Path,
) -> Result<()> {
    let img = read_image(&ds.image_path(id))?;
    let lp = ds.landmarks_path(id);
    let pts = read_landmarks_any(&lp)?;
    let (prep, pred) = prepare_roi(ssm, &pts, source, img.dimensions())
        .with_context(|| format!("{}", lp.display()))?;
    let map = WarpMap::new(&prep.roi, None);
    write_png16(
        &out.join("images").join(format!("{id}.png")),
        &warp_gray16(&map, &img),
    )?;
    for dir in ["masks", "masks2"] {
        let mp = ds.mask_path(id, dir);
        if mp.exists() {
            let m = read_mask(&mp, Some(img.dimensions()))?;
            write_mask(
                &out.join(dir).join(format!("{id}.png")),
                &map.warp_labels(&m),
            )?;
        }
    }
    // Landmarks in warped space: the given points, with the predicted aorta
    // where only the 20 spine points were given.
    let mut all = pts.clone();
    if all.len() == 20 {
        all.extend_from_slice(pred.aorta());
    }
    write_pts(
        &out.join("landmarks").join(format!("{id}.pts")),
        &warp_points(&prep.roi, &all),
    )?;
    prep.save(&out.join("transforms").join(format!("{id}.json")))?;
    Ok(())
}
