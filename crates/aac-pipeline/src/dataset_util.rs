//! Helpers shared by commands that read datasets.

use aac_io::{dicom::read_header, image_io::is_dicom, read_pts, Dataset, Point};
use anyhow::{Context, Result};
use std::collections::BTreeMap;

/// Reads the 30-point landmarks of every image and checks that each set is a
/// plausible spine and aorta ([`aac_io::dataset::landmark_problem`]); errors
/// name the file.
pub fn read_all_landmarks(ds: &Dataset) -> Result<Vec<(String, Vec<Point>)>> {
    ds.ids()
        .into_iter()
        .map(|id| {
            let p = ds.landmarks_path(&id);
            let pts = aac_io::read_pts_n(&p, aac_io::N_POINTS)?;
            if let Some(problem) = aac_io::dataset::landmark_problem(&pts, None) {
                anyhow::bail!("{}: {problem}", p.display());
            }
            Ok((id, pts))
        })
        .collect()
}

/// Reads landmarks for prediction: 20 or 30 points.
pub fn read_landmarks_any(path: &std::path::Path) -> Result<Vec<Point>> {
    let pts = read_pts(path)?;
    if pts.len() != 20 && pts.len() != 30 {
        anyhow::bail!(
            "{}: expected 20 spine points or 30 points, found {}",
            path.display(),
            pts.len()
        );
    }
    Ok(pts)
}

