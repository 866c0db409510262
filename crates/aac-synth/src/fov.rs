//! What the scanner leaves out of the picture: a field of view cut short at
//! the top or bottom (lumbar-only views, edges through T12 or L5), and a
//! dose-masked flat rectangle in front of the spine. Both are drawn after the
//! whole T4-S1 scene is rendered, so the anatomy stays in the uncropped frame.

use crate::anatomy::{uniform, Anatomy, Wall, L1};
use crate::factors::Factor;
use crate::style::Style;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A flat rectangle the scanner wrote instead of the anatomy (facing-right
/// frame, uncropped rows): every column from `x0` to the anterior edge.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct DoseMask {
    /// First masked column (the rectangle runs to the anterior image edge).
    pub x0: usize,
    /// First masked row.
    pub y0: usize,
    /// One past the last masked row.
    pub y1: usize,
    /// The flat value written (12-bit).
    pub value: u16,
    /// True when the rectangle hides part of the aorta's anterior wall (the
    /// tool must flag such a scan rather than score it silently).
    pub hides_aorta: bool,
}

/// The part of the rendered scene that reaches the written image.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct FieldOfView {
    /// Rows cut from the top of the rendered scene; written image row `r`
    /// is scene row `r + crop_top` (landmarks and masks are already shifted,
    /// the anatomy in `truth.json` is not).
    pub crop_top: usize,
    /// Rows cut from the bottom of the rendered scene.
    pub crop_bottom: usize,
    /// A dose-masked rectangle, if any.
    pub dose_mask: Option<DoseMask>,
}

impl FieldOfView {
    /// Draws the field of view of one scan. Styles whose `crop` and
    /// `dose_mask` probabilities are zero draw nothing, so their random
    /// streams (and cohorts) are unchanged.
    pub fn draw<R: Rng>(rng: &mut R, style: &Style, a: &Anatomy) -> FieldOfView {
        let mut fov = FieldOfView::default();
        let v = &a.vertebrae;
        if style.crop > 0.0 && rng.random::<f64>() < style.crop {
            // The top edge anywhere from mid-thoracic (T7) down through the
            // middle of T12: a lumbar-only view at the extreme.
            let y = uniform(rng, (v[L1 - 6].centre().y, v[L1 - 1].centre().y));
            fov.crop_top = y.max(0.0) as usize;
        }
        if style.crop > 0.0 && rng.random::<f64>() < style.crop {
            // The bottom edge anywhere from the middle of L5 to the sacrum's tip.
            let lo = v[L1 + 4].centre().y;
            let hi = a.sacrum[2].y.max(lo + 1.0);
            let y = uniform(rng, (lo, hi)).min(a.height as f64);
            fov.crop_bottom = a.height.saturating_sub(y as usize);
        }
        if style.dose_mask > 0.0 && rng.random::<f64>() < style.dose_mask {
            fov.dose_mask = Some(draw_dose_mask(rng, a));
        }
        if style.has(Factor::L1L4Crop) {
            let (top, bottom) = l1l4_rows(rng, a);
            fov.crop_top = top;
            fov.crop_bottom = a.height - bottom;
        }
        fov
    }

    /// Height of the written image.
    pub fn height(&self, scene_height: usize) -> usize {
        scene_height - self.crop_top - self.crop_bottom
    }

    /// Writes the dose mask into a facing-right image and clears the labels
    /// it hides (nobody can label what the image does not show).
    pub fn mask_pixels(&self, width: usize, pixels: &mut [u16], labels: &mut [&mut [u8]]) {
        let Some(m) = self.dose_mask else { return };
        for y in m.y0..m.y1 {
            let row = y * width;
            pixels[row + m.x0..row + width].fill(m.value);
            for l in labels.iter_mut() {
                l[row + m.x0..row + width].fill(0);
            }
        }
    }

    /// Cuts the rows outside the field of view from a row-major buffer.
    pub fn crop<T: Copy>(&self, width: usize, scene_height: usize, data: &[T]) -> Vec<T> {
        let end = (scene_height - self.crop_bottom) * width;
        data[self.crop_top * width..end].to_vec()
    }
}

/// The rows an L1-L4 crop keeps (first, one past the last): from 0.1-0.35
/// of a level above T12's inferior endplate to as far below L5's superior
/// one, so that the 30 points are in view and neither T12's superior
/// endplate nor L5's inferior one (nor the sacrum) is.
fn l1l4_rows<R: Rng>(rng: &mut R, a: &Anatomy) -> (usize, usize) {
    let v = &a.vertebrae;
    let level = (v[L1 + 3].centre().y - v[L1].centre().y) / 3.0;
    let (t12, l5) = (&v[L1 - 1], &v[L1 + 4]);
    let top = t12.corners[2].y.min(t12.corners[3].y) - uniform(rng, (0.1, 0.35)) * level;
    let bottom = l5.corners[0].y.max(l5.corners[1].y) + uniform(rng, (0.1, 0.35)) * level;
    let top = (top.max(0.0) as usize).min(a.height - 1);
    let bottom = (bottom.ceil().max(0.0) as usize).clamp(top + 1, a.height);
    (top, bottom)
}

/// A dose-masked rectangle in front of the spine over the lumbar levels,
/// usually anterior to the aorta; about one in four covers its anterior wall.
fn draw_dose_mask<R: Rng>(rng: &mut R, a: &Anatomy) -> DoseMask {
    let mm = 1.0 / a.spacing_mm;
    let v = &a.vertebrae;
    let mid = v[L1 + 2].centre().y;
    let ant = a.aorta.wall_x(Wall::Anterior, mid);
    let post = a.aorta.wall_x(Wall::Posterior, mid);
    let hides_aorta = rng.random::<f64>() < 0.25;
    let x = if hides_aorta {
        uniform(rng, (post + 0.3 * (ant - post), ant - 1.0))
    } else {
        ant + uniform(rng, (4.0, 40.0)) * mm
    };
    let top = uniform(rng, (v[L1 - 3].centre().y, v[L1].centre().y));
    let bottom = uniform(rng, (v[L1 + 3].centre().y, a.sacrum[2].y));
    let x0 = (x.max(0.0) as usize).min(a.width.saturating_sub(1));
    let clamp_row = |y: f64| (y.max(0.0) as usize).min(a.height);
    DoseMask {
        x0,
        y0: clamp_row(top),
        y1: clamp_row(bottom),
        value: if rng.random::<bool>() { 0 } else { 4095 },
        hides_aorta,
    }
}
