//! Automatic spine landmarks in the pipeline: training the bundle's finder
//! and `aac landmarks`, which writes the found points of a directory of
//! scans as `.pts` files with a table of confidences and QC overlays.

use crate::bundle;
use crate::progress::{bar, EpochClock};
use crate::qc::{QcFlag, Status};
use crate::run_record::RunRecord;
use crate::table::{
    csv_line, fingerprint, read_provenance, read_rows, table_text, Appender, PROVENANCE_FILE,
};
use aac_io::draw::{cross, display_rgb, line, resize_to_height};
use aac_io::{read_image, Gray16, Point};
use aac_landmarks::train::Progress;
use aac_landmarks::{Annotated, Finder, FinderTraining, Found, LandmarkError};
use aac_unet::train::RawCase;
use anyhow::{bail, Context, Result};
use image::Rgb;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The columns of `landmarks.csv`.
pub const COLUMNS: [&str; 5] = ["id", "status", "confidence", "message", "flags"];

/// Colour of found points in overlays (given points are drawn in green).
pub const FOUND_COLOUR: Rgb<u8> = Rgb([255, 60, 200]);
/// Colour of the sacrum's top, where the finder's sacrum-top locator put
/// it, in `aac landmarks` overlays.
pub const SACRUM_COLOUR: Rgb<u8> = Rgb([255, 170, 0]);
/// Colour of given points in overlays.
pub const GIVEN_COLOUR: Rgb<u8> = Rgb([60, 230, 90]);

/// Trains the finder on annotated cases (from the finder `base` when
/// fine-tuning) with a progress bar per epoch; returns its bytes.
/// `sacrum_tops` (by id, [`crate::dataset_util::sacrum_tops`]) are what
/// the sacrum-top locator learns from.
pub fn train_finder_with_progress(
    cfg: &FinderTraining,
    base: Option<&[u8]>,
    (train, val): (&[RawCase], &[RawCase]),
    sacrum_tops: &BTreeMap<String, Point>,
) -> Result<Vec<u8>> {
    let (train, val) = (annotated(train, sacrum_tops), annotated(val, sacrum_tops));
    if base.is_none() && cfg.sacrum_epochs > 0 {
        let known = train.iter().filter(|a| a.sacrum_top.is_some()).count();
        let needed = aac_landmarks::train::MIN_SACRUM_SCANS;
        let why = "the finder is trained without its sacrum-top locator (docs/landmarks.md)";
        match known {
            0 => tracing::info!(
                "no training scan says where the sacrum's top is (truth.json of `aac synth`): {why}"
            ),
            k if k < needed => tracing::warn!(
                "{k} training scans say where the sacrum's top is ({needed} needed): {why}"
            ),
            _ => {}
        }
    }
    let mut pb: Option<indicatif::ProgressBar> = None;
    let epochs_of = |stage: &str| match stage {
        "coarse" => cfg.coarse_epochs,
        "sacrum" => cfg.sacrum_epochs,
        _ => cfg.epochs,
    };
    let mut clock = EpochClock::new(0);
    let bytes = aac_landmarks::train_finder_from(cfg, base, &train, &val, &mut |p| match p {
        Progress::EpochStart {
            stage,
            epoch,
            steps,
        } => {
            if epoch == 1 {
                clock = EpochClock::new(epochs_of(stage));
            }
            pb = Some(bar(steps as u64, &format!("{stage} ep {epoch}")));
        }
        Progress::Step => {
            if let Some(b) = &pb {
                b.inc(1);
            }
        }
        Progress::Member { member, of } => tracing::info!(
            "landmark finder {member} of {of} (seed {})",
            cfg.seed + member as u64 - 1
        ),
        Progress::EpochEnd {
            stage,
            epoch,
            loss,
            val_error,
        } => {
            if let Some(b) = pb.take() {
                b.finish_and_clear();
            }
            tracing::info!(
                "landmarks {stage} epoch {epoch}/{}: train loss {loss:.5}, validation median point error {:.2}% of the T12-L5 span, {}",
                epochs_of(stage),
                100.0 * val_error,
                clock.epoch_done(epoch)
            );
        }
    })?;
    Ok(bytes)
}

/// Borrowed views of annotated cases for the finder's training, with
/// their sacrum tops where known (by id).
pub fn annotated<'a>(
    cases: &'a [RawCase],
    sacrum_tops: &BTreeMap<String, Point>,
) -> Vec<Annotated<'a>> {
    cases
        .iter()
        .map(|c| Annotated {
            image: &c.image,
            width: c.width,
            height: c.height,
            points: &c.landmarks,
            sacrum_top: sacrum_tops.get(&c.id).copied(),
        })
        .collect()
}

