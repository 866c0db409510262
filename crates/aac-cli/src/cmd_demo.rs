//! `aac demo`: generate a synthetic cohort like the paper's and evaluate on it.

use crate::headline::print_headline;
use aac_pipeline::demo::{cohort_options, eval_config, DemoBudget};
use aac_pipeline::eval::run_eval;
use aac_pipeline::progress::bar;
use aac_synth::write_cohort;
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
    let budget = match (a.quick, a.paper) {
        (true, _) => DemoBudget::Quick,
        (false, true) => DemoBudget::Paper,
        (false, false) => DemoBudget::Standard,
    };
    let data = a.out.join("data");
    let opts = cohort_options(budget, a.seed);
    let pb = bar(opts.n as u64, "synth");
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
    let e = eval_config(budget, data, a.out.join("report"), a.seed);
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
