//! Training with shape-model augmentation (sections 2.3-2.4 of the paper):
//! every epoch presents each training image `augment` times, each a fresh warp
//! from noisy spine landmarks plus a random similarity, optionally with
//! photometric augmentation; binary cross-entropy (summed over the output
//! channels), Adam; validation loss and Dice after each epoch, the best epoch
//! kept, and a checkpoint to resume from.

use crate::model_file::{self, UnetHeader, FORMAT, VERSION};
use crate::net::{UNet, UNetConfig};
use crate::photometric::{augment as photo_augment, normalise, Photometric};
use aac_io::{Gray8, Point, ROI_HEIGHT, ROI_WIDTH};
use aac_shape::ShapeModel;
use aac_warp::augment::{augmented_map, AugmentParams};
use aac_warp::{prepare_roi, AortaSource, WarpMap};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, sigmoid};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Why training could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The training set is empty.
    #[error("no training images")]
    NoTrainingImages,
    /// No epoch ran (zero epochs asked for).
    #[error("no epoch was trained (is --epochs 0?)")]
    NoEpoch,
    /// An image whose region of interest cannot be built.
    #[error("{id}: {source}")]
    Case {
        /// The image id.
        id: String,
        /// Why its region of interest failed.
        source: aac_warp::WarpError,
    },
    /// The checkpoint could not be read or written.
    #[error("{path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A network or optimiser state could not be (de)serialised.
    #[error("{0}")]
    Model(#[from] model_file::ModelFileError),
}

/// Sub-scores of validation images: (annotation, prediction).
type SubscorePairs = (Vec<[u32; 8]>, Vec<[u32; 8]>);

/// Pixels of one warped ROI.
pub const PIXELS: usize = (ROI_WIDTH * ROI_HEIGHT) as usize;

/// Training settings.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Network.
    pub net: UNetConfig,
    /// Epochs.
    pub epochs: usize,
    /// Augmented warps per training image per epoch.
    pub augment: usize,
    /// Batch size.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed.
    pub seed: u64,
    /// Shape-model augmentation.
    pub geometric: AugmentParams,
    /// Photometric augmentation (None = off, as in the paper).
    pub photometric: Option<Photometric>,
    /// Checkpoint file (written after every epoch; resumed from if `resume`).
    pub checkpoint: Option<PathBuf>,
    /// Resume from the checkpoint if it exists.
    pub resume: bool,
    /// Weight of the soft Dice term added to the cross-entropy (0: plain
    /// cross-entropy).
    pub dice_weight: f64,
    /// Keep the mean of the last this many epochs' weights instead of the
    /// best single epoch ([`crate::average`]); 0 or 1: the best epoch.
    pub average_last: usize,
    /// A model file (bytes) to start from instead of fresh weights: fine-
    /// tuning. Its network must be `net`.
    pub init: Option<Vec<u8>>,
    /// A threshold to keep instead of choosing one on the validation scans
    /// (fine-tuning on a few scans keeps the base's: a threshold chosen on
    /// a handful of held-out scans is noise); the epoch is still chosen on
    /// them, scored at this threshold.
    pub threshold: Option<f32>,
    /// Train only the first this many epochs of the `epochs`-long schedule
    /// (the learning rate decays as for `epochs`) and keep the last of them,
    /// whatever the validation says: the number of epochs was chosen
    /// elsewhere (fine-tuning's cross-validated epoch). None: every epoch,
    /// the best kept.
    pub stop_after: Option<usize>,
}

/// Relative error of the anterior and posterior sub-score totals of `pred`
/// against `truth`; None when a wall has no annotated point.
pub fn wall_bias(truth: &[[u32; 8]], pred: &[[u32; 8]]) -> Option<[f64; 2]> {
    let total = |v: &[[u32; 8]], wall: usize| -> f64 {
        v.iter()
            .map(|s| (0..4).map(|k| f64::from(s[2 * k + wall])).sum::<f64>())
            .sum()
    };
    let mut out = [0.0; 2];
    for (wall, o) in out.iter_mut().enumerate() {
        let t = total(truth, wall);
        if t == 0.0 {
            return None;
        }
        *o = (total(pred, wall) - t) / t;
    }
    Some(out)
}

/// Per-scan error of the per-wall totals: over every scan and both walls,
/// the sum of |predicted - annotated wall total| (a wall total being the sum
/// of its 4 sub-scores, 0-12), divided by the sum of the annotated totals;
/// None when no wall is annotated as calcified. Unlike [`wall_bias`], a scan
/// scored too high cannot cancel another scored too low.
pub fn wall_error(truth: &[[u32; 8]], pred: &[[u32; 8]]) -> Option<f64> {
    let wall = |s: &[u32; 8], w: usize| (0..4).map(|k| f64::from(s[2 * k + w])).sum::<f64>();
    let (mut err, mut annotated) = (0.0, 0.0);
    for (t, p) in truth.iter().zip(pred) {
        for w in 0..2 {
            err += (wall(p, w) - wall(t, w)).abs();
            annotated += wall(t, w);
        }
    }
    (annotated > 0.0).then(|| err / annotated)
}

