//! AAC24 from a 2-class label image in warped space: the aortic midline fit
//! and the 8 Kauppila sub-scores.
//!
//! # Midline
//!
//! The aortic midline is the vertical line x = l that maximises eq. 1 of
//! Chaplin & Cootes (2019):
//!
//! R(l) = Σ_{anterior pixels} σ(c (x − l)) + Σ_{posterior pixels} σ(c (l − x)),
//!
//! with σ(t) = 1 / (1 + e^(−t)) and steepness c = [`SIGMOID_STEEPNESS`] = 1 per
//! pixel: a pixel 1 px on its correct side counts 0.73, 3 px 0.95, 5 px 0.99.
//! x is the column index (the centre of a pixel, as in the landmark
//! convention). l is searched on a grid from 0 to the image width (128) in
//! steps of [`MIDLINE_STEP`] = 0.25 px. Values within a relative 1e-9 of the
//! maximum count as equal; of the run of equal grid points that contains the
//! first maximum, the middle is returned (so it may fall on a 0.125 px
//! position). This makes wide gaps between the walls, or masks with one class
//! only, give a deterministic line in the middle of the plateau.
//!
//! # Sub-scores
//!
//! For vertebra v (L1..L4, rows 64v .. 64v+63) a_v is the number of rows
//! holding at least one anterior pixel with x > l and p_v the number of rows
//! holding at least one posterior pixel with x < l. Pixels on the wrong side
//! of the midline do not count and several pixels in one row count once. The
//! sub-scores are ⌈3 a_v / 64⌉ and ⌈3 p_v / 64⌉: 0 none, 1 up to 1/3 of the
//! vertebral height (21 rows or fewer), 2 up to 2/3 (22 to 42 rows), 3 above
//! (43 rows or more). AAC24 is the sum of the 8 sub-scores.
//!
//! # AAC-8
//!
//! The simplified 8-point scale of Schousboe et al. (J Clin Densitom 2006):
//! each wall is scored 0-4 by its aggregate calcified length over L1-L4 in
//! units of vertebral height, Σ_v a_v / 64 (anterior) and Σ_v p_v / 64
//! (posterior): 0 none, 1 up to one vertebral height, 2 above one and up to
//! two, 3 above two and up to three, 4 above three. AAC-8 is the sum of the
//! two wall scores (0-8); its usual risk cut point is >= 3 (>= 5 for
//! AAC24). It is computed from the same counted rows as AAC24.

use crate::ScoreError;
use aac_io::{Gray8, IoError, LABEL_ANTERIOR, LABEL_POSTERIOR, ROI_HEIGHT, ROI_WIDTH};
use serde::Serialize;
use std::path::Path;

/// Steepness c of the sigmoid in the midline objective, per pixel.
pub const SIGMOID_STEEPNESS: f64 = 1.0;
/// Step of the grid on which the midline position is searched, in pixels.
pub const MIDLINE_STEP: f64 = 0.25;
/// Relative tolerance within which objective values count as equal.
const PLATEAU_TOLERANCE: f64 = 1e-9;
/// Rows per vertebra in warped space.
const ROWS: u32 = aac_io::ROWS_PER_VERTEBRA;

/// Which labelled pixels count for a wall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WallRule {
    /// The paper's rule for annotations: anterior pixels right of the
    /// midline count for the anterior wall, posterior pixels left of it for
    /// the posterior wall; pixels on the wrong side do not count.
    ByClass,
    /// For segmentations: every labelled pixel counts for the wall on its side
    /// of the midline, whatever its class (see [`score_segmentation`]).
    ByPosition,
}

/// The scores of one label image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scored {
    /// AAC24: the sum of the 8 sub-scores (0..24).
    pub aac24: u32,
    /// Sub-scores 0..3 in the order l1_ant, l1_post, l2_ant, l2_post, l3_ant,
    /// l3_post, l4_ant, l4_post.
    pub sub: [u32; 8],
    /// Calcified rows (0..64) per sub-score, same order.
    pub rows: [u32; 8],
    /// The fitted aortic midline x, or None when the image has no labelled pixel.
    pub midline_x: Option<f64>,
    /// How pixels were assigned to the walls.
    pub rule: WallRule,
}

impl Scored {
    /// The score of an image without calcification.
    pub const ZERO: Scored = Scored {
        aac24: 0,
        sub: [0; 8],
        rows: [0; 8],
        midline_x: None,
        rule: WallRule::ByClass,
    };

    /// The AAC-8 wall scores [anterior, posterior], 0-4 each (module
    /// documentation, "AAC-8").
    pub fn aac8_walls(&self) -> [u32; 2] {
        [0, 1].map(|wall| {
            let rows: u32 = (0..4).map(|v| self.rows[2 * v + wall].min(ROWS)).sum();
            // ceil(rows / 64): up to one vertebral height is 1, and so on.
            rows.div_ceil(ROWS).min(4)
        })
    }

    /// AAC-8: the sum of the two wall scores, 0-8.
    pub fn aac8(&self) -> u32 {
        self.aac8_walls().iter().sum()
    }

    /// AAC24 without rounding up: Σ 3 × (calcified rows / 64) over the 8
    /// segments, 0..24 (24 × the calcified fraction of the wall length).
    pub fn aac24_continuous(&self) -> f64 {
        self.rows
            .iter()
            .map(|&r| 3.0 * f64::from(r.min(ROWS)) / f64::from(ROWS))
            .sum()
    }
}

fn sigmoid(t: f64) -> f64 {
    1.0 / (1.0 + (-t).exp())
}

