//! U-net training settings and the training run shared by `aac eval`, `aac
//! train unet` and `aac train bundle`: the settings (saved with every
//! model), the network they make, progress per epoch and loss curves.

use crate::progress::bar;
use anyhow::{bail, Result};
use std::path::Path;

/// The U-net training settings shared by `aac eval`, `aac train unet` and
/// `aac train bundle`, with the one set of defaults in [`crate::defaults`].
/// A burn `Config`: saved beside every trained model (`OUT.training.json`
/// for `train unet`, in the bundle's header, in an eval report's
/// `unet_training.json`), so a model says how it was made.
#[derive(burn::config::Config, Debug, PartialEq)]
pub struct UnetTraining {
    /// Filters at the first level, doubling per level.
    #[config(default = "crate::defaults::UNET_WIDTH")]
    pub width: usize,
    /// Epochs.
    #[config(default = "crate::defaults::EPOCHS")]
    pub epochs: usize,
    /// Augmented warps per training image per epoch.
    #[config(default = "crate::defaults::AUGMENT")]
    pub augment: usize,
    /// Adam learning rate of the first epoch (cosine decay to 5%).
    #[config(default = "crate::defaults::LR")]
    pub lr: f64,
    /// Batch size.
    #[config(default = "crate::defaults::BATCH")]
    pub batch: usize,
    /// Photometric augmentation (gamma, contrast, noise, blur, streaks).
    #[config(default = true)]
    pub photometric: bool,
    /// Weight of the soft Dice term added to the cross-entropy loss.
    #[config(default = "crate::defaults::DICE_WEIGHT")]
    pub dice_weight: f64,
    /// The kept network is the mean of the last this many epochs' weights
    /// (0 or 1: the best single epoch on validation; absent, read as None,
    /// in records written before averaging existed, which kept the best
    /// epoch).
    #[config(default = "Some(crate::defaults::AVERAGE_EPOCHS)")]
    pub average_epochs: Option<usize>,
}

impl UnetTraining {
    /// Refuses values no training can run with.
    pub fn check(&self) -> Result<()> {
        if self.width == 0 || self.epochs == 0 || self.augment == 0 || self.batch == 0 {
            bail!("--unet-width, --epochs, --augment and --batch must be at least 1");
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("--lr must be a positive number");
        }
        if !(self.dice_weight >= 0.0 && self.dice_weight.is_finite()) {
            bail!("the soft Dice weight must be 0 or more");
        }
        Ok(())
    }
}

/// The network and trainer settings of a `classes`-class U-net trained with
/// `t` and `seed`.
pub fn unet_config(classes: usize, t: &UnetTraining, seed: u64) -> aac_unet::train::TrainConfig {
    aac_unet::train::TrainConfig {
        net: aac_unet::UNetConfig {
            classes,
            width: t.width,
            depth: crate::defaults::UNET_DEPTH,
            dropout: crate::defaults::UNET_DROPOUT,
            prior: crate::defaults::UNET_PRIOR,
            coords: true,
            rows: false,
        },
        epochs: t.epochs,
        augment: t.augment,
        batch: t.batch,
        lr: t.lr,
        seed,
        geometric: aac_warp::augment::AugmentParams::default(),
        photometric: t
            .photometric
            .then(aac_unet::photometric::Photometric::default),
        checkpoint: None,
        resume: false,
        dice_weight: t.dice_weight,
        average_last: t.average_epochs.unwrap_or(0),
        init: None,
        threshold: None,
        stop_after: None,
    }
}

/// Trains a U-net with a progress bar per epoch; returns the trained result.
pub fn train_unet_with_progress(
    cfg: &aac_unet::train::TrainConfig,
    train: &[aac_unet::train::RawCase],
    val: &[aac_unet::train::RawCase],
    ssm: &aac_shape::ShapeModel,
    label: &str,
) -> Result<aac_unet::train::Trained> {
    use aac_unet::train::Progress;
    let mut pb: Option<indicatif::ProgressBar> = None;
    let mut clock = crate::progress::EpochClock::new(cfg.epochs);
    let result = aac_unet::train::train(cfg, train, val, ssm, &mut |p| match p {
        Progress::EpochStart { epoch, steps } => {
            let b = bar(steps as u64, &format!("{label} ep {epoch}"));
            pb = Some(b);
        }
        Progress::Step { loss, images_per_s } => {
            if let Some(b) = &pb {
                b.set_message(format!("{label} loss {loss:.4} {images_per_s:.1} img/s"));
                b.inc(1);
            }
        }
        Progress::EpochEnd(log) => {
            if let Some(b) = pb.take() {
                b.finish_and_clear();
            }
            tracing::info!(
                "{label} epoch {}/{}: train loss {:.4}, {}, {:.0} s, {:.1} img/s, {}",
                log.epoch,
                cfg.epochs,
                log.train_loss,
                validation_summary(&log),
                log.seconds,
                log.images_per_s,
                clock.epoch_done(log.epoch)
            );
        }
        Progress::Averaged { first, log } => {
            tracing::info!(
                "{label} mean of epochs {first}-{} (kept): {}",
                log.epoch,
                validation_summary(&log)
            );
        }
    });
    Ok(result?)
}

