//! Crops a dataset to its lumbar spine, as an export that shows L1-L4 and
//! little else: the rows from T12's inferior endplate to L5's superior
//! endplate (two of the 20 spine points each), widened by MARGIN vertebral
//! levels either way, the full width kept. The landmarks move with the
//! rows; scores.csv is copied. The crops are 16-bit PNGs (a DICOM's pixel
//! spacing is not carried over). For measuring the landmark finder on a view
//! with neither the sacrum nor T12 in it (docs/landmarks.md,
//! `bench/crop_l1l4.py`).
//!
//! ```sh
//! cargo run --release -p aac-io --example crop_l1l4 -- SRC DST [MARGIN]
//! ```

use aac_io::pts::read_spine_pts;
use aac_io::{read_image, write_png16, write_pts, Dataset, Point, N_SPINE};
use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(src), Some(dst)) = (args.first(), args.get(1)) else {
        return Err("usage: crop_l1l4 SRC DST [MARGIN (levels, default 0.3)]".into());
    };
    let margin: f64 = match args.get(2) {
        Some(m) => m
            .parse()
            .map_err(|_| format!("MARGIN '{m}' is not a number"))?,
        None => 0.3,
    };
    if !(0.0..=5.0).contains(&margin) {
        return Err(format!("MARGIN {margin} is not 0-5 levels").into());
    }
    let (src, dst) = (PathBuf::from(src), PathBuf::from(dst));
    let data = Dataset::open(&src)?;
    for sub in ["images", "landmarks"] {
        std::fs::create_dir_all(dst.join(sub))
            .map_err(|e| format!("{}: cannot be created: {e}", dst.join(sub).display()))?;
    }
    let ids = data.ids();
    for id in &ids {
        let points = read_spine_pts(&data.landmarks_path(id))?;
        let image = read_image(&data.image_path(id))?;
        let rows: Vec<f64> = points.iter().take(N_SPINE).map(|p| p.y).collect();
        let (lo, hi) = rows
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &y| (a.min(y), b.max(y)));
        // T12's inferior to L5's superior endplate spans about 4.2 levels.
        let level = (hi - lo) / 4.2;
        let top = (lo - margin * level).max(0.0).floor() as u32;
        let bottom = ((hi + margin * level).ceil() as u32).min(image.height());
        if bottom <= top.saturating_add(1) {
            return Err(format!("{id}: its spine points leave no rows to keep").into());
        }
        let cropped =
            image::imageops::crop_imm(&image, 0, top, image.width(), bottom - top).to_image();
        write_png16(&dst.join("images").join(format!("{id}.png")), &cropped)?;
        let moved: Vec<Point> = points
            .iter()
            .map(|p| Point::new(p.x, p.y - f64::from(top)))
            .collect();
        write_pts(&dst.join("landmarks").join(format!("{id}.pts")), &moved)?;
    }
    if data.scores_path().exists() {
        std::fs::copy(data.scores_path(), dst.join("scores.csv"))
            .map_err(|e| format!("{}: cannot be copied: {e}", data.scores_path().display()))?;
    }
    println!("cropped {} scans into {}", ids.len(), dst.display());
    Ok(())
}
