//! Automatic spine landmarks: the 20 spine points of the landmark contract
//! (docs/data-format.md) found in a raw scan, with a confidence.
//!
//! Two heatmap U-nets (the segmentation network of `aac-unet` with one output
//! channel per point), as in cascaded heatmap landmark detectors:
//! 1. **coarse**: the whole scan letterboxed into 128x256 (about 2 mm per
//!    pixel) names the levels from context (the last ribs above L1, the
//!    sacrum and iliac crest below L5) and places every point roughly;
//! 2. **fine**: a window aligned with the coarse spine (axis down, anterior
//!    to the right), sampled on 128x256 pixels (about 0.85 mm each) or on
//!    64x128 (about 1.7 mm, four times cheaper), places each point
//!    precisely.
//!
//! A third network of the coarse kind, the sacrum-top locator
//! ([`sacrum_top`]), finds the sacrum's plateau, and a naming that puts it
//! a level off is flagged.
//!
//! Each point is the probability-weighted centroid around its heatmap's peak.
//! The confidence combines the fine peaks' heights with how unambiguous the
//! coarse peaks are (a second, distant peak in a channel means the level may
//! be named wrongly), so a scan whose levels are in doubt is flagged rather
//! than silently scored.

pub mod ensemble;
pub mod error;
pub mod finder;
pub mod frame;
pub mod heatmap;
pub mod regularity;
pub mod sacrum;
pub mod sacrum_top;
pub mod train;
pub mod view;

pub use error::LandmarkError;
pub use finder::{Finder, Found, UNCERTAIN_FLAG};
pub use train::{train_finder, train_finder_from, Annotated, FinderTraining};

/// Number of points the finder places (the 20 spine points).
pub const N_POINTS: usize = aac_io::N_SPINE;
/// Input width of the coarse network (and of the fine one at full
/// resolution): the segmentation ROI's.
pub const INPUT_WIDTH: usize = aac_io::ROI_WIDTH as usize;
/// Input height of the coarse network (and of the fine one at full
/// resolution).
pub const INPUT_HEIGHT: usize = aac_io::ROI_HEIGHT as usize;

/// The pixel grid of a network's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grid {
    /// Columns.
    pub width: usize,
    /// Rows.
    pub height: usize,
}

impl Grid {
    /// The 128 x 256 grid of the coarse network.
    pub const FULL: Grid = Grid {
        width: INPUT_WIDTH,
        height: INPUT_HEIGHT,
    };

    /// The 64 x 128 grid: the same window at half the resolution.
    pub const HALF: Grid = Grid {
        width: INPUT_WIDTH / 2,
        height: INPUT_HEIGHT / 2,
    };

    /// [`Grid::FULL`] (for serde defaults: files written before the fine
    /// grid could be chosen).
    pub fn full() -> Grid {
        Grid::FULL
    }

    /// Pixels of one plane.
    pub fn pixels(self) -> usize {
        self.width * self.height
    }

    /// This grid's pixels per pixel of the full 128 x 256 grid over the same
    /// window.
    pub fn factor(self) -> f64 {
        self.height as f64 / INPUT_HEIGHT as f64
    }

    /// The input's centre, ((W-1)/2, (H-1)/2).
    pub fn centre(self) -> aac_io::Point {
        aac_io::Point::new(
            (self.width as f64 - 1.0) / 2.0,
            (self.height as f64 - 1.0) / 2.0,
        )
    }
}
