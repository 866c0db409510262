//! Where the vertebral bodies lie in the warped region: nothing behind
//! their anterior walls can be aortic calcification (the aorta runs in
//! front of the spine), but a thin bright cortical rim there looks like a
//! calcified wall to a network that has not seen one like it (docs/scoring.md).

use aac_io::pts::index;
use aac_io::{Point, ROI_HEIGHT, ROI_WIDTH};

/// How far in front of the line through the anterior corners the clearing
/// reaches (warped pixels): none. The line itself is the rule (a concave
/// front wall lies behind it, so its cortex is cleared; an osteophyte
/// beyond it is not). On 100 scans of another generator
/// (bench/foreign_vfa.py, true points, the default bundle) clearing to
/// the line took AAC24 MAE from 1.78 to 1.18 and the scans without
/// calcification scored 2 or more from 19 to 6 of 49; 2 pixels further
/// gained 0.03 more; on 800 scans of the four held-out styles one scan
/// lost one point (docs/scoring.md).
pub const MARGIN_PX: f64 = 0.0;

/// The anterior wall of the spine, row by row of the warped region (x in
/// warped pixels, anterior towards larger x): the polyline through the
/// anterior corners from T12's inferior endplate to L5's superior one
/// (each body's straight front; across a disc, the line between the
/// bodies' corners), held constant beyond its ends. `spine` holds the 20
/// spine points in warped pixels; None when they are not 20 or do not run
/// down the region.
pub fn anterior_wall_x(spine: &[Point]) -> Option<Vec<f64>> {
    if spine.len() < 20 {
        return None;
    }
    let mut line = vec![spine[index::T12_INF_ANT]];
    for v in 0..4 {
        line.push(spine[index::sup_ant(v)]);
        line.push(spine[index::inf_ant(v)]);
    }
    line.push(spine[index::L5_SUP_ANT]);
    if line.windows(2).any(|w| w[1].y < w[0].y) || line.iter().any(|p| !p.x.is_finite()) {
        return None;
    }
    Some(
        (0..ROI_HEIGHT as usize)
            .map(|row| {
                let y = row as f64 + 0.5;
                match line.windows(2).find(|w| y <= w[1].y) {
                    None => line[line.len() - 1].x,
                    Some(w) if y <= w[0].y => w[0].x,
                    Some(w) if w[1].y - w[0].y < 1e-9 => w[0].x.max(w[1].x),
                    Some(w) => w[0].x + (w[1].x - w[0].x) * (y - w[0].y) / (w[1].y - w[0].y),
                }
            })
            .collect(),
    )
}

/// Sets to zero every probability at or behind `wall_x + margin` (warped
/// pixels; a negative margin keeps that much of the bodies' fronts).
pub fn clear_behind(planes: &mut [Vec<f32>], wall_x: &[f64], margin: f64) {
    let w = ROI_WIDTH as usize;
    for plane in planes.iter_mut() {
        for (row, values) in plane.chunks_mut(w).enumerate() {
            let Some(&x) = wall_x.get(row) else { break };
            let end = (x + margin).ceil().clamp(0.0, w as f64) as usize;
            values[..end].iter_mut().for_each(|v| *v = 0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four bodies 50 rows tall with 14-row discs, their fronts at x = 30
    /// (L1) leaning to 38 (L4's foot), posterior walls 40 pixels behind.
    fn spine() -> Vec<Point> {
        let front = |y: f64| 30.0 + 8.0 * (y - 10.0) / 236.0;
        let mut p = Vec::new();
        for v in 0..4 {
            let top = 10.0 + 64.0 * v as f64;
            let bot = top + 50.0;
            p.extend([
                Point::new(front(top) - 40.0, top),
                Point::new(front(top), top),
                Point::new(front(bot), bot),
                Point::new(front(bot) - 40.0, bot),
            ]);
        }
        p.extend([Point::new(-10.0, 0.0), Point::new(front(0.0), 0.0)]);
        p.extend([Point::new(-2.0, 258.0), Point::new(front(258.0), 258.0)]);
        p
    }

    #[test]
    fn the_wall_follows_the_anterior_corners_row_by_row() {
        let x = anterior_wall_x(&spine()).unwrap();
        assert_eq!(x.len(), ROI_HEIGHT as usize);
        assert!((x[10] - 30.0).abs() < 0.1, "{}", x[10]);
        assert!((x[245] - 38.0).abs() < 0.2, "{}", x[245]);
        assert!(x.windows(2).all(|w| w[1] >= w[0] - 1e-9));
        // Beyond the polyline's ends it stays where its ends are.
        assert!((x[255] - x[250]).abs() < 0.2);
        // Too few points, or points not running down: nothing to clear by.
        assert!(anterior_wall_x(&spine()[..16]).is_none());
        let mut up = spine();
        up.swap(1, 5);
        assert!(anterior_wall_x(&up).is_none());
    }

    #[test]
    fn clearing_keeps_only_what_lies_in_front_of_the_wall() {
        let wall = vec![30.0; ROI_HEIGHT as usize];
        let n = (ROI_WIDTH * ROI_HEIGHT) as usize;
        let mut planes = vec![vec![0.9f32; n], vec![0.5f32; n]];
        clear_behind(&mut planes, &wall, 2.0);
        let w = ROI_WIDTH as usize;
        for plane in &planes {
            assert!(plane[..32].iter().all(|&v| v == 0.0));
            assert!(plane[32] > 0.0 && plane[w + 32] > 0.0 && plane[w + 31] == 0.0);
        }
        // A wall beyond the region's edge clears the whole row, not more.
        let mut one = vec![vec![1.0f32; n]];
        clear_behind(&mut one, &vec![500.0; ROI_HEIGHT as usize], 0.0);
        assert!(one[0].iter().all(|&v| v == 0.0));
    }
}
