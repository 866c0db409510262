//! `aac train bundle`: the shape model, the 2-class U-net (threshold and
//! epoch chosen on a validation split) and the landmark finder, trained on
//! one annotated dataset and written as one bundle file.

use super::{BundleHeader, LandmarkSection};
use crate::dataset_util::load_raw_cases;
use crate::dataset_util::split_ids;
use crate::unet_training::{train_unet_with_progress, unet_config};
use aac_io::{Dataset, Point};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Settings of `aac train bundle`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleConfig {
    /// Raw annotated dataset.
    pub data: PathBuf,
    /// Output bundle.
    pub out: PathBuf,
    /// U-net training.
    pub unet: crate::unet_training::UnetTraining,
    /// Landmark finder training (None: the bundle has no finder).
    pub landmarks: Option<aac_landmarks::FinderTraining>,
    /// Seed.
    pub seed: u64,
    /// A bundle to fine-tune on `data` instead of training from scratch
    /// ([`super::finetune`]).
    #[serde(default)]
    pub init: Option<PathBuf>,
}

impl BundleConfig {
    /// The default settings ([`crate::defaults`]) for a dataset and an output.
    pub fn new(data: PathBuf, out: PathBuf) -> Self {
        use crate::defaults as d;
        BundleConfig {
            data,
            out,
            unet: crate::unet_training::UnetTraining::new(),
            landmarks: Some(aac_landmarks::FinderTraining::default()),
            seed: d::SEED,
            init: None,
        }
    }
}

/// Trains a bundle: the shape model and a 2-class U-net on the dataset, the
/// threshold and epoch chosen on a validation split (`aac train bundle`).
pub fn train_bundle(a: &BundleConfig) -> Result<()> {
    if let Some(base) = &a.init {
        return super::finetune::fine_tune(a, base);
    }
    let ds = Dataset::open(&a.data)?;
    let ids = ds.ids();
    if ids.len() < 5 {
        bail!(
            "{}: at least 5 annotated images are needed",
            a.data.display()
        );
    }
    a.unet.check()?;
    if let Some(t) = &a.landmarks {
        t.check()?;
    }
    // Found now, not after every epoch.
    aac_io::check_writable(&a.out).context("--out")?;
    let all = load_raw_cases(&ds, &ids, "masks")?;
    // Read before hours of training, not after.
    let sacrum_tops = match &a.landmarks {
        Some(_) => crate::dataset_util::sacrum_tops(&ds)?,
        None => Default::default(),
    };
    if all.iter().all(|c| c.mask.as_raw().iter().all(|&v| v == 0)) {
        bail!(
            "{}: no mask has a calcified pixel, so the U-net has nothing to learn to find \
             (and its validation Dice would mean nothing); annotate calcified scans too",
            a.data.display()
        );
    }
    let shapes: Vec<Vec<Point>> = all.iter().map(|c| c.landmarks.clone()).collect();
    let ssm = aac_shape::ShapeModel::fit(
        &shapes,
        crate::defaults::SHAPE_VARIANCE,
        crate::defaults::SHAPE_CV_FOLDS,
    )?;
    let (train_ids, val_ids) = split_ids(&ids, crate::defaults::VAL_FRACTION);
    let pick = |s: &[String]| {
        all.iter()
            .filter(|c| s.contains(&c.id))
            .cloned()
            .collect::<Vec<_>>()
    };
    let cfg = unet_config(2, &a.unet, a.seed);
    let (train_cases, val_cases) = (pick(&train_ids), pick(&val_ids));
    let locator = sacrum_tops.len() >= aac_landmarks::train::MIN_SACRUM_SCANS;
    tracing::info!(
        "{}",
        training_plan(a, train_cases.len(), val_cases.len(), locator)
    );
    let trained = train_unet_with_progress(&cfg, &train_cases, &val_cases, &ssm, "U-net")?;
    let mut payload = trained.model.clone();
    let landmarks = match &a.landmarks {
        Some(t) => {
            let mut t = aac_landmarks::FinderTraining {
                seed: a.seed,
                ..t.clone()
            };
            let finder = crate::landmarks::train_finder_with_progress(
                &t,
                None,
                (&train_cases, &val_cases),
                &sacrum_tops,
            )?;
            // The header says what the bundle holds.
            if aac_landmarks::Finder::locator_bytes(&finder)?.is_none() {
                t.sacrum_epochs = 0;
            }
            payload.extend_from_slice(&finder);
            Some(LandmarkSection {
                unet_bytes: trained.model.len(),
                training: t,
            })
        }
        None => None,
    };
    let header = BundleHeader {
        format: "aac-bundle".into(),
        version: super::VERSION,
        aac_version: env!("CARGO_PKG_VERSION").into(),
        created_unix: super::now_unix(),
        data_hash: data_hash(&all),
        n_images: ids.len(),
        val_dsc: trained.header.val_dice,
        threshold: trained.header.threshold,
        ssm,
        training: Some(a.unet.clone()),
        landmarks,
        wall_thresholds: None,
        length_scales: None,
        calibration: None,
        fine_tuned: None,
    };
    super::save(&a.out, &header, &payload)?;
    tracing::info!(
        "wrote {} (trained on {} images, validation Dice {}, threshold {:.1})",
        a.out.display(),
        ids.len(),
        header
            .val_dsc
            .map(|d| format!("{d:.3}"))
            .unwrap_or("-".into()),
        header.threshold
    );
    Ok(())
}

/// The stages ahead, as the first log line of a training says them.
fn training_plan(a: &BundleConfig, train: usize, val: usize, locator: bool) -> String {
    let unet = format!(
        "training the U-net ({} epochs x {} warp on {train} scans, {val} for validation)",
        a.unet.epochs, a.unet.augment
    );
    match &a.landmarks {
        Some(f) => format!(
            "{unet}, then {} ({} coarse + {} fine epochs{}){}; each stage logs its ETA per epoch",
            if f.members == 1 {
                "1 landmark finder".to_string()
            } else {
                format!("{} landmark finders", f.members)
            },
            f.coarse_epochs,
            f.epochs,
            if f.members == 1 { "" } else { " each" },
            if f.sacrum_epochs > 0 && locator {
                format!(" and the sacrum-top locator ({} epochs)", f.sacrum_epochs)
            } else {
                String::new()
            }
        ),
        None => format!("{unet}; it logs its ETA per epoch"),
    }
}

/// FNV-1a over the ids, landmarks and masks of a training set: its
/// fingerprint in a bundle's header.
pub(super) fn data_hash(cases: &[aac_unet::train::RawCase]) -> String {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for c in cases {
        h = super::fnv1a(c.id.as_bytes(), h);
        for p in &c.landmarks {
            h = super::fnv1a(&p.x.to_le_bytes(), h);
            h = super::fnv1a(&p.y.to_le_bytes(), h);
        }
        h = super::fnv1a(c.mask.as_raw(), h);
    }
    format!("{h:016x}")
}
