//! AAC24 scoring from 2-class calcification masks in warped space, QC
//! overlays, and the evaluation metrics of the pipeline.
//!
//! Everything here works on masks that are already in warped space
//! (`docs/data-format.md`): 128 columns x 256 rows, disc levels at rows 0, 64,
//! 128, 192 and 256, vertebra v (L1..L4) on rows 64v .. 64v+63, anterior toward
//! larger x. Labels are 0 none, 1 anterior wall, 2 posterior wall.
//!
//! - [`scoring`]: the aortic midline fit (eq. 1 of Chaplin & Cootes 2019) and
//!   the 8 Kauppila sub-scores; [`score_labels`] scores an in-memory label
//!   image and [`labels_from_planes`] turns probability planes into
//!   one, so segmentation code can score its output directly.
//! - [`overlay`]: a picture of a scored mask like the paper's Fig. 3 (right).
//! - [`metrics`]: Dice, Jaccard and accuracy between masks; R², Pearson,
//!   Spearman, ICC(2,1), MAE, Bland-Altman and weighted kappa between scores.
//! - [`Grouping`], [`write_scores_csv`]: the score categories and the score
//!   table written by `aac score`.

pub mod metrics;
pub mod overlay;
pub mod scoring;
pub mod threshold;

use aac_io::IoError;
use serde::Serialize;
use std::io::Write;
use std::path::Path;

pub use overlay::render_overlay;
pub use scoring::{
    calcified_rows, counted_labels, counted_wall, fit_midline, fit_midline_near,
    labels_from_planes, labels_from_planes_per_class, lumen_between_walls, scaled_rows,
    score_labels, score_mask_file, score_segmentation, subscore, wall_lengths_mm, Scored, WallRule,
    LUMEN_GAP, MIDLINE_STEP, MIDLINE_WINDOW, MIN_CLASS_PIXELS, SIGMOID_STEEPNESS,
};
pub use threshold::{Threshold, ThresholdError};

/// Errors of scoring and evaluation.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// Reading or writing a file failed; the error names the file.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A label image is not 128 x 256 (warped space).
    #[error(
        "label image is {width}x{height}, expected 128x256 (warped space: 128 columns, 256 rows)"
    )]
    WrongSize {
        /// Width found.
        width: u32,
        /// Height found.
        height: u32,
    },
    /// A label image holds a value other than 0, 1 or 2.
    #[error("label {value} at (x={x}, y={y}) is outside 0..2 (0 none, 1 anterior, 2 posterior)")]
    BadLabel {
        /// Column of the first offending pixel.
        x: u32,
        /// Row of the first offending pixel.
        y: u32,
        /// Its value.
        value: u8,
    },
    /// Two masks to compare differ in size.
    #[error("masks differ in size: {a:?} vs {b:?} (width, height)")]
    SizeMismatch {
        /// (width, height) of the first mask.
        a: (u32, u32),
        /// (width, height) of the second mask.
        b: (u32, u32),
    },
    /// Inputs that cannot be evaluated (e.g. lists of different lengths, no data).
    #[error("{0}")]
    Invalid(String),
}

/// How AAC24 scores are grouped into three categories.
///
/// See `docs/scoring.md` for the sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grouping {
    /// The established groups of the AAC literature (the default): `low`
    /// (0-1), `moderate` (2-5), `high` (6 and above); Lewis et al. 2018
    /// (Perth Longitudinal Study of Ageing Women), and the same cut points in
    /// UK Biobank work (Sim et al.) and the ML-AAC-24 evaluation code.
    #[default]
    Established,
    /// `none` (0), `mild` (1-4), `severe` (5 and above): a grouping without a
    /// published source, kept for comparison with earlier versions.
    NoneMildSevere,
    /// For AAC-8 scores, not AAC24: `none` (0), `low` (1-2), `high` (3 and
    /// above, the usual risk cut point of Schousboe et al. 2006).
    Aac8,
}

impl Grouping {
    /// The names of the three categories, from lowest to highest.
    pub fn names(self) -> [&'static str; 3] {
        match self {
            Grouping::Established => ["low", "moderate", "high"],
            Grouping::NoneMildSevere => ["none", "mild", "severe"],
            Grouping::Aac8 => ["none", "low", "high"],
        }
    }

    /// A short description for reports, e.g. "low 0-1 / moderate 2-5 / high >=6".
    pub fn describe(self) -> &'static str {
        match self {
            Grouping::Established => "established groups: low 0-1, moderate 2-5, high >=6",
            Grouping::NoneMildSevere => "none 0, mild 1-4, severe >=5",
            Grouping::Aac8 => "AAC-8: none 0, low 1-2, high >=3",
        }
    }

    /// The lowest AAC24 of the middle and of the top category.
    pub fn cut_points(self) -> (f64, f64) {
        match self {
            Grouping::Established => (2.0, 6.0),
            Grouping::NoneMildSevere => (1.0, 5.0),
            Grouping::Aac8 => (1.0, 3.0),
        }
    }

    /// The category index (0, 1, 2) of an AAC24 score.
    ///
    /// Scores are rounded to the nearest integer first (halves away from
    /// zero), so averaged or fractional readings are grouped like the integer
    /// score they round to; negative values count as 0 and NaN as 0.
    pub fn index(self, score: f64) -> usize {
        let s = if score.is_nan() {
            0.0
        } else {
            score.round().max(0.0)
        };
        let (mid, top) = self.cut_points();
        usize::from(s >= mid) + usize::from(s >= top)
    }

    /// The category name of an AAC24 score.
    pub fn category(self, score: f64) -> &'static str {
        self.names()[self.index(score)]
    }
}