/// The score on which the threshold and the epoch are chosen, from what a
/// user reads: the mean of (a) the overlap (mean per-class Dice of a 2-class
/// network, so one that never labels a wall cannot win; union Dice of a
/// binary one), (b) the sub-scores' weighted kappa and (c) the agreement of
/// each scan's per-wall totals, 1 - [`wall_error`], floored at 0. Terms that
/// are undefined are left out. (c) matters because kappa and Dice both
/// tolerate a network that misses the faint, short deposits everywhere; it
/// is per scan because cohort totals let specks called on scans without
/// calcification cancel deposits missed on others (a low threshold then won
/// on validation and over-called on every unseen style: docs/segmentation.md).
pub fn selection_score(dice: f64, kappa: Option<f64>, wall_error: Option<f64>) -> f64 {
    let mut terms = vec![dice];
    terms.extend(kappa);
    terms.extend(wall_error.map(|e| (1.0 - e).max(0.0)));
    terms.iter().sum::<f64>() / terms.len() as f64
}

/// Fraction of the base learning rate left at the last epoch.
const LR_FLOOR: f64 = 0.05;

/// Learning rate of `epoch` (0-based) of `epochs`: a cosine decay from `base`
/// to `base * LR_FLOOR`, so that the last epochs refine rather than jump
/// (Loshchilov & Hutter 2017, without restarts). A function of the epoch
/// alone, so a resumed run follows the same schedule.
pub fn epoch_lr(base: f64, epoch: usize, epochs: usize) -> f64 {
    let t = if epochs > 1 {
        epoch as f64 / (epochs - 1) as f64
    } else {
        0.0
    };
    base * (LR_FLOOR + (1.0 - LR_FLOOR) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
}

/// A raw (unwarped) annotated image.
#[derive(Debug, Clone)]
pub struct RawCase {
    /// Image id.
    pub id: String,
    /// Raw intensities, row-major.
    pub image: Vec<f32>,
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// Landmarks (at least the 20 spine points).
    pub landmarks: Vec<Point>,
    /// Labels 0/1/2 at full resolution.
    pub mask: Gray8,
}

/// One warped, normalised sample: input plane and target planes.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Input, 256 x 128 row-major.
    pub x: Vec<f32>,
    /// Targets, `classes` planes.
    pub y: Vec<f32>,
    /// The shape model's aortic centre line in warped space (the prior of the
    /// wall split when the sample is scored).
    pub prior_x: f64,
}

/// The record of one epoch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochLog {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation Dice of the binary union of the classes at the threshold.
    pub val_dice: f64,
    /// Validation Dice per class (anterior, posterior) at the threshold; empty
    /// for a binary network.
    #[serde(default)]
    pub val_dice_per_class: Vec<f64>,
    /// Linearly weighted kappa of the validation images' 8 sub-scores (scored
    /// as `aac predict` scores them) against their annotations' at the
    /// threshold; None when undefined.
    #[serde(default)]
    pub val_subscore_kappa: Option<f64>,
    /// Relative error of the validation images' anterior and posterior
    /// sub-score totals at the threshold ((predicted - annotated) /
    /// annotated); None when undefined (no calcified wall in validation).
    #[serde(default)]
    pub val_wall_bias: Option<[f64; 2]>,
    /// The validation images' per-scan wall error at the threshold (see
    /// [`wall_error`]); None when undefined.
    #[serde(default)]
    pub val_wall_error: Option<f64>,
    /// The selection score of the threshold and the best epoch (see
    /// [`selection_score`]).
    #[serde(default)]
    pub val_score: f64,
    /// That threshold.
    pub threshold: f32,
    /// Seconds for the epoch.
    pub seconds: f64,
    /// Training images per second.
    pub images_per_s: f64,
}

/// Progress reported during training.
pub enum Progress {
    /// An epoch starts with this many steps.
    EpochStart {
        /// Epoch (1-based).
        epoch: usize,
        /// Steps in it.
        steps: usize,
    },
    /// A step finished.
    Step {
        /// Running mean loss.
        loss: f64,
        /// Images per second so far.
        images_per_s: f64,
    },
    /// An epoch finished.
    EpochEnd(EpochLog),
    /// The mean of the last epochs' weights was validated (it is the network
    /// kept).
    Averaged {
        /// First averaged epoch (1-based); the last is `log.epoch`.
        first: usize,
        /// Its validation (training loss and speed: NaN and 0).
        log: EpochLog,
    },
}

/// Target planes from labels: binary (any label) or anterior/posterior.
pub fn target_planes(mask: &Gray8, classes: usize) -> Vec<f32> {
    let raw = mask.as_raw();
    if classes == 1 {
        raw.iter().map(|&v| (v > 0) as u8 as f32).collect()
    } else {
        let mut y: Vec<f32> = raw.iter().map(|&v| (v == 1) as u8 as f32).collect();
        y.extend(raw.iter().map(|&v| (v == 2) as u8 as f32));
        y
    }
}

