//! Evaluation metrics: overlap between two label masks (Dice, Jaccard, pixel
//! accuracy) and agreement between two lists of scores (R², Pearson,
//! Spearman, ICC(2,1), MAE, Bland-Altman, linear-weighted kappa over the three
//! score categories).
//!
//! No metric ever divides by zero: where a metric is undefined (both masks
//! empty, a constant list, fewer than two values) it is `None`, which the JSON
//! output writes as `null`.

use crate::scoring::in_file;
use crate::{Grouping, ScoreError};
use aac_io::{Gray8, IoError, LABEL_ANTERIOR, LABEL_POSTERIOR};
use serde::Serialize;
use std::path::Path;

// ---------------------------------------------------------------------------
// Overlap between masks
// ---------------------------------------------------------------------------

/// Which pixels of a label mask count as foreground for an overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// Any calcification (label 1 or 2): the binary union of the classes.
    Union,
    /// Anterior-wall calcification (label 1).
    Anterior,
    /// Posterior-wall calcification (label 2).
    Posterior,
}

impl Region {
    /// All regions, in report order.
    pub const ALL: [Region; 3] = [Region::Union, Region::Anterior, Region::Posterior];

    /// The region's name as used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Region::Union => "union",
            Region::Anterior => "anterior",
            Region::Posterior => "posterior",
        }
    }

    fn contains(self, label: u8) -> bool {
        match self {
            Region::Union => label == LABEL_ANTERIOR || label == LABEL_POSTERIOR,
            Region::Anterior => label == LABEL_ANTERIOR,
            Region::Posterior => label == LABEL_POSTERIOR,
        }
    }
}

/// The overlap of one region between masks A and B (B compared with A).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Overlap {
    /// Pixels foreground in both.
    pub tp: u64,
    /// Pixels foreground in B only.
    pub fp: u64,
    /// Pixels foreground in A only.
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// Pixels background in both.
    pub tn: u64,
    /// Dice similarity coefficient 2 TP / (2 TP + FP + FN); None when both are empty.
    pub dice: Option<f64>,
    /// Jaccard index TP / (TP + FP + FN); None when both are empty.
    pub jaccard: Option<f64>,
    /// Pixel accuracy (TP + TN) / all pixels; None for an image without pixels.
    pub accuracy: Option<f64>,
}

/// Dice from the intersection and the summed areas of two masks:
/// 2 |A ∩ B| / (|A| + |B|); None when both are empty. The one Dice rule of
/// model selection, Table 1 and `aac compare`.
pub fn dice_ratio(intersection: u64, summed_areas: u64) -> Option<f64> {
    (summed_areas > 0).then(|| 2.0 * intersection as f64 / summed_areas as f64)
}

impl Overlap {
    /// The metrics of the given pixel counts.
    pub fn from_counts(tp: u64, fp: u64, fn_: u64, tn: u64) -> Self {
        let fg = tp + fp + fn_;
        let all = fg + tn;
        let ratio = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);
        Overlap {
            tp,
            fp,
            fn_,
            tn,
            dice: dice_ratio(tp, 2 * tp + fp + fn_),
            jaccard: ratio(tp, fg),
            accuracy: ratio(tp + tn, all),
        }
    }

    /// True when neither mask has a foreground pixel (Dice and Jaccard undefined).
    pub fn both_empty(&self) -> bool {
        self.tp + self.fp + self.fn_ == 0
    }
}

/// The overlap of one region between two masks of the same size.
pub fn overlap(a: &Gray8, b: &Gray8, region: Region) -> Result<Overlap, ScoreError> {
    if a.dimensions() != b.dimensions() {
        return Err(ScoreError::SizeMismatch {
            a: a.dimensions(),
            b: b.dimensions(),
        });
    }
    let (mut tp, mut fp, mut fn_, mut tn) = (0u64, 0u64, 0u64, 0u64);
    for (&pa, &pb) in a.as_raw().iter().zip(b.as_raw()) {
        match (region.contains(pa), region.contains(pb)) {
            (true, true) => tp += 1,
            (false, true) => fp += 1,
            (true, false) => fn_ += 1,
            (false, false) => tn += 1,
        }
    }
    Ok(Overlap::from_counts(tp, fp, fn_, tn))
}

/// The overlaps of one pair of masks: union of the classes and per class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MaskComparison {
    /// Any calcification.
    pub union: Overlap,
    /// Anterior wall.
    pub anterior: Overlap,
    /// Posterior wall.
    pub posterior: Overlap,
}

impl MaskComparison {
    /// The overlap of a region.
    pub fn get(&self, region: Region) -> &Overlap {
        match region {
            Region::Union => &self.union,
            Region::Anterior => &self.anterior,
            Region::Posterior => &self.posterior,
        }
    }
}

/// Compares two label masks of the same size (any size).
pub fn compare_masks(a: &Gray8, b: &Gray8) -> Result<MaskComparison, ScoreError> {
    Ok(MaskComparison {
        union: overlap(a, b, Region::Union)?,
        anterior: overlap(a, b, Region::Anterior)?,
        posterior: overlap(a, b, Region::Posterior)?,
    })
}

