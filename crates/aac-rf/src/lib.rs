//! The paper's baseline: a random forest on Haar-like features of 21x21
//! patches, voting on every pixel of the warped ROI (Chaplin & Cootes 2019,
//! section 2.2).

pub mod forest;
pub mod haar;
pub mod model;

pub use model::{choose_threshold, RfError, RfModel, RoiCase, TrainParams};
