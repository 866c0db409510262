//! Writing outputs so that a crash never leaves a half-written file: write to a
//! temporary name in the same directory, then rename over the target.

use crate::error::{IoError, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Creates the parent directory of `path` if needed.
pub fn ensure_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            fs::create_dir_all(parent).map_err(|e| IoError::os(parent, e))?;
        }
    }
    Ok(())
}

/// Writes `path` atomically: `fill` writes the content to a temporary file,
/// which is renamed to `path` only if `fill` succeeds.
pub fn write_atomic<F>(path: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    ensure_parent(path)?;
    let tmp = temp_name(path);
    let result = (|| {
        let file = fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(())
    })();
    match result {
        Ok(()) => fs::rename(&tmp, path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            IoError::os(path, e)
        }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(IoError::os(path, e))
        }
    }
}

/// Writes bytes to `path` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

/// Writes a UTF-8 string to `path` atomically.
pub fn write_string_atomic(path: &Path, text: &str) -> Result<()> {
    write_bytes_atomic(path, text.as_bytes())
}
