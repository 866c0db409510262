//! Small drawing helpers for figures and QC overlays: display windowing,
//! label colours, points, lines and bitmap text (font8x8, so no system fonts
//! are needed on a headless machine).

use crate::image_io::{Gray16, Gray8, Rgb8};
use crate::pts::Point;
use font8x8::UnicodeFonts;
use image::Rgb;
use imageproc::drawing::{draw_filled_circle_mut, draw_line_segment_mut};

/// Colour of anterior-wall labels (blue, as in the paper's Fig. 3).
pub const ANTERIOR_COLOUR: Rgb<u8> = Rgb([40, 120, 255]);
/// Colour of posterior-wall labels (red).
pub const POSTERIOR_COLOUR: Rgb<u8> = Rgb([255, 50, 40]);

/// Maps a 16-bit image to RGB with a 1st-99th percentile window.
pub fn display_rgb(img: &Gray16) -> Rgb8 {
    let (lo, hi) = percentile_window(img.as_raw(), 0.01, 0.99);
    let span = (hi - lo).max(1.0);
    Rgb8::from_fn(img.width(), img.height(), |x, y| {
        let v = img.get_pixel(x, y).0[0] as f32;
        let t = (((v - lo) / span).clamp(0.0, 1.0) * 255.0) as u8;
        Rgb([t, t, t])
    })
}

/// Maps f32 values to RGB with a 1st-99th percentile window.
pub fn display_rgb_f32(values: &[f32], width: u32, height: u32) -> Rgb8 {
    let as16: Vec<u16> = {
        let (lo, hi) = values
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let span = (hi - lo).max(1e-6);
        values
            .iter()
            .map(|&v| (((v - lo) / span) * 65535.0) as u16)
            .collect()
    };
    display_rgb(&Gray16::from_raw(width, height, as16).expect("sizes match"))
}

/// The (lo, hi) values at two quantiles of the data.
pub fn percentile_window(data: &[u16], qlo: f64, qhi: f64) -> (f32, f32) {
    let mut hist = vec![0usize; 65536];
    for &v in data {
        hist[v as usize] += 1;
    }
    let n = data.len().max(1) as f64;
    let find = |q: f64| {
        let target = (q * n) as usize;
        let mut acc = 0usize;
        for (v, &c) in hist.iter().enumerate() {
            acc += c;
            if acc > target {
                return v as f32;
            }
        }
        65535.0
    };
    (find(qlo), find(qhi))
}

/// Paints label pixels over an RGB image (anterior blue, posterior red, any
/// other non-zero label yellow), blending with `alpha`.
pub fn overlay_labels(rgb: &mut Rgb8, mask: &Gray8, alpha: f32) {
    for (x, y, p) in rgb.enumerate_pixels_mut() {
        if x >= mask.width() || y >= mask.height() {
            continue;
        }
        let c = match mask.get_pixel(x, y).0[0] {
            0 => continue,
            1 => ANTERIOR_COLOUR,
            2 => POSTERIOR_COLOUR,
            _ => Rgb([255, 220, 0]),
        };
        for k in 0..3 {
            p.0[k] = (p.0[k] as f32 * (1.0 - alpha) + c.0[k] as f32 * alpha) as u8;
        }
    }
}

/// Draws a filled dot.
pub fn dot(rgb: &mut Rgb8, p: Point, radius: i32, colour: Rgb<u8>) {
    draw_filled_circle_mut(
        rgb,
        (p.x.round() as i32, p.y.round() as i32),
        radius,
        colour,
    );
}

/// Draws a line segment.
pub fn line(rgb: &mut Rgb8, a: Point, b: Point, colour: Rgb<u8>) {
    draw_line_segment_mut(
        rgb,
        (a.x as f32, a.y as f32),
        (b.x as f32, b.y as f32),
        colour,
    );
}

/// Draws a `+` of half-width `arm` pixels centred on a point.
pub fn cross(rgb: &mut Rgb8, p: Point, arm: f64, colour: Rgb<u8>) {
    line(
        rgb,
        Point::new(p.x - arm, p.y),
        Point::new(p.x + arm, p.y),
        colour,
    );
    line(
        rgb,
        Point::new(p.x, p.y - arm),
        Point::new(p.x, p.y + arm),
        colour,
    );
}

