//! Training the finder's two heatmap networks from annotated scans.
//!
//! Each epoch shows every training scan once to each network through a
//! randomly perturbed frame: the coarse one rotated, scaled, shifted and
//! mirrored (patients face either way), the fine one around the true spine
//! with shifts and turns as large as the coarse stage's errors. Photometric
//! augmentation as for segmentation. Each output channel is a distribution
//! over the pixels (spatial softmax) trained by cross-entropy against the
//! normalised Gaussian target, which, unlike a per-pixel loss, is not
//! swamped by the background; Adam with a cosine learning rate; the epoch
//! with the lowest validation point error is kept.

use crate::finder::heatmaps;
use crate::finder::{Finder, FinderHeader, FORMAT, VERSION};
use crate::frame::Frame;
use crate::heatmap::{peak, targets};
use crate::{Grid, LandmarkError, N_POINTS};
use aac_io::Point;
use aac_unet::model_file::{self, UnetHeader};
use aac_unet::photometric::{augment, normalise, Photometric};
use aac_unet::train::epoch_lr;
use aac_unet::{Inference, UNet, UNetConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// An annotated scan, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Annotated<'a> {
    /// Raw intensities, row-major.
    pub image: &'a [f32],
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// At least the 20 spine points.
    pub points: &'a [Point],
    /// The middle of the sacrum's plateau (image pixels), where known
    /// (`aac synth`'s `truth.json`): what the sacrum-top locator
    /// ([`crate::sacrum_top`]) is trained on.
    pub sacrum_top: Option<Point>,
}

/// How the finder is trained (saved in the bundle header).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FinderTraining {
    /// Filters at the first level of the fine network. Its 20 output maps
    /// are read from this many features by a 1x1 convolution: with 8 it
    /// could not fit even four scans; 16 fits them to 0.6 mm.
    pub width: usize,
    /// Filters at the first level of the coarse network (3 output maps).
    pub coarse_width: usize,
    /// Epochs of the fine network.
    pub epochs: usize,
    /// Epochs of the coarse network ([`COARSE_EPOCHS_PER_FINE`] times the
    /// fine network's by default, see [`FinderTraining::with_fine`]).
    pub coarse_epochs: usize,
    /// Scans shown per epoch (a fresh random subset each epoch when the
    /// training set is larger), so that training time does not grow with
    /// the training set.
    pub scans_per_epoch: usize,
    /// Peak learning rate (cosine decay).
    pub lr: f64,
    /// Images per step.
    pub batch: usize,
    /// Seed.
    pub seed: u64,
    /// The fine network's input grid over the spine's window: the full
    /// 128 x 256 (about 0.85 mm per pixel) or half that (the default: its
    /// points about 0.2 mm further off, docs/landmarks.md; four times
    /// cheaper).
    #[serde(default = "Grid::full")]
    pub fine_grid: Grid,
    /// Finders trained alike, each from its own seed (the first from
    /// `seed`, the next from `seed + 1`, ...): the first answers, the
    /// others give second opinions on the levels ([`crate::ensemble`]).
    /// Finders trained before 0.8.4 are one.
    #[serde(default = "one")]
    pub members: usize,
    /// Epochs of the sacrum-top locator ([`crate::sacrum_top`]), trained
    /// once, after the finders, on the scans whose sacrum top is known
    /// (none where no scan's is); 0 in finders trained before 0.14.0.
    #[serde(default)]
    pub sacrum_epochs: usize,
}

fn one() -> usize {
    1
}

/// Finders a bundle's landmark finder is made of by default: two, so
/// that a scan whose levels they name differently is flagged
/// (docs/landmarks.md, "A second opinion"). Each costs the finder's
/// training time again, and the landmarks stage's time at prediction.
pub const DEFAULT_MEMBERS: usize = 2;

/// Epochs of the fine network by default (the coarse one trains
/// [`COARSE_EPOCHS_PER_FINE`] times as many): 16 since 0.9.0, against 8
/// before. On the same 1,000 training scans the longer schedule placed the
/// points closer and named the levels right on every held-out style, for
/// twice the finder's training time; on another generator's scans it was
/// within the spread of seeds (docs/landmarks.md, "Training length").
pub const DEFAULT_EPOCHS: usize = 16;

