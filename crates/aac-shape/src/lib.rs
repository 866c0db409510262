//! Statistical shape model of spine + aorta (Cootes' point distribution model):
//! generalised Procrustes alignment, PCA, and conditional prediction of the
//! invisible aorta from the vertebral landmarks with an uncertainty per point.

pub mod eval;
pub mod model;
pub mod procrustes;

pub use model::{Prediction, ShapeModel};
pub use procrustes::Similarity;

/// Errors of the shape model.
#[derive(Debug, thiserror::Error)]
pub enum ShapeError {
    /// Too few training shapes.
    #[error("at least 3 training shapes are needed, {0} given")]
    TooFew(usize),
    /// Landmarks that cannot be fitted.
    #[error("degenerate landmarks: {0}")]
    Degenerate(String),
    /// Invalid input or model.
    #[error("{0}")]
    Invalid(String),
    /// A file problem.
    #[error(transparent)]
    Io(#[from] aac_io::IoError),
}
