//! `aac train bundle`, `aac predict` and `aac merge`: scoring a whole cohort
//! of new scans with a bounded, resumable, parallel pipeline and a QC page.

mod index_page;
mod merge;

pub use merge::{merge, MergeConfig};

use crate::bundle::{self, Bundle, BundleHeader};
use crate::dataset_util::load_raw_cases;
use crate::progress::CohortProgress;
use crate::qc::{flags_cell, QcFlag, Status};
use crate::roi_labels::{roi_scores, RoiLabels};
use crate::run_record::RunRecord;
use crate::seg::{split_ids, train_unet_with_progress, unet_config};
use crate::table::{
    csv_line, fingerprint, read_provenance, read_rows, table_text, Appender, PROVENANCE_FILE,
};
use aac_io::draw::{display_rgb, line, overlay_labels, resize_to_height, text};
use aac_io::{read_image_spaced, Dataset, Gray8, Point, ROI_HEIGHT, ROI_WIDTH};
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

/// Index of the `status` column in predict's scores.csv.
const STATUS_COLUMN: usize = aac_score::SCORE_CSV_HEADER.len();

/// Columns predict adds after the score table's.
const PREDICT_EXTRA_COLUMNS: [&str; 6] = [
    "status",
    "message",
    "flags",
    "landmarks",
    "landmark_confidence",
    "pixel_spacing_mm",
];

/// The columns of predict's scores.csv: the score table's header
/// ([`aac_score::SCORE_CSV_HEADER`]), then status, message, flags,
/// landmarks (`given` from a `.pts` file, `found` by the bundle's finder now
/// or by `aac landmarks`, `none` when no points were had), the finder's
/// confidence and the pixel spacing used (mm; `ROWxCOL` when not square).
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

/// Settings of `aac train bundle`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleConfig {
    /// Raw annotated dataset.
    pub data: PathBuf,
    /// Output bundle.
    pub out: PathBuf,
    /// U-net training.
    pub unet: crate::seg::UnetTraining,
    /// Landmark finder training (None: the bundle has no finder).
    pub landmarks: Option<aac_landmarks::FinderTraining>,
    /// Seed.
    pub seed: u64,
}

impl BundleConfig {
    /// The default settings ([`crate::defaults`]) for a dataset and an output.
    pub fn new(data: PathBuf, out: PathBuf) -> Self {
        use crate::defaults as d;
        BundleConfig {
            data,
            out,
            unet: crate::seg::UnetTraining::new(),
            landmarks: Some(aac_landmarks::FinderTraining::default()),
            seed: d::SEED,
        }
    }
}

