//! The one path from a model's probability planes over a warped region of
//! interest to the labels that are scored: flat regions cleared (nothing can
//! be seen in a region the scanner masked flat, and its edge looks like a
//! calcified wall; [`crate::flat`]), everything behind the vertebral
//! bodies' anterior walls cleared (the aorta lies in front of the spine, and
//! a thin bright cortex there looks like a calcified wall; [`crate::bone`],
//! since 0.8.3), then a threshold per class
//! ([`aac_score::labels_from_planes_per_class`]). `aac predict`, `aac eval`
//! and `aac segment` all label through [`roi_labels`], and score the labels
//! with [`aac_score::score_segmentation`] around the predicted aortic centre,
//! so the figures cross-validation reports describe what `predict` ships.

use crate::flat::FlatRegions;
use aac_io::{Gray8, Point, ROI_HEIGHT, ROI_WIDTH};

/// A warped region's labels and what they were made from.
pub struct RoiLabels {
    /// The probability planes with flat regions cleared.
    pub planes: Vec<Vec<f32>>,
    /// The flat regions found in the warped image.
    pub flat: FlatRegions,
    /// 0 none, else the class (1, or 1 anterior / 2 posterior).
    pub labels: Gray8,
}

/// Labels of a warped region: `roi` is the warped image (row-major
/// 128 x 256), `planes` the model's probabilities (one plane, or anterior and
/// posterior), `spine` the 20 spine points in warped pixels (empty when
/// unknown: nothing is cleared as bone), `thresholds` one per class (the
/// same twice for one plane).
pub fn roi_labels(
    roi: &[f32],
    planes: &[Vec<f32>],
    spine: &[Point],
    thresholds: [f32; 2],
) -> RoiLabels {
    let (planes, flat) = cleared_planes(roi, planes, spine);
    let labels =
        aac_score::labels_from_planes_per_class(&planes, ROI_WIDTH, ROI_HEIGHT, thresholds);
    RoiLabels {
        planes,
        flat,
        labels,
    }
}

/// The first steps of [`roi_labels`]: the planes with the flat regions of
/// `roi` and the bone behind the bodies' anterior walls (from `spine`, the
/// warped spine points; none when empty) cleared (for scoring one region at
/// many thresholds).
pub fn cleared_planes(
    roi: &[f32],
    planes: &[Vec<f32>],
    spine: &[Point],
) -> (Vec<Vec<f32>>, FlatRegions) {
    let flat = FlatRegions::find(roi);
    let mut planes = planes.to_vec();
    flat.clear(&mut planes);
    if let Some(wall) = crate::bone::anterior_wall_x(spine) {
        crate::bone::clear_behind(&mut planes, &wall, crate::bone::MARGIN_PX);
    }
    (planes, flat)
}

/// The rest of [`roi_scores`] for planes already cleared
/// ([`cleared_planes`]): labels at `thresholds`, scored around `prior_x`.
pub fn scores_of_cleared(
    planes: &[Vec<f32>],
    thresholds: [f32; 2],
    prior_x: f64,
) -> Result<aac_score::Scored, aac_score::ScoreError> {
    let labels = aac_score::labels_from_planes_per_class(planes, ROI_WIDTH, ROI_HEIGHT, thresholds);
    aac_score::score_segmentation(&labels, prior_x)
}

/// The scores of a warped region through [`roi_labels`], with the walls
/// split around `prior_x` (the predicted aortic centre in warped pixels).
pub fn roi_scores(
    roi: &[f32],
    planes: &[Vec<f32>],
    spine: &[Point],
    thresholds: [f32; 2],
    prior_x: f64,
) -> Result<(RoiLabels, aac_score::Scored), aac_score::ScoreError> {
    let l = roi_labels(roi, planes, spine, thresholds);
    let s = aac_score::score_segmentation(&l.labels, prior_x)?;
    Ok((l, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 20 spine points of a straight spine whose bodies' fronts lie at
    /// warped x = `front`, L1-L4 filling the region.
    fn spine(front: f64) -> Vec<Point> {
        let mut p = Vec::new();
        for v in 0..4 {
            let (top, bot) = (64.0 * v as f64 + 6.0, 64.0 * v as f64 + 58.0);
            p.extend([
                Point::new(front - 40.0, top),
                Point::new(front, top),
                Point::new(front, bot),
                Point::new(front - 40.0, bot),
            ]);
        }
        p.extend([Point::new(front - 40.0, -6.0), Point::new(front, -6.0)]);
        p.extend([Point::new(front - 40.0, 262.0), Point::new(front, 262.0)]);
        p
    }

    #[test]
    fn labels_lie_only_in_front_of_the_spine_when_its_points_are_known() {
        let n = (ROI_WIDTH * ROI_HEIGHT) as usize;
        // Textured (not flat) so that no region is cleared as flat.
        let roi: Vec<f32> = (0..n).map(|i| 1000.0 + (i * 7919 % 997) as f32).collect();
        let planes = vec![vec![0.9f32; n], vec![0.1f32; n]];
        let with = roi_labels(&roi, &planes, &spine(40.0), [0.5, 0.5]).labels;
        let without = roi_labels(&roi, &planes, &[], [0.5, 0.5]).labels;
        for y in [0u32, 100, 255] {
            assert_eq!(with.get_pixel(39, y).0[0], 0, "row {y}: bone cleared");
            assert_eq!(with.get_pixel(40, y).0[0], 1, "row {y}: in front kept");
            assert_eq!(
                without.get_pixel(39, y).0[0],
                1,
                "row {y}: no points, no clearing"
            );
        }
    }
}
