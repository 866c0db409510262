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
    let target = output_target(path)?;
    let path = target.as_path();
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

/// Where an output named `path` is written: a symbolic link is followed (the
/// rename replaces the file it points to, not the link); anything that exists
/// and is not a regular file (a FIFO, a device, a directory) is refused, so a
/// device given as the output is never replaced by a file.
fn output_target(path: &Path) -> Result<PathBuf> {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return Ok(path.to_path_buf());
    };
    if meta.file_type().is_symlink() {
        let resolved = match fs::read_link(path) {
            Ok(t) if t.is_absolute() => t,
            Ok(t) => path.parent().unwrap_or(Path::new("")).join(t),
            Err(e) => return Err(IoError::os(path, e)),
        };
        return match fs::metadata(&resolved) {
            Ok(m) if !m.is_file() => Err(not_regular(path)),
            _ => Ok(resolved),
        };
    }
    if meta.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(not_regular(path))
    }
}

fn not_regular(path: &Path) -> IoError {
    IoError::format(
        path,
        "exists and is not a regular file (a directory, device or pipe); choose another output path",
    )
}

/// Checks, before a long computation, that an output file can be written at
/// `path` (as [`write_atomic`] will): not a directory or device, its folder
/// creatable and writable. A probe file is created there and removed.
pub fn check_writable(path: &Path) -> Result<()> {
    let target = output_target(path)?;
    if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        if parent.exists() && !parent.is_dir() {
            return Err(IoError::format(
                path,
                format!("cannot be written: {} is not a directory", parent.display()),
            ));
        }
    }
    ensure_parent(&target)?;
    let probe = temp_name(&target);
    fs::File::create(&probe).map_err(|e| IoError::os(&target, e))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Writes bytes to `path` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

/// Writes a UTF-8 string to `path` atomically.
pub fn write_string_atomic(path: &Path, text: &str) -> Result<()> {
    write_bytes_atomic(path, text.as_bytes())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn outputs_that_cannot_be_written_are_found_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_writable(&dir.path().join("new/m.aac")).is_ok());
        let e = check_writable(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        let e = check_writable(&file.join("m.aac")).unwrap_err().to_string();
        assert!(e.contains("is not a directory"), "{e}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn symlinks_are_followed_and_special_files_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        std::fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink("real.txt", &link).unwrap();
        write_string_atomic(&link, "new").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
        let e = write_string_atomic(dir.path(), "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
        if Path::new("/dev/null").exists() {
            let e = write_string_atomic(Path::new("/dev/null"), "x")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("/dev/null") && e.contains("not a regular file"),
                "{e}"
            );
            assert!(!fs::metadata("/dev/null").unwrap().is_file());
        }
    }
}
