//! The aac pipeline as a library, under the `aac` command line: model
//! bundles, segmentation by a trained model, cross-validated evaluation with
//! its report, and the helpers they share. Each entry point takes a plain
//! settings struct, so other Rust code can run what the CLI runs.

pub mod agree;
pub mod batch;
pub mod bone;
pub mod bundle;
pub mod calibrate;
pub mod dataset_util;
pub mod defaults;
pub mod demo;
pub mod eval;
pub mod flat;
pub mod landmarks;
pub mod masks;
pub mod predict;
pub mod progress;
pub mod qc;
pub mod report;
pub mod roi_labels;
pub mod run_record;
pub mod seg;
pub mod shape;
pub mod shape_plot;
pub mod synth;
pub mod table;
pub mod training;
pub mod unet_training;
