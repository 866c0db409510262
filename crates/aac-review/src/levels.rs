//! "Levels one up / one down": the L1-L4 naming of a scan's 20 spine points
//! moved by one vertebra (docs/data-format.md's landmark order: the corners
//! of L1-L4, then T12's inferior and L5's superior endplate). The body
//! beyond the last named one is not among the points, so it is the nearest
//! body moved by one mean level step, for the shape model and warp to refine.

use aac_io::{Point, N_SPINE};
use anyhow::{bail, Result};

/// Which way the naming moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    /// The named L1 is really L2: L1 is the body above it.
    Up,
    /// The named L1 is really T12: L1 is the body below it.
    Down,
}

/// The mean step from one vertebra's corners to the next one's.
fn level_step(p: &[Point]) -> Point {
    let (mut x, mut y) = (0.0, 0.0);
    for v in 0..3 {
        for c in 0..4 {
            x += p[4 * (v + 1) + c].x - p[4 * v + c].x;
            y += p[4 * (v + 1) + c].y - p[4 * v + c].y;
        }
    }
    Point::new(x / 12.0, y / 12.0)
}

/// The 20 spine points named one vertebra up or down.
pub fn shift_levels(points: &[Point], shift: Shift) -> Result<Vec<Point>> {
    if points.len() < N_SPINE {
        bail!("{} points where the 20 spine points belong", points.len());
    }
    let p = &points[..N_SPINE];
    let step = level_step(p);
    let moved = |q: Point, k: f64| Point::new(q.x + k * step.x, q.y + k * step.y);
    let body = |v: usize| &p[4 * v..4 * v + 4];
    let mut out = Vec::with_capacity(N_SPINE);
    match shift {
        Shift::Up => {
            out.extend(body(0).iter().map(|&q| moved(q, -1.0)));
            for v in 0..3 {
                out.extend_from_slice(body(v));
            }
            out.extend(p[16..18].iter().map(|&q| moved(q, -1.0)));
            // The new L5 is the old L4: its superior (posterior, anterior) corners.
            out.extend([p[12], p[13]]);
        }
        Shift::Down => {
            for v in 1..4 {
                out.extend_from_slice(body(v));
            }
            out.extend(body(3).iter().map(|&q| moved(q, 1.0)));
            // The new T12 is the old L1: its inferior posterior, anterior corners.
            out.extend([p[3], p[2]]);
            out.extend(p[18..20].iter().map(|&q| moved(q, 1.0)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vertical spine: body v's superior endplate at row 100 + 40 v.
    fn spine() -> Vec<Point> {
        let mut p = Vec::new();
        for v in 0..4 {
            let y = 100.0 + 40.0 * v as f64;
            p.extend([
                Point::new(100.0, y),
                Point::new(130.0, y),
                Point::new(130.0, y + 32.0),
                Point::new(100.0, y + 32.0),
            ]);
        }
        p.extend([Point::new(100.0, 92.0), Point::new(130.0, 92.0)]);
        p.extend([Point::new(100.0, 260.0), Point::new(130.0, 260.0)]);
        p
    }

    #[test]
    fn up_then_down_gives_back_the_points_and_each_moves_one_level() {
        let p = spine();
        let up = shift_levels(&p, Shift::Up).unwrap();
        assert_eq!(up[0].y, 60.0);
        assert_eq!(up[4].y, 100.0);
        assert_eq!(up[16].y, 52.0);
        assert_eq!(up[18].y, 220.0);
        // On an evenly spaced spine the way back is exact.
        assert_eq!(shift_levels(&up, Shift::Down).unwrap(), p);
        let down = shift_levels(&p, Shift::Down).unwrap();
        assert_eq!(
            (down[0].y, down[12].y, down[16].y, down[19].y),
            (140.0, 260.0, 132.0, 300.0)
        );
        assert!(shift_levels(&p[..10], Shift::Up).is_err());
    }
}
