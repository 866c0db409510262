//! `aac calibrate`: adapting a bundle to a reader from scores alone. A site
//! with a few hundred scans scored by its radiologist (AAC24 and the 8
//! sub-scores, no masks) cannot retrain the U-net, but it can choose what
//! the model's output is read with: a probability threshold per wall (how
//! readily a faint deposit is called) and a length factor per wall (how
//! long a reader reads the calcified length the model measures). They are
//! chosen to agree best with the reader's sub-scores, measured by
//! cross-validation over the scored scans, and written into a copy of the
//! bundle.

use crate::bundle::{self, Bundle};
use crate::predict::{roi_probabilities, RoiProbabilities};
use crate::roi_labels::{cleared_planes, scores_of_cleared};
use aac_io::SUBSCORE_COLUMNS;
use aac_score::{scaled_rows, subscore};
use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The fewest scored scans calibration runs on: with fewer, a fold's test
/// scans are too few for its agreement to mean anything.
pub const MIN_SCANS: usize = 20;

/// The thresholds calibration chooses from, per wall: 0.01 to 0.07 for a
/// network that calls little, then 0.1 to 0.9 in steps of 0.05.
pub fn threshold_grid() -> Vec<f32> {
    [0.01, 0.02, 0.03, 0.05, 0.07]
        .into_iter()
        .chain((2..=18).map(|k| k as f32 * 0.05))
        .collect()
}

/// The length factors calibration chooses from, per wall: a reader who
/// reads calcified lengths up to 30% shorter or 50% longer than the model
/// measures them.
pub const LENGTH_SCALES: [f32; 7] = [0.7, 0.8, 0.9, 1.0, 1.15, 1.3, 1.5];

/// The range a bundle's length factors must lie in (checked on load).
pub const LENGTH_SCALE_RANGE: (f64, f64) = (0.5, 2.0);

/// How a model's output is read: a pair of the threshold grid (its index)
/// and a length factor per wall (anterior, posterior).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    pair: usize,
    scales: [f32; 2],
}

impl Reading {
    /// The sub-scores of `rows` (calcified rows per sub-score) read so.
    fn subscores(&self, rows: [u32; 8]) -> [u32; 8] {
        std::array::from_fn(|k| subscore(scaled_rows(rows[k], f64::from(self.scales[k % 2]))))
    }
}

/// What cross-validation found: the thresholds and length factors chosen
/// on all scans, and the agreement on the test folds before and after.
struct Choice {
    after: [f32; 2],
    scales_after: [f32; 2],
    folds: usize,
    cv_before: FoldSpread,
    cv_after: FoldSpread,
}

/// Chooses the thresholds and length factors that agree best with the
/// reader, by `folds`-fold cross-validation (seeded) over the scans, against
/// the `base` ones (thresholds, length factors).
fn choose(
    rois: &[RoiProbabilities],
    reader: &[ReaderScan],
    (base, base_scales): ([f32; 2], [f32; 2]),
    folds: usize,
    seed: u64,
) -> Choice {
    let grid = threshold_grid();
    let mut pairs: Vec<[f32; 2]> = grid
        .iter()
        .flat_map(|&x| grid.iter().map(move |&y| [x, y]))
        .collect();
    pairs.push(base);
    let base_pair = pairs.len() - 1;
    let table = score_grid(rois, &pairs);
    let candidates: Vec<Reading> = (0..base_pair)
        .flat_map(|pair| {
            LENGTH_SCALES.iter().flat_map(move |&a| {
                LENGTH_SCALES.iter().map(move |&p| Reading {
                    pair,
                    scales: [a, p],
                })
            })
        })
        .collect();
    let base_reading = Reading {
        pair: base_pair,
        scales: base_scales,
    };
    let best = |idx: &[usize]| best_reading(&table, reader, idx, &pairs, &candidates, base_reading);
    let folds = folds.clamp(2, reader.len().max(2));
    let mut order: Vec<usize> = (0..reader.len()).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for f in 0..folds {
        let test: Vec<usize> = order.iter().copied().skip(f).step_by(folds).collect();
        let train: Vec<usize> = order
            .iter()
            .copied()
            .enumerate()
            .filter(|(k, _)| k % folds != f)
            .map(|(_, i)| i)
            .collect();
        let chosen = best(&train);
        if let (Some(b0), Some(a0)) = (
            agreement_at(&table, reader, &test, base_reading),
            agreement_at(&table, reader, &test, chosen),
        ) {
            before.push(b0);
            after.push(a0);
        }
    }
    let all: Vec<usize> = (0..reader.len()).collect();
    let chosen = best(&all);
    Choice {
        after: pairs[chosen.pair],
        scales_after: chosen.scales,
        folds,
        cv_before: spread(&before),
        cv_after: spread(&after),
    }
}

