//! Errors of the landmark finder.

/// What [`LandmarkError::LooksInverted`] says of the scan (one home for
/// the words that summaries count).
pub const LOOKS_INVERTED: &str = "the scan looks stored inverted (bone dark)";

/// Why points could not be found or a finder could not be trained or read.
#[derive(Debug, thiserror::Error)]
pub enum LandmarkError {
    /// No spine-like structure in the image: every heatmap is flat.
    #[error("no spine found in the image (the landmark finder's strongest response is {0:.3})")]
    NoSpine(f32),
    /// The best points found cannot be four vertebral bodies (a body's
    /// corners came from two levels, or the points break the dataset
    /// contract: bodies out of order, corners collapsed): no score can be
    /// read from them.
    #[error("no usable L1-L4 found: {0}; place the points by hand (--landmarks)")]
    NotVertebrae(String),
    /// No usable points, but the image's negative shows four regular
    /// bodies: the scan looks stored inverted (bone dark).
    #[error("{why}; the image's negative shows four regular bodies (confidence {confidence:.2}): {LOOKS_INVERTED}: write it bone-bright with `aac convert IN OUT.png --invert` and run again")]
    LooksInverted {
        /// Why the image itself gave no usable points.
        why: String,
        /// The finder's confidence on the negative.
        confidence: f64,
    },
    /// Every pixel of the image has the same value.
    #[error("no spine found in the image: every pixel has the value {0}")]
    Blank(f32),
    /// The image is empty or too small.
    #[error("image of {0}x{1} pixels is too small to find a spine in")]
    TooSmall(usize, usize),
    /// A broken finder inside a bundle.
    #[error("landmark finder: {0}")]
    Model(String),
    /// Training could not start.
    #[error("landmark finder training: {0}")]
    Training(String),
}
