//! `aac train bundle --init BASE.aac`: fine-tuning a bundle on a site's
//! annotated scans. The U-net and the landmark finder start from the base's
//! weights and train with a schedule for few scans (fewer epochs, a lower
//! learning rate: [`crate::defaults::FINETUNE_EPOCHS`] and
//! [`crate::defaults::FINETUNE_LR`] unless given); scans without a mask
//! train the finder only. The shape model is the base's unless the site's
//! own points predict its aortas clearly better ([`super::shape_choice`]).

use super::train::{data_hash, BundleConfig};
use super::{BundleHeader, LandmarkSection};
use crate::dataset_util::split_ids;
use crate::defaults as d;
use crate::unet_training::{train_unet_with_progress, unet_config};
use aac_io::Dataset;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// What a fine-tuned bundle records of how it was made.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FineTuneRecord {
    /// Checksum of the base bundle.
    pub base_checksum: String,
    /// The site's scans (with points).
    pub site_scans: usize,
    /// Of them, those with a mask (the U-net's).
    pub with_masks: usize,
    /// Fingerprint of the site's data (ids, points, masks).
    pub site_data_hash: String,
    /// Scans held out to choose the epochs (and, with enough of them, the
    /// threshold; 0: none, the last epoch kept).
    pub validation_scans: usize,
    /// Whether the U-net was trained (false: too few masks, the base's kept).
    pub unet_trained: bool,
    /// Whether the U-net's threshold was chosen on the held-out scans
    /// (false: the base's kept, because fewer than
    /// [`crate::defaults::FINETUNE_MIN_FOR_THRESHOLD`] scans with masks were
    /// held out or the U-net was not trained). None in bundles of before
    /// 0.8.0, which chose one whenever the U-net was trained.
    #[serde(default)]
    pub threshold_chosen: Option<bool>,
    /// Whether the finder was trained.
    pub finder_trained: bool,
    /// How many fine-tuning epochs the U-net trained on every masked site
    /// scan, chosen over `unet_folds` folds of them (0: the base's network
    /// was kept); None where the epoch was chosen on the held-out scans
    /// alone (bundles of before 0.11.1, fewer than
    /// [`crate::defaults::FINETUNE_MIN_FOR_FOLDS`] masked site scans, or
    /// [`crate::defaults::FINETUNE_HELD_OUT_ENOUGH`] or more held out).
    #[serde(default)]
    pub unet_epochs: Option<usize>,
    /// The folds `unet_epochs` was chosen over.
    #[serde(default)]
    pub unet_folds: Option<usize>,
    /// Whether the shape model was refitted on the site's points, and the
    /// errors that decided it (absent in bundles of before 0.7.0, which
    /// always kept the base's).
    #[serde(default)]
    pub shape_model: Option<super::shape_choice::ShapeChoice>,
}

/// Whether `held_out_masked` scans with masks are enough to choose a
/// threshold on ([`crate::defaults::FINETUNE_MIN_FOR_THRESHOLD`]).
fn chooses_threshold(held_out_masked: usize) -> bool {
    held_out_masked >= d::FINETUNE_MIN_FOR_THRESHOLD
}

/// What the log says of the U-net kept after fine-tuning for `epochs`
/// epochs with `held_out` masked site scans held out to choose by: which
/// epoch (the base's is epoch 0) and how little a few scans can tell.
/// `kept` is the kept network's epoch and `averaged` how many epochs' mean
/// it is (the model header's `epoch` and `averaged`).
fn kept_epoch_message(kept: usize, averaged: usize, epochs: usize, held_out: usize) -> String {
    if averaged >= 2 {
        format!(
            "the U-net kept is the mean of fine-tuning epochs {}-{kept}",
            kept + 1 - averaged
        )
    } else if held_out == 0 {
        format!("the U-net of the last fine-tuning epoch ({epochs}) is kept: no site scans with masks were held out to choose by")
    } else if kept == 0 {
        format!("the base's U-net is kept: no fine-tuning epoch scored better on the {held_out} held-out site scans with masks")
    } else {
        format!(
            "the U-net of fine-tuning epoch {kept} of {epochs} is kept: it scored best on the {held_out} held-out site scans with masks, the base's (epoch 0) among the candidates; chosen on few scans, compare it with the base on scans of your own (docs/adapt.md)"
        )
    }
}