/// Reads two label mask files and compares them; errors name the file.
pub fn compare_mask_files(a: &Path, b: &Path) -> Result<MaskComparison, ScoreError> {
    let ma = aac_io::read_mask(a, None)?;
    let mb = aac_io::read_mask(b, None)?;
    if ma.dimensions() != mb.dimensions() {
        return Err(ScoreError::Io(IoError::format(
            b,
            format!(
                "mask is {}x{} but {} is {}x{}",
                mb.width(),
                mb.height(),
                a.display(),
                ma.width(),
                ma.height()
            ),
        )));
    }
    compare_masks(&ma, &mb).map_err(|e| in_file(b, e))
}

/// Mean and standard deviation of a list of values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Number of values.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Sample standard deviation (divisor n − 1); 0 when n = 1.
    pub sd: f64,
}

/// Mean and sample SD of `values`; None when empty.
pub fn summarize(values: &[f64]) -> Option<Summary> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let sd = if n > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    Some(Summary { n, mean, sd })
}

/// Overlap metrics of one region summarised over images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionSummary {
    /// Dice over the images where at least one mask has this region.
    pub dice: Option<Summary>,
    /// Jaccard over the same images.
    pub jaccard: Option<Summary>,
    /// Pixel accuracy over all images.
    pub accuracy: Option<Summary>,
    /// Ids of the images where both masks are empty in this region (Dice and
    /// Jaccard undefined, left out of their means).
    pub both_empty: Vec<String>,
}

/// Overlap metrics summarised over images, per region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareSummary {
    /// Number of image pairs compared.
    pub n_images: usize,
    /// Any calcification.
    pub union: RegionSummary,
    /// Anterior wall.
    pub anterior: RegionSummary,
    /// Posterior wall.
    pub posterior: RegionSummary,
}

impl CompareSummary {
    /// The summary of a region.
    pub fn get(&self, region: Region) -> &RegionSummary {
        match region {
            Region::Union => &self.union,
            Region::Anterior => &self.anterior,
            Region::Posterior => &self.posterior,
        }
    }
}

/// Summarises per-image comparisons (id, comparison) into mean and SD per
/// region; images where both masks are empty are listed separately.
pub fn summarize_comparisons(items: &[(String, MaskComparison)]) -> CompareSummary {
    let region = |r: Region| {
        let mut dice = Vec::new();
        let mut jaccard = Vec::new();
        let mut accuracy = Vec::new();
        let mut both_empty = Vec::new();
        for (id, c) in items {
            let o = c.get(r);
            if o.both_empty() {
                both_empty.push(id.clone());
            }
            dice.extend(o.dice);
            jaccard.extend(o.jaccard);
            accuracy.extend(o.accuracy);
        }
        RegionSummary {
            dice: summarize(&dice),
            jaccard: summarize(&jaccard),
            accuracy: summarize(&accuracy),
            both_empty,
        }
    };
    CompareSummary {
        n_images: items.len(),
        union: region(Region::Union),
        anterior: region(Region::Anterior),
        posterior: region(Region::Posterior),
    }
}

// ---------------------------------------------------------------------------
// Agreement between score lists
// ---------------------------------------------------------------------------

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Centred sums of squares and cross products (Sxx, Syy, Sxy).
fn centred(x: &[f64], y: &[f64]) -> (f64, f64, f64) {
    let (mx, my) = (mean(x), mean(y));
    x.iter()
        .zip(y)
        .fold((0.0, 0.0, 0.0), |(sxx, syy, sxy), (a, b)| {
            let (dx, dy) = (a - mx, b - my);
            (sxx + dx * dx, syy + dy * dy, sxy + dx * dy)
        })
}

/// Least-squares fit y = intercept + slope x.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LinearFit {
    /// Slope.
    pub slope: f64,
    /// Intercept.
    pub intercept: f64,
    /// Coefficient of determination 1 − SS_res / SS_tot with the centred
    /// SS_tot = Σ (y − ȳ)² (equal to Pearson r²); None when y is constant.
    pub r2: Option<f64>,
}

/// Fits y = a + b x by least squares; None with fewer than 2 pairs, lists of
/// different lengths, or constant x.
pub fn linear_fit(x: &[f64], y: &[f64]) -> Option<LinearFit> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let (sxx, syy, sxy) = centred(x, y);
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = mean(y) - slope * mean(x);
    let ss_res: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (b - intercept - slope * a).powi(2))
        .sum();
    let r2 = (syy > 0.0).then(|| 1.0 - ss_res / syy);
    Some(LinearFit {
        slope,
        intercept,
        r2,
    })
}

/// Least-squares fit through the origin y = slope x.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OriginFit {
    /// Slope.
    pub slope: f64,
    /// Uncentred coefficient of determination 1 − SS_res / Σ y² (the usual
    /// definition for a model without intercept; not comparable with the
    /// centred R² of [`LinearFit`]); None when every y is 0.
    pub r2: Option<f64>,
}

