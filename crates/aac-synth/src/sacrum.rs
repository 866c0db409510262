//! The sacrum as one fused, curved bone
//! ([`Factor::FusedSacrum`](crate::Factor::FusedSacrum)): S1's body with
//! its bright plateau under the L5/S1 disc, continuing without a disc into
//! S2-S5, which taper towards the tip; the whole bone bowed back (concave
//! in front, as the sacral kyphosis is), a cortical shell round it, the
//! fusion lines between the segments only faint ridges (brightest in
//! front), a remnant S1/S2 disc in some scans, and the alae as a dimmer
//! veil over S1. This is what a reader counts up from ("L5 is the lowest
//! body with a disc below it"); the plain wedge and the stacked segments of
//! [`Factor::SacralSegments`](crate::Factor::SacralSegments) look like
//! neither a real sacrum nor each other, and a finder trained on them
//! learns their look. Only the drawing changes: the sacrum's four corners
//! (and so S1's plateau) are the anatomy's, and nothing else moves.

use crate::anatomy::Anatomy;
use crate::field::{smoothstep, CoarseField};
use crate::render::Canvas;
use aac_io::Point;
use rand::Rng;

/// Segment boundaries down the sacrum (S1 the tallest), as shares of its
/// length.
const FUSIONS: [f64; 4] = [0.3, 0.52, 0.7, 0.85];

/// Points along each long border of the outline.
const SAMPLES: usize = 24;

/// How one scan draws its sacrum.
#[derive(Debug, Clone, Copy)]
pub struct SacrumLook {
    /// How far the middle of the bone lies behind the straight line from
    /// the promontory to the tip, as a share of the bone's length.
    pub bow: f64,
    /// Brightness of the bone against a lumbar body's (0.75-1.1).
    pub gain: f32,
    /// A remnant disc between S1 and S2 (a dark cleft in front).
    pub remnant_disc: bool,
    /// Brightness of the fusion ridges (0.1-0.25).
    pub ridges: f32,
}

impl SacrumLook {
    /// Draws a scan's look from its own stream.
    pub fn draw<R: Rng>(rng: &mut R) -> SacrumLook {
        SacrumLook {
            bow: rng.random_range(0.04..0.14),
            gain: rng.random_range(0.75..1.1),
            remnant_disc: rng.random::<f64>() < 0.5,
            ridges: rng.random_range(0.1..0.25),
        }
    }
}

/// The bone's two long borders, sampled from the top (S1's plateau) to
/// the tip, and the unit vector pointing back.
struct Outline {
    front: Vec<Point>,
    back: Vec<Point>,
    backward: (f64, f64),
}

impl Outline {
    fn new(a: &Anatomy, look: &SacrumLook) -> Outline {
        let [s_post, s_ant, tip, end] = a.sacrum;
        let top_mid = mid(s_post, s_ant, 0.5);
        let low_mid = mid(end, tip, 0.5);
        let (dx, dy) = (low_mid.x - top_mid.x, low_mid.y - top_mid.y);
        let length = (dx * dx + dy * dy).sqrt().max(1.0);
        // Perpendicular to the bone's axis, on the side of S1's back corner.
        let (mut bx, mut by) = (-dy / length, dx / length);
        if (s_post.x - s_ant.x) * bx + (s_post.y - s_ant.y) * by < 0.0 {
            (bx, by) = (-bx, -by);
        }
        let bow = look.bow * length;
        let border = |from: Point, to: Point| -> Vec<Point> {
            (0..=SAMPLES)
                .map(|i| {
                    let v = i as f64 / SAMPLES as f64;
                    let p = mid(from, to, v);
                    let s = bow * (std::f64::consts::PI * v).sin();
                    Point::new(p.x + bx * s, p.y + by * s)
                })
                .collect()
        };
        Outline {
            front: border(s_ant, tip),
            back: border(s_post, end),
            backward: (bx, by),
        }
    }