/// Validation scores per fine-tuning epoch (index 0: the starting
/// network), summed over `folds` folds of `cases`: each fold's scans held
/// out in turn while the others train with `cfg`.
fn fold_scores(
    cfg: &aac_unet::train::TrainConfig,
    cases: &[aac_unet::train::RawCase],
    ssm: &aac_shape::ShapeModel,
    folds: usize,
) -> Result<Vec<f64>> {
    let mut sums = vec![0.0; cfg.epochs + 1];
    for f in 0..folds {
        let (val, train): (Vec<_>, Vec<_>) =
            cases.iter().enumerate().partition(|(i, _)| i % folds == f);
        let strip = |v: Vec<(usize, &aac_unet::train::RawCase)>| {
            v.into_iter().map(|(_, c)| c.clone()).collect::<Vec<_>>()
        };
        let label = format!("fine-tune fold {}/{folds}", f + 1);
        let t = train_unet_with_progress(cfg, &strip(train), &strip(val), ssm, &label)?;
        sums[0] += t.start_score.unwrap_or(f64::NEG_INFINITY);
        for log in &t.logs {
            sums[log.epoch] += log.val_score;
        }
    }
    Ok(sums)
}

/// The number of epochs to fine-tune for: the whole schedule when its last
/// epoch's summed fold score beats the starting network's, else 0 (the
/// base kept). An epoch partway through the schedule is not a candidate:
/// chosen on folds of a few scans, such epochs (1 or 2 of 8, the learning
/// rate still high) read worse on new scans than the schedule's end
/// (docs/adapt.md).
fn best_epoch(scores: &[f64]) -> usize {
    let last = scores.len() - 1;
    if scores[last] > scores[0] {
        last
    } else {
        0
    }
}

/// What the log says of the choice made over folds.
fn cross_validated_message(scores: &[f64], epochs: usize, folds: usize, scans: usize) -> String {
    let mean = |e: usize| scores[e] / folds as f64;
    let last = scores.len() - 1;
    let how = format!(
        "over {folds} folds of the {scans} site scans with masks, fine-tuning's last epoch scored {:.3} (mean selection score), the base's network {:.3}",
        mean(last),
        mean(0)
    );
    if epochs == 0 {
        format!("the base's U-net is kept: {how}")
    } else {
        format!("the U-net fine-tunes on all {scans} site scans with masks for its {epochs} epochs: {how}")
    }
}