/// Per column, the number of anterior and posterior pixels.
fn column_counts(labels: &Gray8) -> (Vec<u64>, Vec<u64>) {
    let w = labels.width() as usize;
    let mut ant = vec![0u64; w];
    let mut post = vec![0u64; w];
    for (x, _, p) in labels.enumerate_pixels() {
        match p.0[0] {
            LABEL_ANTERIOR => ant[x as usize] += 1,
            LABEL_POSTERIOR => post[x as usize] += 1,
            _ => {}
        }
    }
    (ant, post)
}

fn objective_from_counts(ant: &[u64], post: &[u64], l: f64) -> f64 {
    let c = SIGMOID_STEEPNESS;
    let mut r = 0.0;
    for (x, (&a, &p)) in ant.iter().zip(post).enumerate() {
        let x = x as f64;
        if a > 0 {
            r += a as f64 * sigmoid(c * (x - l));
        }
        if p > 0 {
            r += p as f64 * sigmoid(c * (l - x));
        }
    }
    r
}

/// The midline objective R(l) of eq. 1 (see the module documentation).
pub fn midline_objective(labels: &Gray8, l: f64) -> f64 {
    let (ant, post) = column_counts(labels);
    objective_from_counts(&ant, &post, l)
}

/// Fits the aortic midline: the x in 0..=width (on a 0.25 px grid, or the
/// middle of a plateau of equal values) that maximises R(l). None when the
/// image has no anterior or posterior pixel. Works on any image size.
pub fn fit_midline(labels: &Gray8) -> Option<f64> {
    let (ant, post) = column_counts(labels);
    if ant.iter().chain(&post).all(|&n| n == 0) {
        return None;
    }
    Some(best_on_grid(&ant, &post, 0.0, f64::from(labels.width())))
}

/// Fits the midline near a prior position (the shape model's predicted aortic
/// centre line, `aac_warp::PreparedRoi::aorta_centre_x`): R(l) is
/// maximised over `prior ± MIDLINE_WINDOW` only, and when either class has
/// fewer than [`MIN_CLASS_PIXELS`] pixels the labels cannot place a midline
/// and the prior is returned. None when the image has no labelled pixel.
///
/// With both classes present, the lumen comes before eq. 1: when the
/// labels show both walls (two groups of columns with an empty run of at
/// least [`LUMEN_GAP`] between them) and the network gave both groups the
/// same class, the classes cannot tell the walls apart and the midline is
/// the middle of the run, wherever the prior lies
/// ([`lumen_between_walls`]), as a reader splits two calcified lines.
/// (Applied also with one class scarce, it moved `random` scans the wrong
/// way: docs/scoring.md.)
///
/// Eq. 1 alone runs to the edge of the ROI when a segmentation labels one
/// class only (every pixel then counts for that wall); the window and the
/// fallback keep the wall split where the anatomy puts it.
pub fn fit_midline_near(labels: &Gray8, prior: f64) -> Option<f64> {
    let (ant, post) = column_counts(labels);
    let (n_ant, n_post): (u64, u64) = (ant.iter().sum(), post.iter().sum());
    if n_ant + n_post == 0 {
        return None;
    }
    let width = f64::from(labels.width());
    let prior = prior.clamp(0.0, width);
    if n_ant < MIN_CLASS_PIXELS || n_post < MIN_CLASS_PIXELS {
        return Some(prior);
    }
    if let Some(lumen) = lumen_between_walls(&ant, &post) {
        return Some(lumen);
    }
    let lo = (prior - MIDLINE_WINDOW).max(0.0);
    let hi = (prior + MIDLINE_WINDOW).min(width);
    Some(best_on_grid(&ant, &post, lo, hi))
}

/// The middle of the lumen when the labels form exactly two groups of
/// columns, separated by one empty run of at least [`LUMEN_GAP`] columns
/// (no other run that wide), each group with at least [`MIN_CLASS_PIXELS`]
/// pixels and both given one class by the network (the same class holds
/// most pixels of each; per column counts `ant` and `post`). None
/// otherwise, and then the classes place the midline.
///
/// Why: the network's class follows position in the warped region as much
/// as the wall's look. An aorta further from the spine than the shape model
/// predicts (an ectatic aorta: docs/synthetic.md, `ectatic`) puts its
/// posterior wall where the anterior wall usually lies; both walls were
/// labelled anterior and the posterior deposits counted for the anterior
/// wall (docs/scoring.md). A third group (a stray speck far from the walls
/// opens a second run) or groups of different classes leave the split to
/// the classes.
pub fn lumen_between_walls(ant: &[u64], post: &[u64]) -> Option<f64> {
    let labelled: Vec<bool> = ant.iter().zip(post).map(|(a, p)| a + p > 0).collect();
    let first = labelled.iter().position(|&b| b)?;
    let last = labelled.iter().rposition(|&b| b)?;
    let mut lumens = Vec::new();
    let mut x = first;
    while x <= last {
        if labelled[x] {
            x += 1;
            continue;
        }
        let start = x;
        while x <= last && !labelled[x] {
            x += 1;
        }
        if x - start >= LUMEN_GAP {
            lumens.push((start, x));
        }
    }
    let [(start, end)] = lumens[..] else {
        return None;
    };
    let sum = |v: &[u64]| v.iter().sum::<u64>();
    let sides = [
        (sum(&ant[..start]), sum(&post[..start])),
        (sum(&ant[end..]), sum(&post[end..])),
    ];
    // A group's class: the one most of its pixels have (None for a tie or
    // too few pixels to tell).
    let class_of = |(a, p): (u64, u64)| match (a + p >= MIN_CLASS_PIXELS, a.cmp(&p)) {
        (false, _) | (true, std::cmp::Ordering::Equal) => None,
        (true, std::cmp::Ordering::Greater) => Some(LABEL_ANTERIOR),
        (true, std::cmp::Ordering::Less) => Some(LABEL_POSTERIOR),
    };
    let (left, right) = (class_of(sides[0])?, class_of(sides[1])?);
    // The empty columns are start..end; their middle.
    (left == right).then(|| (start + end - 1) as f64 / 2.0)
}

