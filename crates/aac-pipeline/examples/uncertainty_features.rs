//! Per-scan features for choosing `predict`'s uncertainty measure
//! (bench/uncertainty.py, docs/review.md): the nominal sub-scores, AAC24 at
//! a grid of threshold factors, and the cleared probability planes and
//! warped image as raw little-endian f32 (128 x 256 each: image, anterior,
//! posterior) for offline study.
//!
//! `cargo run --release -p aac-pipeline --example uncertainty_features --
//! MODEL.aac IMAGES_DIR POINTS_DIR OUT_DIR`

use aac_pipeline::bundle;
use aac_pipeline::predict::roi_probabilities;
use aac_pipeline::roi_labels::{cleared_planes, scores_of_cleared};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Threshold factors the score is recomputed at.
const FACTORS: [f32; 13] = [
    0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.25, 1.6, 2.0, 2.5, 3.0, 4.0,
];

fn items(images: &Path, points: &Path) -> Result<Vec<(String, PathBuf, Option<PathBuf>)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(images).with_context(|| images.display().to_string())? {
        let p = e?.path();
        let Some(id) = p.file_stem().and_then(|s| s.to_str()).map(str::to_string) else {
            continue;
        };
        let pts = points.join(format!("{id}.pts"));
        if pts.exists() {
            out.push((id, p, Some(pts)));
        }
    }
    out.sort();
    Ok(out)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, images, points, out] = args.as_slice() else {
        bail!("usage: uncertainty_features MODEL.aac IMAGES_DIR POINTS_DIR OUT_DIR");
    };
    let b = bundle::load(Path::new(model))?;
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    let items = items(Path::new(images), Path::new(points))?;
    let base = b.header.thresholds();
    let mut csv = std::fs::File::create(out.join("features.csv"))?;
    write!(csv, "id,prior_x,aac24")?;
    for k in 0..8 {
        write!(csv, ",s{k}")?;
    }
    for f in FACTORS {
        write!(csv, ",f{f}")?;
    }
    writeln!(csv)?;
    for chunk in items.chunks(32) {
        for ((id, _, _), r) in chunk.iter().zip(roi_probabilities(&b, chunk)) {
            let Ok(r) = r else {
                eprintln!("{id}: {}", r.err().unwrap_or_default());
                continue;
            };
            let (planes, _) = cleared_planes(&r.roi, &r.planes, &r.spine);
            let at = |f: f32| {
                scores_of_cleared(&planes, base.map(|t| (t * f).min(0.99)), r.prior_x)
                    .map(|s| s.with_length_scales(b.header.length_scales()))
            };
            let nominal = at(1.0)?;
            write!(csv, "{id},{:.3},{}", r.prior_x, nominal.aac24)?;
            for s in nominal.sub {
                write!(csv, ",{s}")?;
            }
            for f in FACTORS {
                write!(csv, ",{}", at(f)?.aac24)?;
            }
            writeln!(csv)?;
            let mut raw = Vec::with_capacity(3 * r.roi.len() * 4);
            for v in r.roi.iter().chain(&planes[0]).chain(&planes[1]) {
                raw.extend_from_slice(&v.to_le_bytes());
            }
            std::fs::write(out.join(format!("{id}.f32")), raw)?;
        }
        eprint!(".");
    }
    eprintln!();
    Ok(())
}
