//! Synthetic cohorts on disk (`aac synth`, the demo's cohort) and the
//! montage of a dataset (`aac montage`).

use crate::progress::bar;
use aac_io::draw::{display_rgb, dot, hstack, overlay_labels, resize_to_height};
use aac_io::{read_image, read_mask, read_pts, write_rgb_png, Dataset};
use aac_synth::{write_cohort, CohortOptions, CohortSummary};
use anyhow::{anyhow, Result};
use image::Rgb;
use std::path::Path;

/// The entries of a dataset that `aac synth` writes.
const DATASET_ENTRIES: [&str; 6] = [
    "images",
    "landmarks",
    "masks",
    "masks2",
    "scores.csv",
    "truth.json",
];

/// Refuses a non-empty output directory (stale images of an earlier cohort
/// would pass `aac check` beside the new ones), or with `force` removes the
/// dataset entries in it.
pub fn prepare_output(out: &Path, force: bool) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Ok(());
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    if !force {
        return Err(anyhow!(
            "{}: output directory is not empty ({} entries); choose a new directory, or pass --force to replace the dataset in it",
            out.display(),
            names.len()
        ));
    }
    remove_dataset_entries(out)
}

/// Removes the dataset entries `aac synth` writes ([`DATASET_ENTRIES`]) from
/// `out`, so that a new cohort written there has no stale files.
pub fn remove_dataset_entries(out: &Path) -> Result<()> {
    for name in DATASET_ENTRIES {
        let p = out.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let removed = if meta.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        removed.map_err(|e| anyhow!("{}: cannot remove: {e}", p.display()))?;
    }
    Ok(())
}

/// Writes a synthetic cohort to `out` (`aac synth`): refuses a non-empty
/// directory unless `force`, which first removes the dataset written there.
pub fn synth_cohort(out: &Path, opts: &CohortOptions, force: bool) -> Result<CohortSummary> {
    if opts.n == 0 {
        return Err(anyhow!("--n must be at least 1"));
    }
    prepare_output(out, force)?;
    let pb = bar(opts.n as u64, "synth");
    let summary = write_cohort(out, opts, &|| pb.inc(1))?;
    pb.finish_and_clear();
    Ok(summary)
}

/// What a montage shows.
#[derive(Debug, Clone, Copy)]
pub struct MontageOptions {
    /// Images (the first of the dataset).
    pub n: usize,
    /// Height of each tile in pixels.
    pub height: u32,
    /// Draw the masks and landmarks over the images.
    pub overlays: bool,
    /// Show only the lumbar spine: T12 to the sacrum, from behind the
    /// bodies to in front of the aorta (needs the landmarks).
    pub lumbar: bool,
}

/// The region of an image around its L1-L4 bodies and aorta: the 30 points'
/// box, widened by a level above and below and half a body's depth behind.
fn lumbar_box(pts: &[aac_io::Point], w: u32, h: u32) -> (u32, u32, u32, u32) {
    aac_io::draw::padded_box(
        pts.iter().copied(),
        |span| {
            let level = span / 5.0;
            [0.8 * level, level, 0.8 * level, 1.5 * level]
        },
        w,
        h,
    )
}

/// Writes a montage of the first images of a dataset to `out`.
pub fn montage(data: &Path, o: &MontageOptions, out: &Path) -> Result<()> {
    let ds = Dataset::open(data)?;
    let mut tiles = Vec::new();
    for id in ds.ids().into_iter().take(o.n) {
        let img = read_image(&ds.image_path(&id))?;
        let mut rgb = display_rgb(&img);
        let mp = ds.mask_path(&id, "masks");
        if o.overlays && mp.exists() {
            let mask = read_mask(&mp, Some(img.dimensions()))?;
            // Thin labels thickened so they stay visible after downscaling.
            let dilated = imageproc::morphology::grayscale_dilate(
                &mask,
                &imageproc::morphology::Mask::square(2),
            );
            overlay_labels(&mut rgb, &dilated, 0.8);
        }
        let lp = ds.landmarks_path(&id);
        let pts = if lp.exists() {
            Some(read_pts(&lp)?)
        } else {
            None
        };
        if let (true, Some(pts)) = (o.overlays, &pts) {
            let r = (img.height() / 300).max(2) as i32;
            for (i, p) in pts.iter().enumerate() {
                let c = if i < 20 {
                    Rgb([60, 230, 60])
                } else {
                    Rgb([255, 200, 0])
                };
                dot(&mut rgb, *p, r, c);
            }
        }
        if o.lumbar {
            let pts = pts.ok_or_else(|| {
                anyhow!(
                    "{}: --lumbar needs the landmarks to find the lumbar spine",
                    lp.display()
                )
            })?;
            let (x, y, w, h) = lumbar_box(&pts, rgb.width(), rgb.height());
            rgb = image::imageops::crop_imm(&rgb, x, y, w, h).to_image();
        }
        tiles.push(resize_to_height(&rgb, o.height));
    }
    if tiles.is_empty() {
        return Err(anyhow!("{}: the dataset has no images", data.display()));
    }
    write_rgb_png(out, &hstack(&tiles, 6))?;
    Ok(())
}
