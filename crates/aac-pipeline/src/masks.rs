//! Label masks in warped space: AAC24 of every mask of a dataset (`aac
//! score`) and the overlap between two sets of masks (`aac compare`).

use crate::progress::bar;
use aac_io::dataset::list_images;
use aac_io::{read_image, read_mask, write_rgb_png, ROI_HEIGHT, ROI_WIDTH};
use aac_score::metrics::{
    compare_mask_files, summarize_comparisons, CompareSummary, MaskComparison,
};
use aac_score::overlay::{render_overlay, DEFAULT_SCALE};
use aac_score::{score_labels, write_scores_csv, Grouping, ScoreError, Scored};
use anyhow::{anyhow, bail, Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Settings of [`score_masks`].
#[derive(Debug, Clone, Serialize)]
pub struct ScoreConfig {
    /// Warped dataset root: 128x256 label masks in `ROOT/<masks>/<id>.png`,
    /// optional warped images in `ROOT/images/`.
    pub data: PathBuf,
    /// Mask directory under the root (labels 0 none, 1 anterior, 2 posterior).
    pub masks: String,
    /// Output score table (CSV).
    pub out: PathBuf,
    /// Also write a QC overlay per image into this directory.
    pub overlays: Option<PathBuf>,
    /// Score categories.
    pub grouping: Grouping,
}

/// What [`score_masks`] did.
#[derive(Debug, Clone)]
pub struct ScoreSummary {
    /// The mask directory read.
    pub mask_dir: PathBuf,
    /// The scores by id, in id order.
    pub rows: Vec<(String, Scored)>,
    /// Images per category of the grouping.
    pub counts: [usize; 3],
    /// Mean AAC24.
    pub mean_aac24: f64,
}

/// Lists the `<id>.png` (or other image-extension) files of a mask directory.
pub fn list_masks(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    if !dir.is_dir() {
        bail!("{}: mask directory does not exist", dir.display());
    }
    Ok(list_images(dir)?)
}

/// Checks an optional warped image: readable and 128 x 256.
fn check_warped_image(path: &Path) -> Result<()> {
    let img = read_image(path)?;
    if img.dimensions() != (ROI_WIDTH, ROI_HEIGHT) {
        bail!(
            "{}: image is {}x{}, expected {ROI_WIDTH}x{ROI_HEIGHT} (warped space)",
            path.display(),
            img.width(),
            img.height()
        );
    }
    Ok(())
}

/// The scores of one mask file, errors naming the file.
fn score_mask_file(path: &Path) -> Result<Scored> {
    let labels = read_mask(path, None)?;
    score_labels(&labels).map_err(|e| match e {
        ScoreError::Io(e) => anyhow!(e),
        other => anyhow!("{}: {other}", path.display()),
    })
}

/// Scores every mask of a warped dataset (`aac score`): reads and scores
/// everything first (the first error in id order wins, so reports do not
/// depend on threads), then writes the table and the overlays atomically.
/// Every image needs a mask; masks without an image are scored on their own.
pub fn score_masks(a: &ScoreConfig) -> Result<ScoreSummary> {
    let mask_dir = a.data.join(&a.masks);
    let masks = list_masks(&mask_dir)?;
    let image_dir = a.data.join("images");
    let images = if image_dir.is_dir() {
        list_images(&image_dir)?
    } else {
        BTreeMap::new()
    };
    for (id, img) in &images {
        if !masks.contains_key(id) {
            bail!(
                "{}: mask file does not exist (needed for image {})",
                mask_dir.join(format!("{id}.png")).display(),
                img.display()
            );
        }
    }
    if masks.is_empty() {
        bail!("{}: no masks (.png) found", mask_dir.display());
    }
    let jobs: Vec<(String, PathBuf)> = masks.into_iter().collect();

    let pb = bar(jobs.len() as u64, "score");
    let results: Vec<Result<(String, Scored)>> = jobs
        .par_iter()
        .map(|(id, path)| {
            let s = score_mask_file(path)?;
            if a.overlays.is_some() {
                if let Some(img) = images.get(id) {
                    check_warped_image(img)?;
                }
            }
            pb.inc(1);
            Ok((id.clone(), s))
        })
        .collect();
    pb.finish_and_clear();
    let rows: Vec<(String, Scored)> = results.into_iter().collect::<Result<_>>()?;

    let table: Vec<(String, Scored, Option<[f64; 2]>)> =
        rows.iter().map(|(id, s)| (id.clone(), *s, None)).collect();
    write_scores_csv(&a.out, &table, a.grouping)?;

    if let Some(dir) = &a.overlays {
        write_overlays(dir, &jobs, &rows, &images)?;
    }

    let mut counts = [0usize; 3];
    for (_, s) in &rows {
        counts[a.grouping.index(f64::from(s.aac24))] += 1;
    }
    let mean_aac24 = rows.iter().map(|(_, s)| f64::from(s.aac24)).sum::<f64>() / rows.len() as f64;
    Ok(ScoreSummary {
        mask_dir,
        rows,
        counts,
        mean_aac24,
    })
}

/// One QC overlay per scored mask, each file written atomically.
fn write_overlays(
    dir: &Path,
    jobs: &[(String, PathBuf)],
    rows: &[(String, Scored)],
    images: &BTreeMap<String, PathBuf>,
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let pb = bar(jobs.len() as u64, "overlays");
    let results: Vec<Result<()>> = jobs
        .par_iter()
        .zip(rows)
        .map(|((id, path), (_, scored))| {
            let labels = read_mask(path, None)?;
            let image = images.get(id).map(|p| read_image(p)).transpose()?;
            let rgb = render_overlay(image.as_ref(), &labels, scored, DEFAULT_SCALE);
            write_rgb_png(&dir.join(format!("{id}.png")), &rgb)?;
            pb.inc(1);
            Ok(())
        })
        .collect();
    pb.finish_and_clear();
    results.into_iter().collect()
}

/// Ids of `a` missing from `b`.
pub fn missing<V, W>(a: &BTreeMap<String, V>, b: &BTreeMap<String, W>) -> Vec<String> {
    a.keys().filter(|k| !b.contains_key(*k)).cloned().collect()
}

/// Settings of [`compare_masks`].
#[derive(Debug, Clone, Serialize)]
pub struct CompareConfig {
    /// Dataset root holding both mask directories.
    pub data: PathBuf,
    /// First mask directory under the root (the reference, A).
    pub a: String,
    /// Second mask directory under the root (compared with A).
    pub b: String,
}

/// One image's result of [`compare_masks`].
#[derive(Debug, Clone, Serialize)]
pub struct ImageComparison {
    /// Image id.
    pub id: String,
    /// Overlap per region.
    #[serde(flatten)]
    pub comparison: MaskComparison,
}

/// The outcome of [`compare_masks`] (`aac compare --json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    /// Directory A.
    pub a: String,
    /// Directory B.
    pub b: String,
    /// Ids in B only.
    pub missing_in_a: Vec<String>,
    /// Ids in A only.
    pub missing_in_b: Vec<String>,
    /// Mean and SD per region.
    pub summary: CompareSummary,
    /// Per image, in id order.
    pub images: Vec<ImageComparison>,
}

