//! The QC overlay of a scored scan on its original image: the scan with
//! what was scored drawn on it, under a header (id, AAC24, flags) and over a
//! legend, both sized to the image; and a thumbnail of the aortic band over
//! L1-L4, where the calcification is.

use super::*;
use aac_io::draw::vstack;
use aac_io::Rgb8;

/// A scan's QC overlay and its thumbnail.
pub struct Overlay {
    /// The framed overlay of the lumbar region (`overlays/<id>.jpg`).
    pub image: Rgb8,
    /// The aortic band over L1-L4 (`thumbs/<id>.png`).
    pub thumb: Rgb8,
}

impl Overlay {
    /// Writes the overlay and its thumbnail into an output folder.
    pub fn write(&self, out: &Path, id: &str) -> Result<()> {
        self.write_image(&overlay_path(out, id))?;
        aac_io::write_rgb_png(&thumb_path(out, id), &self.thumb)?;
        Ok(())
    }

    /// Writes the overlay alone (JPEG) to `path`, under
    /// [`OVERLAY_MAX_BYTES`] where a quality of 45 or more allows.
    pub fn write_image(&self, path: &Path) -> Result<()> {
        aac_io::write_rgb_jpeg_within(
            path,
            &self.image,
            OVERLAY_QUALITY,
            OVERLAY_FLOOR_QUALITY,
            OVERLAY_MAX_BYTES,
        )?;
        Ok(())
    }
}

/// Where an output keeps a scan's overlay.
pub fn overlay_path(out: &Path, id: &str) -> PathBuf {
    out.join("overlays").join(format!("{id}.jpg"))
}

/// Where an output keeps a scan's thumbnail.
pub fn thumb_path(out: &Path, id: &str) -> PathBuf {
    out.join("thumbs").join(format!("{id}.png"))
}

/// JPEG quality of overlays: lines and text stay crisp to the eye at 85,
/// and a lumbar region of 1,000 rows takes about 100-200 kB.
const OVERLAY_QUALITY: u8 = 85;

/// The most bytes an overlay should take (issue 35's target: 50,000 scans'
/// overlays in 10 GB). A noisy or edge-enhanced scan over it at 85 is
/// written at 75, 65, ... down to [`OVERLAY_FLOOR_QUALITY`].
pub const OVERLAY_MAX_BYTES: usize = 200_000;

/// The lowest quality an overlay is written at: text and lines are still
/// legible at 45.
const OVERLAY_FLOOR_QUALITY: u8 = 45;

/// Height of a thumbnail in pixels.
const THUMB_HEIGHT: u32 = 200;

/// The tallest overlay kept at full resolution: taller lumbar regions (fine
/// pixel spacing) are scaled down to it.
const OVERLAY_MAX_HEIGHT: u32 = 1000;

/// The lumbar region an overlay shows: the spine points and the aortic
/// band, padded by a third of their height above and below (T12 and the
/// sacrum) and a fifth at the sides, and the sub-score labels whole.
fn lumbar_box(
    spine: &[Point],
    prep: &aac_warp::PreparedRoi,
    labels: &[Label],
    w: u32,
    h: u32,
) -> (u32, u32, u32, u32) {
    let points = spine
        .iter()
        .copied()
        .chain(prep.roi.points.iter().flatten().copied());
    let (x, y, bw, bh) = aac_io::draw::padded_box(
        points,
        |span| [0.2 * span, 0.3 * span, 0.2 * span, 0.3 * span],
        w,
        h,
    );
    // Widened only as far as a label needs (a few pixels' margin), so the
    // overlay stays small.
    let (mut x0, mut x1) = (f64::from(x), f64::from(x + bw));
    for l in labels {
        x0 = x0.min(l.at.x - 4.0);
        x1 = x1.max(l.far_corner().x + 4.0);
    }
    let (x0, x1) = (x0.max(0.0) as u32, (x1.min(f64::from(w))) as u32);
    (x0, y, (x1 - x0).max(1), bh)
}

/// Colours of the lines drawn, named in the legend.
const WALL_COLOUR: Rgb<u8> = Rgb([255, 220, 0]);
const BAND_COLOUR: Rgb<u8> = Rgb([255, 150, 0]);
const LEVEL_COLOUR: Rgb<u8> = Rgb([0, 220, 230]);

