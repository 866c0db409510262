//! DICOM reading through dicom-rs: header information and pixel decoding for every
//! transfer syntax the enabled codecs support (native, deflated, RLE, JPEG
//! baseline/extended/lossless, JPEG 2000 via openjp2, and JPEG-LS through the
//! pure-Rust `pure_jpegls`, so the default build needs no CMake).

use crate::error::{IoError, Result};
use crate::image_io::Gray16;
use dicom_dictionary_std::tags;
use dicom_object::{open_file, DefaultDicomObject};
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use std::path::Path;

/// Opens a DICOM file, turning parse errors and decoder panics into errors.
pub fn open_dicom(path: &Path) -> Result<DefaultDicomObject> {
    if !path.exists() {
        return Err(IoError::format(path, "file does not exist"));
    }
    crate::dicom_guard::check_declared_lengths(path)?;
    catch(path, || {
        open_file(path).map_err(|e| {
            IoError::format(
                path,
                format!("not a readable DICOM file: {}", error_chain(&e)),
            )
        })
    })
}

/// Runs `f`, converting a panic inside a third-party decoder into an error
/// naming the file (a corrupt file must never crash a cohort run).
fn catch<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(IoError::format(path, "DICOM decoder failed on this file")),
    }
}

/// A string attribute, trimmed, if present.
pub fn string_attr(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().trim_end_matches('\0').to_string())
        .filter(|s| !s.is_empty())
}

fn int_attr(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> Option<u32> {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_int::<u32>().ok())
}

/// Pixel spacing in mm as [row, column], from PixelSpacing or ImagerPixelSpacing.
pub fn pixel_spacing(obj: &DefaultDicomObject) -> Option<[f64; 2]> {
    for tag in [tags::PIXEL_SPACING, tags::IMAGER_PIXEL_SPACING] {
        if let Some(v) = obj
            .element_opt(tag)
            .ok()
            .flatten()
            .and_then(|e| e.to_multi_float64().ok())
        {
            if v.len() >= 2 && v[0] > 0.0 && v[1] > 0.0 {
                return Some([v[0], v[1]]);
            }
        }
    }
    None
}

/// Header facts of a DICOM file used by `aac info`.
#[derive(Debug, Clone)]
pub struct DicomHeader {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Bits Stored.
    pub bits_stored: Option<u32>,
    /// Photometric Interpretation.
    pub photometric: Option<String>,
    /// Transfer syntax UID.
    pub transfer_syntax_uid: String,
    /// Transfer syntax name, if the registry knows it.
    pub transfer_syntax_name: Option<String>,
    /// Modality.
    pub modality: Option<String>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Pixel spacing [row, col] in mm.
    pub pixel_spacing_mm: Option<[f64; 2]>,
}

/// Reads the header facts of a DICOM file without decoding its pixels.
pub fn read_header(path: &Path) -> Result<DicomHeader> {
    let obj = open_dicom(path)?;
    let uid = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    let name = TransferSyntaxRegistry
        .get(&uid)
        .map(|ts| ts.name().to_string());
    let width = int_attr(&obj, tags::COLUMNS)
        .ok_or_else(|| IoError::format(path, "DICOM file has no Columns attribute"))?;
    let height = int_attr(&obj, tags::ROWS)
        .ok_or_else(|| IoError::format(path, "DICOM file has no Rows attribute"))?;
    Ok(DicomHeader {
        width,
        height,
        bits_stored: int_attr(&obj, tags::BITS_STORED),
        photometric: string_attr(&obj, tags::PHOTOMETRIC_INTERPRETATION),
        transfer_syntax_uid: uid,
        transfer_syntax_name: name,
        modality: string_attr(&obj, tags::MODALITY),
        manufacturer: string_attr(&obj, tags::MANUFACTURER),
        pixel_spacing_mm: pixel_spacing(&obj),
    })
}

/// Decodes the first frame of a DICOM file as the pipeline sees it: Modality LUT
/// applied, MONOCHROME1 inverted so that denser is brighter, colour converted to
/// luminance (with a warning), and values mapped linearly into 0..65535 when they
/// do not already fit.
pub fn read_dicom_gray16(path: &Path) -> Result<Gray16> {
    read_dicom_gray16_spaced(path).map(|(img, _)| img)
}

/// Like [`read_dicom_gray16`], with the pixel spacing [row, column] in mm
/// when the file states it ([`pixel_spacing`]).
pub fn read_dicom_gray16_spaced(path: &Path) -> Result<(Gray16, Option<[f64; 2]>)> {
    let obj = open_dicom(path)?;
    let img = catch(path, || decode_gray16(path, &obj))?;
    Ok((img, pixel_spacing(&obj)))
}

