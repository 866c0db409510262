//! `aac train rf` and `aac segment`.

use aac_io::{write_png16, Dataset, Gray16, ROI_HEIGHT, ROI_WIDTH};
use aac_pipeline::progress::bar;
use aac_pipeline::seg::{
    export_features, load_rois, split_ids, train_unet_with_progress, unet_config,
    write_loss_curves, write_segmentation, Segmenter,
};
use aac_rf::{choose_threshold, RfModel, TrainParams};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

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
    #[arg(long, default_value_t = 10_000)]
    patches: usize,
    /// Trees.
    #[arg(long, default_value_t = 10)]
    trees: usize,
    /// Random scale/rotation transforms per patch.
    #[arg(long, default_value_t = 10)]
    transforms: usize,
    /// Haar features.
    #[arg(long, default_value_t = 200)]
    features: usize,
    /// Classes: 1 (calcified) or 2 (anterior/posterior wall).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    classes: u8,
    /// Fraction of images held out to choose the threshold.
    #[arg(long, default_value_t = 0.2)]
    val_fraction: f64,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the training feature matrix (features.f32, labels.u8, shape.json) here, for the benchmark.
    #[arg(long)]
    export_features: Option<PathBuf>,
}

/// Runs `aac train rf`.
pub fn train_rf(a: TrainRfArgs) -> Result<ExitCode> {
    let ds = Dataset::open(&a.data)?;
    let (train_ids, val_ids) = split_ids(&ds.ids(), a.val_fraction);
    let t0 = Instant::now();
    let train = load_rois(&ds, &train_ids, Some("masks"))?;
    let val = load_rois(&ds, &val_ids, Some("masks"))?;
    let mut p = TrainParams {
        patches: a.patches,
        transforms: a.transforms,
        features: a.features,
        classes: a.classes as usize,
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
    eprintln!(
        "trained {} trees on {} images ({} samples) in {:.1} s; threshold {:.2} (chosen on {} validation images); wrote {}",
        model.forest.trees.len(),
        train.len(),
        p.patches * p.transforms,
        t0.elapsed().as_secs_f64(),
        model.threshold,
        val.len(),
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
    threshold: Option<f32>,
}

/// Runs `aac segment`.
pub fn segment(a: SegmentArgs) -> Result<ExitCode> {
    let model = Segmenter::load(&a.model)?;
    let threshold = a.threshold.unwrap_or(model.threshold());
    if !(0.0..=1.0).contains(&threshold) {
        bail!("--threshold must be between 0 and 1, got {threshold}");
    }
    let ds = Dataset::open(&a.data)?;
    let ids = ds.ids();
    let pb = bar(ids.len() as u64, "segment");
    let t0 = Instant::now();
    for chunk in ids.chunks(8) {
        let cases = load_rois(&ds, chunk, None)?;
        let all = model.predict(&cases);
        for ((id, c), planes) in chunk.iter().zip(&cases).zip(&all) {
            write_segmentation(&a.out, id, planes, threshold)?;
            let img = Gray16::from_raw(
                ROI_WIDTH,
                ROI_HEIGHT,
                c.image.iter().map(|&v| v as u16).collect(),
            )
            .expect("size");
            write_png16(&a.out.join("images").join(format!("{id}.png")), &img)?;
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    eprintln!(
        "segmented {} images ({} class(es), threshold {threshold:.2}) in {:.1} s into {}",
        ids.len(),
        model.classes(),
        t0.elapsed().as_secs_f64(),
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
    /// Batch size.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Fraction of images held out for validation (threshold, best epoch).
    #[arg(long, default_value_t = aac_pipeline::defaults::VAL_FRACTION)]
    val_fraction: f64,
    /// Seed.
    #[arg(long, default_value_t = aac_pipeline::defaults::SEED)]
    seed: u64,
    /// Turn off photometric augmentation (the paper's setting).
    #[arg(long)]
    no_photometric: bool,
    /// Resume from the checkpoint next to the output (OUT.ckpt) if it exists.
    #[arg(long)]
    resume: bool,
}

/// Runs `aac train unet`.
pub fn train_unet(a: TrainUnetArgs) -> Result<ExitCode> {
    a.unet.check()?;
    if a.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let ssm = aac_shape::ShapeModel::load(&a.ssm)?;
    let ds = Dataset::open(&a.data)?;
    let (train_ids, val_ids) = split_ids(&ds.ids(), a.val_fraction);
    let train = aac_pipeline::dataset_util::load_raw_cases(&ds, &train_ids, "masks")?;
    let val = aac_pipeline::dataset_util::load_raw_cases(&ds, &val_ids, "masks")?;
    let mut cfg = unet_config(
        a.classes as usize,
        a.unet.unet_width,
        a.unet.epochs,
        a.unet.augment,
        a.unet.lr,
        a.seed,
        !a.no_photometric,
    );
    cfg.batch = a.batch;
    let ckpt = a.out.with_extension("ckpt");
    cfg.checkpoint = Some(ckpt.clone());
    cfg.resume = a.resume;
    let t0 = Instant::now();
    let trained = train_unet_with_progress(&cfg, &train, &val, &ssm, "unet")?;
    aac_io::write_bytes_atomic(&a.out, &trained.model)?;
    write_loss_curves(
        &trained.logs,
        &a.out.with_extension("loss.csv"),
        &a.out.with_extension("loss.png"),
        "U-net loss",
    )?;
    eprintln!(
        "trained a {}-class U-net (width {}) on {} images in {:.0} s; kept epoch {} (val Dice {}), threshold {:.1}; wrote {}",
        a.classes,
        a.unet.unet_width,
        train.len(),
        t0.elapsed().as_secs_f64(),
        trained.header.epoch,
        trained.header.val_dice.map(|d| format!("{d:.3}")).unwrap_or("-".into()),
        trained.header.threshold,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