/// Finds the spine points of 16-bit images with a finder.
pub fn find_points(finder: &Finder, images: &[&Gray16]) -> Vec<Result<Found, LandmarkError>> {
    let data: Vec<Vec<f32>> = images
        .par_iter()
        .map(|img| aac_io::image_io::to_f32(img))
        .collect();
    let inputs: Vec<(&[f32], usize, usize)> = data
        .iter()
        .zip(images)
        .map(|(d, img)| (d.as_slice(), img.width() as usize, img.height() as usize))
        .collect();
    finder.find(&inputs)
}

/// Draws a diamond around `at`, a little larger than a point's cross.
fn draw_diamond(rgb: &mut aac_io::Rgb8, at: Point, colour: Rgb<u8>) {
    let r = (rgb.height() as f64 / 60.0).max(8.0);
    let corners =
        [(0.0, -r), (r, 0.0), (0.0, r), (-r, 0.0)].map(|(dx, dy)| Point::new(at.x + dx, at.y + dy));
    for k in 0..4 {
        line(rgb, corners[k], corners[(k + 1) % 4], colour);
    }
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
    /// Wait for another run that holds `out` instead of refusing.
    #[serde(default)]
    pub wait: bool,
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

/// What to add to "every image failed" when some of the failures' messages
/// (`messages`) say the scan looks stored inverted: how many, and the way
/// out; empty when none does.
pub fn inverted_advice<'a>(messages: impl Iterator<Item = &'a str>) -> String {
    let n = messages
        .filter(|m| m.contains(aac_landmarks::error::LOOKS_INVERTED))
        .count();
    if n == 0 {
        return String::new();
    }
    format!(
        "; {n} of them look stored inverted, bone dark (`aac convert IN OUT.png --invert` writes an image bone-bright)"
    )
}

