//! What a review is over: the rows of a `predict` output, where each scan's
//! image is (by id, from the run's record), and the run's settings to score
//! a scan again with.

use aac_pipeline::predict::{read_scores, PredictConfig, Row};
use aac_pipeline::qc::Status;
use aac_pipeline::run_record::RunRecord;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// One scan of the output, as `predict` left it.
pub struct Scan {
    /// Its scores.csv row.
    pub row: Row,
    /// AAC24 and sub-scores, when scored.
    pub scores: Option<crate::decisions::Scores>,
    /// Its uncertainty (0 when not stated).
    pub uncertainty: f64,
    /// In the random audit sample of unflagged scans.
    pub audit: bool,
}

/// A `predict` output folder read for review.
pub struct Cohort {
    /// The output folder.
    pub out: PathBuf,
    /// The scans in scores.csv order.
    pub scans: Vec<Scan>,
    /// Index of each id in `scans`.
    pub index: HashMap<String, usize>,
    /// Each id's image (empty when the images folder is not there).
    pub images: BTreeMap<String, PathBuf>,
    /// The run's settings (model, images, thresholds), when recorded.
    pub run: Option<PredictConfig>,
    /// The bundle's checksum and options as the run recorded them.
    pub bundle_key: String,
}

/// Overrides for where a moved output's inputs are now.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The images folder, in place of the run's.
    pub images: Option<PathBuf>,
    /// The bundle, in place of the run's.
    pub model: Option<PathBuf>,
}

/// A stable pseudo-random fraction of an id (FNV-1a), so that the audit
/// sample is the same on every start and for every reader.
fn id_fraction(id: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl Cohort {
    /// Reads `out` (scores.csv and run.json); `audit` is the share (0-1) of
    /// unflagged scans drawn into the audit sample.
    pub fn load(out: &Path, inputs: &Inputs, audit: f64) -> Result<Cohort> {
        let rows = read_scores(out)?;
        let record = RunRecord::read(out)
            .with_context(|| format!("{}: its run.json cannot be read", out.display()))?;
        let mut run: Option<PredictConfig> = record
            .as_ref()
            .and_then(|r| serde_json::from_value(r.options.clone()).ok());
        if let Some(r) = run.as_mut() {
            if let Some(m) = &inputs.model {
                r.model = m.clone();
            }
            if let Some(i) = &inputs.images {
                r.images = i.clone();
            }
        }
        let images_dir = inputs
            .images
            .clone()
            .or_else(|| run.as_ref().map(|r| r.images.clone()));
        let images = match &images_dir {
            Some(dir) => match aac_pipeline::dataset_util::images_to_score(dir) {
                Ok(m) => m,
                Err(e) => {
                    let relative = dir.is_relative() && inputs.images.is_none();
                    tracing::warn!(
                        "the scans themselves cannot be shown: {e:#}{} (give --images; the overlays and scores are shown)",
                        if relative {
                            " (the run recorded this path relative to the folder aac predict ran in)"
                        } else {
                            ""
                        }
                    );
                    BTreeMap::new()
                }
            },
            None => BTreeMap::new(),
        };
        let scans: Vec<Scan> = rows
            .into_iter()
            .map(|row| {
                let scores = row
                    .score_values()
                    .and_then(|(_, sub)| crate::decisions::Scores::from_sub(sub).ok());
                let uncertainty = row.uncertainty.parse().unwrap_or(0.0);
                let audit = row.status == Status::Ok && id_fraction(&row.id) < audit;
                Scan {
                    row,
                    scores,
                    uncertainty,
                    audit,
                }
            })
            .collect();
        let index = scans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.row.id.clone(), i))
            .collect();
        Ok(Cohort {
            out: out.to_path_buf(),
            scans,
            index,
            images,
            run,
            bundle_key: record.and_then(|r| r.bundle).unwrap_or_default(),
        })
    }

    /// The scan of an id, if the output has it.
    pub fn get(&self, id: &str) -> Option<&Scan> {
        self.index.get(id).map(|&i| &self.scans[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_fraction_of_ids_is_stable_and_spread() {
        let ids: Vec<String> = (0..10_000).map(|i| format!("scan{i:05}")).collect();
        let share = ids.iter().filter(|id| id_fraction(id) < 0.02).count();
        assert!((150..=250).contains(&share), "{share}");
        assert_eq!(id_fraction("a"), id_fraction("a"));
    }
}
