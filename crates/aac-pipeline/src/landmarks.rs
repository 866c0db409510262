//! Automatic spine landmarks in the pipeline: training the bundle's finder
//! and `aac landmarks`, which writes the found points of a directory of
//! scans as `.pts` files with a table of confidences and QC overlays.

use crate::bundle;
use crate::progress::bar;
use aac_io::dataset::list_images;
use aac_io::draw::{cross, display_rgb, line, resize_to_height};
use aac_io::{read_image, Gray16, Point};
use aac_landmarks::train::Progress;
use aac_landmarks::{Annotated, Finder, FinderTraining, Found, LandmarkError};
use aac_unet::train::RawCase;
use anyhow::{bail, Context, Result};
use image::Rgb;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The columns of `landmarks.csv`.
pub const COLUMNS: [&str; 5] = ["id", "status", "confidence", "message", "flags"];

/// Colour of found points in overlays (given points are drawn in green).
pub const FOUND_COLOUR: Rgb<u8> = Rgb([255, 60, 200]);
/// Colour of given points in overlays.
pub const GIVEN_COLOUR: Rgb<u8> = Rgb([60, 230, 90]);

/// Trains the finder on annotated cases with a progress bar per epoch;
/// returns its bytes.
pub fn train_finder_with_progress(
    cfg: &FinderTraining,
    train: &[RawCase],
    val: &[RawCase],
) -> Result<Vec<u8>> {
    let (train, val) = (annotated(train), annotated(val));
    let mut pb: Option<indicatif::ProgressBar> = None;
    let bytes = aac_landmarks::train_finder(cfg, &train, &val, &mut |p| match p {
        Progress::EpochStart {
            stage,
            epoch,
            steps,
        } => pb = Some(bar(steps as u64, &format!("{stage} ep {epoch}"))),
        Progress::Step => {
            if let Some(b) = &pb {
                b.inc(1);
            }
        }
        Progress::EpochEnd {
            stage,
            epoch,
            loss,
            val_error,
        } => {
            if let Some(b) = pb.take() {
                b.finish_and_clear();
            }
            let of = if stage == "coarse" {
                cfg.coarse_epochs
            } else {
                cfg.epochs
            };
            tracing::info!(
                "landmarks {stage} epoch {epoch}/{of}: train loss {loss:.5}, validation median point error {:.2}% of the T12-L5 span",
                100.0 * val_error
            );
        }
    })?;
    Ok(bytes)
}

/// Borrowed views of annotated cases for the finder's training.
fn annotated(cases: &[RawCase]) -> Vec<Annotated<'_>> {
    cases
        .iter()
        .map(|c| Annotated {
            image: &c.image,
            width: c.width,
            height: c.height,
            points: &c.landmarks,
        })
        .collect()
}

/// Finds the spine points of 16-bit images with a finder.
pub fn find_points(finder: &Finder, images: &[&Gray16]) -> Vec<Result<Found, LandmarkError>> {
    let data: Vec<Vec<f32>> = images
        .par_iter()
        .map(|img| img.as_raw().iter().map(|&v| v as f32).collect())
        .collect();
    let inputs: Vec<(&[f32], usize, usize)> = data
        .iter()
        .zip(images)
        .map(|(d, img)| (d.as_slice(), img.width() as usize, img.height() as usize))
        .collect();
    finder.find(&inputs)
}

/// Draws spine points as crosses joined around each vertebra.
pub fn draw_points(rgb: &mut aac_io::Rgb8, points: &[Point], colour: Rgb<u8>) {
    let arm = (rgb.height() as f64 / 250.0).max(3.0);
    for p in points.iter().take(aac_io::N_SPINE) {
        cross(rgb, *p, arm, colour);
    }
    if points.len() >= aac_io::N_SPINE {
        for v in 0..4 {
            let c = aac_io::pts::index::corners(v);
            for k in 0..4 {
                line(rgb, points[c[k]], points[c[(k + 1) % 4]], colour);
            }
        }
    }
}

/// Settings of `aac landmarks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LandmarksConfig {
    /// Model bundle with a landmark finder.
    pub model: PathBuf,
    /// Directory of raw images.
    pub images: PathBuf,
    /// Output directory: `<id>.pts`, `landmarks.csv`, `overlays/`.
    pub out: PathBuf,
    /// Worker threads (None: all cores).
    pub jobs: Option<usize>,
    /// Write an overlay of the found points per image.
    pub overlays: bool,
}