/// One augmented training sample of a case.
///
/// Landmark noise now and then folds the ROI grid; such draws are redrawn
/// (up to 8 times) and, failing that, the un-augmented warp is used.
pub fn training_sample(
    case: &RawCase,
    ssm: &ShapeModel,
    cfg: &TrainConfig,
    seed: u64,
) -> Result<Sample, TrainError> {
    for attempt in 0..8u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(
            seed.wrapping_add(attempt.wrapping_mul(0x2545_F491_4F6C_DD1D)),
        );
        if let Ok(map) = augmented_map(&mut rng, ssm, &case.landmarks, &cfg.geometric) {
            return Ok(sample_from_map(
                case,
                &map,
                cfg.net.classes,
                cfg.photometric.as_ref(),
                &mut rng,
                0.0,
            ));
        }
    }
    validation_sample(case, ssm, cfg.net.classes)
}

fn sample_from_map(
    case: &RawCase,
    map: &WarpMap,
    classes: usize,
    photo: Option<&Photometric>,
    rng: &mut ChaCha8Rng,
    prior_x: f64,
) -> Sample {
    let warped = map.warp_f32(&case.image, case.width, case.height, 0.0);
    let mut x = normalise(&warped);
    if let Some(p) = photo {
        photo_augment(rng, &mut x, ROI_WIDTH as usize, p);
    }
    Sample {
        x,
        y: target_planes(&map.warp_labels(&case.mask), classes),
        prior_x,
    }
}

/// The un-augmented validation sample of a case (aorta predicted from the spine).
pub fn validation_sample(
    case: &RawCase,
    ssm: &ShapeModel,
    classes: usize,
) -> Result<Sample, TrainError> {
    let (prep, _) = prepare_roi(
        ssm,
        &case.landmarks,
        AortaSource::Predicted,
        (case.width as u32, case.height as u32),
    )
    .map_err(|source| TrainError::Case {
        id: case.id.clone(),
        source,
    })?;
    let map = WarpMap::new(&prep.roi, None);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    Ok(sample_from_map(
        case,
        &map,
        classes,
        None,
        &mut rng,
        prep.aorta_centre_x(),
    ))
}

/// Soft Dice loss per class, pooled over the batch and averaged over the
/// classes: 1 - (2 Σ p y + 1) / (Σ p + Σ y + 1). Unlike cross-entropy it
/// does not let the rare calcified pixels drown in the background, so
/// probabilities on thin faint deposits stay high enough to be counted (the
/// Dice term of Milletari et al. 2016, smoothed by 1 so that a batch without
/// calcification asks for an empty output).
pub fn soft_dice_loss(logits: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
    let p = sigmoid(logits);
    let pooled = |t: Tensor<4>| t.sum_dim(0).sum_dim(2).sum_dim(3);
    let inter = pooled(p.clone() * y.clone());
    let total = pooled(p) + pooled(y);
    let dice = (inter.mul_scalar(2.0).add_scalar(1.0)) / total.add_scalar(1.0);
    dice.neg().add_scalar(1.0).mean()
}

/// The training loss: cross-entropy plus `dice_weight` x the soft Dice loss.
pub fn training_loss(logits: Tensor<4>, y: Tensor<4>, dice_weight: f64) -> Tensor<1> {
    if dice_weight > 0.0 {
        bce_loss(logits.clone(), y.clone()) + soft_dice_loss(logits, y).mul_scalar(dice_weight)
    } else {
        bce_loss(logits, y)
    }
}

/// Binary cross-entropy with logits, averaged over pixels and summed over channels.
pub fn bce_loss(logits: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
    let channels = logits.dims()[1] as f64;
    (y.neg().add_scalar(1.0) * logits.clone() - log_sigmoid(logits))
        .mean()
        .mul_scalar(channels)
}

fn batch_tensors(samples: &[Sample], classes: usize, dev: &Device) -> (Tensor<4>, Tensor<4>) {
    let n = samples.len();
    let (h, w) = (ROI_HEIGHT as usize, ROI_WIDTH as usize);
    let xs: Vec<f32> = samples.iter().flat_map(|s| s.x.iter().copied()).collect();
    let ys: Vec<f32> = samples.iter().flat_map(|s| s.y.iter().copied()).collect();
    (
        Tensor::<4>::from_data(TensorData::new(xs, [n, 1, h, w]), dev),
        Tensor::<4>::from_data(TensorData::new(ys, [n, classes, h, w]), dev),
    )
}

/// Overlap counts of `labels` (what a user gets from `classes` probability
/// planes, [`aac_score::labels_from_planes`]) against the target planes: per
/// region (union, then each class) the intersection and the sum of the two
/// areas.
pub fn label_overlaps(labels: &Gray8, classes: usize, target: &[f32]) -> [(usize, usize); 3] {
    let mut out = [(0usize, 0usize); 3];
    for (i, &l) in labels.as_raw().iter().enumerate() {
        let t = (0..classes)
            .find(|&c| target.get(c * PIXELS + i).is_some_and(|&v| v > 0.5))
            .map_or(0, |c| c as u8 + 1);
        let regions = [(l > 0, t > 0), (l == 1, t == 1), (l == 2, t == 2)];
        for (o, (p, q)) in out.iter_mut().zip(regions) {
            o.0 += usize::from(p && q);
            o.1 += usize::from(p) + usize::from(q);
        }
    }
    out
}