/// Trains a bundle: the shape model and a 2-class U-net on the dataset, the
/// threshold and epoch chosen on a validation split (`aac train bundle`).
pub fn train_bundle(a: &BundleConfig) -> Result<()> {
    let ds = Dataset::open(&a.data)?;
    let ids = ds.ids();
    if ids.len() < 5 {
        bail!(
            "{}: at least 5 annotated images are needed",
            a.data.display()
        );
    }
    a.unet.check()?;
    if let Some(t) = &a.landmarks {
        t.check()?;
    }
    // Found now, not after every epoch.
    aac_io::check_writable(&a.out).context("--out")?;
    let all = load_raw_cases(&ds, &ids, "masks")?;
    if all.iter().all(|c| c.mask.as_raw().iter().all(|&v| v == 0)) {
        bail!(
            "{}: no mask has a calcified pixel, so the U-net has nothing to learn to find \
             (and its validation Dice would mean nothing); annotate calcified scans too",
            a.data.display()
        );
    }
    let shapes: Vec<Vec<Point>> = all.iter().map(|c| c.landmarks.clone()).collect();
    let ssm = aac_shape::ShapeModel::fit(&shapes, 0.98, 5)?;
    let (train_ids, val_ids) = split_ids(&ids, crate::defaults::VAL_FRACTION);
    let pick = |s: &[String]| {
        all.iter()
            .filter(|c| s.contains(&c.id))
            .cloned()
            .collect::<Vec<_>>()
    };
    let cfg = unet_config(2, &a.unet, a.seed);
    let (train_cases, val_cases) = (pick(&train_ids), pick(&val_ids));
    let trained = train_unet_with_progress(&cfg, &train_cases, &val_cases, &ssm, "bundle")?;
    let mut payload = trained.model.clone();
    let landmarks = match &a.landmarks {
        Some(t) => {
            let t = aac_landmarks::FinderTraining {
                seed: a.seed,
                ..t.clone()
            };
            let finder =
                crate::landmarks::train_finder_with_progress(&t, &train_cases, &val_cases)?;
            payload.extend_from_slice(&finder);
            Some(bundle::LandmarkSection {
                unet_bytes: trained.model.len(),
                training: t,
            })
        }
        None => None,
    };
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for c in &all {
        h = bundle::fnv1a(c.id.as_bytes(), h);
        for p in &c.landmarks {
            h = bundle::fnv1a(&p.x.to_le_bytes(), h);
            h = bundle::fnv1a(&p.y.to_le_bytes(), h);
        }
        h = bundle::fnv1a(c.mask.as_raw(), h);
    }
    let header = BundleHeader {
        format: "aac-bundle".into(),
        version: bundle::VERSION,
        aac_version: env!("CARGO_PKG_VERSION").into(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        data_hash: format!("{h:016x}"),
        n_images: ids.len(),
        val_dsc: trained.header.val_dice,
        threshold: trained.header.threshold,
        ssm,
        training: Some(a.unet.clone()),
        landmarks,
    };
    bundle::save(&a.out, &header, &payload)?;
    tracing::info!(
        "wrote {} (trained on {} images, validation Dice {}, threshold {:.1})",
        a.out.display(),
        ids.len(),
        header
            .val_dsc
            .map(|d| format!("{d:.3}"))
            .unwrap_or("-".into()),
        header.threshold
    );
    Ok(())
}

/// Settings of `aac predict`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictConfig {
    /// Model bundle from `aac train bundle`.
    pub model: PathBuf,
    /// Directory of raw images (PNG, TIFF, DICOM).
    pub images: PathBuf,
    /// Directory of .pts files with at least the 20 spine points (None, or
    /// an image without a file there: the bundle's finder finds them).
    pub landmarks: Option<PathBuf>,
    /// Output directory (scores.csv, provenance.csv, index.html, overlays/).
    pub out: PathBuf,
    /// Worker threads (None: all cores).
    pub jobs: Option<usize>,
    /// Write a QC overlay per image.
    pub overlays: bool,
    /// Process only this part of the images.
    pub shard: Option<Shard>,
    /// Pixel spacing [row, column] in mm for images that do not state it;
    /// DICOM PixelSpacing / ImagerPixelSpacing takes precedence.
    pub pixel_spacing: Option<[f64; 2]>,
    /// Probability thresholds (anterior, posterior) in place of the
    /// bundle's (None: the bundle's, chosen on its validation split). Rows
    /// scored with other thresholds are scored again on resume.
    pub threshold: Option<[f32; 2]>,
    /// Wait for another run that holds `out` instead of refusing.
    #[serde(default)]
    pub wait: bool,
}

impl PredictConfig {
    /// Checks the settings that do not need the files.
    pub fn check(&self) -> Result<()> {
        for t in self.threshold.into_iter().flatten() {
            if let Some(why) = aac_score::threshold_problem(t) {
                bail!("--threshold: {why}");
            }
        }
        Ok(())
    }
}

/// The provenance key of how a row was scored: the bundle's checksum, then
/// every option that changes a row or its files (threshold, pixel spacing,
/// overlays), so that a re-run with other options scores the rows again.
fn run_key(checksum: &str, a: &PredictConfig) -> String {
    let mut key = checksum.to_string();
    if let Some([ant, post]) = a.threshold {
        key.push_str(&format!("@threshold={ant},{post}"));
    }
    if let Some(sp) = a.pixel_spacing {
        key.push_str(&format!("@spacing={}", spacing_cell(sp)));
    }
    if a.overlays {
        key.push_str("@overlays");
    }
    key
}

/// Part K of N of a cohort (1-based), stable by id: `3/10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This part, 1..=n.
    pub k: u64,
    /// Number of parts.
    pub n: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("'{s}': a shard looks like K/N, e.g. 2/8"))?;
        let parse = |v: &str, what: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("'{s}': {what} is not a whole number"))
        };
        let (k, n) = (parse(k, "K")?, parse(n, "N")?);
        if n == 0 || k == 0 || k > n {
            return Err(format!("'{s}': need 1 <= K <= N"));
        }
        Ok(Shard { k, n })
    }
}

impl Shard {
    /// True if `id` belongs to this shard.
    pub fn contains(&self, id: &str) -> bool {
        shard_of(id, self.n) == self.k
    }
}

/// Images per worker thread in one chunk of `aac predict` (the unit of
/// reading, finding points, the U-net's batch and appending).
pub const CHUNK_PER_THREAD: usize = 16;

/// Pixels of a warped region of interest.
const PIXELS: usize = (ROI_WIDTH * ROI_HEIGHT) as usize;

