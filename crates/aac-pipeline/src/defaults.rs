//! The one set of training defaults shared by `aac eval`, `aac train unet`
//! and `aac train bundle` (the CLI's flags take their defaults from here).
//! `aac demo` states its own, shorter budget.

/// U-net filters at the first level (doubling per level).
pub const UNET_WIDTH: usize = 8;
/// U-net epochs: 24 x 1 warp, 15-21 minutes on 2 cores for the 1,000
/// `random`-style images of the README's recipe; validation flattens from
/// epoch 21. Against 8 and 16 epochs it scored every held-out style better
/// (AAC24 MAE `lunar` 0.87 / 0.86 -> 0.69, `hologic` 0.76 / 0.67 -> 0.66,
/// `legacy` 0.71 / 0.62 -> 0.58; docs/segmentation.md).
pub const EPOCHS: usize = 24;
/// U-net epochs of `--quick`: a minutes-long run for checking data and
/// flags (about 2 minutes for 1,000 images on 2 cores), not converged.
pub const QUICK_EPOCHS: usize = 3;
/// Fine-network epochs of the landmark finder under `--quick` (the coarse
/// network trains 3 times as many).
pub const QUICK_LANDMARK_EPOCHS: usize = 2;
/// Augmented warps per training image per epoch (the paper: 30, on a GPU).
/// More distinct images beat more warps of the same ones: 600 images x 1
/// warp scored held-out styles better than 300 x 2 in the same time
/// (docs/segmentation.md, held-out-style table).
pub const AUGMENT: usize = 1;
/// Adam learning rate at the first epoch, decayed by a cosine to 5% by the
/// last (the paper: 1e-4 over ~4700 steps; a CPU budget of a few hundred
/// steps needs a larger one).
pub const LR: f64 = 2e-3;
/// The kept U-net is the mean of the last this many epochs' weights
/// (checkpoint averaging; 0 or 1: the best single epoch on validation).
/// Off: averaging the last 2-4 epochs scored held-out styles no better
/// than the best epoch (docs/segmentation.md).
pub const AVERAGE_EPOCHS: usize = 1;
/// U-net training batch size.
pub const BATCH: usize = 4;
/// Seed of the fold assignment, the validation split and training.
pub const SEED: u64 = 1;
/// Cross-validation folds.
pub const FOLDS: usize = 5;
/// Methods `aac eval` compares.
pub const METHODS: [crate::eval::Method; 3] = [
    crate::eval::Method::Rf,
    crate::eval::Method::Unet,
    crate::eval::Method::Unet2,
];
/// Random-forest training patches.
pub const RF_PATCHES: usize = 10_000;
/// Random-forest trees.
pub const RF_TREES: usize = 10;
/// Random scale/rotation transforms per random-forest patch.
pub const RF_TRANSFORMS: usize = 10;
/// Fraction of a training set held out for validation (threshold, best epoch).
pub const VAL_FRACTION: f64 = 0.2;
/// Weight of the soft Dice term in the U-net's training loss (cross-entropy
/// + this x soft Dice); 0 trains on cross-entropy alone.
pub const DICE_WEIGHT: f64 = 0.0;
/// Fraction of the shape variance the shape model's kept modes explain.
pub const SHAPE_VARIANCE: f64 = 0.98;
/// Folds of the shape model's internal cross-validation, which calibrates
/// its aorta uncertainty (`aac_shape::ShapeModel::fit`).
pub const SHAPE_CV_FOLDS: usize = 5;
/// Levels of the U-net (pooling steps).
pub const UNET_DEPTH: usize = 4;
/// Dropout probability in the U-net's contracting path (the paper: 0.5).
pub const UNET_DROPOUT: f64 = 0.5;
/// The calcified-pixel frequency the U-net's output bias starts at (its
/// log-odds), so the first epochs are not spent learning that almost
/// every pixel is background.
pub const UNET_PRIOR: f64 = 0.005;
/// U-net epochs of fine-tuning a bundle on a site's scans (`aac train
/// bundle --init`): a few scans overfit in more.
pub const FINETUNE_EPOCHS: usize = 8;
/// Learning rate of fine-tuning (U-net and finder): a quarter of [`LR`], so
/// the base's weights are adjusted rather than replaced.
pub const FINETUNE_LR: f64 = 5e-4;
/// Fine-network epochs of the finder when fine-tuning (the coarse network
/// trains 3 times as many).
pub const FINETUNE_LANDMARK_EPOCHS: usize = 2;
/// Fewest scans fine-tuning runs on.
pub const FINETUNE_MIN_SCANS: usize = 5;
/// Fewest scans of which fine-tuning holds some out to choose the epoch
/// (and, with enough, the threshold); with fewer, every scan trains and the
/// last epoch is kept.
pub const FINETUNE_MIN_FOR_VALIDATION: usize = 10;
/// Fewest held-out scans with masks on which fine-tuning chooses a
/// threshold of its own; with fewer it keeps the base's and chooses only the epoch. On
/// `hologic` and `lunar` (10-100 site scans, so 2-20 held out) the chosen
/// thresholds ran 0.2-0.8 and every fine-tuned bundle that moved from the
/// base's 0.3 scored worse than at 0.3 (MAE 1.08 against 0.58 with 10 scans,
/// 0.59 against 0.51 with 100: docs/adapt.md).
pub const FINETUNE_MIN_FOR_THRESHOLD: usize = 50;
/// Folds of the masked site scans over which fine-tuning chooses how many
/// epochs the U-net trains, when the threshold stays the base's and some
/// scans are held out (docs/adapt.md: a few held-out scans alone chose
/// early epochs by noise).
pub const FINETUNE_FOLDS: usize = 5;
/// Fewest masked site scans for the folds of [`FINETUNE_FOLDS`] (4 scans a
/// fold): with 10 (folds of 2) they chose 1-7 epochs and did worse than
/// the held-out pair (docs/adapt.md), so fewer keep the held-out choice.
pub const FINETUNE_MIN_FOR_FOLDS: usize = 20;
/// Held-out masked scans from which the held-out choice of the U-net's
/// epoch is kept instead of the folds: with 10 or 20 held out (50 or 100
/// site scans) it did as well or better (docs/adapt.md: MAE 0.49-0.56
/// against 0.49-0.53 with 50, 0.49-0.52 against 0.54-0.66 with 100).
pub const FINETUNE_HELD_OUT_ENOUGH: usize = 10;
