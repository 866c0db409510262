//! Cheap random fields for texture, mottling and noise, and a separable blur.
//! Written here because they are a few lines each and must be fast enough for
//! the generator's 20 images/s; image-processing crates blur u8/u16 images, not
//! the f32 attenuation maps the renderer works on.

use rand::Rng;

/// A smooth random field: values on a coarse grid, bilinearly interpolated.
pub struct CoarseField {
    cell: f32,
    gw: usize,
    gh: usize,
    values: Vec<f32>,
}

impl CoarseField {
    /// A field covering `width` x `height` pixels with grid `cell` pixels apart,
    /// values uniform in [-1, 1].
    pub fn new<R: Rng>(rng: &mut R, width: usize, height: usize, cell: f32) -> Self {
        let gw = (width as f32 / cell).ceil() as usize + 2;
        let gh = (height as f32 / cell).ceil() as usize + 2;
        let values = (0..gw * gh)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        CoarseField {
            cell,
            gw,
            gh,
            values,
        }
    }

    /// Field value at pixel (x, y).
    #[inline]
    pub fn at(&self, x: f32, y: f32) -> f32 {
        let gx = (x / self.cell).max(0.0);
        let gy = (y / self.cell).max(0.0);
        let ix = (gx as usize).min(self.gw - 2);
        let iy = (gy as usize).min(self.gh - 2);
        let fx = (gx - ix as f32).min(1.0);
        let fy = (gy - iy as f32).min(1.0);
        let i = iy * self.gw + ix;
        let top = self.values[i] * (1.0 - fx) + self.values[i + 1] * fx;
        let bot = self.values[i + self.gw] * (1.0 - fx) + self.values[i + self.gw + 1] * fx;
        top * (1.0 - fy) + bot * fy
    }
}

/// A 1-D Gaussian kernel of standard deviation `sigma` (radius 3 sigma).
pub fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    if sigma <= 0.05 {
        return vec![1.0];
    }
    let r = (3.0 * sigma).ceil() as i32;
    let mut k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// Blurs a row-major f32 image in place with a separable Gaussian (edges clamped).
pub fn gaussian_blur(data: &mut [f32], width: usize, height: usize, sigma: f32) {
    let k = gaussian_kernel(sigma);
    if k.len() == 1 {
        return;
    }
    let r = (k.len() / 2) as isize;
    let mut line = vec![0.0f32; width.max(height) + 2 * r as usize];
    for y in 0..height {
        let row = &mut data[y * width..(y + 1) * width];
        for (i, l) in line.iter_mut().enumerate().take(width + 2 * r as usize) {
            let x = (i as isize - r).clamp(0, width as isize - 1) as usize;
            *l = row[x];
        }
        for (x, out) in row.iter_mut().enumerate() {
            *out = k
                .iter()
                .zip(&line[x..x + k.len()])
                .map(|(a, b)| a * b)
                .sum();
        }
    }
    // Vertical pass row by row (cache-friendly): each output row is a weighted
    // sum of whole input rows.
    let src = data.to_vec();
    for y in 0..height {
        let out = &mut data[y * width..(y + 1) * width];
        out.iter_mut().for_each(|v| *v = 0.0);
        for (j, &kj) in k.iter().enumerate() {
            let sy = (y as isize + j as isize - r).clamp(0, height as isize - 1) as usize;
            let row = &src[sy * width..(sy + 1) * width];
            for (o, s) in out.iter_mut().zip(row) {
                *o += kj * s;
            }
        }
    }
}

/// Smoothstep from 0 at `a` to 1 at `b`.
#[inline]
pub fn smoothstep(a: f32, b: f32, x: f32) -> f32 {
    let t = ((x - a) / (b - a)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}
