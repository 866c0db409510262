//! Do the spine landmarks agree with their image? A reader knows which way a
//! lateral spine faces: the vertebral bodies are bright, the soft tissue in
//! front of them (where the aorta runs) is dark, and the arches and pedicles
//! behind them are bone again. Landmarks mirrored in x, or placed on another
//! image, put the "anterior" side on bone or the bodies on soft tissue; the
//! scores computed from them would be wrong with no error, so `predict` flags
//! such scans for review.

use aac_io::pts::index;
use aac_io::{Gray16, Point};

/// How many of the four lumbar bodies must look the right way round for the
/// landmarks to be accepted (three of four: one vertebra may be hidden by a
/// rib, bowel gas or a dose mask).
const MIN_AGREEING_VERTEBRAE: usize = 3;

/// Distance of the front and back samples from the body centre, in body
/// depths: half a depth in front of the anterior wall (soft tissue, aorta),
/// half a depth behind the posterior wall (pedicles and arch).
const SIDE_OFFSET_DEPTHS: f64 = 1.0;

/// Radius of each sampled disc, in body depths.
const SAMPLE_RADIUS_DEPTHS: f64 = 0.2;

/// Heights along the body (0 = superior endplate, 1 = inferior) at which the
/// three regions are sampled.
const SAMPLE_HEIGHTS: [f64; 3] = [0.3, 0.5, 0.7];

/// The outcome of [`check_landmarks_against_image`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LandmarkImageAgreement {
    /// Lumbar bodies (of those fully inside the image) brighter than the
    /// region in front of them, with the region behind them brighter too.
    pub agreeing: usize,
    /// Lumbar bodies whose three sample regions lie inside the image.
    pub checked: usize,
}

impl LandmarkImageAgreement {
    /// True when the landmarks do not fit the image: fewer than
    /// [`MIN_AGREEING_VERTEBRAE`] bodies look the right way round, while at
    /// least that many could be checked (a scan cropped through the spine is
    /// not judged).
    pub fn disagrees(&self) -> bool {
        self.checked >= MIN_AGREEING_VERTEBRAE && self.agreeing < MIN_AGREEING_VERTEBRAE
    }
}

/// Compares, for each of L1-L4, the mean intensity of the body with the
/// regions in front of and behind it, as the 20 spine landmarks (contract
/// order) place them.
pub fn check_landmarks_against_image(img: &Gray16, spine: &[Point]) -> LandmarkImageAgreement {
    let mut out = LandmarkImageAgreement {
        agreeing: 0,
        checked: 0,
    };
    for v in 0..4 {
        let corner = |i: usize| spine[i];
        let (sp, sa) = (corner(index::sup_post(v)), corner(index::sup_ant(v)));
        let (ip, ia) = (corner(index::inf_post(v)), corner(index::inf_ant(v)));
        let mut sums = [0.0f64; 3];
        let mut inside = true;
        for t in SAMPLE_HEIGHTS {
            let post = lerp(sp, ip, t);
            let ant = lerp(sa, ia, t);
            let (dx, dy) = (ant.x - post.x, ant.y - post.y);
            let depth = dx.hypot(dy);
            let centre = lerp(post, ant, 0.5);
            let r = SAMPLE_RADIUS_DEPTHS * depth;
            for (k, offset) in [0.0, SIDE_OFFSET_DEPTHS, -SIDE_OFFSET_DEPTHS]
                .into_iter()
                .enumerate()
            {
                let at = Point::new(centre.x + offset * dx, centre.y + offset * dy);
                match disc_mean(img, at, r) {
                    Some(m) => sums[k] += m,
                    None => inside = false,
                }
            }
        }
        if !inside {
            continue;
        }
        out.checked += 1;
        let [body, front, back] = sums;
        if body > front && back > front {
            out.agreeing += 1;
        }
    }
    out
}

fn lerp(a: Point, b: Point, t: f64) -> Point {
    Point::new(a.x + t * (b.x - a.x), a.y + t * (b.y - a.y))
}

/// Mean intensity in a disc, or None when the disc leaves the image or the
/// point is not finite.
fn disc_mean(img: &Gray16, c: Point, r: f64) -> Option<f64> {
    let (w, h) = (img.width() as f64, img.height() as f64);
    if !(c.x.is_finite() && c.y.is_finite() && r.is_finite())
        || c.x - r < 0.0
        || c.y - r < 0.0
        || c.x + r >= w
        || c.y + r >= h
    {
        return None;
    }
    let r = r.max(1.0);
    let (mut sum, mut values) = (0.0, Vec::new());
    let (x0, x1) = ((c.x - r).floor() as i64, (c.x + r).ceil() as i64);
    let (y0, y1) = ((c.y - r).floor() as i64, (c.y + r).ceil() as i64);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (fx, fy) = (x as f64 - c.x, y as f64 - c.y);
            if fx * fx + fy * fy <= r * r
                && x >= 0
                && y >= 0
                && (x as u32) < img.width()
                && (y as u32) < img.height()
            {
                let v = img.get_pixel(x as u32, y as u32)[0];
                sum += f64::from(v);
                values.push(v);
            }
        }
    }
    (!values.is_empty() && !mostly_one_value(&mut values)).then(|| sum / values.len() as f64)
}

/// True when more than half the values are one value: a flat region (a
/// dose-masked rectangle, a band outside the scanned field, a clipped
/// export), which says nothing about the anatomy under it.
fn mostly_one_value(values: &mut [u16]) -> bool {
    values.sort_unstable();
    let mut longest = 0;
    for run in values.chunk_by(|a, b| a == b) {
        longest = longest.max(run.len());
    }
    2 * longest > values.len()
}