/// A strip `width` wide holding `text` lines of 8-pixel glyphs at `scale`,
/// each as (words, colour) runs.
fn strip(width: u32, scale: u32, runs: &[(String, Rgb<u8>)]) -> Rgb8 {
    let glyph = 8 * scale as i32;
    let mut lines: Vec<Vec<&(String, Rgb<u8>)>> = vec![Vec::new()];
    let mut x = 0;
    for r in runs {
        let w = (r.0.len() as i32 + 1) * glyph;
        if x + w > width as i32 && x > 0 {
            lines.push(Vec::new());
            x = 0;
        }
        lines.last_mut().expect("one line at least").push(r);
        x += w;
    }
    let line_h = glyph + 4 * scale as i32;
    let mut out = Rgb8::from_pixel(
        width,
        (lines.len() as i32 * line_h + 4) as u32,
        Rgb([20, 20, 20]),
    );
    for (row, line) in lines.iter().enumerate() {
        let mut x = 4;
        for (words, colour) in line {
            text(&mut out, x, 4 + row as i32 * line_h, words, scale, *colour);
            x += (words.len() as i32 + 1) * glyph;
        }
    }
    out
}

/// A level's "Lk ant/post" sub-score label on the image.
#[derive(Debug, Clone, PartialEq)]
struct Label {
    /// Top-left corner, in image pixels.
    at: Point,
    /// The words.
    text: String,
    /// Glyph scale (8 x 8 pixels at 1).
    scale: u32,
}

impl Label {
    /// The bottom-right corner.
    fn far_corner(&self) -> Point {
        let glyph = 8.0 * f64::from(self.scale);
        Point::new(
            self.at.x + self.text.len() as f64 * glyph,
            self.at.y + glyph,
        )
    }
}

/// The four levels' labels, each beside the band's outer edge (`edge`: its
/// points at the five disc levels) at the middle of its level, in front of
/// it (away from the spine), moved in where it would leave an image `w`
/// wide, so that the overlay's crop keeps it whole.
fn level_labels(
    edge: [Point; 5],
    reflected: bool,
    s: &aac_score::Scored,
    scale: u32,
    w: u32,
) -> Vec<Label> {
    let glyph = 8.0 * f64::from(scale);
    (0..4)
        .map(|v| {
            let text = format!("L{} {}/{}", v + 1, s.sub[2 * v], s.sub[2 * v + 1]);
            let width = text.len() as f64 * glyph;
            let c = edge[v].mid(&edge[v + 1]);
            let x = if reflected {
                c.x - width - 6.0
            } else {
                c.x + 6.0
            };
            Label {
                at: Point::new(x.clamp(0.0, (f64::from(w) - width).max(0.0)), c.y),
                text,
                scale,
            }
        })
        .collect()
}

/// The region of the aortic band over L1-L4 (its control points, padded by
/// a tenth of its height), clamped to the image.
fn band_box(prep: &aac_warp::PreparedRoi, w: u32, h: u32) -> (u32, u32, u32, u32) {
    let points = prep.roi.points.iter().flatten().copied();
    aac_io::draw::padded_box(points, |span| [0.1 * span; 4], w, h)
}

