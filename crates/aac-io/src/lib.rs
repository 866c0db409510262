//! Input and output for aac: raw images (PNG, TIFF, DICOM), `.pts` landmarks,
//! label masks, score tables, the dataset contract of `docs/data-format.md`
//! and its checker, and atomic writes.

pub mod atomic;
pub mod csv_cell;
pub mod dataset;
pub mod dicom;
pub mod dicom_guard;
pub mod draw;
pub mod error;
pub mod image_io;
pub mod info;
pub mod input;
pub mod jpeg12;
pub mod lock;
pub mod mask;
pub mod pts;
pub mod scores;
pub mod spacing;

pub use atomic::{check_writable, write_atomic, write_bytes_atomic, write_string_atomic};
pub use csv_cell::{guard_cell, unguard_cell};
pub use dataset::{check_dataset, Dataset, Problem};
pub use error::{IoError, Result};
pub use image_io::{
    read_image, read_image_spaced, write_png16, write_png8, write_rgb_jpeg, write_rgb_jpeg_within,
    write_rgb_png, Gray16, Gray8, Rgb8,
};
pub use input::{read_capped, read_text_capped, regular_file};
pub use lock::{OutputLock, WhenHeld};
pub use mask::{read_mask, write_mask, LABEL_ANTERIOR, LABEL_NONE, LABEL_POSTERIOR};
pub use pts::{read_pts, read_pts_n, write_pts, Point, N_AORTA, N_POINTS, N_SPINE};
pub use scores::{read_scores, ScoreTable, SUBSCORE_COLUMNS};
pub use spacing::spacing_problem;

/// Width of the warped region of interest (columns).
pub const ROI_WIDTH: u32 = 128;
/// Height of the warped region of interest (rows).
pub const ROI_HEIGHT: u32 = 256;
/// Rows per vertebra in warped space (disc levels at 0, 64, 128, 192, 256).
pub const ROWS_PER_VERTEBRA: u32 = 64;
