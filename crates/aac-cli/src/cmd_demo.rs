//! `aac demo`: generate a synthetic cohort like the paper's and evaluate on it.

use crate::headline::print_headline;
use aac_pipeline::eval::{run_eval, EvalConfig};
use aac_pipeline::progress::bar;
use aac_pipeline::seg::UnetTraining;
use aac_synth::{write_cohort, CohortOptions, Style};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `aac demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Output directory (cohort in DIR/data, report in DIR/report).
    #[arg(long, default_value = "demo")]
    out: PathBuf,
    /// A fast run (40 images, 2 folds, small forest): about a minute on 2 cores.
    #[arg(long, conflicts_with = "paper")]
    quick: bool,
    /// The paper's full settings (width 64, 30 warps per image, 5 epochs, lr 1e-4); meant for a GPU.
    #[arg(long)]
    paper: bool,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs `aac demo`.
pub fn demo(a: DemoArgs) -> Result<ExitCode> {
    let t0 = Instant::now();
    let n = if a.quick { 40 } else { 195 };
    let data = a.out.join("data");
    let opts = CohortOptions {
        n,
        seed: a.seed,
        style: Style::hologic(),
        dicom: false,
        calcified_only: true,
    };
    let pb = bar(n as u64, "synth");
    // A quick demo after a full one must not leave the full one's images.
    aac_pipeline::synth::remove_dataset_entries(&data)?;
    let summary = write_cohort(&data, &opts, &|| pb.inc(1))?;
    pb.finish_and_clear();
    let t_synth = t0.elapsed().as_secs_f64();
    eprintln!(
        "synth: {} calcified images in {t_synth:.1} s (mean AAC24 {:.1}) -> {}",
        summary.n,
        summary.mean_aac24,
        data.display()
    );
    let mut e = EvalConfig {
        data: data.clone(),
        out: a.out.join("report"),
        folds: 5,
        seed: a.seed,
        methods: aac_pipeline::defaults::METHODS.to_vec(),
        unet: UnetTraining::new()
            .with_width(8)
            .with_epochs(5)
            .with_augment(1)
            .with_lr(2e-3),
        rf_patches: 10_000,
        rf_trees: 10,
        rf_transforms: 10,
    };
    if a.quick {
        e.folds = 2;
        e.unet.width = 8;
        e.unet.epochs = 10;
        e.unet.augment = 1;
        e.rf_patches = 2000;
        e.rf_transforms = 3;
    }
    if a.paper {
        e.unet.width = 64;
        e.unet.epochs = 5;
        e.unet.augment = 30;
        e.unet.lr = 1e-4;
    }
    let t1 = Instant::now();
    let out = run_eval(&e)?;
    eprintln!(
        "eval: {:.0} s; total {:.0} s",
        t1.elapsed().as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    print_headline(&out.metrics);
    println!("report: {}", out.index.display());
    Ok(ExitCode::SUCCESS)
}
