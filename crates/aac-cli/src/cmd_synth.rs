//! `aac synth` and `aac montage`.

use aac_io::draw::{display_rgb, dot, hstack, overlay_labels, resize_to_height};
use aac_io::{read_image, read_mask, read_pts, write_rgb_png, Dataset};
use aac_pipeline::progress::bar;
use aac_synth::{write_cohort, CohortOptions, Style};
use anyhow::{anyhow, Result};
use clap::Args;
use image::Rgb;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `aac synth`.
#[derive(Args)]
pub struct SynthArgs {
    /// Number of images.
    #[arg(long, default_value_t = 20)]
    n: usize,
    /// Random seed (same seed, same cohort).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output dataset root.
    #[arg(long)]
    out: PathBuf,
    /// Scanner/site style: `random` draws every image's look, anatomy and
    /// calcification from wide ranges (domain randomisation, for training);
    /// the named styles imitate one scanner each (for testing on a look not
    /// trained on).
    #[arg(long, default_value = Style::DEFAULT,
          value_parser = clap::builder::PossibleValuesParser::new(Style::NAMES))]
    style: String,
    /// Write images as DICOM (.dcm) instead of 16-bit PNG.
    #[arg(long)]
    dicom: bool,
    /// Every image has some calcification (like the paper's 195-image cohort).
    #[arg(long)]
    calcified_only: bool,
    /// Replace the dataset already in --out (its images/, landmarks/, masks/,
    /// masks2/, scores.csv and truth.json; nothing else is touched).
    #[arg(long)]
    force: bool,
}

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
fn prepare_output(out: &std::path::Path, force: bool) -> Result<()> {
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
pub(crate) fn remove_dataset_entries(out: &std::path::Path) -> Result<()> {
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

/// Runs `aac synth`.
pub fn synth(a: SynthArgs) -> Result<ExitCode> {
    let style = Style::by_name(&a.style).ok_or_else(|| {
        anyhow!(
            "unknown style {:?}; choose one of {}",
            a.style,
            Style::NAMES.join(", ")
        )
    })?;
    if a.n == 0 {
        return Err(anyhow!("--n must be at least 1"));
    }
    prepare_output(&a.out, a.force)?;
    let opts = CohortOptions {
        n: a.n,
        seed: a.seed,
        style,
        dicom: a.dicom,
        calcified_only: a.calcified_only,
    };
    let pb = bar(a.n as u64, "synth");
    let t0 = Instant::now();
    let summary = write_cohort(&a.out, &opts, &|| pb.inc(1))?;
    pb.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} images to {} in {:.1} s ({:.1} images/s); {} with AAC24 = 0, mean AAC24 {:.2}",
        summary.n,
        a.out.display(),
        secs,
        summary.n as f64 / secs,
        summary.zero,
        summary.mean_aac24
    );
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `aac montage`.
#[derive(Args)]
pub struct MontageArgs {
    /// Dataset root.
    #[arg(long)]
    data: PathBuf,
    /// Output PNG.
    #[arg(long)]
    out: PathBuf,
    /// Number of images.
    #[arg(long, default_value_t = 6)]
    n: usize,
    /// Height of each tile in pixels.
    #[arg(long, default_value_t = 420)]
    height: u32,
}

/// Runs `aac montage`.
pub fn montage(a: MontageArgs) -> Result<ExitCode> {
    let ds = Dataset::open(&a.data)?;
    let mut tiles = Vec::new();
    for id in ds.ids().into_iter().take(a.n) {
        let img = read_image(&ds.image_path(&id))?;
        let mut rgb = display_rgb(&img);
        let mp = ds.mask_path(&id, "masks");
        if mp.exists() {
            let mask = read_mask(&mp, Some(img.dimensions()))?;
            // Thin labels thickened so they stay visible after downscaling.
            let dilated = imageproc::morphology::grayscale_dilate(
                &mask,
                &imageproc::morphology::Mask::square(2),
            );
            overlay_labels(&mut rgb, &dilated, 0.8);
        }
        let lp = ds.landmarks_path(&id);
        if lp.exists() {
            let r = (img.height() / 300).max(2) as i32;
            for (i, p) in read_pts(&lp)?.iter().enumerate() {
                let c = if i < 20 {
                    Rgb([60, 230, 60])
                } else {
                    Rgb([255, 200, 0])
                };
                dot(&mut rgb, *p, r, c);
            }
        }
        tiles.push(resize_to_height(&rgb, a.height));
    }
    write_rgb_png(&a.out, &hstack(&tiles, 6))?;
    println!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