/// Epochs of the coarse network per epoch of the fine one: naming the
/// levels from the whole scan is learnt more slowly than placing points in
/// the spine's window, and the coarse network is three times cheaper per
/// scan.
pub const COARSE_EPOCHS_PER_FINE: usize = 3;

/// Epochs of the sacrum-top locator per two epochs of the fine network:
/// 24 by default, about 4.5 minutes on 2 cores (one map on the coarse
/// network's grid, width 8; docs/landmarks.md, "The sacrum's top").
pub const SACRUM_EPOCHS_PER_TWO_FINE: usize = 3;

/// Fewest training scans with a known sacrum top for the locator to be
/// trained at all.
pub const MIN_SACRUM_SCANS: usize = 20;

impl Default for FinderTraining {
    fn default() -> Self {
        FinderTraining {
            width: 16,
            coarse_width: 16 / 2,
            scans_per_epoch: 200,
            epochs: DEFAULT_EPOCHS,
            coarse_epochs: COARSE_EPOCHS_PER_FINE * DEFAULT_EPOCHS,
            lr: 2e-3,
            batch: 4,
            seed: 1,
            fine_grid: Grid::HALF,
            members: DEFAULT_MEMBERS,
            sacrum_epochs: SACRUM_EPOCHS_PER_TWO_FINE * DEFAULT_EPOCHS / 2,
        }
    }
}

impl FinderTraining {
    /// These settings with the fine network's epochs and width, and the
    /// coarse network's following by the two rules: [`COARSE_EPOCHS_PER_FINE`]
    /// times the epochs, half the width (at least 1); the sacrum-top
    /// locator's epochs follow by [`SACRUM_EPOCHS_PER_TWO_FINE`].
    pub fn with_fine(self, epochs: usize, width: usize) -> FinderTraining {
        FinderTraining {
            epochs,
            coarse_epochs: COARSE_EPOCHS_PER_FINE * epochs,
            sacrum_epochs: (SACRUM_EPOCHS_PER_TWO_FINE * epochs / 2).max(1),
            width,
            coarse_width: (width / 2).max(1),
            ..self
        }
    }

    /// Refuses settings no training can run with (checked before any work).
    pub fn check(&self) -> Result<(), LandmarkError> {
        let bad = |m: &str| Err(LandmarkError::Training(m.into()));
        if self.epochs == 0 || self.coarse_epochs == 0 {
            return bad("the landmark finder needs at least one epoch per network");
        }
        if self.width == 0 || self.coarse_width == 0 || self.width > 64 {
            return bad("the landmark finder's width must be 1-64");
        }
        if self.scans_per_epoch == 0 || self.batch == 0 {
            return bad("the landmark finder needs at least one scan per epoch and per step");
        }
        if !(self.lr > 0.0 && self.lr < 1.0) {
            return bad("the landmark finder's learning rate must lie in (0, 1)");
        }
        if ![Grid::FULL, Grid::HALF].contains(&self.fine_grid) {
            return bad("the landmark finder's fine grid must be 128x256 or 64x128");
        }
        if !(1..=8).contains(&self.members) {
            return bad("the landmark finder's members must be 1-8");
        }
        Ok(())
    }
}

/// Which of the finder's networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The whole scan.
    Coarse,
    /// The spine-aligned window.
    Fine,
    /// The whole scan, for the sacrum's top ([`crate::sacrum_top`]).
    Sacrum,
}

impl Stage {
    /// Output channels: the three anchors ([`crate::frame::anchors`]) or
    /// the 20 points.
    pub fn channels(self) -> usize {
        match self {
            Stage::Coarse => 3,
            Stage::Fine => N_POINTS,
            Stage::Sacrum => 1,
        }
    }

    /// The points a stage is trained to find in a scan, in image pixels
    /// (none for the sacrum stage where the scan's sacrum top is unknown).
    pub fn points(self, a: &Annotated) -> Vec<Point> {
        match self {
            Stage::Coarse => crate::frame::anchors(a.points).to_vec(),
            Stage::Fine => a.points[..N_POINTS].to_vec(),
            Stage::Sacrum => a.sacrum_top.into_iter().collect(),
        }
    }

