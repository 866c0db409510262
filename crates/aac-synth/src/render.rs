//! Rasterises an [`Anatomy`] into an attenuation map and label masks.

use crate::anatomy::{Anatomy, Deposit, Vertebra, Wall};
use crate::arches::{neural_arch, ArchLook};
use crate::factors::{Factor, Factors};
use crate::field::{smoothstep, CoarseField};
use crate::sacrum::{fused_sacrum, SacrumLook};
use crate::shadow::{aortic_shadow, ShadowLook};
use aac_io::{Point, LABEL_ANTERIOR, LABEL_POSTERIOR};
use rand::{Rng, SeedableRng};

/// A row-major f32 canvas.
pub struct Canvas {
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// Values.
    pub data: Vec<f32>,
}

impl Canvas {
    pub(crate) fn add(&mut self, x: i64, y: i64, v: f32) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            self.data[y as usize * self.width + x as usize] += v;
        }
    }
}

pub(crate) fn bbox(points: &[Point], pad: f64, w: usize, h: usize) -> (usize, usize, usize, usize) {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in points {
        x0 = x0.min(p.x);
        y0 = y0.min(p.y);
        x1 = x1.max(p.x);
        y1 = y1.max(p.y);
    }
    let c = |v: f64, hi: usize| v.clamp(0.0, hi as f64 - 1.0) as usize;
    (
        c(x0 - pad, w),
        c(y0 - pad, h),
        c(x1 + pad, w),
        c(y1 + pad, h),
    )
}

/// Renders the soft-tissue background: lungs above the diaphragm, mottled
/// abdomen below, air behind the skin.
fn background<R: Rng>(rng: &mut R, a: &Anatomy, c: &mut Canvas) {
    let low = CoarseField::new(rng, c.width, c.height, 90.0);
    let mottle = CoarseField::new(rng, c.width, c.height, 9.0);
    let spine_x = a.vertebrae[9].centre().x as f32;
    let dome = a.diaphragm_y as f32;
    let skin = a.skin_x as f32;
    let dome_curv = 0.0009 * (0.5 / a.spacing_mm as f32);
    let tissue = |xf: f32, yf: f32| {
        let mut v = 0.21 + 0.035 * low.at(xf, yf);
        // Diaphragm dome: highest in front of the spine.
        let dx = xf - (spine_x + 60.0);
        let dome_y = dome + dome_curv * dx * dx;
        let lung = 1.0 - smoothstep(dome_y - 25.0, dome_y + 5.0, yf);
        let anterior_of_spine = smoothstep(spine_x - 40.0, spine_x + 30.0, xf);
        v -= 0.12 * lung * anterior_of_spine;
        v += 0.025 * mottle.at(xf, yf) * (1.0 - lung);
        v * (smoothstep(skin - 6.0, skin + 6.0, xf) * 0.9 + 0.1)
    };
    // Everything here varies over several pixels, so it is evaluated on a grid
    // STEP pixels apart and interpolated (the background is most of the image).
    const STEP: usize = 3;
    let gw = c.width / STEP + 2;
    let gh = c.height / STEP + 2;
    let mut grid = vec![0.0f32; gw * gh];
    for gy in 0..gh {
        for gx in 0..gw {
            grid[gy * gw + gx] = tissue((gx * STEP) as f32, (gy * STEP) as f32);
        }
    }
    let inv = 1.0 / STEP as f32;
    for y in 0..c.height {
        let gy = y / STEP;
        let fy = (y % STEP) as f32 * inv;
        let (r0, r1) = (
            &grid[gy * gw..(gy + 1) * gw],
            &grid[(gy + 1) * gw..(gy + 2) * gw],
        );
        let row = &mut c.data[y * c.width..(y + 1) * c.width];
        for (x, out) in row.iter_mut().enumerate() {
            let gx = x / STEP;
            let fx = (x % STEP) as f32 * inv;
            let top = r0[gx] + (r0[gx + 1] - r0[gx]) * fx;
            let bot = r1[gx] + (r1[gx + 1] - r1[gx]) * fx;
            *out = top + (bot - top) * fy;
        }
    }
}

/// How the bodies are drawn: the factors that change a body's look.
struct BodyLook<'a> {
    /// A fine texture for the trabecular grain ([`Factor::Trabecular`]).
    trabecular: Option<&'a CoarseField>,
    /// Draw the posterior elements.
    posterior: bool,
    /// The second contour of each endplate: its offset at the ends of the
    /// field (pixels), the field's middle row and half height.
    ghost: (f64, f64, f64),
}

