//! The point distribution model: generalised Procrustes alignment driven by the
//! spine points, PCA, and conditional prediction of the aorta from the spine.

use crate::procrustes::{centroid, fit_similarity, size, Similarity};
use crate::ShapeError;
use aac_io::{Point, N_AORTA, N_POINTS, N_SPINE};
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

/// The `format` field of a saved model.
pub const FORMAT: &str = "aac-ssm";
/// The current model file version.
pub const VERSION: u32 = 1;

/// A statistical shape model of the 30 spine + aorta points.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShapeModel {
    /// Always [`FORMAT`].
    pub format: String,
    /// File version ([`VERSION`]).
    pub version: u32,
    /// Mean shape in the model frame, interleaved x0, y0, x1, y1, ...
    pub mean: Vec<f64>,
    /// Modes of variation (each of length 60), unit length.
    pub modes: Vec<Vec<f64>>,
    /// Variance along each mode.
    pub variances: Vec<f64>,
    /// Isotropic residual variance per coordinate not explained by the modes.
    pub noise_var: f64,
    /// Extra per-aorta-point variance (model units, per coordinate) measured by
    /// internal cross-validation, added to the conditional variance so that the
    /// 3 SD band covers the real prediction error.
    pub aorta_residual_var: Vec<f64>,
    /// Per-aorta-point factor on the SD so that 99% of cross-validated errors
    /// fall within 3 SD (prediction errors have heavier tails than a Gaussian).
    pub aorta_sd_scale: Vec<f64>,
    /// Fraction of the variance the kept modes explain.
    pub variance_fraction: f64,
    /// Number of training shapes.
    pub n_train: usize,
}

/// The result of predicting the aorta from the spine points of one image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prediction {
    /// All 30 points of the fitted model in image coordinates.
    pub points: Vec<Point>,
    /// Standard deviation (pixels) of each of the 10 aorta points.
    pub aorta_sd: Vec<f64>,
    /// Model-to-image pose (in the canonical, right-facing frame).
    pub pose: Similarity,
    /// True if the image faces left and was mirrored for the fit.
    pub reflected: bool,
    /// Shape parameters.
    pub b: Vec<f64>,
    /// Mahalanobis distance of b from the mean shape (large = unusual shape).
    pub mahalanobis: f64,
    /// RMS distance (pixels) between the given spine points and the fitted ones.
    pub spine_rms_px: f64,
}

impl Prediction {
    /// The 10 predicted aorta points.
    pub fn aorta(&self) -> &[Point] {
        &self.points[N_SPINE..]
    }
}

/// True if the spine points face right (anterior corners at larger x).
pub fn faces_right(spine: &[Point]) -> bool {
    aac_io::dataset::faces_right(spine)
}

fn reflect(points: &[Point]) -> Vec<Point> {
    points.iter().map(|p| Point::new(-p.x, p.y)).collect()
}

fn to_vec(points: &[Point]) -> Vec<f64> {
    points.iter().flat_map(|p| [p.x, p.y]).collect()
}

fn to_points(v: &[f64]) -> Vec<Point> {
    v.chunks(2).map(|c| Point::new(c[0], c[1])).collect()
}

/// Canonical orientation: mirrored so that anterior is toward larger x.
fn canonical(shape: &[Point]) -> Vec<Point> {
    if faces_right(&shape[..N_SPINE]) {
        shape.to_vec()
    } else {
        reflect(shape)
    }
}

/// Aligns shapes by generalised Procrustes analysis on their spine points (the
/// pose of an image is known only from its spine at prediction time, so the
/// training pose is defined the same way). Returns the aligned 30-point shapes.
fn align(shapes: &[Vec<Point>]) -> Vec<Vec<Point>> {
    let spine = |s: &[Point]| s[..N_SPINE].to_vec();
    let normalise = |s: &[Point]| -> Vec<Point> {
        let c = centroid(&s[..N_SPINE]);
        let k = size(&s[..N_SPINE]).max(1e-12);
        s.iter()
            .map(|p| Point::new((p.x - c.x) / k, (p.y - c.y) / k))
            .collect()
    };
    let mut reference = normalise(&shapes[0]);
    let mut aligned: Vec<Vec<Point>> = Vec::new();
    for _ in 0..20 {
        aligned = shapes
            .iter()
            .map(|s| {
                let t = fit_similarity(&spine(s), &spine(&reference));
                s.iter().map(|&p| t.apply(p)).collect()
            })
            .collect();
        let mut mean = vec![Point::default(); N_POINTS];
        for s in &aligned {
            for (m, p) in mean.iter_mut().zip(s) {
                m.x += p.x / aligned.len() as f64;
                m.y += p.y / aligned.len() as f64;
            }
        }
        // Keep the mean's orientation tied to the previous reference.
        let t = fit_similarity(&spine(&mean), &spine(&reference));
        let mean: Vec<Point> = mean.iter().map(|&p| t.apply(p)).collect();
        let new_ref = normalise(&mean);
        let change: f64 = new_ref.iter().zip(&reference).map(|(a, b)| a.dist(b)).sum();
        reference = new_ref;
        if change < 1e-10 {
            break;
        }
    }
    aligned
}

