//! The piecewise-affine warp between an image's ROI and the fixed 128x256
//! space, through a triangulated 4 x 5 control grid, with bilinear sampling for
//! images and nearest-neighbour sampling for label masks.

use crate::roi::{target, Roi, COLUMNS, LEVELS, SIZE, TARGET_X};
use aac_io::{Gray8, Point, ROWS_PER_VERTEBRA};

/// A similarity applied in warped space about the ROI centre (augmentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    /// Scale factor.
    pub scale: f64,
    /// Rotation in radians.
    pub rotation: f64,
    /// Translation in pixels (x, y).
    pub shift: (f64, f64),
}

impl Jitter {
    /// Maps an output position to the position sampled in the un-jittered
    /// warped space (the inverse of the jitter).
    fn inverse_apply(&self, x: f64, y: f64) -> (f64, f64) {
        let (cx, cy) = ((SIZE.0 - 1) as f64 / 2.0, (SIZE.1 - 1) as f64 / 2.0);
        let (dx, dy) = (x - cx - self.shift.0, y - cy - self.shift.1);
        let (s, c) = self.rotation.sin_cos();
        let rx = (c * dx + s * dy) / self.scale;
        let ry = (-s * dx + c * dy) / self.scale;
        (rx + cx, ry + cy)
    }
}

/// For every warped pixel, the source image position it samples.
#[derive(Debug, Clone)]
pub struct WarpMap {
    /// Source (x, y) per warped pixel, row-major over 128 x 256.
    pub coords: Vec<(f32, f32)>,
}

/// Maps a warped-space position to the source image through the ROI grid
/// (affine per triangle; positions outside the grid extrapolate the nearest
/// cell's triangle).
pub fn to_source(roi: &Roi, x: f64, y: f64) -> Point {
    let k = ((y / ROWS_PER_VERTEBRA as f64).floor() as i64).clamp(0, LEVELS as i64 - 2) as usize;
    let c = (1..COLUMNS - 1).filter(|&i| x >= TARGET_X[i]).count();
    let (x0, x1) = (TARGET_X[c], TARGET_X[c + 1]);
    let (y0, y1) = (target(k, 0).y, target(k + 1, 0).y);
    let u = (x - x0) / (x1 - x0);
    let v = (y - y0) / (y1 - y0);
    let a = roi.points[k][c];
    let b = roi.points[k][c + 1];
    let d = roi.points[k + 1][c];
    let e = roi.points[k + 1][c + 1];
    if u >= v {
        Point::new(
            a.x + u * (b.x - a.x) + v * (e.x - b.x),
            a.y + u * (b.y - a.y) + v * (e.y - b.y),
        )
    } else {
        Point::new(
            a.x + u * (e.x - d.x) + v * (d.x - a.x),
            a.y + u * (e.y - d.y) + v * (d.y - a.y),
        )
    }
}

/// The triangles of the grid as (source, target) vertex triples.
fn triangles(roi: &Roi) -> Vec<([Point; 3], [Point; 3])> {
    let mut out = Vec::new();
    for k in 0..LEVELS - 1 {
        for c in 0..COLUMNS - 1 {
            let s = |kk: usize, cc: usize| roi.points[kk][cc];
            let t = |kk: usize, cc: usize| target(kk, cc);
            out.push((
                [s(k, c), s(k, c + 1), s(k + 1, c + 1)],
                [t(k, c), t(k, c + 1), t(k + 1, c + 1)],
            ));
            out.push((
                [s(k, c), s(k + 1, c + 1), s(k + 1, c)],
                [t(k, c), t(k + 1, c + 1), t(k + 1, c)],
            ));
        }
    }
    out
}

fn barycentric(p: Point, t: &[Point; 3]) -> [f64; 3] {
    let [a, b, c] = *t;
    let det = (b.y - c.y) * (a.x - c.x) + (c.x - b.x) * (a.y - c.y);
    let l1 = ((b.y - c.y) * (p.x - c.x) + (c.x - b.x) * (p.y - c.y)) / det;
    let l2 = ((c.y - a.y) * (p.x - c.x) + (a.x - c.x) * (p.y - c.y)) / det;
    [l1, l2, 1.0 - l1 - l2]
}

