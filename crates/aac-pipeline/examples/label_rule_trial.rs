//! Trial of labelling rules against ground-truth scores: the bundle's
//! threshold (nominal), and hysteresis (pixels at `lo` x threshold kept only
//! in 8-connected components that reach `hi` x threshold somewhere), on
//! cohorts with true scores. Prints category accuracy and AAC24 MAE per
//! cohort and rule.
//!
//! `cargo run --release -p aac-pipeline --example label_rule_trial --
//! MODEL.aac COHORT_DIR:POINTS_DIR [...]` (COHORT_DIR holds `images/` and
//! `scores.csv`).

use aac_io::{Gray8, ROI_HEIGHT, ROI_WIDTH};
use aac_pipeline::bundle;
use aac_pipeline::predict::roi_probabilities;
use aac_pipeline::roi_labels::cleared_planes;
use aac_score::Grouping;
use anyhow::{bail, Context, Result};
use image::Luma;
use imageproc::region_labelling::{connected_components, Connectivity};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// (lo, hi) factor pairs tried; (1, 1) is the nominal rule.
fn rules() -> Vec<(f32, f32)> {
    if std::env::var("TTA").is_ok() {
        // Plain thresholds at factors, for averaged planes.
        return [0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25]
            .into_iter()
            .map(|f| (f, f))
            .collect();
    }
    let mut v = vec![(1.0, 1.0)];
    for lo in [0.5, 0.7, 0.85, 1.0] {
        for hi in [1.0, 1.25, 1.5, 2.0, 2.5, 3.0] {
            if hi > lo && (lo, hi) != (1.0, 1.0) {
                v.push((lo, hi));
            }
        }
    }
    v
}

fn hysteresis(planes: &[Vec<f32>], base: [f32; 2], lo: f32, hi: f32) -> Gray8 {
    let t_lo = base.map(|t| (t * lo).min(0.99));
    let t_hi = base.map(|t| (t * hi).min(0.99));
    let labels = aac_score::labels_from_planes_per_class(planes, ROI_WIDTH, ROI_HEIGHT, t_lo);
    let comps = connected_components(&labels, Connectivity::Eight, Luma([0u8]));
    let mut strong = std::collections::HashSet::new();
    for (x, y, c) in comps.enumerate_pixels() {
        let i = (y * ROI_WIDTH + x) as usize;
        if c.0[0] != 0 && (planes[0][i] >= t_hi[0] || planes[1][i] >= t_hi[1]) {
            strong.insert(c.0[0]);
        }
    }
    let mut out = labels.clone();
    for (x, y, c) in comps.enumerate_pixels() {
        if c.0[0] != 0 && !strong.contains(&c.0[0]) {
            out.put_pixel(x, y, Luma([0]));
        }
    }
    out
}

/// Rows of a 128 x 256 plane in reverse order (disc levels stay on disc
/// levels: they lie at rows 0, 64, .., 256).
fn flip_rows(v: &[f32]) -> Vec<f32> {
    let w = ROI_WIDTH as usize;
    v.chunks(w).rev().flatten().copied().collect()
}

/// The planes averaged with those of the vertically flipped region.
fn with_flipped(b: &bundle::Bundle, roi: &[f32], planes: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let flipped = b.unet.predict(&[flip_rows(roi)]);
    planes
        .iter()
        .zip(&flipped[0])
        .map(|(a, f)| {
            a.iter()
                .zip(flip_rows(f))
                .map(|(x, y)| 0.5 * (x + y))
                .collect()
        })
        .collect()
}

fn truth(dir: &Path) -> Result<BTreeMap<String, u32>> {
    let mut r = csv::Reader::from_path(dir.join("scores.csv"))?;
    let mut m = BTreeMap::new();
    for row in r.records() {
        let row = row?;
        m.insert(row[0].to_string(), row[1].parse()?);
    }
    Ok(m)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((model, cohorts)) = args.split_first() else {
        bail!("usage: label_rule_trial MODEL.aac COHORT:POINTS ...");
    };
    let b = bundle::load(Path::new(model))?;
    let base = b.header.thresholds();
    let scales = b.header.length_scales();
    let g = Grouping::default();
    let rules = rules();
    println!("cohort | rule lo/hi | scans | category acc | MAE | mean diff");
    for c in cohorts {
        let (dir, pts) = c.split_once(':').context("COHORT:POINTS")?;
        let dir = PathBuf::from(dir);
        let truth = truth(&dir)?;
        let mut items = Vec::new();
        for id in truth.keys() {
            let p = Path::new(pts).join(format!("{id}.pts"));
            if p.exists() {
                items.push((
                    id.clone(),
                    dir.join("images").join(format!("{id}.png")),
                    Some(p),
                ));
            }
        }
        let mut tallies = vec![(0usize, 0usize, 0.0f64, 0.0f64); rules.len()];
        for (item, r) in items.iter().zip(roi_probabilities(&b, &items)) {
            let Ok(r) = r else { continue };
            let planes = match std::env::var("TTA").as_deref() {
                Ok("flip") => with_flipped(&b, &r.roi, &r.planes),
                _ => r.planes.clone(),
            };
            let (planes, _) = cleared_planes(&r.roi, &planes, &r.spine);
            let t = truth[&item.0];
            for (k, &(lo, hi)) in rules.iter().enumerate() {
                let labels = hysteresis(&planes, base, lo, hi);
                let s =
                    aac_score::score_segmentation(&labels, r.prior_x)?.with_length_scales(scales);
                let e = &mut tallies[k];
                e.0 += 1;
                e.1 += usize::from(g.index(f64::from(s.aac24)) == g.index(f64::from(t)));
                e.2 += (f64::from(s.aac24) - f64::from(t)).abs();
                e.3 += f64::from(s.aac24) - f64::from(t);
            }
        }
        for ((lo, hi), (n, right, abs, diff)) in rules.iter().zip(&tallies) {
            let n = (*n).max(1) as f64;
            println!(
                "{} | {lo}/{hi} | {n} | {:.3} | {:.3} | {:+.3}",
                dir.file_name().and_then(|s| s.to_str()).unwrap_or(""),
                *right as f64 / n,
                abs / n,
                diff / n
            );
        }
    }
    Ok(())
}
