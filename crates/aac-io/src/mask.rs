//! Label masks: 8-bit PNGs with 0 none, 1 anterior-wall, 2 posterior-wall calcification.

use crate::error::{IoError, Result};
use crate::image_io::{open_raster, write_png8, Gray8};
use image::DynamicImage;
use std::path::Path;

/// Label of background pixels.
pub const LABEL_NONE: u8 = 0;
/// Label of anterior-wall calcification.
pub const LABEL_ANTERIOR: u8 = 1;
/// Label of posterior-wall calcification.
pub const LABEL_POSTERIOR: u8 = 2;

/// Reads a label mask and checks it is 8-bit grayscale with labels 0..=2, and,
/// if `expected` is given, that it has that (width, height).
pub fn read_mask(path: &Path, expected: Option<(u32, u32)>) -> Result<Gray8> {
    if !path.exists() {
        return Err(IoError::format(path, "mask file does not exist"));
    }
    crate::input::regular_file(path)?;
    let img = match open_raster(path)? {
        DynamicImage::ImageLuma8(g) => g,
        other => {
            return Err(IoError::format(
                path,
                format!("mask must be 8-bit grayscale, found {:?}", other.color()),
            ))
        }
    };
    if let Some((w, h)) = expected {
        if img.dimensions() != (w, h) {
            return Err(IoError::format(
                path,
                format!(
                    "mask is {}x{}, expected {w}x{h} (the size of its image)",
                    img.width(),
                    img.height()
                ),
            ));
        }
    }
    check_labels(&img, path)?;
    Ok(img)
}

/// Checks every pixel of a mask is 0, 1 or 2.
pub fn check_labels(img: &Gray8, path: &Path) -> Result<()> {
    if let Some((i, &v)) = img.as_raw().iter().enumerate().find(|(_, &v)| v > 2) {
        let w = img.width() as usize;
        return Err(IoError::format(
            path,
            format!(
                "label {v} at (x={}, y={}) is outside 0..2 (0 none, 1 anterior, 2 posterior)",
                i % w,
                i / w
            ),
        ));
    }
    Ok(())
}

/// Writes a label mask atomically.
pub fn write_mask(path: &Path, mask: &Gray8) -> Result<()> {
    write_png8(path, mask)
}
