//! Reading raw images (PNG, TIFF, DICOM) as 16-bit grayscale and writing PNGs.

use crate::atomic::write_atomic;
use crate::dicom;
use crate::error::{IoError, Result};
use image::{DynamicImage, ImageBuffer, Luma, Rgb};
use std::path::Path;

/// A 16-bit grayscale image: the form in which the pipeline sees every raw image.
pub type Gray16 = ImageBuffer<Luma<u16>, Vec<u16>>;
/// An 8-bit grayscale image (label masks, 8-bit renderings).
pub type Gray8 = ImageBuffer<Luma<u8>, Vec<u8>>;
/// An 8-bit RGB image (overlays, figures).
pub type Rgb8 = ImageBuffer<Rgb<u8>, Vec<u8>>;

/// The file extensions recognised as images, in the order they are looked up.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["png", "tif", "tiff", "dcm", "dicom"];

/// True if `path` looks like a DICOM file: a `.dcm`/`.dicom` extension, or the
/// `DICM` magic at byte 128.
pub fn is_dicom(path: &Path) -> bool {
    match extension(path).as_deref() {
        Some("dcm") | Some("dicom") => true,
        Some("png") | Some("tif") | Some("tiff") => false,
        _ => {
            use std::io::Read;
            let mut buf = [0u8; 132];
            std::fs::File::open(path)
                .and_then(|mut f| f.read_exact(&mut buf))
                .map(|_| &buf[128..132] == b"DICM")
                .unwrap_or(false)
        }
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// Reads an image file (PNG, TIFF or DICOM) as 16-bit grayscale.
///
/// 8-bit images keep their values (0..255); colour images are converted to
/// luminance with a warning; DICOM goes through [`dicom::read_dicom_gray16`].
pub fn read_image(path: &Path) -> Result<Gray16> {
    read_image_spaced(path).map(|(img, _)| img)
}

/// Like [`read_image`], with the pixel spacing [row, column] in mm where the
/// file states it (DICOM PixelSpacing or ImagerPixelSpacing); None for PNG
/// and TIFF.
pub fn read_image_spaced(path: &Path) -> Result<(Gray16, Option<[f64; 2]>)> {
    crate::input::regular_file(path)?;
    if is_dicom(path) {
        return dicom::read_dicom_gray16_spaced(path);
    }
    let img = open_raster(path)?;
    Ok((dynamic_to_gray16(path, img), None))
}

/// The largest image the pipeline reads, in pixels (40 megapixels: a VFA
/// scan has 2-5). Larger images are refused before their pixels are decoded,
/// so one huge file cannot exhaust the memory of a cohort run.
pub const MAX_IMAGE_PIXELS: u64 = 40_000_000;

/// Fails when a width x height image is above [`MAX_IMAGE_PIXELS`].
pub(crate) fn check_image_size(path: &Path, width: u64, height: u64) -> Result<()> {
    if width.saturating_mul(height) > MAX_IMAGE_PIXELS {
        return Err(IoError::format(
            path,
            format!(
                "image is {width}x{height} pixels, above the limit of {} megapixels",
                MAX_IMAGE_PIXELS / 1_000_000
            ),
        ));
    }
    Ok(())
}

/// Opens a PNG/TIFF with the `image` crate, mapping its errors to [`IoError`].
pub(crate) fn open_raster(path: &Path) -> Result<DynamicImage> {
    let open = || {
        image::ImageReader::open(path)
            .map_err(|e| IoError::os(path, e))?
            .with_guessed_format()
            .map_err(|e| IoError::os(path, e))
    };
    let (w, h) = open()?
        .into_dimensions()
        .map_err(|e| IoError::format(path, format!("cannot decode image: {e}")))?;
    check_image_size(path, u64::from(w), u64::from(h))?;
    let reader = open()?;
    let img = reader
        .decode()
        .map_err(|e| IoError::format(path, format!("cannot decode image: {e}")))?;
    if img.width() == 0 || img.height() == 0 {
        return Err(IoError::format(path, "image has zero width or height"));
    }
    Ok(img)
}

fn dynamic_to_gray16(path: &Path, img: DynamicImage) -> Gray16 {
    match img {
        DynamicImage::ImageLuma16(g) => g,
        DynamicImage::ImageLuma8(g) => {
            let (w, h) = g.dimensions();
            Gray16::from_raw(w, h, g.into_raw().into_iter().map(u16::from).collect())
                .expect("same pixel count")
        }
        DynamicImage::ImageLumaA8(_) | DynamicImage::ImageLumaA16(_) => {
            tracing::warn!("{}: alpha channel ignored", path.display());
            img.to_luma16()
        }
        other => {
            tracing::warn!(
                "{}: colour image converted to grayscale (luminance)",
                path.display()
            );
            other.to_luma16()
        }
    }
}

/// Writes a 16-bit grayscale PNG atomically.
pub fn write_png16(path: &Path, img: &Gray16) -> Result<()> {
    write_dynamic(path, &DynamicImage::ImageLuma16(img.clone()))
}

/// Writes an 8-bit grayscale PNG atomically.
pub fn write_png8(path: &Path, img: &Gray8) -> Result<()> {
    write_dynamic(path, &DynamicImage::ImageLuma8(img.clone()))
}

/// Writes an RGB PNG atomically.
pub fn write_rgb_png(path: &Path, img: &Rgb8) -> Result<()> {
    write_dynamic(path, &DynamicImage::ImageRgb8(img.clone()))
}

/// Writes an RGB image as a JPEG of `quality` (1-100), atomically: for
/// overlays, where a photo codec keeps a reader's view under 200 kB.
pub fn write_rgb_jpeg(path: &Path, img: &Rgb8, quality: u8) -> Result<()> {
    let bytes = encode_jpeg(img, quality)
        .map_err(|e| IoError::format(path, format!("cannot encode JPEG: {e}")))?;
    write_atomic(path, |w| w.write_all(&bytes))
}

/// Writes an RGB image as a JPEG of `quality`, or, where that takes more
/// than `max_bytes`, of the highest quality 10, 20, ... below it (down to
/// `floor`) that fits, atomically: noisy or edge-enhanced scans take two
/// or three times the bytes of smooth ones at one quality. Returns the
/// quality written (`floor` when even that does not fit).
pub fn write_rgb_jpeg_within(
    path: &Path,
    img: &Rgb8,
    quality: u8,
    floor: u8,
    max_bytes: usize,
) -> Result<u8> {
    let encode = |q: u8| {
        encode_jpeg(img, q).map_err(|e| IoError::format(path, format!("cannot encode JPEG: {e}")))
    };
    let mut q = quality;
    let mut bytes = encode(q)?;
    while bytes.len() > max_bytes && q > floor {
        q = q.saturating_sub(10).max(floor);
        bytes = encode(q)?;
    }
    write_atomic(path, |w| w.write_all(&bytes))?;
    Ok(q)
}

fn encode_jpeg(img: &Rgb8, quality: u8) -> std::result::Result<Vec<u8>, image::ImageError> {
    use image::codecs::jpeg::JpegEncoder;
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(img)?;
    Ok(bytes)
}

fn write_dynamic(path: &Path, img: &DynamicImage) -> Result<()> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut bytes = Vec::new();
    // Fast compression: cohorts are large and PNG encoding dominated writing time.
    let encoder = PngEncoder::new_with_quality(&mut bytes, CompressionType::Fast, FilterType::Sub);
    img.write_with_encoder(encoder)
        .map_err(|e| IoError::format(path, format!("cannot encode PNG: {e}")))?;
    write_atomic(path, |w| w.write_all(&bytes))
}

/// The negative of an image, each value mirrored within the image's own
/// range (`max - (v - min)`, so integers cannot overflow): what a scan
/// stored inverted (bone dark, as some exports and "negative" displays
/// write it) looks like the right way round. Empty input gives empty output.
pub fn negative<T>(values: &[T]) -> Vec<T>
where
    T: Copy + PartialOrd + std::ops::Sub<Output = T>,
{
    let Some(&first) = values.first() else {
        return Vec::new();
    };
    let (lo, hi) = values.iter().fold((first, first), |(lo, hi), &v| {
        (if v < lo { v } else { lo }, if v > hi { v } else { hi })
    });
    values.iter().map(|&v| hi - (v - lo)).collect()
}

/// [`negative`] of a 16-bit image (`aac convert --invert`).
pub fn negative_image(img: &Gray16) -> Gray16 {
    Gray16::from_raw(img.width(), img.height(), negative(img.as_raw()))
        .expect("the negative has the image's size")
}

/// The left-right mirror image of row-major `values` `width` wide (the
/// patient facing the other way): each row reversed. A length that is not
/// a whole number of rows keeps its last partial row as it is.
pub fn mirrored_rows<T: Copy>(values: &[T], width: usize) -> Vec<T> {
    if width == 0 {
        return values.to_vec();
    }
    let mut out = values.to_vec();
    for row in out.chunks_exact_mut(width) {
        row.reverse();
    }
    out
}

/// Converts an image into `f32` values in row-major order.
pub fn to_f32(img: &Gray16) -> Vec<f32> {
    img.as_raw().iter().map(|&v| v as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrored_rows_reverse_each_row_and_twice_is_identity() {
        let v = [1, 2, 3, 4, 5, 6];
        assert_eq!(mirrored_rows(&v, 3), vec![3, 2, 1, 6, 5, 4]);
        assert_eq!(mirrored_rows(&mirrored_rows(&v, 2), 2), v.to_vec());
        assert_eq!(mirrored_rows(&v, 0), v.to_vec());
        assert!(mirrored_rows::<u16>(&[], 4).is_empty());
    }

    #[test]
    fn a_jpeg_too_large_at_its_quality_is_written_at_a_lower_one_that_fits() {
        let dir = std::env::temp_dir().join(format!("aac-jpeg-within-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Noise: the worst case for a photo codec.
        let mut state = 12345u32;
        let noisy = Rgb8::from_fn(300, 300, |_, _| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let v = (state >> 24) as u8;
            image::Rgb([v, v, v])
        });
        let full = dir.join("full.jpg");
        write_rgb_jpeg(&full, &noisy, 85).unwrap();
        let at_85 = std::fs::metadata(&full).unwrap().len() as usize;
        let small = dir.join("small.jpg");
        let q = write_rgb_jpeg_within(&small, &noisy, 85, 45, at_85 * 3 / 4).unwrap();
        let written = std::fs::metadata(&small).unwrap().len() as usize;
        assert!((45..85).contains(&q), "{q}");
        assert!(written <= at_85 * 3 / 4, "{written} of {at_85}");
        assert_eq!(read_image(&small).unwrap().width(), 300);
        // Within the limit: the quality asked for, the same bytes.
        let same = dir.join("same.jpg");
        assert_eq!(
            write_rgb_jpeg_within(&same, &noisy, 85, 45, at_85).unwrap(),
            85
        );
        assert_eq!(std::fs::read(&same).unwrap(), std::fs::read(&full).unwrap());
        // Nothing fits: the floor.
        assert_eq!(
            write_rgb_jpeg_within(&same, &noisy, 85, 45, 10).unwrap(),
            45
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_negative_mirrors_within_the_images_own_range() {
        assert_eq!(negative(&[100u16, 200, 150]), vec![200, 100, 150]);
        // The full 16-bit range: no overflow at either end.
        assert_eq!(negative(&[0u16, 65535, 1]), vec![65535, 0, 65534]);
        assert_eq!(negative(&[0.5f32, 2.0]), vec![2.0, 0.5]);
        assert!(negative::<f32>(&[]).is_empty());
        let img = Gray16::from_raw(2, 1, vec![7, 9]).unwrap();
        let n = negative_image(&img);
        assert_eq!(
            (n.width(), n.height(), n.as_raw().clone()),
            (2, 1, vec![9, 7])
        );
        // Twice is the image itself.
        assert_eq!(negative_image(&n), img);
    }
}
