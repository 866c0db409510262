//! Scoring a scan again when a reader moves its levels: through
//! `aac_pipeline::predict::rescore_one`, the same stages as `aac predict`,
//! with the run's bundle and thresholds.

use crate::review::Rescore;
use aac_pipeline::bundle::{self, Bundle};
use aac_pipeline::predict::{rescore_one, PredictConfig, Row};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::sync::OnceLock;

/// The run's bundle, read when first needed (a review that moves no levels
/// never needs it).
pub struct Scorer {
    run: Option<PredictConfig>,
    bundle: OnceLock<Result<Bundle, String>>,
}

impl Scorer {
    /// A scorer with the run's settings (None: the run recorded none).
    pub fn new(run: Option<PredictConfig>) -> Scorer {
        Scorer {
            run,
            bundle: OnceLock::new(),
        }
    }

    fn bundle(&self) -> Result<&Bundle> {
        let Some(run) = &self.run else {
            bail!("the output's run.json names no bundle: start aac review with --model");
        };
        self.bundle
            .get_or_init(|| {
                bundle::load(&run.model)
                    .map_err(|e| format!("{e:#} (start aac review with --model)"))
            })
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Scores `r` again for `reader` of output `out`: writes the moved
    /// points and the new overlay under `out/review/`, returns the row.
    pub fn rescore(&self, out: &Path, reader: &str, r: &Rescore) -> Result<Row> {
        let b = self.bundle()?;
        let run = self.run.as_ref().context("no run settings")?;
        let thresholds = run
            .threshold
            .map(|t| t.map(aac_score::Threshold::get))
            .unwrap_or(b.header.thresholds());
        let pts = crate::paths::moved_points(out, reader, &r.id);
        aac_io::write_pts(&pts, &r.points)?;
        let (row, overlay) = rescore_one(b, &r.id, &r.image, &pts, thresholds, run.pixel_spacing);
        if let Some(o) = overlay {
            let path = crate::paths::reader_overlay(out, reader, &r.id);
            o.write_image(&path)?;
        }
        Ok(row)
    }
}
