//! Turns an attenuation map into a scanner image: blur, quantum and correlated
//! noise, scan-line streaks, display mapping to 12 bits, flat bands.

use crate::anatomy::uniform;
use crate::factors::Factor;
use crate::field::gaussian_blur;
use crate::render::Canvas;
use crate::style::Style;
use rand::Rng;
use rand::SeedableRng;
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
    /// Fraction of the noise that is spatially correlated texture.
    #[serde(default)]
    pub correlated_noise: f64,
    /// Gain of the unsharp mask of an edge-enhanced export (0: none).
    #[serde(default)]
    pub edge_enhance: f64,
    /// Grey levels of the export: 256 for an 8-bit one, 0 for 12 bits.
    #[serde(default)]
    pub levels: u16,
}

/// Draws the acquisition parameters of one scan from a style.
pub fn draw_params<R: Rng>(rng: &mut R, style: &Style, width: usize) -> ScanParams {
    let streaks = if rng.random::<f64>() < style.streaks.0 {
        style.streaks.1 * uniform(rng, (0.5, 1.5))
    } else {
        0.0
    };
    let flat_band = if rng.random::<f64>() < style.flat_band {
        let w = (width as f64 * uniform(rng, (0.03, 0.09))) as usize;
        (w, if rng.random::<bool>() { 4095 } else { 0 })
    } else {
        (0, 0)
    };
    let mut p = ScanParams {
        blur_px: uniform(rng, style.blur_px),
        noise: uniform(rng, style.noise),
        streaks,
        window: (
            uniform(rng, style.window_low),
            uniform(rng, style.window_high),
        ),
        gamma: uniform(rng, style.gamma),
        flat_band,
        correlated_noise: uniform(rng, style.correlated_noise),
        edge_enhance: 0.0,
        levels: 0,
    };
    // The export's processing draws from its own stream, so that the scan
    // is the same with or without it.
    let mut own = rand_chacha::ChaCha8Rng::seed_from_u64(p.blur_px.to_bits() ^ p.noise.to_bits());
    if style.has(Factor::EdgeEnhanced) {
        p.edge_enhance = uniform(&mut own, (0.8, 2.0));
    }
    if style.has(Factor::EightBit) {
        p.levels = 256;
    }
    p
}

/// Sigma (pixels) of the blur an edge-enhanced export subtracts.
const UNSHARP_SIGMA_PX: f32 = 4.0;

/// Applies blur, noise and display mapping; returns 12-bit values, row-major.
pub fn acquire<R: Rng>(rng: &mut R, mut c: Canvas, p: &ScanParams) -> Vec<u16> {
    let correlated = p.correlated_noise;
    let normals = NormalTable::new(rng);
    let mut noise_rng = rand_pcg::Pcg64Mcg::new(rng.random::<u128>() | 1);
    // Correlated grain: white noise added before the blur, scaled so that its
    // standard deviation after the blur is the requested share (a Gaussian blur
    // of sigma s divides the sd of white noise by about 2 s sqrt(pi)).
    let sigma = p.blur_px.max(0.5);
    let corr = (p.noise * correlated.sqrt() * 2.0 * sigma * std::f64::consts::PI.sqrt()) as f32;
    let mut z = vec![0.0f32; c.width];
    for row in c.data.chunks_mut(c.width) {
        normals.fill(&mut noise_rng, &mut z);
        for (v, &zi) in row.iter_mut().zip(&z) {
            *v += (0.7 + 0.6 * v.max(0.0)) * corr * zi;
        }
    }
    gaussian_blur(&mut c.data, c.width, c.height, p.blur_px as f32);
    if p.edge_enhance > 0.0 {
        // Unsharp mask: the image plus `gain` times its detail.
        let mut low = c.data.clone();
        gaussian_blur(&mut low, c.width, c.height, UNSHARP_SIGMA_PX);
        let gain = p.edge_enhance as f32;
        for (v, l) in c.data.iter_mut().zip(&low) {
            *v += gain * (*v - l);
        }
    }
    let white = (p.noise * (1.0 - correlated).sqrt()) as f32;
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
    // Display gamma through a lookup table (powf per pixel is the slowest step).
    const LUT: usize = 4096;
    let lut: Vec<u16> = (0..=LUT)
        .map(|i| (((i as f64 / LUT as f64).powf(p.gamma)) * 4095.0).round() as u16)
        .collect();
    let mut out = vec![0u16; c.width * c.height];
    let rows = c
        .data
        .chunks(c.width)
        .zip(out.chunks_mut(c.width))
        .zip(&row_offsets);
    for ((src, dst), &offset) in rows {
        normals.fill(&mut noise_rng, &mut z);
        for ((&v, o), &zi) in src.iter().zip(dst.iter_mut()).zip(&z) {
            // Quantum noise grows with the signal.
            let noisy = v + (0.7 + 0.6 * v.max(0.0)) * white * zi + offset;
            let t = ((noisy - lo) * inv_span).clamp(0.0, 1.0);
            *o = lut[(t * LUT as f32) as usize];
        }
    }
    if p.levels > 0 && p.levels < 4096 {
        // An 8-bit export, read back on the 12-bit scale.
        let top = u32::from(p.levels) - 1;
        for o in out.iter_mut() {
            let q = (u32::from(*o) * top + 2047) / 4095;
            *o = ((q * 4095 + top / 2) / top) as u16;
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

/// Standard-normal samples drawn from a fixed table by a fast generator: per
/// pixel noise needs speed, not an exact tail.
struct NormalTable(Vec<f32>);

impl NormalTable {
    fn new<R: Rng>(rng: &mut R) -> Self {
        NormalTable((0..65536).map(|_| StandardNormal.sample(rng)).collect())
    }

    /// Fills `out` with samples, four per 64-bit draw.
    fn fill<R: Rng>(&self, rng: &mut R, out: &mut [f32]) {
        for chunk in out.chunks_mut(4) {
            let r = rng.next_u64();
            for (k, o) in chunk.iter_mut().enumerate() {
                *o = self.0[((r >> (16 * k)) & 0xFFFF) as usize];
            }
        }
    }
}