/// Renders one vertebral body with a bright cortical rim, brighter endplates and
/// textured trabecular bone, plus its fainter posterior elements.
fn vertebra(v: &Vertebra, texture: &CoarseField, look: &BodyLook, c: &mut Canvas) {
    let [sp, sa, ia, ip] = v.corners;
    let (centre, (ux, uy), (tx, ty), depth) = v.frame();
    let hp = sp.dist(&ip);
    let ha = sa.dist(&ia);
    let back = |k: f64, dv: f64| {
        Point::new(
            centre.x - ux * depth * k + tx * dv,
            centre.y - uy * depth * k + ty * dv,
        )
    };
    let spur = v.osteophytes_px[0].max(v.osteophytes_px[1]);
    let (ghost_max, mid_y, half_field) = look.ghost;
    // Rotation and beam divergence part the two contours more towards the
    // ends of the field.
    let ghost = (ghost_max * ((centre.y - mid_y).abs() / half_field.max(1.0)).min(1.0)) as f32;
    let extent = [sp, sa, ia, ip, back(1.3, -0.6 * hp), back(1.3, 0.6 * hp)];
    let (x0, y0, x1, y1) = bbox(&extent, 3.0 + spur + ghost as f64, c.width, c.height);
    let rim = v.rim_px as f32;
    for y in y0..=y1 {
        for x in x0..=x1 {
            let dx = x as f64 - centre.x;
            let dy = y as f64 - centre.y;
            let u = dx * ux + dy * uy;
            let t = dx * tx + dy * ty;
            let frac = (u / depth + 0.5).clamp(0.0, 1.0);
            let half_h = 0.5 * (hp + (ha - hp) * frac)
                - v.concavity * (1.0 - (2.0 * u / depth).powi(2)).max(0.0);
            let du = (depth / 2.0 - u.abs()) as f32;
            let dv = (half_h - t.abs()) as f32;
            let xf = x as f32;
            let yf = y as f32;
            let mut add = 0.0f32;
            if du > -1.5 && dv > -1.5 {
                // Rounded corners: a soft minimum of the two edge distances.
                let d = if du < 3.0 && dv < 3.0 {
                    du + dv - (du * du + dv * dv).sqrt() * 0.7
                } else {
                    du.min(dv)
                };
                let inside = smoothstep(-1.0, 1.0, d);
                let q = 1.0 / (1.0 + (du / rim) * (du / rim));
                let e = 1.0 / (1.0 + (dv / rim) * (dv / rim));
                add += inside
                    * match look.trabecular {
                        None => {
                            let tex =
                                0.09 * texture.at(xf, yf) + 0.06 * texture.at(yf * 0.43, xf * 0.43);
                            v.density as f32 + tex + 0.14 * q * q + 0.24 * e * e
                        }
                        Some(fine) => {
                            // A darker interior with a coarse grain along
                            // the spine (sampled stretched along the axis),
                            // inside a thin shell brightest at the endplates.
                            let (cx, cy) = (centre.x as f32, centre.y as f32);
                            let (uf, tf) = (u as f32, t as f32);
                            let grain = fine.at(cx + uf * 1.2, cy + tf * 0.22);
                            let mottle = texture.at(xf, yf);
                            let shell_q = 1.0 / (1.0 + (du / (0.6 * rim)).powi(2));
                            let shell_e = 1.0 / (1.0 + (dv / (0.6 * rim)).powi(2));
                            0.72 * v.density as f32
                                + 0.1 * grain
                                + 0.06 * mottle
                                + 0.28 * shell_q
                                + 0.4 * shell_e
                        }
                    };
            }
            if ghost > 0.5 && du > 0.0 {
                // The endplate's second contour, outside the first.
                let g = (dv + ghost) / rim;
                add += 0.16 * (1.0 / (1.0 + g * g)) * smoothstep(0.0, 3.0, du);
            }
            if spur > 0.0 {
                // Osteophytes: beaks at the anterior corners, along the
                // endplate and out of the body.
                let out = u - depth / 2.0;
                let len = if t < 0.0 {
                    v.osteophytes_px[0]
                } else {
                    v.osteophytes_px[1]
                };
                if out > -1.0 && out < len && len > 0.0 {
                    let reach = (1.0 - out / len).max(0.0) * len * 0.6;
                    let from_plate = half_h - t.abs();
                    if from_plate > -reach && from_plate < len * 0.5 {
                        add += 0.3 * smoothstep(-1.0, 1.0, (from_plate + reach) as f32);
                    }
                }
            }
            // Posterior elements: pedicles/arch and spinous process behind the body.
            let pu = u + depth * 0.5;
            if pu < 0.0 && look.posterior {
                let e1 = (pu + depth * 0.35) / (depth * 0.38);
                let e2 = t / (hp * 0.42);
                let r1 = (e1 * e1 + e2 * e2) as f32;
                if r1 < 1.0 {
                    add += 0.11 * (1.0 - r1).sqrt() + 0.03 * texture.at(xf * 0.7, yf * 0.7);
                }
                let e3 = (pu + depth * 0.95) / (depth * 0.3);
                let e4 = (t - hp * 0.2) / (hp * 0.3);
                let r2 = (e3 * e3 + e4 * e4) as f32;
                if r2 < 1.0 {
                    add += 0.08 * (1.0 - r2).sqrt();
                }
            }
            if add != 0.0 {
                c.data[y * c.width + x] += add;
            }
        }
    }
}

