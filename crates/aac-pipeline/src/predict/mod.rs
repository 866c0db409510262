//! `aac predict` and `aac merge`: scoring a whole cohort of new scans with a
//! bounded, resumable, parallel pipeline and a QC page. The parts: `config`
//! (settings, shards, the provenance key), `resume` (what an output already
//! holds), `stages` (locate, prepare, segment, score), `qc_flags`,
//! `overlay`, `index_page`, `merge`; this file holds the columns and the run
//! loop.

mod config;
mod index_page;
mod merge;
mod overlay;
mod qc_flags;
mod resume;
mod row;
mod stages;
pub mod uncertainty;

pub use config::{PredictConfig, Shard, CHUNK_PER_THREAD};
pub use merge::{merge, MergeConfig};
pub use overlay::{overlay_path, thumb_path, Overlay, OVERLAY_MAX_BYTES};
pub use row::{LandmarkSource, Row};
pub use stages::{roi_probabilities, RoiProbabilities};
#[allow(unused_imports)] // each part uses its own subset through `super::*`
use {config::*, overlay::*, qc_flags::*, resume::*, row::*, stages::*};

use crate::bundle::{self, Bundle};
use crate::progress::CohortProgress;
use crate::qc::{flags_cell, QcFlag, Status};
use crate::roi_labels::{roi_scores, RoiLabels};
use crate::run_record::RunRecord;
use crate::table::{
    csv_line, fingerprint, read_provenance, read_rows, table_text, Appender, PROVENANCE_FILE,
};
use aac_io::draw::{display_rgb, line, overlay_labels, resize_to_height, text};
use aac_io::{read_image_spaced, Gray8, Point, ROI_HEIGHT, ROI_WIDTH};
use aac_score::{score_fields, wall_lengths_mm, Grouping};
use aac_warp::{prepare_roi, row_lengths_mm, unwarp_labels, AortaSource, WarpMap};
use anyhow::{bail, Context, Result};
use image::Rgb;
use index_page::write_index;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

/// Columns predict adds after the score table's.
const PREDICT_EXTRA_COLUMNS: [&str; 7] = [
    "status",
    "message",
    "flags",
    "landmarks",
    "landmark_confidence",
    "pixel_spacing_mm",
    "uncertainty",
];

/// The columns of predict's scores.csv: the score table's header
/// ([`aac_score::SCORE_CSV_HEADER`]), then status, message, flags,
/// landmarks (`given` from a `.pts` file, `found` by the bundle's finder now
/// or by `aac landmarks`, `none` when no points were had), the finder's
/// confidence, the pixel spacing used (mm; `ROWxCOL` when not square) and
/// the scan's uncertainty ([`uncertainty`]).
pub const COLUMNS: [&str; aac_score::SCORE_CSV_HEADER.len() + PREDICT_EXTRA_COLUMNS.len()] = {
    let head = aac_score::SCORE_CSV_HEADER;
    let mut out = [""; aac_score::SCORE_CSV_HEADER.len() + PREDICT_EXTRA_COLUMNS.len()];
    let mut i = 0;
    while i < head.len() {
        out[i] = head[i];
        i += 1;
    }
    let mut j = 0;
    while j < PREDICT_EXTRA_COLUMNS.len() {
        out[head.len() + j] = PREDICT_EXTRA_COLUMNS[j];
        j += 1;
    }
    out
};

/// Where predict keeps the spine points a row was scored with (given or
/// found): `OUT/points/<id>.pts`.
pub fn points_path(out: &Path, id: &str) -> PathBuf {
    out.join("points").join(format!("{id}.pts"))
}

/// Pixels of a warped region of interest.
const PIXELS: usize = (ROI_WIDTH * ROI_HEIGHT) as usize;

/// Scores a cohort (`aac predict`): every image of `images` with its
/// landmarks, appended to `out/scores.csv` chunk by chunk (resumable), with
/// QC flags, overlays and an index page. Fails when every image failed.
pub fn predict(a: &PredictConfig) -> Result<()> {
    crate::progress::in_pool(a.jobs, || predict_in_pool(a))
}