/// Fits y = b x by least squares (b = Σ x y / Σ x²); None for empty lists,
/// lists of different lengths, or when every x is 0.
pub fn origin_fit(x: &[f64], y: &[f64]) -> Option<OriginFit> {
    if x.len() != y.len() || x.is_empty() {
        return None;
    }
    let sxx: f64 = x.iter().map(|a| a * a).sum();
    if sxx <= 0.0 {
        return None;
    }
    let slope = x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>() / sxx;
    let syy: f64 = y.iter().map(|b| b * b).sum();
    let ss_res: f64 = x.iter().zip(y).map(|(a, b)| (b - slope * a).powi(2)).sum();
    let r2 = (syy > 0.0).then(|| 1.0 - ss_res / syy);
    Some(OriginFit { slope, r2 })
}

/// Pearson correlation; None with fewer than 2 pairs, lists of different
/// lengths, or a constant list.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let (sxx, syy, sxy) = centred(x, y);
    (sxx > 0.0 && syy > 0.0).then(|| (sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// Ranks 1..n, ties getting the mean of the ranks they span.
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && v[order[end]] == v[order[start]] {
            end += 1;
        }
        // Positions start..end hold ranks start+1 ..= end; their mean:
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            r[i] = rank;
        }
        start = end;
    }
    r
}

/// Spearman rank correlation: Pearson correlation of the ranks (ties get
/// mean ranks); None where [`pearson`] of the ranks is.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() {
        return None;
    }
    pearson(&ranks(x), &ranks(y))
}

/// Two-way ANOVA mean squares of an n targets x k judges table:
/// (between targets BMS, between judges JMS, residual EMS).
fn anova_mean_squares(ratings: &[Vec<f64>]) -> Option<(f64, f64, f64)> {
    let n = ratings.len();
    let k = ratings.first()?.len();
    if n < 2 || k < 2 || ratings.iter().any(|r| r.len() != k) {
        return None;
    }
    let grand = ratings.iter().flatten().sum::<f64>() / (n * k) as f64;
    let ssr: f64 = ratings
        .iter()
        .map(|r| (mean(r) - grand).powi(2))
        .sum::<f64>()
        * k as f64;
    let ssc: f64 = (0..k)
        .map(|j| (ratings.iter().map(|r| r[j]).sum::<f64>() / n as f64 - grand).powi(2))
        .sum::<f64>()
        * n as f64;
    let sst: f64 = ratings.iter().flatten().map(|v| (v - grand).powi(2)).sum();
    let sse = (sst - ssr - ssc).max(0.0);
    let bms = ssr / (n - 1) as f64;
    let jms = ssc / (k - 1) as f64;
    let ems = sse / ((n - 1) * (k - 1)) as f64;
    Some((bms, jms, ems))
}

/// ICC(2,1) of Shrout & Fleiss (1979): two-way random effects, absolute
/// agreement, single rater,
///
/// (BMS − EMS) / (BMS + (k − 1) EMS + k (JMS − EMS) / n),
///
/// for `ratings[target][judge]` (n targets x k judges). None with fewer than 2
/// targets or judges, ragged rows, or a zero denominator (e.g. all equal).
pub fn icc_2_1(ratings: &[Vec<f64>]) -> Option<f64> {
    let (bms, jms, ems) = anova_mean_squares(ratings)?;
    let n = ratings.len() as f64;
    let k = ratings.first()?.len() as f64;
    let den = bms + (k - 1.0) * ems + k * (jms - ems) / n;
    (den.abs() > f64::EPSILON * (bms + jms + ems).max(1.0)).then(|| (bms - ems) / den)
}

/// Mean absolute difference; None for empty lists or lists of different lengths.
pub fn mean_absolute_error(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.is_empty() {
        return None;
    }
    Some(x.iter().zip(y).map(|(a, b)| (a - b).abs()).sum::<f64>() / x.len() as f64)
}

/// Bland-Altman agreement of the differences b − a.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BlandAltman {
    /// Mean difference (b − a).
    pub bias: f64,
    /// Sample SD of the differences (divisor n − 1).
    pub sd: f64,
    /// Lower limit of agreement, bias − 1.96 SD.
    pub lower: f64,
    /// Upper limit of agreement, bias + 1.96 SD.
    pub upper: f64,
}

/// Bland-Altman bias and 95% limits of agreement of b − a; None with fewer
/// than 2 pairs or lists of different lengths.
pub fn bland_altman(a: &[f64], b: &[f64]) -> Option<BlandAltman> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| y - x).collect();
    let s = summarize(&d)?;
    Some(BlandAltman {
        bias: s.mean,
        sd: s.sd,
        lower: s.mean - 1.96 * s.sd,
        upper: s.mean + 1.96 * s.sd,
    })
}