/// Settings of `aac calibrate`.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrateConfig {
    /// The bundle to calibrate.
    pub model: PathBuf,
    /// The reader's scans.
    pub images: PathBuf,
    /// Their spine points (`<id>.pts`); found by the bundle's finder when
    /// absent.
    pub landmarks: Option<PathBuf>,
    /// The reader's score table (`id`, `aac24` and the 8 sub-scores).
    pub scores: PathBuf,
    /// The calibrated bundle.
    pub out: PathBuf,
    /// Cross-validation folds.
    pub folds: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
}

/// Agreement with the reader over some scans at some thresholds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ReaderAgreement {
    /// Mean absolute AAC24 difference.
    pub aac24_mae: f64,
    /// Mean over scans of the summed absolute sub-score differences.
    pub subscore_error: f64,
    /// Model's anterior total over the reader's, minus 1 (0: equal).
    pub anterior_total: f64,
    /// The same for the posterior wall.
    pub posterior_total: f64,
}

/// Mean and SD across folds of each [`ReaderAgreement`] figure.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct FoldSpread {
    /// Means.
    pub mean: ReaderAgreement,
    /// Standard deviations.
    pub sd: ReaderAgreement,
}

/// What `aac calibrate` records in the bundle it writes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CalibrationRecord {
    /// Checksum of the bundle calibrated.
    pub base_checksum: String,
    /// The reader's score table, as given.
    pub scores: String,
    /// Its fingerprint.
    pub scores_fingerprint: String,
    /// Scans calibrated on.
    pub n_scans: usize,
    /// Cross-validation folds.
    pub folds: usize,
    /// The base bundle's thresholds (anterior, posterior).
    pub before: [f32; 2],
    /// The thresholds chosen on all scans.
    pub after: [f32; 2],
    /// The base bundle's length factors (anterior, posterior; 1 before
    /// 0.7.0 had them).
    #[serde(default = "unit_scales")]
    pub length_scales_before: [f32; 2],
    /// The length factors chosen on all scans.
    #[serde(default = "unit_scales")]
    pub length_scales_after: [f32; 2],
    /// Agreement on the test folds with the base thresholds.
    pub cv_before: FoldSpread,
    /// Agreement on the test folds with the thresholds chosen on the
    /// other folds.
    pub cv_after: FoldSpread,
}

impl CalibrationRecord {
    /// A caution for the reader of `calibrate`'s table when the chosen
    /// reading agreed worse with the reader on AAC24 in cross-validation
    /// than the bundle's own (the choice puts unbiased wall totals first,
    /// [`TOTAL_TOLERANCE`]): the two figures and what to do. None when it
    /// agreed as well or better. Keeping the base by rule was measured and
    /// not adopted (docs/adapt.md, "Learning curves").
    pub fn caution(&self) -> Option<String> {
        let (b, a) = (&self.cv_before.mean, &self.cv_after.mean);
        (a.aac24_mae > b.aac24_mae).then(|| {
            format!(
                "cross-validated, the chosen reading agrees worse with this reader on AAC24 than the bundle's own \
                 (MAE {:.2} against {:.2}) while it brings the wall totals to {:+.0}% / {:+.0}% (the bundle's: {:+.0}% / {:+.0}%). \
                 With {} scans the choice is uncertain: compare both bundles on scans of your own before using this one",
                a.aac24_mae,
                b.aac24_mae,
                a.anterior_total * 100.0,
                a.posterior_total * 100.0,
                b.anterior_total * 100.0,
                b.posterior_total * 100.0,
                self.n_scans
            )
        })
    }
}

fn unit_scales() -> [f32; 2] {
    [1.0; 2]
}

/// A reader's scores of one scan.
#[derive(Debug, Clone, Copy)]
struct ReaderScan {
    aac24: u32,
    sub: [u32; 8],
}

