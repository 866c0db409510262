//! Training one segmentation model on its own (`aac train rf`, `aac train
//! unet`); `aac train bundle` is [`crate::bundle::train_bundle`].

use crate::dataset_util::load_raw_cases;
use crate::dataset_util::split_ids;
use crate::progress::bar;
use crate::seg::{export_features, load_rois};
use crate::unet_training::{train_unet_with_progress, unet_config, write_loss_curves};
use aac_io::Dataset;
use aac_rf::{choose_threshold, RfModel, TrainParams};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::time::Instant;

/// Settings of [`train_rf`].
#[derive(Debug, Clone)]
pub struct RfTrainConfig {
    /// Warped dataset (128x256 images and masks).
    pub data: PathBuf,
    /// Output model file.
    pub out: PathBuf,
    /// Training patches (half calcified, half not).
    pub patches: usize,
    /// Trees.
    pub trees: usize,
    /// Random scale/rotation transforms per patch.
    pub transforms: usize,
    /// Haar features.
    pub features: usize,
    /// Classes: 1 (calcified) or 2 (anterior/posterior wall).
    pub classes: usize,
    /// Fraction of images held out to choose the threshold.
    pub val_fraction: f64,
    /// Seed.
    pub seed: u64,
    /// Also write the training feature matrix here, for the benchmark.
    pub export_features: Option<PathBuf>,
}

/// What [`train_rf`] made.
#[derive(Debug)]
pub struct RfTrained {
    /// The saved model.
    pub model: RfModel,
    /// Training images.
    pub n_train: usize,
    /// Validation images (threshold choice).
    pub n_val: usize,
    /// Training samples (patches x transforms).
    pub samples: usize,
    /// Seconds taken.
    pub seconds: f64,
}

/// Trains the Haar random forest on a warped dataset, chooses its threshold on
/// the held-out images and saves it.
pub fn train_rf(a: &RfTrainConfig) -> Result<RfTrained> {
    let ds = Dataset::open(&a.data)?;
    let (train_ids, val_ids) = split_ids(&ds.ids(), a.val_fraction);
    let t0 = Instant::now();
    let train = load_rois(&ds, &train_ids, Some("masks"))?;
    let val = load_rois(&ds, &val_ids, Some("masks"))?;
    let mut p = TrainParams {
        patches: a.patches,
        transforms: a.transforms,
        features: a.features,
        classes: a.classes,
        ..Default::default()
    };
    p.forest.trees = a.trees.max(1);
    p.forest.seed = a.seed;
    let pb = bar(3, "train rf");
    pb.set_message("features");
    if let Some(dir) = &a.export_features {
        export_features(dir, &train, &p)?;
    }
    pb.set_message("forest");
    pb.inc(1);
    let mut model = RfModel::train(&train, &p).with_context(|| a.data.display().to_string())?;
    pb.set_message("threshold");
    pb.inc(1);
    if !val.is_empty() {
        model.threshold = choose_threshold(&model, &val);
    }
    pb.finish_and_clear();
    model.save(&a.out)?;
    Ok(RfTrained {
        model,
        n_train: train.len(),
        n_val: val.len(),
        samples: p.patches * p.transforms,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// Settings of [`train_unet`].
#[derive(Debug, Clone)]
pub struct UnetTrainConfig {
    /// Raw annotated dataset (images, 30-point landmarks, masks).
    pub data: PathBuf,
    /// Shape model (`aac ssm fit`).
    pub ssm: PathBuf,
    /// Output classes: 1 (calcified) or 2 (anterior/posterior wall).
    pub classes: usize,
    /// Output model file; the checkpoint goes to OUT.ckpt and the loss
    /// curves to OUT.loss.csv / OUT.loss.png.
    pub out: PathBuf,
    /// U-net training; saved to OUT.training.json.
    pub unet: crate::unet_training::UnetTraining,
    /// Fraction of images held out for validation (threshold, best epoch).
    pub val_fraction: f64,
    /// Seed.
    pub seed: u64,
    /// Resume from OUT.ckpt if it exists.
    pub resume: bool,
}

/// What [`train_unet`] made.
pub struct UnetTrained {
    /// The training outcome (header of the kept epoch, logs).
    pub trained: aac_unet::train::Trained,
    /// Training images.
    pub n_train: usize,
    /// Seconds taken.
    pub seconds: f64,
}

/// Trains a U-net on a raw annotated dataset (warping on the fly), keeps the
/// best epoch on the validation split and writes the model and its loss
/// curves.
pub fn train_unet(a: &UnetTrainConfig) -> Result<UnetTrained> {
    a.unet.check()?;
    let ssm = aac_shape::ShapeModel::load(&a.ssm)?;
    let ds = Dataset::open(&a.data)?;
    let (train_ids, val_ids) = split_ids(&ds.ids(), a.val_fraction);
    let train = load_raw_cases(&ds, &train_ids, "masks")?;
    let val = load_raw_cases(&ds, &val_ids, "masks")?;
    let mut cfg = unet_config(a.classes, &a.unet, a.seed);
    cfg.checkpoint = Some(a.out.with_extension("ckpt"));
    cfg.resume = a.resume;
    let t0 = Instant::now();
    let trained = train_unet_with_progress(&cfg, &train, &val, &ssm, "unet")?;
    aac_io::write_bytes_atomic(&a.out, &trained.model)?;
    aac_io::write_string_atomic(&a.out.with_extension("training.json"), &a.unet.to_string())?;
    write_loss_curves(
        &trained.logs,
        &a.out.with_extension("loss.csv"),
        &a.out.with_extension("loss.png"),
        "U-net loss",
    )?;
    Ok(UnetTrained {
        trained,
        n_train: train.len(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}