/// Draws ASCII text with the 8x8 bitmap font scaled by `scale`, top-left at (x, y).
pub fn text(rgb: &mut Rgb8, x: i32, y: i32, s: &str, scale: u32, colour: Rgb<u8>) {
    let scale = scale.max(1) as i32;
    for (i, ch) in s.chars().enumerate() {
        let Some(glyph) = font8x8::BASIC_FONTS.get(ch) else {
            continue;
        };
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = x + (i as i32 * 8 + col) * scale + dx;
                        let py = y + row as i32 * scale + dy;
                        if px >= 0
                            && py >= 0
                            && (px as u32) < rgb.width()
                            && (py as u32) < rgb.height()
                        {
                            rgb.put_pixel(px as u32, py as u32, colour);
                        }
                    }
                }
            }
        }
    }
}

/// The crop rectangle (x, y, width, height) around `points`, widened by
/// `pad(height of the points' box)` = [left, top, right, bottom] pixels and
/// clamped to a `width` x `height` image (at least 1 x 1).
pub fn padded_box(
    points: impl IntoIterator<Item = Point>,
    pad: impl Fn(f64) -> [f64; 4],
    width: u32,
    height: u32,
) -> (u32, u32, u32, u32) {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in points {
        x0 = x0.min(p.x);
        x1 = x1.max(p.x);
        y0 = y0.min(p.y);
        y1 = y1.max(p.y);
    }
    let [l, t, r, b] = pad(y1 - y0);
    let c = |v: f64, hi: u32| v.clamp(0.0, hi.saturating_sub(1) as f64) as u32;
    let (cx0, cy0) = (c(x0 - l, width), c(y0 - t, height));
    (
        cx0,
        cy0,
        (c(x1 + r, width) - cx0).max(1),
        (c(y1 + b, height) - cy0).max(1),
    )
}

/// Downscales an RGB image by an integer-free factor to the given height.
pub fn resize_to_height(rgb: &Rgb8, height: u32) -> Rgb8 {
    let w = ((rgb.width() as f64 * height as f64 / rgb.height() as f64).round() as u32).max(1);
    image::imageops::resize(rgb, w, height, image::imageops::FilterType::Triangle)
}

/// Places images side by side (top-aligned) on a dark background.
pub fn hstack(images: &[Rgb8], gap: u32) -> Rgb8 {
    let w: u32 =
        images.iter().map(|i| i.width()).sum::<u32>() + gap * images.len().saturating_sub(1) as u32;
    let h = images.iter().map(|i| i.height()).max().unwrap_or(1);
    let mut out = Rgb8::from_pixel(w.max(1), h, Rgb([20, 20, 20]));
    let mut x = 0;
    for img in images {
        image::imageops::overlay(&mut out, img, x as i64, 0);
        x += img.width() + gap;
    }
    out
}

/// One series of a [`line_chart`].
pub struct Series<'a> {
    /// Legend label.
    pub label: &'a str,
    /// (x, y) points.
    pub points: Vec<(f64, f64)>,
    /// Colour.
    pub colour: Rgb<u8>,
}