/// Pixel spacing (mm) of each image where known: from the DICOM header, or
/// from the synthetic generator's `truth.json`.
pub fn pixel_spacings(ds: &Dataset) -> Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    let truth = ds.root.join("truth.json");
    if truth.exists() {
        let text = aac_io::read_text_capped(&truth, aac_io::input::MAX_TABLE_BYTES)?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON", truth.display()))?;
        if let Some(arr) = v.as_array() {
            for t in arr {
                if let (Some(id), Some(mm)) = (t["id"].as_str(), t["spacing_mm"].as_f64()) {
                    out.insert(id.to_string(), mm);
                }
            }
        }
    }
    for (id, path) in &ds.images {
        if is_dicom(path) {
            if let Ok(h) = read_header(path) {
                if let Some([r, c]) = h.pixel_spacing_mm {
                    match aac_io::spacing_problem([r, c]) {
                        None => {
                            out.insert(id.clone(), 0.5 * (r + c));
                        }
                        Some(why) => tracing::warn!("{}: {why}: ignored", path.display()),
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Where each scan's sacrum top lies (image pixels, by id), from the
/// synthetic generator's `truth.json` ([`aac_synth::Truth::sacrum_top`]);
/// empty for a dataset without one (the finder is then trained without its
/// sacrum-top locator). A `truth.json` that is not the generator's is
/// passed over with a warning.
pub fn sacrum_tops(ds: &Dataset) -> Result<BTreeMap<String, Point>> {
    let path = ds.root.join("truth.json");
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let text = aac_io::read_text_capped(&path, aac_io::input::MAX_TABLE_BYTES)?;
    match serde_json::from_str::<Vec<aac_synth::Truth>>(&text) {
        Ok(truths) => Ok(truths
            .iter()
            .filter_map(|t| Some((t.id.clone(), t.sacrum_top()?)))
            .collect()),
        Err(e) => {
            tracing::warn!(
                "{}: not the truth of `aac synth` ({e}): no sacrum tops read from it",
                path.display()
            );
            Ok(BTreeMap::new())
        }
    }
}

/// The images of a folder to score (`aac predict`, `aac landmarks`): fails
/// when there are none, saying where it looked and what lies nearby (a
/// dataset root, a folder of subfolders); warns of subfolders with images,
/// which are not scanned.
pub fn images_to_score(dir: &std::path::Path) -> Result<BTreeMap<String, std::path::PathBuf>> {
    if !dir.is_dir() {
        anyhow::bail!(
            "{}: --images {} (a folder of PNG, TIFF or DICOM scans is needed)",
            dir.display(),
            if dir.exists() {
                "is not a folder"
            } else {
                "does not exist"
            }
        );
    }
    let images = aac_io::dataset::list_images(dir)?;
    let mut nested = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                let n = aac_io::dataset::list_images(&p)
                    .map(|m| m.len())
                    .unwrap_or(0);
                if n > 0 {
                    nested.push(format!("{} ({n} images)", p.display()));
                }
            }
        }
    }
    nested.sort();
    if images.is_empty() {
        let hint = if nested.is_empty() {
            String::from("no subfolder holds any either")
        } else {
            format!(
                "images were found in subfolders, which are not scanned: {}; give one of them as --images",
                nested.join(", ")
            )
        };
        anyhow::bail!(
            "{}: nothing to score: no image files (png, tif, tiff, dcm, dicom, or DICOM without an extension) in this folder; {hint}",
            dir.display()
        );
    }
    if !nested.is_empty() {
        tracing::warn!(
            "subfolders of {} with images are not scanned (only files directly in --images are): {}",
            dir.display(),
            nested.join(", ")
        );
    }
    Ok(images)
}

/// Reads raw annotated cases (image, 30 landmarks, mask) for U-net training.
pub fn load_raw_cases(
    ds: &Dataset,
    ids: &[String],
    mask_dir: &str,
) -> Result<Vec<aac_unet::train::RawCase>> {
    use rayon::prelude::*;
    ids.par_iter()
        .map(|id| raw_case(ds, id, mask_dir, true).map(|(c, _)| c))
        .collect()
}

/// Like [`load_raw_cases`], but a scan without a mask gets a blank one;
/// says which scans have theirs.
pub fn load_raw_cases_some_masked(
    ds: &Dataset,
    ids: &[String],
    mask_dir: &str,
) -> Result<Vec<(aac_unet::train::RawCase, bool)>> {
    use rayon::prelude::*;
    ids.par_iter()
        .map(|id| raw_case(ds, id, mask_dir, false))
        .collect()
}

/// One scan's image, 30 points and mask (a blank one when it has none and
/// `required` is false), and whether it had one.
fn raw_case(
    ds: &Dataset,
    id: &str,
    mask_dir: &str,
    required: bool,
) -> Result<(aac_unet::train::RawCase, bool)> {
    let img = aac_io::read_image(&ds.image_path(id))?;
    let landmarks = aac_io::read_pts_n(&ds.landmarks_path(id), aac_io::N_POINTS)?;
    let path = ds.mask_path(id, mask_dir);
    let has_mask = required || path.is_file();
    let mask = if has_mask {
        aac_io::read_mask(&path, Some(img.dimensions()))?
    } else {
        aac_io::Gray8::new(img.width(), img.height())
    };
    Ok((
        aac_unet::train::RawCase {
            id: id.to_string(),
            image: aac_io::image_io::to_f32(&img),
            width: img.width() as usize,
            height: img.height() as usize,
            landmarks,
            mask,
        },
        has_mask,
    ))
}

/// How many of `n` images [`split_ids`] holds out for validation.
pub fn validation_count(n: usize, val_fraction: f64) -> usize {
    let n_val = ((n as f64) * val_fraction.clamp(0.0, 0.9)).round() as usize;
    if n >= 2 {
        n_val.max(1).min(n - 1)
    } else {
        0
    }
}

/// Splits ids deterministically into (train, validation): every k-th
/// image to validation, spread over the cohort.
pub fn split_ids(ids: &[String], val_fraction: f64) -> (Vec<String>, Vec<String>) {
    let n_val = validation_count(ids.len(), val_fraction);
    // Every k-th image goes to validation, spread over the cohort.
    let step = ids.len() as f64 / n_val.max(1) as f64;
    let val: Vec<usize> = (0..n_val)
        .map(|i| ((i as f64 + 0.5) * step) as usize)
        .collect();
    let (mut t, mut v) = (Vec::new(), Vec::new());
    for (i, id) in ids.iter().enumerate() {
        if val.contains(&i) {
            v.push(id.clone())
        } else {
            t.push(id.clone())
        }
    }
    (t, v)
}
