//! Automatic spine landmarks: the 20 spine points of the landmark contract
//! (docs/data-format.md) found in a raw scan, with a confidence.
//!
//! Two heatmap U-nets (the segmentation network of `aac-unet` with one output
//! channel per point), as in cascaded heatmap landmark detectors:
//! 1. **coarse**: the whole scan letterboxed into 128x256 (about 2 mm per
//!    pixel) names the levels from context (the last ribs above L1, the
//!    sacrum and iliac crest below L5) and places every point roughly;
//! 2. **fine**: a 128x256 window aligned with the coarse spine (axis down,
//!    anterior to the right, about 0.85 mm per pixel) places each point
//!    precisely.
//!
//! Each point is the probability-weighted centroid around its heatmap's peak.
//! The confidence combines the fine peaks' heights with how unambiguous the
//! coarse peaks are (a second, distant peak in a channel means the level may
//! be named wrongly), so a scan whose levels are in doubt is flagged rather
//! than silently scored.

pub mod error;
pub mod finder;
pub mod frame;
pub mod heatmap;
pub mod train;

pub use error::LandmarkError;
pub use finder::{Finder, Found, UNCERTAIN_FLAG};
pub use train::{train_finder, Annotated, FinderTraining};

/// Number of points the finder places (the 20 spine points).
pub const N_POINTS: usize = aac_io::N_SPINE;
/// Input width of both networks: the segmentation ROI's, so the finder runs
/// through the same U-net kernels.
pub const INPUT_WIDTH: usize = aac_io::ROI_WIDTH as usize;
/// Input height of both networks.
pub const INPUT_HEIGHT: usize = aac_io::ROI_HEIGHT as usize;
