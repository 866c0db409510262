//! The one set of training defaults shared by `aac eval`, `aac train unet`
//! and `aac train bundle` (the CLI's flags take their defaults from here).
//! `aac demo` states its own, shorter budget.

/// U-net filters at the first level (doubling per level).
pub const UNET_WIDTH: usize = 8;
/// U-net epochs: 8 x 2 warps, about 6 minutes on 2 cores for 300 images;
/// the shortest measured to keep per-wall totals near the truth on a held-out
/// style (docs/predict.md). 3 x 1 undercounted the anterior wall by ~20%.
pub const EPOCHS: usize = 8;
/// Augmented warps per training image per epoch (the paper: 30, on a GPU).
pub const AUGMENT: usize = 2;
/// Adam learning rate at the first epoch, decayed by a cosine to 5% by the
/// last (the paper: 1e-4 over ~4700 steps; a CPU budget of a few hundred
/// steps needs a larger one).
pub const LR: f64 = 2e-3;
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
