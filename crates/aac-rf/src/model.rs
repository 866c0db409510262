//! Training data from warped ROIs, the model file, and the sliding-window
//! response image.

use crate::forest::{Data, Forest, ForestParams};
use crate::haar::{integral, random_features, Haar, WINDOW};
use aac_io::{Gray8, IoError};
use aac_score::metrics::{overlap, Region};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Why a random forest cannot be trained.
#[derive(Debug, thiserror::Error)]
pub enum RfError {
    /// The training masks label no pixel as calcified.
    #[error("no calcified pixels in the training masks")]
    NoCalcifiedPixels,
}

/// The `format` of an RF model file.
pub const FORMAT: &str = "aac-rf";
/// Its version.
pub const VERSION: u32 = 1;
/// First column of the aorta region in warped space (the spine's anterior border is at 40).
pub const AORTA_X0: u32 = 40;

/// A warped training/test case: raw intensities and (optionally) labels.
#[derive(Debug, Clone)]
pub struct RoiCase {
    /// Width (128).
    pub width: u32,
    /// Height (256).
    pub height: u32,
    /// Raw intensities, row-major.
    pub image: Vec<f32>,
    /// Labels 0/1/2, if known.
    pub mask: Option<Gray8>,
}

/// Training settings (defaults are the paper's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainParams {
    /// Number of patches (half calcified, half not).
    pub patches: usize,
    /// Random transforms per patch.
    pub transforms: usize,
    /// Scale range of the transforms.
    pub scale: (f32, f32),
    /// Maximum rotation (radians).
    pub rotation: f32,
    /// Number of Haar features.
    pub features: usize,
    /// 1 = calcified/not; 2 = anterior/posterior wall.
    pub classes: usize,
    /// Forest settings.
    pub forest: ForestParams,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            patches: 10_000,
            transforms: 10,
            scale: (0.5, 2.0),
            rotation: 1.0,
            features: 200,
            classes: 1,
            forest: ForestParams::default(),
        }
    }
}

/// A trained random-forest segmenter.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RfModel {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// Output classes (1 or 2).
    pub classes: usize,
    /// The Haar features.
    pub features: Vec<Haar>,
    /// The forest.
    pub forest: Forest,
    /// Threshold on the vote fraction.
    pub threshold: f32,
    /// Training settings.
    pub params: TrainParams,
}

/// Maps raw ROI intensities to 8 bits with a robust (1st-99th percentile) window.
pub fn normalise(image: &[f32], width: u32, height: u32) -> image::GrayImage {
    let mut v: Vec<f32> = image.iter().copied().filter(|x| *x > 0.0).collect();
    if v.is_empty() {
        return image::GrayImage::new(width, height);
    }
    v.sort_by(f32::total_cmp);
    let lo = v[v.len() / 100];
    let hi = v[(v.len() * 99) / 100].max(lo + 1e-3);
    let data = image
        .iter()
        .map(|&x| ((x - lo) / (hi - lo) * 255.0).clamp(0.0, 255.0) as u8)
        .collect();
    image::GrayImage::from_raw(width, height, data).expect("size matches")
}

fn bilinear(img: &image::GrayImage, x: f32, y: f32) -> f32 {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let x = x.clamp(0.0, w - 1.0);
    let y = y.clamp(0.0, h - 1.0);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = (
        (x0 + 1).min(img.width() - 1),
        (y0 + 1).min(img.height() - 1),
    );
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let p = |a, b| img.get_pixel(a, b).0[0] as f32;
    let top = p(x0, y0) + (p(x1, y0) - p(x0, y0)) * fx;
    let bot = p(x0, y1) + (p(x1, y1) - p(x0, y1)) * fx;
    top + (bot - top) * fy
}

fn label_of(mask: &Gray8, x: u32, y: u32, classes: usize) -> u8 {
    let v = mask.get_pixel(x, y).0[0];
    if classes == 1 {
        (v > 0) as u8
    } else {
        v.min(2)
    }
}