/// Reads the reader's table: `id`, `aac24` and the 8 sub-scores, whole
/// numbers in range.
fn read_reader(path: &Path) -> Result<BTreeMap<String, ReaderScan>> {
    let mut required = vec!["aac24"];
    required.extend(SUBSCORE_COLUMNS);
    let table = aac_io::read_scores(path, &required)?;
    let col = |name: &str| table.columns.iter().position(|c| c == name);
    let aac24 = col("aac24").context("aac24 column")?;
    let subs: Vec<usize> = SUBSCORE_COLUMNS
        .iter()
        .map(|c| col(c).context("sub-score column"))
        .collect::<Result<_>>()?;
    let mut out = BTreeMap::new();
    for (id, v) in &table.rows {
        let whole = |x: Option<f64>, max: f64| -> Result<u32> {
            match x {
                Some(x) if x.fract() == 0.0 && (0.0..=max).contains(&x) => Ok(x as u32),
                _ => bail!(
                    "{}: scan {id}: a score is missing or not a whole number in range (AAC24 0-24, sub-scores 0-3)",
                    path.display()
                ),
            }
        };
        let mut sub = [0u32; 8];
        for (k, &c) in subs.iter().enumerate() {
            sub[k] = whole(v[c], 3.0)?;
        }
        out.insert(
            id.clone(),
            ReaderScan {
                aac24: whole(v[aac24], 24.0)?,
                sub,
            },
        );
    }
    Ok(out)
}

/// Calcified rows per sub-score of every scan at every grid pair
/// (anterior, posterior): `[scan][pair]`, None where the scan could not be
/// scored at that pair.
type ScoreTable = Vec<Vec<Option<[u32; 8]>>>;

fn score_grid(rois: &[RoiProbabilities], pairs: &[[f32; 2]]) -> ScoreTable {
    rois.par_iter()
        .map(|r| {
            let (planes, _) = cleared_planes(&r.roi, &r.planes, &r.spine);
            pairs
                .iter()
                .map(|&t| {
                    scores_of_cleared(&planes, t, r.prior_x)
                        .ok()
                        .map(|s| s.rows)
                })
                .collect()
        })
        .collect()
}

/// Agreement of the scores read as `reading` with the reader over scans
/// `idx` (None when a scan has no score there).
fn agreement_at(
    table: &ScoreTable,
    reader: &[ReaderScan],
    idx: &[usize],
    reading: Reading,
) -> Option<ReaderAgreement> {
    let (mut mae, mut sub_err) = (0.0, 0.0);
    let mut totals = [[0.0f64; 2]; 2]; // [model, reader][wall]
    for &i in idx {
        let m = reading.subscores(table[i][reading.pair]?);
        let r = &reader[i];
        mae += (m.iter().sum::<u32>() as f64 - r.aac24 as f64).abs();
        for k in 0..8 {
            sub_err += (m[k] as f64 - r.sub[k] as f64).abs();
            totals[0][k % 2] += m[k] as f64;
            totals[1][k % 2] += r.sub[k] as f64;
        }
    }
    let n = idx.len().max(1) as f64;
    let ratio = |w: usize| {
        if totals[1][w] > 0.0 {
            totals[0][w] / totals[1][w] - 1.0
        } else {
            totals[0][w]
        }
    };
    Some(ReaderAgreement {
        aac24_mae: mae / n,
        subscore_error: sub_err / n,
        anterior_total: ratio(0),
        posterior_total: ratio(1),
    })
}

/// How far a wall's total may lie from the reader's for a reading to count
/// as unbiased ([`best_reading`]): the goal a calibrated bundle is held to.
/// Half of it on the scans calibrated on was tried, to leave room for new
/// scans, and did no better (docs/adapt.md).
pub const TOTAL_TOLERANCE: f64 = 0.10;