/// True if the transfer syntax is JPEG baseline (process 1) or extended (2/4).
fn is_jpeg_sequential(obj: &DefaultDicomObject) -> bool {
    let ts = obj.meta().transfer_syntax().trim_end_matches('\0');
    ts == "1.2.840.10008.1.2.4.50" || ts == "1.2.840.10008.1.2.4.51"
}

/// Pixel values of the first frame (Modality LUT applied, MONOCHROME1 inverted,
/// colour converted to luminance) from dicom-pixeldata's decoding.
fn decoded_values(
    path: &Path,
    obj: &DefaultDicomObject,
    decoded: &dicom_pixeldata::DecodedPixelData<'_>,
) -> std::result::Result<(u32, u32, Vec<f64>), dicom_pixeldata::Error> {
    let (w, h) = (decoded.columns(), decoded.rows());
    let n = (w as usize) * (h as usize);
    if decoded.samples_per_pixel() == 1 {
        let mut v: Vec<f64> = decoded.to_vec_frame(0)?;
        v.truncate(n);
        if decoded.photometric_interpretation().to_string() == "MONOCHROME1" {
            invert(obj, &mut v);
        }
        Ok((w, h, v))
    } else {
        tracing::warn!(
            "{}: colour DICOM ({}) converted to grayscale",
            path.display(),
            decoded.photometric_interpretation()
        );
        let img = decoded.to_dynamic_image(0)?.to_luma16();
        Ok((w, h, img.into_raw().into_iter().map(f64::from).collect()))
    }
}

/// MONOCHROME1 (higher is darker) to MONOCHROME2: each value mirrored within
/// the range the stored bits can hold (0 .. 2^BitsStored - 1, or its signed
/// counterpart), after the Modality LUT, so that the result does not depend
/// on the image's own darkest and brightest pixels. Without BitsStored the
/// observed range is used.
fn invert(obj: &DefaultDicomObject, v: &mut [f64]) {
    let sum = match int_attr(obj, tags::BITS_STORED).filter(|b| (1..=32).contains(b)) {
        Some(bits) => {
            let signed = int_attr(obj, tags::PIXEL_REPRESENTATION) == Some(1);
            let (lo, hi) = if signed {
                (
                    -(2f64.powi(bits as i32 - 1)),
                    2f64.powi(bits as i32 - 1) - 1.0,
                )
            } else {
                (0.0, 2f64.powi(bits as i32) - 1.0)
            };
            let (slope, intercept) = rescale(obj);
            2.0 * intercept + slope * (lo + hi)
        }
        None => {
            let (lo, hi) = min_max(v);
            lo + hi
        }
    };
    v.iter_mut().for_each(|x| *x = sum - *x);
}

/// Rescale Slope and Intercept (the Modality LUT), 1 and 0 when absent.
fn rescale(obj: &DefaultDicomObject) -> (f64, f64) {
    let float_attr = |tag| {
        obj.element_opt(tag)
            .ok()
            .flatten()
            .and_then(|e| e.to_float64().ok())
    };
    (
        float_attr(tags::RESCALE_SLOPE).unwrap_or(1.0),
        float_attr(tags::RESCALE_INTERCEPT).unwrap_or(0.0),
    )
}

/// Decodes the first frame of an encapsulated JPEG with [`crate::jpeg12`],
/// applying Rescale Slope/Intercept and MONOCHROME1 inversion.
fn jpeg_fallback(path: &Path, obj: &DefaultDicomObject) -> Result<(u32, u32, Vec<f64>)> {
    let bytes = encapsulated_first_frame(path, obj, "JPEG")?;
    let jpeg = crate::jpeg12::decode_jpeg_gray(&bytes)
        .map_err(|e| IoError::format(path, format!("cannot decode JPEG pixel data: {e}")))?;
    Ok((jpeg.width, jpeg.height, stored_to_values(obj, &jpeg.pixels)))
}

/// The compressed bytes of the first frame of encapsulated pixel data, for
/// the decoders aac calls itself (`codec` names the transfer syntax in the
/// error when the data is not encapsulated).
fn encapsulated_first_frame(path: &Path, obj: &DefaultDicomObject, codec: &str) -> Result<Vec<u8>> {
    let elem = obj
        .element(tags::PIXEL_DATA)
        .map_err(|_| IoError::format(path, "no pixel data"))?;
    let fragments = elem.value().fragments().ok_or_else(|| {
        IoError::format(
            path,
            format!("{codec} transfer syntax but pixel data is not encapsulated"),
        )
    })?;
    Ok(first_frame_bytes(obj, fragments))
}