/// One scored image (a row of scores.csv).
#[derive(Debug, Clone)]
struct Row {
    fields: Vec<String>,
}

/// Shard of an id: a stable hash, so shards do not depend on the file listing.
fn shard_of(id: &str, n: u64) -> u64 {
    bundle::fnv1a(id.as_bytes(), 0xcbf2_9ce4_8422_2325) % n + 1
}

/// Reads the complete rows of an existing scores.csv (a torn last line from a
/// crash is dropped).
fn read_done(path: &Path) -> Result<Vec<Row>> {
    Ok(read_rows(path, &COLUMNS, "an `aac predict` scores file")?
        .into_iter()
        .map(|fields| Row { fields })
        .collect())
}

/// The columns of provenance.csv.
const PROVENANCE_COLUMNS: [&str; 4] = ["id", "bundle", "image", "landmarks"];

/// The provenance of one row after its id: bundle checksum, image and
/// landmark fingerprints.
fn provenance_fields(bundle: &str, image: &Path, landmarks: Option<&Path>) -> Vec<String> {
    vec![
        bundle.to_string(),
        fingerprint(image),
        landmarks.map_or_else(|| "found".into(), fingerprint),
    ]
}

/// A row's id, status and flags, for the run record's counts.
fn row_summary(r: &Row) -> (&str, &str, &str) {
    (
        r.fields[0].as_str(),
        r.fields[STATUS_COLUMN].as_str(),
        r.fields[STATUS_COLUMN + 2].as_str(),
    )
}

/// QC: flags for doubtful predictions.
fn flags_for(
    fraction_inside: f64,
    mahalanobis: f64,
    n_modes: usize,
    flat: &crate::flat::FlatRegions,
    planes: &[Vec<f32>],
    threshold: f32,
) -> (Vec<QcFlag>, Vec<String>) {
    let mut flags = Vec::new();
    let mut messages = Vec::new();
    if fraction_inside < 0.995 {
        flags.push(QcFlag::BandOutsideImage);
    }
    if flat.covers_aorta_band() {
        flags.push(QcFlag::FlatRegionInAortaBand);
    }
    // Unusual shape: b far outside the training distribution (chi-square tail).
    let k = n_modes.max(1) as f64;
    if mahalanobis * mahalanobis > k + 5.0 * (2.0 * k).sqrt() {
        flags.push(QcFlag::UnusualShapeFit);
    }
    // Low confidence: many pixels near the threshold relative to those above it.
    let (mut unsure, mut sure) = (0usize, 0usize);
    for p in planes.iter().flatten() {
        if *p >= threshold * 0.5 && *p < threshold {
            unsure += 1;
        } else if *p >= threshold {
            sure += 1;
        }
    }
    if unsure > 20 && unsure > 2 * sure {
        flags.push(QcFlag::LowConfidenceSegmentation);
        messages.push(format!(
            "low-confidence segmentation: {unsure} warped pixels with a probability between {:.2} and {threshold:.2} against {sure} at or above {threshold:.2}",
            threshold * 0.5
        ));
    }
    (flags, messages)
}

struct Done {
    row: Vec<String>,
    overlay: Option<aac_io::Rgb8>,
}

fn error_row(id: &str, msg: String, landmarks: &str) -> Done {
    let mut f = vec![id.to_string()];
    f.extend(std::iter::repeat_n(String::new(), STATUS_COLUMN - 1));
    f.extend([
        Status::Error.name().to_string(),
        msg,
        String::new(),
        landmarks.into(),
    ]);
    f.resize(COLUMNS.len(), String::new());
    Done {
        row: f,
        overlay: None,
    }
}

/// One image to score: id, image path and its landmark file, if given.
type Item = (String, PathBuf, Option<PathBuf>);

/// An image read, with its spacing and spine points (given or found).
struct Located {
    img: aac_io::Gray16,
    spacing: Option<[f64; 2]>,
    /// Why the file's own pixel spacing was not used, when it was refused.
    spacing_note: Option<String>,
    spine: Vec<Point>,
    /// The finder's result when the points were found.
    found: Option<aac_landmarks::Found>,
    /// The image as f32, when the finder needed it.
    data: Option<Vec<f32>>,
}

/// The pixel spacing an image is scored with, and why its file's was
/// refused when it was.
struct Spacing {
    mm: Option<[f64; 2]>,
    note: Option<String>,
}

