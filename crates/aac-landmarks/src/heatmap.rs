//! Heatmap targets and peaks: one plane per point, a Gaussian blob at the
//! point for training (normalised to a distribution over the pixels by the
//! loss), the probability-weighted centroid around the most probable pixel
//! for inference.

use crate::Grid;
use aac_io::Point;

/// Factor on the network's outputs before the spatial softmax. A sharp
/// peak needs logits some 10 apart; from batch-normalised features through
/// a 1x1 head that takes weights Adam reaches only after hundreds of steps,
/// and training then spends most of its time there. Scaling the logits
/// lets small weights make sharp maps from the first epochs.
pub const LOGIT_SCALE: f32 = 10.0;

/// One plane of logits as a probability distribution over its pixels:
/// the softmax of the logits times [`LOGIT_SCALE`] (summed in f64).
pub fn spatial_softmax(logits: &[f32]) -> Vec<f32> {
    let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut p: Vec<f32> = logits
        .iter()
        .map(|&l| ((l - top) * LOGIT_SCALE).exp())
        .collect();
    let total: f64 = p.iter().map(|&v| v as f64).sum();
    let inv = if total > 0.0 {
        (1.0 / total) as f32
    } else {
        0.0
    };
    for v in &mut p {
        *v *= inv;
    }
    p
}

/// Target planes (`points.len()` planes of the grid, row-major):
/// exp(-d^2 / 2 sigma^2) around each point (in input pixels); a point
/// outside the input gives an empty plane.
pub fn targets(points: &[Point], sigma: f64, grid: Grid) -> Vec<f32> {
    let plane_len = grid.pixels();
    let (width, height) = (grid.width, grid.height);
    let mut out = vec![0.0f32; points.len() * plane_len];
    let reach = (3.0 * sigma).ceil() as i64;
    let inv = 1.0 / (2.0 * sigma * sigma);
    for (k, p) in points.iter().enumerate() {
        let plane = &mut out[k * plane_len..(k + 1) * plane_len];
        let (cx, cy) = (p.x.round() as i64, p.y.round() as i64);
        for y in (cy - reach).max(0)..=(cy + reach).min(height as i64 - 1) {
            for x in (cx - reach).max(0)..=(cx + reach).min(width as i64 - 1) {
                let d2 = (x as f64 - p.x).powi(2) + (y as f64 - p.y).powi(2);
                plane[y as usize * width + x as usize] = (-d2 * inv).exp() as f32;
            }
        }
    }
    out
}

/// The response of one plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Peak {
    /// Sub-pixel position (input pixels).
    pub at: Point,
    /// Probability mass within 3 pixels of the most probable pixel: the
    /// network's belief that the point lies there.
    pub mass: f32,
    /// The most probable pixel farther than the rival radius from the peak,
    /// over the peak's own probability: near 1 when two places compete for
    /// the point (e.g. the network cannot tell L1 from T12).
    pub rival: f32,
    /// Where that rival pixel is (input pixels; the peak's pixel when the
    /// plane has no other response).
    pub rival_at: Point,
}

/// The peak of a probability plane on a grid: the centroid of the
/// probabilities within 3 pixels of the most probable pixel, and its
/// strongest rival farther than `rival_radius` pixels away.
pub fn peak(plane: &[f32], rival_radius: f64, grid: Grid) -> Peak {
    let (width, rows) = (grid.width, grid.height);
    let (best, &height) = plane
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
        .unwrap_or((0, &0.0));
    let (bx, by) = ((best % width) as i64, (best / width) as i64);
    let (mut sx, mut sy, mut sw) = (0.0f64, 0.0f64, 0.0f64);
    for y in (by - 3).max(0)..=(by + 3).min(rows as i64 - 1) {
        for x in (bx - 3).max(0)..=(bx + 3).min(width as i64 - 1) {
            let v = plane[y as usize * width + x as usize] as f64;
            sx += v * x as f64;
            sy += v * y as f64;
            sw += v;
        }
    }
    let at = if sw > 0.0 {
        Point::new(sx / sw, sy / sw)
    } else {
        Point::new(bx as f64, by as f64)
    };
    let r2 = rival_radius * rival_radius;
    let (rival_index, rival) = plane
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            let (x, y) = ((i % width) as f64, (i / width) as f64);
            (x - bx as f64).powi(2) + (y - by as f64).powi(2) > r2
        })
        .fold(
            (best, 0.0f32),
            |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
        );
    Peak {
        at,
        mass: sw as f32,
        rival: if height > 0.0 { rival / height } else { 1.0 },
        rival_at: Point::new((rival_index % width) as f64, (rival_index / width) as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_of_a_target_is_its_point_to_a_fifth_of_a_pixel() {
        // The 7x7 window cuts the blob's tails, which pulls the centroid
        // toward the window's centre by up to 0.15 pixels at SD 2 (0.13 mm
        // in the fine frame); a narrower map is pulled less.
        let p = Point::new(40.3, 100.7);
        let t = targets(&[p], 2.0, Grid::FULL);
        let k = peak(&t, 10.0, Grid::FULL);
        assert!(k.at.dist(&p) < 0.2, "{:?}", k.at);
        let sharp = peak(&targets(&[p], 1.0, Grid::FULL), 10.0, Grid::FULL);
        assert!(sharp.at.dist(&p) < 0.02, "{:?}", sharp.at);
        assert!(k.mass > 0.9);
        assert_eq!(k.rival, 0.0);
    }

    #[test]
    fn a_second_blob_far_away_is_reported_as_a_rival() {
        let mut t = targets(&[Point::new(60.0, 60.0)], 2.0, Grid::FULL);
        let other = targets(&[Point::new(60.0, 120.0)], 2.0, Grid::FULL);
        for (a, b) in t.iter_mut().zip(other) {
            *a = a.max(0.8 * b);
        }
        let k = peak(&t, 16.0, Grid::FULL);
        assert!(k.at.dist(&Point::new(60.0, 60.0)) < 0.1);
        assert!((k.rival - 0.8).abs() < 0.01, "{}", k.rival);
        assert!(
            k.rival_at.dist(&Point::new(60.0, 120.0)) < 1.0,
            "{:?}",
            k.rival_at
        );
    }

    #[test]
    fn targets_and_peaks_work_on_the_half_grid() {
        let p = Point::new(50.4, 120.6);
        let t = targets(&[p], 1.25, Grid::HALF);
        assert_eq!(t.len(), Grid::HALF.pixels());
        let k = peak(&t, 10.0, Grid::HALF);
        assert!(k.at.dist(&p) < 0.1, "{:?}", k.at);
    }

    #[test]
    fn a_point_outside_the_input_leaves_its_plane_empty() {
        let t = targets(&[Point::new(-50.0, 10.0)], 2.0, Grid::FULL);
        assert!(t.iter().all(|&v| v == 0.0));
    }
}