/// The reading that agrees best with the reader over `idx`. Among the
/// candidates whose anterior and posterior totals both lie within
/// [`TOTAL_TOLERANCE`] of the reader's, the one with the least summed
/// sub-score error (then AAC24 error, then nearness to `base`); when none
/// does, the one whose worse wall lies nearest. Minimising the sub-score
/// error alone would favour calling less (a missed deposit and a false one
/// cost the same, and doubtful pixels are more often wrong), and so walls
/// scored low.
fn best_reading(
    table: &ScoreTable,
    reader: &[ReaderScan],
    idx: &[usize],
    pairs: &[[f32; 2]],
    candidates: &[Reading],
    base: Reading,
) -> Reading {
    let key = |c: Reading| {
        let (t, b) = (pairs[c.pair], pairs[base.pair]);
        let d = f64::from(
            (t[0] - b[0]).abs()
                + (t[1] - b[1]).abs()
                + (c.scales[0] - base.scales[0]).abs()
                + (c.scales[1] - base.scales[1]).abs(),
        );
        match agreement_at(table, reader, idx, c) {
            Some(a) => {
                let bias = a.anterior_total.abs().max(a.posterior_total.abs());
                if bias <= TOTAL_TOLERANCE {
                    [0.0, a.subscore_error, a.aac24_mae, d]
                } else {
                    [1.0, bias, a.subscore_error, d]
                }
            }
            None => [2.0, f64::MAX, f64::MAX, f64::MAX],
        }
    };
    // The index last in the key: equal keys resolve the same way whatever
    // the threads did.
    candidates
        .par_iter()
        .enumerate()
        .map(|(i, &c)| (key(c), i))
        .min_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal))
        .map_or(base, |(_, i)| candidates[i])
}

