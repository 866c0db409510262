//! ROI intensity normalisation and photometric augmentation: users train on one
//! scanner and score another's, so contrast, brightness, gamma, noise, blur
//! and scan-line streaks are varied during training.

use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Maps raw ROI intensities to about 0..1 with a robust (1st-99th percentile)
/// window; pixels outside the image (value 0 from the warp) stay at 0.
pub fn normalise(image: &[f32]) -> Vec<f32> {
    let mut v: Vec<f32> = image.iter().copied().filter(|x| *x > 0.0).collect();
    if v.is_empty() {
        return vec![0.0; image.len()];
    }
    // Two order statistics, not a full sort (same values, a fraction of
    // the time on every network input).
    let (lo_at, hi_at) = (v.len() / 100, (v.len() * 99) / 100);
    let hi = *v.select_nth_unstable_by(hi_at, f32::total_cmp).1;
    let lo = *v[..=hi_at].select_nth_unstable_by(lo_at, f32::total_cmp).1;
    let hi = hi.max(lo + 1e-3);
    image
        .iter()
        .map(|&x| ((x - lo) / (hi - lo)).clamp(-0.5, 1.5))
        .collect()
}

/// Photometric augmentation settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Photometric {
    /// Gamma range (applied on the 0..1 scale).
    pub gamma: (f32, f32),
    /// Contrast factor range.
    pub contrast: (f32, f32),
    /// Brightness offset range.
    pub brightness: (f32, f32),
    /// Maximum added noise SD.
    pub noise: f32,
    /// Maximum blur sigma (pixels).
    pub blur: f32,
    /// Probability and maximum SD of horizontal scan-line streaks.
    pub streaks: (f64, f32),
}

impl Default for Photometric {
    fn default() -> Self {
        Photometric {
            gamma: (0.7, 1.4),
            contrast: (0.75, 1.3),
            brightness: (-0.1, 0.1),
            noise: 0.06,
            blur: 1.0,
            streaks: (0.3, 0.04),
        }
    }
}

/// Applies a random photometric change to a normalised ROI in place.
pub fn augment<R: Rng>(rng: &mut R, x: &mut [f32], width: usize, p: &Photometric) {
    let u = |rng: &mut R, (a, b): (f32, f32)| if b > a { rng.random_range(a..b) } else { a };
    let gamma = u(rng, p.gamma);
    let contrast = u(rng, p.contrast);
    let brightness = u(rng, p.brightness);
    for v in x.iter_mut() {
        let t = v.clamp(0.0, 1.5);
        *v = (t.powf(gamma) - 0.5) * contrast + 0.5 + brightness;
    }
    let sigma = if p.blur > 0.0 {
        rng.random_range(0.0..p.blur)
    } else {
        0.0
    };
    if sigma > 0.3 {
        box_blur_rows_cols(x, width, sigma);
    }
    let noise = if p.noise > 0.0 {
        rng.random_range(0.0..p.noise)
    } else {
        0.0
    };
    if noise > 0.0 {
        let n = Normal::new(0.0f32, noise).expect("finite");
        for v in x.iter_mut() {
            *v += n.sample(rng);
        }
    }
    if rng.random::<f64>() < p.streaks.0 {
        let sd = rng.random_range(0.0..p.streaks.1.max(1e-6));
        let n = Normal::new(0.0f32, sd).expect("finite");
        for row in x.chunks_mut(width) {
            let off = n.sample(rng);
            row.iter_mut().for_each(|v| *v += off);
        }
    }
}

/// A 3-tap blur with weight set by sigma, horizontally then vertically.
fn box_blur_rows_cols(x: &mut [f32], width: usize, sigma: f32) {
    let w = (-(1.0 / (2.0 * sigma * sigma))).exp();
    let (c, s) = (1.0 / (1.0 + 2.0 * w), w / (1.0 + 2.0 * w));
    let height = x.len() / width;
    let src = x.to_vec();
    for y in 0..height {
        for i in 0..width {
            let l = src[y * width + i.saturating_sub(1)];
            let r = src[y * width + (i + 1).min(width - 1)];
            x[y * width + i] = c * src[y * width + i] + s * (l + r);
        }
    }
    let src = x.to_vec();
    for y in 0..height {
        for i in 0..width {
            let u = src[y.saturating_sub(1) * width + i];
            let d = src[(y + 1).min(height - 1) * width + i];
            x[y * width + i] = c * src[y * width + i] + s * (u + d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_maps_the_1st_and_99th_percentiles_of_the_nonzero_values_to_0_and_1() {
        // 1..=1000 shuffled, with zeros (outside the image) that are ignored.
        let mut x: Vec<f32> = (1..=1000).map(|i| ((i * 7919) % 1000 + 1) as f32).collect();
        x.extend([0.0; 50]);
        let n = normalise(&x);
        let at = |v: f32| n[x.iter().position(|&a| a == v).unwrap()];
        // Sorted, the 1st percentile is element 10 (value 11), the 99th element 990 (991).
        assert!(at(11.0).abs() < 1e-6);
        assert!((at(991.0) - 1.0).abs() < 1e-6);
        assert_eq!(at(1000.0), ((1000.0 - 11.0) / 980.0f32).clamp(-0.5, 1.5));
        assert_eq!(normalise(&[0.0, 0.0]), vec![0.0, 0.0]);
        assert_eq!(normalise(&[5.0]).len(), 1);
    }
}
