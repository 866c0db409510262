//! Segmentation by a trained model: loading warped ROIs, the random forest's
//! feature export, any model file as a [`Segmenter`], writing probability
//! maps and masks, and U-net training with progress and loss curves.

use crate::progress::bar;
use aac_io::{
    read_image, read_mask, write_mask, write_png16, Dataset, Gray16, ROI_HEIGHT, ROI_WIDTH,
};
use aac_rf::{RfModel, RoiCase, TrainParams};
use anyhow::{bail, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Loads the warped cases of a dataset (masks from `mask_dir` if present).
pub fn load_rois(ds: &Dataset, ids: &[String], mask_dir: Option<&str>) -> Result<Vec<RoiCase>> {
    ids.par_iter()
        .map(|id| {
            let img = read_image(&ds.image_path(id))?;
            if img.dimensions() != (ROI_WIDTH, ROI_HEIGHT) {
                bail!(
                    "{}: image is {}x{}, a warped ROI must be {ROI_WIDTH}x{ROI_HEIGHT} (run `aac warp` first)",
                    ds.image_path(id).display(),
                    img.width(),
                    img.height()
                );
            }
            let mask = match mask_dir {
                Some(d) => Some(read_mask(&ds.mask_path(id, d), Some((ROI_WIDTH, ROI_HEIGHT)))?),
                None => None,
            };
            Ok(RoiCase { width: ROI_WIDTH, height: ROI_HEIGHT, image: aac_io::image_io::to_f32(&img), mask })
        })
        .collect()
}

/// Splits ids deterministically into (train, validation).
/// How many of `n` images [`split_ids`] holds out for validation.
pub fn validation_count(n: usize, val_fraction: f64) -> usize {
    let n_val = ((n as f64) * val_fraction.clamp(0.0, 0.9)).round() as usize;
    if n >= 2 {
        n_val.max(1).min(n - 1)
    } else {
        0
    }
}

pub fn split_ids(ids: &[String], val_fraction: f64) -> (Vec<String>, Vec<String>) {
    let n_val = validation_count(ids.len(), val_fraction);
    // Every k-th image goes to validation, spread over the cohort.
    let step = ids.len() as f64 / n_val.max(1) as f64;
    let val: Vec<usize> = (0..n_val)
        .map(|i| ((i as f64 + 0.5) * step) as usize)
        .collect();
    let (mut t, mut v) = (Vec::new(), Vec::new());
    for (i, id) in ids.iter().enumerate() {
        if val.contains(&i) {
            v.push(id.clone())
        } else {
            t.push(id.clone())
        }
    }
    (t, v)
}

/// Writes the random forest's training feature matrix (features.f32,
/// labels.u8, shape.json) to `dir`, for the benchmark.
pub fn export_features(dir: &Path, train: &[RoiCase], p: &TrainParams) -> Result<()> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(p.forest.seed);
    let features = aac_rf::haar::random_features(&mut rng, p.features.max(1));
    let (x, y) = aac_rf::model::training_matrix(train, &features, p, p.forest.seed ^ 0x5eed);
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    aac_io::write_bytes_atomic(&dir.join("features.f32"), &bytes)?;
    aac_io::write_bytes_atomic(&dir.join("labels.u8"), &y)?;
    let shape = serde_json::json!({"rows": y.len(), "cols": features.len(), "dtype": "float32 little-endian, row-major"});
    aac_io::write_string_atomic(&dir.join("shape.json"), &shape.to_string())?;
    Ok(())
}

/// A loaded segmentation model.
pub enum Segmenter {
    /// Random forest.
    Rf(RfModel),
    /// U-net.
    Unet(Box<aac_unet::UnetModel>),
}

impl Segmenter {
    /// Loads any supported model file.
    pub fn load(path: &Path) -> Result<Segmenter> {
        let head = aac_io::read_capped(path, aac_io::input::MAX_MODEL_BYTES)?;
        let text = String::from_utf8_lossy(&head[..head.len().min(200)]).to_string();
        if text.contains("\"aac-rf\"") {
            return Ok(Segmenter::Rf(RfModel::load(path)?));
        }
        if head.starts_with(aac_unet::model_file::MAGIC) {
            let unet = aac_unet::UnetModel::load(path)?;
            if unet.header.config.classes > 2 {
                bail!(
                    "{}: a U-net with {} output channels is not a segmentation model (1 or 2 classes)",
                    path.display(),
                    unet.header.config.classes
                );
            }
            return Ok(Segmenter::Unet(Box::new(unet)));
        }
        bail!("{}: not an aac segmentation model (expected a file from `aac train rf` or `aac train unet`)", path.display())
    }

