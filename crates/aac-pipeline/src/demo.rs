//! `aac demo`: the paper's experiment on a synthetic cohort like its own
//! (195 calcified scans of the `hologic` style), at one of three budgets.
//! The budgets are stated here, beside [`crate::defaults`] they differ from.

use crate::eval::EvalConfig;
use aac_synth::{CohortOptions, Style};
use std::path::PathBuf;

/// Scans of the paper's cohort.
pub const PAPER_COHORT: usize = 195;
/// Scans of `--quick`.
pub const QUICK_COHORT: usize = 40;
/// U-net epochs of the standard demo: about 6 minutes on 2 cores in all.
pub const EPOCHS: usize = 5;

/// How much a demo spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoBudget {
    /// 40 scans, 2 folds, 10 epochs, a small forest: about a minute on 2
    /// cores.
    Quick,
    /// 195 scans, 5 folds, the training defaults but [`EPOCHS`] epochs.
    Standard,
    /// 195 scans with the paper's network and schedule (width 64, 30 warps
    /// per image, 5 epochs, lr 1e-4): meant for a GPU.
    Paper,
}

/// The synthetic cohort of a demo.
pub fn cohort_options(budget: DemoBudget, seed: u64) -> CohortOptions {
    CohortOptions {
        n: match budget {
            DemoBudget::Quick => QUICK_COHORT,
            DemoBudget::Standard | DemoBudget::Paper => PAPER_COHORT,
        },
        seed,
        style: Style::hologic(),
        dicom: false,
        calcified_only: true,
    }
}

/// The evaluation of a demo over the cohort in `data`, its report in `out`.
pub fn eval_config(budget: DemoBudget, data: PathBuf, out: PathBuf, seed: u64) -> EvalConfig {
    let mut e = EvalConfig::new(data, out);
    e.seed = seed;
    e.unet.epochs = EPOCHS;
    match budget {
        DemoBudget::Standard => {}
        DemoBudget::Quick => {
            e.folds = 2;
            e.unet.epochs = 10;
            e.rf_patches = 2000;
            e.rf_transforms = 3;
        }
        DemoBudget::Paper => {
            e.unet.width = 64;
            e.unet.augment = 30;
            e.unet.lr = 1e-4;
        }
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_demo_differs_from_the_training_defaults_in_epochs_only() {
        let d = eval_config(DemoBudget::Standard, "d".into(), "o".into(), 1);
        let mut t = EvalConfig::new("d".into(), "o".into());
        t.unet.epochs = EPOCHS;
        assert_eq!(format!("{d:?}"), format!("{t:?}"));
        let q = eval_config(DemoBudget::Quick, "d".into(), "o".into(), 1);
        assert_eq!((q.folds, q.unet.epochs), (2, 10));
        assert_eq!(cohort_options(DemoBudget::Quick, 1).n, QUICK_COHORT);
        let p = eval_config(DemoBudget::Paper, "d".into(), "o".into(), 1);
        assert_eq!((p.unet.width, p.unet.augment, p.unet.epochs), (64, 30, 5));
    }
}
