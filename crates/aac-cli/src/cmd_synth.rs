//! `aac synth` and `aac montage`: flags -> [`aac_pipeline::synth`].

use aac_pipeline::synth::{montage as run_montage, synth_cohort, MontageOptions};
use aac_synth::{CohortOptions, Factor, Factors, Style};
use anyhow::{anyhow, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `aac synth`.
#[derive(Args)]
pub struct SynthArgs {
    /// Number of images.
    #[arg(long, default_value_t = 20)]
    n: usize,
    /// Random seed (same seed, same cohort).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output dataset root.
    #[arg(long)]
    out: PathBuf,
    /// Scanner/site style: `random` draws every image's look, anatomy and
    /// calcification from wide ranges (domain randomisation, for training);
    /// the named styles imitate one scanner each (for testing on a look not
    /// trained on); `ectatic` is `hologic`'s look over an anatomy beyond
    /// the training ranges.
    #[arg(long, default_value = Style::DEFAULT,
          value_parser = clap::builder::PossibleValuesParser::new(Style::NAMES))]
    style: String,
    /// Factors of real scans to draw on top of the style's, comma-separated
    /// (`all` for every one): ribs, bowel_gas, iliac_crest,
    /// posterior_elements, fractures, trabecular, double_endplates,
    /// degeneration, burned_in, edge_enhanced, eight_bit, sacral_segments,
    /// attached_ribs, transitional, neural_arches, l1l4_crop, fused_sacrum,
    /// aortic_shadow (docs/synthetic.md).
    #[arg(long, value_parser = Factor::parse_list)]
    with: Option<Factors>,
    /// Factors to leave out of the style's, comma-separated (e.g. to leave
    /// one out of training and test on it).
    #[arg(long, value_parser = Factor::parse_list)]
    without: Option<Factors>,
    /// Write images as DICOM (.dcm) instead of 16-bit PNG.
    #[arg(long)]
    dicom: bool,
    /// Every image has some calcification (like the paper's 195-image cohort).
    #[arg(long)]
    calcified_only: bool,
    /// Replace the dataset already in --out (its images/, landmarks/, masks/,
    /// masks2/, scores.csv and truth.json; nothing else is touched).
    #[arg(long)]
    force: bool,
}

/// Runs `aac synth`.
pub fn synth(a: SynthArgs) -> Result<ExitCode> {
    let mut style = Style::by_name(&a.style).ok_or_else(|| {
        anyhow!(
            "unknown style {:?}; choose one of {}",
            a.style,
            Style::NAMES.join(", ")
        )
    })?;
    style.factors.extend(a.with.into_iter().flatten());
    for f in a.without.iter().flatten() {
        style.factors.remove(f);
    }
    let opts = CohortOptions {
        n: a.n,
        seed: a.seed,
        style,
        dicom: a.dicom,
        calcified_only: a.calcified_only,
    };
    let t0 = Instant::now();
    let summary = synth_cohort(&a.out, &opts, a.force)?;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} images to {} in {:.1} s ({:.1} images/s); {} with AAC24 = 0, mean AAC24 {:.2}",
        summary.n,
        a.out.display(),
        secs,
        summary.n as f64 / secs,
        summary.zero,
        summary.mean_aac24
    );
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `aac montage`.
#[derive(Args)]
pub struct MontageArgs {
    /// Dataset root.
    #[arg(long)]
    data: PathBuf,
    /// Output PNG.
    #[arg(long)]
    out: PathBuf,
    /// Number of images.
    #[arg(long, default_value_t = 6)]
    n: usize,
    /// Height of each tile in pixels.
    #[arg(long, default_value_t = 420)]
    height: u32,
    /// The images alone, without masks and landmarks drawn.
    #[arg(long)]
    plain: bool,
    /// Only the lumbar spine and aorta (T12 to the sacrum), at the tile's
    /// height: the bodies at a size where their texture shows.
    #[arg(long)]
    lumbar: bool,
}

/// Runs `aac montage`.
pub fn montage(a: MontageArgs) -> Result<ExitCode> {
    let o = MontageOptions {
        n: a.n,
        height: a.height,
        overlays: !a.plain,
        lumbar: a.lumbar,
    };
    run_montage(&a.data, &o, &a.out)?;
    println!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
