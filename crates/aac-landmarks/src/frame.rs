//! Where a network's input lies in the image: an affine map from input
//! pixels to image pixels (a similarity, possibly mirrored).

use crate::{Grid, INPUT_HEIGHT, INPUT_WIDTH};
use aac_io::pts::index;
use aac_io::Point;

/// Rows of the fine input between the midpoints of the T12 inferior and the
/// L5 superior endplates, which set the fine frame's scale; 40 rows above
/// and below are left for the coarse stage's error.
pub const FINE_SPAN_ROWS: f64 = 176.0;

/// The three points the coarse stage finds: the midpoints of the T12
/// inferior and the L5 superior endplates, and the middle of the anterior
/// walls of L2 and L3 (in front of the axis, so it tells the facing).
pub fn anchors(spine: &[Point]) -> [Point; 3] {
    let top = spine[index::T12_INF_POST].mid(&spine[index::T12_INF_ANT]);
    let bottom = spine[index::L5_SUP_POST].mid(&spine[index::L5_SUP_ANT]);
    let front = spine[index::sup_ant(1)].mid(&spine[index::inf_ant(2)]);
    [top, bottom, front]
}

/// Maps input pixel (x, y) to image pixel `origin + m * ((x, y) - centre)`,
/// with the input's centre at ((W-1)/2, (H-1)/2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Image position of the input's centre.
    pub origin: Point,
    /// Column-major 2x2: image step per input column (m[0], m[1]) and per
    /// input row (m[2], m[3]).
    pub m: [f64; 4],
    /// The input's pixel grid.
    pub grid: Grid,
}

impl Frame {
    /// The whole image letterboxed into the input (aspect kept, centred).
    pub fn whole_image(width: usize, height: usize) -> Frame {
        let s = (width as f64 / INPUT_WIDTH as f64).max(height as f64 / INPUT_HEIGHT as f64);
        Frame {
            origin: Point::new((width as f64 - 1.0) / 2.0, (height as f64 - 1.0) / 2.0),
            m: [s, 0.0, 0.0, s],
            grid: Grid::FULL,
        }
    }

    /// The window aligned with a spine: rows run down the spine from the
    /// T12 inferior to the L5 superior endplate ([`FINE_SPAN_ROWS`] apart),
    /// columns from posterior to anterior, whichever way the patient faces.
    pub fn along_spine(spine: &[Point]) -> Frame {
        let [top, bottom, front] = anchors(spine);
        Frame::from_anchors(top, bottom, front)
    }

    /// The spine-aligned window from its three anchors ([`anchors`]): the
    /// endplate midpoints above L1 and below L4, and a point in front of the
    /// spine's axis (which side is anterior).
    pub fn from_anchors(top: Point, bottom: Point, front: Point) -> Frame {
        let span = top.dist(&bottom).max(1e-6);
        let u = Point::new((bottom.x - top.x) / span, (bottom.y - top.y) / span);
        // Perpendicular pointing right of the axis for an upright spine.
        let mut n = Point::new(u.y, -u.x);
        let mid = top.mid(&bottom);
        if (front.x - mid.x) * n.x + (front.y - mid.y) * n.y < 0.0 {
            n = Point::new(-n.x, -n.y);
        }
        let s = span / FINE_SPAN_ROWS;
        Frame {
            origin: mid,
            m: [n.x * s, n.y * s, u.x * s, u.y * s],
            grid: Grid::FULL,
        }
    }

    /// The same window of the image on another pixel grid (same centre,
    /// the step scaled by the ratio of the grids).
    pub fn in_grid(&self, grid: Grid) -> Frame {
        let k = self.grid.factor() / grid.factor();
        Frame {
            origin: self.origin,
            m: self.m.map(|v| v * k),
            grid,
        }
    }

