//! The QC overlay of a scored scan on its original image.

use super::*;

/// The QC overlay on the original image: predicted calcification mapped back,
/// the aorta band (predicted walls +/- 3 SD), disc levels and sub-scores.
pub(super) fn draw_overlay(
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
