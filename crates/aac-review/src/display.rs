//! The scan as the page shows it: 8-bit grey, windowed to its 1st-99th
//! percentile (the same window as the overlays), PNG-encoded.

use anyhow::{Context, Result};
use std::path::Path;

/// The PNG bytes of a scan for display.
pub fn scan_png(path: &Path) -> Result<Vec<u8>> {
    let img = aac_io::read_image(path)?;
    let (lo, hi) = aac_io::draw::percentile_window(img.as_raw(), 0.01, 0.99);
    let span = (hi - lo).max(1.0);
    let grey = image::GrayImage::from_fn(img.width(), img.height(), |x, y| {
        let v = (f32::from(img.get_pixel(x, y).0[0]) - lo) / span;
        image::Luma([(v.clamp(0.0, 1.0) * 255.0).round() as u8])
    });
    let mut bytes = Vec::new();
    grey.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .with_context(|| format!("{}: cannot encode for display", path.display()))?;
    Ok(bytes)
}