    /// Probability planes (classes) of each ROI.
    pub fn predict(&self, cases: &[RoiCase]) -> Vec<Vec<Vec<f32>>> {
        match self {
            Segmenter::Rf(m) => cases
                .iter()
                .map(|c| m.response(&c.image, c.width, c.height))
                .collect(),
            Segmenter::Unet(u) => {
                let rois: Vec<Vec<f32>> = cases.iter().map(|c| c.image.clone()).collect();
                u.predict(&rois)
            }
        }
    }

    /// The default threshold.
    pub fn threshold(&self) -> f32 {
        match self {
            Segmenter::Rf(m) => m.threshold,
            Segmenter::Unet(u) => u.header.threshold,
        }
    }

    /// Number of output classes.
    pub fn classes(&self) -> usize {
        match self {
            Segmenter::Rf(m) => m.classes,
            Segmenter::Unet(u) => u.header.config.classes,
        }
    }
}

fn prob_png(plane: &[f32]) -> Gray16 {
    let data = plane
        .iter()
        .map(|&p| (p.clamp(0.0, 1.0) * 65535.0).round() as u16)
        .collect();
    Gray16::from_raw(ROI_WIDTH, ROI_HEIGHT, data).expect("size matches")
}

/// Writes one image's segmentation: prob/<id>.png (P(calcified), 16-bit),
/// for 2 classes also prob_ant/ and prob_post/, and masks/<id>.png, labelled
/// as `aac predict` labels ([`crate::roi_labels`]; `roi` is the warped image).
pub fn write_segmentation(
    out: &Path,
    id: &str,
    roi: &[f32],
    planes: &[Vec<f32>],
    threshold: f32,
) -> Result<()> {
    let any: Vec<f32> = if planes.len() == 1 {
        planes[0].clone()
    } else {
        planes[0]
            .iter()
            .zip(&planes[1])
            .map(|(a, p)| a.max(*p))
            .collect()
    };
    write_png16(&out.join("prob").join(format!("{id}.png")), &prob_png(&any))?;
    if planes.len() == 2 {
        write_png16(
            &out.join("prob_ant").join(format!("{id}.png")),
            &prob_png(&planes[0]),
        )?;
        write_png16(
            &out.join("prob_post").join(format!("{id}.png")),
            &prob_png(&planes[1]),
        )?;
    }
    write_mask(
        &out.join("masks").join(format!("{id}.png")),
        &crate::roi_labels::roi_labels(roi, planes, [threshold, threshold]).labels,
    )?;
    Ok(())
}

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
            depth: 4,
            dropout: 0.5,
            prior: 0.005,
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
                "{label} epoch {}: train loss {:.4}, {}, {:.0} s, {:.1} img/s",
                log.epoch,
                log.train_loss,
                validation_summary(&log),
                log.seconds,
                log.images_per_s
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

/// Settings of [`segment_dataset`].
#[derive(Debug, Clone)]
pub struct SegmentConfig {
    /// Model file (`aac train rf` or `aac train unet`).
    pub model: PathBuf,
    /// Warped dataset.
    pub data: PathBuf,
    /// Output directory (prob/, masks/, images/).
    pub out: PathBuf,
    /// Probability threshold (None: the model's, chosen on validation data).
    pub threshold: Option<f32>,
}

/// What [`segment_dataset`] did.
#[derive(Debug, Clone, Copy)]
pub struct SegmentSummary {
    /// Images segmented.
    pub n_images: usize,
    /// Output classes of the model.
    pub classes: usize,
    /// The threshold used.
    pub threshold: f32,
    /// Seconds taken.
    pub seconds: f64,
}

/// Segments every image of a warped dataset with a model file (`aac
/// segment`): probability maps, masks and the warped images.
pub fn segment_dataset(a: &SegmentConfig) -> Result<SegmentSummary> {
    let model = Segmenter::load(&a.model)?;
    let threshold = a.threshold.unwrap_or(model.threshold());
    if let Some(why) = aac_score::threshold_problem(threshold) {
        bail!("--threshold: {why}");
    }
    let ds = Dataset::open(&a.data)?;
    let ids = ds.ids();
    let pb = bar(ids.len() as u64, "segment");
    let t0 = std::time::Instant::now();
    for chunk in ids.chunks(8) {
        let cases = load_rois(&ds, chunk, None)?;
        let all = model.predict(&cases);
        for ((id, c), planes) in chunk.iter().zip(&cases).zip(&all) {
            write_segmentation(&a.out, id, &c.image, planes, threshold)?;
            let img = Gray16::from_raw(
                ROI_WIDTH,
                ROI_HEIGHT,
                c.image.iter().map(|&v| v as u16).collect(),
            )
            .expect("a warped ROI has the ROI's size");
            write_png16(&a.out.join("images").join(format!("{id}.png")), &img)?;
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    Ok(SegmentSummary {
        n_images: ids.len(),
        classes: model.classes(),
        threshold,
        seconds: t0.elapsed().as_secs_f64(),
    })
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