/// Fits the PCA part of a model to shapes already in canonical orientation.
fn fit_pca(shapes: &[Vec<Point>], variance_fraction: f64) -> ShapeModel {
    let aligned = align(shapes);
    let n = aligned.len();
    let d = 2 * N_POINTS;
    let data: Vec<Vec<f64>> = aligned.iter().map(|s| to_vec(s)).collect();
    let mut mean = vec![0.0; d];
    for row in &data {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v / n as f64;
        }
    }
    let x = DMatrix::from_fn(n, d, |i, j| data[i][j] - mean[j]);
    let cov = (x.transpose() * &x) / ((n.max(2) - 1) as f64);
    let eig = SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let total: f64 = eig
        .eigenvalues
        .iter()
        .map(|v| v.max(0.0))
        .sum::<f64>()
        .max(1e-300);
    let mut kept = 0.0;
    let mut modes = Vec::new();
    let mut variances = Vec::new();
    for &i in order.iter().take(n.saturating_sub(1).max(1)) {
        let lambda = eig.eigenvalues[i].max(0.0);
        if kept / total >= variance_fraction || lambda <= total * 1e-12 {
            break;
        }
        kept += lambda;
        modes.push(eig.eigenvectors.column(i).iter().copied().collect());
        variances.push(lambda);
    }
    let discarded = (total - kept).max(0.0);
    let noise_var = (discarded / (d - modes.len()).max(1) as f64).max(total * 1e-6);
    ShapeModel {
        format: FORMAT.into(),
        version: VERSION,
        mean,
        modes,
        variances,
        noise_var,
        aorta_residual_var: vec![0.0; N_AORTA],
        aorta_sd_scale: vec![1.0; N_AORTA],
        variance_fraction: kept / total,
        n_train: n,
    }
}