    /// The closed outline: down the front, across the tip, up the back,
    /// across S1's plateau.
    fn polygon(&self) -> Vec<Point> {
        let mut p = self.front.clone();
        p.extend(self.back.iter().rev());
        p
    }

    /// The line across the bone at share `v` of its length.
    fn across(&self, v: f64) -> (Point, Point) {
        let at = |b: &[Point]| {
            let f = v * SAMPLES as f64;
            let i = (f.floor() as usize).min(SAMPLES - 1);
            mid(b[i], b[i + 1], f - i as f64)
        };
        (at(&self.back), at(&self.front))
    }
}

fn mid(p: Point, q: Point, f: f64) -> Point {
    Point::new(p.x + (q.x - p.x) * f, p.y + (q.y - p.y) * f)
}

/// Distance from `p` to the segment `a`-`b`, and where along it (0..1) the
/// nearest point lies.
fn to_segment(p: Point, a: Point, b: Point) -> (f64, f64) {
    let (vx, vy) = (b.x - a.x, b.y - a.y);
    let len2 = (vx * vx + vy * vy).max(1e-9);
    let f = (((p.x - a.x) * vx + (p.y - a.y) * vy) / len2).clamp(0.0, 1.0);
    let (qx, qy) = (a.x + vx * f, a.y + vy * f);
    (((p.x - qx).powi(2) + (p.y - qy).powi(2)).sqrt(), f)
}

fn inside(poly: &[Point], p: Point) -> bool {
    let mut odd = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[j]);
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            odd = !odd;
        }
        j = i;
    }
    odd
}