/// A simple line chart (axes with min/max labels, legend) on white.
pub fn line_chart(title: &str, x_label: &str, series: &[Series], width: u32, height: u32) -> Rgb8 {
    let mut img = Rgb8::from_pixel(width, height, Rgb([255, 255, 255]));
    let black = Rgb([0, 0, 0]);
    let (l, r, t, b) = (60.0, 20.0, 30.0, 40.0);
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.0.is_finite() && p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in pts {
        x0 = x0.min(p.0);
        x1 = x1.max(p.0);
        y0 = y0.min(p.1);
        y1 = y1.max(p.1);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-12 {
        y1 = y0 + 1.0;
    }
    let (pw, ph) = (width as f64 - l - r, height as f64 - t - b);
    let map = |x: f64, y: f64| {
        Point::new(
            l + (x - x0) / (x1 - x0) * pw,
            t + (1.0 - (y - y0) / (y1 - y0)) * ph,
        )
    };
    line(&mut img, Point::new(l, t), Point::new(l, t + ph), black);
    line(
        &mut img,
        Point::new(l, t + ph),
        Point::new(l + pw, t + ph),
        black,
    );
    text(&mut img, l as i32, 8, title, 1, black);
    text(&mut img, 2, t as i32, &format!("{y1:.3}"), 1, black);
    text(
        &mut img,
        2,
        (t + ph) as i32 - 8,
        &format!("{y0:.3}"),
        1,
        black,
    );
    text(
        &mut img,
        l as i32,
        (t + ph) as i32 + 6,
        &format!("{x0:.0}"),
        1,
        black,
    );
    text(
        &mut img,
        (l + pw) as i32 - 24,
        (t + ph) as i32 + 6,
        &format!("{x1:.0}"),
        1,
        black,
    );
    text(
        &mut img,
        (l + pw / 2.0) as i32 - 20,
        (t + ph) as i32 + 20,
        x_label,
        1,
        black,
    );
    for (i, s) in series.iter().enumerate() {
        let good: Vec<&(f64, f64)> = s
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        for w in good.windows(2) {
            line(&mut img, map(w[0].0, w[0].1), map(w[1].0, w[1].1), s.colour);
        }
        for p in &good {
            dot(&mut img, map(p.0, p.1), 2, s.colour);
        }
        let ly = t as i32 + 6 + 12 * i as i32;
        imageproc::drawing::draw_filled_rect_mut(
            &mut img,
            imageproc::rect::Rect::at((l + pw) as i32 - 120, ly).of_size(10, 8),
            s.colour,
        );
        text(&mut img, (l + pw) as i32 - 106, ly, s.label, 1, black);
    }
    img
}

/// Stacks images vertically (left-aligned) on a dark background.
pub fn vstack(images: &[Rgb8], gap: u32) -> Rgb8 {
    let h: u32 = images.iter().map(|i| i.height()).sum::<u32>()
        + gap * images.len().saturating_sub(1) as u32;
    let w = images.iter().map(|i| i.width()).max().unwrap_or(1);
    let mut out = Rgb8::from_pixel(w, h.max(1), Rgb([20, 20, 20]));
    let mut y = 0;
    for img in images {
        image::imageops::overlay(&mut out, img, 0, y as i64);
        y += img.height() + gap;
    }
    out
}

/// A scatter plot with optional horizontal reference lines (y values) and an
/// optional fitted line y = slope x + intercept.
pub fn scatter_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64)],
    fit: Option<(f64, f64)>,
    hlines: &[f64],
    size: u32,
) -> Rgb8 {
    let mut img = Rgb8::from_pixel(size, size, Rgb([255, 255, 255]));
    let black = Rgb([0, 0, 0]);
    let (l, r, t, b) = (50.0, 15.0, 30.0, 40.0);
    let good: Vec<&(f64, f64)> = points
        .iter()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let (mut x0, mut x1, mut y0, mut y1) = (0.0f64, 1.0f64, 0.0f64, 1.0f64);
    for p in &good {
        x0 = x0.min(p.0);
        x1 = x1.max(p.0);
        y0 = y0.min(p.1);
        y1 = y1.max(p.1);
    }
    for h in hlines {
        y0 = y0.min(*h);
        y1 = y1.max(*h);
    }
    let (pw, ph) = (size as f64 - l - r, size as f64 - t - b);
    let map = |x: f64, y: f64| {
        Point::new(
            l + (x - x0) / (x1 - x0).max(1e-9) * pw,
            t + (1.0 - (y - y0) / (y1 - y0).max(1e-9)) * ph,
        )
    };
    line(&mut img, Point::new(l, t), Point::new(l, t + ph), black);
    line(
        &mut img,
        Point::new(l, t + ph),
        Point::new(l + pw, t + ph),
        black,
    );
    text(&mut img, 8, 8, title, 1, black);
    text(&mut img, 2, t as i32, &format!("{y1:.1}"), 1, black);
    text(
        &mut img,
        2,
        (t + ph) as i32 - 8,
        &format!("{y0:.1}"),
        1,
        black,
    );
    text(
        &mut img,
        l as i32,
        (t + ph) as i32 + 6,
        &format!("{x0:.1}"),
        1,
        black,
    );
    text(
        &mut img,
        (l + pw) as i32 - 30,
        (t + ph) as i32 + 6,
        &format!("{x1:.1}"),
        1,
        black,
    );
    text(
        &mut img,
        (l + pw / 2.0) as i32 - 40,
        (t + ph) as i32 + 22,
        x_label,
        1,
        black,
    );
    text(
        &mut img,
        2,
        (t - 14.0) as i32 + 2,
        y_label,
        1,
        Rgb([90, 90, 90]),
    );
    for h in hlines {
        line(&mut img, map(x0, *h), map(x1, *h), Rgb([160, 160, 160]));
    }
    if let Some((slope, intercept)) = fit {
        line(
            &mut img,
            map(x0, slope * x0 + intercept),
            map(x1, slope * x1 + intercept),
            Rgb([220, 40, 40]),
        );
    }
    for p in good {
        dot(&mut img, map(p.0, p.1), 3, Rgb([30, 90, 220]));
    }
    img
}