/// An epoch's validation figures as the training log shows them.
fn validation_summary(log: &aac_unet::train::EpochLog) -> String {
    let per_class = match log.val_dice_per_class[..] {
        [a, p] => format!(", anterior {a:.3}, posterior {p:.3}"),
        _ => String::new(),
    };
    let kappa = log
        .val_subscore_kappa
        .map(|k| format!(", sub-score kappa {k:.3}"))
        .unwrap_or_default();
    let walls = log
        .val_wall_bias
        .map(|[a, p]| {
            format!(
                ", wall totals anterior {:+.0}% posterior {:+.0}%",
                100.0 * a,
                100.0 * p
            )
        })
        .unwrap_or_default();
    let scans = log
        .val_wall_error
        .map(|e| format!(", per-scan wall error {:.0}%", 100.0 * e))
        .unwrap_or_default();
    format!(
        "val loss {:.4}, val Dice {:.3}{per_class}{kappa}{walls}{scans}, selection {:.3} (threshold {:.1})",
        log.val_loss, log.val_dice, log.val_score, log.threshold
    )
}

/// Writes loss curves as CSV and PNG.
pub fn write_loss_curves(
    logs: &[aac_unet::train::EpochLog],
    csv_path: &Path,
    png_path: &Path,
    title: &str,
) -> Result<()> {
    let mut csv =
        String::from("epoch,train_loss,val_loss,val_dice,val_subscore_kappa,val_anterior_total_error,val_posterior_total_error,val_wall_error,val_score,threshold,seconds,images_per_s\n");
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
    for l in logs {
        csv.push_str(&format!(
            "{},{:.6},{:.6},{:.4},{},{},{},{},{:.4},{:.2},{:.1},{:.2}\n",
            l.epoch,
            l.train_loss,
            l.val_loss,
            l.val_dice,
            opt(l.val_subscore_kappa),
            opt(l.val_wall_bias.map(|b| b[0])),
            opt(l.val_wall_bias.map(|b| b[1])),
            opt(l.val_wall_error),
            l.val_score,
            l.threshold,
            l.seconds,
            l.images_per_s
        ));
    }
    aac_io::write_string_atomic(csv_path, &csv)?;
    use aac_io::draw::{line_chart, Series};
    let s = [
        Series {
            label: "train loss",
            points: logs
                .iter()
                .map(|l| (l.epoch as f64, l.train_loss))
                .collect(),
            colour: image::Rgb([30, 90, 220]),
        },
        Series {
            label: "val loss",
            points: logs.iter().map(|l| (l.epoch as f64, l.val_loss)).collect(),
            colour: image::Rgb([220, 40, 40]),
        },
    ];
    aac_io::write_rgb_png(png_path, &line_chart(title, "epoch", &s, 480, 300))?;
    Ok(())
}

#[cfg(test)]
mod training_settings_tests {
    use super::*;
    use burn::config::Config;

    #[test]
    fn defaults_come_from_the_defaults_module_and_round_trip() {
        let t = UnetTraining::new();
        assert_eq!(t.width, crate::defaults::UNET_WIDTH);
        assert_eq!(t.epochs, crate::defaults::EPOCHS);
        assert_eq!(t.lr, crate::defaults::LR);
        assert!(t.photometric);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.training.json");
        let custom = t.with_width(16).with_photometric(false);
        custom.save(&p).unwrap();
        assert_eq!(UnetTraining::load(&p).unwrap(), custom);
        let cfg = unet_config(2, &custom, 7);
        assert_eq!((cfg.net.width, cfg.seed), (16, 7));
        assert!(cfg.photometric.is_none());
    }

    #[test]
    fn settings_no_training_can_run_with_are_refused() {
        assert!(UnetTraining::new().check().is_ok());
        assert!(UnetTraining::new().with_batch(0).check().is_err());
        assert!(UnetTraining::new().with_lr(f64::NAN).check().is_err());
        assert!(UnetTraining::new().with_dice_weight(-1.0).check().is_err());
    }
}