/// The file's pixel spacing when it passes [`aac_io::spacing_problem`], else
/// `--pixel-spacing` (checked by the same rule), with a note saying so.
fn resolve_spacing(file: Option<[f64; 2]>, default: Option<[f64; 2]>) -> Spacing {
    match file {
        Some(v) => match aac_io::spacing_problem(v) {
            None => Spacing {
                mm: Some(v),
                note: None,
            },
            Some(why) => Spacing {
                mm: default,
                note: Some(format!(
                    "the file's {why}: refused{}",
                    if default.is_some() {
                        ", --pixel-spacing used"
                    } else {
                        ""
                    }
                )),
            },
        },
        None => Spacing {
            mm: default,
            note: None,
        },
    }
}

/// Reads each image and its given points, then finds the points of the
/// others with the bundle's finder (batched).
fn locate(
    b: &Bundle,
    items: &[Item],
    default_spacing: Option<[f64; 2]>,
) -> Vec<Result<Located, String>> {
    /// An image, its pixel spacing and its given spine points.
    type Read = (aac_io::Gray16, Spacing, Option<Vec<Point>>);
    let read: Vec<Result<Read, String>> = items
        .par_iter()
        .map(|(_, img_path, pts_path)| {
            let (img, spacing) = read_image_spaced(img_path).map_err(|e| e.to_string())?;
            let given = match pts_path {
                Some(p) => {
                    let pts =
                        crate::dataset_util::read_landmarks_any(p).map_err(|e| format!("{e:#}"))?;
                    Some(pts[..aac_io::N_SPINE].to_vec())
                }
                None => None,
            };
            Ok((img, resolve_spacing(spacing, default_spacing), given))
        })
        .collect();
    // The intensities of the images whose points are to be found, kept for
    // the warp.
    let mut data: Vec<Option<Vec<f32>>> = read
        .par_iter()
        .map(|r| match (r, &b.finder) {
            (Ok((img, _, None)), Some(_)) => Some(aac_io::image_io::to_f32(img)),
            _ => None,
        })
        .collect();
    let to_find: Vec<(&[f32], usize, usize)> = read
        .iter()
        .zip(&data)
        .filter_map(|(r, d)| match (r, d) {
            (Ok((img, _, _)), Some(d)) => {
                Some((d.as_slice(), img.width() as usize, img.height() as usize))
            }
            _ => None,
        })
        .collect();
    let mut found = match (&b.finder, to_find.is_empty()) {
        (Some(f), false) => f.find(&to_find),
        _ => Vec::new(),
    }
    .into_iter();
    read.into_iter()
        .zip(items)
        .zip(data.iter_mut())
        .map(|((r, (_, img_path, _)), data)| {
            let (img, spacing, given) = r?;
            let (spine, found) = match given {
                Some(spine) => (spine, None),
                None => match found.next() {
                    Some(Ok(f)) => (f.points.clone(), Some(f)),
                    Some(Err(e)) => return Err(format!("{}: {e}", img_path.display())),
                    None => {
                        return Err(format!(
                            "{}: no landmark file and the bundle has no landmark finder",
                            img_path.display()
                        ))
                    }
                },
            };
            Ok(Located {
                img,
                spacing: spacing.mm,
                spacing_note: spacing.note,
                spine,
                found,
                data: data.take(),
            })
        })
        .collect()
}

/// A located image with its region of interest warped.
struct Prepared {
    located: Located,
    prep: aac_warp::PreparedRoi,
    pred: aac_shape::Prediction,
    roi: Vec<f32>,
    disagree: bool,
}

fn prepare(b: &Bundle, mut l: Located, what: &str) -> Result<Prepared, String> {
    let (prep, pred) = prepare_roi(
        &b.header.ssm,
        &l.spine,
        AortaSource::Predicted,
        l.img.dimensions(),
    )
    .map_err(|e| format!("{what}: {e}"))?;
    let map = WarpMap::new(&prep.roi, None);
    let data = l
        .data
        .take()
        .unwrap_or_else(|| aac_io::image_io::to_f32(&l.img));
    let roi = map.warp_f32(&data, l.img.width() as usize, l.img.height() as usize, 0.0);
    let disagree = aac_warp::check_landmarks_against_image(&l.img, &l.spine).disagrees();
    Ok(Prepared {
        located: l,
        prep,
        pred,
        roi,
        disagree,
    })
}

/// What every image of a run is scored with, beside the bundle.
struct ChunkSettings<'a> {
    overlays: bool,
    default_spacing: Option<[f64; 2]>,
    thresholds: [f32; 2],
    /// The `landmarks.csv` rows of `aac landmarks`, when the given points
    /// came from it.
    finder_notes: &'a BTreeMap<String, FinderNote>,
}

