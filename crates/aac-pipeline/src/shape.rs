//! The shape model on a dataset (`aac ssm fit|eval|plot`) and the warp of a
//! whole dataset into the 128x256 AAC space (`aac warp`).

use crate::dataset_util::{pixel_spacings, read_all_landmarks, read_landmarks_any};
use crate::progress::bar;
use aac_io::{read_image, read_mask, write_mask, write_png16, write_pts, Dataset, Point};
use aac_shape::eval::{cross_validate, EvalReport};
use aac_shape::ShapeModel;
use aac_warp::warp_image::{warp_gray16, warp_points};
use aac_warp::{prepare_roi, AortaSource, WarpMap};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Refuses a variance fraction outside (0, 1].
fn check_fraction(v: f64) -> Result<()> {
    if !(v > 0.0 && v <= 1.0) {
        bail!("--variance must be in (0, 1], got {v}");
    }
    Ok(())
}

/// Fits the shape model to the 30-point landmarks of the dataset at `data`
/// and saves it to `out` (`aac ssm fit`).
pub fn fit_shape_model(data: &Path, variance: f64, out: &Path) -> Result<ShapeModel> {
    check_fraction(variance)?;
    let ds = Dataset::open(data)?;
    let shapes: Vec<Vec<Point>> = read_all_landmarks(&ds)?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let model = ShapeModel::fit(&shapes, variance, crate::defaults::SHAPE_CV_FOLDS)?;
    model.save(out)?;
    Ok(model)
}

/// Cross-validated aorta-prediction error and 3 SD coverage on the dataset
/// at `data` (`aac ssm eval`); errors in mm where the pixel spacing is known.
pub fn evaluate_shape_model(data: &Path, folds: usize, variance: f64) -> Result<EvalReport> {
    check_fraction(variance)?;
    let ds = Dataset::open(data)?;
    let all = read_all_landmarks(&ds)?;
    let spacing = pixel_spacings(&ds)?;
    let mm: Vec<Option<f64>> = all.iter().map(|(id, _)| spacing.get(id).copied()).collect();
    let shapes: Vec<Vec<Point>> = all.into_iter().map(|(_, p)| p).collect();
    Ok(cross_validate(&shapes, &mm, folds, variance)?)
}

/// Writes the figure of `aac ssm plot` (mean shape, modes, the fit on image
/// `id`, or the dataset's first) to `out`.
pub fn plot_shape_model(ssm: &Path, data: &Path, id: Option<&str>, out: &Path) -> Result<()> {
    let model = ShapeModel::load(ssm)?;
    let ds = Dataset::open(data)?;
    let id = match id {
        Some(id) => id.to_string(),
        None => ds
            .ids()
            .first()
            .cloned()
            .with_context(|| format!("{}: the dataset has no images", data.display()))?,
    };
    let img = read_image(&ds.image_path(&id))?;
    let pts = read_landmarks_any(&ds.landmarks_path(&id))?;
    let fig = crate::shape_plot::figure(&model, &img, &pts)?;
    aac_io::write_rgb_png(out, &fig)?;
    Ok(())
}

/// Settings of [`warp_dataset`].
#[derive(Debug, Clone)]
pub struct WarpConfig {
    /// Raw dataset root.
    pub data: PathBuf,
    /// Shape model from `aac ssm fit`.
    pub ssm: PathBuf,
    /// Output warped dataset root.
    pub out: PathBuf,
    /// Aorta the ROI is built from.
    pub aorta: AortaSource,
}

/// What [`warp_dataset`] did.
#[derive(Debug)]
pub struct WarpSummary {
    /// Images in the dataset.
    pub n_images: usize,
    /// The images that could not be warped, with the reason.
    pub failed: Vec<(String, anyhow::Error)>,
}

/// Warps every image of a dataset, its masks and landmarks into the AAC
/// space (`aac warp`), with the transform of each; copies scores.csv. An
/// image that fails is reported in the summary and the others go on.
pub fn warp_dataset(a: &WarpConfig) -> Result<WarpSummary> {
    let ssm = ShapeModel::load(&a.ssm)?;
    let ds = Dataset::open(&a.data)?;
    let ids = ds.ids();
    let pb = bar(ids.len() as u64, "warp");
    let results: Vec<(String, Result<()>)> = ids
        .par_iter()
        .map(|id| {
            let r = warp_one(&ds, id, &ssm, a.aorta, &a.out);
            pb.inc(1);
            (id.clone(), r)
        })
        .collect();
    pb.finish_and_clear();
    let failed: Vec<(String, anyhow::Error)> = results
        .into_iter()
        .filter_map(|(id, r)| r.err().map(|e| (id, e)))
        .collect();
    let scores = ds.scores_path();
    if scores.exists() {
        let text = aac_io::read_text_capped(&scores, aac_io::input::MAX_TABLE_BYTES)?;
        aac_io::write_string_atomic(&a.out.join("scores.csv"), &text)?;
    }
    Ok(WarpSummary {
        n_images: ids.len(),
        failed,
    })
}

fn warp_one(
    ds: &Dataset,
    id: &str,
    ssm: &ShapeModel,
    source: AortaSource,
    out: &Path,
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