/// The QC overlay on the original image: predicted calcification mapped back,
/// the aorta band (predicted walls +/- 3 SD), disc levels and sub-scores.
#[allow(clippy::too_many_arguments)]
pub(super) fn draw_overlay(
    img: &aac_io::Gray16,
    spine: &[Point],
    found: bool,
    prep: &aac_warp::PreparedRoi,
    pred: &aac_shape::Prediction,
    labels: &Gray8,
    s: &aac_score::Scored,
    (id, flags): (&str, &[QcFlag]),
) -> Overlay {
    let (w, h) = img.dimensions();
    let mut rgb = display_rgb(img);
    // Drawn as counted, so the colours match the sub-scores.
    let back = unwarp_labels(&prep.roi, &aac_score::counted_labels(labels, s), w, h);
    overlay_labels(&mut rgb, &back, 0.9);
    let a = pred.aorta();
    let sign = if pred.reflected { -1.0 } else { 1.0 };
    for k in 0..4 {
        for (wall, dir) in [(0usize, -1.0), (1, 1.0)] {
            let p = |kk: usize| {
                Point::new(
                    a[2 * kk + wall].x + sign * dir * 3.0 * pred.aorta_sd[2 * kk + wall],
                    a[2 * kk + wall].y,
                )
            };
            line(&mut rgb, p(k), p(k + 1), BAND_COLOUR);
            line(&mut rgb, a[2 * k + wall], a[2 * k + 2 + wall], WALL_COLOUR);
        }
    }
    for row in &prep.roi.points {
        line(&mut rgb, row[0], row[3], LEVEL_COLOUR);
    }
    let edge = std::array::from_fn(|k| prep.roi.points[k][3]);
    let labels = level_labels(edge, pred.reflected, s, (h / 500).max(1), w);
    for l in &labels {
        text(
            &mut rgb,
            l.at.x as i32,
            l.at.y as i32,
            &l.text,
            l.scale,
            Rgb([255, 255, 255]),
        );
    }
    let colour = if found {
        crate::landmarks::FOUND_COLOUR
    } else {
        crate::landmarks::GIVEN_COLOUR
    };
    crate::landmarks::draw_points(&mut rgb, spine, colour);
    let (bx, by, bw, bh) = band_box(prep, w, h);
    let thumb = resize_to_height(
        &image::imageops::crop_imm(&rgb, bx, by, bw, bh).to_image(),
        THUMB_HEIGHT,
    );
    let (lx, ly, lw, lh) = lumbar_box(spine, prep, &labels, w, h);
    let mut rgb = image::imageops::crop_imm(&rgb, lx, ly, lw, lh).to_image();
    if lh > OVERLAY_MAX_HEIGHT {
        rgb = resize_to_height(&rgb, OVERLAY_MAX_HEIGHT);
    }
    let (w, h) = rgb.dimensions();
    // Text about 1.5% of the region's height, at least the 8-pixel font.
    let scale = (h / 550).max(1);
    let white = Rgb([255, 255, 255]);
    let mut head = vec![
        (id.to_string(), white),
        (format!("AAC24 {}", s.aac24), Rgb([255, 255, 0])),
    ];
    head.extend(
        flags
            .iter()
            .map(|f| (f.name().to_string(), Rgb([255, 120, 120]))),
    );
    let points = if found {
        "found points"
    } else {
        "given points"
    };
    let legend = [
        ("anterior".to_string(), aac_io::draw::ANTERIOR_COLOUR),
        ("posterior".to_string(), aac_io::draw::POSTERIOR_COLOUR),
        ("aortic walls".to_string(), WALL_COLOUR),
        ("3 SD band".to_string(), BAND_COLOUR),
        ("disc levels".to_string(), LEVEL_COLOUR),
        (points.to_string(), colour),
        ("Lk ant/post sub-scores".to_string(), white),
    ];
    let image = vstack(&[strip(w, scale, &head), rgb, strip(w, scale, &legend)], 0);
    Overlay { image, thumb }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored() -> aac_score::Scored {
        aac_score::Scored {
            aac24: 7,
            sub: [0, 1, 2, 3, 0, 0, 1, 0],
            rows: [0; 8],
            midline_x: None,
            rule: aac_score::WallRule::ByPosition,
        }
    }

    #[test]
    fn level_labels_stay_whole_inside_the_image_on_either_side() {
        // The band's outer edge 10 pixels from the right edge of a 300-wide
        // image (facing right) and 10 from the left (facing left).
        for (x, reflected) in [(290.0, false), (10.0, true)] {
            let edge = std::array::from_fn(|k| Point::new(x, 100.0 + 60.0 * k as f64));
            let labels = level_labels(edge, reflected, &scored(), 2, 300);
            assert_eq!(labels[1].text, "L2 2/3");
            for l in &labels {
                let far = l.far_corner();
                assert!(l.at.x >= 0.0 && far.x <= 300.0, "{l:?}");
            }
        }
        // Where there is room, beside the edge on the side away from the spine.
        let edge = std::array::from_fn(|k| Point::new(150.0, 100.0 + 60.0 * k as f64));
        let right = level_labels(edge, false, &scored(), 1, 300);
        assert_eq!(right[0].at, Point::new(156.0, 130.0));
        let left = level_labels(edge, true, &scored(), 1, 300);
        assert!(left[0].far_corner().x <= 150.0 && left[0].far_corner().x > 140.0);
    }
}
