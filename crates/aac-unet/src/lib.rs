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

/// Seeds the device's random generator and runs `f`, which draws from it
/// (a network's initial weights), with no other seeded draw in between. The
/// generator is one per process, so two trainings at once (tests, a
/// server) would otherwise interleave their draws and neither would be
/// reproducible.
pub fn with_seed<T>(dev: &burn::prelude::Device, seed: u64, f: impl FnOnce() -> T) -> T {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    dev.seed(seed);
    f()
}

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