/// The encapsulated bytes of the first frame. A single-frame image may be
/// split over several fragments (all of them are the frame); with several
/// frames the Basic Offset Table says where the second frame starts, and
/// without one each fragment is taken as a frame.
fn first_frame_bytes(obj: &DefaultDicomObject, fragments: &[Vec<u8>]) -> Vec<u8> {
    let frames = int_attr(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1);
    if frames <= 1 {
        return fragments.concat();
    }
    let offsets: Vec<u32> = obj
        .element(tags::PIXEL_DATA)
        .ok()
        .and_then(|e| e.value().offset_table().map(|t| t.to_vec()))
        .unwrap_or_default();
    match offsets.get(1) {
        // Offsets count from the first fragment's item tag; each item adds
        // an 8-byte header to its length.
        Some(&end) => {
            let mut out = Vec::new();
            let mut pos = 0u64;
            for f in fragments {
                if pos >= u64::from(end) {
                    break;
                }
                out.extend_from_slice(f);
                pos += 8 + f.len() as u64;
            }
            out
        }
        None => fragments.first().cloned().unwrap_or_default(),
    }
}

/// JPEG-LS lossless and near-lossless transfer syntaxes.
const JPEG_LS_UIDS: [&str; 2] = ["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"];

/// True if the transfer syntax is JPEG-LS.
fn is_jpeg_ls(obj: &DefaultDicomObject) -> bool {
    JPEG_LS_UIDS.contains(&obj.meta().transfer_syntax().trim_end_matches('\0'))
}

