//! `aac train bundle`, `aac predict` and `aac merge`: flags -> settings ->
//! [`aac_pipeline::predict`].

use crate::training_args::UnetTrainingArgs;
use aac_landmarks::FinderTraining;
use aac_pipeline::bundle::{train_bundle as run_train_bundle, BundleConfig};
use aac_pipeline::defaults as d;
use aac_pipeline::landmarks::{find_landmarks, LandmarksConfig};
use aac_pipeline::predict::{
    merge as run_merge, predict as run_predict, MergeConfig, PredictConfig, Shard,
};
use aac_score::Threshold;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `aac train bundle`.
#[derive(Args)]
pub struct TrainBundleArgs {
    /// Raw annotated dataset.
    #[arg(long)]
    data: PathBuf,
    /// Output bundle.
    #[arg(long)]
    out: PathBuf,
    /// Fine-tune this bundle on DATA (a site's annotated scans) instead of
    /// training from scratch: its U-net, finder and shape model are the
    /// start, with a schedule for few scans (the shape model is refitted
    /// on DATA's points when they predict its aortas more than 1.5 times
    /// better; the threshold stays the base's unless 50 scans with masks
    /// are held out; with 20-49 masked scans whether to fine-tune the U-net
    /// at all is decided over 5 folds of them; docs/adapt.md).
    #[arg(long, value_name = "BASE.aac")]
    init: Option<PathBuf>,
    /// U-net training.
    #[command(flatten)]
    unet: UnetTrainingArgs,
    /// Landmark finder training.
    #[command(flatten)]
    finder: FinderArgs,
    /// Seed.
    #[arg(long, default_value_t = d::SEED)]
    seed: u64,
}

/// The landmark finder's flags of `aac train bundle`.
#[derive(Args)]
pub struct FinderArgs {
    /// Do not train a landmark finder: the bundle then scores only scans
    /// whose spine points are given (`aac predict --landmarks`).
    #[arg(long)]
    no_landmarks: bool,
    /// Epochs of the finder's fine network (the coarse one trains 3 times
    /// as many, the sacrum-top locator 1.5 times, each of --landmark-scans
    /// scans) [default: 16; 2 when fine-tuning].
    #[arg(long, conflicts_with = "quick")]
    landmark_epochs: Option<usize>,
    /// Scans per landmark-finder epoch (a fresh random subset each epoch).
    #[arg(long, default_value_t = FinderTraining::default().scans_per_epoch)]
    landmark_scans: usize,
    /// Filters at the first level of the finder's fine network (the coarse
    /// one has half as many).
    #[arg(long, default_value_t = FinderTraining::default().width)]
    landmark_width: usize,
    /// Resolution of the finder's fine network over the spine's window:
    /// `full` (128 x 256, about 0.85 mm per pixel) or `half` (64 x 128,
    /// about four times cheaper).
    #[arg(long, value_enum, default_value_t = FineGrid::default())]
    landmark_fine_grid: FineGrid,
    /// Finders trained alike, from consecutive seeds, 1-8: the first finds
    /// the points, and a scan whose levels another names differently is
    /// flagged (each costs the finder's training time again)
    /// [default: 2; 1 with --quick; the base's when fine-tuning].
    #[arg(long, conflicts_with = "quick")]
    landmark_members: Option<usize>,
}

/// The fine network's grid, as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum FineGrid {
    /// 128 x 256.
    Full,
    /// 64 x 128.
    Half,
}

impl Default for FineGrid {
    fn default() -> Self {
        if FinderTraining::default().fine_grid == aac_landmarks::Grid::HALF {
            FineGrid::Half
        } else {
            FineGrid::Full
        }
    }
}

impl std::fmt::Display for FineGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FineGrid::Full => "full",
            FineGrid::Half => "half",
        })
    }
}

impl FinderArgs {
    /// The finder's training settings (None with --no-landmarks); `quick`:
    /// the minutes-long setting of `--quick`.
    fn settings(&self, quick: bool, fine_tune: bool) -> Option<FinderTraining> {
        let epochs = if quick {
            d::QUICK_LANDMARK_EPOCHS
        } else if fine_tune {
            self.landmark_epochs.unwrap_or(d::FINETUNE_LANDMARK_EPOCHS)
        } else {
            self.landmark_epochs
                .unwrap_or(FinderTraining::default().epochs)
        };
        (!self.no_landmarks).then(|| {
            FinderTraining {
                scans_per_epoch: self.landmark_scans,
                fine_grid: match self.landmark_fine_grid {
                    FineGrid::Full => aac_landmarks::Grid::FULL,
                    FineGrid::Half => aac_landmarks::Grid::HALF,
                },
                lr: if fine_tune {
                    d::FINETUNE_LR
                } else {
                    FinderTraining::default().lr
                },
                members: if quick {
                    1
                } else {
                    self.landmark_members
                        .unwrap_or(FinderTraining::default().members)
                },
                ..FinderTraining::default()
            }
            .with_fine(epochs, self.landmark_width)
        })
    }
}

