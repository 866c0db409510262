//! Trial of clearing the probabilities behind the vertebral bodies'
//! anterior walls (`aac_pipeline::bone`) before labelling, at a few
//! margins, on cohorts with true scores: AAC24 MAE, mean difference, 3-class
//! category accuracy, scans scored >= 2 whose truth is 0, per-wall totals.
//! With `DIAGONAL=1`, also the bone rule followed by removing thin lines
//! that cross the aortic band at more than 10, 15 or 20 degrees from its
//! course (warped space: vertical). Tried in 0.8.3 and not adopted
//! (docs/scoring.md).
//!
//! The baseline of both clears flat regions only: the bone and crossing
//! rules that `roi_labels` applies are applied here at each setting.
//!
//! `cargo run --release -p aac-pipeline --example bone_rule_trial --
//! MODEL.aac COHORT_DIR:POINTS_DIR [...]` (COHORT_DIR holds `images/` and
//! `scores.csv` with the 8 sub-scores).

use aac_io::Gray8;
use aac_pipeline::bone::{anterior_wall_x, clear_behind};
use aac_pipeline::bundle;
use aac_pipeline::predict::roi_probabilities;
use aac_pipeline::roi_labels::cleared_planes;
use aac_score::Grouping;
use anyhow::{bail, Context, Result};
use image::Luma;
use imageproc::region_labelling::{connected_components, Connectivity};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Margins tried (warped pixels in front of the wall); None: no clearing.
const MARGINS: [Option<f64>; 5] = [None, Some(-3.0), Some(0.0), Some(2.0), Some(4.0)];

/// Angle limits (degrees from vertical) of the diagonal trial.
const ANGLES: [f64; 3] = [10.0, 15.0, 20.0];

/// `labels` without the 8-connected components (any class) of at least 8
/// pixels that are lines (long axis at least 3 times the short one)
/// running more than `max_angle_deg` from vertical.
fn without_lines_steeper_than(labels: &Gray8, max_angle_deg: f64) -> Gray8 {
    let comps = connected_components(labels, Connectivity::Eight, Luma([0u8]));
    // Per component: n, sum x, sum y, sum xx, sum yy, sum xy.
    let mut moments: HashMap<u32, [f64; 6]> = HashMap::new();
    for (x, y, c) in comps.enumerate_pixels() {
        if c.0[0] != 0 {
            let (x, y) = (f64::from(x), f64::from(y));
            let m = moments.entry(c.0[0]).or_default();
            for (k, v) in [1.0, x, y, x * x, y * y, x * y].into_iter().enumerate() {
                m[k] += v;
            }
        }
    }
    let crossing: HashSet<u32> = moments
        .into_iter()
        .filter(|(_, m)| is_steep_line(m, max_angle_deg))
        .map(|(k, _)| k)
        .collect();
    if crossing.is_empty() {
        return labels.clone();
    }
    let mut out = labels.clone();
    for (x, y, c) in comps.enumerate_pixels() {
        if crossing.contains(&c.0[0]) {
            out.put_pixel(x, y, Luma([0]));
        }
    }
    out
}

/// Whether a component with these raw moments is a line more than
/// `max_angle_deg` from vertical.
fn is_steep_line(m: &[f64; 6], max_angle_deg: f64) -> bool {
    let n = m[0];
    if n < 8.0 {
        return false;
    }
    let (mx, my) = (m[1] / n, m[2] / n);
    let sxx = m[3] / n - mx * mx;
    let syy = m[4] / n - my * my;
    let sxy = m[5] / n - mx * my;
    let half_trace = (sxx + syy) / 2.0;
    let spread = (half_trace * half_trace - (sxx * syy - sxy * sxy))
        .max(0.0)
        .sqrt();
    let (long, short) = (half_trace + spread, (half_trace - spread).max(1e-6));
    // The long axis's angle from the rows' direction (vertical).
    let angle = (0.5 * (2.0 * sxy).atan2(syy - sxx)).to_degrees().abs();
    long / short >= 9.0 && angle > max_angle_deg
}

fn truth(dir: &Path) -> Result<BTreeMap<String, [u32; 9]>> {
    let mut r = csv::Reader::from_path(dir.join("scores.csv"))?;
    let mut m = BTreeMap::new();
    for row in r.records() {
        let row = row?;
        let mut v = [0u32; 9];
        for (k, x) in v.iter_mut().enumerate() {
            *x = row[k + 1].parse()?;
        }
        m.insert(row[0].to_string(), v);
    }
    Ok(m)
}

