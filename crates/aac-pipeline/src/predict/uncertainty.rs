//! A scan's uncertainty (the `uncertainty` column): how likely its AAC24
//! category is wrong, 0 (sure) to 1, for ordering a reader's queue. Two
//! sources: the segmentation, by how far the score moves when the
//! thresholds are loosened and tightened against how far the score is from
//! a category boundary; and the landmark finder, by its confidence when the
//! points were found. Measured on held-out styles in docs/predict.md.

use aac_score::{Grouping, Scored};

/// Threshold factors the score is recomputed at: a looser and a stricter
/// reading of the same probabilities.
pub const THRESHOLD_FACTORS: [f32; 2] = [0.6, 1.6];

/// The segmentation's part: `spread` is the AAC24 range over the
/// [`THRESHOLD_FACTORS`] readings, `aac24` the nominal score. A spread that
/// reaches across the nearest category boundary gives at least 0.5.
pub fn segmentation_uncertainty(aac24: u32, spread: u32) -> f64 {
    let (mid, top) = Grouping::default().cut_points();
    let s = f64::from(aac24);
    // Category boundaries lie half-way between the integer scores.
    let distance = (s - (mid - 0.5)).abs().min((s - (top - 0.5)).abs());
    let spread = f64::from(spread);
    if spread == 0.0 {
        return 0.0;
    }
    spread / (spread + 2.0 * distance)
}

/// The landmark finder's part: 0 for given points, else how far its
/// confidence falls short of 1.
pub fn landmark_uncertainty(confidence: Option<f64>) -> f64 {
    confidence.map_or(0.0, |c| (1.0 - c).clamp(0.0, 1.0))
}

/// A scan's uncertainty from its nominal score, its scores at the looser
/// and stricter thresholds, and the finder's confidence (None for given
/// points): either source alone can make a scan doubtful.
pub fn uncertainty(
    nominal: &Scored,
    looser: &Scored,
    stricter: &Scored,
    confidence: Option<f64>,
) -> f64 {
    let hi = nominal.aac24.max(looser.aac24).max(stricter.aac24);
    let lo = nominal.aac24.min(looser.aac24).min(stricter.aac24);
    let seg = segmentation_uncertainty(nominal.aac24, hi - lo);
    let lm = landmark_uncertainty(confidence);
    1.0 - (1.0 - seg) * (1.0 - lm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_that_can_cross_a_boundary_is_less_sure_than_one_that_cannot() {
        assert_eq!(segmentation_uncertainty(0, 0), 0.0);
        // 1 and 2 straddle the low/moderate boundary at 1.5.
        let near = segmentation_uncertainty(1, 1);
        let far = segmentation_uncertainty(10, 1);
        assert!(near >= 0.5 && far < 0.15, "{near} {far}");
        assert!(segmentation_uncertainty(10, 6) > far);
        assert_eq!(landmark_uncertainty(None), 0.0);
        assert!((landmark_uncertainty(Some(0.8)) - 0.2).abs() < 1e-12);
    }
}