/// Where a row's points came from: `given`, `found` (now or by `aac
/// landmarks`).
fn landmark_source(id: &str, given: bool, notes: &BTreeMap<String, FinderNote>) -> &'static str {
    if given && !notes.contains_key(id) {
        "given"
    } else {
        "found"
    }
}

fn predict_chunk(b: &Bundle, items: &[Item], cfg: &ChunkSettings) -> Vec<Done> {
    // Stage 1: read, find points where none are given, shape model, warp.
    // An error before the points were had says `none` in `landmarks`.
    let prepared: Vec<Result<Prepared, (String, bool)>> = locate(b, items, cfg.default_spacing)
        .into_par_iter()
        .zip(items)
        .map(|(l, (_, img_path, pts_path))| {
            let what = pts_path
                .as_deref()
                .unwrap_or(img_path)
                .display()
                .to_string();
            prepare(b, l.map_err(|e| (e, false))?, &what).map_err(|e| (e, true))
        })
        .collect();
    // Stage 2: the U-net on the good ones, batched.
    let rois: Vec<Vec<f32>> = prepared
        .iter()
        .filter_map(|p| p.as_ref().ok().map(|x| x.roi.clone()))
        .collect();
    let mut planes = b.unet.predict(&rois).into_iter();
    prepared
        .into_iter()
        .zip(items)
        .map(|(p, (id, _, given))| {
            let source = landmark_source(id, given.is_some(), cfg.finder_notes);
            match p {
                Err((msg, had_points)) => {
                    error_row(id, msg, if had_points { source } else { "none" })
                }
                Ok(p) => match planes.next() {
                    Some(pl) if pl.len() == 2 && pl.iter().all(|p| p.len() == PIXELS) => {
                        score_row(b, id, p, &pl, cfg, source)
                    }
                    _ => error_row(
                        id,
                        "the network returned no output for this image (internal error)".into(),
                        source,
                    ),
                },
            }
        })
        .collect()
}

/// The scores.csv row (and overlay) of a scored image.
fn score_row(
    b: &Bundle,
    id: &str,
    p: Prepared,
    pl: &[Vec<f32>],
    cfg: &ChunkSettings,
    source: &str,
) -> Done {
    let thresholds = cfg.thresholds;
    let Prepared {
        located,
        prep,
        pred,
        roi,
        disagree,
    } = p;
    let (labelled, s) = match roi_scores(&roi, pl, thresholds, prep.aorta_centre_x()) {
        Ok(r) => r,
        Err(e) => return error_row(id, e.to_string(), source),
    };
    let RoiLabels {
        planes: pl,
        flat,
        labels,
    } = labelled;
    let lengths = located.spacing.map(|sp| {
        let x = s.midline_x.unwrap_or_else(|| prep.aorta_centre_x());
        wall_lengths_mm(&labels, &s, &row_lengths_mm(&prep.roi, x, sp))
    });
    let (mut flags, mut messages) = flags_for(
        prep.fraction_inside,
        prep.shape_mahalanobis,
        b.header.ssm.n_modes(),
        &flat,
        &pl,
        thresholds[0].min(thresholds[1]),
    );
    if disagree {
        // The points do not fit the image: aac_warp::check_landmarks_against_image.
        flags.push(QcFlag::LandmarksDisagreeWithImage);
    }
    if prep.roi.layout.is_fallback() {
        flags.push(QcFlag::RoiBandAdjusted);
    }
    messages.extend(located.spacing_note.iter().cloned());
    // The finder's verdict: from this run, or from the `aac landmarks` run
    // that wrote the given points.
    let note = cfg.finder_notes.get(id);
    let confidence = match (&located.found, note) {
        (Some(f), _) => {
            if f.uncertain() {
                flags.push(QcFlag::LandmarksUncertain);
                messages.push(format!("found landmarks in doubt: {}", f.doubts.join("; ")));
            }
            format!("{:.3}", f.confidence)
        }
        (None, Some(n)) => {
            if n.flagged {
                flags.push(QcFlag::LandmarksUncertain);
                messages.push(format!("found landmarks in doubt: {}", n.message));
            }
            n.confidence.clone()
        }
        (None, None) => String::new(),
    };
    let mut f = vec![id.to_string()];
    f.extend(score_fields(&s, Grouping::default(), lengths));
    f.push(Status::of_flags(&flags).name().into());
    f.push(messages.join("; "));
    f.push(flags_cell(&flags));
    f.push(source.into());
    f.push(confidence);
    f.push(located.spacing.map(spacing_cell).unwrap_or_default());
    let overlay = cfg.overlays.then(|| {
        draw_overlay(
            &located.img,
            &located.spine,
            located.found.is_some(),
            &prep,
            &pred,
            &labels,
            &s,
        )
    });
    Done { row: f, overlay }
}

