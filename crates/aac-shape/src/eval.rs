//! Cross-validated accuracy of the aorta prediction (`aac ssm eval`).

use crate::{ShapeError, ShapeModel};
use aac_io::{Point, N_AORTA, N_SPINE};
use serde::Serialize;

/// Summary statistics of a set of errors.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ErrorStats {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// 95th percentile.
    pub p95: f64,
}

impl ErrorStats {
    /// Statistics of a non-empty list (NaN fields if empty).
    pub fn of(values: &[f64]) -> ErrorStats {
        if values.is_empty() {
            return ErrorStats {
                mean: f64::NAN,
                median: f64::NAN,
                p95: f64::NAN,
            };
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        ErrorStats {
            mean: v.iter().sum::<f64>() / v.len() as f64,
            median: quantile(&v, 0.5),
            p95: quantile(&v, 0.95),
        }
    }
}

/// Linear-interpolated quantile of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let f = pos - i as f64;
    if i + 1 < sorted.len() {
        sorted[i] * (1.0 - f) + sorted[i + 1] * f
    } else {
        sorted[i]
    }
}

/// The result of `aac ssm eval`.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Number of shapes.
    pub n: usize,
    /// Number of folds.
    pub folds: usize,
    /// Point-to-point error of the 10 aorta points in pixels.
    pub error_px: ErrorStats,
    /// The same in mm (only images with a known pixel spacing).
    pub error_mm: Option<ErrorStats>,
    /// Fraction of true aorta points within 3 SD of the prediction.
    pub coverage_3sd: f64,
    /// Mean predicted SD in pixels.
    pub mean_sd_px: f64,
}

/// k-fold cross-validation: for each fold, fit on the others and predict the
/// aorta of the held-out shapes from their spine points. `spacing_mm[i]` is the
/// pixel size of shape i, if known.
pub fn cross_validate(
    shapes: &[Vec<Point>],
    spacing_mm: &[Option<f64>],
    folds: usize,
    variance_fraction: f64,
) -> Result<EvalReport, ShapeError> {
    let folds = folds.max(2).min(shapes.len());
    let mut px = Vec::new();
    let mut mm = Vec::new();
    let mut inside = 0usize;
    let mut sds = Vec::new();
    for f in 0..folds {
        let train: Vec<Vec<Point>> = shapes
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != f)
            .map(|(_, s)| s.clone())
            .collect();
        let model = ShapeModel::fit(&train, variance_fraction, 5)?;
        for (i, s) in shapes.iter().enumerate().filter(|(i, _)| i % folds == f) {
            let pred = model.predict(&s[..N_SPINE])?;
            for k in 0..N_AORTA {
                let e = pred.points[N_SPINE + k].dist(&s[N_SPINE + k]);
                px.push(e);
                if let Some(sp) = spacing_mm.get(i).copied().flatten() {
                    mm.push(e * sp);
                }
                sds.push(pred.aorta_sd[k]);
                if e <= 3.0 * pred.aorta_sd[k] {
                    inside += 1;
                }
            }
        }
    }
    Ok(EvalReport {
        n: shapes.len(),
        folds,
        error_px: ErrorStats::of(&px),
        error_mm: (!mm.is_empty()).then(|| ErrorStats::of(&mm)),
        coverage_3sd: inside as f64 / px.len().max(1) as f64,
        mean_sd_px: sds.iter().sum::<f64>() / sds.len().max(1) as f64,
    })
}
