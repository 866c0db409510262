//! Training augmentation (the paper's section 2.3): Gaussian noise on the spine
//! landmarks before the shape-model prediction, giving a different non-linear
//! warp each draw, plus a random scale, rotation and translation applied
//! identically to image and mask.

use crate::mesh::{Jitter, WarpMap};
use crate::roi::{Roi, SIZE};
use crate::WarpError;
use aac_io::{Point, N_SPINE};
use aac_shape::ShapeModel;
use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Augmentation settings (defaults are the paper's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentParams {
    /// SD of the landmark noise in pixels.
    pub landmark_sigma: f64,
    /// Scale range.
    pub scale: (f64, f64),
    /// Maximum absolute rotation in degrees.
    pub rotation_deg: f64,
    /// Maximum translation as a fraction of the width/height.
    pub shift_fraction: f64,
}

impl Default for AugmentParams {
    fn default() -> Self {
        AugmentParams {
            landmark_sigma: 5.0,
            scale: (0.95, 1.05),
            rotation_deg: 10.0,
            shift_fraction: 0.05,
        }
    }
}

/// Adds N(0, sigma^2) noise to each coordinate of the spine points.
pub fn jitter_landmarks<R: Rng>(rng: &mut R, spine: &[Point], sigma: f64) -> Vec<Point> {
    let n = Normal::new(0.0, sigma.max(0.0)).expect("finite sigma");
    spine
        .iter()
        .map(|p| Point::new(p.x + n.sample(rng), p.y + n.sample(rng)))
        .collect()
}

/// Draws a random similarity jitter.
pub fn draw_jitter<R: Rng>(rng: &mut R, p: &AugmentParams) -> Jitter {
    let u = |rng: &mut R, lo: f64, hi: f64| {
        if hi > lo {
            rng.random_range(lo..hi)
        } else {
            lo
        }
    };
    let r = p.rotation_deg.to_radians();
    let (mx, my) = (
        p.shift_fraction * SIZE.0 as f64,
        p.shift_fraction * SIZE.1 as f64,
    );
    Jitter {
        scale: u(rng, p.scale.0, p.scale.1),
        rotation: u(rng, -r, r),
        shift: (u(rng, -mx, mx), u(rng, -my, my)),
    }
}

/// One augmented warp of an image: noisy spine points, shape-model aorta
/// prediction, ROI, and a random similarity in warped space.
pub fn augmented_map<R: Rng>(
    rng: &mut R,
    ssm: &ShapeModel,
    landmarks: &[Point],
    p: &AugmentParams,
) -> Result<WarpMap, WarpError> {
    let noisy = jitter_landmarks(rng, &landmarks[..N_SPINE], p.landmark_sigma);
    let pred = ssm.predict(&noisy)?;
    let roi = Roi::build(&noisy, pred.aorta(), &pred.aorta_sd)?;
    let jitter = draw_jitter(rng, p);
    Ok(WarpMap::new(&roi, Some(&jitter)))
}