/// A pixel spacing as written in scores.csv: one number when square, else
/// `ROWxCOL` (mm).
fn spacing_cell([r, c]: [f64; 2]) -> String {
    if r == c {
        format!("{r}")
    } else {
        format!("{r}x{c}")
    }
}

/// A row of `landmarks.csv` written by `aac landmarks`, carried into the
/// rows scored with its points.
#[derive(Debug, Clone)]
struct FinderNote {
    flagged: bool,
    confidence: String,
    message: String,
}

/// The `landmarks.csv` of a `--landmarks` folder written by `aac landmarks`
/// (empty when there is none: points from elsewhere).
fn finder_notes(dir: Option<&Path>) -> Result<BTreeMap<String, FinderNote>> {
    let Some(path) = dir.map(|d| d.join("landmarks.csv")).filter(|p| p.is_file()) else {
        return Ok(BTreeMap::new());
    };
    let rows = read_rows(
        &path,
        &crate::landmarks::COLUMNS,
        "an `aac landmarks` table",
    )?;
    Ok(rows
        .into_iter()
        .filter(|r| r[1] != "error")
        .map(|r| {
            (
                r[0].clone(),
                FinderNote {
                    flagged: r[1] == "flagged",
                    confidence: r[2].clone(),
                    message: r[3].clone(),
                },
            )
        })
        .collect())
}

/// The QC overlay on the original image: predicted calcification mapped back,
/// the aorta band (predicted walls +/- 3 SD), disc levels and sub-scores.
fn draw_overlay(
    img: &aac_io::Gray16,
    spine: &[Point],
    found: bool,
    prep: &aac_warp::PreparedRoi,
    pred: &aac_shape::Prediction,
    labels: &Gray8,
    s: &aac_score::Scored,
) -> aac_io::Rgb8 {
    let (w, h) = img.dimensions();
    let mut rgb = display_rgb(img);
    // Drawn as counted, so the colours match the sub-scores.
    let back = unwarp_labels(&prep.roi, &aac_score::counted_labels(labels, s), w, h);
    overlay_labels(&mut rgb, &back, 0.9);
    let a = pred.aorta();
    let sign = if pred.reflected { -1.0 } else { 1.0 };
    for k in 0..4 {
        for (wall, dir) in [(0usize, -1.0), (1, 1.0)] {
            let p = |kk: usize| {
                Point::new(
                    a[2 * kk + wall].x + sign * dir * 3.0 * pred.aorta_sd[2 * kk + wall],
                    a[2 * kk + wall].y,
                )
            };
            line(&mut rgb, p(k), p(k + 1), Rgb([255, 150, 0]));
            line(
                &mut rgb,
                a[2 * k + wall],
                a[2 * k + 2 + wall],
                Rgb([255, 220, 0]),
            );
        }
    }
    for row in &prep.roi.points {
        line(&mut rgb, row[0], row[3], Rgb([0, 220, 230]));
    }
    let scale = (h / 500).max(1);
    for v in 0..4 {
        let c = prep.roi.points[v][3].mid(&prep.roi.points[v + 1][3]);
        let x = if pred.reflected {
            c.x as i32 - 60 * scale as i32
        } else {
            c.x as i32 + 6
        };
        text(
            &mut rgb,
            x,
            c.y as i32,
            &format!("L{} {}/{}", v + 1, s.sub[2 * v], s.sub[2 * v + 1]),
            scale,
            Rgb([255, 255, 255]),
        );
    }
    text(
        &mut rgb,
        6,
        6,
        &format!("AAC24 {}", s.aac24),
        2 * scale,
        Rgb([255, 255, 0]),
    );
    let colour = if found {
        crate::landmarks::FOUND_COLOUR
    } else {
        crate::landmarks::GIVEN_COLOUR
    };
    crate::landmarks::draw_points(&mut rgb, spine, colour);
    rgb
}

/// Scores a cohort (`aac predict`): every image of `images` with its
/// landmarks, appended to `out/scores.csv` chunk by chunk (resumable), with
/// QC flags, overlays and an index page. Fails when every image failed.
pub fn predict(a: &PredictConfig) -> Result<()> {
    crate::progress::in_pool(a.jobs, || predict_in_pool(a))
}