/// One row of `landmarks.csv`.
fn csv_row(id: &str, found: &Result<Found, String>) -> Vec<String> {
    match found {
        Ok(f) => vec![
            id.to_string(),
            if f.uncertain() {
                Status::Flagged
            } else {
                Status::Ok
            }
            .name()
            .into(),
            format!("{:.3}", f.confidence),
            // Why in doubt, then what the levels were checked against.
            f.doubts
                .iter()
                .chain(std::iter::once(&f.cue).filter(|c| !c.is_empty()))
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
            if f.uncertain() {
                QcFlag::LandmarksUncertain.name().into()
            } else {
                String::new()
            },
        ],
        Err(e) => vec![
            id.to_string(),
            Status::Error.name().into(),
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

/// The columns of the provenance table beside `landmarks.csv`.
const PROVENANCE_COLUMNS: [&str; 3] = ["id", "bundle", "image"];

/// Finds the spine points of every image in a directory (`aac landmarks`):
/// `out/<id>.pts` (20 points in the contract's order, ISBE format),
/// `out/landmarks.csv` and, when asked, `out/overlays/<id>.png`. The folder
/// is locked for the run; rows are appended as images are done, so a run
/// that stops is resumed by running it again (images already done with the
/// same bundle and an unchanged file are kept). Fails when every image
/// failed.
pub fn find_landmarks(a: &LandmarksConfig) -> Result<LandmarksSummary> {
    crate::progress::in_pool(a.jobs, || find_landmarks_in_pool(a))
}

/// The rows (with their provenance) of earlier runs that still hold: the
/// `.pts` still there for those that found points, and, for this run's
/// images, the same bundle and an unchanged image file. Rows of images not
/// in this run (an earlier run over other images) are kept as they are.
fn rows_to_keep(
    a: &LandmarksConfig,
    images: &std::collections::BTreeMap<String, PathBuf>,
    checksum: &str,
) -> Result<Vec<(Vec<String>, Vec<String>)>> {
    let csv_path = a.out.join("landmarks.csv");
    let what = "an `aac landmarks` table; choose another --out";
    let provenance = read_provenance(&a.out.join(PROVENANCE_FILE), &PROVENANCE_COLUMNS)?;
    Ok(read_rows(&csv_path, &COLUMNS, what)?
        .into_iter()
        .filter_map(|r| {
            let id = r[0].clone();
            let prov = provenance.get(&id)?;
            let current = match images.get(&id) {
                Some(img) => prov == &vec![checksum.to_string(), fingerprint(img)],
                None => true,
            };
            let has_points = r[1] == "error" || a.out.join(format!("{id}.pts")).is_file();
            (current && has_points)
                .then(|| (r, std::iter::once(id).chain(prov.iter().cloned()).collect()))
        })
        .collect())
}

fn find_landmarks_in_pool(a: &LandmarksConfig) -> Result<LandmarksSummary> {
    let b = bundle::load(&a.model)?;
    let finder = b.finder(&a.model)?;
    let images = crate::dataset_util::images_to_score(&a.images)?;
    let _lock =
        aac_io::OutputLock::acquire(&a.out, "aac landmarks", aac_io::WhenHeld::from_wait(a.wait))?;
    let mut record = RunRecord::start("landmarks", Vec::new(), a);
    record.bundle = Some(b.checksum.clone());
    record.bundle_training = Some(b.header.training_summary());
    record.write(&a.out)?;
    let kept = rows_to_keep(a, &images, &b.checksum)?;
    let csv_path = a.out.join("landmarks.csv");
    let prov_path = a.out.join(PROVENANCE_FILE);
    aac_io::write_string_atomic(&csv_path, &table_text(&COLUMNS, kept.iter().map(|k| &k.0)))?;
    aac_io::write_string_atomic(
        &prov_path,
        &table_text(&PROVENANCE_COLUMNS, kept.iter().map(|k| &k.1)),
    )?;
    let done: std::collections::BTreeSet<&str> = kept.iter().map(|k| k.0[0].as_str()).collect();
    let items: Vec<(&String, &PathBuf)> = images
        .iter()
        .filter(|(id, _)| !done.contains(id.as_str()))
        .collect();
    tracing::info!(
        "{} images to find points in ({} already done)",
        items.len(),
        done.len()
    );
    let mut rows_out = Appender::open(&csv_path)?;
    let mut prov_out = Appender::open(&prov_path)?;
    let mut pb = crate::progress::CohortProgress::new(items.len() as u64, "landmarks");
    for chunk in items.chunks((rayon::current_num_threads() * 4).max(8)) {
        let read: Vec<Result<Gray16, String>> = chunk
            .par_iter()
            .map(|(_, p)| read_image(p).map_err(|e| e.to_string()))
            .collect();
        let found =
            crate::batch::run_matched(&read, |r| r.as_ref().ok(), |ok| find_points(finder, &ok));
        let (mut lines, mut prov_lines) = (String::new(), String::new());
        for (((id, path), img), found) in chunk.iter().zip(&read).zip(found) {
            let f: Result<Found, String> = match img {
                Err(e) => Err(e.clone()),
                Ok(_) => match found {
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
                    if let Some(top) = f.sacrum_top {
                        draw_diamond(&mut rgb, top, SACRUM_COLOUR);
                    }
                    aac_io::write_rgb_png(
                        &a.out.join("overlays").join(format!("{id}.png")),
                        &resize_to_height(&rgb, 1000.min(rgb.height())),
                    )?;
                }
            } else {
                // A .pts left by an earlier run would be taken for this
                // run's points (by `aac predict --landmarks`, say).
                remove_stale(&a.out.join(format!("{id}.pts")))?;
                remove_stale(&a.out.join("overlays").join(format!("{id}.png")))?;
            }
            lines.push_str(&csv_line(&csv_row(id, &f)));
            prov_lines.push_str(&csv_line(&[
                id.to_string(),
                b.checksum.clone(),
                fingerprint(path),
            ]));
        }
        // The provenance first: a row without its record is done again.
        prov_out.append(&prov_lines)?;
        rows_out.append(&lines)?;
        pb.inc(chunk.len() as u64);
    }
    pb.finish();
    let all = read_rows(&csv_path, &COLUMNS, "an `aac landmarks` table")?;
    record.finish(
        all.iter()
            .map(|r| (r[0].as_str(), r[1].as_str(), r[4].as_str())),
    );
    record.write(&a.out)?;
    let count = |s: &str| record.counts.get(s).copied().unwrap_or(0);
    let summary = LandmarksSummary {
        images: all.len(),
        ok: count("ok"),
        flagged: count("flagged"),
        errors: count("error"),
    };
    tracing::info!(
        "found points in {} of {} images ({} flagged for review, {} errors); {}",
        summary.ok + summary.flagged,
        summary.images,
        summary.flagged,
        summary.errors,
        csv_path.display()
    );
    // Every image of this run failed, now or in an earlier run.
    let mine: Vec<&Vec<String>> = all.iter().filter(|r| images.contains_key(&r[0])).collect();
    if !mine.is_empty() && mine.iter().all(|r| r[1] == "error") {
        let advice = inverted_advice(mine.iter().map(|r| r[3].as_str()));
        bail!(
            "no points were found in any of the {} images (see the message column of {}){advice}",
            mine.len(),
            csv_path.display()
        );
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advice_counts_the_scans_that_look_inverted() {
        let inverted = aac_landmarks::LandmarkError::LooksInverted {
            why: "no usable L1-L4 found: x".into(),
            confidence: 0.9,
        }
        .to_string();
        let messages = [inverted.as_str(), "no spine found", inverted.as_str()];
        let advice = inverted_advice(messages.into_iter());
        assert!(
            advice.starts_with("; 2 of them look stored inverted") && advice.contains("--invert"),
            "{advice}"
        );
        assert_eq!(inverted_advice(["no spine found"].into_iter()), "");
    }
}
