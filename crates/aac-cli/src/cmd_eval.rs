//! `aac eval`: flags -> [`EvalConfig`] -> [`aac_pipeline::eval::run_eval`].

use crate::headline::print_headline;
use crate::training_args::UnetTrainingArgs;
use aac_pipeline::defaults as d;
use aac_pipeline::eval::{run_eval, EvalConfig, Method};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// `--methods` values.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum MethodArg {
    /// The Haar-feature random forest (the paper's baseline).
    Rf,
    /// The binary U-net.
    Unet,
    /// The 2-class (anterior/posterior wall) U-net.
    Unet2,
}

impl MethodArg {
    fn method(self) -> Method {
        match self {
            MethodArg::Rf => Method::Rf,
            MethodArg::Unet => Method::Unet,
            MethodArg::Unet2 => Method::Unet2,
        }
    }
}

impl std::fmt::Display for MethodArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.method().name())
    }
}

/// Arguments of `aac eval`.
#[derive(Args, Clone)]
pub struct EvalArgs {
    /// Raw annotated dataset (images, 30-point landmarks, masks; optional masks2, scores.csv).
    #[arg(long)]
    pub data: PathBuf,
    /// Report directory.
    #[arg(long)]
    pub out: PathBuf,
    /// Number of folds.
    #[arg(long, default_value_t = d::FOLDS)]
    pub folds: usize,
    /// Seed (fold assignment, training).
    #[arg(long, default_value_t = d::SEED)]
    pub seed: u64,
    /// Methods compared, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [MethodArg::Rf, MethodArg::Unet, MethodArg::Unet2])]
    pub methods: Vec<MethodArg>,
    /// U-net training.
    #[command(flatten)]
    pub unet: UnetTrainingArgs,
    /// Random-forest training patches.
    #[arg(long, default_value_t = d::RF_PATCHES)]
    pub rf_patches: usize,
    /// Random-forest trees.
    #[arg(long, default_value_t = d::RF_TREES)]
    pub rf_trees: usize,
    /// Random transforms per patch.
    #[arg(long, default_value_t = d::RF_TRANSFORMS)]
    pub rf_transforms: usize,
}

impl EvalArgs {
    /// The settings these flags ask for.
    pub fn config(&self) -> Result<EvalConfig> {
        Ok(EvalConfig {
            data: self.data.clone(),
            out: self.out.clone(),
            folds: self.folds,
            seed: self.seed,
            methods: self.methods.iter().map(|m| m.method()).collect(),
            unet: self.unet.settings()?,
            rf_patches: self.rf_patches,
            rf_trees: self.rf_trees,
            rf_transforms: self.rf_transforms,
        })
    }
}

/// Runs `aac eval`.
pub fn eval(a: EvalArgs) -> Result<ExitCode> {
    let out = run_eval(&a.config()?)?;
    print_headline(&out.metrics);
    println!("report: {}", out.index.display());
    Ok(ExitCode::SUCCESS)
}