/// Dice from counts pooled over the validation set
/// ([`aac_score::metrics::dice_ratio`]). Undefined only when no validation
/// image has the class and none is predicted: then every threshold is
/// perfect for it, so it counts 1.
fn dice_of((inter, sum): (usize, usize)) -> f64 {
    aac_score::metrics::dice_ratio(inter as u64, sum as u64).unwrap_or(1.0)
}

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    epoch: usize,
    logs: Vec<EpochLog>,
    best_epoch: usize,
    /// The validation selection score of the best epoch (named `best_score`
    /// in checkpoints of before 0.4.0, when it was the Dice).
    #[serde(alias = "best_dice")]
    best_score: f64,
    best_threshold: f32,
    #[serde(with = "bytes_b64")]
    net: Vec<u8>,
    #[serde(with = "bytes_b64")]
    optim: Vec<u8>,
    #[serde(with = "bytes_b64")]
    best: Vec<u8>,
    /// The eval-mode networks of the epochs to average so far.
    #[serde(default, with = "vec_b64")]
    tail: Vec<Vec<u8>>,
}

mod vec_b64 {
    //! Lists of byte vectors as lists of hex strings.
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    #[derive(Serialize, Deserialize)]
    struct Hex(#[serde(with = "super::bytes_b64")] Vec<u8>);
    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|b| Hex(b.clone()))
            .collect::<Vec<_>>()
            .serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Ok(Vec::<Hex>::deserialize(d)?
            .into_iter()
            .map(|h| h.0)
            .collect())
    }
}

mod bytes_b64 {
    //! Byte vectors as hex strings in the JSON checkpoint.
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&hex)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        (0..s.len() / 2)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// The outcome of training: the best network's file bytes and the logs.
pub struct Trained {
    /// Model file bytes (see [`model_file`]).
    pub model: Vec<u8>,
    /// Header of the kept model.
    pub header: UnetHeader,
    /// One entry per epoch.
    pub logs: Vec<EpochLog>,
    /// The starting network's validation score (fine-tuning with held-out
    /// scans: "epoch 0"); None otherwise.
    pub start_score: Option<f64>,
}

/// The best epoch so far: its selection score, number, threshold and
/// network file.
struct Best {
    score: f64,
    epoch: usize,
    threshold: f32,
    bytes: Vec<u8>,
}

/// Where a training run stands: what a checkpoint holds.
struct RunState {
    net: UNet,
    optim: ModuleOptimizer,
    /// The first epoch still to train (0-based).
    next_epoch: usize,
    logs: Vec<EpochLog>,
    best: Best,
    /// The eval-mode networks of the epochs to average so far.
    tail: Vec<Vec<u8>>,
}

/// The header of a network saved at `epoch` with validation Dice `dice`
/// (`f64::MIN`: none) and `threshold`.
fn header_for(cfg: &TrainConfig, epoch: usize, dice: f64, threshold: f32) -> UnetHeader {
    UnetHeader {
        format: FORMAT.into(),
        version: VERSION,
        config: cfg.net.clone(),
        threshold,
        val_dice: (dice > f64::MIN).then_some(dice),
        epoch,
        photometric: cfg.photometric.is_some(),
        averaged: 0,
    }
}

impl RunState {
    /// A new optimiser and network: fresh weights, or those of
    /// `cfg.init`.
    fn fresh(cfg: &TrainConfig, dev: &Device) -> Result<RunState, TrainError> {
        let net = match &cfg.init {
            None => UNet::new(&cfg.net, dev),
            Some(bytes) => {
                let (net, header) =
                    model_file::from_bytes(bytes, dev, Path::new("<initial model>"))?;
                if header.config != cfg.net {
                    return Err(TrainError::Checkpoint {
                        path: PathBuf::from("<initial model>"),
                        message: "its network differs from the one to train".into(),
                    });
                }
                net
            }
        };
        Ok(RunState {
            net,
            optim: AdamConfig::new().with_epsilon(1e-7).init(),
            next_epoch: 0,
            logs: Vec::new(),
            best: Best {
                score: f64::MIN,
                epoch: 0,
                threshold: 0.5,
                bytes: Vec::new(),
            },
            tail: Vec::new(),
        })
    }

    /// The state saved in the checkpoint `ck`.
    fn resumed(self, ck: &Path, dev: &Device) -> Result<RunState, TrainError> {
        let ck_err = |message: String| TrainError::Checkpoint {
            path: ck.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(ck).map_err(|e| ck_err(e.to_string()))?;
        let c: Checkpoint =
            serde_json::from_str(&text).map_err(|e| ck_err(format!("not a checkpoint: {e}")))?;
        let (net, _) = model_file::from_bytes(&c.net, dev, ck)?;
        let optim = self
            .optim
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(c.optim))
            .map_err(|e| ck_err(format!("optimiser state: {e:?}")))?;
        Ok(RunState {
            net,
            optim,
            next_epoch: c.epoch,
            logs: c.logs,
            best: Best {
                score: c.best_score,
                epoch: c.best_epoch,
                threshold: c.best_threshold,
                bytes: c.best,
            },
            tail: c.tail,
        })
    }