/// What `aac landmarks` did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LandmarksSummary {
    /// Images processed.
    pub images: usize,
    /// Images whose points were written with status `ok`.
    pub ok: usize,
    /// Images whose points were written but flagged for review.
    pub flagged: usize,
    /// Images without points (errors).
    pub errors: usize,
}

/// One row of `landmarks.csv`.
fn csv_row(id: &str, found: &Result<Found, String>) -> [String; 5] {
    match found {
        Ok(f) => [
            id.to_string(),
            if f.uncertain() { "flagged" } else { "ok" }.into(),
            format!("{:.3}", f.confidence),
            f.doubts.join("; "),
            if f.uncertain() {
                aac_landmarks::UNCERTAIN_FLAG.into()
            } else {
                String::new()
            },
        ],
        Err(e) => [
            id.to_string(),
            "error".into(),
            String::new(),
            e.clone(),
            String::new(),
        ],
    }
}

/// Removes a file an earlier run wrote, if there is one.
fn remove_stale(path: &std::path::Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing the stale {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Finds the spine points of every image in a directory (`aac landmarks`):
/// `out/<id>.pts` (20 points in the contract's order, ISBE format),
/// `out/landmarks.csv` and, when asked, `out/overlays/<id>.png`. Fails when
/// every image failed.
pub fn find_landmarks(a: &LandmarksConfig) -> Result<LandmarksSummary> {
    crate::progress::in_pool(a.jobs, || find_landmarks_in_pool(a))
}

fn find_landmarks_in_pool(a: &LandmarksConfig) -> Result<LandmarksSummary> {
    let b = bundle::load(&a.model)?;
    let finder = b.finder(&a.model)?;
    let images = list_images(&a.images)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let items: Vec<(&String, &PathBuf)> = images.iter().collect();
    let pb = bar(items.len() as u64, "landmarks");
    let mut rows = Vec::with_capacity(items.len());
    let mut summary = LandmarksSummary {
        images: items.len(),
        ..Default::default()
    };
    for chunk in items.chunks((rayon::current_num_threads() * 4).max(8)) {
        let read: Vec<Result<Gray16, String>> = chunk
            .par_iter()
            .map(|(_, p)| read_image(p).map_err(|e| e.to_string()))
            .collect();
        let ok: Vec<&Gray16> = read.iter().filter_map(|r| r.as_ref().ok()).collect();
        let mut found = find_points(finder, &ok).into_iter();
        for ((id, path), img) in chunk.iter().zip(&read) {
            let f: Result<Found, String> = match img {
                Err(e) => Err(e.clone()),
                Ok(_) => match found.next() {
                    Some(Ok(f)) => Ok(f),
                    Some(Err(e)) => Err(format!("{}: {e}", path.display())),
                    None => Err("the finder returned nothing (internal error)".into()),
                },
            };
            if let (Ok(f), Ok(img)) = (&f, img) {
                aac_io::write_pts(&a.out.join(format!("{id}.pts")), &f.points)?;
                if a.overlays {
                    let mut rgb = display_rgb(img);
                    draw_points(&mut rgb, &f.points, FOUND_COLOUR);
                    aac_io::write_rgb_png(
                        &a.out.join("overlays").join(format!("{id}.png")),
                        &resize_to_height(&rgb, 1000.min(rgb.height())),
                    )?;
                }
                if f.uncertain() {
                    summary.flagged += 1;
                } else {
                    summary.ok += 1;
                }
            } else {
                // A .pts left by an earlier run would be taken for this
                // run's points (by `aac predict --landmarks`, say).
                remove_stale(&a.out.join(format!("{id}.pts")))?;
                remove_stale(&a.out.join("overlays").join(format!("{id}.png")))?;
                summary.errors += 1;
            }
            rows.push(csv_row(id, &f));
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(COLUMNS)?;
    for r in &rows {
        w.write_record(r.iter().map(|c| aac_io::guard_cell(c).into_owned()))?;
    }
    let text = w.into_inner().context("writing landmarks.csv")?;
    aac_io::write_bytes_atomic(&a.out.join("landmarks.csv"), &text)?;
    tracing::info!(
        "found points in {} of {} images ({} flagged for review, {} errors); {}",
        summary.ok + summary.flagged,
        summary.images,
        summary.flagged,
        summary.errors,
        a.out.join("landmarks.csv").display()
    );
    if summary.images > 0 && summary.errors == summary.images {
        bail!(
            "no points were found in any of the {} images (see the message column of {})",
            summary.images,
            a.out.join("landmarks.csv").display()
        );
    }
    Ok(summary)
}
