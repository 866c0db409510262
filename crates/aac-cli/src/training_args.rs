//! The U-net training flags shared by `aac eval`, `aac train unet` and
//! `aac train bundle`, with the one set of defaults in
//! [`aac_pipeline::defaults`], mapped onto
//! [`aac_pipeline::unet_training::UnetTraining`].

use aac_pipeline::defaults as d;
use aac_pipeline::unet_training::UnetTraining;
use anyhow::Result;
use clap::Args;

/// U-net training flags.
#[derive(Args, Debug, Clone)]
pub struct UnetTrainingArgs {
    /// U-net width: filters at the first level, doubling per level (the
    /// paper: 64, meant for a GPU).
    #[arg(long = "unet-width", alias = "width", default_value_t = d::UNET_WIDTH)]
    pub unet_width: usize,
    /// Epochs [default: 24 (x 1 warp: 15-21 minutes on 2 cores for
    /// 1,000 images); 8 when fine-tuning with `train bundle --init`].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// A minutes-long run for trying things out (3 U-net epochs; a bundle's
    /// landmark finder 2 + 6); not converged, not for scoring a cohort.
    #[arg(long, conflicts_with = "epochs")]
    pub quick: bool,
    /// Augmented warps per training image per epoch (the paper: 30).
    #[arg(long, default_value_t = d::AUGMENT)]
    pub augment: usize,
    /// Learning rate of the first epoch, decaying by a cosine to 5% by the
    /// last [default: 0.002; 0.0005 when fine-tuning].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Batch size.
    #[arg(long, default_value_t = d::BATCH)]
    pub batch: usize,
    /// Weight of a soft Dice term added to the cross-entropy loss (0: none;
    /// 1 measured no better on held-out styles, docs/segmentation.md).
    #[arg(long, default_value_t = d::DICE_WEIGHT)]
    pub dice_weight: f64,
    /// Turn off the photometric augmentation (the paper's setting).
    #[arg(long)]
    pub no_photometric: bool,
    /// Keep the mean of the last this many epochs' weights (checkpoint
    /// averaging; 1: the best single epoch on validation).
    #[arg(long, default_value_t = d::AVERAGE_EPOCHS)]
    pub average_epochs: usize,
}

impl UnetTrainingArgs {
    /// The settings these flags ask for; refuses values no training can run
    /// with.
    pub fn settings(&self) -> Result<UnetTraining> {
        self.settings_for(false)
    }

    /// The settings, with the fine-tuning schedule's defaults when
    /// `fine_tune` ([`d::FINETUNE_EPOCHS`], [`d::FINETUNE_LR`]).
    pub fn settings_for(&self, fine_tune: bool) -> Result<UnetTraining> {
        let (epochs, lr) = if fine_tune {
            (d::FINETUNE_EPOCHS, d::FINETUNE_LR)
        } else {
            (d::EPOCHS, d::LR)
        };
        let t = UnetTraining::new()
            .with_width(self.unet_width)
            .with_epochs(if self.quick {
                d::QUICK_EPOCHS
            } else {
                self.epochs.unwrap_or(epochs)
            })
            .with_augment(self.augment)
            .with_lr(self.lr.unwrap_or(lr))
            .with_batch(self.batch)
            .with_dice_weight(self.dice_weight)
            .with_average_epochs(Some(self.average_epochs))
            .with_photometric(!self.no_photometric);
        t.check()?;
        Ok(t)
    }
}