fn inside_quad(q: &[Point; 4], p: Point) -> bool {
    let mut sign = 0.0f64;
    for i in 0..4 {
        let a = q[i];
        let b = q[(i + 1) % 4];
        let cross = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
        if cross != 0.0 {
            if sign == 0.0 {
                sign = cross.signum();
            } else if cross.signum() != sign {
                return false;
            }
        }
    }
    true
}

/// The sacrum as five fused segments S1-S5 tapering down its outline, S1
/// drawn like a body (rim, plateau, texture) and the fusion lines between
/// them like faint endplates, over a dimmer fill for the alae: what a
/// reader counts up from, and what a finder must not take for L5.
fn sacral_segments(a: &Anatomy, texture: &CoarseField, look: &BodyLook, c: &mut Canvas) {
    let [s_post, s_ant, tip, back] = a.sacrum;
    let lerp =
        |p: Point, q: Point, f: f64| Point::new(p.x + (q.x - p.x) * f, p.y + (q.y - p.y) * f);
    // Segment boundaries down the sacrum: S1 the tallest.
    const CUTS: [f64; 6] = [0.0, 0.3, 0.52, 0.7, 0.85, 1.0];
    for (k, w) in CUTS.windows(2).enumerate() {
        // Fused: the segments touch, their rims the transverse ridges.
        let (v0, v1) = (w[0], w[1]);
        let corners = [
            lerp(s_post, back, v0),
            lerp(s_ant, tip, v0),
            lerp(s_ant, tip, v1),
            lerp(s_post, back, v1),
        ];
        let seg = Vertebra {
            name: format!("S{}", k + 1),
            corners,
            concavity: 0.0,
            density: 0.3 - 0.03 * k as f64,
            rim_px: (1.0 / a.spacing_mm).max(1.0),
            fracture: None,
            osteophytes_px: [0.0; 2],
        };
        vertebra(&seg, texture, look, c);
    }
    let (x0, y0, x1, y1) = bbox(&a.sacrum, 2.0, c.width, c.height);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if inside_quad(&a.sacrum, Point::new(x as f64, y as f64)) {
                c.data[y * c.width + x] += 0.1 + 0.04 * texture.at(x as f32, y as f32);
            }
        }
    }
}

fn sacrum_and_pelvis(a: &Anatomy, texture: &CoarseField, iliac: bool, c: &mut Canvas) {
    let (x0, y0, x1, y1) = bbox(&a.sacrum, 2.0, c.width, c.height);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if inside_quad(&a.sacrum, Point::new(x as f64, y as f64)) {
                c.data[y * c.width + x] += 0.3 + 0.06 * texture.at(x as f32, y as f32);
            }
        }
    }
    pelvis(a, texture, iliac, c);
}

