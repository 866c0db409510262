//! `aac train rf`, `aac train unet` and `aac segment`: flags -> settings ->
//! [`aac_pipeline::training`] and [`aac_pipeline::seg`], then printing.

use aac_pipeline::seg::{segment_dataset, SegmentConfig};
use aac_pipeline::training::{
    train_rf as run_train_rf, train_unet as run_train_unet, RfTrainConfig, UnetTrainConfig,
};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `aac train rf`.
#[derive(Args)]
pub struct TrainRfArgs {
    /// Warped dataset (128x256 images and masks).
    #[arg(long)]
    data: PathBuf,
    /// Output model file.
    #[arg(long)]
    out: PathBuf,
    /// Training patches (half calcified, half not).
    #[arg(long, default_value_t = aac_pipeline::defaults::RF_PATCHES)]
    patches: usize,
    /// Trees.
    #[arg(long, default_value_t = aac_pipeline::defaults::RF_TREES)]
    trees: usize,
    /// Random scale/rotation transforms per patch.
    #[arg(long, default_value_t = aac_pipeline::defaults::RF_TRANSFORMS)]
    transforms: usize,
    /// Haar features.
    #[arg(long, default_value_t = 200)]
    features: usize,
    /// Classes: 1 (calcified) or 2 (anterior/posterior wall).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    classes: u8,
    /// Fraction of images held out to choose the threshold.
    #[arg(long, default_value_t = aac_pipeline::defaults::VAL_FRACTION)]
    val_fraction: f64,
    /// Seed.
    #[arg(long, default_value_t = aac_pipeline::defaults::SEED)]
    seed: u64,
    /// Also write the training feature matrix (features.f32, labels.u8, shape.json) here, for the benchmark.
    #[arg(long)]
    export_features: Option<PathBuf>,
}

/// Runs `aac train rf`.
pub fn train_rf(a: TrainRfArgs) -> Result<ExitCode> {
    let r = run_train_rf(&RfTrainConfig {
        data: a.data,
        out: a.out.clone(),
        patches: a.patches,
        trees: a.trees,
        transforms: a.transforms,
        features: a.features,
        classes: usize::from(a.classes),
        val_fraction: a.val_fraction,
        seed: a.seed,
        export_features: a.export_features,
    })?;
    eprintln!(
        "trained {} trees on {} images ({} samples) in {:.1} s; threshold {:.2} (chosen on {} validation images); wrote {}",
        r.model.forest.trees.len(),
        r.n_train,
        r.samples,
        r.seconds,
        r.model.threshold,
        r.n_val,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `aac segment`.
#[derive(Args)]
pub struct SegmentArgs {
    /// Model file (`aac train rf` or `aac train unet`).
    #[arg(long)]
    model: PathBuf,
    /// Warped dataset.
    #[arg(long)]
    data: PathBuf,
    /// Output directory (prob/, masks/, images/).
    #[arg(long)]
    out: PathBuf,
    /// Probability threshold (default: the model's, chosen on validation data).
    #[arg(long)]
    threshold: Option<aac_score::Threshold>,
}

/// Runs `aac segment`.
pub fn segment(a: SegmentArgs) -> Result<ExitCode> {
    let s = segment_dataset(&SegmentConfig {
        model: a.model,
        data: a.data,
        out: a.out.clone(),
        threshold: a.threshold,
    })?;
    eprintln!(
        "segmented {} images ({} class(es), threshold {:.2}) in {:.1} s into {}",
        s.n_images,
        s.classes,
        s.threshold,
        s.seconds,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `aac train unet`.
#[derive(Args)]
pub struct TrainUnetArgs {
    /// Raw annotated dataset (images, 30-point landmarks, masks).
    #[arg(long)]
    data: PathBuf,
    /// Shape model (`aac ssm fit`).
    #[arg(long)]
    ssm: PathBuf,
    /// Output classes: 1 (calcified) or 2 (anterior/posterior wall).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    classes: u8,
    /// Output model file.
    #[arg(long)]
    out: PathBuf,
    /// U-net training.
    #[command(flatten)]
    unet: crate::training_args::UnetTrainingArgs,
    /// Fraction of images held out for validation (threshold, best epoch).
    #[arg(long, default_value_t = aac_pipeline::defaults::VAL_FRACTION)]
    val_fraction: f64,
    /// Seed.
    #[arg(long, default_value_t = aac_pipeline::defaults::SEED)]
    seed: u64,
    /// Resume from the checkpoint next to the output (OUT.ckpt) if it exists.
    #[arg(long)]
    resume: bool,
}

/// Runs `aac train unet`.
pub fn train_unet(a: TrainUnetArgs) -> Result<ExitCode> {
    let r = run_train_unet(&UnetTrainConfig {
        data: a.data,
        ssm: a.ssm,
        classes: usize::from(a.classes),
        out: a.out.clone(),
        unet: a.unet.settings()?,
        val_fraction: a.val_fraction,
        seed: a.seed,
        resume: a.resume,
    })?;
    let h = &r.trained.header;
    eprintln!(
        "trained a {}-class U-net (width {}) on {} images in {:.0} s; kept epoch {} (val Dice {}), threshold {:.1}; wrote {}",
        a.classes,
        a.unet.unet_width,
        r.n_train,
        r.seconds,
        h.epoch,
        h.val_dice.map(|d| format!("{d:.3}")).unwrap_or("-".into()),
        h.threshold,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