impl ShapeModel {
    /// Fits a model to 30-point shapes (either facing direction), keeping modes
    /// up to `variance_fraction` of the variance, and calibrates the aorta
    /// uncertainty by `cv_folds`-fold internal cross-validation (0 = none).
    pub fn fit(
        shapes: &[Vec<Point>],
        variance_fraction: f64,
        cv_folds: usize,
    ) -> Result<ShapeModel, ShapeError> {
        if shapes.len() < 3 {
            return Err(ShapeError::TooFew(shapes.len()));
        }
        if let Some((i, s)) = shapes.iter().enumerate().find(|(_, s)| s.len() != N_POINTS) {
            return Err(ShapeError::Invalid(format!(
                "shape {i} has {} points, expected {N_POINTS}",
                s.len()
            )));
        }
        if let Some((i, msg)) = shapes
            .iter()
            .enumerate()
            .find_map(|(i, s)| aac_io::dataset::landmark_problem(s, None).map(|m| (i, m)))
        {
            return Err(ShapeError::Degenerate(format!("shape {i}: {msg}")));
        }
        let canon: Vec<Vec<Point>> = shapes.iter().map(|s| canonical(s)).collect();
        let mut model = fit_pca(&canon, variance_fraction);
        // Shapes of unit size that vary by less than 1e-6 of it (sd) are all
        // the same shape up to rounding.
        if model.variances.iter().sum::<f64>() < 1e-12 || model.validate().is_err() {
            return Err(ShapeError::Invalid(
                "the training shapes do not vary (all the same shape?): no shape model can be fitted"
                    .into(),
            ));
        }
        let folds = cv_folds.min(canon.len());
        if folds >= 2 && canon.len() >= 2 * folds {
            let mut sq = [0.0; N_AORTA];
            let mut cond = [0.0; N_AORTA];
            let mut count = 0.0;
            // Per point: (error, conditional variance), both in model units.
            let mut samples: Vec<Vec<(f64, f64)>> = vec![Vec::new(); N_AORTA];
            for f in 0..folds {
                let train: Vec<Vec<Point>> = canon
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % folds != f)
                    .map(|(_, s)| s.clone())
                    .collect();
                let sub = fit_pca(&train, variance_fraction);
                for (_, s) in canon.iter().enumerate().filter(|(i, _)| i % folds == f) {
                    let Ok(pred) = sub.predict(&s[..N_SPINE]) else {
                        continue;
                    };
                    let scale2 = pred.pose.scale().powi(2);
                    for k in 0..N_AORTA {
                        let e = pred.points[N_SPINE + k].dist(&s[N_SPINE + k]);
                        // Per-coordinate squared error in model units.
                        sq[k] += 0.5 * e * e / scale2;
                        cond[k] += pred.aorta_sd[k].powi(2) / scale2;
                        samples[k].push((e / scale2.sqrt(), pred.aorta_sd[k].powi(2) / scale2));
                    }
                    count += 1.0;
                }
            }
            if count > 0.0 {
                model.aorta_residual_var = sq
                    .iter()
                    .zip(&cond)
                    .map(|(s, c)| ((s - c) / count).max(0.0))
                    .collect();
                for (k, smp) in samples.iter().enumerate() {
                    let mut ratios: Vec<f64> = smp
                        .iter()
                        .map(|(e, c)| e / (c + model.aorta_residual_var[k]).sqrt().max(1e-12))
                        .collect();
                    ratios.sort_by(f64::total_cmp);
                    if !ratios.is_empty() {
                        let q99 = crate::eval::quantile(&ratios, 0.99);
                        model.aorta_sd_scale[k] = (q99 / 3.0).max(1.0);
                    }
                }
            }
        }
        Ok(model)
    }

    /// Number of modes.
    pub fn n_modes(&self) -> usize {
        self.modes.len()
    }

    /// A shape in the model frame for parameters b (missing entries are 0).
    pub fn instance(&self, b: &[f64]) -> Vec<Point> {
        let mut v = self.mean.clone();
        for (mode, &bi) in self.modes.iter().zip(b) {
            for (x, m) in v.iter_mut().zip(mode) {
                *x += bi * m;
            }
        }
        to_points(&v)
    }

    /// Checks the model is well-formed (after loading from a file).
    pub fn validate(&self) -> Result<(), ShapeError> {
        if self.format != FORMAT {
            return Err(ShapeError::Invalid(format!(
                "not a shape model (format {:?})",
                self.format
            )));
        }
        if self.version != VERSION {
            return Err(ShapeError::Invalid(format!(
                "shape model version {} is not supported (expected {VERSION})",
                self.version
            )));
        }
        let d = 2 * N_POINTS;
        if self.mean.len() != d
            || self.modes.iter().any(|m| m.len() != d)
            || self.variances.len() != self.modes.len()
            || self.aorta_residual_var.len() != N_AORTA
            || self.aorta_sd_scale.len() != N_AORTA
            || self.variances.iter().any(|v| !(v.is_finite() && *v > 0.0))
            || !(self.noise_var.is_finite() && self.noise_var > 0.0)
        {
            return Err(ShapeError::Invalid(
                "shape model arrays have the wrong sizes or values".into(),
            ));
        }
        self.validate_values()
    }

    /// The values a fitted model can have: everything finite, unit-length
    /// modes, a mean spine of unit size whose 30 points, scaled to image size,
    /// form a plausible spine with the aorta in front. A model edited or
    /// damaged by hand fails here, instead of every landmark file being blamed
    /// later.
    fn validate_values(&self) -> Result<(), ShapeError> {
        let bad = |what: &str| Err(ShapeError::Invalid(format!("shape model: {what}")));
        let all_finite = self
            .mean
            .iter()
            .chain(self.modes.iter().flatten())
            .all(|v| v.is_finite());
        if !all_finite {
            return bad("mean or modes hold non-finite values");
        }
        if let Some(k) = self
            .modes
            .iter()
            .position(|m| (m.iter().map(|v| v * v).sum::<f64>().sqrt() - 1.0).abs() > 1e-3)
        {
            return bad(&format!("mode {k} is not of unit length"));
        }
        if self.variances.iter().any(|v| *v >= 1.0) {
            return bad("a mode variance is larger than the shape itself");
        }
        if self
            .aorta_residual_var
            .iter()
            .any(|v| !(v.is_finite() && *v >= 0.0))
            || self
                .aorta_sd_scale
                .iter()
                .any(|v| !(v.is_finite() && (1.0..1e3).contains(v)))
        {
            return bad("aorta uncertainty values out of range");
        }
        let mean = to_points(&self.mean);
        let spine_size = size(&mean[..N_SPINE]);
        if !(0.5..2.0).contains(&spine_size) {
            return bad(&format!(
                "the mean spine has size {spine_size:.3}, expected about 1"
            ));
        }
        // At 1000 pixels per model unit the mean is an image-sized shape that
        // the landmark checks of real annotations apply to.
        let scaled: Vec<Point> = mean
            .iter()
            .map(|p| Point::new(1000.0 * p.x, 1000.0 * p.y))
            .collect();
        if let Some(problem) = aac_io::dataset::landmark_problem(&scaled, None) {
            return bad(&format!(
                "the mean shape is not a plausible spine and aorta: {problem}"
            ));
        }
        Ok(())
    }

    /// Predicts the 10 aorta points and their standard deviations from the 20
    /// spine points of an image (either facing direction): pose and shape
    /// parameters b are found by alternating a similarity fit with a regularised
    /// least-squares solve, b = (Ps'Ps + s2 L^-1)^-1 Ps'(y - ms), where the
    /// Gaussian prior on b (variances L) keeps the shape plausible.
    pub fn predict(&self, spine: &[Point]) -> Result<Prediction, ShapeError> {
        if spine.len() < N_SPINE {
            return Err(ShapeError::Invalid(format!(
                "{} spine points given, 20 needed",
                spine.len()
            )));
        }
        let spine = &spine[..N_SPINE];
        if let Some(msg) = aac_io::dataset::landmark_problem(spine, None) {
            return Err(ShapeError::Degenerate(msg));
        }
        let reflected = !faces_right(spine);
        let y_img = if reflected {
            reflect(spine)
        } else {
            spine.to_vec()
        };
        let k = self.modes.len();
        let ds = 2 * N_SPINE;
        let ps = DMatrix::from_fn(ds, k, |i, j| self.modes[j][i]);
        let ms = DVector::from_column_slice(&self.mean[..ds]);
        let s2 = self.noise_var;
        let prior = DMatrix::from_diagonal(&DVector::from_iterator(
            k,
            self.variances.iter().map(|v| s2 / v),
        ));
        let a = ps.transpose() * &ps + prior;
        let a_inv = a
            .clone()
            .try_inverse()
            .ok_or_else(|| ShapeError::Degenerate("singular shape system".into()))?;
        let mut b = DVector::zeros(k);
        let mut pose = Similarity::IDENTITY;
        for _ in 0..30 {
            let model_spine = to_points((&ms + &ps * &b).as_slice());
            pose = fit_similarity(&model_spine, &y_img);
            let inv = pose.inverse();
            let y_model = DVector::from_vec(to_vec(
                &y_img.iter().map(|&p| inv.apply(p)).collect::<Vec<_>>(),
            ));
            let new_b = &a_inv * (ps.transpose() * (y_model - &ms));
            let change = (&new_b - &b).norm();
            b = new_b;
            if change < 1e-9 {
                break;
            }
        }
        let b_vec: Vec<f64> = b.iter().copied().collect();
        let model_pts = self.instance(&b_vec);
        let mut points: Vec<Point> = model_pts.iter().map(|&p| pose.apply(p)).collect();
        let spine_rms_px = (points[..N_SPINE]
            .iter()
            .zip(&y_img)
            .map(|(p, q)| p.dist(q).powi(2))
            .sum::<f64>()
            / N_SPINE as f64)
            .sqrt();
        // Conditional covariance of b given the spine, then of the aorta points.
        let cov_b = &a_inv * s2;
        let scale2 = pose.scale().powi(2);
        let mut aorta_sd = Vec::with_capacity(N_AORTA);
        for kpt in 0..N_AORTA {
            let mut var = 0.0;
            for c in 0..2 {
                let row = 2 * (N_SPINE + kpt) + c;
                let pa = DVector::from_iterator(k, self.modes.iter().map(|m| m[row]));
                var += (pa.transpose() * &cov_b * &pa)[(0, 0)] + s2;
            }
            let total = 0.5 * var + self.aorta_residual_var[kpt];
            aorta_sd.push((total * scale2).sqrt() * self.aorta_sd_scale[kpt]);
        }
        if reflected {
            points = reflect(&points);
        }
        let mahalanobis = b
            .iter()
            .zip(&self.variances)
            .map(|(bi, v)| bi * bi / v)
            .sum::<f64>()
            .sqrt();
        Ok(Prediction {
            points,
            aorta_sd,
            pose,
            reflected,
            b: b_vec,
            mahalanobis,
            spine_rms_px,
        })
    }

    /// Saves the model as JSON (atomically).
    pub fn save(&self, path: &std::path::Path) -> Result<(), ShapeError> {
        let text =
            serde_json::to_string_pretty(self).map_err(|e| ShapeError::Invalid(e.to_string()))?;
        aac_io::write_string_atomic(path, &text)?;
        Ok(())
    }

    /// Loads and validates a model file.
    pub fn load(path: &std::path::Path) -> Result<ShapeModel, ShapeError> {
        let text = aac_io::read_text_capped(path, aac_io::input::MAX_MODEL_BYTES)?;
        let model: ShapeModel = serde_json::from_str(&text).map_err(|e| {
            aac_io::IoError::format(path, format!("not a valid shape model file: {e}"))
        })?;
        model
            .validate()
            .map_err(|e| aac_io::IoError::format(path, e.to_string()))?;
        Ok(model)
    }
}