/// The iliac wing, when drawn.
fn pelvis(a: &Anatomy, texture: &CoarseField, iliac: bool, c: &mut Canvas) {
    if !iliac {
        return;
    }
    // Iliac wing: an ellipse with a bright crest along its upper rim.
    let (ctr, rx, ry) = a.iliac;
    let (x0, y0, x1, y1) = bbox(
        &[
            Point::new(ctr.x - rx, ctr.y - ry),
            Point::new(ctr.x + rx, ctr.y + ry),
        ],
        8.0,
        c.width,
        c.height,
    );
    for y in y0..=y1 {
        for x in x0..=x1 {
            let ex = (x as f64 - ctr.x) / rx;
            let ey = (y as f64 - ctr.y) / ry;
            let r = (ex * ex + ey * ey).sqrt() as f32;
            let interior = 1.0 - smoothstep(0.97, 1.0, r);
            let crest = (-((r - 0.985) / 0.03).powi(2)).exp() * if ey < 0.2 { 1.0 } else { 0.3 };
            let v = 0.1 * interior
                + 0.16 * crest
                + 0.02 * interior * texture.at(x as f32 * 0.5, y as f32 * 0.5);
            c.data[y * c.width + x] += v;
        }
    }
}

fn ribs(a: &Anatomy, c: &mut Canvas) {
    for rib in &a.ribs {
        let x_start = rib.x0.max(0.0) as usize;
        let x_end = (rib.x1.min(c.width as f64 - 1.0)).max(0.0) as usize;
        for x in x_start..=x_end {
            let yc = rib.y_at(x as f64);
            // Fade in at the posterior end where the rib meets the spine.
            let fade = smoothstep(rib.x0 as f32, rib.x0 as f32 + 20.0, x as f32);
            let hw = rib.half_width;
            let lo = (yc - hw - 2.0).floor() as i64;
            let hi = (yc + hw + 2.0).ceil() as i64;
            for y in lo..=hi {
                let d = ((y as f64 - yc).abs() / hw) as f32;
                if d > 1.05 {
                    continue;
                }
                let body = 1.0 - smoothstep(0.88, 1.05, d);
                let cortex = 0.45 + 0.9 * d.powi(8).min(1.0);
                c.add(x as i64, y, fade * rib.density as f32 * body * cortex);
            }
        }
    }
}

fn gas(a: &Anatomy, c: &mut Canvas, seed: f64) {
    for (i, g) in a.gas.iter().enumerate() {
        let (rx, ry) = g.radii;
        let pts = [
            Point::new(g.centre.x - rx * 1.3, g.centre.y - ry * 1.3),
            Point::new(g.centre.x + rx * 1.3, g.centre.y + ry * 1.3),
        ];
        let (x0, y0, x1, y1) = bbox(&pts, 1.0, c.width, c.height);
        let ph = seed + i as f64 * 1.7;
        for y in y0..=y1 {
            for x in x0..=x1 {
                let dx = x as f64 - g.centre.x;
                let dy = y as f64 - g.centre.y;
                let ang = dy.atan2(dx);
                let wobble =
                    1.0 + 0.18 * (3.0 * ang + ph).sin() + 0.1 * (5.0 * ang - 2.0 * ph).sin();
                let r = ((dx / rx).powi(2) + (dy / ry).powi(2)).sqrt() / wobble;
                if r < 1.2 {
                    let v = 1.0 - smoothstep(0.75, 1.15, r as f32);
                    c.data[y * c.width + x] -= g.depth as f32 * v;
                }
            }
        }
    }
}

/// Draws one deposit's brightness into the canvas.
fn deposit(a: &Anatomy, d: &Deposit, c: &mut Canvas, phase: f64) {
    let y_first = d.y0.ceil().max(0.0) as i64;
    let y_last = d.y1.floor().min(c.height as f64 - 1.0) as i64;
    let half = d.thickness / 2.0;
    for y in y_first..=y_last {
        let xc = a.aorta.wall_x(d.wall, y as f64) + d.inset;
        let m = 1.0 - d.patchiness * (0.5 + 0.5 * (y as f64 * 0.35 + phase).sin());
        let lo = (xc - half - 1.0).floor() as i64;
        let hi = (xc + half + 1.0).ceil() as i64;
        for x in lo..=hi {
            let dist = (x as f64 - xc).abs();
            let cover = (half + 0.5 - dist).clamp(0.0, 1.0);
            if cover > 0.0 {
                c.add(x, y, (d.contrast * m * cover) as f32);
            }
        }
    }
}