/// Runs `aac train bundle`.
pub fn train_bundle(a: TrainBundleArgs) -> Result<ExitCode> {
    let fine_tune = a.init.is_some();
    run_train_bundle(&BundleConfig {
        data: a.data,
        out: a.out,
        unet: a.unet.settings_for(fine_tune)?,
        landmarks: a.finder.settings(a.unet.quick, fine_tune),
        seed: a.seed,
        init: a.init,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `aac predict`.
#[derive(Args)]
pub struct PredictArgs {
    /// Model bundle from `aac train bundle`.
    #[arg(long)]
    model: PathBuf,
    /// Directory of raw images (PNG, TIFF, DICOM).
    #[arg(long)]
    images: PathBuf,
    /// Directory of .pts files with at least the 20 spine points. Images
    /// without a file there, or all images when this is not given, have
    /// their points found by the bundle's landmark finder.
    #[arg(long)]
    landmarks: Option<PathBuf>,
    /// Output directory (scores.csv, index.html, overlays/).
    #[arg(long)]
    out: PathBuf,
    /// Worker threads, 1-1024 (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: Option<u16>,
    /// Write a QC overlay per image.
    #[arg(long)]
    overlays: bool,
    /// Process only part K of N (1-based, stable by id), e.g. 3/10.
    #[arg(long)]
    shard: Option<Shard>,
    /// Pixel spacing in mm ("0.3" or "ROW,COL") for images that do not state
    /// it (PNG, TIFF); DICOM PixelSpacing / ImagerPixelSpacing takes
    /// precedence. Without either, ant_length_mm and post_length_mm are empty.
    #[arg(long, value_parser = parse_spacing)]
    pixel_spacing: Option<[f64; 2]>,
    /// Probability threshold in place of the one the bundle chose on its
    /// validation split: one for both walls ("0.3") or ANTERIOR,POSTERIOR
    /// ("0.2,0.3"), each above 0 and at most 1.
    #[arg(long, value_parser = Threshold::parse_per_wall)]
    threshold: Option<[Threshold; 2]>,
    /// When another run is writing into --out, wait for it to finish
    /// instead of refusing (one output folder holds one run at a time).
    #[arg(long)]
    wait: bool,
}

/// Parses `--pixel-spacing`: one positive number (square pixels) or ROW,COL.
fn parse_spacing(s: &str) -> std::result::Result<[f64; 2], String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let nums: Vec<f64> = parts
        .iter()
        .map(|p| {
            p.parse::<f64>()
                .map_err(|_| format!("'{p}' is not a number"))
        })
        .collect::<std::result::Result<_, _>>()?;
    let v = match nums[..] {
        [a] => [a, a],
        [r, c] => [r, c],
        _ => return Err("give one spacing in mm, or ROW,COL".into()),
    };
    if let Some(why) = aac_io::spacing_problem(v) {
        return Err(format!("{s}: {why}"));
    }
    Ok(v)
}

/// Runs `aac predict`.
pub fn predict(a: PredictArgs) -> Result<ExitCode> {
    run_predict(&PredictConfig {
        model: a.model,
        images: a.images,
        landmarks: a.landmarks,
        out: a.out,
        jobs: a.jobs.map(usize::from),
        overlays: a.overlays,
        shard: a.shard,
        pixel_spacing: a.pixel_spacing,
        threshold: a.threshold,
        wait: a.wait,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `aac merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// Output directories of `aac predict` (e.g. one per shard).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Merged output directory.
    #[arg(long)]
    out: PathBuf,
    /// Replace a result already in --out.
    #[arg(long)]
    force: bool,
    /// Merge unfinished inputs, or a set of shards with one missing or
    /// doubled, with a warning instead of refusing.
    #[arg(long)]
    allow_partial: bool,
    /// When another run is writing into --out, wait for it to finish
    /// instead of refusing.
    #[arg(long)]
    wait: bool,
}

/// Runs `aac merge`.
pub fn merge(a: MergeArgs) -> Result<ExitCode> {
    run_merge(&MergeConfig {
        inputs: a.inputs,
        out: a.out,
        force: a.force,
        allow_partial: a.allow_partial,
        wait: a.wait,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `aac landmarks`.
#[derive(Args)]
pub struct LandmarksArgs {
    /// Model bundle with a landmark finder (from `aac train bundle`).
    #[arg(long)]
    model: PathBuf,
    /// Directory of raw images (PNG, TIFF, DICOM).
    #[arg(long)]
    images: PathBuf,
    /// Output directory: <id>.pts (20 spine points), landmarks.csv, overlays/.
    #[arg(long)]
    out: PathBuf,
    /// Worker threads, 1-1024 (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    jobs: Option<u16>,
    /// Write an overlay of the found points per image.
    #[arg(long)]
    overlays: bool,
    /// When another run is writing into --out, wait for it to finish
    /// instead of refusing.
    #[arg(long)]
    wait: bool,
}

/// Runs `aac landmarks`.
pub fn landmarks(a: LandmarksArgs) -> Result<ExitCode> {
    find_landmarks(&LandmarksConfig {
        model: a.model,
        images: a.images,
        out: a.out,
        jobs: a.jobs.map(usize::from),
        overlays: a.overlays,
        wait: a.wait,
    })?;
    Ok(ExitCode::SUCCESS)
}