/// Dice, Jaccard and accuracy between two mask directories, per image and
/// summarised (`aac compare`).
pub fn compare_masks(a: &CompareConfig) -> Result<CompareReport> {
    let dir_a = a.data.join(&a.a);
    let dir_b = a.data.join(&a.b);
    let masks_a = list_masks(&dir_a)?;
    let masks_b = list_masks(&dir_b)?;
    let pairs: Vec<(String, PathBuf, PathBuf)> = masks_a
        .iter()
        .filter_map(|(id, pa)| {
            masks_b
                .get(id)
                .map(|pb| (id.clone(), pa.clone(), pb.clone()))
        })
        .collect();
    if pairs.is_empty() {
        bail!(
            "no mask ids common to {} ({} masks) and {} ({} masks)",
            dir_a.display(),
            masks_a.len(),
            dir_b.display(),
            masks_b.len()
        );
    }
    let results: Vec<Result<(String, MaskComparison)>> = pairs
        .par_iter()
        .map(|(id, pa, pb)| Ok((id.clone(), compare_mask_files(pa, pb)?)))
        .collect();
    let items: Vec<(String, MaskComparison)> = results.into_iter().collect::<Result<_>>()?;
    let summary = summarize_comparisons(&items);
    Ok(CompareReport {
        a: dir_a.display().to_string(),
        b: dir_b.display().to_string(),
        missing_in_a: missing(&masks_b, &masks_a),
        missing_in_b: missing(&masks_a, &masks_b),
        summary,
        images: items
            .into_iter()
            .map(|(id, comparison)| ImageComparison { id, comparison })
            .collect(),
    })
}