/// The header of the score table written by [`write_scores_csv`].
pub const SCORE_CSV_HEADER: [&str; 18] = [
    "id",
    "aac24",
    "l1_ant",
    "l1_post",
    "l2_ant",
    "l2_post",
    "l3_ant",
    "l3_post",
    "l4_ant",
    "l4_post",
    "midline_x",
    "category",
    "aac24_continuous",
    "ant_length_mm",
    "post_length_mm",
    "aac8",
    "aac8_ant",
    "aac8_post",
];

/// The fields of one score-table row after `id`, in [`SCORE_CSV_HEADER`]
/// order: `midline_x` empty when there is no midline, `category` by
/// `grouping`, the wall lengths empty when `lengths_mm` is None (no pixel
/// spacing or no transform to source space).
pub fn score_fields(s: &Scored, grouping: Grouping, lengths_mm: Option<[f64; 2]>) -> Vec<String> {
    let mut rec: Vec<String> = Vec::with_capacity(SCORE_CSV_HEADER.len() - 1);
    rec.push(s.aac24.to_string());
    rec.extend(s.sub.iter().map(|v| v.to_string()));
    rec.push(s.midline_x.map(|l| format!("{l:.3}")).unwrap_or_default());
    rec.push(grouping.category(f64::from(s.aac24)).to_string());
    rec.push(format!("{:.4}", s.aac24_continuous()));
    for k in 0..2 {
        rec.push(
            lengths_mm
                .map(|l| format!("{:.2}", l[k]))
                .unwrap_or_default(),
        );
    }
    let walls = s.aac8_walls();
    rec.push(s.aac8().to_string());
    rec.extend(walls.iter().map(|w| w.to_string()));
    rec
}

/// Writes a score table atomically: the header [`SCORE_CSV_HEADER`], then one
/// row per `(id, scores, wall lengths)` in the order given ([`score_fields`]).
pub fn write_scores_csv(
    path: &Path,
    rows: &[(String, Scored, Option<[f64; 2]>)],
    grouping: Grouping,
) -> Result<(), ScoreError> {
    aac_io::write_atomic(path, |w: &mut dyn Write| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(SCORE_CSV_HEADER).map_err(csv_io)?;
        for (id, s, lengths) in rows {
            let mut rec = vec![aac_io::guard_cell(id).into_owned()];
            rec.extend(score_fields(s, grouping, *lengths));
            csv.write_record(&rec).map_err(csv_io)?;
        }
        csv.flush()
    })?;
    Ok(())
}

fn csv_io(e: csv::Error) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_mild_severe_categories() {
        let got: Vec<&str> = [0, 1, 4, 5, 24]
            .iter()
            .map(|&s| Grouping::NoneMildSevere.category(f64::from(s)))
            .collect();
        assert_eq!(got, ["none", "mild", "mild", "severe", "severe"]);
    }

    #[test]
    fn established_categories_are_the_default() {
        let got: Vec<&str> = [0, 1, 2, 5, 6, 24]
            .iter()
            .map(|&s| Grouping::default().category(f64::from(s)))
            .collect();
        assert_eq!(got, ["low", "low", "moderate", "moderate", "high", "high"]);
    }

    #[test]
    fn fractional_scores_round() {
        assert_eq!(Grouping::NoneMildSevere.index(0.4), 0);
        assert_eq!(Grouping::NoneMildSevere.index(0.5), 1);
        assert_eq!(Grouping::NoneMildSevere.index(4.49), 1);
        assert_eq!(Grouping::Established.index(1.5), 1);
        assert_eq!(Grouping::Established.index(-3.0), 0);
        assert_eq!(Grouping::Established.index(f64::NAN), 0);
    }

    #[test]
    fn csv_has_exact_columns_and_empty_midline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        let rows = vec![
            (
                "a".to_string(),
                Scored {
                    aac24: 7,
                    sub: [1, 0, 2, 0, 3, 0, 1, 0],
                    rows: [10, 0, 30, 0, 64, 0, 1, 0],
                    midline_x: Some(70.125),
                    rule: WallRule::ByClass,
                },
                Some([41.5, 0.0]),
            ),
            ("b".to_string(), Scored::ZERO, None),
        ];
        write_scores_csv(&path, &rows, Grouping::Established).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        // aac24_continuous = 3 * (10 + 30 + 64 + 1) / 64 = 4.921875; AAC-8:
        // anterior 105 rows = 1.64 heights -> 2, posterior none -> 0.
        assert_eq!(
            text,
            "id,aac24,l1_ant,l1_post,l2_ant,l2_post,l3_ant,l3_post,l4_ant,l4_post,midline_x,category,\
             aac24_continuous,ant_length_mm,post_length_mm,aac8,aac8_ant,aac8_post\n\
             a,7,1,0,2,0,3,0,1,0,70.125,high,4.9219,41.50,0.00,2,2,0\n\
             b,0,0,0,0,0,0,0,0,0,,low,0.0000,,,0,0,0\n"
        );
        write_scores_csv(&path, &rows, Grouping::NoneMildSevere).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("70.125,severe,") && text.contains(",,none,"));
    }

    #[test]
    fn csv_into_missing_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "x").unwrap();
        let path = blocker.join("s.csv");
        let e = write_scores_csv(&path, &[], Grouping::default()).unwrap_err();
        assert!(e.to_string().contains("file"), "{e}");
    }
}
