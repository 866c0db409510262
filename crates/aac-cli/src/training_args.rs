//! The U-net training flags shared by `aac eval`, `aac train unet` and
//! `aac train bundle`, with the one set of defaults in
//! [`aac_pipeline::defaults`].

use aac_pipeline::defaults as d;
use anyhow::{bail, Result};
use clap::Args;

/// U-net training flags.
#[derive(Args, Debug, Clone)]
pub struct UnetTrainingArgs {
    /// U-net width: filters at the first level, doubling per level (the
    /// paper: 64, meant for a GPU).
    #[arg(long = "unet-width", alias = "width", default_value_t = d::UNET_WIDTH)]
    pub unet_width: usize,
    /// Epochs (8 x 1 warp: 11-21 minutes on 2 cores for 1,000 images).
    #[arg(long, default_value_t = d::EPOCHS)]
    pub epochs: usize,
    /// Augmented warps per training image per epoch (the paper: 30).
    #[arg(long, default_value_t = d::AUGMENT)]
    pub augment: usize,
    /// Learning rate of the first epoch (cosine decay to 5% by the last).
    #[arg(long, default_value_t = d::LR)]
    pub lr: f64,
}

impl UnetTrainingArgs {
    /// Refuses values no training can run with.
    pub fn check(&self) -> Result<()> {
        if self.unet_width == 0 || self.epochs == 0 || self.augment == 0 {
            bail!("--unet-width, --epochs and --augment must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("--lr must be a positive number");
        }
        Ok(())
    }
}
