//! Renders the overlay figure of `docs/scoring.md` from a constructed,
//! synthetic-like warped image and mask:
//!
//! ```sh
//! cargo run --release -p aac-score --example doc_overlay -- docs/images/score-overlay.png
//! ```

use aac_io::{Gray16, Gray8, LABEL_ANTERIOR, LABEL_POSTERIOR};
use aac_score::overlay::{render_overlay, DEFAULT_SCALE};
use aac_score::score_labels;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{DynamicImage, Luma};
use std::path::PathBuf;
use std::process::ExitCode;

/// Posterior and anterior wall x at row y (a slowly bending aorta).
fn walls(y: u32) -> (f64, f64) {
    let t = f64::from(y) / 256.0;
    let bend = 4.0 * (t * 3.0).sin();
    (56.0 + bend, 96.0 + bend)
}

fn mask() -> Gray8 {
    let mut m = Gray8::new(128, 256);
    let mut deposit = |rows: std::ops::Range<u32>, label: u8| {
        for y in rows {
            let (p, a) = walls(y);
            let x0 = if label == LABEL_ANTERIOR { a } else { p };
            // Deposits 2-3 px thick, thickest in the middle of the wall.
            for dx in 0..(2 + u32::from((y / 5) % 3 == 0)) {
                m.put_pixel(x0.round() as u32 + dx - 1, y, Luma([label]));
            }
        }
    };
    deposit(20..35, LABEL_ANTERIOR); // L1 ant: 15 rows -> 1
    deposit(90..131, LABEL_POSTERIOR); // L2 post 38 rows -> 2, bridging into L3 (3 rows)
    deposit(100..110, LABEL_ANTERIOR); // L2 ant: 10 rows -> 1
    deposit(140..190, LABEL_ANTERIOR); // L3 ant: 50 rows -> 3
    deposit(160..171, LABEL_POSTERIOR); // L3 post: 3 + 11 = 14 rows -> 1
    deposit(195..240, LABEL_POSTERIOR); // L4 post: 45 rows -> 3
    deposit(230..236, LABEL_ANTERIOR); // L4 ant: 6 rows -> 1
                                       // A stray anterior label far on the posterior side: not counted.
    for y in 208..214 {
        for x in 28..31 {
            m.put_pixel(x, y, Luma([LABEL_ANTERIOR]));
        }
    }
    m
}

fn image(mask: &Gray8) -> Gray16 {
    let mut seed = 12345u64;
    let mut noise = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) as f64 / f64::from(1u32 << 31)) - 0.5
    };
    Gray16::from_fn(128, 256, |x, y| {
        let (xf, yf) = (f64::from(x), f64::from(y));
        // Soft tissue: brighter toward the spine.
        let mut v = 900.0 - 3.0 * xf;
        // Vertebral bodies on the left, discs at rows 64k.
        let d = (yf - 64.0 * (yf / 64.0).round()).abs();
        let edge = 34.0 + 3.0 * ((yf / 64.0).fract() * std::f64::consts::PI).sin();
        if xf < edge && d > 5.0 {
            v += 650.0 * (1.0 - (xf / edge).powi(6)) * (1.0 - (-(d - 5.0) / 2.0).exp());
        }
        // A faint aorta.
        let (p, a) = walls(y);
        if xf > p && xf < a {
            v += 60.0;
        }
        v += 40.0 * noise();
        if mask.get_pixel(x, y).0[0] != 0 {
            v += 500.0;
        }
        Luma([v.clamp(0.0, 4095.0) as u16])
    })
}

fn main() -> ExitCode {
    let out = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("score-overlay.png"));
    let m = mask();
    let scored = match score_labels(&m) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rgb = render_overlay(Some(&image(&m)), &m, &scored, DEFAULT_SCALE);
    let mut bytes = Vec::new();
    let enc = PngEncoder::new_with_quality(&mut bytes, CompressionType::Best, FilterType::Adaptive);
    if let Err(e) = DynamicImage::ImageRgb8(rgb).write_with_encoder(enc) {
        eprintln!("error: cannot encode PNG: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = aac_io::write_bytes_atomic(&out, &bytes) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    println!(
        "{}: AAC24 {}, sub-scores {:?}, midline {:?}, {} bytes",
        out.display(),
        scored.aac24,
        scored.sub,
        scored.midline_x,
        bytes.len()
    );
    ExitCode::SUCCESS
}