    /// Writes the checkpoint `ck` after an epoch whose threshold was
    /// `threshold`.
    fn save(&self, cfg: &TrainConfig, ck: &Path, threshold: f32) -> Result<(), TrainError> {
        let ck_err = |message: String| TrainError::Checkpoint {
            path: ck.to_path_buf(),
            message,
        };
        let c = Checkpoint {
            epoch: self.next_epoch,
            logs: self.logs.clone(),
            best_epoch: self.best.epoch,
            best_score: self.best.score,
            best_threshold: self.best.threshold,
            net: model_file::to_bytes(
                &self.net,
                &header_for(cfg, self.next_epoch, f64::MIN, threshold),
            )?,
            optim: self
                .optim
                .into_bytes()
                .map_err(|e| ck_err(format!("optimiser state: {e:?}")))?
                .to_vec(),
            best: self.best.bytes.clone(),
            tail: self.tail.clone(),
        };
        let text = serde_json::to_string(&c).map_err(|e| ck_err(e.to_string()))?;
        aac_io::write_string_atomic(ck, &text).map_err(|e| ck_err(e.to_string()))
    }
}

/// The training steps of one epoch: every training image `augment` times in
/// a seeded order, fresh warps per step. Returns the network after them,
/// the summed loss (weighted by images) and the images seen.
fn train_epoch(
    mut net: UNet,
    optim: &mut ModuleOptimizer,
    (cfg, epoch): (&TrainConfig, usize),
    (train_cases, ssm): (&[RawCase], &ShapeModel),
    dev: &Device,
    progress: &mut dyn FnMut(Progress),
) -> Result<(UNet, f64, usize), TrainError> {
    let t0 = std::time::Instant::now();
    crate::dropout::seed_dropout(cfg.seed ^ ((epoch as u64 + 1) << 32));
    let mut order: Vec<(usize, usize)> = (0..train_cases.len())
        .flat_map(|c| (0..cfg.augment.max(1)).map(move |k| (c, k)))
        .collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(
        cfg.seed ^ ((epoch as u64 + 1) * 0x9E37),
    ));
    let steps = order.len().div_ceil(cfg.batch.max(1));
    let lr = epoch_lr(cfg.lr, epoch, cfg.epochs);
    progress(Progress::EpochStart {
        epoch: epoch + 1,
        steps,
    });
    let (mut loss_sum, mut seen) = (0.0, 0usize);
    for chunk in order.chunks(cfg.batch.max(1) * 8) {
        let samples: Vec<Sample> = chunk
            .par_iter()
            .map(|&(c, k)| {
                let seed = cfg.seed ^ ((epoch as u64) << 40) ^ ((c as u64) << 16) ^ k as u64;
                training_sample(&train_cases[c], ssm, cfg, seed)
            })
            .collect::<Result<_, _>>()?;
        for batch in samples.chunks(cfg.batch.max(1)) {
            let (x, y) = batch_tensors(batch, cfg.net.classes, dev);
            let loss = training_loss(net.forward(x), y, cfg.dice_weight);
            let value: f32 = loss.clone().into_scalar();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(lr, net, grads);
            loss_sum += value as f64 * batch.len() as f64;
            seen += batch.len();
            progress(Progress::Step {
                loss: loss_sum / seen as f64,
                images_per_s: seen as f64 / t0.elapsed().as_secs_f64(),
            });
        }
    }
    Ok((net, loss_sum, seen))
}

/// The mean of the last epochs' networks (checkpoint averaging), validated
/// and with its own threshold, when two or more were kept.
fn averaged_network(
    cfg: &TrainConfig,
    s: &RunState,
    val: &[Sample],
    progress: &mut dyn FnMut(Progress),
) -> Result<Option<Vec<u8>>, TrainError> {
    if s.tail.len() < 2 {
        return Ok(None);
    }
    let nets = s
        .tail
        .iter()
        .map(|b| model_file::from_bytes(b, &crate::device(), Path::new("<memory>")).map(|n| n.0))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(mean) = crate::average::average(&cfg.net, &nets) else {
        return Ok(None);
    };
    let t0 = std::time::Instant::now();
    let v = validate(&mean, val, cfg.net.classes);
    let choice = choose_threshold(&v, cfg.net.classes, cfg.threshold);
    let last = s.logs.last().map_or(cfg.epochs, |l| l.epoch);
    let log = epoch_log(
        last,
        f64::NAN,
        (&v, &choice, val.len()),
        t0.elapsed().as_secs_f64(),
        0.0,
    );
    progress(Progress::Averaged {
        first: last + 1 - s.tail.len(),
        log,
    });
    let dice = if val.is_empty() {
        f64::MIN
    } else {
        choice.dice
    };
    let mut header = header_for(cfg, last, dice, choice.threshold);
    header.averaged = s.tail.len();
    Ok(Some(model_file::to_bytes(&mean, &header)?))
}

