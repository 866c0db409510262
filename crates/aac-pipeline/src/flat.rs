//! Flat regions of a warped scan: rectangles a scanner masked to one
//! constant value (dose masking, burnt-in annotation boxes). Nothing inside
//! one can be seen, and its edge is a step that a segmentation network reads
//! as a calcified wall, so predictions there are dropped and the scan is
//! flagged when such a region covers the aorta's band.

use aac_io::{ROI_HEIGHT, ROI_WIDTH};
use imageproc::distance_transform::Norm;
use imageproc::image::{GrayImage, Luma};
use imageproc::morphology::dilate;
use imageproc::region_labelling::{connected_components, Connectivity};

/// Pixels a constant patch must cover to count as masked: a mask is a
/// rectangle, while a patch of saturated bone or a smooth dark area in an
/// 8-bit scan is a few pixels.
const MIN_FLAT_AREA: u32 = 64;
/// Pixels around a masked region whose predictions are dropped too: the
/// edge is blurred over a few pixels and the network responds beside it
/// (on 22 dose-masked synthetic scans, AAC24 MAE 2.59 with 3 as with no
/// margin, 1.64 with 7 or 10: docs/predict.md).
const FLAT_MARGIN: u8 = 7;
/// First column of the warped aorta band (the aorta's half of the ROI).
const AORTA_BAND_X0: usize = 57;
/// Share of the aorta band masked flat above which the scan is flagged.
const FLAGGED_SHARE: f64 = 0.05;

/// A flat region found in a warped ROI (128 x 256, row-major).
pub struct FlatRegions {
    /// Pixels inside a masked region.
    inside: Vec<bool>,
    /// Pixels inside or within [`FLAT_MARGIN`] of one.
    near: Vec<bool>,
}

impl FlatRegions {
    /// Finds the masked regions of a warped ROI: pixels whose 8 neighbours
    /// all hold exactly their value, in connected patches of at least
    /// [`MIN_FLAT_AREA`] pixels.
    pub fn find(roi: &[f32]) -> FlatRegions {
        let (w, h) = (ROI_WIDTH as usize, ROI_HEIGHT as usize);
        let mut flat = GrayImage::new(ROI_WIDTH, ROI_HEIGHT);
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let v = roi[y * w + x];
                let same =
                    (y - 1..=y + 1).all(|yy| (x - 1..=x + 1).all(|xx| roi[yy * w + xx] == v));
                if same {
                    flat.put_pixel(x as u32, y as u32, Luma([255]));
                }
            }
        }
        if flat.pixels().all(|p| p[0] == 0) {
            // The usual case: nothing masked.
            let none = vec![false; w * h];
            return FlatRegions {
                inside: none.clone(),
                near: none,
            };
        }
        let labels = connected_components(&flat, Connectivity::Four, Luma([0u8]));
        let mut area = std::collections::HashMap::<u32, u32>::new();
        for p in labels.pixels() {
            if p[0] > 0 {
                *area.entry(p[0]).or_default() += 1;
            }
        }
        let mut kept = GrayImage::new(ROI_WIDTH, ROI_HEIGHT);
        for (x, y, p) in labels.enumerate_pixels() {
            if p[0] > 0 && area[&p[0]] >= MIN_FLAT_AREA {
                kept.put_pixel(x, y, Luma([255]));
            }
        }
        let near = dilate(&kept, Norm::LInf, FLAT_MARGIN);
        FlatRegions {
            inside: kept.pixels().map(|p| p[0] > 0).collect(),
            near: near.pixels().map(|p| p[0] > 0).collect(),
        }
    }

    /// True when no region was found.
    pub fn is_empty(&self) -> bool {
        !self.inside.iter().any(|&b| b)
    }

    /// Whether enough of the aorta's band is masked to flag the scan.
    pub fn covers_aorta_band(&self) -> bool {
        let w = ROI_WIDTH as usize;
        let band = (0..self.inside.len()).filter(|i| i % w >= AORTA_BAND_X0);
        let (mut masked, mut total) = (0usize, 0usize);
        for i in band {
            total += 1;
            masked += self.inside[i] as usize;
        }
        masked as f64 > FLAGGED_SHARE * total as f64
    }

    /// Sets to 0 the probabilities at and next to masked regions.
    pub fn clear(&self, planes: &mut [Vec<f32>]) {
        for plane in planes {
            for (p, &near) in plane.iter_mut().zip(&self.near) {
                if near {
                    *p = 0.0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIXELS: usize = (ROI_WIDTH * ROI_HEIGHT) as usize;

    /// A noisy ROI (no two neighbours equal).
    fn noisy() -> Vec<f32> {
        (0..PIXELS)
            .map(|i| 1000.0 + ((i * 7919) % 997) as f32 + (i as f32) * 1e-3)
            .collect()
    }

    fn fill(roi: &mut [f32], x0: usize, y0: usize, x1: usize, y1: usize, v: f32) {
        let w = ROI_WIDTH as usize;
        for y in y0..y1 {
            for x in x0..x1 {
                roi[y * w + x] = v;
            }
        }
    }

    #[test]
    fn a_masked_rectangle_and_its_edge_are_cleared_and_flagged() {
        let mut roi = noisy();
        fill(&mut roi, 70, 40, 128, 120, 0.0);
        let f = FlatRegions::find(&roi);
        assert!(!f.is_empty());
        assert!(f.covers_aorta_band());
        let mut planes = vec![vec![0.9f32; PIXELS]; 2];
        f.clear(&mut planes);
        let w = ROI_WIDTH as usize;
        // Inside, on the edge and up to 7 pixels outside it: cleared.
        assert_eq!(planes[0][80 * w + 100], 0.0);
        assert_eq!(planes[1][80 * w + 70], 0.0);
        assert_eq!(planes[0][80 * w + 65], 0.0);
        // Further away: kept.
        assert_eq!(planes[0][80 * w + 60], 0.9);
        assert_eq!(planes[1][200 * w + 100], 0.9);
    }

    #[test]
    fn small_constant_patches_and_noisy_scans_are_left_alone() {
        let mut roi = noisy();
        // A saturated deposit of 6 x 6 pixels: 16 flat pixels inside.
        fill(&mut roi, 90, 100, 96, 106, 65535.0);
        let f = FlatRegions::find(&roi);
        assert!(f.is_empty());
        assert!(!f.covers_aorta_band());
        let mut planes = vec![vec![0.9f32; PIXELS]; 2];
        f.clear(&mut planes);
        assert!(planes.iter().flatten().all(|&p| p == 0.9));
    }

    #[test]
    fn a_mask_beside_the_band_is_not_flagged() {
        let mut roi = noisy();
        fill(&mut roi, 0, 0, 40, 256, 0.0);
        let f = FlatRegions::find(&roi);
        assert!(!f.is_empty());
        assert!(!f.covers_aorta_band());
    }
}