/// Builds the training matrix: patches centred on calcified and non-calcified
/// pixels of the aorta region, each under `transforms` random scale/rotation
/// transforms. Returns (features row-major, labels).
pub fn training_matrix(
    cases: &[RoiCase],
    features: &[Haar],
    p: &TrainParams,
    seed: u64,
) -> (Vec<f32>, Vec<u8>) {
    let norm: Vec<image::GrayImage> = cases
        .iter()
        .map(|c| normalise(&c.image, c.width, c.height))
        .collect();
    let mut pos = Vec::new();
    let mut neg = Vec::new();
    for (ci, c) in cases.iter().enumerate() {
        let Some(m) = &c.mask else { continue };
        for (x, y, v) in m.enumerate_pixels() {
            if x < AORTA_X0 {
                continue;
            }
            if v.0[0] > 0 {
                pos.push((ci, x, y))
            } else {
                neg.push((ci, x, y))
            }
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let half = p.patches / 2;
    let mut centres = Vec::with_capacity(p.patches);
    for (list, n) in [(&pos, half), (&neg, p.patches - half)] {
        if list.is_empty() {
            continue;
        }
        for _ in 0..n {
            centres.push(list[rng.random_range(0..list.len())]);
        }
    }
    let seeds: Vec<u64> = (0..centres.len()).map(|_| rng.random()).collect();
    let rows: Vec<(Vec<f32>, Vec<u8>)> = centres
        .par_iter()
        .zip(&seeds)
        .map(|(&(ci, cx, cy), &s)| {
            let mut r = ChaCha8Rng::seed_from_u64(s);
            let label = label_of(
                cases[ci].mask.as_ref().expect("has mask"),
                cx,
                cy,
                p.classes,
            );
            let mut xs = Vec::with_capacity(p.transforms * features.len());
            let mut ys = Vec::with_capacity(p.transforms);
            let half_w = (WINDOW / 2) as f32;
            for _ in 0..p.transforms.max(1) {
                let scale = if p.scale.1 > p.scale.0 {
                    r.random_range(p.scale.0..p.scale.1)
                } else {
                    p.scale.0
                };
                let angle = if p.rotation > 0.0 {
                    r.random_range(-p.rotation..p.rotation)
                } else {
                    0.0
                };
                let (sn, cs) = angle.sin_cos();
                let patch = image::GrayImage::from_fn(WINDOW, WINDOW, |i, j| {
                    let (u, v) = ((i as f32 - half_w) * scale, (j as f32 - half_w) * scale);
                    let x = cx as f32 + cs * u - sn * v;
                    let y = cy as f32 + sn * u + cs * v;
                    image::Luma([bilinear(&norm[ci], x, y).round() as u8])
                });
                let ii = integral(&patch);
                xs.extend(features.iter().map(|f| f.eval(&ii, 0, 0)));
                ys.push(label);
            }
            (xs, ys)
        })
        .collect();
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (a, b) in rows {
        x.extend(a);
        y.extend(b);
    }
    (x, y)
}

impl RfModel {
    /// Trains a model on warped cases with masks.
    pub fn train(cases: &[RoiCase], p: &TrainParams) -> Result<RfModel, RfError> {
        if !cases.iter().any(|c| {
            c.mask
                .as_ref()
                .is_some_and(|m| m.as_raw().iter().any(|&v| v > 0))
        }) {
            return Err(RfError::NoCalcifiedPixels);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(p.forest.seed);
        let features = random_features(&mut rng, p.features.max(1));
        let (x, y) = training_matrix(cases, &features, p, p.forest.seed ^ 0x5eed);
        let forest = Forest::train(
            &Data {
                x: &x,
                y: &y,
                n_features: features.len(),
            },
            p.classes + 1,
            &p.forest,
        );
        Ok(RfModel {
            format: FORMAT.into(),
            version: VERSION,
            classes: p.classes,
            features,
            forest,
            threshold: 0.5,
            params: p.clone(),
        })
    }

    /// Per-class vote fractions for every pixel of an ROI: `classes` planes
    /// (calcified; or anterior, posterior), each row-major.
    pub fn response(&self, image: &[f32], width: u32, height: u32) -> Vec<Vec<f32>> {
        let norm = normalise(image, width, height);
        let pad = WINDOW / 2;
        let padded = image::GrayImage::from_fn(width + 2 * pad, height + 2 * pad, |x, y| {
            let sx = (x as i64 - pad as i64).clamp(0, width as i64 - 1) as u32;
            let sy = (y as i64 - pad as i64).clamp(0, height as i64 - 1) as u32;
            *norm.get_pixel(sx, sy)
        });
        let ii = integral(&padded);
        let rows: Vec<Vec<[f32; 3]>> = (0..height)
            .into_par_iter()
            .map(|y| {
                (0..width)
                    .map(|x| {
                        // Training samples come from the aorta region only; the spine is never calcified.
                        if x < AORTA_X0 {
                            [1.0, 0.0, 0.0]
                        } else {
                            self.forest.votes(|f| self.features[f].eval(&ii, x, y))
                        }
                    })
                    .collect()
            })
            .collect();
        (0..self.classes)
            .map(|c| {
                rows.iter()
                    .flatten()
                    .map(|v| {
                        if self.classes == 1 {
                            v[1] + v[2]
                        } else {
                            v[c + 1]
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// Labels from a response: binary 0/1, or 0/1/2 (the larger class wins).
    pub fn labels(&self, response: &[Vec<f32>], width: u32, height: u32, threshold: f32) -> Gray8 {
        aac_score::labels_from_planes(response, width, height, threshold)
    }

    /// Saves the model as JSON (atomically).
    pub fn save(&self, path: &Path) -> Result<(), IoError> {
        let text = serde_json::to_string(self).map_err(|e| IoError::format(path, e.to_string()))?;
        aac_io::write_string_atomic(path, &text)
    }

    /// Loads a model, refusing other kinds and versions.
    pub fn load(path: &Path) -> Result<RfModel, IoError> {
        let text = aac_io::read_text_capped(path, aac_io::input::MAX_MODEL_BYTES)?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| IoError::format(path, format!("not a model file (invalid JSON: {e})")))?;
        match (
            v.get("format").and_then(|f| f.as_str()),
            v.get("version").and_then(|f| f.as_u64()),
        ) {
            (Some(FORMAT), Some(1)) => {}
            (Some(FORMAT), ver) => {
                return Err(IoError::format(
                    path,
                    format!(
                        "random-forest model version {ver:?} is not supported (expected {VERSION})"
                    ),
                ))
            }
            (other, _) => {
                return Err(IoError::format(
                    path,
                    format!("not a random-forest model (format {other:?})"),
                ))
            }
        }
        let m: RfModel = serde_json::from_value(v)
            .map_err(|e| IoError::format(path, format!("corrupt random-forest model: {e}")))?;
        let nf = m.features.len() as u32;
        let bad = m.forest.trees.iter().any(|t| {
            t.nodes.iter().any(|n| match n {
                crate::forest::Node::Split {
                    feature,
                    left,
                    right,
                    ..
                } => {
                    *feature >= nf
                        || *left as usize >= t.nodes.len()
                        || *right as usize >= t.nodes.len()
                }
                crate::forest::Node::Leaf { class } => *class as usize > m.classes,
            })
        });
        if bad || m.forest.trees.is_empty() || !(1..=2).contains(&m.classes) {
            return Err(IoError::format(
                path,
                "corrupt random-forest model (inconsistent trees)",
            ));
        }
        Ok(m)
    }
}

/// Chooses the vote threshold maximising the mean Dice (of any calcification)
/// over the validation cases; a case where both the prediction and the
/// annotation are empty has no Dice and is left out of the mean, as in Table 1.
pub fn choose_threshold(model: &RfModel, val: &[RoiCase]) -> f32 {
    let responses: Vec<(Vec<Vec<f32>>, &RoiCase)> = val
        .iter()
        .filter(|c| c.mask.is_some())
        .map(|c| (model.response(&c.image, c.width, c.height), c))
        .collect();
    let mut best = (f64::MIN, 0.5f32);
    for t in (1..=10).map(|k| k as f32 / 10.0) {
        let dices: Vec<f64> = responses
            .iter()
            .filter_map(|(r, c)| {
                let labels = model.labels(r, c.width, c.height, t);
                overlap(&labels, c.mask.as_ref().expect("filtered"), Region::Union)
                    .ok()
                    .and_then(|o| o.dice)
            })
            .collect();
        let d = dices.iter().sum::<f64>() / dices.len().max(1) as f64;
        if d > best.0 {
            best = (d, t);
        }
    }
    best.1
}