/// Trains a U-net. `progress` receives epoch and step events.
pub fn train(
    cfg: &TrainConfig,
    train_cases: &[RawCase],
    val_cases: &[RawCase],
    ssm: &ShapeModel,
    progress: &mut dyn FnMut(Progress),
) -> Result<Trained, TrainError> {
    if train_cases.is_empty() {
        return Err(TrainError::NoTrainingImages);
    }
    let classes = cfg.net.classes;
    let dev = crate::device().autodiff();
    let mut s = crate::with_seed(&dev, cfg.seed, || RunState::fresh(cfg, &dev))?;
    let val: Vec<Sample> = val_cases
        .par_iter()
        .map(|c| validation_sample(c, ssm, classes))
        .collect::<Result<_, _>>()?;
    if let (true, Some(ck)) = (cfg.resume, &cfg.checkpoint) {
        if ck.exists() {
            s = s.resumed(ck, &dev)?;
        }
    }
    let mut start_score = None;
    if cfg.init.is_some() && !val.is_empty() && s.best.bytes.is_empty() {
        // Fine-tuning keeps the starting network (as epoch 0) unless an
        // epoch scores better on the held-out scans.
        let v = validate(&s.net.valid(), &val, classes);
        let choice = choose_threshold(&v, classes, cfg.threshold);
        start_score = Some(choice.score);
        s.best = Best {
            score: choice.score,
            epoch: 0,
            threshold: choice.threshold,
            bytes: model_file::to_bytes(
                &s.net,
                &header_for(cfg, 0, choice.dice, choice.threshold),
            )?,
        };
    }
    let last_epoch = cfg.stop_after.map_or(cfg.epochs, |e| e.min(cfg.epochs));
    for epoch in s.next_epoch..last_epoch {
        let t0 = std::time::Instant::now();
        let (net, loss_sum, seen) = train_epoch(
            s.net,
            &mut s.optim,
            (cfg, epoch),
            (train_cases, ssm),
            &dev,
            progress,
        )?;
        s.net = net;
        let train_secs = t0.elapsed().as_secs_f64();
        // Validation with the eval-mode network (dropout off, running BN statistics).
        let v = validate(&s.net.valid(), &val, classes);
        let choice = choose_threshold(&v, classes, cfg.threshold);
        let threshold = choice.threshold;
        let log = epoch_log(
            epoch + 1,
            loss_sum / seen.max(1) as f64,
            (&v, &choice, val.len()),
            t0.elapsed().as_secs_f64(),
            seen as f64 / train_secs,
        );
        let score = if val.is_empty() {
            -(log.train_loss)
        } else {
            choice.score
        };
        if score > s.best.score || s.best.bytes.is_empty() || cfg.stop_after.is_some() {
            let dice = if val.is_empty() {
                f64::MIN
            } else {
                choice.dice
            };
            s.best = Best {
                score,
                epoch: epoch + 1,
                threshold,
                bytes: model_file::to_bytes(&s.net, &header_for(cfg, epoch + 1, dice, threshold))?,
            };
        }
        if cfg.average_last >= 2 && epoch + cfg.average_last >= cfg.epochs {
            s.tail.push(model_file::to_bytes(
                &s.net,
                &header_for(cfg, epoch + 1, f64::MIN, threshold),
            )?);
        }
        progress(Progress::EpochEnd(log.clone()));
        s.logs.push(log);
        s.next_epoch = epoch + 1;
        if let Some(ck) = &cfg.checkpoint {
            s.save(cfg, ck, threshold)?;
        }
    }
    if s.best.bytes.is_empty() {
        return Err(TrainError::NoEpoch);
    }
    let model = match averaged_network(cfg, &s, &val, progress)? {
        Some(bytes) => bytes,
        None => s.best.bytes,
    };
    let (_, header) = model_file::from_bytes(&model, &crate::device(), Path::new("<memory>"))?;
    Ok(Trained {
        model,
        header,
        logs: s.logs,
        start_score,
    })
}

/// The record of an epoch (or of the averaged network) from its validation:
/// the tuple holds the validation outcome, the threshold chosen on it and
/// the number of validation images.
fn epoch_log(
    epoch: usize,
    train_loss: f64,
    (v, choice, n_val): (&Validation, &Choice, usize),
    seconds: f64,
    images_per_s: f64,
) -> EpochLog {
    let validated = n_val > 0;
    EpochLog {
        epoch,
        train_loss,
        val_loss: if validated {
            v.loss / n_val as f64
        } else {
            f64::NAN
        },
        val_dice: if validated { choice.dice } else { f64::NAN },
        val_dice_per_class: if validated {
            choice.per_class.clone()
        } else {
            Vec::new()
        },
        val_score: if validated { choice.score } else { f64::NAN },
        val_subscore_kappa: choice.kappa,
        val_wall_bias: choice.bias,
        val_wall_error: choice.wall_error,
        threshold: choice.threshold,
        seconds,
        images_per_s,
    }
}

/// Candidate thresholds: 0.1, 0.2, ..., 0.9.
const THRESHOLDS: usize = 9;
/// The candidate taken when there is nothing to choose on (0.5).
const NEUTRAL_CANDIDATE: usize = 4;

