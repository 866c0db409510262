//! Whether the cues a reader names the levels by are in view: the sacrum
//! below L5 (readers count up from it: L5 sits on S1) and T12 above L1 (the
//! last rib-bearing vertebra they check against). A scan cut short above
//! the sacrum or through T12 is named without one of them, so its found
//! levels are put in doubt.

use crate::frame::anchors;
use crate::regularity::level_step;
use aac_io::Point;

/// How far below the L5 superior endplate, in vertebral levels along the
/// spine, the S1 plateau must be in the image: L5's own height and the
/// L5/S1 disc are about one level, and a reader needs a little of S1 below.
const SACRUM_LEVELS_BELOW_L5: f64 = 1.25;

/// How far above the T12 inferior endplate T12's superior endplate lies:
/// one level, less the disc above it.
const T12_LEVELS_ABOVE: f64 = 0.8;

/// True unless the image ends above the S1 plateau below the found L5
/// ([`SACRUM_LEVELS_BELOW_L5`] levels below its superior endplate).
pub fn sacrum_in_view(points: &[Point], width: usize, height: usize) -> bool {
    beyond_end_in_view(points, width, height, SACRUM_LEVELS_BELOW_L5)
}

/// The doubts about a scan's level naming that its field of view raises
/// (empty when the sacrum and T12 are both in view), for found `points` in
/// an image of `width` x `height` pixels.
pub fn cues_out_of_view(points: &[Point], width: usize, height: usize) -> Vec<String> {
    let mut doubts = Vec::new();
    if !sacrum_in_view(points, width, height) {
        doubts.push(
            "the sacrum is not in view below L5: the levels could not be counted up from it"
                .to_string(),
        );
    }
    if !beyond_end_in_view(points, width, height, -T12_LEVELS_ABOVE) {
        doubts.push(
            "T12 is not wholly in view above L1: the levels could not be checked against it"
                .to_string(),
        );
    }
    doubts
}

/// Whether the point `levels` vertebral levels along the spine beyond its
/// found end lies in the image: below the L5 superior endplate for
/// positive `levels`, above the T12 inferior endplate for negative ones.
/// Points without a spine's length are taken as in view.
fn beyond_end_in_view(points: &[Point], width: usize, height: usize, levels: f64) -> bool {
    let [top, bottom, _] = anchors(points);
    let span = top.dist(&bottom);
    if span <= 0.0 {
        return true;
    }
    let from = if levels >= 0.0 { bottom } else { top };
    let reach = levels * level_step(points) / span;
    let p = Point::new(
        from.x + (bottom.x - top.x) * reach,
        from.y + (bottom.y - top.y) * reach,
    );
    p.x >= 0.0 && p.y >= 0.0 && p.x <= width as f64 - 1.0 && p.y <= height as f64 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four bodies 40 px apart along a vertical spine, T12 above and L5
    /// below, L1's superior endplate at row `top`.
    fn spine(top: f64) -> Vec<Point> {
        let mut p = Vec::new();
        for v in 0..4 {
            let y = top + 40.0 * v as f64;
            p.extend([
                Point::new(100.0, y),
                Point::new(130.0, y),
                Point::new(130.0, y + 32.0),
                Point::new(100.0, y + 32.0),
            ]);
        }
        p.extend([Point::new(100.0, top - 8.0), Point::new(130.0, top - 8.0)]);
        p.extend([
            Point::new(100.0, top + 160.0),
            Point::new(130.0, top + 160.0),
        ]);
        p
    }

    #[test]
    fn a_view_cut_above_the_sacrum_or_through_t12_is_in_doubt() {
        let p = spine(100.0);
        // L5 superior endplate at row 260: S1 about 50 rows below.
        assert!(cues_out_of_view(&p, 300, 400).is_empty());
        let cut_low = cues_out_of_view(&p, 300, 290);
        assert_eq!(cut_low.len(), 1);
        assert!(cut_low[0].contains("sacrum"), "{cut_low:?}");
        // T12's top about 32 rows above its inferior endplate at row 92.
        let q = spine(30.0);
        let cut_high = cues_out_of_view(&q, 300, 400);
        assert_eq!(cut_high.len(), 1);
        assert!(cut_high[0].contains("T12"), "{cut_high:?}");
    }
}
