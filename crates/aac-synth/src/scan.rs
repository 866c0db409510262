//! Turns an attenuation map into a scanner image: blur, quantum and correlated
//! noise, scan-line streaks, display mapping to 12 bits, flat bands.

use crate::field::{gaussian_blur, CoarseField};
use crate::render::Canvas;
use crate::style::Style;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// The acquisition parameters drawn for one scan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanParams {
    /// Blur sigma (pixels).
    pub blur_px: f64,
    /// White-noise sd.
    pub noise: f64,
    /// Scan-line streak sd (0 = none).
    pub streaks: f64,
    /// Display window low and high (attenuation units).
    pub window: (f64, f64),
    /// Display gamma.
    pub gamma: f64,
    /// Width of a flat band at the posterior edge (pixels; 0 = none) and its value.
    pub flat_band: (usize, u16),
}

fn range<R: Rng>(rng: &mut R, (a, b): (f64, f64)) -> f64 {
    if b > a {
        rng.random_range(a..b)
    } else {
        a
    }
}

/// Draws the acquisition parameters of one scan from a style.
pub fn draw_params<R: Rng>(rng: &mut R, style: &Style, width: usize) -> ScanParams {
    let streaks = if rng.random::<f64>() < style.streaks.0 {
        style.streaks.1 * range(rng, (0.5, 1.5))
    } else {
        0.0
    };
    let flat_band = if rng.random::<f64>() < style.flat_band {
        let w = (width as f64 * range(rng, (0.03, 0.09))) as usize;
        (w, if rng.random::<bool>() { 4095 } else { 0 })
    } else {
        (0, 0)
    };
    ScanParams {
        blur_px: range(rng, style.blur_px),
        noise: range(rng, style.noise),
        streaks,
        window: (range(rng, (-0.06, 0.04)), range(rng, (0.85, 1.15))),
        gamma: range(rng, style.gamma),
        flat_band,
    }
}

/// Applies blur, noise and display mapping; returns 12-bit values, row-major.
pub fn acquire<R: Rng>(rng: &mut R, mut c: Canvas, p: &ScanParams, correlated: f64) -> Vec<u16> {
    gaussian_blur(&mut c.data, c.width, c.height, p.blur_px as f32);
    let grain = CoarseField::new(rng, c.width, c.height, 2.5);
    let white = (p.noise * (1.0 - correlated).sqrt()) as f32;
    let corr = (p.noise * correlated.sqrt() * 1.6) as f32;
    let row_offsets: Vec<f32> = (0..c.height)
        .map(|_| {
            if p.streaks > 0.0 {
                let z: f32 = StandardNormal.sample(rng);
                z * p.streaks as f32 * if rng.random::<f64>() < 0.1 { 2.5 } else { 1.0 }
            } else {
                0.0
            }
        })
        .collect();
    let (lo, hi) = (p.window.0 as f32, p.window.1 as f32);
    let inv_span = 1.0 / (hi - lo);
    let gamma = p.gamma as f32;
    let mut out = vec![0u16; c.width * c.height];
    let mut noise_rng = rand_pcg::Pcg64Mcg::new(rng.random::<u128>() | 1);
    for y in 0..c.height {
        for x in 0..c.width {
            let i = y * c.width + x;
            let v = c.data[i];
            // Quantum noise grows with the signal; grain is spatially correlated.
            let z: f32 = StandardNormal.sample(&mut noise_rng);
            let noisy = v
                + (0.7 + 0.6 * v.max(0.0)) * (white * z + corr * grain.at(x as f32, y as f32))
                + row_offsets[y];
            let t = ((noisy - lo) * inv_span).clamp(0.0, 1.0);
            out[i] = (t.powf(gamma) * 4095.0).round() as u16;
        }
    }
    if p.flat_band.0 > 0 {
        for y in 0..c.height {
            for x in 0..p.flat_band.0.min(c.width) {
                out[y * c.width + x] = p.flat_band.1;
            }
        }
    }
    out
}