#[derive(Default, Clone)]
struct Tally {
    n: usize,
    right: usize,
    abs: f64,
    diff: f64,
    zero_high: usize,
    walls: [u32; 2],
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((model, cohorts)) = args.split_first() else {
        bail!("usage: bone_rule_trial MODEL.aac COHORT:POINTS ...");
    };
    let b = bundle::load(Path::new(model))?;
    let base = b.header.thresholds();
    let scales = b.header.length_scales();
    let g = Grouping::default();
    println!("| cohort | margin | scans | category acc | MAE | mean diff | truth 0 scored >= 2 | anterior / posterior total (truth) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for c in cohorts {
        let (dir, pts) = c.split_once(':').context("COHORT:POINTS")?;
        let dir = PathBuf::from(dir);
        let truth = truth(&dir)?;
        let items: Vec<_> = truth
            .keys()
            .filter_map(|id| {
                let p = Path::new(pts).join(format!("{id}.pts"));
                p.exists().then(|| {
                    (
                        id.clone(),
                        dir.join("images").join(format!("{id}.png")),
                        Some(p),
                    )
                })
            })
            .collect();
        let diagonal = std::env::var("DIAGONAL").is_ok();
        let mut tallies = vec![Tally::default(); MARGINS.len() + ANGLES.len()];
        let mut true_walls = [0u32; 2];
        for chunk in items.chunks(32) {
            for (item, r) in chunk.iter().zip(roi_probabilities(&b, chunk)) {
                let Ok(r) = r else { continue };
                // Flat regions only: the trial clears the bone itself.
                let (cleared, _) = cleared_planes(&r.roi, &r.planes, &[]);
                let t = truth[&item.0];
                for k in 0..8 {
                    true_walls[k % 2] += t[k + 1];
                }
                let wall = anterior_wall_x(&r.spine);
                let rules: Vec<(Option<f64>, Option<f64>)> = MARGINS
                    .iter()
                    .map(|&m| (m, None))
                    .chain(ANGLES.iter().map(|&a| (Some(0.0), Some(a))))
                    .collect();
                for (&(m, angle), tally) in rules.iter().zip(tallies.iter_mut()) {
                    if angle.is_some() && !diagonal {
                        continue;
                    }
                    let mut planes = cleared.clone();
                    if let (Some(m), Some(w)) = (m, &wall) {
                        clear_behind(&mut planes, w, m);
                    }
                    let labels = aac_score::labels_from_planes_per_class(
                        &planes,
                        aac_io::ROI_WIDTH,
                        aac_io::ROI_HEIGHT,
                        base,
                    );
                    let labels = match angle {
                        Some(a) => without_lines_steeper_than(&labels, a),
                        None => labels,
                    };
                    let s = aac_score::score_segmentation(&labels, r.prior_x)?
                        .with_length_scales(scales);
                    let (p, t0) = (f64::from(s.aac24), f64::from(t[0]));
                    tally.n += 1;
                    tally.right += usize::from(g.index(p) == g.index(t0));
                    tally.abs += (p - t0).abs();
                    tally.diff += p - t0;
                    tally.zero_high += usize::from(t[0] == 0 && s.aac24 >= 2);
                    for k in 0..8 {
                        tally.walls[k % 2] += s.sub[k];
                    }
                }
            }
            eprint!(".");
        }
        eprintln!();
        let name = dir.file_name().and_then(|s| s.to_str()).unwrap_or("");
        let names = MARGINS
            .iter()
            .map(|m| m.map_or("none".to_string(), |m| format!("{m:+}")))
            .chain(
                ANGLES
                    .iter()
                    .map(|a| format!("+0, diagonals over {a} deg removed")),
            );
        for (label, t) in names.zip(&tallies) {
            if t.n == 0 {
                continue;
            }
            let n = t.n.max(1) as f64;
            println!(
                "| {name} | {label} | {} | {:.3} | {:.3} | {:+.3} | {} | {} / {} ({} / {}) |",
                t.n,
                t.right as f64 / n,
                t.abs / n,
                t.diff / n,
                t.zero_high,
                t.walls[0],
                t.walls[1],
                true_walls[0],
                true_walls[1]
            );
        }
    }
    Ok(())
}
