//! `aac info`: facts about an image file, with the JSON keys of the contract.

use crate::dicom::read_header;
use crate::error::Result;
use crate::image_io::is_dicom as is_dicom_file;
use crate::image_io::open_raster;
use image::DynamicImage;
use std::path::Path;

/// A transfer syntax: UID and name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TransferSyntaxInfo {
    /// The UID, e.g. 1.2.840.10008.1.2.1.
    pub uid: String,
    /// The registry's name for it, if known.
    pub name: Option<String>,
}

/// What `aac info` reports for one file (JSON keys are the contract's names).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageInfo {
    /// The file as given.
    pub file: String,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Bits per stored sample.
    pub bits_stored: Option<u32>,
    /// Photometric interpretation (DICOM term; MONOCHROME2 or RGB for rasters).
    pub photometric: Option<String>,
    /// Transfer syntax (DICOM only).
    pub transfer_syntax: Option<TransferSyntaxInfo>,
    /// Modality (DICOM only).
    pub modality: Option<String>,
    /// Manufacturer (DICOM only).
    pub manufacturer: Option<String>,
    /// [row, col] pixel spacing in mm, from PixelSpacing or ImagerPixelSpacing.
    pub pixel_spacing_mm: Option<[f64; 2]>,
}

/// Reads the facts of an image or DICOM file.
pub fn image_info(path: &Path) -> Result<ImageInfo> {
    let file = path.display().to_string();
    if is_dicom_file(path) {
        let h = read_header(path)?;
        return Ok(ImageInfo {
            file,
            width: h.width,
            height: h.height,
            bits_stored: h.bits_stored,
            photometric: h.photometric,
            transfer_syntax: Some(TransferSyntaxInfo {
                uid: h.transfer_syntax_uid,
                name: h.transfer_syntax_name,
            }),
            modality: h.modality,
            manufacturer: h.manufacturer,
            pixel_spacing_mm: h.pixel_spacing_mm,
        });
    }
    let img = open_raster(path)?;
    let (bits, photometric) = match &img {
        DynamicImage::ImageLuma8(_) | DynamicImage::ImageLumaA8(_) => (8, "MONOCHROME2"),
        DynamicImage::ImageLuma16(_) | DynamicImage::ImageLumaA16(_) => (16, "MONOCHROME2"),
        DynamicImage::ImageRgb16(_) | DynamicImage::ImageRgba16(_) => (16, "RGB"),
        DynamicImage::ImageRgb32F(_) | DynamicImage::ImageRgba32F(_) => (32, "RGB"),
        _ => (8, "RGB"),
    };
    Ok(ImageInfo {
        file,
        width: img.width(),
        height: img.height(),
        bits_stored: Some(bits),
        photometric: Some(photometric.into()),
        transfer_syntax: None,
        modality: None,
        manufacturer: None,
        pixel_spacing_mm: None,
    })
}