/// Narrowest empty run of columns (warped pixels) between two groups of
/// labelled pixels that [`lumen_between_walls`] reads as the aortic lumen:
/// about half the lumen between the predicted walls (15-20 px either side
/// of the centre line); 10 and 24 gave the same held-out figures within a
/// point of a per-wall total (docs/scoring.md).
pub const LUMEN_GAP: usize = 16;

/// Half-width, in warped pixels, of the window around the shape model's
/// predicted aortic centre line in which [`fit_midline_near`] searches. The
/// predicted walls sit about 15-20 px either side of it, so a window of
/// ±12 px keeps the midline inside the lumen.
pub const MIDLINE_WINDOW: f64 = 12.0;
/// Fewest pixels each class needs before the labels, rather than the
/// predicted centre line, place the midline.
pub const MIN_CLASS_PIXELS: u64 = 8;

/// Midline at the middle of the plateau of maximal R(l) among the grid points
/// `l = lo + i * step` up to `hi`.
fn best_on_grid(ant: &[u64], post: &[u64], lo: f64, hi: f64) -> f64 {
    let n_steps = ((hi - lo) / MIDLINE_STEP).round().max(0.0) as usize;
    let values: Vec<f64> = (0..=n_steps)
        .map(|i| objective_from_counts(ant, post, lo + i as f64 * MIDLINE_STEP))
        .collect();
    let (mut best_i, mut best) = (0usize, f64::NEG_INFINITY);
    for (i, &v) in values.iter().enumerate() {
        if v > best {
            best = v;
            best_i = i;
        }
    }
    let floor = best - PLATEAU_TOLERANCE * best.abs().max(1.0);
    let mut first = best_i;
    while first > 0 && values[first - 1] >= floor {
        first -= 1;
    }
    let mut last = best_i;
    while last + 1 < values.len() && values[last + 1] >= floor {
        last += 1;
    }
    lo + (first + last) as f64 * MIDLINE_STEP / 2.0
}

/// The wall (`LABEL_ANTERIOR` or `LABEL_POSTERIOR`) that a pixel with
/// `label` at column `x` counts for under `rule`, or None when it does not
/// count (background, the wrong side of the midline for its class, or on the
/// midline).
pub fn counted_wall(label: u8, x: f64, midline: f64, rule: WallRule) -> Option<u8> {
    let side = if x > midline {
        LABEL_ANTERIOR
    } else if x < midline {
        LABEL_POSTERIOR
    } else {
        return None;
    };
    match (rule, label) {
        (_, 0) => None,
        (WallRule::ByPosition, LABEL_ANTERIOR | LABEL_POSTERIOR) => Some(side),
        (WallRule::ByClass, l) if l == side => Some(side),
        _ => None,
    }
}

/// The labels as scored: each pixel replaced by the wall it counts for under
/// `scored`'s midline and rule (0 where it does not count). What a QC overlay
/// should draw so that its colours match the sub-scores.
pub fn counted_labels(labels: &Gray8, scored: &Scored) -> Gray8 {
    let Some(l) = scored.midline_x else {
        return Gray8::new(labels.width(), labels.height());
    };
    Gray8::from_fn(labels.width(), labels.height(), |x, y| {
        let wall = counted_wall(labels.get_pixel(x, y).0[0], f64::from(x), l, scored.rule);
        image::Luma([wall.unwrap_or(0)])
    })
}

/// Whether warped row `y` counts as calcified on the anterior and on the
/// posterior wall, given the midline and the rule.
fn row_walls(labels: &Gray8, y: u32, midline: f64, rule: WallRule) -> (bool, bool) {
    let (mut ant, mut post) = (false, false);
    for x in 0..labels.width() {
        match counted_wall(labels.get_pixel(x, y).0[0], f64::from(x), midline, rule) {
            Some(LABEL_ANTERIOR) => ant = true,
            Some(_) => post = true,
            None => {}
        }
    }
    (ant, post)
}

/// Rows counted as calcified given a midline, in sub-score order (l1_ant,
/// l1_post, ..., l4_post): per vertebra the rows where [`WallRule::ByClass`]
/// finds an anterior pixel with x > `midline`, and those with a posterior
/// pixel with x < `midline`. Rows below 256 are ignored.
pub fn calcified_rows(labels: &Gray8, midline: f64) -> [u32; 8] {
    rows_with_rule(labels, midline, WallRule::ByClass)
}

fn rows_with_rule(labels: &Gray8, midline: f64, rule: WallRule) -> [u32; 8] {
    let mut rows = [0u32; 8];
    for y in 0..labels.height().min(4 * ROWS) {
        let v = (y / ROWS) as usize;
        let (ant, post) = row_walls(labels, y, midline, rule);
        rows[2 * v] += u32::from(ant);
        rows[2 * v + 1] += u32::from(post);
    }
    rows
}

/// The calcified length along the anterior and the posterior wall from T12/L1
/// to L4/L5 in mm: the sum over counted rows of `row_length_mm[y]`, the
/// source-image length of warped row y (`aac_warp::row_lengths_mm`). Both
/// are 0 when `scored` has no midline (nothing calcified).
pub fn wall_lengths_mm(labels: &Gray8, scored: &Scored, row_length_mm: &[f64]) -> [f64; 2] {
    let Some(l) = scored.midline_x else {
        return [0.0, 0.0];
    };
    let mut len = [0.0, 0.0];
    for y in 0..labels.height().min(4 * ROWS) {
        let (ant, post) = row_walls(labels, y, l, scored.rule);
        let step = row_length_mm.get(y as usize).copied().unwrap_or(0.0);
        len[0] += if ant { step } else { 0.0 };
        len[1] += if post { step } else { 0.0 };
    }
    len
}