/// The 3 x 3 confusion matrix of the categories of a (rows) against those of
/// b (columns) under `grouping`. Pairs beyond the shorter list are ignored.
pub fn confusion(a: &[f64], b: &[f64], grouping: Grouping) -> [[u64; 3]; 3] {
    let mut m = [[0u64; 3]; 3];
    for (x, y) in a.iter().zip(b) {
        m[grouping.index(*x)][grouping.index(*y)] += 1;
    }
    m
}

/// Cohen's kappa with linear weights w_ij = 1 − |i − j| / (K − 1) of a K x K
/// confusion matrix: (p_o − p_e) / (1 − p_e) with p_o = Σ w_ij p_ij and
/// p_e = Σ w_ij p_i. p_.j. None when the matrix is empty, K < 2, or p_e = 1
/// (both raters put everything in one category).
pub fn weighted_kappa_linear<const K: usize>(m: &[[u64; K]; K]) -> Option<f64> {
    if K < 2 {
        return None;
    }
    let total: u64 = m.iter().flatten().sum();
    if total == 0 {
        return None;
    }
    // Exact integer arithmetic with weights scaled by K - 1:
    // kappa = (N Σ w'_ij m_ij − Σ w'_ij r_i c_j) / ((K − 1) N² − Σ w'_ij r_i c_j).
    let n = u128::from(total);
    let rows: Vec<u128> = m
        .iter()
        .map(|r| u128::from(r.iter().sum::<u64>()))
        .collect();
    let cols: Vec<u128> = (0..K)
        .map(|j| u128::from(m.iter().map(|r| r[j]).sum::<u64>()))
        .collect();
    let (mut observed, mut expected) = (0u128, 0u128);
    for i in 0..K {
        for j in 0..K {
            let w = (K - 1 - i.abs_diff(j)) as u128;
            observed += w * u128::from(m[i][j]);
            expected += w * rows[i] * cols[j];
        }
    }
    let den = (K - 1) as u128 * n * n - expected;
    let num = (n * observed) as i128 - expected as i128;
    (den > 0).then(|| num as f64 / den as f64)
}

/// Fraction of pairs on the diagonal of a confusion matrix; None when empty.
pub fn category_accuracy<const K: usize>(m: &[[u64; K]; K]) -> Option<f64> {
    let total: u64 = m.iter().flatten().sum();
    let diag: u64 = (0..K).map(|i| m[i][i]).sum();
    (total > 0).then(|| diag as f64 / total as f64)
}

/// Agreement between two score lists a and b (same images, same order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    /// Number of pairs.
    pub n: usize,
    /// Least-squares fit b = intercept + slope a, with its centred R².
    pub linear: Option<LinearFit>,
    /// Least-squares fit through the origin b = slope a, with its uncentred R².
    pub origin: Option<OriginFit>,
    /// Pearson r.
    pub pearson: Option<f64>,
    /// Spearman rho.
    pub spearman: Option<f64>,
    /// ICC(2,1): two-way random, absolute agreement, single rater.
    pub icc_2_1: Option<f64>,
    /// Mean absolute error |b − a|.
    pub mae: Option<f64>,
    /// Bland-Altman bias and limits of b − a.
    pub bland_altman: Option<BlandAltman>,
    /// The grouping of the categories.
    pub grouping: Grouping,
    /// Category names, lowest first (rows and columns of `confusion`).
    pub categories: [&'static str; 3],
    /// Linear-weighted Cohen's kappa over the 3 categories.
    pub kappa_linear: Option<f64>,
    /// Fraction of pairs in the same category.
    pub category_accuracy: Option<f64>,
    /// Confusion matrix: rows the category by a, columns by b.
    pub confusion: [[u64; 3]; 3],
}

/// All agreement metrics between a and b. Fails when the lists differ in
/// length, are empty, or hold a non-finite value.
pub fn agreement(a: &[f64], b: &[f64], grouping: Grouping) -> Result<Agreement, ScoreError> {
    if a.len() != b.len() {
        return Err(ScoreError::Invalid(format!(
            "score lists differ in length: {} vs {}",
            a.len(),
            b.len()
        )));
    }
    if a.is_empty() {
        return Err(ScoreError::Invalid("no score pairs to compare".into()));
    }
    if a.iter().chain(b).any(|v| !v.is_finite()) {
        return Err(ScoreError::Invalid("scores must be finite numbers".into()));
    }
    let pairs: Vec<Vec<f64>> = a.iter().zip(b).map(|(x, y)| vec![*x, *y]).collect();
    let m = confusion(a, b, grouping);
    Ok(Agreement {
        n: a.len(),
        linear: linear_fit(a, b),
        origin: origin_fit(a, b),
        pearson: pearson(a, b),
        spearman: spearman(a, b),
        icc_2_1: icc_2_1(&pairs),
        mae: mean_absolute_error(a, b),
        bland_altman: bland_altman(a, b),
        grouping,
        categories: grouping.names(),
        kappa_linear: weighted_kappa_linear(&m),
        category_accuracy: category_accuracy(&m),
        confusion: m,
    })
}