/// Maps a source image point into warped space (the inverse of [`to_source`]);
/// points outside the ROI extrapolate the nearest triangle's affine map.
pub fn to_warped(roi: &Roi, p: Point) -> Point {
    let mut best: Option<([f64; 3], [Point; 3], f64)> = None;
    for (src, dst) in triangles(roi) {
        let l = barycentric(p, &src);
        let worst = l[0].min(l[1]).min(l[2]);
        if best.as_ref().is_none_or(|b| worst > b.2) {
            best = Some((l, dst, worst));
        }
    }
    let (l, dst, _) = best.expect("the grid has triangles");
    Point::new(
        l[0] * dst[0].x + l[1] * dst[1].x + l[2] * dst[2].x,
        l[0] * dst[0].y + l[1] * dst[1].y + l[2] * dst[2].y,
    )
}

impl WarpMap {
    /// The sampling map of an ROI, optionally jittered (augmentation).
    pub fn new(roi: &Roi, jitter: Option<&Jitter>) -> WarpMap {
        let (w, h) = (SIZE.0 as usize, SIZE.1 as usize);
        let mut coords = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let (xx, yy) = match jitter {
                    Some(j) => j.inverse_apply(x as f64, y as f64),
                    None => (x as f64, y as f64),
                };
                let p = to_source(roi, xx, yy);
                coords.push((p.x as f32, p.y as f32));
            }
        }
        WarpMap { coords }
    }

    /// Warps a single-channel f32 image (row-major, `width` x `height`) with
    /// bilinear interpolation; positions outside the image get `fill`.
    pub fn warp_f32(&self, data: &[f32], width: usize, height: usize, fill: f32) -> Vec<f32> {
        self.coords
            .iter()
            .map(|&(x, y)| {
                if !(x > -0.5 && y > -0.5 && x < width as f32 - 0.5 && y < height as f32 - 0.5) {
                    return fill;
                }
                let x = x.clamp(0.0, (width - 1) as f32);
                let y = y.clamp(0.0, (height - 1) as f32);
                let (x0, y0) = (x.floor() as usize, y.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
                let (fx, fy) = (x - x0 as f32, y - y0 as f32);
                let at = |xx: usize, yy: usize| data[yy * width + xx];
                let top = at(x0, y0) + (at(x1, y0) - at(x0, y0)) * fx;
                let bot = at(x0, y1) + (at(x1, y1) - at(x0, y1)) * fx;
                top + (bot - top) * fy
            })
            .collect()
    }

    /// Warps a label mask with nearest-neighbour sampling (labels stay 0/1/2).
    pub fn warp_labels(&self, mask: &Gray8) -> Gray8 {
        let (w, h) = mask.dimensions();
        let data: Vec<u8> = self
            .coords
            .iter()
            .map(|&(x, y)| {
                let (xi, yi) = (x.round(), y.round());
                if xi < 0.0 || yi < 0.0 || xi >= w as f32 || yi >= h as f32 {
                    0
                } else {
                    mask.get_pixel(xi as u32, yi as u32).0[0]
                }
            })
            .collect();
        Gray8::from_raw(SIZE.0, SIZE.1, data).expect("size matches")
    }
}

/// Maps a warped label mask back onto the original image (`width` x `height`):
/// each original pixel inside the ROI takes the nearest warped label.
pub fn unwarp_labels(roi: &Roi, warped: &Gray8, width: u32, height: u32) -> Gray8 {
    let mut out = Gray8::new(width, height);
    for (src, dst) in triangles(roi) {
        let xs = src.iter().map(|p| p.x);
        let ys = src.iter().map(|p| p.y);
        let x0 = xs.clone().fold(f64::MAX, f64::min).floor().max(0.0) as u32;
        let x1 = xs
            .fold(f64::MIN, f64::max)
            .ceil()
            .min(width as f64 - 1.0)
            .max(0.0) as u32;
        let y0 = ys.clone().fold(f64::MAX, f64::min).floor().max(0.0) as u32;
        let y1 = ys
            .fold(f64::MIN, f64::max)
            .ceil()
            .min(height as f64 - 1.0)
            .max(0.0) as u32;
        for y in y0..=y1 {
            for x in x0..=x1 {
                let l = barycentric(Point::new(x as f64, y as f64), &src);
                if l.iter().any(|&v| v < -1e-9) {
                    continue;
                }
                let tx = l[0] * dst[0].x + l[1] * dst[1].x + l[2] * dst[2].x;
                let ty = l[0] * dst[0].y + l[1] * dst[1].y + l[2] * dst[2].y;
                let (xi, yi) = (tx.round(), ty.round());
                if xi >= 0.0 && yi >= 0.0 && xi < SIZE.0 as f64 && yi < SIZE.1 as f64 {
                    let v = warped.get_pixel(xi as u32, yi as u32).0[0];
                    if v > 0 {
                        out.put_pixel(x, y, image::Luma([v]));
                    }
                }
            }
        }
    }
    out
}
