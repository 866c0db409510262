//! Haar-like features on a 21x21 window, evaluated from an integral image
//! (imageproc's `integral_image` and `sum_image_pixels`).

use imageproc::integral_image::sum_image_pixels;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Side of the square window (the paper's 21x21 patches).
pub const WINDOW: u32 = 21;

/// The integral image type used for features.
pub type Integral = image::ImageBuffer<image::Luma<u32>, Vec<u32>>;

/// The kinds of Haar-like features.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum HaarKind {
    /// Mean of one rectangle (brightness relative to the image level).
    Single,
    /// Left half minus right half.
    EdgeX,
    /// Top half minus bottom half.
    EdgeY,
    /// Middle third minus the outer thirds (a vertical line detector).
    LineX,
    /// Middle third minus the outer thirds, stacked vertically.
    LineY,
    /// Diagonal quadrants minus the other two.
    Checker,
}

/// One feature: a kind and its bounding rectangle inside the window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Haar {
    /// Kind.
    pub kind: HaarKind,
    /// Left column inside the window.
    pub x: u8,
    /// Top row inside the window.
    pub y: u8,
    /// Width (a multiple of the kind's column count).
    pub w: u8,
    /// Height.
    pub h: u8,
}

fn cells(kind: HaarKind) -> (u8, u8) {
    match kind {
        HaarKind::Single => (1, 1),
        HaarKind::EdgeX => (2, 1),
        HaarKind::EdgeY => (1, 2),
        HaarKind::LineX => (3, 1),
        HaarKind::LineY => (1, 3),
        HaarKind::Checker => (2, 2),
    }
}

/// Draws `n` random features (a fixed set chosen at training time).
pub fn random_features<R: Rng>(rng: &mut R, n: usize) -> Vec<Haar> {
    let kinds = [
        HaarKind::Single,
        HaarKind::EdgeX,
        HaarKind::EdgeY,
        HaarKind::LineX,
        HaarKind::LineY,
        HaarKind::Checker,
    ];
    (0..n)
        .map(|_| {
            let kind = kinds[rng.random_range(0..kinds.len())];
            let (cx, cy) = cells(kind);
            let cw = rng.random_range(1..=(WINDOW as u8 / cx));
            let ch = rng.random_range(1..=(WINDOW as u8 / cy));
            let (w, h) = (cw * cx, ch * cy);
            let x = rng.random_range(0..=(WINDOW as u8 - w));
            let y = rng.random_range(0..=(WINDOW as u8 - h));
            Haar { kind, x, y, w, h }
        })
        .collect()
}

#[inline]
fn mean(ii: &Integral, x: u32, y: u32, w: u32, h: u32) -> f32 {
    sum_image_pixels(ii, x, y, x + w - 1, y + h - 1)[0] as f32 / (w * h) as f32
}

impl Haar {
    /// Evaluates the feature for the window whose top-left pixel is (ox, oy)
    /// in the image behind `ii`, as a difference of rectangle means.
    #[inline]
    pub fn eval(&self, ii: &Integral, ox: u32, oy: u32) -> f32 {
        let (x, y, w, h) = (
            ox + self.x as u32,
            oy + self.y as u32,
            self.w as u32,
            self.h as u32,
        );
        match self.kind {
            HaarKind::Single => mean(ii, x, y, w, h),
            HaarKind::EdgeX => mean(ii, x, y, w / 2, h) - mean(ii, x + w / 2, y, w / 2, h),
            HaarKind::EdgeY => mean(ii, x, y, w, h / 2) - mean(ii, x, y + h / 2, w, h / 2),
            HaarKind::LineX => {
                let t = w / 3;
                mean(ii, x + t, y, t, h)
                    - 0.5 * (mean(ii, x, y, t, h) + mean(ii, x + 2 * t, y, t, h))
            }
            HaarKind::LineY => {
                let t = h / 3;
                mean(ii, x, y + t, w, t)
                    - 0.5 * (mean(ii, x, y, w, t) + mean(ii, x, y + 2 * t, w, t))
            }
            HaarKind::Checker => {
                let (a, b) = (w / 2, h / 2);
                mean(ii, x, y, a, b) + mean(ii, x + a, y + b, a, b)
                    - mean(ii, x + a, y, a, b)
                    - mean(ii, x, y + b, a, b)
            }
        }
    }
}

/// The integral image of an 8-bit image.
pub fn integral(img: &image::GrayImage) -> Integral {
    imageproc::integral_image::integral_image::<_, u32>(img)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn brute_mean(img: &image::GrayImage, x: u32, y: u32, w: u32, h: u32) -> f32 {
        let mut s = 0u32;
        for yy in y..y + h {
            for xx in x..x + w {
                s += img.get_pixel(xx, yy).0[0] as u32;
            }
        }
        s as f32 / (w * h) as f32
    }

    #[test]
    fn features_match_brute_force_sums() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let img =
            image::GrayImage::from_fn(40, 30, |x, y| image::Luma([((x * 7 + y * 13) % 251) as u8]));
        let ii = integral(&img);
        for f in random_features(&mut rng, 300) {
            let (ox, oy) = (
                rng.random_range(0..=(40 - WINDOW)),
                rng.random_range(0..=(30 - WINDOW)),
            );
            let (x, y, w, h) = (ox + f.x as u32, oy + f.y as u32, f.w as u32, f.h as u32);
            let m = |a, b, c, d| brute_mean(&img, a, b, c, d);
            let want = match f.kind {
                HaarKind::Single => m(x, y, w, h),
                HaarKind::EdgeX => m(x, y, w / 2, h) - m(x + w / 2, y, w / 2, h),
                HaarKind::EdgeY => m(x, y, w, h / 2) - m(x, y + h / 2, w, h / 2),
                HaarKind::LineX => {
                    m(x + w / 3, y, w / 3, h)
                        - 0.5 * (m(x, y, w / 3, h) + m(x + 2 * (w / 3), y, w / 3, h))
                }
                HaarKind::LineY => {
                    m(x, y + h / 3, w, h / 3)
                        - 0.5 * (m(x, y, w, h / 3) + m(x, y + 2 * (h / 3), w, h / 3))
                }
                HaarKind::Checker => {
                    m(x, y, w / 2, h / 2) + m(x + w / 2, y + h / 2, w / 2, h / 2)
                        - m(x + w / 2, y, w / 2, h / 2)
                        - m(x, y + h / 2, w / 2, h / 2)
                }
            };
            assert!((f.eval(&ii, ox, oy) - want).abs() < 1e-3, "{f:?}");
            assert!(f.x as u32 + f.w as u32 <= WINDOW && f.y as u32 + f.h as u32 <= WINDOW);
        }
    }
}
