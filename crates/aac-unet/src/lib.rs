//! U-net segmentation of calcification in the warped 128x256 ROI, with burn
//! (pure-Rust `flex` CPU backend by default; `--features gpu` for WGPU,
//! `--features cuda` for CUDA too).

pub mod average;
pub mod batchnorm;
pub mod conv3x3;
pub mod dropout;
mod flex_util;
pub mod fused;
mod gemm_checked;
pub mod infer;
pub mod maxpool;
pub mod model_file;
pub mod net;
pub mod photometric;
pub mod train;
pub mod upconv;

pub use infer::{Inference, UnetModel};
pub use net::{UNet, UNetConfig};

/// The compute device: the pure-Rust `flex` CPU backend, or with the `gpu`
/// feature the first GPU burn finds (override with `BURN_DEVICE`).
pub fn device() -> burn::prelude::Device {
    #[cfg(feature = "gpu")]
    {
        burn::prelude::Device::default()
    }
    #[cfg(not(feature = "gpu"))]
    {
        burn::prelude::Device::flex()
    }
}
