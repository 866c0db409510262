//! A QC picture of a scored mask, like Fig. 3 (right) of Chaplin & Cootes
//! (2019): the warped image with anterior (blue) and posterior (red) labels,
//! the fitted midline (yellow), the disc levels (cyan, dashed) and the 8
//! sub-scores beside each vertebra.
//!
//! Labels that count toward the score are painted solid; labels on the wrong
//! side of the midline (not counted) are painted faint. Two thin bars right of
//! the image mark the rows counted as calcified (anterior, posterior), so the
//! calcified length behind each sub-score can be read off directly.

use crate::scoring::{counted_wall, Scored};
use aac_io::draw::{display_rgb, text, ANTERIOR_COLOUR, POSTERIOR_COLOUR};
use aac_io::{Gray16, Gray8, Rgb8, LABEL_ANTERIOR, LABEL_POSTERIOR};
use image::imageops::{resize, FilterType};
use image::Rgb;

/// Upscaling used by `aac score --overlays`.
pub const DEFAULT_SCALE: u32 = 3;

const MIDLINE_COLOUR: Rgb<u8> = Rgb([255, 215, 0]);
const DISC_COLOUR: Rgb<u8> = Rgb([0, 200, 210]);
const TEXT_COLOUR: Rgb<u8> = Rgb([235, 235, 235]);
const BACKGROUND: Rgb<u8> = Rgb([24, 24, 24]);
const ANTERIOR_TEXT: Rgb<u8> = Rgb([110, 170, 255]);
const POSTERIOR_TEXT: Rgb<u8> = Rgb([255, 110, 100]);
/// Opacity of labels that do not count (wrong side of the midline).
const FAINT: f32 = 0.35;

fn blend(p: &mut Rgb<u8>, c: Rgb<u8>, alpha: f32) {
    for k in 0..3 {
        p.0[k] = (f32::from(p.0[k]) * (1.0 - alpha) + f32::from(c.0[k]) * alpha).round() as u8;
    }
}

fn fill(rgb: &mut Rgb8, x0: u32, y0: u32, w: u32, h: u32, c: Rgb<u8>) {
    for y in y0..(y0 + h).min(rgb.height()) {
        for x in x0..(x0 + w).min(rgb.width()) {
            rgb.put_pixel(x, y, c);
        }
    }
}