/// Names of the 8 Kauppila sub-scores, in the order of [`crate::Scored::sub`].
pub const SUBSCORE_NAMES: [&str; 8] = [
    "l1_ant", "l1_post", "l2_ant", "l2_post", "l3_ant", "l3_post", "l4_ant", "l4_post",
];

/// Per-wall agreement of the 8 sub-scores (0..3) between readings a and b of
/// the same images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscoreAgreement {
    /// Number of images.
    pub n: usize,
    /// Linear-weighted kappa over all 8 n sub-scores pooled (4 categories 0..3).
    pub kappa_linear: Option<f64>,
    /// Fraction of all 8 n sub-scores that agree exactly.
    pub exact: Option<f64>,
    /// Exact agreement per sub-score, in [`SUBSCORE_NAMES`] order.
    pub exact_per_subscore: [f64; 8],
    /// Sum over images of the 4 anterior sub-scores: by a, by b.
    pub anterior_total: (u64, u64),
    /// Sum over images of the 4 posterior sub-scores: by a, by b.
    pub posterior_total: (u64, u64),
    /// Pooled 4 x 4 confusion matrix: rows a, columns b.
    pub confusion: [[u64; 4]; 4],
}

/// Sub-score agreement between two lists of 8 sub-scores (same images, same
/// order). Fails when the lists differ in length, are empty, or hold a value
/// above 3.
pub fn subscore_agreement(a: &[[u32; 8]], b: &[[u32; 8]]) -> Result<SubscoreAgreement, ScoreError> {
    if a.len() != b.len() {
        return Err(ScoreError::Invalid(format!(
            "sub-score lists differ in length: {} vs {}",
            a.len(),
            b.len()
        )));
    }
    if a.is_empty() {
        return Err(ScoreError::Invalid("no sub-score pairs to compare".into()));
    }
    if let Some(v) = a.iter().chain(b).flatten().find(|&&v| v > 3) {
        return Err(ScoreError::Invalid(format!(
            "sub-score {v} is outside 0..3"
        )));
    }
    let mut m = [[0u64; 4]; 4];
    let mut same = [0usize; 8];
    let (mut ant, mut post) = ((0u64, 0u64), (0u64, 0u64));
    for (x, y) in a.iter().zip(b) {
        for k in 0..8 {
            m[x[k] as usize][y[k] as usize] += 1;
            same[k] += usize::from(x[k] == y[k]);
            let t = if k % 2 == 0 { &mut ant } else { &mut post };
            t.0 += u64::from(x[k]);
            t.1 += u64::from(y[k]);
        }
    }
    let n = a.len();
    Ok(SubscoreAgreement {
        n,
        kappa_linear: weighted_kappa_linear(&m),
        exact: category_accuracy(&m),
        exact_per_subscore: same.map(|s| s as f64 / n as f64),
        anterior_total: ant,
        posterior_total: post,
        confusion: m,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} != {b} (tol {tol})");
    }

    fn mask(w: u32, h: u32, px: &[u8]) -> Gray8 {
        Gray8::from_raw(w, h, px.to_vec()).unwrap()
    }

    #[test]
    fn overlap_by_hand() {
        // A: 1 1 2 0 0 0     B: 1 0 2 2 0 0
        // Union: TP 2 (px 0, 2), FN 1 (px 1), FP 1 (px 3), TN 2.
        // Dice = 4/6, Jaccard = 2/4, accuracy = 4/6.
        let a = mask(3, 2, &[1, 1, 2, 0, 0, 0]);
        let b = mask(3, 2, &[1, 0, 2, 2, 0, 0]);
        let c = compare_masks(&a, &b).unwrap();
        assert_eq!(
            (c.union.tp, c.union.fp, c.union.fn_, c.union.tn),
            (2, 1, 1, 2)
        );
        close(c.union.dice.unwrap(), 4.0 / 6.0, 1e-12);
        close(c.union.jaccard.unwrap(), 0.5, 1e-12);
        close(c.union.accuracy.unwrap(), 4.0 / 6.0, 1e-12);
        // Anterior: A {0,1}, B {0}: TP 1, FN 1, TN 4 -> Dice 2/3, Jaccard 1/2, acc 5/6.
        close(c.anterior.dice.unwrap(), 2.0 / 3.0, 1e-12);
        close(c.anterior.jaccard.unwrap(), 0.5, 1e-12);
        close(c.anterior.accuracy.unwrap(), 5.0 / 6.0, 1e-12);
        // Posterior: A {2}, B {2,3}: TP 1, FP 1, TN 4 -> Dice 2/3, Jaccard 1/2.
        close(c.posterior.dice.unwrap(), 2.0 / 3.0, 1e-12);
        close(c.posterior.accuracy.unwrap(), 5.0 / 6.0, 1e-12);
    }

    #[test]
    fn anterior_against_posterior_is_disjoint_per_class_but_overlaps_in_union() {
        let a = mask(2, 1, &[1, 0]);
        let b = mask(2, 1, &[2, 0]);
        let c = compare_masks(&a, &b).unwrap();
        assert_eq!(c.union.dice, Some(1.0));
        assert_eq!(c.anterior.dice, Some(0.0));
        assert_eq!(c.posterior.dice, Some(0.0));
    }

    #[test]
    fn both_empty_is_reported_not_divided() {
        let e = mask(2, 2, &[0; 4]);
        let c = compare_masks(&e, &e).unwrap();
        assert!(c.union.both_empty());
        assert_eq!((c.union.dice, c.union.jaccard), (None, None));
        assert_eq!(c.union.accuracy, Some(1.0));
        let full = mask(2, 2, &[1, 1, 0, 0]);
        let half = mask(2, 2, &[1, 0, 0, 0]);
        let items = vec![
            ("e".to_string(), c),
            ("f".to_string(), compare_masks(&full, &half).unwrap()),
            ("g".to_string(), compare_masks(&full, &full).unwrap()),
        ];
        let s = summarize_comparisons(&items);
        assert_eq!(s.n_images, 3);
        assert_eq!(s.union.both_empty, vec!["e".to_string()]);
        // Dice over f (2/3) and g (1): mean 5/6, SD sqrt(((1/6)^2 * 2) / 1).
        let d = s.union.dice.unwrap();
        assert_eq!(d.n, 2);
        close(d.mean, 5.0 / 6.0, 1e-12);
        close(d.sd, (2.0f64 / 36.0).sqrt(), 1e-12);
        // Accuracy over all 3: 1, 3/4, 1.
        assert_eq!(s.union.accuracy.unwrap().n, 3);
        // No posterior anywhere: no Dice at all, 3 images both empty.
        assert_eq!(s.posterior.dice, None);
        assert_eq!(s.posterior.both_empty.len(), 3);
    }

    #[test]
    fn size_mismatch_is_an_error() {
        let e = compare_masks(&Gray8::new(2, 2), &Gray8::new(2, 3)).unwrap_err();
        assert!(matches!(e, ScoreError::SizeMismatch { .. }));
    }

    #[test]
    fn summary_by_hand() {
        assert_eq!(summarize(&[]), None);
        let s = summarize(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        // mean 5, squared deviations sum 32, sample variance 32/7.
        close(s.mean, 5.0, 1e-12);
        close(s.sd, (32.0f64 / 7.0).sqrt(), 1e-12);
        assert_eq!(summarize(&[3.0]).unwrap().sd, 0.0);
    }

    // Hand-computed case, x = a, y = b:
    //   x = 1 2 3 4 5, y = 2 4 5 4 5; mean x 3, mean y 4.
    //   Sxx = 10, Syy = 6, Sxy = 6: slope 0.6, intercept 2.2, r = 6/sqrt(60),
    //   R² = 1 - (6 - 3.6)/6 = 0.6.
    //   Through the origin: b = Σxy/Σx² = 66/55 = 1.2; residuals 0.8 1.6 1.4
    //   -0.8 -1: SS_res = 6.8, Σy² = 86, R²₀ = 1 - 6.8/86.
    //   Ranks of y: 1 2.5 4.5 2.5 4.5: Sxy = 7, Syy = 9, rho = 7/sqrt(90).
    //   |y - x| = 1 2 2 0 0: MAE 1. d = y - x: bias 1, SD 1, limits -0.96, 2.96.
    //   ICC(2,1), n = 5, k = 2: grand mean 3.5, SSR = 2 Σ(row mean - 3.5)² = 14,
    //   SSC = 5 (0.25 + 0.25) = 2.5, SST = 18.5, SSE = 2; BMS 3.5, JMS 2.5,
    //   EMS 0.5: ICC = 3 / (3.5 + 0.5 + 2 * 2 / 5) = 0.625.
    //   Clinical categories: x mild mild mild mild severe, y mild mild severe
    //   mild severe: confusion [[0,0,0],[0,3,1],[0,0,1]], accuracy 4/5;
    //   p_o = (4 + 0.5)/5 = 0.9, rows 0 4 1, cols 0 3 2,
    //   p_e = (4*3 + 1*2 + 0.5 (4*2 + 1*3)) / 25 = 0.78, kappa = 0.12/0.22 = 6/11.
    const X: [f64; 5] = [1.0, 2.0, 3.0, 4.0, 5.0];
    const Y: [f64; 5] = [2.0, 4.0, 5.0, 4.0, 5.0];

    #[test]
    fn agreement_by_hand() {
        let a = agreement(&X, &Y, Grouping::NoneMildSevere).unwrap();
        assert_eq!(a.n, 5);
        let lf = a.linear.unwrap();
        close(lf.slope, 0.6, 1e-12);
        close(lf.intercept, 2.2, 1e-12);
        close(lf.r2.unwrap(), 0.6, 1e-12);
        let of = a.origin.unwrap();
        close(of.slope, 1.2, 1e-12);
        close(of.r2.unwrap(), 1.0 - 6.8 / 86.0, 1e-12);
        close(a.pearson.unwrap(), 6.0 / 60f64.sqrt(), 1e-12);
        close(a.spearman.unwrap(), 7.0 / 90f64.sqrt(), 1e-12);
        close(a.icc_2_1.unwrap(), 0.625, 1e-12);
        close(a.mae.unwrap(), 1.0, 1e-12);
        let ba = a.bland_altman.unwrap();
        close(ba.bias, 1.0, 1e-12);
        close(ba.sd, 1.0, 1e-12);
        close(ba.lower, -0.96, 1e-12);
        close(ba.upper, 2.96, 1e-12);
        assert_eq!(a.confusion, [[0, 0, 0], [0, 3, 1], [0, 0, 1]]);
        close(a.category_accuracy.unwrap(), 0.8, 1e-12);
        close(a.kappa_linear.unwrap(), 6.0 / 11.0, 1e-12);
    }

    #[test]
    fn icc_shrout_fleiss_1979_table_2() {
        // Shrout & Fleiss (1979), Psychological Bulletin 86(2), Table 2:
        // 6 targets rated by 4 judges. Their Table 3 gives BMS 11.24,
        // JMS 32.49, EMS 1.02 and ICC(2,1) = .29.
        let data = vec![
            vec![9.0, 2.0, 5.0, 8.0],
            vec![6.0, 1.0, 3.0, 2.0],
            vec![8.0, 4.0, 6.0, 8.0],
            vec![7.0, 1.0, 2.0, 6.0],
            vec![10.0, 5.0, 6.0, 9.0],
            vec![6.0, 2.0, 4.0, 7.0],
        ];
        let (bms, jms, ems) = anova_mean_squares(&data).unwrap();
        close(bms, 11.24, 0.005);
        close(jms, 32.49, 0.005);
        close(ems, 1.02, 0.005);
        let icc = icc_2_1(&data).unwrap();
        close(icc, 0.29, 0.005);
        // Degenerate tables.
        assert_eq!(icc_2_1(&[vec![1.0, 1.0], vec![1.0, 1.0]]), None);
        assert_eq!(icc_2_1(&[vec![1.0, 2.0]]), None);
        assert_eq!(icc_2_1(&[vec![1.0, 2.0], vec![1.0]]), None);
    }

    #[test]
    fn weighted_kappa_worked_example() {
        // Rows rater A, columns rater B, N = 30:
        //   10  2  0   | 12
        //    3  8  2   | 13
        //    0  1  4   |  5
        //   13 11  6
        // Linear weights 1, 0.5, 0.
        // p_o = (10 + 8 + 4 + 0.5 (2 + 3 + 2 + 1)) / 30 = 26/30.
        // p_e = (12*13 + 13*11 + 5*6 + 0.5 (12*11 + 13*13 + 13*6 + 5*11)) / 900
        //     = (329 + 217) / 900 = 546/900.
        // kappa_w = (780 - 546) / (900 - 546) = 234/354 = 39/59 = 0.6610.
        // Accuracy = 22/30.
        let m = [[10, 2, 0], [3, 8, 2], [0, 1, 4]];
        close(weighted_kappa_linear(&m).unwrap(), 39.0 / 59.0, 1e-12);
        close(category_accuracy(&m).unwrap(), 22.0 / 30.0, 1e-12);
        // The same matrix built from scores (clinical: 0 none, 2 mild, 8 severe).
        let rep = [0.0, 2.0, 8.0];
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, row) in m.iter().enumerate() {
            for (j, &c) in row.iter().enumerate() {
                for _ in 0..c {
                    a.push(rep[i]);
                    b.push(rep[j]);
                }
            }
        }
        assert_eq!(confusion(&a, &b, Grouping::NoneMildSevere), m);
        // For 2 x 2, linear weights are the identity: unweighted kappa.
        // [[20, 5], [10, 15]]: p_o = 0.7, p_e = (25*30 + 25*20)/2500 = 0.5, kappa 0.4.
        close(
            weighted_kappa_linear(&[[20, 5], [10, 15]]).unwrap(),
            0.4,
            1e-12,
        );
        // Perfect agreement and degenerate cases.
        assert_eq!(
            weighted_kappa_linear(&[[3, 0, 0], [0, 2, 0], [0, 0, 1]]),
            Some(1.0)
        );
        assert_eq!(
            weighted_kappa_linear(&[[5, 0, 0], [0, 0, 0], [0, 0, 0]]),
            None
        );
        assert_eq!(weighted_kappa_linear(&[[0u64; 3]; 3]), None);
    }

    #[test]
    fn ranks_with_ties() {
        assert_eq!(ranks(&[10.0, 20.0, 10.0, 30.0]), vec![1.5, 3.0, 1.5, 4.0]);
        assert_eq!(ranks(&[]), Vec::<f64>::new());
    }

    #[test]
    fn degenerate_lists_give_none_not_nan() {
        let c = [3.0, 3.0, 3.0];
        let v = [1.0, 2.0, 3.0];
        assert_eq!(pearson(&c, &v), None);
        assert_eq!(spearman(&c, &v), None);
        assert_eq!(linear_fit(&c, &v), None);
        assert_eq!(linear_fit(&v, &c).unwrap().r2, None);
        assert_eq!(origin_fit(&[0.0, 0.0], &v[..2]), None);
        assert_eq!(origin_fit(&v, &[0.0; 3]).unwrap().r2, None);
        assert_eq!(bland_altman(&[1.0], &[2.0]), None);
        assert_eq!(mean_absolute_error(&[], &[]), None);
        let a = agreement(&[0.0, 0.0], &[0.0, 0.0], Grouping::Established).unwrap();
        assert_eq!((a.pearson, a.icc_2_1, a.kappa_linear), (None, None, None));
        assert_eq!(a.category_accuracy, Some(1.0));
        assert_eq!(a.bland_altman.unwrap().sd, 0.0);
        assert!(agreement(&[], &[], Grouping::Established).is_err());
        assert!(agreement(&[1.0], &[1.0, 2.0], Grouping::Established).is_err());
        assert!(agreement(&[f64::NAN], &[1.0], Grouping::Established).is_err());
    }

    #[test]
    fn identical_lists_agree_perfectly() {
        let v = [0.0, 1.0, 3.0, 6.0, 10.0, 24.0];
        let a = agreement(&v, &v, Grouping::Established).unwrap();
        close(a.pearson.unwrap(), 1.0, 1e-12);
        close(a.icc_2_1.unwrap(), 1.0, 1e-12);
        close(a.kappa_linear.unwrap(), 1.0, 1e-12);
        assert_eq!(a.mae, Some(0.0));
    }

    #[test]
    fn mask_files_compared_with_errors_naming_files() {
        let dir = tempfile::tempdir().unwrap();
        let pa = dir.path().join("a.png");
        let pb = dir.path().join("b.png");
        aac_io::write_mask(&pa, &mask(2, 1, &[1, 0])).unwrap();
        aac_io::write_mask(&pb, &mask(2, 1, &[1, 2])).unwrap();
        let c = compare_mask_files(&pa, &pb).unwrap();
        assert_eq!(c.union.fp, 1);
        aac_io::write_mask(&pb, &Gray8::new(3, 1)).unwrap();
        let e = compare_mask_files(&pa, &pb).unwrap_err().to_string();
        assert!(e.contains("b.png") && e.contains("a.png"), "{e}");
    }
}

