//! Side-by-side crops of scans with their true (green) and found (magenta)
//! spine points, for docs/landmarks.md:
//! `cargo run --release -p aac-landmarks --example landmark_figure --
//! OUT.png IMAGES TRUTH FOUND ID...` (TRUTH and FOUND hold `<id>.pts`).

use aac_io::draw::{cross, display_rgb, resize_to_height};
use aac_io::{read_image, read_pts, Rgb8};
use image::Rgb;
use std::path::Path;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 6 {
        eprintln!("usage: landmark_figure OUT.png IMAGES TRUTH FOUND ID...");
        std::process::exit(2);
    }
    let (out, images, truth, found) = (&a[1], &a[2], &a[3], &a[4]);
    let mut panels = Vec::new();
    for id in &a[5..] {
        let img = read_image(&Path::new(images).join(format!("{id}.png"))).expect("image");
        let t = read_pts(&Path::new(truth).join(format!("{id}.pts"))).expect("truth");
        let f = read_pts(&Path::new(found).join(format!("{id}.pts"))).expect("found");
        let mut rgb = display_rgb(&img);
        let arm = (img.height() as f64 / 200.0).max(3.0);
        for p in &t[..20] {
            cross(&mut rgb, *p, arm, Rgb([60, 230, 90]));
        }
        for p in &f[..20] {
            cross(&mut rgb, *p, arm, Rgb([255, 60, 200]));
        }
        // Crop around the true spine with a margin of half its height.
        let (x0, x1) = t[..20]
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.x), b.max(p.x)));
        let (y0, y1) = t[..20]
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.y), b.max(p.y)));
        let m = 0.5 * (y1 - y0);
        let (cx0, cy0) = ((x0 - m).max(0.0) as u32, (y0 - m).max(0.0) as u32);
        let cx1 = ((x1 + m) as u32).min(img.width());
        let cy1 = ((y1 + m) as u32).min(img.height());
        let crop = image::imageops::crop_imm(&rgb, cx0, cy0, cx1 - cx0, cy1 - cy0).to_image();
        panels.push(resize_to_height(&crop, 420));
    }
    let width: u32 = panels.iter().map(|p| p.width() + 6).sum();
    let mut sheet = Rgb8::from_pixel(width, 420, Rgb([0, 0, 0]));
    let mut x = 0;
    for p in &panels {
        image::imageops::overlay(&mut sheet, p, x as i64, 0);
        x += p.width() + 6;
    }
    aac_io::write_rgb_png(Path::new(out), &sheet).expect("write");
}
