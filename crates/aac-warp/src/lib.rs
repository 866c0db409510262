//! The L1-L4 region of interest and its warp to the fixed 128x256 space of
//! docs/data-format.md (disc levels at rows 0, 64, 128, 192, 256; spine on the
//! left, anterior toward larger x), plus the training augmentation.

pub mod augment;
pub mod landmark_check;
pub mod mesh;
pub mod roi;
pub mod warp_image;

pub use landmark_check::{check_landmarks_against_image, LandmarkImageAgreement};
pub use mesh::{to_source, to_warped, unwarp_labels, Jitter, WarpMap};
pub use roi::{Roi, RoiError};
pub use warp_image::{prepare_roi, row_lengths_mm, AortaSource, PreparedRoi, MIN_FRACTION_INSIDE};

/// Errors of the warp stage.
#[derive(Debug, thiserror::Error)]
pub enum WarpError {
    /// ROI problem.
    #[error(transparent)]
    Roi(#[from] RoiError),
    /// Shape-model problem.
    #[error(transparent)]
    Shape(#[from] aac_shape::ShapeError),
    /// File problem.
    #[error(transparent)]
    Io(#[from] aac_io::IoError),
}