/// Draws the fused sacrum onto the canvas. `fine` is the trabecular
/// texture where the scan's bodies have one.
pub fn fused_sacrum(
    a: &Anatomy,
    look: &SacrumLook,
    texture: &CoarseField,
    fine: Option<&CoarseField>,
    c: &mut Canvas,
) {
    let outline = Outline::new(a, look);
    let poly = outline.polygon();
    let edges: Vec<(Point, Point)> = (0..poly.len())
        .map(|i| (poly[i], poly[(i + 1) % poly.len()]))
        .collect();
    let plateau = (a.sacrum[0], a.sacrum[1]);
    let axis = (
        mid(plateau.0, plateau.1, 0.5),
        mid(outline.across(1.0).0, outline.across(1.0).1, 0.5),
    );
    let fusions: Vec<(Point, Point)> = FUSIONS.iter().map(|&v| outline.across(v)).collect();
    let l5 = a.vertebrae.last().expect("a spine has vertebrae");
    let density = l5.density as f32 * look.gain;
    let rim = (l5.rim_px as f32).max(1.0);
    // The alae: a veil over S1 and behind its back, where the lateral
    // masses lie over the body, below the line of its plateau.
    let s1_mid = mid(outline.across(0.0).0, outline.across(FUSIONS[0]).1, 0.5);
    let s1_size = a.sacrum[0].dist(&a.sacrum[1]);
    let (bx, by) = outline.backward;
    let ala = Point::new(
        s1_mid.x + bx * 0.25 * s1_size,
        s1_mid.y + by * 0.25 * s1_size,
    );
    // Unit normal of the plateau, towards the tip.
    let down = {
        let (px, py) = (plateau.1.x - plateau.0.x, plateau.1.y - plateau.0.y);
        let n = (px * px + py * py).sqrt().max(1e-9);
        let (nx, ny) = (-py / n, px / n);
        let to_tip = (axis.1.x - axis.0.x) * nx + (axis.1.y - axis.0.y) * ny;
        if to_tip < 0.0 {
            (-nx, -ny)
        } else {
            (nx, ny)
        }
    };
    let mut extent = poly.clone();
    extent.push(Point::new(ala.x - s1_size, ala.y - s1_size));
    extent.push(Point::new(ala.x + s1_size, ala.y + s1_size));
    let (x0, y0, x1, y1) = crate::render::bbox(&extent, 3.0, c.width, c.height);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let p = Point::new(x as f64, y as f64);
            let (xf, yf) = (x as f32, y as f32);
            let mut add = 0.0f32;
            let r = p.dist(&ala) / (0.7 * s1_size);
            if r < 1.0 {
                // Below the line of S1's plateau, fading in across it.
                let below = (p.x - plateau.0.x) * down.0 + (p.y - plateau.0.y) * down.1;
                let veil = smoothstep(-0.08, 0.08, (below / s1_size) as f32);
                add += 0.07
                    * veil
                    * (1.0 - r * r) as f32
                    * (0.8 + 0.4 * texture.at(xf * 0.6, yf * 0.6));
            }
            let edge = edges
                .iter()
                .map(|&(e0, e1)| to_segment(p, e0, e1).0)
                .fold(f64::MAX, f64::min) as f32;
            let is_in = inside(&poly, p);
            let signed = if is_in { edge } else { -edge };
            if signed > -2.0 {
                let body = smoothstep(-1.0, 1.0, signed);
                // Thinner towards the tip.
                let (_, down) = to_segment(p, axis.0, axis.1);
                let fade = 1.0 - 0.4 * down as f32;
                let fill = match fine {
                    Some(f) => {
                        0.72 * density + 0.1 * f.at(xf * 1.1, yf * 0.3) + 0.06 * texture.at(xf, yf)
                    }
                    None => {
                        density
                            + 0.09 * texture.at(xf, yf)
                            + 0.06 * texture.at(yf * 0.43, xf * 0.43)
                    }
                };
                let shell = 1.0 / (1.0 + (signed.abs() / rim).powi(2));
                let top = to_segment(p, plateau.0, plateau.1).0 as f32;
                let plate = 1.0 / (1.0 + (top / rim).powi(2));
                add +=
                    body * fade * fill + 0.22 * shell * shell + 0.3 * plate * plate * body.max(0.3);
                for (k, &(b0, b1)) in fusions.iter().enumerate() {
                    let (d, w) = to_segment(p, b0, b1);
                    let d = d as f32;
                    // Ridges show in front, fading towards the back.
                    let ridge =
                        look.ridges * (0.3 + 0.7 * w as f32) / (1.0 + (d / (1.5 * rim)).powi(2));
                    add += body * ridge;
                    if k == 0 && look.remnant_disc && w > 0.45 {
                        let cleft = (-(d / (1.2 * rim)).powi(2)).exp();
                        add -= body * 0.7 * density * cleft * smoothstep(0.45, 0.7, w as f32);
                    }
                }
            }
            if add != 0.0 {
                c.data[y * c.width + x] += add;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{generate_case, Style};
    use rand::SeedableRng;

    #[test]
    fn the_fused_sacrum_is_one_bone_with_s1_plateau_and_ridges_in_front() {
        let case = generate_case(5, 0, &Style::lunar(), false);
        let a = &case.truth.anatomy;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let texture = CoarseField::new(&mut rng, a.width, a.height, 4.0);
        let look = SacrumLook {
            bow: 0.1,
            gain: 1.0,
            remnant_disc: false,
            ridges: 0.25,
        };
        let mut c = Canvas {
            width: a.width,
            height: a.height,
            data: vec![0.0; a.width * a.height],
        };
        fused_sacrum(a, &look, &texture, None, &mut c);
        let at = |p: Point| c.data[p.y.round() as usize * a.width + p.x.round() as usize];
        let outline = Outline::new(a, &look);
        for (k, &v) in FUSIONS.iter().enumerate() {
            // In front of the middle of the bone, on a ridge and half a
            // segment away from it.
            let (b, f) = outline.across(v);
            let (b2, f2) = outline.across(v - 0.08);
            let ridge = at(mid(b, f, 0.75));
            let between = at(mid(b2, f2, 0.75));
            assert!(ridge > between + 0.08, "{k}: {ridge} against {between}");
        }
        // Bone everywhere down the middle: no disc below S1.
        for i in 1..20 {
            let (b, f) = outline.across(i as f64 / 20.0);
            assert!(at(mid(b, f, 0.5)) > 0.15, "{i}");
        }
    }
}