/// The Kauppila sub-score of a calcified length of `rows` rows out of 64:
/// ⌈3 rows / 64⌉, at most 3.
pub fn subscore(rows: u32) -> u32 {
    (3 * rows.min(ROWS)).div_ceil(ROWS)
}

/// The calcified rows a reader who reads lengths `scale` times as long as
/// measured would count: `rows` x `scale`, rounded, within 0..64.
pub fn scaled_rows(rows: u32, scale: f64) -> u32 {
    (f64::from(rows) * scale)
        .round()
        .clamp(0.0, f64::from(ROWS)) as u32
}

impl Scored {
    /// The same labels scored with each wall's calcified lengths multiplied
    /// by its factor (anterior, posterior) before the Kauppila rule
    /// ([`scaled_rows`]): how `aac calibrate` adapts a model to a reader who
    /// reads lengths longer or shorter than measured. Factors of 1 leave the
    /// score as it is.
    pub fn with_length_scales(&self, scales: [f64; 2]) -> Scored {
        let rows: [u32; 8] = std::array::from_fn(|k| scaled_rows(self.rows[k], scales[k % 2]));
        let sub = rows.map(subscore);
        Scored {
            aac24: sub.iter().sum(),
            sub,
            rows,
            ..*self
        }
    }
}

/// Checks a label image is 128 x 256 with labels 0..2.
fn check(labels: &Gray8) -> Result<(), ScoreError> {
    if labels.dimensions() != (ROI_WIDTH, ROI_HEIGHT) {
        return Err(ScoreError::WrongSize {
            width: labels.width(),
            height: labels.height(),
        });
    }
    if let Some((x, y, p)) = labels.enumerate_pixels().find(|(_, _, p)| p.0[0] > 2) {
        return Err(ScoreError::BadLabel {
            x,
            y,
            value: p.0[0],
        });
    }
    Ok(())
}

/// Scores a 128 x 256 label image (0 none, 1 anterior, 2 posterior) by the
/// paper's rule, for annotations: fits the midline (eq. 1) and computes the 8
/// sub-scores and AAC24 with [`WallRule::ByClass`]. An image without labelled
/// pixels has no midline and scores 0. Fails on another size or on labels
/// outside 0..2.
pub fn score_labels(labels: &Gray8) -> Result<Scored, ScoreError> {
    check(labels)?;
    Ok(match fit_midline(labels) {
        Some(l) => scored_with(labels, l, WallRule::ByClass),
        None => Scored::ZERO,
    })
}

/// Scores the labels of a segmentation model, given the shape model's
/// predicted aortic centre line `prior` in warped space
/// (`aac_warp::PreparedRoi::aorta_centre_x`): the midline is fitted near it,
/// or in the lumen between two walls the network gave one class
/// ([`fit_midline_near`]), and every labelled pixel counts for the wall on
/// its side ([`WallRule::ByPosition`]).
///
/// Why not the paper's rule: a 2-class network that has not (yet) learned to
/// tell the walls apart labels most calcification with one class; eq. 1 then
/// runs to the edge of the ROI and every pixel counts for that wall (a whole
/// cohort with every anterior sub-score 0). The wall a deposit lies on is a
/// matter of position, which the predicted aorta and the labels' own split
/// give robustly; measured on held-out synthetic cohorts in docs/scoring.md.
pub fn score_segmentation(labels: &Gray8, prior: f64) -> Result<Scored, ScoreError> {
    check(labels)?;
    Ok(match fit_midline_near(labels, prior) {
        Some(l) => scored_with(labels, l, WallRule::ByPosition),
        None => Scored {
            rule: WallRule::ByPosition,
            ..Scored::ZERO
        },
    })
}

fn scored_with(labels: &Gray8, midline: f64, rule: WallRule) -> Scored {
    let rows = rows_with_rule(labels, midline, rule);
    let sub = rows.map(subscore);
    Scored {
        aac24: sub.iter().sum(),
        sub,
        rows,
        midline_x: Some(midline),
        rule,
    }
}

/// Reads a label mask PNG and scores it; every error names the file.
pub fn score_mask_file(path: &Path) -> Result<Scored, ScoreError> {
    let labels = aac_io::read_mask(path, None)?;
    score_labels(&labels).map_err(|e| in_file(path, e))
}

/// Attaches a file name to an error that does not carry one.
pub(crate) fn in_file(path: &Path, e: ScoreError) -> ScoreError {
    match e {
        ScoreError::Io(e) => ScoreError::Io(e),
        other => ScoreError::Io(IoError::format(path, other.to_string())),
    }
}

/// Labels from probability planes, the one rule for every segmentation
/// model, with one threshold for every class (see
/// [`labels_from_planes_per_class`]).
pub fn labels_from_planes(planes: &[Vec<f32>], width: u32, height: u32, threshold: f32) -> Gray8 {
    labels_from_planes_per_class(planes, width, height, [threshold, threshold])
}