/// Stored sample values as the Modality LUT maps them (signed values sign
/// extended from BitsStored first), MONOCHROME1 inverted: the shared tail
/// of the decoders aac calls itself (12-bit JPEG, JPEG-LS).
fn stored_to_values(obj: &DefaultDicomObject, stored: &[u16]) -> Vec<f64> {
    let signed = int_attr(obj, tags::PIXEL_REPRESENTATION) == Some(1);
    let bits = int_attr(obj, tags::BITS_STORED)
        .filter(|b| (1..=16).contains(b))
        .unwrap_or(16);
    let (slope, intercept) = rescale(obj);
    let mut v: Vec<f64> = stored
        .iter()
        .map(|&p| {
            let raw = if signed && bits < 32 && p & (1 << (bits - 1)) != 0 {
                i64::from(p) - (1i64 << bits)
            } else {
                i64::from(p)
            };
            raw as f64 * slope + intercept
        })
        .collect();
    if string_attr(obj, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("MONOCHROME1") {
        invert(obj, &mut v);
    }
    v
}

/// Decodes the first frame of encapsulated JPEG-LS pixel data (single
/// component, lossless or near-lossless) with `pure_jpegls`.
fn jpeg_ls_values(path: &Path, obj: &DefaultDicomObject) -> Result<(u32, u32, Vec<f64>)> {
    let (Some(w), Some(h)) = (int_attr(obj, tags::COLUMNS), int_attr(obj, tags::ROWS)) else {
        return Err(IoError::format(
            path,
            "JPEG-LS image without Rows or Columns",
        ));
    };
    let bytes = encapsulated_first_frame(path, obj, "JPEG-LS")?;
    let (pixels, w, h) = jpegls::decode(&bytes, w, h)
        .map_err(|e| IoError::format(path, format!("cannot decode JPEG-LS pixel data: {e}")))?;
    Ok((w, h, stored_to_values(obj, &pixels)))
}

fn decode_gray16(path: &Path, obj: &DefaultDicomObject) -> Result<Gray16> {
    if let (Some(w), Some(h)) = (int_attr(obj, tags::COLUMNS), int_attr(obj, tags::ROWS)) {
        crate::image_io::check_image_size(path, u64::from(w), u64::from(h))?;
    }
    let frames = int_attr(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1);
    if frames > 1 {
        tracing::warn!("{}: {frames} frames, using the first", path.display());
    }
    let (w, h, values) = if is_jpeg_ls(obj) {
        jpeg_ls_values(path, obj)?
    } else {
        decode_with_pixeldata(path, obj)?
    };
    gray16_from_values(path, w, h, values)
}

/// The first frame through dicom-pixeldata, with our 12-bit JPEG decoder
/// where its JPEG decoder refuses the data.
fn decode_with_pixeldata(path: &Path, obj: &DefaultDicomObject) -> Result<(u32, u32, Vec<f64>)> {
    let bad = |e: dicom_pixeldata::Error| {
        IoError::format(
            path,
            format!("cannot decode pixel data: {}", error_chain(&e)),
        )
    };
    Ok(match obj.decode_pixel_data_frame(0) {
        Ok(decoded) => decoded_values(path, obj, &decoded).map_err(bad)?,
        Err(e) if is_jpeg_sequential(obj) => {
            // jpeg-decoder refuses 12-bit JPEG (process 2/4): use our own decoder.
            tracing::debug!(
                "{}: falling back to the 12-bit JPEG decoder ({e})",
                path.display()
            );
            jpeg_fallback(path, obj)?
        }
        Err(e) => return Err(bad(e)),
    })
}

/// Values of a w x h frame as a 16-bit image: kept as they are when they are
/// whole numbers in 0..=65535, else stretched over the full range.
fn gray16_from_values(path: &Path, w: u32, h: u32, values: Vec<f64>) -> Result<Gray16> {
    if w == 0 || h == 0 {
        return Err(IoError::format(
            path,
            "DICOM image has zero rows or columns",
        ));
    }
    let (lo, hi) = min_max(&values);
    let fits = lo >= 0.0 && hi <= 65535.0 && values.iter().all(|v| v.fract() == 0.0);
    let data: Vec<u16> = if fits {
        values.iter().map(|&v| v as u16).collect()
    } else {
        let span = (hi - lo).max(f64::MIN_POSITIVE);
        values
            .iter()
            .map(|&v| (((v - lo) / span) * 65535.0).round().clamp(0.0, 65535.0) as u16)
            .collect()
    };
    Gray16::from_raw(w, h, data)
        .ok_or_else(|| IoError::format(path, "pixel data does not match Rows x Columns"))
}

/// Formats an error with its chain of causes ("a: b: c").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// Attributes written into a synthetic DICOM file.
#[derive(Debug, Clone)]
pub struct DicomWriteInfo {
    /// Pixel spacing [row, col] in mm.
    pub pixel_spacing_mm: [f64; 2],
    /// Manufacturer string.
    pub manufacturer: String,
    /// Bits stored (e.g. 12).
    pub bits_stored: u16,
    /// Patient/instance identifier used to build UIDs.
    pub id: String,
}

/// Writes a 16-bit MONOCHROME2 DX image (explicit VR little endian) atomically.
pub fn write_dicom_gray16(path: &Path, img: &Gray16, info: &DicomWriteInfo) -> Result<()> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::uids;
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

    let uid_suffix: String = info
        .id
        .bytes()
        .map(|b| (b % 10).to_string())
        .collect::<String>()
        .chars()
        .take(24)
        .collect();
    let instance_uid = format!(
        "1.2.826.0.1.3680043.10.1234.{}",
        uid_suffix.trim_start_matches('0').max("1")
    );
    let mut obj = InMemDicomObject::new_empty();
    let put_str = |obj: &mut InMemDicomObject, tag, vr, s: &str| {
        obj.put(DataElement::new(tag, vr, PrimitiveValue::from(s)));
    };
    put_str(
        &mut obj,
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    );
    put_str(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, &instance_uid);
    put_str(&mut obj, tags::MODALITY, VR::CS, "DX");
    put_str(&mut obj, tags::MANUFACTURER, VR::LO, &info.manufacturer);
    put_str(&mut obj, tags::PATIENT_ID, VR::LO, &info.id);
    put_str(
        &mut obj,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    );
    put_str(
        &mut obj,
        tags::PIXEL_SPACING,
        VR::DS,
        &format!(
            "{:.6}\\{:.6}",
            info.pixel_spacing_mm[0], info.pixel_spacing_mm[1]
        ),
    );
    let put_us = |obj: &mut InMemDicomObject, tag, v: u16| {
        obj.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
    };
    put_us(&mut obj, tags::SAMPLES_PER_PIXEL, 1);
    put_us(&mut obj, tags::ROWS, img.height() as u16);
    put_us(&mut obj, tags::COLUMNS, img.width() as u16);
    put_us(&mut obj, tags::BITS_ALLOCATED, 16);
    put_us(&mut obj, tags::BITS_STORED, info.bits_stored);
    put_us(&mut obj, tags::HIGH_BIT, info.bits_stored - 1);
    put_us(&mut obj, tags::PIXEL_REPRESENTATION, 0);
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(img.as_raw().iter().copied().collect()),
    ));
    let file = obj
        .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
        .map_err(|e| IoError::format(path, format!("cannot build DICOM meta: {e}")))?;
    let mut bytes = Vec::new();
    file.write_all(&mut bytes)
        .map_err(|e| IoError::format(path, format!("cannot encode DICOM: {e}")))?;
    crate::atomic::write_bytes_atomic(path, &bytes)
}
