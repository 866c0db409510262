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

/// Refuses `path` when one of its elements declares more bytes than the file
/// holds. Files this scan cannot follow (no preamble, unknown or deflated
/// transfer syntax, a parse error) are left to dicom-rs, whose error is the
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
    let Some(ts) = TransferSyntaxRegistry.get(meta.transfer_syntax()) else {
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
            if u64::from(n) > file_len {
                return Err(IoError::format(
                    path,
                    format!(
                        "{what} declares {n} bytes but the whole file has {file_len}: \
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