    /// Target Gaussian SD in pixels of the stage's grid: 2 pixels of the
    /// full fine grid (1.7 mm), at least 1.25 of a coarser one.
    pub fn sigma(self, grid: Grid) -> f64 {
        match self {
            Stage::Coarse | Stage::Sacrum => 1.5,
            Stage::Fine => (2.0 * grid.factor()).max(1.25),
        }
    }

    /// The stage's input grid.
    fn grid(self, cfg: &FinderTraining) -> Grid {
        match self {
            Stage::Coarse | Stage::Sacrum => Grid::FULL,
            Stage::Fine => cfg.fine_grid,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Stage::Coarse => "coarse",
            Stage::Fine => "fine",
            Stage::Sacrum => "sacrum",
        }
    }

    /// The frame a scan is shown through, on the stage's grid: exact when
    /// `rng` is None. Perturbations are in pixels of the full grid.
    fn frame(self, a: &Annotated, grid: Grid, rng: Option<&mut ChaCha8Rng>) -> Frame {
        let base = match self {
            Stage::Coarse | Stage::Sacrum => Frame::whole_image(a.width, a.height),
            Stage::Fine => Frame::along_spine(&a.points[..N_POINTS]),
        };
        let Some(rng) = rng else {
            return base.in_grid(grid);
        };
        let perturbed = match self {
            Stage::Coarse | Stage::Sacrum => base.perturbed(
                rng.random_range(-0.12..0.12),
                rng.random_range(0.8..1.1),
                rng.random_range(-10.0..10.0),
                rng.random_range(-12.0..12.0),
                rng.random_bool(0.5),
            ),
            Stage::Fine => base.perturbed(
                rng.random_range(-0.1..0.1),
                rng.random_range(0.9..1.1),
                rng.random_range(-7.0..7.0),
                rng.random_range(-12.0..12.0),
                false,
            ),
        };
        perturbed.in_grid(grid)
    }

    /// Input and target planes of a scan through a frame.
    fn sample(self, a: &Annotated, frame: &Frame, photometric: Option<&mut ChaCha8Rng>) -> Sample {
        let mut x = normalise(&frame.sample(a.image, a.width, a.height));
        if let Some(rng) = photometric {
            augment(rng, &mut x, frame.grid.width, &Photometric::default());
        }
        let pts: Vec<Point> = self.points(a).iter().map(|&p| frame.to_input(p)).collect();
        Sample {
            x,
            y: targets(&pts, self.sigma(frame.grid), frame.grid),
        }
    }
}

struct Sample {
    x: Vec<f32>,
    y: Vec<f32>,
}

/// Progress of a finder training.
#[derive(Debug, Clone)]
pub enum Progress {
    /// An epoch of a stage begins with this many steps.
    EpochStart {
        /// "coarse", "fine" or "sacrum".
        stage: &'static str,
        /// 1-based.
        epoch: usize,
        /// Steps in the epoch.
        steps: usize,
    },
    /// A step finished.
    Step,
    /// Member `member` of `of` finders begins training (only when there
    /// are more than one).
    Member {
        /// 1-based.
        member: usize,
        /// How many finders are trained.
        of: usize,
    },
    /// An epoch finished.
    EpochEnd {
        /// "coarse", "fine" or "sacrum".
        stage: &'static str,
        /// 1-based.
        epoch: usize,
        /// Mean training loss.
        loss: f64,
        /// Median validation point error over the T12-L5 span.
        val_error: f64,
    },
}

/// Cross-entropy of each channel's spatial softmax against its target
/// normalised to sum to 1, averaged over images and channels; a channel
/// whose point lies outside the input (an empty target) adds nothing.
pub fn heatmap_loss(logits: Tensor<4>, y: Tensor<4>) -> Tensor<1> {
    let [n, c, h, w] = logits.dims();
    let log_p = log_softmax(
        logits
            .reshape([n, c, h * w])
            .mul_scalar(crate::heatmap::LOGIT_SCALE),
        2,
    );
    let y = y.reshape([n, c, h * w]);
    let q = y.clone() / y.sum_dim(2).clamp_min(1e-6);
    (q * log_p).sum_dim(2).neg().mean()
}

