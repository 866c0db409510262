//! The neural arch of every vertebra as real lateral scans show it
//! ([`Factor::NeuralArches`](crate::Factor::NeuralArches)): a pedicle
//! leaving the upper back of the body, an articular pillar whose facets
//! reach past the disc and overlap the next level's, and the lamina running
//! back and down into the spinous process, all in dense cortical bone with
//! a brighter rim; the foramina stay dark between the pedicles. The classic
//! posterior elements are a faint blur behind the body; these are as bright
//! as the bodies and overlap one another, which is what a finder has to see
//! past on a real scan. Nothing here moves a body, so the 20 points and the
//! masks are the same with or without the arches.

use crate::anatomy::Vertebra;
use crate::field::{smoothstep, CoarseField};
use crate::render::Canvas;
use rand::Rng;

/// How one scan draws its arches.
#[derive(Debug, Clone, Copy)]
pub struct ArchLook {
    /// Brightness of the arches' bone against the bodies' (0.6-1.5).
    pub gain: f32,
    /// Width of the articular pillar as a share of the body's depth.
    pub pillar: f64,
    /// Reach of the spinous process behind the body, in body depths.
    pub reach: f64,
}

impl ArchLook {
    /// Draws a scan's look from its own stream.
    pub fn draw<R: Rng>(rng: &mut R) -> ArchLook {
        ArchLook {
            gain: rng.random_range(0.6..1.5),
            pillar: rng.random_range(0.26..0.4),
            reach: rng.random_range(1.05..1.45),
        }
    }
}

/// A part of the arch in the body's frame: `pu` across the spine (0 at the
/// posterior wall, negative behind it) and `t` down the spine from the
/// body's centre, both in pixels.
enum Part {
    /// An ellipse: centre and half-axes.
    Ellipse { pu: f64, t: f64, a: f64, b: f64 },
    /// A bar from one point to another, its half-thickness going from `h0`
    /// to `h1`.
    Bar {
        from: (f64, f64),
        to: (f64, f64),
        h0: f64,
        h1: f64,
    },
}

impl Part {
    /// 0 at the part's centre (line), 1 on its outline.
    fn radius(&self, pu: f64, t: f64) -> f64 {
        match *self {
            Part::Ellipse {
                pu: cu,
                t: ct,
                a,
                b,
            } => (((pu - cu) / a).powi(2) + ((t - ct) / b).powi(2)).sqrt(),
            Part::Bar { from, to, h0, h1 } => {
                let (dx, dy) = (to.0 - from.0, to.1 - from.1);
                let len2 = dx * dx + dy * dy;
                let s = (((pu - from.0) * dx + (t - from.1) * dy) / len2).clamp(0.0, 1.0);
                let (px, py) = (from.0 + s * dx, from.1 + s * dy);
                ((pu - px).powi(2) + (t - py).powi(2)).sqrt() / (h0 + (h1 - h0) * s)
            }
        }
    }
}

/// Draws the neural arch of vertebra `v` behind its body.
pub fn neural_arch(v: &Vertebra, look: &ArchLook, texture: &CoarseField, c: &mut Canvas) {
    let (centre, (ux, uy), (tx, ty), depth) = v.frame();
    let h = v.corners[0].dist(&v.corners[3]);
    let d = depth;
    let lumbar = v.name.starts_with('L');
    let parts = [
        // Pedicle: from the upper half of the posterior wall backwards.
        (
            Part::Bar {
                from: (0.05 * d, -0.26 * h),
                to: (-0.3 * d, -0.24 * h),
                h0: 0.2 * h,
                h1: 0.17 * h,
            },
            0.8,
        ),
        // Articular pillar: taller than the body, so that its facets
        // overlap the levels above and below across the discs.
        (
            Part::Bar {
                from: (-0.42 * d, -0.72 * h),
                to: (-0.42 * d, 0.7 * h),
                h0: look.pillar * d * 0.5,
                h1: look.pillar * d * 0.45,
            },
            1.0,
        ),
        // Lamina and spinous process: in the lumbar spine a broad plate
        // straight back, in the thoracic spine a thinner one sloping down
        // over the level below.
        if lumbar {
            (
                Part::Bar {
                    from: (-0.45 * d, 0.05 * h),
                    to: (-look.reach * d, 0.25 * h),
                    h0: 0.34 * h,
                    h1: 0.3 * h,
                },
                0.7,
            )
        } else {
            (
                Part::Bar {
                    from: (-0.45 * d, 0.0),
                    to: (-look.reach * d, 0.95 * h),
                    h0: 0.26 * h,
                    h1: 0.13 * h,
                },
                0.7,
            )
        },
        // The transverse process seen end-on over the pedicle: faint.
        (
            Part::Ellipse {
                pu: -0.22 * d,
                t: -0.2 * h,
                a: 0.2 * d,
                b: 0.22 * h,
            },
            0.3,
        ),
    ];
    let fill = (0.6 * v.density) as f32 * look.gain;
    let rim = 0.09 * look.gain;
    let edge = (1.5 / (0.3 * h).max(1.0)).clamp(0.05, 0.3);
    let behind = |k: f64, dt: f64| {
        (
            centre.x - ux * d * (0.5 + k) + tx * dt,
            centre.y - uy * d * (0.5 + k) + ty * dt,
        )
    };
    // The arch's bounding box in pixels.
    let corners = [
        behind(-0.1, -h),
        behind(-0.1, 1.3 * h),
        behind(look.reach + 0.1, -h),
        behind(look.reach + 0.1, 1.3 * h),
    ];
    let x0 = corners.iter().map(|p| p.0).fold(f64::MAX, f64::min).floor() as i64;
    let x1 = corners.iter().map(|p| p.0).fold(f64::MIN, f64::max).ceil() as i64;
    let y0 = corners.iter().map(|p| p.1).fold(f64::MAX, f64::min).floor() as i64;
    let y1 = corners.iter().map(|p| p.1).fold(f64::MIN, f64::max).ceil() as i64;
    for y in y0.max(0)..=y1.min(c.height as i64 - 1) {
        for x in x0.max(0)..=x1.min(c.width as i64 - 1) {
            let dx = x as f64 - centre.x;
            let dy = y as f64 - centre.y;
            let pu = dx * ux + dy * uy + d * 0.5;
            let t = dx * tx + dy * ty;
            if pu > 0.1 * d {
                continue;
            }
            let mut add = 0.0f32;
            for (part, weight) in &parts {
                let r = part.radius(pu, t) as f32;
                if r > 1.0 + edge as f32 {
                    continue;
                }
                let inside = 1.0 - smoothstep(1.0 - edge as f32, 1.0, r);
                let shell = (-((r - 1.0 + edge as f32) / edge as f32).powi(2)).exp();
                add += weight * (fill * inside + rim * shell);
            }
            if add > 0.0 {
                let grain = 1.0 + 0.25 * texture.at(x as f32 * 0.8, y as f32 * 0.8);
                c.add(x, y, add * grain);
            }
        }
    }
}
