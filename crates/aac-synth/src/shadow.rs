//! The uncalcified aorta as a faint soft-tissue shadow
//! ([`Factor::AorticShadow`](crate::Factor::AorticShadow)): blood and wall
//! are a little denser than the retroperitoneal fat around them, so on
//! some scans the aorta shows as a pale tube in front of the spine, its
//! two walls smooth edges along its whole length (sharpened into thin
//! lines by an edge-enhanced export), sometimes with a darker rim of fat
//! just outside. Without calcification there is nothing for a reader to
//! score, and a network that has only ever seen the aorta invisible may
//! read those edges as deposits. Only the drawing changes: the walls are
//! the anatomy's, and no point, mask or score moves.

use crate::anatomy::{Anatomy, Wall};
use crate::field::smoothstep;
use crate::render::Canvas;
use rand::Rng;

/// How one scan draws the aorta's shadow.
#[derive(Debug, Clone, Copy)]
pub struct ShadowLook {
    /// Density of the tube over the fat around it, on the canvas's scale
    /// (soft tissue about 0.21, faint deposits 0.02-0.07): 0.005-0.05.
    pub density: f32,
    /// Softness of the walls' edges, in mm (the blur across a wall).
    pub edge_mm: f64,
    /// Darkness of the fat rim outside the walls, as a share of `density`.
    pub halo: f32,
    /// Width of that rim, in mm.
    pub halo_mm: f64,
    /// Slow change of density along the aorta: amplitude (share) and
    /// wavelength in mm, and its phase.
    pub wave: (f32, f64, f64),
}

impl ShadowLook {
    /// Draws a scan's look from its own stream: mostly faint, now and then
    /// plain to see.
    pub fn draw<R: Rng>(rng: &mut R) -> ShadowLook {
        let u: f32 = rng.random();
        ShadowLook {
            density: 0.005 + 0.045 * u * u,
            edge_mm: rng.random_range(0.3..2.0),
            halo: if rng.random::<f64>() < 0.5 {
                rng.random_range(0.2..0.7)
            } else {
                0.0
            },
            halo_mm: rng.random_range(1.5..5.0),
            wave: (
                rng.random_range(0.0..0.4),
                rng.random_range(40.0..160.0),
                rng.random_range(0.0..std::f64::consts::TAU),
            ),
        }
    }
}

/// Adds the shadow of the aorta between its walls over the rows where the
/// anatomy has them, fading in over its top 15 mm (where it comes through
/// the diaphragm) and out over its bottom 10 mm (the bifurcation).
pub fn aortic_shadow(a: &Anatomy, look: &ShadowLook, c: &mut Canvas) {
    let rows = a.aorta.posterior_x.len();
    if rows < 2 {
        return;
    }
    let mm = |v: f64| v / a.spacing_mm;
    let (top, bottom) = (a.aorta.y_start as f64, (a.aorta.y_start + rows - 1) as f64);
    let edge = mm(look.edge_mm).max(0.3);
    let halo_w = mm(look.halo_mm);
    let reach = 2.5 * edge + halo_w;
    for y in a.aorta.y_start..a.aorta.y_start + rows {
        let yf = y as f64;
        let ends = smoothstep(top as f32, (top + mm(15.0)) as f32, yf as f32)
            * (1.0 - smoothstep((bottom - mm(10.0)) as f32, bottom as f32, yf as f32));
        let (amp, wavelength, phase) = look.wave;
        let along =
            1.0 + amp * ((yf - top) / mm(wavelength) * std::f64::consts::TAU + phase).sin() as f32;
        let strength = look.density * ends * along;
        if strength <= 0.0 {
            continue;
        }
        let p = a.aorta.wall_x(Wall::Posterior, yf);
        let q = a.aorta.wall_x(Wall::Anterior, yf);
        let (lo, hi) = (p.min(q), p.max(q));
        for x in (lo - reach).floor() as i64..=(hi + reach).ceil() as i64 {
            let xf = x as f64;
            // Inside: a plateau with soft edges; outside: the fat's rim.
            let inside = smoothstep(-1.5, 1.5, ((xf - lo) / edge) as f32)
                * smoothstep(-1.5, 1.5, ((hi - xf) / edge) as f32);
            let out = (lo - xf).max(xf - hi);
            let rim = if out > 0.0 && halo_w > 0.0 {
                let t = (out / halo_w) as f32;
                smoothstep(0.0, 0.3, t) * (1.0 - smoothstep(0.6, 1.0, t))
            } else {
                0.0
            };
            c.add(x, y as i64, strength * (inside - look.halo * rim));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anatomy::Aorta;

    /// A generated anatomy at 0.5 mm a pixel with a straight aorta from
    /// row 20 to row `height` - 21, its walls at columns 40 and 80.
    fn straight_aorta(height: usize) -> Anatomy {
        let mut a = crate::generate_case(5, 0, &crate::Style::hologic(), false)
            .truth
            .anatomy;
        a.spacing_mm = 0.5;
        a.aorta = Aorta {
            y_start: 20,
            posterior_x: vec![40.0; height - 40],
            anterior_x: vec![80.0; height - 40],
        };
        a
    }

    #[test]
    fn the_tube_is_pale_between_the_walls_and_dark_just_outside() {
        let a = straight_aorta(300);
        let look = ShadowLook {
            density: 0.02,
            edge_mm: 0.5,
            halo: 0.5,
            halo_mm: 4.0,
            wave: (0.0, 100.0, 0.0),
        };
        let mut c = Canvas {
            width: 160,
            height: 300,
            data: vec![0.0; 160 * 300],
        };
        aortic_shadow(&a, &look, &mut c);
        let at = |x: usize, y: usize| c.data[y * 160 + x];
        let mid = 150;
        assert!((at(60, mid) - 0.02).abs() < 1e-4, "{}", at(60, mid));
        assert!(at(40 - 5, mid) < 0.0 && at(80 + 5, mid) < 0.0);
        assert_eq!(at(150, mid), 0.0);
        // Faded in at the top and out at the bottom, nothing beyond.
        assert_eq!(at(60, 10), 0.0);
        assert!(at(60, 22) < at(60, mid) / 4.0);
        assert!(at(60, 277) < at(60, mid) / 4.0);
    }
}