fn predict_in_pool(a: &PredictConfig) -> Result<()> {
    a.check()?;
    let b = bundle::load(&a.model)?;
    let threshold = a
        .threshold
        .unwrap_or([b.header.threshold, b.header.threshold]);
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
    let mut record = RunRecord::start("predict", shards, a);
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
            let id = &r.fields[0];
            images.get(id).is_some_and(|img| {
                provenance.get(id) == Some(&provenance_fields(&key, img, given(id).as_deref()))
            })
        });
    let (gone, changed): (Vec<&Row>, Vec<&Row>) = stale
        .iter()
        .partition(|r| !images.contains_key(&r.fields[0]));
    if !changed.is_empty() {
        tracing::info!(
            "{} rows of {} were scored from other inputs or another bundle (or have no record): they are scored again",
            changed.len(),
            scores_path.display()
        );
    }
    if !gone.is_empty() {
        let ids: Vec<&str> = gone.iter().take(5).map(|r| r.fields[0].as_str()).collect();
        tracing::warn!(
            "{} rows of {} are removed: their images are no longer in {} ({}{})",
            gone.len(),
            scores_path.display(),
            a.images.display(),
            ids.join(", "),
            if gone.len() > 5 { ", ..." } else { "" }
        );
    }
    let done: BTreeSet<String> = done_rows.iter().map(|r| r.fields[0].clone()).collect();
    // Rewrite both files with only complete, current rows, so appending is
    // safe: the lock makes this run the only writer.
    let prov: Vec<Vec<String>> = done_rows
        .iter()
        .map(|r| {
            std::iter::once(r.fields[0].clone())
                .chain(provenance[&r.fields[0]].iter().cloned())
                .collect()
        })
        .collect();
    aac_io::write_string_atomic(
        &scores_path,
        &table_text(&COLUMNS, done_rows.iter().map(|r| &r.fields)),
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
        if !warned_spacing {
            let spacing_col = COLUMNS.len() - 1;
            if results
                .iter()
                .any(|d| d.row[STATUS_COLUMN] != "error" && d.row[spacing_col].is_empty())
            {
                warned_spacing = true;
                tracing::warn!(
                    "some images state no pixel spacing (DICOM PixelSpacing or ImagerPixelSpacing) and --pixel-spacing is not given: their wall lengths (ant_length_mm, post_length_mm) are left empty"
                );
            }
        }
        let mut lines = String::new();
        for (d, (id, _, _)) in results.iter().zip(items) {
            if let Some(o) = &d.overlay {
                aac_io::write_rgb_png(&a.out.join("overlays").join(format!("{id}.png")), o)?;
                aac_io::write_rgb_png(
                    &a.out.join("thumbs").join(format!("{id}.png")),
                    &resize_to_height(o, 200),
                )?;
            }
            lines.push_str(&csv_line(&d.row));
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
        .filter(|r| a.shard.is_none_or(|s| s.contains(&r.fields[0])))
        .collect();
    if !mine.is_empty() && mine.iter().all(|r| r.fields[STATUS_COLUMN] == "error") {
        bail!(
            "every one of the {} images failed (see the message column of {})",
            mine.len(),
            scores_path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod index_tests {
    use super::*;

    #[test]
    fn formula_ids_are_guarded_in_scores_csv_and_read_back_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        let id = "=HYPERLINK(\"http://x\",\"y\")";
        let mut fields = vec![id.to_string()];
        fields.resize(COLUMNS.len(), String::new());
        fields[STATUS_COLUMN] = "error".into();
        fields[STATUS_COLUMN + 1] = "-bad input".into();
        let mut text = csv_line(&COLUMNS.map(String::from));
        text.push_str(&csv_line(&fields));
        std::fs::write(&path, &text).unwrap();
        assert!(text.contains("\"'=HYPERLINK("), "{text}");
        assert!(text.contains(",'-bad input,"), "{text}");
        let rows = read_done(&path).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].fields, fields);
    }

    #[test]
    fn shards_parse_and_split_a_cohort_into_disjoint_parts() {
        assert_eq!("2/8".parse::<Shard>(), Ok(Shard { k: 2, n: 8 }));
        assert_eq!(" 1 / 1 ".parse::<Shard>(), Ok(Shard { k: 1, n: 1 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        let shards: Vec<Shard> = (1..=3).map(|k| Shard { k, n: 3 }).collect();
        let mut sizes = [0usize; 3];
        for i in 0..300 {
            let id = format!("case{i}");
            let owners: Vec<usize> = (0..3).filter(|&j| shards[j].contains(&id)).collect();
            assert_eq!(owners.len(), 1, "{id}");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| n > 70), "{sizes:?}");
    }

    fn row(id: &str, status: &str) -> Vec<String> {
        let mut f = vec![id.to_string()];
        f.resize(COLUMNS.len(), "0".into());
        f[STATUS_COLUMN] = status.into();
        f[STATUS_COLUMN + 1] = String::new();
        f[STATUS_COLUMN + 2] = String::new();
        f
    }

    #[test]
    fn resume_keeps_complete_rows_and_drops_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        let mut text = csv_line(&COLUMNS.map(String::from));
        text.push_str(&csv_line(&row("a", "ok")));
        text.push_str(&csv_line(&row("b", "flagged")));
        let torn = csv_line(&row("c", "ok"));
        text.push_str(&torn[..torn.len() / 2]);
        std::fs::write(&path, &text).unwrap();
        let ids: Vec<String> = read_done(&path)
            .unwrap()
            .into_iter()
            .map(|r| r.fields[0].clone())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        std::fs::write(&path, "id,something\nx,1\n").unwrap();
        assert!(read_done(&path).is_err());
    }
}

#[cfg(test)]
mod threshold_tests {
    use super::*;

    fn config(threshold: Option<[f32; 2]>) -> PredictConfig {
        PredictConfig {
            model: "m.aac".into(),
            images: "i".into(),
            landmarks: Some("l".into()),
            out: "o".into(),
            jobs: None,
            overlays: false,
            shard: None,
            pixel_spacing: None,
            threshold,
            wait: false,
        }
    }

    #[test]
    fn thresholds_outside_zero_to_one_are_refused() {
        assert!(config(None).check().is_ok());
        assert!(config(Some([0.2, 0.3])).check().is_ok());
        assert!(config(Some([0.2, 1.0])).check().is_ok());
        for bad in [[0.0, 0.3], [0.2, 1.01], [f32::NAN, 0.5], [-0.1, 0.5]] {
            assert!(config(Some(bad)).check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rows_of_other_options_have_another_provenance() {
        let plain = run_key("abc", &config(None));
        assert_eq!(plain, "abc");
        let t = run_key("abc", &config(Some([0.2, 0.3])));
        assert_ne!(t, plain);
        assert_ne!(t, run_key("abc", &config(Some([0.2, 0.2]))));
        let mut c = config(None);
        c.overlays = true;
        let with_overlays = run_key("abc", &c);
        c.pixel_spacing = Some([0.3, 0.3]);
        let keys = [plain, t, with_overlays, run_key("abc", &c)];
        for i in 0..4 {
            for j in i + 1..4 {
                assert_ne!(keys[i], keys[j]);
            }
        }
    }
}

#[cfg(test)]
mod flag_tests {
    use super::*;

    #[test]
    fn low_confidence_segmentation_says_why() {
        let flat = crate::flat::FlatRegions::find(&vec![0.5f32; PIXELS]);
        let mut planes = vec![vec![0.0f32; PIXELS]; 2];
        planes[0][..30].fill(0.2); // between 0.15 and 0.3
        planes[1][..5].fill(0.9);
        let (flags, messages) = flags_for(1.0, 0.0, 5, &flat, &planes, 0.3);
        assert!(
            flags.contains(&QcFlag::LowConfidenceSegmentation),
            "{flags:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("30 warped pixels") && m.contains("against 5")),
            "{messages:?}"
        );
        planes[1][..30].fill(0.9);
        let (flags, messages) = flags_for(1.0, 0.0, 5, &flat, &planes, 0.3);
        assert!(!flags.contains(&QcFlag::LowConfidenceSegmentation) && messages.is_empty());
    }
}

#[cfg(test)]
mod spacing_tests {
    use super::*;

    #[test]
    fn a_header_spacing_outside_the_range_is_refused_with_a_note_and_the_flag_used() {
        let ok = resolve_spacing(Some([0.3, 0.3]), Some([0.5, 0.5]));
        assert_eq!((ok.mm, ok.note), (Some([0.3, 0.3]), None));
        for bad in [f64::INFINITY, 1e308, 1e6, 1e-9] {
            let r = resolve_spacing(Some([bad, bad]), None);
            assert_eq!(r.mm, None, "{bad}");
            let note = r.note.unwrap();
            assert!(
                note.contains("outside") && note.contains("refused"),
                "{note}"
            );
            let r = resolve_spacing(Some([bad, bad]), Some([0.4, 0.4]));
            assert_eq!(r.mm, Some([0.4, 0.4]));
            assert!(r.note.unwrap().contains("--pixel-spacing used"));
        }
        let none = resolve_spacing(None, Some([0.4, 0.4]));
        assert_eq!((none.mm, none.note), (Some([0.4, 0.4]), None));
    }
}