fn spread(v: &[ReaderAgreement]) -> FoldSpread {
    let stat = |f: &dyn Fn(&ReaderAgreement) -> f64| {
        let xs: Vec<f64> = v.iter().map(f).collect();
        let n = xs.len().max(1) as f64;
        let m = xs.iter().sum::<f64>() / n;
        let sd = if xs.len() > 1 {
            (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        (m, sd)
    };
    let a = stat(&|r| r.aac24_mae);
    let s = stat(&|r| r.subscore_error);
    let an = stat(&|r| r.anterior_total);
    let po = stat(&|r| r.posterior_total);
    FoldSpread {
        mean: ReaderAgreement {
            aac24_mae: a.0,
            subscore_error: s.0,
            anterior_total: an.0,
            posterior_total: po.0,
        },
        sd: ReaderAgreement {
            aac24_mae: a.1,
            subscore_error: s.1,
            anterior_total: an.1,
            posterior_total: po.1,
        },
    }
}

/// The scans to calibrate on: those the reader scored that have an image,
/// with their points file when given.
fn scans(
    a: &CalibrateConfig,
    reader: &BTreeMap<String, ReaderScan>,
) -> Result<Vec<(String, PathBuf, Option<PathBuf>)>> {
    let images = crate::dataset_util::images_to_score(&a.images)?;
    Ok(images
        .into_iter()
        .filter(|(id, _)| reader.contains_key(id))
        .map(|(id, p)| {
            let pts = a
                .landmarks
                .as_ref()
                .map(|d| d.join(format!("{id}.pts")))
                .filter(|p| p.is_file());
            (id, p, pts)
        })
        .collect())
}

/// Chooses per-wall thresholds and length factors for a bundle from a reader's scores by
/// cross-validation and writes the calibrated bundle (`aac calibrate`).
pub fn calibrate(a: &CalibrateConfig) -> Result<CalibrationRecord> {
    if a.folds < 2 {
        bail!("--folds must be at least 2");
    }
    let b: Bundle = bundle::load(&a.model)?;
    if a.landmarks.is_none() {
        b.finder(&a.model)?;
    }
    aac_io::atomic::check_writable(&a.out)?;
    let reader_all = read_reader(&a.scores)?;
    let items = scans(a, &reader_all)?;
    if items.len() < MIN_SCANS {
        bail!(
            "{}: {} of the reader's {} scans have an image in {}; calibration needs at least {MIN_SCANS}",
            a.scores.display(),
            items.len(),
            reader_all.len(),
            a.images.display()
        );
    }
    tracing::info!(
        "{} scans scored by the reader: running the model on them",
        items.len()
    );
    let mut ids = Vec::new();
    let mut rois = Vec::new();
    for ((id, _, _), r) in items.iter().zip(roi_probabilities(&b, &items)) {
        match r {
            Ok(r) => {
                ids.push(id.clone());
                rois.push(r);
            }
            Err(e) => tracing::warn!("{id} left out: {e}"),
        }
    }
    let reader: Vec<ReaderScan> = ids.iter().map(|id| reader_all[id]).collect();
    if ids.len() < MIN_SCANS {
        bail!(
            "only {} of the scans could be scored by the model; calibration needs at least {MIN_SCANS}",
            ids.len()
        );
    }
    if reader.iter().all(|r| r.sub == reader[0].sub) {
        bail!(
            "{}: the reader's sub-scores are the same on every scan: nothing to calibrate against",
            a.scores.display()
        );
    }
    let base = b.header.thresholds();
    let base_scales = b.header.length_scales.unwrap_or([1.0; 2]);
    let c = choose(&rois, &reader, (base, base_scales), a.folds, a.seed);
    let record = CalibrationRecord {
        base_checksum: b.checksum.clone(),
        scores: a.scores.display().to_string(),
        scores_fingerprint: crate::table::fingerprint(&a.scores),
        n_scans: ids.len(),
        folds: c.folds,
        before: base,
        after: c.after,
        length_scales_before: base_scales,
        length_scales_after: c.scales_after,
        cv_before: c.cv_before,
        cv_after: c.cv_after,
    };
    let mut header = b.header.clone();
    header.wall_thresholds = Some(c.after);
    header.length_scales = Some(c.scales_after);
    header.calibration = Some(record.clone());
    bundle::rewrite_header(&a.model, &header, &a.out)?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(sub: [u32; 8]) -> ReaderScan {
        ReaderScan {
            aac24: sub.iter().sum(),
            sub,
        }
    }

    /// Calcified rows that score `sub` (21 rows per point).
    fn rows(sub: [u32; 8]) -> [u32; 8] {
        sub.map(|s| 21 * s)
    }

    fn at(pair: usize) -> Reading {
        Reading {
            pair,
            scales: [1.0; 2],
        }
    }

    #[test]
    fn the_reading_agreeing_best_with_the_reader_is_chosen_and_measured() {
        // Two scans, three pairs: pair 1 reproduces the reader exactly.
        let reader = [
            scan([1, 0, 2, 0, 0, 0, 0, 0]),
            scan([0, 0, 0, 0, 3, 3, 0, 0]),
        ];
        let table: ScoreTable = vec![
            vec![
                Some([0; 8]),
                Some(rows(reader[0].sub)),
                Some(rows([3, 3, 3, 3, 0, 0, 0, 0])),
            ],
            vec![Some([0; 8]), Some(rows(reader[1].sub)), None],
        ];
        let pairs = [[0.9, 0.9], [0.5, 0.5], [0.1, 0.1]];
        let candidates = [at(0), at(1), at(2)];
        let best = best_reading(&table, &reader, &[0, 1], &pairs, &candidates, at(1));
        assert_eq!(best, at(1));
        let exact = agreement_at(&table, &reader, &[0, 1], at(1)).unwrap();
        assert_eq!((exact.aac24_mae, exact.subscore_error), (0.0, 0.0));
        let none = agreement_at(&table, &reader, &[0, 1], at(0)).unwrap();
        assert_eq!(none.aac24_mae, (3.0 + 6.0) / 2.0);
        assert_eq!(none.anterior_total, -1.0);
        assert!(agreement_at(&table, &reader, &[0, 1], at(2)).is_none());
        // Read twice as long, pair 1's anterior sub-scores of 1 become 2.
        let longer = Reading {
            pair: 1,
            scales: [2.0, 1.0],
        };
        let a = agreement_at(&table, &reader, &[0], longer).unwrap();
        assert_eq!((a.aac24_mae, a.subscore_error), (2.0, 2.0));
    }

    /// A warped region with an anterior and a posterior deposit at each
    /// vertebra, each of its own length and probability, over a textured
    /// (not flat) image.
    fn synthetic_roi(i: usize) -> RoiProbabilities {
        let (w, h) = (aac_io::ROI_WIDTH as usize, aac_io::ROI_HEIGHT as usize);
        let mut planes = vec![vec![0.001f32; w * h]; 2];
        let probs = [0.08, 0.2, 0.35, 0.45, 0.55, 0.7, 0.85];
        let prior_x = 64.0;
        for v in 0..4 {
            for (wall, x0) in [(0usize, 74usize), (1, 52)] {
                let k = (i * 7 + v * 3 + wall * 5) % probs.len();
                let len = 10 + (i * 13 + v * 17 + wall * 11) % 50;
                let y0 = 64 * v + 4;
                for y in y0..(y0 + len).min(h) {
                    for x in x0..x0 + 3 {
                        planes[wall][y * w + x] = probs[k];
                    }
                }
            }
        }
        let roi = (0..w * h)
            .map(|p| 1000.0 + ((p * 7919 + i * 104_729) % 997) as f32)
            .collect();
        // No spine points: nothing is cleared as bone.
        RoiProbabilities {
            roi,
            planes,
            prior_x,
            spine: Vec::new(),
        }
    }

    #[test]
    fn a_known_threshold_shift_of_the_reader_is_recovered() {
        let rois: Vec<RoiProbabilities> = (0..30).map(synthetic_roi).collect();
        let truth = [0.3f32, 0.6];
        let reader: Vec<ReaderScan> = rois
            .iter()
            .map(|r| {
                let (planes, _) = cleared_planes(&r.roi, &r.planes, &r.spine);
                scan(scores_of_cleared(&planes, truth, r.prior_x).unwrap().sub)
            })
            .collect();
        assert!(reader.iter().any(|r| r.sub != reader[0].sub));
        let c = choose(&rois, &reader, ([0.5, 0.5], [1.0; 2]), 5, 1);
        assert!(c.cv_before.mean.subscore_error > 0.5, "{:?}", c.cv_before);
        assert_eq!(c.scales_after, [1.0; 2]);
        assert_eq!(c.cv_after.mean.subscore_error, 0.0, "{:?}", c.cv_after);
        // Any pair between the probabilities on either side of the
        // reader's reproduces it: 0.2 < anterior <= 0.35, 0.55 < posterior <= 0.7.
        assert!(c.after[0] > 0.2 && c.after[0] <= 0.35, "{:?}", c.after);
        assert!(c.after[1] > 0.55 && c.after[1] <= 0.7, "{:?}", c.after);
        assert_eq!(c.cv_after.mean.anterior_total, 0.0);
    }

    #[test]
    fn a_reader_who_reads_lengths_longer_is_recovered() {
        let rois: Vec<RoiProbabilities> = (0..30).map(synthetic_roi).collect();
        let reader: Vec<ReaderScan> = rois
            .iter()
            .map(|r| {
                let (planes, _) = cleared_planes(&r.roi, &r.planes, &r.spine);
                let s = scores_of_cleared(&planes, [0.5, 0.5], r.prior_x).unwrap();
                scan(s.with_length_scales([1.3, 1.0]).sub)
            })
            .collect();
        let c = choose(&rois, &reader, ([0.5, 0.5], [1.0; 2]), 5, 1);
        assert!(c.cv_before.mean.anterior_total < -0.05, "{:?}", c.cv_before);
        assert_eq!(c.cv_before.mean.posterior_total, 0.0);
        assert!(
            c.cv_after.mean.subscore_error < 0.5 * c.cv_before.mean.subscore_error,
            "{:?} -> {:?}",
            c.cv_before,
            c.cv_after
        );
        assert!(c.scales_after[0] > 1.0, "{:?}", c.scales_after);
        assert_eq!(c.after[1], 0.5);
    }

    #[test]
    fn a_reading_that_agrees_worse_in_cross_validation_carries_a_caution() {
        let agreement = |mae: f64, total: f64| ReaderAgreement {
            aac24_mae: mae,
            subscore_error: mae,
            anterior_total: total,
            posterior_total: total,
        };
        let fold = |mae: f64, total: f64| FoldSpread {
            mean: agreement(mae, total),
            sd: agreement(0.1, 0.1),
        };
        let mut r = CalibrationRecord {
            base_checksum: "x".into(),
            scores: "reader.csv".into(),
            scores_fingerprint: "y".into(),
            n_scans: 20,
            folds: 5,
            before: [0.3, 0.3],
            after: [0.25, 0.15],
            length_scales_before: [1.0; 2],
            length_scales_after: [1.3, 1.5],
            cv_before: fold(0.50, -0.25),
            cv_after: fold(0.75, -0.09),
        };
        let c = r.caution().expect("worse after");
        assert!(c.contains("MAE 0.75 against 0.50"), "{c}");
        assert!(c.contains("-9% / -9%") && c.contains("-25% / -25%"), "{c}");
        assert!(c.contains("With 20 scans"), "{c}");
        r.cv_after = fold(0.40, -0.05);
        assert!(r.caution().is_none());
        r.cv_after = fold(0.50, -0.05);
        assert!(r.caution().is_none(), "as good is no caution");
    }

    #[test]
    fn spread_gives_mean_and_sample_sd() {
        let r = |x: f64| ReaderAgreement {
            aac24_mae: x,
            subscore_error: 2.0 * x,
            anterior_total: 0.0,
            posterior_total: -x,
        };
        let s = spread(&[r(1.0), r(3.0)]);
        assert_eq!(s.mean.aac24_mae, 2.0);
        assert!((s.sd.aac24_mae - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(s.mean.posterior_total, -2.0);
    }
}
