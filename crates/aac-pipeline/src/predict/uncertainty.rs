//! A scan's uncertainty (the `uncertainty` column): how doubtful its AAC24
//! category is, 0 (sure) to 1, for ordering a reader's queue. Two sources:
//! the segmentation, by whether a looser or a stricter reading of the same
//! probabilities changes the category and how far the score moves against
//! how far it is from a category boundary; and the landmark finder, by its
//! confidence when the points were found. The weights were chosen on
//! held-out styles (bench/uncertainty.py, docs/review.md), where most
//! category errors are scores one or two points short of a boundary.

use aac_score::{Grouping, Scored};

/// Threshold factors the score is recomputed at: a looser and a stricter
/// reading of the same probabilities (of the factors 0.1-3 tried, these
/// ranked category errors best on held-out styles).
pub const THRESHOLD_FACTORS: [f32; 2] = [0.45, 1.6];

/// Weight of the finder's doubt (1 - confidence) beside the
/// segmentation's part.
const LANDMARK_WEIGHT: f64 = 0.3;

/// The segmentation's part, 0-1: half for a category that a looser or
/// stricter reading changes, half graded by the `spread` of AAC24 over the
/// readings against the nominal score's distance to the nearest boundary.
pub fn segmentation_uncertainty(aac24: u32, looser: u32, stricter: u32) -> f64 {
    let g = Grouping::default();
    let (mid, top) = g.cut_points();
    let s = f64::from(aac24);
    let category = g.index(s);
    let changes =
        g.index(f64::from(looser)) != category || g.index(f64::from(stricter)) != category;
    // Category boundaries lie half-way between the integer scores.
    let distance = (s - (mid - 0.5)).abs().min((s - (top - 0.5)).abs());
    let spread = f64::from(looser.max(aac24).max(stricter) - looser.min(aac24).min(stricter));
    let graded = if spread == 0.0 {
        0.0
    } else {
        spread / (spread + 2.0 * distance)
    };
    0.5 * f64::from(u8::from(changes)) + 0.5 * graded
}

/// The landmark finder's part: 0 for given points, else how far its
/// confidence falls short of 1.
pub fn landmark_uncertainty(confidence: Option<f64>) -> f64 {
    confidence.map_or(0.0, |c| (1.0 - c).clamp(0.0, 1.0))
}

/// A scan's uncertainty, 0-1, from its nominal score, its scores at the
/// looser and stricter thresholds ([`THRESHOLD_FACTORS`]) and the finder's
/// confidence (None for given points).
pub fn uncertainty(
    nominal: &Scored,
    looser: &Scored,
    stricter: &Scored,
    confidence: Option<f64>,
) -> f64 {
    let seg = segmentation_uncertainty(nominal.aac24, looser.aac24, stricter.aac24);
    (seg + LANDMARK_WEIGHT * landmark_uncertainty(confidence)) / (1.0 + LANDMARK_WEIGHT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_that_can_cross_a_boundary_is_less_sure_than_one_that_cannot() {
        assert_eq!(segmentation_uncertainty(0, 0, 0), 0.0);
        // 1 could be 2 on a looser reading: moderate, not low.
        let near = segmentation_uncertainty(1, 2, 1);
        let far = segmentation_uncertainty(12, 13, 12);
        assert!(near > 0.5 && far < 0.05, "{near} {far}");
        assert!(segmentation_uncertainty(12, 18, 9) > far);
        assert_eq!(landmark_uncertainty(None), 0.0);
        assert!((landmark_uncertainty(Some(0.8)) - 0.2).abs() < 1e-12);
    }
}
