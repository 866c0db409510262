//! Where a review keeps what it derives from a reader's decisions: the
//! points file a rescoring reads and the overlay it draws. Neither is the
//! record: the moved points are read back from the decision file's
//! `points` column; a lost overlay shows `predict`'s instead.

use std::path::{Path, PathBuf};

/// The spine points a reader's level move gave a scan.
pub fn moved_points(out: &Path, reader: &str, id: &str) -> PathBuf {
    crate::decisions::review_dir(out)
        .join("points")
        .join(reader)
        .join(format!("{id}.pts"))
}

/// The overlay of a scan scored again for a reader.
pub fn reader_overlay(out: &Path, reader: &str, id: &str) -> PathBuf {
    crate::decisions::review_dir(out)
        .join("overlays")
        .join(reader)
        .join(format!("{id}.jpg"))
}