fn net_config(stage: Stage, cfg: &FinderTraining) -> UNetConfig {
    let grid = stage.grid(cfg);
    UNetConfig {
        classes: stage.channels(),
        width: match stage {
            Stage::Coarse | Stage::Sacrum => cfg.coarse_width,
            Stage::Fine => cfg.width,
        },
        depth: 4,
        dropout: 0.1,
        // The share of a plane a target blob covers.
        prior: 2.0 * std::f64::consts::PI * stage.sigma(grid).powi(2) / grid.pixels() as f64,
        // Position in both directions: which vertebra a corner belongs to
        // is a matter of where it lies as much as of how it looks.
        coords: true,
        rows: true,
    }
}

/// Distance between two points over the scan's T12-L5 span (scale-free, so
/// errors of scans of any resolution can be pooled).
pub fn relative_error(found: &Point, truth: &Point, spine: &[Point]) -> f64 {
    let top = spine[aac_io::pts::index::T12_INF_POST].mid(&spine[aac_io::pts::index::T12_INF_ANT]);
    let bottom = spine[aac_io::pts::index::L5_SUP_POST].mid(&spine[aac_io::pts::index::L5_SUP_ANT]);
    found.dist(truth) / top.dist(&bottom).max(1e-9)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median relative point error of one network on exact frames.
fn stage_error(net: &UNet, stage: Stage, grid: Grid, val: &[Annotated]) -> f64 {
    let net = Inference::new(net.clone(), aac_unet::device());
    let mut errors = Vec::new();
    for chunk in val.chunks(4) {
        let frames: Vec<Frame> = chunk.iter().map(|a| stage.frame(a, grid, None)).collect();
        let inputs: Vec<Vec<f32>> = chunk
            .iter()
            .zip(&frames)
            .map(|(a, f)| normalise(&f.sample(a.image, a.width, a.height)))
            .collect();
        let refs: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
        for ((planes, a), f) in heatmaps(&net, &refs, stage.channels(), grid)
            .iter()
            .zip(chunk)
            .zip(&frames)
        {
            for (plane, truth) in planes.iter().zip(&stage.points(a)) {
                let p = f.to_image(peak(plane, 8.0, grid).at);
                errors.push(relative_error(&p, truth, a.points));
            }
        }
    }
    median(errors)
}

/// Trains one network, from fresh weights or from `init` (a model file of
/// the same network); returns its model bytes (the best epoch's).
fn train_stage(
    stage: Stage,
    cfg: &FinderTraining,
    init: Option<&[u8]>,
    (train, val): (&[Annotated], &[Annotated]),
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<u8>, LandmarkError> {
    let dev = aac_unet::device().autodiff();
    let seed = cfg.seed
        ^ match stage {
            Stage::Coarse => 0xC0A,
            Stage::Fine => 0xF1E,
            Stage::Sacrum => 0x5AC,
        };
    let net_cfg = net_config(stage, cfg);
    let grid = stage.grid(cfg);
    let mut net = match init {
        None => aac_unet::with_seed(&dev, seed, || UNet::new(&net_cfg, &dev)),
        Some(bytes) => {
            let (net, header) =
                model_file::from_bytes(bytes, &dev, std::path::Path::new("<base finder>"))
                    .map_err(|e| LandmarkError::Training(e.to_string()))?;
            if header.config != net_cfg {
                return Err(LandmarkError::Training(format!(
                    "the base finder's {} network differs from the one to train (width or grid)",
                    stage.name()
                )));
            }
            net
        }
    };
    let mut optim = AdamConfig::new().with_epsilon(1e-7).init();
    let header = |epoch: usize| UnetHeader::unthresholded(net_cfg.clone(), epoch);
    let (mut best, mut best_error) = (Vec::new(), f64::INFINITY);
    if init.is_some() && !val.is_empty() {
        // Fine-tuning keeps the starting network unless an epoch beats it
        // on the held-out scans.
        let eval = net.valid();
        best_error = stage_error(&eval, stage, grid, val);
        best = model_file::to_bytes(&eval, &header(0))
            .map_err(|e| LandmarkError::Training(e.to_string()))?;
    }
    let batch = cfg.batch.max(1);
    let epochs = match stage {
        Stage::Coarse => cfg.coarse_epochs,
        Stage::Fine => cfg.epochs,
        Stage::Sacrum => cfg.sacrum_epochs,
    };
    for epoch in 0..epochs {
        aac_unet::dropout::seed_dropout(seed ^ ((epoch as u64 + 1) << 32));
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(
            seed ^ ((epoch as u64 + 1) * 0x9E37),
        ));
        order.truncate(cfg.scans_per_epoch.max(1));
        progress(Progress::EpochStart {
            stage: stage.name(),
            epoch: epoch + 1,
            steps: order.len().div_ceil(batch),
        });
        let lr = epoch_lr(cfg.lr, epoch, epochs);
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        for chunk in order.chunks(batch * 8) {
            let samples: Vec<Sample> = chunk
                .par_iter()
                .map(|&i| {
                    let mut rng =
                        ChaCha8Rng::seed_from_u64(seed ^ ((epoch as u64) << 40) ^ (i as u64) << 8);
                    let frame = stage.frame(&train[i], grid, Some(&mut rng));
                    stage.sample(&train[i], &frame, Some(&mut rng))
                })
                .collect();
            for b in samples.chunks(batch) {
                let n = b.len();
                let xs: Vec<f32> = b.iter().flat_map(|s| s.x.iter().copied()).collect();
                let ys: Vec<f32> = b.iter().flat_map(|s| s.y.iter().copied()).collect();
                let x = Tensor::<4>::from_data(
                    TensorData::new(xs, [n, 1, grid.height, grid.width]),
                    &dev,
                );
                let y = Tensor::<4>::from_data(
                    TensorData::new(ys, [n, stage.channels(), grid.height, grid.width]),
                    &dev,
                );
                let loss = heatmap_loss(net.forward(x), y);
                let value: f32 = loss.clone().into_scalar();
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                net = optim.step(lr, net, grads);
                loss_sum += value as f64 * n as f64;
                seen += n;
                progress(Progress::Step);
            }
        }
        let eval = net.valid();
        let val_error = if val.is_empty() {
            f64::NAN
        } else {
            stage_error(&eval, stage, grid, val)
        };
        progress(Progress::EpochEnd {
            stage: stage.name(),
            epoch: epoch + 1,
            loss: loss_sum / seen.max(1) as f64,
            val_error,
        });
        // Without validation images the last epoch is kept.
        if best.is_empty() || val.is_empty() || val_error < best_error {
            best_error = val_error;
            best = model_file::to_bytes(&eval, &header(epoch + 1))
                .map_err(|e| LandmarkError::Training(e.to_string()))?;
        }
    }
    Ok(best)
}

/// Trains a finder on annotated scans (`val` picks each network's epoch and
/// measures the whole cascade); returns its bytes ([`Finder::to_bytes`]).
pub fn train_finder(
    cfg: &FinderTraining,
    train: &[Annotated],
    val: &[Annotated],
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<u8>, LandmarkError> {
    train_finder_from(cfg, None, train, val, progress)
}

/// [`train_finder`] starting both networks from those of `base` (a finder
/// written by [`Finder::to_bytes`] with the same widths and grids):
/// fine-tuning on a site's scans. Trains `cfg.members` finders, member
/// `k` from seed `cfg.seed + k` (and from the base's member `k`, or its
/// first when it has fewer), one after the other; then the sacrum-top
/// locator ([`train_locator`]), or, fine-tuning, the base's as it was.
pub fn train_finder_from(
    cfg: &FinderTraining,
    base: Option<&[u8]>,
    train: &[Annotated],
    val: &[Annotated],
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<u8>, LandmarkError> {
    cfg.check()?;
    let bases = base.map(Finder::member_bytes).transpose()?;
    let mut out = Vec::new();
    for k in 0..cfg.members {
        if cfg.members > 1 {
            progress(Progress::Member {
                member: k + 1,
                of: cfg.members,
            });
        }
        let member = FinderTraining {
            seed: cfg.seed + k as u64,
            ..cfg.clone()
        };
        let base = bases.as_ref().map(|b| b.get(k).unwrap_or(&b[0]));
        out.extend(train_one(&member, base.copied(), train, val, progress)?);
    }
    // Fine-tuning keeps the base's locator as it is (a site's scans rarely
    // say where the sacrum's top is, and a few epochs would not make one);
    // a finder trained afresh gets one where the scans do.
    match base {
        Some(base) => out.extend_from_slice(Finder::locator_bytes(base)?.unwrap_or_default()),
        None => out.extend(train_locator(cfg, train, val, progress)?),
    }
    Ok(out)
}

/// The sacrum-top locator's block ([`crate::sacrum_top::to_block`]),
/// trained on the scans whose sacrum top is known; empty when
/// fewer than [`MIN_SACRUM_SCANS`] are or its epochs are 0. (Trained by
/// [`train_finder_from`] after the finders; public for trials that add
/// one to a finder trained before.)
pub fn train_locator(
    cfg: &FinderTraining,
    train: &[Annotated],
    val: &[Annotated],
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<u8>, LandmarkError> {
    check_scans(train, val)?;
    let train: Vec<Annotated> = train
        .iter()
        .filter(|a| a.sacrum_top.is_some())
        .copied()
        .collect();
    let val: Vec<Annotated> = val
        .iter()
        .filter(|a| a.sacrum_top.is_some())
        .copied()
        .collect();
    if cfg.sacrum_epochs == 0 || train.len() < MIN_SACRUM_SCANS {
        return Ok(Vec::new());
    }
    let net = train_stage(Stage::Sacrum, cfg, None, (&train, &val), progress)?;
    Ok(crate::sacrum_top::to_block(&net))
}

/// Refuses a scan with fewer than the 20 spine points or an image whose
/// size is not its width times its height.
fn check_scans(train: &[Annotated], val: &[Annotated]) -> Result<(), LandmarkError> {
    match train
        .iter()
        .chain(val)
        .find(|a| a.points.len() < N_POINTS || a.image.len() != a.width * a.height)
    {
        Some(a) => Err(LandmarkError::Training(format!(
            "a scan of {}x{} pixels has {} points or a wrong-sized image",
            a.width,
            a.height,
            a.points.len()
        ))),
        None => Ok(()),
    }
}

/// One finder of [`train_finder_from`].
fn train_one(
    cfg: &FinderTraining,
    base: Option<&[u8]>,
    train: &[Annotated],
    val: &[Annotated],
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<u8>, LandmarkError> {
    let base = base.map(Finder::split_bytes).transpose()?;
    if train.is_empty() {
        return Err(LandmarkError::Training("no training images".into()));
    }
    check_scans(train, val)?;
    let coarse = train_stage(
        Stage::Coarse,
        cfg,
        base.as_ref().map(|b| b.1),
        (train, val),
        progress,
    )?;
    let fine = train_stage(
        Stage::Fine,
        cfg,
        base.as_ref().map(|b| b.2),
        (train, val),
        progress,
    )?;
    let mut header = FinderHeader {
        format: FORMAT.into(),
        version: VERSION,
        coarse_sigma: Stage::Coarse.sigma(Grid::FULL),
        fine_sigma: Stage::Fine.sigma(cfg.fine_grid),
        uncertain_below: DEFAULT_UNCERTAIN_BELOW,
        val_error: None,
        coarse_bytes: coarse.len(),
        fine_grid: cfg.fine_grid,
        fine_bytes: Some(fine.len()),
    };
    if !val.is_empty() {
        let finder = Finder::new(header.clone(), &coarse, &fine)?;
        let inputs: Vec<(&[f32], usize, usize)> =
            val.iter().map(|a| (a.image, a.width, a.height)).collect();
        let mut errors = Vec::new();
        for (found, a) in finder.find(&inputs).into_iter().zip(val) {
            match found {
                Ok(f) => errors.extend(
                    f.points
                        .iter()
                        .zip(a.points)
                        .map(|(p, t)| relative_error(p, t, a.points)),
                ),
                Err(_) => errors.extend(std::iter::repeat_n(1.0, N_POINTS)),
            }
        }
        errors.sort_by(f64::total_cmp);
        header.val_error = Some([
            errors[errors.len() / 2],
            errors[(errors.len() * 95 / 100).min(errors.len() - 1)],
        ]);
    }
    Ok(Finder::to_bytes(&header, &coarse, &fine))
}

/// Confidence below which a scan is flagged, on either fine grid. With
/// windows re-framed when the points are irregular ([`crate::regularity`]),
/// every wrongly named scan of the 400 held-out-style scans in
/// docs/landmarks.md lies below it on both grids (the half grid needed 0.5
/// before that).
pub const DEFAULT_UNCERTAIN_BELOW: f64 = 0.3;
