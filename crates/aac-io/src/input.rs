//! Reading inputs safely: only regular files are opened (a FIFO or device
//! among the inputs would block or never end), and files read whole are
//! refused above a size cap before anything is allocated.

use crate::error::{IoError, Result};
use std::io::Read;
use std::path::Path;

/// The largest `.pts` file read, in bytes (30 points take under 1 kB).
pub const MAX_POINTS_BYTES: u64 = 1 << 20;
/// The largest table read whole (score tables, `scores.csv`, `landmarks.csv`,
/// provenance), in bytes: a 50,000-row `scores.csv` takes about 15 MB.
pub const MAX_TABLE_BYTES: u64 = 512 << 20;
/// The largest model file read (bundles, U-net, forest and shape models),
/// in bytes: today's bundles take a few MB.
pub const MAX_MODEL_BYTES: u64 = 2 << 30;
/// The largest small JSON or text file read whole (headers, run records,
/// ground-truth lists), in bytes.
pub const MAX_SMALL_TEXT_BYTES: u64 = 64 << 20;

/// Checks that `path` names a regular file (links followed) and returns its
/// size: a missing file, a directory, a FIFO or a device is an error naming it.
pub fn regular_file(path: &Path) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => IoError::format(path, "file does not exist"),
        _ => IoError::os(path, e),
    })?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        return Err(IoError::format(path, format!("is {what}; expected a file")));
    }
    Ok(meta.len())
}

/// Reads a regular file whole, refusing it when it holds more than `cap`
/// bytes (checked on its size first and again while reading, so a file that
/// grows or lies about its size cannot exhaust memory).
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    let len = regular_file(path)?;
    let too_big = |n: u64| {
        IoError::format(
            path,
            format!("is {n} bytes, above the limit of {cap} bytes for this kind of file"),
        )
    };
    if len > cap {
        return Err(too_big(len));
    }
    let file = std::fs::File::open(path).map_err(|e| IoError::os(path, e))?;
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| IoError::os(path, e))?;
    if bytes.len() as u64 > cap {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// [`read_capped`] for UTF-8 text.
pub fn read_text_capped(path: &Path, cap: u64) -> Result<String> {
    String::from_utf8(read_capped(path, cap)?)
        .map_err(|_| IoError::format(path, "is not UTF-8 text"))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn fifos_devices_directories_and_oversized_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_capped(dir.path(), 10).unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
        let e = read_capped(Path::new("/dev/zero"), 10)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/dev/zero") && e.contains("not a regular file"),
            "{e}"
        );
        let big = dir.path().join("big.pts");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(2 << 30).unwrap(); // sparse: no disk used
        let e = read_capped(&big, MAX_POINTS_BYTES).unwrap_err().to_string();
        assert!(
            e.contains("big.pts") && e.contains("above the limit"),
            "{e}"
        );
        let small = dir.path().join("a.txt");
        std::fs::write(&small, "hello").unwrap();
        assert_eq!(read_text_capped(&small, 5).unwrap(), "hello");
        assert!(read_text_capped(&small, 4).is_err());
        let e = read_capped(&dir.path().join("none"), 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }
}
