//! Warping one case of a dataset: ROI from landmarks (predicted or annotated
//! aorta), warped image, masks and landmarks, and the transform kept so a
//! warped mask can be mapped back onto the original image.

use crate::mesh::{to_warped, WarpMap};
use crate::roi::{Roi, SIZE};
use crate::WarpError;
use aac_io::{Gray16, Gray8, IoError, Point, N_POINTS, N_SPINE};
use aac_shape::{Prediction, ShapeModel};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where the aorta points of the ROI come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AortaSource {
    /// Predicted from the spine points by the shape model (the default; the
    /// only choice for new scans).
    Predicted,
    /// The annotated aorta points 20..29 (their SD is taken from the model).
    Annotated,
}

/// An ROI with the aorta it was built from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreparedRoi {
    /// `aac-transform`.
    pub format: String,
    /// Version 1.
    pub version: u32,
    /// Source image size (width, height).
    pub source_size: (u32, u32),
    /// The control grid.
    pub roi: Roi,
    /// The aorta points used (10).
    pub aorta: Vec<Point>,
    /// Their SDs in pixels.
    pub aorta_sd: Vec<f64>,
    /// Which aorta was used.
    pub aorta_source: AortaSource,
    /// Mahalanobis distance of the shape fit (QC).
    pub shape_mahalanobis: f64,
    /// RMS spine-fit residual in pixels (QC).
    pub spine_rms_px: f64,
    /// Fraction of the ROI inside the image.
    pub fraction_inside: f64,
}

impl PreparedRoi {
    /// Saves as JSON (atomic).
    pub fn save(&self, path: &Path) -> Result<(), IoError> {
        let text =
            serde_json::to_string_pretty(self).map_err(|e| IoError::format(path, e.to_string()))?;
        aac_io::write_string_atomic(path, &text)
    }

    /// Loads a transform file.
    pub fn load(path: &Path) -> Result<PreparedRoi, IoError> {
        let text = aac_io::read_text_capped(path, aac_io::input::MAX_SMALL_TEXT_BYTES)?;
        let t: PreparedRoi = serde_json::from_str(&text)
            .map_err(|e| IoError::format(path, format!("not a transform file: {e}")))?;
        if t.format != "aac-transform" || t.version != 1 {
            return Err(IoError::format(path, "not an aac-transform version 1 file"));
        }
        Ok(t)
    }
}

/// The least share of a region of interest's area that must lie inside its
/// image; a scan cropped through more of the band is refused, and one that
/// keeps at least this much is scored (and flagged `band_outside_image`
/// below 99.5%). One rule for `warp`, training, `eval` and `predict`.
pub const MIN_FRACTION_INSIDE: f64 = 0.3;

/// Builds the ROI of an image from its landmarks. `points` holds the 20 spine
/// points (30 with the annotated aorta). Fails if less than
/// [`MIN_FRACTION_INSIDE`] of the ROI's area lies inside the image.
pub fn prepare_roi(
    ssm: &ShapeModel,
    points: &[Point],
    source: AortaSource,
    size: (u32, u32),
) -> Result<(PreparedRoi, Prediction), WarpError> {
    let pred = ssm.predict(&points[..N_SPINE.min(points.len())])?;
    let aorta: Vec<Point> = match source {
        AortaSource::Predicted => pred.aorta().to_vec(),
        AortaSource::Annotated => {
            if points.len() < N_POINTS {
                return Err(WarpError::Shape(aac_shape::ShapeError::Invalid(
                    "--aorta annotated needs 30-point landmarks".into(),
                )));
            }
            points[N_SPINE..N_POINTS].to_vec()
        }
    };
    let roi = Roi::build(points, &aorta, &pred.aorta_sd)?;
    let fraction_inside = roi.fraction_inside(size.0, size.1);
    if fraction_inside < MIN_FRACTION_INSIDE {
        return Err(WarpError::Roi(crate::RoiError::OutsideImage(
            format!("only {:.0}% of it inside", 100.0 * fraction_inside),
            size.0,
            size.1,
        )));
    }
    Ok((
        PreparedRoi {
            format: "aac-transform".into(),
            version: 1,
            source_size: size,
            roi,
            aorta,
            aorta_sd: pred.aorta_sd.clone(),
            aorta_source: source,
            shape_mahalanobis: pred.mahalanobis,
            spine_rms_px: pred.spine_rms_px,
            fraction_inside,
        },
        pred,
    ))
}

/// Warps a 16-bit image (bilinear; outside the image 0).
pub fn warp_gray16(map: &WarpMap, img: &Gray16) -> Gray16 {
    let data: Vec<f32> = aac_io::image_io::to_f32(img);
    let out = map.warp_f32(&data, img.width() as usize, img.height() as usize, 0.0);
    let px: Vec<u16> = out
        .iter()
        .map(|&v| v.round().clamp(0.0, 65535.0) as u16)
        .collect();
    Gray16::from_raw(SIZE.0, SIZE.1, px).expect("size matches")
}

/// Maps landmarks into warped space.
pub fn warp_points(roi: &Roi, points: &[Point]) -> Vec<Point> {
    points.iter().map(|&p| to_warped(roi, p)).collect()
}

/// Warps a label mask.
pub fn warp_mask(map: &WarpMap, mask: &Gray8) -> Gray8 {
    map.warp_labels(mask)
}

impl PreparedRoi {
    /// The aorta's centre line in warped space as the shape model predicts
    /// it: the mean warped x of the midpoints between the posterior and
    /// anterior wall points at the five disc levels. Used to split the walls
    /// when a segmentation gives no clear midline of its own.
    pub fn aorta_centre_x(&self) -> f64 {
        let levels = self.aorta.len() / 2;
        if levels == 0 {
            return crate::roi::TARGET_X[2];
        }
        let sum: f64 = (0..levels)
            .map(|k| to_warped(&self.roi, self.aorta[2 * k].mid(&self.aorta[2 * k + 1])).x)
            .sum();
        sum / levels as f64
    }
}

/// Source-image length, in mm, of each of the 256 warped rows along the
/// warped column `x`: the distance between where the top and the bottom edge
/// of the row map to, with `spacing` = [row, column] mm per pixel (DICOM
/// PixelSpacing order). Summed over calcified rows it gives the calcified
/// length along a wall.
pub fn row_lengths_mm(roi: &Roi, x: f64, spacing: [f64; 2]) -> Vec<f64> {
    (0..SIZE.1)
        .map(|y| {
            let a = crate::mesh::to_source(roi, x, f64::from(y) - 0.5);
            let b = crate::mesh::to_source(roi, x, f64::from(y) + 0.5);
            let (dx, dy) = ((b.x - a.x) * spacing[1], (b.y - a.y) * spacing[0]);
            (dx * dx + dy * dy).sqrt()
        })
        .collect()
}