    /// This frame rotated by `angle` radians, scaled by `scale` and shifted by
    /// (dx, dy) input pixels, all about the input's centre; mirrored left to
    /// right when `mirror`. Used to draw training variations.
    pub fn perturbed(&self, angle: f64, scale: f64, dx: f64, dy: f64, mirror: bool) -> Frame {
        let (c, s) = (angle.cos() * scale, angle.sin() * scale);
        let f = if mirror { -1.0 } else { 1.0 };
        // Input-space map q -> R (f q_x, q_y) + (dx, dy), then the frame.
        let r = [c * f, s * f, -s, c];
        let m = &self.m;
        let mm = [
            m[0] * r[0] + m[2] * r[1],
            m[1] * r[0] + m[3] * r[1],
            m[0] * r[2] + m[2] * r[3],
            m[1] * r[2] + m[3] * r[3],
        ];
        let origin = Point::new(
            self.origin.x + m[0] * dx + m[2] * dy,
            self.origin.y + m[1] * dx + m[3] * dy,
        );
        Frame {
            origin,
            m: mm,
            grid: self.grid,
        }
    }

    /// Image pixel of an input pixel.
    pub fn to_image(&self, p: Point) -> Point {
        let c = self.grid.centre();
        let (x, y) = (p.x - c.x, p.y - c.y);
        Point::new(
            self.origin.x + self.m[0] * x + self.m[2] * y,
            self.origin.y + self.m[1] * x + self.m[3] * y,
        )
    }

    /// Input pixel of an image pixel.
    pub fn to_input(&self, p: Point) -> Point {
        let m = &self.m;
        let det = m[0] * m[3] - m[2] * m[1];
        let (x, y) = (p.x - self.origin.x, p.y - self.origin.y);
        let c = self.grid.centre();
        Point::new(
            c.x + (m[3] * x - m[2] * y) / det,
            c.y + (-m[1] * x + m[0] * y) / det,
        )
    }

    /// Image pixels per input pixel.
    pub fn scale(&self) -> f64 {
        (self.m[0] * self.m[3] - self.m[2] * self.m[1]).abs().sqrt()
    }

    /// The input: the image sampled bilinearly at every input pixel (row
    /// major), 0 outside the image. Where an input pixel covers several
    /// image pixels, the image is first box-averaged to about the input's
    /// resolution, so a 0.25 mm scan does not alias in a 2 mm input.
    pub fn sample(&self, image: &[f32], width: usize, height: usize) -> Vec<f32> {
        let factor = (self.scale().floor() as usize).max(1);
        let reduced;
        let (img, w, h, k) = if factor > 1 {
            reduced = box_reduce(image, width, height, factor);
            (
                reduced.as_slice(),
                width.div_ceil(factor),
                height.div_ceil(factor),
                factor as f64,
            )
        } else {
            (image, width, height, 1.0)
        };
        let mut out = Vec::with_capacity(self.grid.pixels());
        for yi in 0..self.grid.height {
            for xi in 0..self.grid.width {
                let p = self.to_image(Point::new(xi as f64, yi as f64));
                // Centre of reduced pixel j lies at image (j + 0.5) k - 0.5.
                let (x, y) = ((p.x + 0.5) / k - 0.5, (p.y + 0.5) / k - 0.5);
                out.push(bilinear(img, w, h, x, y));
            }
        }
        out
    }
}

/// Mean of each `k` x `k` block (partial blocks at the edges averaged over
/// what they hold).
fn box_reduce(image: &[f32], width: usize, height: usize, k: usize) -> Vec<f32> {
    let (w, h) = (width.div_ceil(k), height.div_ceil(k));
    let mut sum = vec![0.0f32; w * h];
    let mut count = vec![0u32; w * h];
    for y in 0..height {
        let row = &image[y * width..(y + 1) * width];
        let base = (y / k) * w;
        for (x, &v) in row.iter().enumerate() {
            sum[base + x / k] += v;
            count[base + x / k] += 1;
        }
    }
    sum.iter()
        .zip(&count)
        .map(|(s, &c)| s / c.max(1) as f32)
        .collect()
}