/// Draws the label footprint of deposits into a mask: on every row from
/// ceil(y0) to floor(y1), the pixels within half the thickness (at least half a
/// pixel) of the deposit's centre line.
pub fn label_deposits(a: &Anatomy, deposits: &[Deposit], mask: &mut [u8]) {
    for d in deposits {
        let label = match d.wall {
            Wall::Anterior => LABEL_ANTERIOR,
            Wall::Posterior => LABEL_POSTERIOR,
        };
        let y_first = d.y0.ceil().max(0.0) as i64;
        let y_last = d.y1.floor().min(a.height as f64 - 1.0) as i64;
        let half = (d.thickness / 2.0).max(0.5);
        for y in y_first..=y_last {
            let xc = a.aorta.wall_x(d.wall, y as f64) + d.inset;
            for x in (xc - half).ceil() as i64..=(xc + half).floor() as i64 {
                if x >= 0 && (x as usize) < a.width {
                    mask[y as usize * a.width + x as usize] = label;
                }
            }
        }
    }
}

/// Renders the whole anatomy (before blur, noise and display mapping) and the
/// ground-truth mask.
pub fn render<R: Rng>(rng: &mut R, a: &Anatomy, factors: &Factors) -> (Canvas, Vec<u8>) {
    let mut c = Canvas {
        width: a.width,
        height: a.height,
        data: vec![0.0; a.width * a.height],
    };
    background(rng, a, &mut c);
    let texture = CoarseField::new(rng, a.width, a.height, (1.3 / a.spacing_mm) as f32);
    // Its own stream, so that the rest of the scan is the same with or
    // without trabecular bodies.
    let fine = factors.contains(&Factor::Trabecular).then(|| {
        let mut own = rand_chacha::ChaCha8Rng::seed_from_u64(a.skin_x.to_bits());
        CoarseField::new(&mut own, a.width, a.height, (0.9 / a.spacing_mm) as f32)
    });
    let look = BodyLook {
        trabecular: fine.as_ref(),
        posterior: factors.contains(&Factor::PosteriorElements)
            && !factors.contains(&Factor::NeuralArches),
        ghost: (
            a.double_endplate_px,
            a.height as f64 / 2.0,
            a.height as f64 / 2.0,
        ),
    };
    for v in &a.vertebrae {
        vertebra(v, &texture, &look, &mut c);
    }
    if factors.contains(&Factor::NeuralArches) {
        // Its own stream, as for the trabecular texture.
        let mut own = rand_chacha::ChaCha8Rng::seed_from_u64(a.skin_x.to_bits() ^ 0x6172_6368);
        let arch = ArchLook::draw(&mut own);
        for v in &a.vertebrae {
            neural_arch(v, &arch, &texture, &mut c);
        }
    }
    let iliac = factors.contains(&Factor::IliacCrest);
    if factors.contains(&Factor::FusedSacrum) {
        // Its own stream, as for the arches.
        let mut own = rand_chacha::ChaCha8Rng::seed_from_u64(a.skin_x.to_bits() ^ 0x7361_6372);
        let sacrum = SacrumLook::draw(&mut own);
        fused_sacrum(a, &sacrum, &texture, fine.as_ref(), &mut c);
        pelvis(a, &texture, iliac, &mut c);
    } else if factors.contains(&Factor::SacralSegments) {
        let sacral = BodyLook {
            posterior: false,
            ..look
        };
        sacral_segments(a, &texture, &sacral, &mut c);
        pelvis(a, &texture, iliac, &mut c);
    } else {
        sacrum_and_pelvis(a, &texture, iliac, &mut c);
    }
    ribs(a, &mut c);
    gas(a, &mut c, rng.random_range(0.0..6.0));
    for d in &a.deposits {
        let phase = rng.random_range(0.0..6.3);
        deposit(a, d, &mut c, phase);
    }
    if factors.contains(&Factor::AorticShadow) {
        // Its own stream, as for the arches; soft tissue adds to whatever
        // lies in the beam's path, so it is drawn over the rest.
        let mut own = rand_chacha::ChaCha8Rng::seed_from_u64(a.skin_x.to_bits() ^ 0x616f_7274);
        aortic_shadow(a, &ShadowLook::draw(&mut own), &mut c);
    }
    let mut mask = vec![0u8; a.width * a.height];
    label_deposits(a, &a.deposits, &mut mask);
    (c, mask)
}