/// Renders the overlay of a scored label image.
///
/// `image` is the warped image (drawn on black when None; resized to the
/// label size if it differs); `labels` the label mask; `scored` its scores
/// (from [`crate::score_labels`] or [`crate::score_segmentation`]: pixels
/// take the colour of the wall they count for); `scale` the integer upscaling (clamped to
/// 1..=8; 2-3 keeps the text legible). Vertebra v is taken to span rows
/// 64v .. 64v+63 as in warped space.
pub fn render_overlay(image: Option<&Gray16>, labels: &Gray8, scored: &Scored, scale: u32) -> Rgb8 {
    let s = scale.clamp(1, 8);
    let (w, h) = labels.dimensions();
    let t = if s >= 2 { 2 } else { 1 }; // text scale
    let ch = 8 * t; // character cell
    let header = ch + 8;
    let bar = 3 * t;
    let panel = 2 * bar + 6 + 6 * ch + 8;
    let (iw, ih) = (w * s, h * s);
    let mut out = Rgb8::from_pixel(iw + panel, ih + header, BACKGROUND);

    // The image, windowed and upscaled with nearest neighbour.
    let base = match image {
        Some(img) => {
            let rgb = display_rgb(img);
            if rgb.dimensions() == (w, h) {
                rgb
            } else {
                tracing::warn!(
                    "image is {}x{}, labels {w}x{h}: image resized for the overlay",
                    img.width(),
                    img.height()
                );
                resize(&rgb, w, h, FilterType::Triangle)
            }
        }
        None => Rgb8::from_pixel(w, h, Rgb([0, 0, 0])),
    };
    let mut big = resize(&base, iw, ih, FilterType::Nearest);

    // Labels: counted solid, not counted faint.
    let l = scored.midline_x;
    let mut row_ant = vec![false; h as usize];
    let mut row_post = vec![false; h as usize];
    for (x, y, p) in labels.enumerate_pixels() {
        let class_colour = match p.0[0] {
            LABEL_ANTERIOR => ANTERIOR_COLOUR,
            LABEL_POSTERIOR => POSTERIOR_COLOUR,
            _ => continue,
        };
        let wall = l.and_then(|l| counted_wall(p.0[0], f64::from(x), l, scored.rule));
        let counted = wall.is_some();
        let colour = match wall {
            Some(LABEL_ANTERIOR) => {
                row_ant[y as usize] = true;
                ANTERIOR_COLOUR
            }
            Some(_) => {
                row_post[y as usize] = true;
                POSTERIOR_COLOUR
            }
            None => class_colour,
        };
        let alpha = if counted { 1.0 } else { FAINT };
        for dy in 0..s {
            for dx in 0..s {
                blend(big.get_pixel_mut(x * s + dx, y * s + dy), colour, alpha);
            }
        }
    }

    // Midline: pixel centres are at (x + 0.5) s in the upscaled image.
    if let Some(l) = l {
        let cx = ((l + 0.5) * f64::from(s)).round() as i64;
        let half = i64::from(s / 3);
        for x in (cx - half)..=(cx + half) {
            if x >= 0 && (x as u32) < iw {
                for y in 0..ih {
                    big.put_pixel(x as u32, y, MIDLINE_COLOUR);
                }
            }
        }
    }
    image::imageops::overlay(&mut out, &big, 0, i64::from(header));

    // Calcified-row bars beside the image.
    let bx = iw + 3;
    for y in 0..h {
        let py = header + y * s;
        if row_ant[y as usize] {
            fill(&mut out, bx, py, bar, s, ANTERIOR_COLOUR);
        }
        if row_post[y as usize] {
            fill(&mut out, bx + bar + 2, py, bar, s, POSTERIOR_COLOUR);
        }
    }

    // Disc levels, dashed, across image and bars.
    let seg = aac_io::ROWS_PER_VERTEBRA;
    for k in 0..=(h / seg) {
        let y = (header + k * seg * s).min(out.height() - 1);
        for x in 0..(iw + 2 * bar + 6) {
            if (x / 6) % 2 == 0 {
                out.put_pixel(x, y, DISC_COLOUR);
            }
        }
    }

    // Sub-scores beside each vertebra.
    let tx = (iw + 2 * bar + 12) as i32;
    let line_h = ch + 6;
    for v in 0..4usize {
        let top = header + v as u32 * seg * s;
        if top >= out.height() {
            break;
        }
        let seg_h = (seg * s).min(out.height() - top);
        let y0 = (top + seg_h.saturating_sub(3 * line_h) / 2) as i32;
        let lh = line_h as i32;
        text(&mut out, tx, y0, &format!("L{}", v + 1), t, TEXT_COLOUR);
        let (a, p) = (scored.sub[2 * v], scored.sub[2 * v + 1]);
        text(&mut out, tx, y0 + lh, &format!("ant {a}"), t, ANTERIOR_TEXT);
        text(
            &mut out,
            tx,
            y0 + 2 * lh,
            &format!("pst {p}"),
            t,
            POSTERIOR_TEXT,
        );
    }

    // Header: total and midline.
    let head = match l {
        Some(l) => format!("AAC24 {}  x={l:.2}", scored.aac24),
        None => format!("AAC24 {}  no midline", scored.aac24),
    };
    text(&mut out, 4, 4, &head, t, TEXT_COLOUR);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score_labels;

    #[test]
    fn overlay_has_expected_size_and_marks() {
        let mut m = Gray8::new(128, 256);
        for y in 0..100 {
            m.put_pixel(90, y, image::Luma([1]));
            m.put_pixel(60, y, image::Luma([2]));
        }
        m.put_pixel(10, 200, image::Luma([1])); // stray, not counted
        let s = score_labels(&m).unwrap();
        let img = render_overlay(None, &m, &s, 3);
        let header = 16 + 8;
        assert_eq!(img.height(), 256 * 3 + header);
        assert!(img.width() > 128 * 3);
        // A counted anterior pixel is solid blue.
        assert_eq!(
            *img.get_pixel(90 * 3 + 1, header + 10 * 3 + 1),
            ANTERIOR_COLOUR
        );
        // The stray is faint: neither black nor full blue.
        let stray = *img.get_pixel(10 * 3 + 1, header + 200 * 3 + 1);
        assert!(
            stray != ANTERIOR_COLOUR && stray != Rgb([0, 0, 0]),
            "{stray:?}"
        );
        // The midline passes at (75 + 0.5) * 3 = 226.5 -> column 227.
        assert_eq!(*img.get_pixel(227, header + 250 * 3), MIDLINE_COLOUR);
    }

    #[test]
    fn overlay_of_empty_mask_and_other_image_size_does_not_panic() {
        let m = Gray8::new(128, 256);
        let s = score_labels(&m).unwrap();
        let img = Gray16::from_pixel(64, 64, image::Luma([1000]));
        let out = render_overlay(Some(&img), &m, &s, 1);
        assert_eq!(out.height(), 256 + 16);
        let out = render_overlay(None, &Gray8::new(3, 2), &s, 100);
        assert!(out.width() > 0);
    }
}