#[cfg(test)]
mod subscore_tests {
    use super::*;

    #[test]
    fn subscore_agreement_by_hand() {
        // Image 1: identical. Image 2: all anterior sub-scores moved to 0 (the
        // defect of a wall split that runs to the ROI edge).
        let a = [[1, 0, 2, 1, 0, 0, 3, 3], [2, 1, 2, 1, 1, 0, 0, 2]];
        let b = [[1, 0, 2, 1, 0, 0, 3, 3], [0, 1, 0, 1, 0, 0, 0, 2]];
        let s = subscore_agreement(&a, &b).unwrap();
        assert_eq!(s.n, 2);
        assert_eq!(s.anterior_total, (6 + 5, 6));
        assert_eq!(s.posterior_total, (4 + 4, 8));
        // 16 pairs, 13 equal (image 2 differs at l1_ant, l2_ant, l3_ant).
        assert!((s.exact.unwrap() - 13.0 / 16.0).abs() < 1e-12);
        assert_eq!(s.exact_per_subscore[0], 0.5);
        assert_eq!(s.exact_per_subscore[1], 1.0);
        assert_eq!(s.confusion[2][0], 2);
        assert_eq!(s.confusion[1][0], 1);
        // Hand-worked linear-weighted kappa (weights 1, 2/3, 1/3, 0):
        // rows a = [5, 5, 4, 2], columns b = [8, 4, 2, 2]; observed weighted
        // agreement (13 + 2/3 + 2 * 1/3) / 16; expected agreement
        // sum_ij w_ij r_i c_j / 256.
        let r = [5.0, 5.0, 4.0, 2.0];
        let c = [8.0, 4.0, 2.0, 2.0];
        let w = |i: usize, j: usize| 1.0 - (i as f64 - j as f64).abs() / 3.0;
        let pe: f64 = (0..4)
            .flat_map(|i| (0..4).map(move |j| (i, j)))
            .map(|(i, j)| w(i, j) * r[i] * c[j] / 256.0)
            .sum();
        let po = (13.0 + 2.0 / 3.0 + 2.0 / 3.0) / 16.0;
        let k = (po - pe) / (1.0 - pe);
        assert!(
            (s.kappa_linear.unwrap() - k).abs() < 1e-12,
            "{:?} vs {k}",
            s.kappa_linear
        );
        assert!(subscore_agreement(&a, &b[..1]).is_err());
        assert!(subscore_agreement(&[[4, 0, 0, 0, 0, 0, 0, 0]], &[[0; 8]]).is_err());
        assert!(subscore_agreement(&[], &[]).is_err());
    }
}