/// The validation set's outcome at every candidate threshold.
struct Validation {
    /// Summed per-image binary cross-entropy.
    loss: f64,
    /// Per threshold, (intersection, sum) of the union, anterior and
    /// posterior regions, pooled over the images.
    counts: [[(usize, usize); 3]; THRESHOLDS],
    /// Per threshold, the sub-scores of every validation image (scored as
    /// `aac predict` scores) against those of its annotation.
    subs: Vec<SubscorePairs>,
}

/// Runs the eval-mode network on the validation samples and collects what
/// [`choose_threshold`] needs.
fn validate(eval: &UNet, val: &[Sample], classes: usize) -> Validation {
    let net = crate::Inference::new(eval.clone(), crate::device());
    let mut v = Validation {
        loss: 0.0,
        counts: [[(0usize, 0usize); 3]; THRESHOLDS],
        subs: vec![(Vec::new(), Vec::new()); THRESHOLDS],
    };
    for vb in val.chunks(16) {
        let inputs: Vec<&[f32]> = vb.iter().map(|s| s.x.as_slice()).collect();
        let preds = net.probabilities(&inputs);
        for (p, s) in preds.iter().zip(vb) {
            let truth = truth_subscores(&s.y, classes);
            for ti in 0..THRESHOLDS {
                let t = (ti + 1) as f32 / 10.0;
                let labels = aac_score::labels_from_planes(p, ROI_WIDTH, ROI_HEIGHT, t);
                let overlaps = label_overlaps(&labels, classes, &s.y);
                for (acc, o) in v.counts[ti].iter_mut().zip(overlaps) {
                    acc.0 += o.0;
                    acc.1 += o.1;
                }
                if let Some(truth) = truth {
                    if let Ok(pred) = aac_score::score_segmentation(&labels, s.prior_x) {
                        v.subs[ti].0.push(truth);
                        v.subs[ti].1.push(pred.sub);
                    }
                }
            }
            v.loss += bce_of_planes(p, &s.y) / PIXELS as f64;
        }
    }
    v
}

/// Binary cross-entropy of probability planes against target planes, summed.
fn bce_of_planes(planes: &[Vec<f32>], y: &[f32]) -> f64 {
    let mut l = 0.0;
    for (c, plane) in planes.iter().enumerate() {
        for (j, &q) in plane.iter().enumerate() {
            let q = (q as f64).clamp(1e-7, 1.0 - 1e-7);
            let yv = y[c * PIXELS + j] as f64;
            l -= yv * q.ln() + (1.0 - yv) * (1.0 - q).ln();
        }
    }
    l
}

/// The threshold kept for an epoch and its validation figures.
struct Choice {
    threshold: f32,
    /// Union Dice.
    dice: f64,
    /// Dice per class (2-class networks).
    per_class: Vec<f64>,
    kappa: Option<f64>,
    bias: Option<[f64; 2]>,
    wall_error: Option<f64>,
    /// [`selection_score`] at the threshold.
    score: f64,
}

/// The candidate threshold nearest `t`, as an index into the grid.
fn nearest_candidate(t: f32) -> usize {
    ((t * 10.0).round() as usize).clamp(1, THRESHOLDS) - 1
}

/// The threshold with the best [`selection_score`] (the lower one on a
/// tie), or `fixed` scored at the candidate nearest it.
fn choose_threshold(v: &Validation, classes: usize, fixed: Option<f32>) -> Choice {
    let kappas: Vec<Option<f64>> = v
        .subs
        .iter()
        .map(|(t, p)| {
            aac_score::metrics::subscore_agreement(t, p)
                .ok()
                .and_then(|a| a.kappa_linear)
        })
        .collect();
    let biases: Vec<Option<[f64; 2]>> = v
        .subs
        .iter()
        .map(|(t, p)| if classes == 2 { wall_bias(t, p) } else { None })
        .collect();
    let errors: Vec<Option<f64>> = v
        .subs
        .iter()
        .map(|(t, p)| if classes == 2 { wall_error(t, p) } else { None })
        .collect();
    let selection = |i: usize| {
        let c = &v.counts[i];
        let dice = if classes == 2 {
            (dice_of(c[1]) + dice_of(c[2])) / 2.0
        } else {
            dice_of(c[0])
        };
        selection_score(dice, kappas[i], errors[i])
    };
    // With no validation images every candidate scores alike, and the tie
    // rule would give the lowest, 0.1 (what fine-tuning on fewer than 10
    // scans wrote before 0.8.0): the middle, 0.5, is the neutral choice.
    let no_images = v.subs.first().is_none_or(|(t, _)| t.is_empty());
    let candidates = match (fixed, no_images) {
        (Some(t), _) => {
            let i = nearest_candidate(t);
            i..i + 1
        }
        (None, true) => NEUTRAL_CANDIDATE..NEUTRAL_CANDIDATE + 1,
        (None, false) => 0..THRESHOLDS,
    };
    let best = candidates
        .max_by(|&i, &j| {
            selection(i)
                .partial_cmp(&selection(j))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(j.cmp(&i))
        })
        .unwrap_or(NEUTRAL_CANDIDATE);
    let c = &v.counts[best];
    Choice {
        threshold: fixed.unwrap_or((best + 1) as f32 / 10.0),
        dice: dice_of(c[0]),
        per_class: if classes == 2 {
            vec![dice_of(c[1]), dice_of(c[2])]
        } else {
            Vec::new()
        },
        kappa: kappas[best],
        bias: biases[best],
        wall_error: errors[best],
        score: selection(best),
    }
}