/// Labels from probability planes with a threshold per class. One plane: 1
/// where `p >= thresholds[0]`. Two planes (anterior a, posterior p): 0 where
/// both are below their thresholds, else the class further above its own
/// (a / t_a against p / t_p; anterior on a tie), so that with equal
/// thresholds the larger probability wins. A missing or NaN value counts 0.
pub fn labels_from_planes_per_class(
    planes: &[Vec<f32>],
    width: u32,
    height: u32,
    thresholds: [f32; 2],
) -> Gray8 {
    let n = (width as usize) * (height as usize);
    let at = |c: usize, i: usize| {
        planes
            .get(c)
            .and_then(|p| p.get(i))
            .copied()
            .filter(|v| !v.is_nan())
            .unwrap_or(0.0)
    };
    let [ta, tp] = thresholds;
    let data: Vec<u8> = (0..n)
        .map(|i| {
            if planes.len() < 2 {
                u8::from(at(0, i) >= ta)
            } else {
                let (a, p) = (at(0, i), at(1, i));
                if a < ta && p < tp {
                    0
                } else if a * tp >= p * ta {
                    LABEL_ANTERIOR
                } else {
                    LABEL_POSTERIOR
                }
            }
        })
        .collect();
    Gray8::from_raw(width, height, data).expect("buffer has width x height pixels")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANT_X: u32 = 90;
    const POST_X: u32 = 60;

    fn blank() -> Gray8 {
        Gray8::new(ROI_WIDTH, ROI_HEIGHT)
    }

    fn paint(m: &mut Gray8, x: u32, rows: std::ops::Range<u32>, label: u8) {
        for y in rows {
            m.put_pixel(x, y, image::Luma([label]));
        }
    }

    #[test]
    fn aac8_by_hand() {
        // Anterior: rows 10..40 of L1 (30 rows) and 0..64 of L2 (64 rows):
        // 94 rows = 1.47 vertebral heights -> 2. Posterior: all 256 rows =
        // 4 heights -> 4. AAC-8 6. AAC24: L1a ceil(90/64) = 2, L2a 3, each
        // posterior 3: 2 + 3 + 12 = 17.
        let mut m = with_anterior(10..40);
        paint(&mut m, ANT_X, 64..128, LABEL_ANTERIOR);
        let s = score_labels(&m).unwrap();
        assert_eq!(s.rows, [30, 64, 64, 64, 0, 64, 0, 64]);
        assert_eq!((s.aac24, s.aac8_walls(), s.aac8()), (17, [2, 4], 6));
        // Exactly one height (64 rows spread over two vertebrae) is 1; one
        // row more is 2; nothing is 0.
        let mut m = with_anterior(32..64);
        paint(&mut m, ANT_X, 64..96, LABEL_ANTERIOR);
        assert_eq!(score_labels(&m).unwrap().aac8_walls(), [1, 4]);
        paint(&mut m, ANT_X, 96..97, LABEL_ANTERIOR);
        assert_eq!(score_labels(&m).unwrap().aac8_walls(), [2, 4]);
        assert_eq!(Scored::ZERO.aac8(), 0);
    }

    /// A mask with a full posterior wall (all 256 rows at x = 60) so that the
    /// midline is well defined, plus anterior rows as given at x = 90.
    fn with_anterior(rows: std::ops::Range<u32>) -> Gray8 {
        let mut m = blank();
        paint(&mut m, POST_X, 0..256, LABEL_POSTERIOR);
        paint(&mut m, ANT_X, rows, LABEL_ANTERIOR);
        m
    }

    #[test]
    fn empty_mask_scores_zero_without_midline() {
        let s = score_labels(&blank()).unwrap();
        assert_eq!(s, Scored::ZERO);
        assert_eq!(fit_midline(&blank()), None);
    }

    #[test]
    fn all_rows_both_walls_give_24() {
        let m = with_anterior(0..256);
        let s = score_labels(&m).unwrap();
        assert_eq!(s.sub, [3; 8]);
        assert_eq!(s.aac24, 24);
        // Equal walls 30 px apart: the midline is half-way, exactly on the grid.
        assert_eq!(s.midline_x, Some(75.0));
    }

    #[test]
    fn length_scales_move_each_wall_by_its_factor() {
        let s = Scored {
            aac24: 5,
            sub: [1, 1, 2, 0, 0, 0, 0, 1],
            rows: [10, 20, 30, 0, 0, 0, 0, 21],
            midline_x: Some(60.0),
            rule: WallRule::ByPosition,
        };
        assert_eq!(s.with_length_scales([1.0, 1.0]), s);
        let t = s.with_length_scales([1.5, 1.0]);
        // Anterior 10, 30 rows -> 15, 45: sub-scores 1 -> 1 and 2 -> 3.
        assert_eq!(t.rows, [15, 20, 45, 0, 0, 0, 0, 21]);
        assert_eq!(t.sub, [1, 1, 3, 0, 0, 0, 0, 1]);
        assert_eq!(t.aac24, 6);
        let u = s.with_length_scales([1.0, 0.5]);
        assert_eq!(u.sub, [1, 1, 2, 0, 0, 0, 0, 1]);
        assert_eq!(u.rows[7], 11);
        assert_eq!(scaled_rows(60, 2.0), 64);
    }

    #[test]
    fn subscore_thresholds() {
        // Hand computed: ceil(3 * rows / 64).
        let cases = [
            (0, 0),
            (1, 1),
            (21, 1), // 63/64
            (22, 2), // 66/64
            (42, 2), // 126/64
            (43, 3), // 129/64
            (64, 3),
        ];
        for (rows, want) in cases {
            assert_eq!(subscore(rows), want, "{rows} rows");
        }
    }

    #[test]
    fn twenty_one_vs_twenty_two_rows() {
        // L2 occupies rows 64..128.
        let s21 = score_labels(&with_anterior(70..91)).unwrap();
        let s22 = score_labels(&with_anterior(70..92)).unwrap();
        assert_eq!(s21.sub, [0, 3, 1, 3, 0, 3, 0, 3]);
        assert_eq!(s22.sub, [0, 3, 2, 3, 0, 3, 0, 3]);
        assert_eq!((s21.aac24, s22.aac24), (13, 14));
    }

    #[test]
    fn forty_two_vs_forty_three_rows() {
        // L3 occupies rows 128..192.
        let s42 = score_labels(&with_anterior(140..182)).unwrap();
        let s43 = score_labels(&with_anterior(140..183)).unwrap();
        assert_eq!(s42.sub[4], 2);
        assert_eq!(s43.sub[4], 3);
    }

    #[test]
    fn deposit_bridging_two_vertebrae_counts_in_both() {
        // Rows 50..80: 14 rows in L1 (50..63) and 16 in L2 (64..79).
        let m = with_anterior(50..80);
        let s = score_labels(&m).unwrap();
        let l = s.midline_x.unwrap();
        let rows = calcified_rows(&m, l);
        assert_eq!((rows[0], rows[2]), (14, 16));
        assert_eq!((s.sub[0], s.sub[2]), (1, 1));
        assert_eq!((s.sub[4], s.sub[6]), (0, 0));
    }

    #[test]
    fn several_pixels_in_one_row_count_once() {
        // 21 rows of L4 (192..213), each with 8 anterior pixels: still 21 rows, sub-score 1.
        let mut m = with_anterior(0..0);
        for x in 85..93 {
            paint(&mut m, x, 192..213, LABEL_ANTERIOR);
        }
        let s = score_labels(&m).unwrap();
        let rows = calcified_rows(&m, s.midline_x.unwrap());
        assert_eq!(rows[6], 21);
        assert_eq!(s.sub[6], 1);
    }

    #[test]
    fn stray_anterior_pixels_on_posterior_side_do_not_count() {
        // Anterior wall in L1 only; anterior-labelled strays far on the
        // posterior side (x = 20) over 40 rows of L3.
        let mut m = with_anterior(0..30);
        paint(&mut m, 20, 140..180, LABEL_ANTERIOR);
        // And posterior-labelled strays far anterior (x = 120) in L4.
        paint(&mut m, 120, 200..210, LABEL_POSTERIOR);
        let s = score_labels(&m).unwrap();
        let l = s.midline_x.unwrap();
        assert!(l > 60.0 && l < 90.0, "midline {l}");
        assert_eq!(s.sub[0], 2); // 30 rows
        assert_eq!(s.sub[4], 0); // strays not counted
        assert_eq!(s.sub[7], 3); // the posterior wall (x = 60) still counts all 64 rows of L4
        let rows = calcified_rows(&m, l);
        assert_eq!((rows[4], rows[7]), (0, 64));
    }

    #[test]
    fn midline_is_the_grid_maximum() {
        // Unequal walls 4 px apart: by hand R(73.5) = 206.5, R(73.75) = 206.7,
        // R(74) = 206.4; the bigger posterior wall pushes the line toward the
        // smaller anterior one.
        let mut m = blank();
        paint(&mut m, 70, 0..200, LABEL_POSTERIOR);
        paint(&mut m, 74, 0..20, LABEL_ANTERIOR);
        let l = fit_midline(&m).unwrap();
        assert!(l > 70.0 && l < 74.0, "{l}");
        let best = (0..=512)
            .map(|i| midline_objective(&m, i as f64 * 0.25))
            .fold(f64::NEG_INFINITY, f64::max);
        assert!((midline_objective(&m, l) - best).abs() < 1e-9 * best);
        assert!(l > 72.0, "pushed toward the smaller wall: {l}");
        assert_eq!(l, 73.75);
    }

    #[test]
    fn one_class_only_gives_plateau_middle() {
        let mut m = blank();
        paint(&mut m, 100, 0..10, LABEL_ANTERIOR);
        let l = fit_midline(&m).unwrap();
        // R is flat (to 1e-9) for l well below 100: the middle of that plateau.
        assert!(l > 20.0 && l < 60.0, "{l}");
        assert_eq!(fit_midline(&m), Some(l), "deterministic");
        let s = score_labels(&m).unwrap();
        assert_eq!(s.sub[0], 1);
        let mut m = blank();
        paint(&mut m, 10, 0..10, LABEL_POSTERIOR);
        let l = fit_midline(&m).unwrap();
        assert!(l > 60.0 && l <= 128.0, "{l}");
        assert_eq!(score_labels(&m).unwrap().sub[1], 1);
    }

    #[test]
    fn objective_by_hand() {
        // One anterior pixel at x = 2 and one posterior at x = 0, l = 1:
        // sigma(1) + sigma(1) = 2 / (1 + e^-1) = 1.4621...
        let mut m = Gray8::new(4, 1);
        m.put_pixel(2, 0, image::Luma([1]));
        m.put_pixel(0, 0, image::Luma([2]));
        let r = midline_objective(&m, 1.0);
        assert!((r - 2.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-12);
        assert_eq!(fit_midline(&m), Some(1.0));
    }

    #[test]
    fn wrong_size_and_bad_labels_are_errors() {
        let e = score_labels(&Gray8::new(256, 128)).unwrap_err();
        assert!(matches!(
            e,
            ScoreError::WrongSize {
                width: 256,
                height: 128
            }
        ));
        assert!(e.to_string().contains("128x256"), "{e}");
        let mut m = blank();
        m.put_pixel(5, 7, image::Luma([3]));
        let e = score_labels(&m).unwrap_err();
        assert!(matches!(
            e,
            ScoreError::BadLabel {
                x: 5,
                y: 7,
                value: 3
            }
        ));
    }

    #[test]
    fn mask_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("small.png");
        aac_io::write_mask(&p, &Gray8::new(10, 10)).unwrap();
        let e = score_mask_file(&p).unwrap_err().to_string();
        assert!(e.contains("small.png") && e.contains("128x256"), "{e}");
        let e = score_mask_file(&dir.path().join("missing.png"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.png"), "{e}");
        let p = dir.path().join("ok.png");
        aac_io::write_mask(&p, &with_anterior(0..64)).unwrap();
        assert_eq!(score_mask_file(&p).unwrap().sub[0], 3);
    }

    #[test]
    fn probabilities_to_labels() {
        let ant = [0.9, 0.2, 0.6, 0.3, f32::NAN, 0.7];
        let post = [0.1, 0.8, 0.6, 0.4, 0.9];
        let planes = vec![ant.to_vec(), post.to_vec()];
        let m = labels_from_planes(&planes, 3, 2, 0.5);
        // 0.9>0.1 -> 1; 0.8>0.2 -> 2; tie 0.6 -> 1; 0.4 below threshold -> 0;
        // NaN counts 0, 0.9 -> 2; post missing, 0.7 -> 1.
        assert_eq!(m.as_raw(), &vec![1, 2, 1, 0, 2, 1]);
        // At the threshold counts (a forest threshold of 1.0 must still mark).
        let one = labels_from_planes(&[vec![1.0, 0.99]], 2, 1, 1.0);
        assert_eq!(one.as_raw(), &vec![1, 0]);
        let short = labels_from_planes(&[], 2, 2, 0.5);
        assert_eq!(short.as_raw(), &vec![0; 4]);
    }

    #[test]
    fn per_class_thresholds() {
        let ant = [0.25, 0.3, 0.3, 0.1, 0.6];
        let post = [0.1, 0.4, 0.6, 0.45, 0.6];
        let planes = vec![ant.to_vec(), post.to_vec()];
        let m = labels_from_planes_per_class(&planes, 5, 1, [0.2, 0.5]);
        // 0.25 passes the anterior 0.2 alone -> 1; 0.3/0.2 = 1.5 beats
        // 0.4/0.5 -> 1; 0.3/0.2 = 1.5 beats 0.6/0.5 = 1.2 -> 1; both below
        // -> 0; 0.6/0.2 = 3 beats 0.6/0.5 -> 1.
        assert_eq!(m.as_raw(), &vec![1, 1, 1, 0, 1]);
        let m = labels_from_planes_per_class(&planes, 5, 1, [0.5, 0.2]);
        assert_eq!(m.as_raw(), &vec![0, 2, 2, 2, 2]);
        // Equal thresholds are the one-threshold rule.
        assert_eq!(
            labels_from_planes_per_class(&planes, 5, 1, [0.3, 0.3]),
            labels_from_planes(&planes, 5, 1, 0.3)
        );
    }

    #[test]
    fn probabilities_scored_directly() {
        let (w, h) = (ROI_WIDTH, ROI_HEIGHT);
        let mut ant = vec![0.0f32; (w * h) as usize];
        let mut post = vec![0.0f32; (w * h) as usize];
        for y in 0..64 {
            ant[(y * w + ANT_X) as usize] = 0.95;
            post[(y * w + POST_X) as usize] = 0.8;
        }
        let s = score_labels(&labels_from_planes(&[ant, post], w, h, 0.5)).unwrap();
        assert_eq!(s.sub, [3, 3, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn one_class_labels_split_at_the_prior() {
        // Both walls labelled posterior (a network that never learned the
        // anterior class): eq. 1 runs to the edge and scores no anterior
        // wall; the segmentation rule splits at the predicted centre line.
        let mut m = blank();
        paint(&mut m, POST_X, 0..64, LABEL_POSTERIOR);
        paint(&mut m, ANT_X, 64..128, LABEL_POSTERIOR);
        let paper = score_labels(&m).unwrap();
        assert_eq!(paper.sub, [0, 3, 0, 3, 0, 0, 0, 0]);
        let seg = score_segmentation(&m, 75.0).unwrap();
        assert_eq!(seg.midline_x, Some(75.0));
        assert_eq!(seg.sub, [0, 3, 3, 0, 0, 0, 0, 0]);
        assert_eq!(seg.rule, WallRule::ByPosition);
    }

    #[test]
    fn walls_of_one_class_split_in_the_lumen_wherever_the_prior_lies() {
        // An aorta further forward than predicted: both walls labelled
        // mostly anterior, at columns 80-81 (L1-L2, 8 posterior pixels
        // among them) and 116 (L2-L3), the prior at 64. The lumen (columns
        // 82-115 empty) splits them: 98.5.
        let mut m = blank();
        paint(&mut m, 80, 0..128, LABEL_ANTERIOR);
        paint(&mut m, 81, 0..128, LABEL_ANTERIOR);
        paint(&mut m, 81, 0..MIN_CLASS_PIXELS as u32, LABEL_POSTERIOR);
        paint(&mut m, 116, 64..192, LABEL_ANTERIOR);
        let s = score_segmentation(&m, 64.0).unwrap();
        assert_eq!(s.midline_x, Some(98.5));
        assert_eq!(s.sub, [0, 3, 3, 3, 3, 0, 0, 0]);
        // Walls of different classes: the classes place the line (eq. 1
        // near the prior, as before): as far from both as the window
        // 84 +/- 12 allows, not the lumen's middle (98.5).
        let mut two = blank();
        paint(&mut two, 80, 0..128, LABEL_POSTERIOR);
        paint(&mut two, 116, 64..192, LABEL_ANTERIOR);
        let l = fit_midline_near(&two, 84.0).unwrap();
        assert!((90.0..=96.0).contains(&l), "{l}");
        // A run of exactly LUMEN_GAP columns (82-97) is a lumen.
        let mut just = m.clone();
        paint(&mut just, 116, 64..192, 0);
        paint(&mut just, 82 + LUMEN_GAP as u32, 64..192, LABEL_ANTERIOR);
        assert_eq!(fit_midline_near(&just, 64.0), Some(89.5));
        // One column narrower is none: eq. 1 in the window 64 +/- 12 puts
        // the line left of both groups, as their class (anterior) says.
        let mut narrow = m.clone();
        paint(&mut narrow, 116, 64..192, 0);
        paint(&mut narrow, 81 + LUMEN_GAP as u32, 64..192, LABEL_ANTERIOR);
        let s = score_segmentation(&narrow, 64.0).unwrap();
        assert!(s.midline_x.unwrap() < 76.5, "{s:?}");
        assert_eq!(s.sub, [3, 0, 3, 0, 3, 0, 0, 0]);
        // One class scarce: the prior, lumen or not.
        let mut scarce = m.clone();
        paint(&mut scarce, 81, 0..MIN_CLASS_PIXELS as u32, LABEL_ANTERIOR);
        assert_eq!(fit_midline_near(&scarce, 64.0), Some(64.0));
    }

    #[test]
    fn only_two_groups_of_one_class_each_make_a_lumen() {
        let cols = |groups: &[(usize, u64, u64)]| {
            let (mut ant, mut post) = (vec![0u64; 128], vec![0u64; 128]);
            for &(x, a, p) in groups {
                ant[x] = a;
                post[x] = p;
            }
            (ant, post)
        };
        let (a, p) = cols(&[(60, 40, 0), (90, 40, 0)]);
        assert_eq!(lumen_between_walls(&a, &p), Some(75.0));
        // A posterior wall at 40, an anterior one at 75 and a stray
        // anterior speck at 120: two wide runs, three groups, no lumen.
        let (a, p) = cols(&[(40, 0, 64), (75, 128, 0), (120, 10, 0)]);
        assert_eq!(lumen_between_walls(&a, &p), None);
        // Groups of different classes, a tie, or too few pixels: none.
        let (a, p) = cols(&[(60, 0, 40), (90, 40, 0)]);
        assert_eq!(lumen_between_walls(&a, &p), None);
        let (a, p) = cols(&[(60, 20, 20), (90, 40, 0)]);
        assert_eq!(lumen_between_walls(&a, &p), None);
        let (a, p) = cols(&[(60, MIN_CLASS_PIXELS - 1, 0), (90, 40, 0)]);
        assert_eq!(lumen_between_walls(&a, &p), None);
        // Nothing labelled, or one group: none.
        assert_eq!(lumen_between_walls(&[0; 8], &[0; 8]), None);
        assert_eq!(lumen_between_walls(&[0, 9, 0, 0], &[0, 0, 0, 9]), None);
    }

    #[test]
    fn labels_place_the_midline_only_inside_the_window() {
        // Two classes, well populated: eq. 1's maximum between the walls
        // (60 and 90; 256 posterior vs 64 anterior pixels put it at
        // 75 + ln(4)/2 = 75.7), inside the window 70 +/- 12.
        let m = with_anterior(0..64);
        let l = fit_midline_near(&m, 70.0).unwrap();
        assert!((75.5..=76.0).contains(&l), "{l}");
        // A prior far from the labels bounds the line: R(l) is flat (to
        // 1e-9) over the window 8..32, whose middle is the prior.
        assert_eq!(fit_midline_near(&m, 20.0), Some(20.0));
        // Too few anterior pixels: the prior.
        let mut few = blank();
        paint(&mut few, POST_X, 0..64, LABEL_POSTERIOR);
        paint(
            &mut few,
            ANT_X,
            0..(MIN_CLASS_PIXELS as u32 - 1),
            LABEL_ANTERIOR,
        );
        assert_eq!(fit_midline_near(&few, 80.0), Some(80.0));
        assert_eq!(fit_midline_near(&blank(), 80.0), None);
        assert_eq!(score_segmentation(&blank(), 80.0).unwrap().aac24, 0);
    }

    #[test]
    fn continuous_score_and_wall_lengths_by_hand() {
        // Anterior: 10 rows at L1, 64 at L2; posterior: 30 rows at L4.
        let mut m = blank();
        paint(&mut m, ANT_X, 0..10, LABEL_ANTERIOR);
        paint(&mut m, ANT_X, 64..128, LABEL_ANTERIOR);
        paint(&mut m, POST_X, 192..222, LABEL_POSTERIOR);
        let s = score_segmentation(&m, 75.0).unwrap();
        assert_eq!(s.rows, [10, 0, 64, 0, 0, 0, 0, 30]);
        assert_eq!(s.sub, [1, 0, 3, 0, 0, 0, 0, 2]);
        // 3 * (10 + 64 + 30) / 64 = 4.875, below the integer 6.
        assert!((s.aac24_continuous() - 4.875).abs() < 1e-12);
        // Rows 0..128 are 0.5 mm long in the source, rows 128..256 0.8 mm.
        let row_mm: Vec<f64> = (0..256).map(|y| if y < 128 { 0.5 } else { 0.8 }).collect();
        let [a, p] = wall_lengths_mm(&m, &s, &row_mm);
        assert!((a - 74.0 * 0.5).abs() < 1e-9, "{a}");
        assert!((p - 30.0 * 0.8).abs() < 1e-9, "{p}");
        assert_eq!(
            wall_lengths_mm(&blank(), &Scored::ZERO, &row_mm),
            [0.0, 0.0]
        );
        // What is drawn is what is counted.
        let drawn = counted_labels(&m, &s);
        assert_eq!(drawn.get_pixel(ANT_X, 5).0[0], LABEL_ANTERIOR);
        assert_eq!(drawn.get_pixel(POST_X, 200).0[0], LABEL_POSTERIOR);
    }
}