fn bilinear(img: &[f32], w: usize, h: usize, x: f64, y: f64) -> f32 {
    if !(x > -0.5 && y > -0.5 && x < w as f64 - 0.5 && y < h as f64 - 0.5) {
        return 0.0;
    }
    let x = x.clamp(0.0, (w - 1) as f64);
    let y = y.clamp(0.0, (h - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    let at = |xx: usize, yy: usize| img[yy * w + xx];
    let top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * fx;
    let bottom = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * fx;
    top + (bottom - top) * fy
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upright_spine(x0: f64, facing_right: bool) -> Vec<Point> {
        // Four 30-px vertebrae with 10-px discs, 40 px wide.
        let sign = if facing_right { 1.0 } else { -1.0 };
        let mut p = vec![Point::default(); 20];
        for v in 0..4 {
            let top = 100.0 + 40.0 * v as f64;
            let c = index::corners(v);
            p[c[0]] = Point::new(x0, top);
            p[c[1]] = Point::new(x0 + sign * 40.0, top);
            p[c[2]] = Point::new(x0 + sign * 40.0, top + 30.0);
            p[c[3]] = Point::new(x0, top + 30.0);
        }
        p[index::T12_INF_POST] = Point::new(x0, 90.0);
        p[index::T12_INF_ANT] = Point::new(x0 + sign * 40.0, 90.0);
        p[index::L5_SUP_POST] = Point::new(x0, 260.0);
        p[index::L5_SUP_ANT] = Point::new(x0 + sign * 40.0, 260.0);
        p
    }

    #[test]
    fn input_and_image_coordinates_round_trip() {
        let f = Frame::along_spine(&upright_spine(50.0, true)).perturbed(0.2, 1.1, 3.0, -4.0, true);
        let p = Point::new(123.4, 56.7);
        let q = f.to_image(f.to_input(p));
        assert!(p.dist(&q) < 1e-9);
    }

    #[test]
    fn a_frame_on_the_half_grid_covers_the_same_window() {
        let full = Frame::along_spine(&upright_spine(50.0, true));
        let half = full.in_grid(Grid::HALF);
        assert!((half.scale() - 2.0 * full.scale()).abs() < 1e-9);
        // The windows' corners (pixel edges) coincide in the image.
        let corner = |f: &Frame, x: f64, y: f64| f.to_image(Point::new(x, y));
        let (w, h) = (Grid::HALF.width as f64, Grid::HALF.height as f64);
        let pairs = [
            (corner(&full, -0.5, -0.5), corner(&half, -0.5, -0.5)),
            (
                corner(&full, 2.0 * w - 0.5, 2.0 * h - 0.5),
                corner(&half, w - 0.5, h - 0.5),
            ),
        ];
        for (a, b) in pairs {
            assert!(a.dist(&b) < 1e-9, "{a:?} vs {b:?}");
        }
        assert_eq!(half.sample(&[0.0; 4], 2, 2).len(), Grid::HALF.pixels());
    }

    #[test]
    fn the_spine_frame_puts_anterior_to_the_right_whichever_way_the_patient_faces() {
        for right in [true, false] {
            let spine = upright_spine(200.0, right);
            let f = Frame::along_spine(&spine);
            let ant = f.to_input(spine[index::sup_ant(1)]);
            let post = f.to_input(spine[index::sup_post(1)]);
            assert!(
                ant.x > post.x + 10.0,
                "facing right {right}: {ant:?} {post:?}"
            );
            // T12 above L5, FINE_SPAN_ROWS apart.
            let top = f.to_input(spine[index::T12_INF_POST]);
            let bottom = f.to_input(spine[index::L5_SUP_POST]);
            assert!((bottom.y - top.y - FINE_SPAN_ROWS).abs() < 1e-6);
        }
    }

    #[test]
    fn whole_image_sampling_keeps_a_bright_block_in_place() {
        let (w, h) = (300usize, 600usize);
        let mut img = vec![0.0f32; w * h];
        for y in 200..260 {
            for x in 100..160 {
                img[y * w + x] = 1.0;
            }
        }
        let f = Frame::whole_image(w, h);
        let s = f.sample(&img, w, h);
        let centre = f.to_input(Point::new(129.5, 229.5));
        let v = s[centre.y.round() as usize * INPUT_WIDTH + centre.x.round() as usize];
        assert!(v > 0.9, "{v}");
        assert_eq!(s[0], 0.0);
    }
}