/// Fine-tunes the bundle at `base_path` on `a.data` and writes `a.out`.
pub(super) fn fine_tune(a: &BundleConfig, base_path: &Path) -> Result<()> {
    let base = super::load(base_path).context("--init")?;
    let (unet_bytes, finder_bytes) = super::network_bytes(base_path, &base.header)?;
    let ds = Dataset::open(&a.data)?;
    let ids = ds.ids();
    if ids.len() < d::FINETUNE_MIN_SCANS {
        bail!(
            "{}: {} annotated scans; fine-tuning needs at least {}",
            a.data.display(),
            ids.len(),
            d::FINETUNE_MIN_SCANS
        );
    }
    a.unet.check()?;
    aac_io::check_writable(&a.out).context("--out")?;
    let site = crate::dataset_util::load_raw_cases_some_masked(&ds, &ids, "masks")?;
    let with_masks = site.iter().filter(|(_, m)| *m).count();
    let calcified = site
        .iter()
        .any(|(c, m)| *m && c.mask.as_raw().iter().any(|&v| v > 0));
    let train_unet = with_masks >= 2 && calcified;
    let train_finder = finder_bytes.is_some() && a.landmarks.is_some();
    if !train_unet && !train_finder {
        bail!(
            "{}: nothing to fine-tune: the U-net needs at least 2 scans with masks, one of them calcified ({} with masks), and the finder needs a base with a finder and no --no-landmarks",
            a.data.display(),
            with_masks
        );
    }
    let (train_ids, val_ids) = if ids.len() >= d::FINETUNE_MIN_FOR_VALIDATION {
        split_ids(&ids, d::VAL_FRACTION)
    } else {
        tracing::warn!(
            "{} scans: all of them train, none is held out, and the last epoch is kept (hold-out from {})",
            ids.len(),
            d::FINETUNE_MIN_FOR_VALIDATION
        );
        (ids.clone(), Vec::new())
    };
    let pick = |s: &[String], masked: bool| {
        site.iter()
            .filter(|(c, m)| s.contains(&c.id) && (*m || !masked))
            .map(|(c, _)| c.clone())
            .collect::<Vec<_>>()
    };
    let site_shapes: Vec<Vec<aac_io::Point>> =
        site.iter().map(|(c, _)| c.landmarks.clone()).collect();
    let (ssm, shape_choice) = super::shape_choice::choose(&base.header.ssm, &site_shapes)?;
    if shape_choice.refitted {
        tracing::info!(
            "shape model refitted on the site's {} scans: their aortas lie {:.1} px from the base model's prediction (median), {:.1} px from a refitted one's (cross-validated)",
            shape_choice.scans,
            shape_choice.base_error_px.unwrap_or(f64::NAN),
            shape_choice.site_cv_error_px.unwrap_or(f64::NAN)
        );
    }
    let mut header: BundleHeader = base.header.clone();
    header.ssm = ssm.clone();
    let mut unet_model = unet_bytes.clone();
    let mut threshold_chosen = false;
    let mut cv_epochs = None;
    if train_unet {
        let mut cfg = unet_config(2, &a.unet, a.seed);
        cfg.net = base.unet.header.config.clone();
        cfg.init = Some(unet_bytes);
        let val_masked = pick(&val_ids, true);
        threshold_chosen = chooses_threshold(val_masked.len());
        if !threshold_chosen {
            cfg.threshold = Some(base.header.threshold);
            tracing::info!(
                "the threshold stays the base's {} ({} scans with masks held out; a new one is chosen from {})",
                base.header.threshold,
                val_masked.len(),
                d::FINETUNE_MIN_FOR_THRESHOLD
            );
        }
        let masked = pick(&ids, true);
        let trained = if !threshold_chosen
            && !val_masked.is_empty()
            && val_masked.len() < d::FINETUNE_HELD_OUT_ENOUGH
            && masked.len() >= d::FINETUNE_MIN_FOR_FOLDS
        {
            // A few held-out scans choose an epoch by noise: whether to
            // fine-tune at all is chosen over folds of every masked site
            // scan, then the network trains on all of them (docs/adapt.md).
            let folds = d::FINETUNE_FOLDS.min(masked.len());
            let scores = fold_scores(&cfg, &masked, &ssm, folds)?;
            let epochs = best_epoch(&scores);
            tracing::info!(
                "{}",
                cross_validated_message(&scores, epochs, folds, masked.len())
            );
            cv_epochs = Some((epochs, folds));
            if epochs == 0 {
                None
            } else {
                let all = aac_unet::train::TrainConfig {
                    stop_after: Some(epochs),
                    ..cfg.clone()
                };
                Some(train_unet_with_progress(
                    &all,
                    &masked,
                    &[],
                    &ssm,
                    "fine-tune",
                )?)
            }
        } else {
            let trained = train_unet_with_progress(
                &cfg,
                &pick(&train_ids, true),
                &val_masked,
                &ssm,
                "fine-tune",
            )?;
            tracing::info!(
                "{}",
                kept_epoch_message(
                    trained.header.epoch,
                    trained.header.averaged,
                    a.unet.epochs,
                    val_masked.len()
                )
            );
            Some(trained)
        };
        if let Some(trained) = trained {
            header.val_dsc = trained.header.val_dice;
            header.threshold = trained.header.threshold;
            header.wall_thresholds = None;
            header.length_scales = None;
            header.training = Some(a.unet.clone().with_width(base.unet.header.config.width));
            unet_model = trained.model;
        }
    } else {
        tracing::warn!(
            "the U-net is the base's: fine-tuning it needs at least 2 scans with masks, one calcified ({with_masks} with masks)"
        );
    }
    let mut payload = unet_model.clone();
    header.landmarks = match (&base.header.landmarks, finder_bytes, &a.landmarks) {
        (Some(section), Some(fb), Some(t)) => {
            // The base's networks (width, grid), this run's schedule.
            let t = aac_landmarks::FinderTraining {
                seed: a.seed,
                lr: t.lr,
                scans_per_epoch: t.scans_per_epoch,
                ..section.training.clone()
            }
            .with_fine(t.epochs, section.training.width);
            let t = aac_landmarks::FinderTraining {
                coarse_width: section.training.coarse_width,
                // The base's locator is kept as it was trained.
                sacrum_epochs: section.training.sacrum_epochs,
                ..t
            };
            let finder = crate::landmarks::train_finder_with_progress(
                &t,
                Some(&fb),
                (&pick(&train_ids, false), &pick(&val_ids, false)),
                &BTreeMap::new(),
            )?;
            payload.extend_from_slice(&finder);
            Some(LandmarkSection {
                unet_bytes: unet_model.len(),
                training: t,
            })
        }
        (Some(section), Some(fb), None) => {
            payload.extend_from_slice(&fb);
            Some(LandmarkSection {
                unet_bytes: unet_model.len(),
                training: section.training.clone(),
            })
        }
        _ => None,
    };
    let all: Vec<aac_unet::train::RawCase> = site.iter().map(|(c, _)| c.clone()).collect();
    header.aac_version = env!("CARGO_PKG_VERSION").into();
    header.created_unix = super::now_unix();
    header.calibration = None;
    header.fine_tuned = Some(FineTuneRecord {
        base_checksum: base.checksum.clone(),
        site_scans: ids.len(),
        with_masks,
        site_data_hash: data_hash(&all),
        validation_scans: val_ids.len(),
        threshold_chosen: Some(threshold_chosen),
        unet_trained: train_unet && cv_epochs.is_none_or(|(e, _)| e > 0),
        unet_epochs: cv_epochs.map(|(e, _)| e),
        unet_folds: cv_epochs.map(|(_, f)| f),
        finder_trained: train_finder,
        shape_model: Some(shape_choice),
    });
    super::save(&a.out, &header, &payload)?;
    tracing::info!(
        "wrote {} (fine-tuned from {} on {} scans, {} with masks; threshold {:.2})",
        a.out.display(),
        base_path.display(),
        ids.len(),
        with_masks,
        header.threshold
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::train_bundle;
    use aac_warp::{prepare_roi, AortaSource, WarpMap};

    fn cohort(dir: &Path, n: usize, seed: u64, style: aac_synth::Style) {
        let opts = aac_synth::CohortOptions {
            n,
            seed,
            style,
            dicom: false,
            calcified_only: true,
        };
        aac_synth::write_cohort(dir, &opts, &|| ()).unwrap();
    }

    /// The bundle's binary cross-entropy over the warped regions of a
    /// dataset's scans against their masks, balanced: the mean of the mean
    /// over calcified pixels and the mean over the others.
    fn loss_on(model: &Path, data: &Path) -> f64 {
        let b = crate::bundle::load(model).unwrap();
        let ds = Dataset::open(data).unwrap();
        let cases = crate::dataset_util::load_raw_cases(&ds, &ds.ids(), "masks").unwrap();
        let (mut sum, mut n) = ([0.0; 2], [0.0; 2]);
        for c in &cases {
            let (prep, _) = prepare_roi(
                &b.header.ssm,
                &c.landmarks,
                AortaSource::Predicted,
                (c.width as u32, c.height as u32),
            )
            .unwrap();
            let map = WarpMap::new(&prep.roi, None);
            let roi = map.warp_f32(&c.image, c.width, c.height, 0.0);
            let labels = map.warp_labels(&c.mask);
            let planes = b.unet.predict(&[roi]).remove(0);
            for (k, &l) in labels.as_raw().iter().enumerate() {
                for (class, plane) in planes.iter().enumerate() {
                    let y = usize::from(usize::from(l) == class + 1);
                    let p = f64::from(plane[k]).clamp(1e-6, 1.0 - 1e-6);
                    sum[y] -= if y == 1 { p.ln() } else { (1.0 - p).ln() };
                    n[y] += 1.0;
                }
            }
        }
        (sum[0] / n[0] + sum[1] / n[1]) / 2.0
    }

    #[test]
    fn the_folds_choose_the_whole_schedule_or_the_base() {
        assert_eq!(best_epoch(&[2.0, 1.5, 2.5, 2.5, 2.4]), 4);
        assert_eq!(best_epoch(&[3.0, 1.5, 3.5, 3.0]), 0);
        let m = cross_validated_message(&[2.0, 1.5, 2.5], 2, 5, 25);
        assert!(
            m.contains("for its 2 epochs") && m.contains("5 folds") && m.contains("scored 0.500"),
            "{m}"
        );
        let m = cross_validated_message(&[3.0, 1.5], 0, 5, 25);
        assert!(m.starts_with("the base's U-net is kept"), "{m}");
    }

    #[test]
    fn the_log_says_which_unet_was_kept() {
        let base = kept_epoch_message(0, 0, 8, 5);
        assert!(
            base.starts_with("the base's U-net is kept") && base.contains("5 held-out"),
            "{base}"
        );
        let tuned = kept_epoch_message(3, 0, 8, 20);
        assert!(
            tuned.contains("epoch 3 of 8") && tuned.contains("20 held-out"),
            "{tuned}"
        );
        let last = kept_epoch_message(8, 0, 8, 0);
        assert!(last.contains("last fine-tuning epoch (8)"), "{last}");
        assert!(kept_epoch_message(8, 3, 8, 20).contains("epochs 6-8"));
    }

    #[test]
    fn twenty_site_scans_choose_the_unets_epochs_over_folds_of_all_of_them() {
        let tmp = tempfile::tempdir().unwrap();
        let (base_data, site) = (tmp.path().join("base"), tmp.path().join("site"));
        cohort(&base_data, 8, 1, aac_synth::Style::hologic());
        cohort(
            &site,
            d::FINETUNE_MIN_FOR_FOLDS,
            2,
            aac_synth::Style::legacy(),
        );
        let base = tmp.path().join("base.aac");
        let mut cfg = BundleConfig::new(base_data, base.clone());
        cfg.unet.width = 4;
        cfg.unet.epochs = 1;
        cfg.landmarks = None;
        train_bundle(&cfg).unwrap();
        let tuned = tmp.path().join("site.aac");
        let mut ft = BundleConfig::new(site.clone(), tuned.clone());
        ft.init = Some(base.clone());
        ft.unet.epochs = 3;
        ft.unet.lr = 1e-2;
        ft.landmarks = None;
        train_bundle(&ft).unwrap();
        let b = crate::bundle::load(&tuned).unwrap();
        let rec = b.header.fine_tuned.clone().unwrap();
        assert_eq!(rec.validation_scans, 4);
        assert_eq!(rec.unet_folds, Some(d::FINETUNE_FOLDS));
        let epochs = rec.unet_epochs.unwrap();
        assert!(epochs <= 3, "{epochs}");
        let base_b = crate::bundle::load(&base).unwrap();
        let (base_unet, _) = crate::bundle::network_bytes(&base, &base_b.header).unwrap();
        let (unet, _) = crate::bundle::network_bytes(&tuned, &b.header).unwrap();
        // Trained for the chosen epochs on all twenty scans, or the base's kept.
        assert_eq!(rec.unet_trained, epochs > 0);
        assert_eq!(unet == base_unet, epochs == 0);
        if epochs > 0 {
            assert_eq!(b.unet.header.epoch, epochs);
        }
        assert_eq!(b.header.threshold, base_b.header.threshold);
    }

    #[test]
    fn fine_tuning_moves_a_bundle_towards_a_site_and_refuses_too_little() {
        let tmp = tempfile::tempdir().unwrap();
        let (base_data, site) = (tmp.path().join("base"), tmp.path().join("site"));
        cohort(&base_data, 8, 1, aac_synth::Style::hologic());
        cohort(&site, 6, 2, aac_synth::Style::legacy());
        let base = tmp.path().join("base.aac");
        let mut cfg = BundleConfig::new(base_data, base.clone());
        cfg.unet.width = 4;
        cfg.unet.epochs = 1;
        cfg.landmarks = Some(aac_landmarks::FinderTraining::default().with_fine(1, 2));
        train_bundle(&cfg).unwrap();
        // A threshold no choice on the site's scans would give, so that
        // keeping it shows.
        let (unet, finder) =
            crate::bundle::network_bytes(&base, &crate::bundle::load(&base).unwrap().header)
                .unwrap();
        let mut header = crate::bundle::load(&base).unwrap().header;
        header.threshold = 0.35;
        let payload: Vec<u8> = unet.into_iter().chain(finder.unwrap()).collect();
        crate::bundle::save(&base, &header, &payload).unwrap();
        // Scans without masks train the finder only.
        std::fs::remove_file(site.join("masks").join("synth00005.png")).unwrap();
        let tuned = tmp.path().join("site.aac");
        let mut ft = BundleConfig::new(site.clone(), tuned.clone());
        ft.init = Some(base.clone());
        ft.unet.epochs = 6;
        ft.unet.lr = 1e-2;
        ft.landmarks = Some(aac_landmarks::FinderTraining::default().with_fine(1, 2));
        train_bundle(&ft).unwrap();
        let b = crate::bundle::load(&tuned).unwrap();
        let rec = b.header.fine_tuned.clone().unwrap();
        let base_b = crate::bundle::load(&base).unwrap();
        assert_eq!(rec.base_checksum, base_b.checksum);
        assert_eq!((rec.site_scans, rec.with_masks), (6, 5));
        assert!(rec.unet_trained && rec.finder_trained && rec.validation_scans == 0);
        // Too few for folds: the epoch is the last, no folds recorded.
        assert_eq!((rec.unet_epochs, rec.unet_folds), (None, None));
        // Six scans: the base's threshold is kept, not chosen anew.
        assert_eq!(rec.threshold_chosen, Some(false));
        assert_eq!(base_b.header.threshold, 0.35);
        assert_eq!(b.header.threshold, 0.35);
        assert_eq!(b.unet.header.threshold, 0.35);
        assert!(!chooses_threshold(d::FINETUNE_MIN_FOR_THRESHOLD - 1));
        assert!(chooses_threshold(d::FINETUNE_MIN_FOR_THRESHOLD));
        // Six scans: too few to refit the shape model on.
        let shape = rec.shape_model.clone().unwrap();
        assert!(!shape.refitted && shape.scans == 6 && shape.site_cv_error_px.is_none());
        assert!(shape.base_error_px.is_some_and(|e| e > 0.0));
        assert!(b.finder.is_some());
        // The site's scans whose masks the U-net saw (the sixth has none).
        std::fs::remove_file(site.join("images").join("synth00005.png")).unwrap();
        std::fs::remove_file(site.join("landmarks").join("synth00005.pts")).unwrap();
        let (before, after) = (loss_on(&base, &site), loss_on(&tuned, &site));
        assert!(
            after < before - 0.03,
            "loss on the site's scans {before:.6} -> {after:.6}"
        );
        // Too few scans.
        for id in ["synth00000", "synth00001"] {
            for (sub, ext) in [("images", "png"), ("landmarks", "pts"), ("masks", "png")] {
                std::fs::remove_file(site.join(sub).join(format!("{id}.{ext}"))).unwrap();
            }
        }
        let err = train_bundle(&ft).unwrap_err().to_string();
        assert!(err.contains("at least 5"), "{err}");
    }
}