fn predict_in_pool(a: &PredictConfig) -> Result<()> {
    let b = bundle::load(&a.model)?;
    let threshold = a
        .threshold
        .map(|t| t.map(aac_score::Threshold::get))
        .unwrap_or(b.header.thresholds());
    let key = run_key(&b.checksum, a);
    let notes = finder_notes(a.landmarks.as_deref())?;
    if let Some(dir) = &a.landmarks {
        if !dir.is_dir() {
            bail!(
                "{}: landmark directory does not exist (--landmarks)",
                dir.display()
            );
        }
    } else {
        b.finder(&a.model)?;
    }
    // The given landmark file of an image, if any.
    let given = |id: &str| {
        a.landmarks
            .as_ref()
            .map(|d| d.join(format!("{id}.pts")))
            .filter(|p| p.exists())
    };
    let images = crate::dataset_util::images_to_score(&a.images)?;
    // From here on the output folder is this run's alone.
    let _lock =
        aac_io::OutputLock::acquire(&a.out, "aac predict", aac_io::WhenHeld::from_wait(a.wait))?;
    let previous = RunRecord::read(&a.out).ok().flatten();
    let shards = RunRecord::shards_after(previous.as_ref(), a.shard);
    let mut record = RunRecord::start("predict", shards, &a.with_absolute_paths());
    record.bundle = Some(key.clone());
    record.bundle_training = Some(b.header.training_summary());
    record.write(&a.out)?;
    let scores_path = a.out.join("scores.csv");
    let provenance_path = a.out.join(PROVENANCE_FILE);
    let provenance = read_provenance(&provenance_path, &PROVENANCE_COLUMNS)
        .with_context(|| format!("choose another --out than {}", a.out.display()))?;
    let (done_rows, stale): (Vec<Row>, Vec<Row>) = read_done(&scores_path)
        .with_context(|| format!("choose another --out than {}", a.out.display()))?
        .into_iter()
        .partition(|r| {
            let id = &r.id;
            images.get(id).is_some_and(|img| {
                provenance.get(id) == Some(&provenance_fields(&key, img, given(id).as_deref()))
            })
        });
    let (gone, changed): (Vec<&Row>, Vec<&Row>) =
        stale.iter().partition(|r| !images.contains_key(&r.id));
    if !changed.is_empty() {
        tracing::info!(
            "{} rows of {} were scored from other inputs or another bundle (or have no record): they are scored again",
            changed.len(),
            scores_path.display()
        );
    }
    if !gone.is_empty() {
        let ids: Vec<&str> = gone.iter().take(5).map(|r| r.id.as_str()).collect();
        tracing::warn!(
            "{} rows of {} are removed: their images are no longer in {} ({}{})",
            gone.len(),
            scores_path.display(),
            a.images.display(),
            ids.join(", "),
            if gone.len() > 5 { ", ..." } else { "" }
        );
    }
    let done: BTreeSet<String> = done_rows.iter().map(|r| r.id.clone()).collect();
    // Rewrite both files with only complete, current rows, so appending is
    // safe: the lock makes this run the only writer.
    let prov: Vec<Vec<String>> = done_rows
        .iter()
        .map(|r| {
            std::iter::once(r.id.clone())
                .chain(provenance[&r.id].iter().cloned())
                .collect()
        })
        .collect();
    aac_io::write_string_atomic(
        &scores_path,
        &table_text(&COLUMNS, done_rows.iter().map(Row::fields)),
    )?;
    aac_io::write_string_atomic(&provenance_path, &table_text(&PROVENANCE_COLUMNS, &prov))?;
    let todo: Vec<Item> = images
        .iter()
        .filter(|(id, _)| a.shard.is_none_or(|s| s.contains(id)))
        .filter(|(id, _)| !done.contains(*id))
        .map(|(id, p)| (id.clone(), p.clone(), given(id)))
        .collect();
    tracing::info!(
        "{} images to score ({} already done)",
        todo.len(),
        done.len()
    );
    let mut file = Appender::open(&scores_path)?;
    let mut prov_file = Appender::open(&provenance_path)?;
    let mut pb = CohortProgress::new(todo.len() as u64, "predict");
    let mut warned_spacing = false;
    let t0 = Instant::now();
    // Each stage of a chunk (read, find points, warp, U-net) waits for its
    // slowest image, and a scan re-framed by the finder adds a batch that
    // only one core works on: with 16 images per thread rather than 4 those
    // waits are shared by more images (docs/predict.md: finding points on
    // 1,000 scans about 7% faster, points given unchanged; peak memory 115
    // -> 180 MB).
    let chunk = (rayon::current_num_threads() * CHUNK_PER_THREAD).max(32);
    for items in todo.chunks(chunk) {
        let settings = ChunkSettings {
            overlays: a.overlays,
            default_spacing: a.pixel_spacing,
            thresholds: threshold,
            finder_notes: &notes,
        };
        let results = predict_chunk(&b, items, &settings);
        if !warned_spacing
            && results
                .iter()
                .any(|d| d.row.status != Status::Error && d.row.pixel_spacing_mm.is_empty())
        {
            warned_spacing = true;
            tracing::warn!(
                    "some images state no pixel spacing (DICOM PixelSpacing or ImagerPixelSpacing) and --pixel-spacing is not given: their wall lengths (ant_length_mm, post_length_mm) are left empty"
                );
        }
        let mut lines = String::new();
        for (d, (id, _, _)) in results.iter().zip(items) {
            if let Some(o) = &d.overlay {
                o.write(&a.out, id)?;
            }
            if let Some(points) = &d.points {
                aac_io::write_pts(&points_path(&a.out, id), points)?;
            }
            lines.push_str(&csv_line(&d.row.fields()));
        }
        let mut prov_lines = String::new();
        for (id, img, pts) in items {
            let mut p = vec![id.clone()];
            p.extend(provenance_fields(&key, img, pts.as_deref()));
            prov_lines.push_str(&csv_line(&p));
        }
        // The provenance first: a score row without its record is re-scored.
        prov_file.append(&prov_lines)?;
        file.append(&lines)?;
        pb.inc(items.len() as u64);
    }
    pb.finish();
    let all = read_done(&scores_path)?;
    write_index(&a.out, &all)?;
    record.finish(all.iter().map(row_summary));
    record.write(&a.out)?;
    let count = |status: &str| record.counts.get(status).copied().unwrap_or(0);
    tracing::info!(
        "scored {} images in {:.1} s ({:.2} images/s); {} total rows, {} errors, {} flagged; {}",
        todo.len(),
        t0.elapsed().as_secs_f64(),
        todo.len() as f64 / t0.elapsed().as_secs_f64().max(1e-9),
        all.len(),
        count("error"),
        count("flagged"),
        a.out.join("index.html").display()
    );
    // Every row of this run's part failed, now or on an earlier run.
    let mine: Vec<&Row> = all
        .iter()
        .filter(|r| a.shard.is_none_or(|s| s.contains(&r.id)))
        .collect();
    if !mine.is_empty() && mine.iter().all(|r| r.status == Status::Error) {
        bail!(
            "every one of the {} images failed (see the message column of {}){}",
            mine.len(),
            scores_path.display(),
            crate::landmarks::inverted_advice(mine.iter().map(|r| r.message.as_str()))
        );
    }
    Ok(())
}

/// The rows of a `predict` output folder's scores.csv (`aac review`, `aac
/// merge`); an error naming the folder when it holds none.
pub fn read_scores(out: &Path) -> Result<Vec<Row>> {
    let path = out.join("scores.csv");
    if !path.is_file() {
        bail!(
            "{}: no scores.csv: not an `aac predict` output folder",
            out.display()
        );
    }
    read_done(&path)
}

/// Scores one scan again with spine points a reader gave (`aac review`):
/// the row and overlay exactly as `aac predict` makes them, through the same
/// stages, with the run's `thresholds` and pixel spacing for images that
/// state none.
pub fn rescore_one(
    b: &Bundle,
    id: &str,
    image: &Path,
    points: &Path,
    thresholds: [f32; 2],
    default_spacing: Option<[f64; 2]>,
) -> (Row, Option<Overlay>) {
    let notes = BTreeMap::new();
    let settings = ChunkSettings {
        overlays: true,
        default_spacing,
        thresholds,
        finder_notes: &notes,
    };
    let items = [(
        id.to_string(),
        image.to_path_buf(),
        Some(points.to_path_buf()),
    )];
    let done = predict_chunk(b, &items, &settings)
        .pop()
        .expect("one row per item");
    (done.row, done.overlay)
}
