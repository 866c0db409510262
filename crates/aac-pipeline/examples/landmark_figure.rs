//! Figure of found against true spine points: for each (image, true .pts,
//! found .pts) the spine's neighbourhood, true points in green, found ones
//! in magenta, side by side at one height. docs/landmarks.md's figures.
//!
//! `cargo run --release -p aac-pipeline --example landmark_figure -- OUT.png
//! IMAGE TRUE.pts FOUND.pts [IMAGE TRUE.pts FOUND.pts ...]`

use aac_io::{draw::display_rgb, image_io, pts, Point};
use aac_pipeline::landmarks::{draw_points, FOUND_COLOUR, GIVEN_COLOUR};
use anyhow::{bail, Context, Result};
use image::{imageops, RgbImage};
use std::path::Path;

/// Height of each panel in the figure (pixels).
const PANEL_HEIGHT: u32 = 520;
/// Gap between panels (pixels).
const GAP: u32 = 8;

/// One panel: the image around both point sets with the points drawn.
fn panel(image: &Path, truth: &Path, found: &Path) -> Result<RgbImage> {
    let img = image_io::read_image(image).with_context(|| format!("{}", image.display()))?;
    let t = pts::read_pts(truth)?;
    let f = pts::read_pts(found)?;
    let mut rgb = display_rgb(&img);
    draw_points(&mut rgb, &t, GIVEN_COLOUR);
    draw_points(&mut rgb, &f, FOUND_COLOUR);
    let all: Vec<&Point> = t.iter().take(aac_io::N_SPINE).chain(&f).collect();
    let lo_x = all.iter().map(|p| p.x).fold(f64::INFINITY, f64::min);
    let hi_x = all.iter().map(|p| p.x).fold(f64::NEG_INFINITY, f64::max);
    let lo_y = all.iter().map(|p| p.y).fold(f64::INFINITY, f64::min);
    let hi_y = all.iter().map(|p| p.y).fold(f64::NEG_INFINITY, f64::max);
    let margin = 0.25 * (hi_y - lo_y).max(hi_x - lo_x);
    let clamp = |v: f64, max: u32| v.clamp(0.0, max as f64) as u32;
    let (x0, x1) = (
        clamp(lo_x - margin, rgb.width()),
        clamp(hi_x + margin, rgb.width()),
    );
    let (y0, y1) = (
        clamp(lo_y - margin, rgb.height()),
        clamp(hi_y + margin, rgb.height()),
    );
    if x1 <= x0 || y1 <= y0 {
        bail!("{}: the points lie outside the image", image.display());
    }
    let crop = imageops::crop_imm(&rgb, x0, y0, x1 - x0, y1 - y0).to_image();
    let width = (crop.width() as f64 * PANEL_HEIGHT as f64 / crop.height() as f64).round() as u32;
    Ok(imageops::resize(
        &crop,
        width.max(1),
        PANEL_HEIGHT,
        imageops::FilterType::Triangle,
    ))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 || !(args.len() - 1).is_multiple_of(3) {
        bail!("usage: landmark_figure OUT.png (IMAGE TRUE.pts FOUND.pts)...");
    }
    let panels: Vec<RgbImage> = args[1..]
        .chunks(3)
        .map(|c| panel(Path::new(&c[0]), Path::new(&c[1]), Path::new(&c[2])))
        .collect::<Result<_>>()?;
    let width = panels.iter().map(|p| p.width() + GAP).sum::<u32>() - GAP;
    let mut out = RgbImage::from_pixel(width, PANEL_HEIGHT, image::Rgb([255, 255, 255]));
    let mut x = 0;
    for p in &panels {
        imageops::replace(&mut out, p, x as i64, 0);
        x += p.width() + GAP;
    }
    image_io::write_rgb_png(Path::new(&args[0]), &out)?;
    Ok(())
}