/// The 8 sub-scores of the annotation behind target planes (its warped labels
/// scored by the paper's rule); None for a binary target, which has no walls.
fn truth_subscores(y: &[f32], classes: usize) -> Option<[u32; 8]> {
    if classes != 2 {
        return None;
    }
    let labels: Vec<u8> = (0..PIXELS)
        .map(|i| {
            if y[i] > 0.5 {
                aac_io::LABEL_ANTERIOR
            } else if y[PIXELS + i] > 0.5 {
                aac_io::LABEL_POSTERIOR
            } else {
                0
            }
        })
        .collect();
    let labels = Gray8::from_raw(ROI_WIDTH, ROI_HEIGHT, labels)?;
    aac_score::score_labels(&labels).ok().map(|s| s.sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_bias_is_relative_error_per_wall() {
        // Anterior annotated 3 + 1 = 4, predicted 2 + 0 = 2 (-50%); posterior
        // 2, predicted 3 (+50%).
        let truth = [[3, 2, 1, 0, 0, 0, 0, 0]];
        let pred = [[2, 3, 0, 0, 0, 0, 0, 0]];
        assert_eq!(wall_bias(&truth, &pred), Some([-0.5, 0.5]));
        // No annotated posterior point: undefined.
        assert_eq!(wall_bias(&[[1, 0, 0, 0, 0, 0, 0, 0]], &pred), None);
    }

    #[test]
    fn with_nothing_to_choose_on_the_threshold_is_neutral_or_the_kept_one() {
        let empty = Validation {
            loss: 0.0,
            counts: [[(0, 0); 3]; THRESHOLDS],
            subs: vec![(Vec::new(), Vec::new()); THRESHOLDS],
        };
        assert_eq!(choose_threshold(&empty, 2, None).threshold, 0.5);
        assert_eq!(choose_threshold(&empty, 2, Some(0.35)).threshold, 0.35);
    }

    #[test]
    fn a_kept_threshold_is_scored_at_the_nearest_candidate() {
        assert_eq!(nearest_candidate(0.3), 2);
        assert_eq!(nearest_candidate(0.25), 2);
        assert_eq!(nearest_candidate(0.34), 2);
        assert_eq!(nearest_candidate(0.01), 0);
        assert_eq!(nearest_candidate(1.0), THRESHOLDS - 1);
    }

    #[test]
    fn selection_prefers_agreeing_walls() {
        // Same Dice and kappa: the threshold whose walls agree wins.
        let off = selection_score(0.6, Some(0.7), Some(0.4));
        let close = selection_score(0.6, Some(0.7), Some(0.05));
        assert!(close > off);
        assert!((close - (0.6 + 0.7 + 0.95) / 3.0).abs() < 1e-12);
        // Undefined terms are left out; an absurd error floors at 0.
        assert_eq!(selection_score(0.5, None, None), 0.5);
        assert_eq!(selection_score(0.5, Some(0.5), Some(3.0)), 1.0 / 3.0);
    }

    #[test]
    fn wall_error_does_not_let_scans_cancel() {
        // Scan 1 over-called by 2 anterior points, scan 2 under-called by 2:
        // the cohort's totals agree, the scans do not.
        let truth = [[0, 0, 0, 0, 0, 0, 0, 0], [2, 1, 1, 0, 0, 0, 0, 0]];
        let pred = [[1, 0, 1, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0, 0, 0]];
        assert_eq!(wall_bias(&truth, &pred), Some([0.0, 0.0]));
        assert_eq!(wall_error(&truth, &pred), Some(4.0 / 4.0));
        assert_eq!(wall_error(&truth, &truth), Some(0.0));
        // Nothing annotated: undefined.
        assert_eq!(wall_error(&[[0; 8]], &[[1; 8]]), None);
    }

    #[test]
    fn soft_dice_loss_is_zero_when_right_and_near_one_when_wrong() {
        let dev = crate::device();
        let y = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0], [1, 1, 2, 2]),
            &dev,
        );
        let right = Tensor::<4>::from_data(
            TensorData::new(vec![20.0f32, -20.0, -20.0, 20.0], [1, 1, 2, 2]),
            &dev,
        );
        let wrong = right.clone().neg();
        let l_right: f32 = soft_dice_loss(right, y.clone()).into_scalar();
        let l_wrong: f32 = soft_dice_loss(wrong, y).into_scalar();
        assert!(l_right < 1e-3, "{l_right}");
        // 1 - 1 / (2 + 2 + 1) with the smoothing of 1.
        assert!((l_wrong - 0.8).abs() < 1e-3, "{l_wrong}");
    }
}
