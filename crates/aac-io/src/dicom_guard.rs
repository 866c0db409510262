//! A guard run before dicom-rs parses a file: every element length the file
//! declares must fit in the file. dicom-rs reserves and zero-fills a value's
//! declared length before reading it, so a corrupt or hostile length field
//! (e.g. pixel data claiming 4 GB in a 1 MB file) would otherwise cost that
//! much memory before the read fails.

use crate::error::{IoError, Result};
use dicom_dictionary_std::tags;
use dicom_object::meta::FileMetaTable;
use dicom_parser::dataset::{DataSetReader, DataToken};
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Length of the DICOM preamble before the `DICM` magic code.
const PREAMBLE_LEN: usize = 128;

/// Deflated Explicit VR Little Endian: the data set after the file meta
/// group is one raw deflate stream.
const DEFLATED_UID: &str = "1.2.840.10008.1.2.1.99";
/// Explicit VR Little Endian, the encoding of a deflated data set once
/// inflated.
const EXPLICIT_LE_UID: &str = "1.2.840.10008.1.2.1";
/// The most a deflated data set may inflate to (1 GiB): far above any
/// image aac reads ([`crate::image_io::MAX_IMAGE_PIXELS`] 16-bit pixels are
/// 80 MB), and a bound on a deflate bomb.
const MAX_INFLATED_BYTES: u64 = 1 << 30;

/// Refuses `path` when one of its elements declares more bytes than the file
/// holds (for a deflated data set: more than it inflates to). Files this
/// scan cannot follow (no preamble, an unknown transfer syntax, a parse
/// error) are left to dicom-rs, whose error is the
/// better one; the scan stops at the pixel data, which ends the data set.
pub fn check_declared_lengths(path: &Path) -> Result<()> {
    let file_len = std::fs::metadata(path)
        .map_err(|e| IoError::os(path, e))?
        .len();
    let mut reader = BufReader::new(File::open(path).map_err(|e| IoError::os(path, e))?);
    let mut preamble = [0u8; PREAMBLE_LEN];
    if reader.read_exact(&mut preamble).is_err() {
        return Ok(());
    }
    let Ok(meta) = FileMetaTable::from_reader(&mut reader) else {
        return Ok(());
    };
    let uid = meta.transfer_syntax().trim_end_matches('\0');
    if uid == DEFLATED_UID {
        // Lengths are of the inflated data set: bound them by its size,
        // measured by inflating once without keeping it.
        let meta_end =
            std::io::Seek::stream_position(&mut reader).map_err(|e| IoError::os(path, e))?;
        let inflated = {
            let mut d = flate2::read::DeflateDecoder::new(&mut reader).take(MAX_INFLATED_BYTES + 1);
            std::io::copy(&mut d, &mut std::io::sink()).unwrap_or(0)
        };
        if inflated > MAX_INFLATED_BYTES {
            return Err(IoError::format(
                path,
                format!("the deflated data set inflates to more than {MAX_INFLATED_BYTES} bytes"),
            ));
        }
        let mut reader = BufReader::new(File::open(path).map_err(|e| IoError::os(path, e))?);
        std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(meta_end))
            .map_err(|e| IoError::os(path, e))?;
        let inflater = flate2::read::DeflateDecoder::new(reader);
        return scan_lengths(
            path,
            inflater,
            EXPLICIT_LE_UID,
            inflated,
            "inflated data set",
        );
    }
    scan_lengths(path, reader, uid, file_len, "file")
}

/// Refuses the first element, sequence or item of the data set in `reader`
/// (encoded as transfer syntax `uid`) that declares more than `bound` bytes.
fn scan_lengths(
    path: &Path,
    reader: impl Read,
    uid: &str,
    bound: u64,
    bound_name: &str,
) -> Result<()> {
    let Some(ts) = TransferSyntaxRegistry.get(uid) else {
        return Ok(());
    };
    let Ok(tokens) = DataSetReader::new_with_ts(reader, ts) else {
        return Ok(());
    };
    for token in tokens {
        let Ok(token) = token else {
            return Ok(());
        };
        let (what, declared) = match &token {
            DataToken::ElementHeader(h) => (format!("element {}", h.tag), h.len),
            DataToken::SequenceStart { tag, len } => (format!("sequence {tag}"), *len),
            DataToken::ItemStart { len } => ("an item".to_string(), *len),
            _ => continue,
        };
        if let Some(n) = declared.get() {
            if u64::from(n) > bound {
                return Err(IoError::format(
                    path,
                    format!(
                        "{what} declares {n} bytes but the whole {bound_name} has {bound}: \
                         the file is corrupt or truncated"
                    ),
                ));
            }
        }
        if matches!(&token, DataToken::ElementHeader(h) if h.tag == tags::PIXEL_DATA) {
            return Ok(());
        }
    }
    Ok(())
}
