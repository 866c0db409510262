//! Text and marks burned into an export by the scanner software
//! ([`crate::Factor::BurnedIn`]): level labels beside the bodies, the six
//! morphometry points of each body with its three heights, a ruler, and a
//! text block in a corner. They are drawn on the written image (after crop
//! and mirroring, so the text reads left to right) and never touch the
//! masks or the points.

use crate::anatomy::{Anatomy, VERTEBRA_NAMES};
use aac_io::draw::{cross, line, text};
use aac_io::{Gray16, Point, Rgb8};
use image::Rgb;
use rand::Rng;

/// Where the scene lies in the written image.
pub struct Placement {
    /// Scene rows cut from the top.
    pub crop_top: usize,
    /// False when the image was mirrored (the patient faces left).
    pub faces_right: bool,
}

impl Placement {
    /// A scene point in the written image of width `w`.
    fn place(&self, p: Point, w: u32) -> Point {
        let x = if self.faces_right {
            p.x
        } else {
            (w - 1) as f64 - p.x
        };
        Point::new(x, p.y - self.crop_top as f64)
    }
}

/// Burns marks into `image`; what is drawn is drawn from `rng`.
pub fn burn_in<R: Rng>(rng: &mut R, image: &mut Gray16, a: &Anatomy, at: &Placement) {
    let (w, h) = image.dimensions();
    let mm = 1.0 / a.spacing_mm;
    let mut ink = Rgb8::new(w, h);
    let white = Rgb([255u8, 255, 255]);
    // Glyphs about 4-6 mm tall.
    let scale = ((rng.random_range(4.0..6.0) * mm / 8.0).round() as u32).max(1);
    let first = if rng.random::<f64>() < 0.5 { 8 } else { 0 };
    let labels = rng.random::<f64>() < 0.85;
    let morphometry = rng.random::<f64>() < 0.5;
    for (v, name) in a.vertebrae.iter().zip(VERTEBRA_NAMES).skip(first) {
        let c = v.corners.map(|p| at.place(p, w));
        let centre = at.place(v.centre(), w);
        if labels {
            // Behind the body, past the posterior elements.
            let back = if at.faces_right { -1.0 } else { 1.0 };
            let x = centre.x + back * rng.random_range(35.0..50.0) * mm;
            let tw = (name.len() as u32 * 8 * scale) as f64;
            text(
                &mut ink,
                (x - tw / 2.0) as i32,
                (centre.y - 4.0 * scale as f64) as i32,
                name,
                scale,
                white,
            );
        }
        if morphometry {
            let arm = 1.5 * mm;
            let mid = |p: Point, q: Point| Point::new((p.x + q.x) / 2.0, (p.y + q.y) / 2.0);
            let (top, bottom) = (mid(c[0], c[1]), mid(c[3], c[2]));
            let points = [c[0], c[1], c[2], c[3], top, bottom];
            for p in points {
                cross(&mut ink, p, arm, white);
            }
            line(&mut ink, c[0], c[3], white);
            line(&mut ink, top, bottom, white);
            line(&mut ink, c[1], c[2], white);
        }
    }
    if rng.random::<f64>() < 0.4 {
        // A ruler down one edge, a tick every 10 mm.
        let x0 = if rng.random::<bool>() {
            (w as f64 - 6.0 * mm).max(0.0)
        } else {
            2.0 * mm
        };
        let mut y = 20.0 * mm;
        let mut k = 0;
        while y < h as f64 - 20.0 * mm {
            let len = if k % 5 == 0 { 4.0 } else { 2.0 } * mm;
            line(&mut ink, Point::new(x0, y), Point::new(x0 + len, y), white);
            y += 10.0 * mm;
            k += 1;
        }
    }
    if rng.random::<f64>() < 0.7 {
        let id = rng.random_range(1000..99999);
        let lines = [
            format!("LVA  ID {id:05}"),
            format!(
                "{:02}/{:02}/20{:02}",
                rng.random_range(1..29),
                rng.random_range(1..13),
                rng.random_range(5..25)
            ),
        ];
        let small = (scale * 2 / 3).max(1);
        let y0 = if rng.random::<bool>() {
            4
        } else {
            h as i32 - 2 * 10 * small as i32 - 4
        };
        for (i, l) in lines.iter().enumerate() {
            text(
                &mut ink,
                4,
                y0 + (i as i32) * 10 * small as i32,
                l,
                small,
                white,
            );
        }
    }
    let value = rng.random_range(2800..=4095u16);
    for (o, m) in image.pixels_mut().zip(ink.pixels()) {
        if m.0[0] > 0 {
            o.0[0] = value;
        }
    }
}
