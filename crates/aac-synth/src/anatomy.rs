//! Patient geometry in pixel coordinates, with the patient facing right
//! (anterior toward larger x); the caller mirrors it for left-facing scans.

use crate::factors::Factor;
use crate::style::{AnatomyRanges, Style};
use aac_io::Point;
use rand::Rng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Names of the rendered vertebrae, head to feet (T4..L5).
pub const VERTEBRA_NAMES: [&str; 14] = [
    "T4", "T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5",
];
/// Index of L1 in [`VERTEBRA_NAMES`].
pub const L1: usize = 9;

/// One vertebral body: four corners plus what the renderer needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vertebra {
    /// Name (T4..L5).
    pub name: String,
    /// Superior-posterior, superior-anterior, inferior-anterior, inferior-posterior.
    pub corners: [Point; 4],
    /// Endplate concavity in pixels (biconcave deformity when large).
    pub concavity: f64,
    /// Mean trabecular density (attenuation units).
    pub density: f64,
    /// Cortical rim thickness in pixels.
    pub rim_px: f64,
    /// The fracture drawn for this body, if any.
    #[serde(default)]
    pub fracture: Option<Fracture>,
    /// Lengths of the osteophytes at the superior-anterior and
    /// inferior-anterior corners (pixels; 0: none).
    #[serde(default)]
    pub osteophytes_px: [f64; 2],
}

/// A vertebral fracture of the generator.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Fracture {
    /// The anterior height lower than the posterior.
    Wedge,
    /// The whole body lower, endplates more concave.
    Crush,
    /// The middle of both endplates pressed in, the corners kept.
    Biconcave,
}

impl Vertebra {
    /// Centre of the body.
    pub fn centre(&self) -> Point {
        let c = &self.corners;
        Point::new(
            (c[0].x + c[1].x + c[2].x + c[3].x) / 4.0,
            (c[0].y + c[1].y + c[2].y + c[3].y) / 4.0,
        )
    }

    /// The body's own frame: its centre, the unit vector from its posterior
    /// to its anterior wall, the unit vector down the spine, and its depth
    /// (the mean of the two endplates' lengths).
    pub fn frame(&self) -> (Point, (f64, f64), (f64, f64), f64) {
        let [sp, sa, ia, ip] = self.corners;
        let ux = (sa.x - sp.x + ia.x - ip.x) / 2.0;
        let uy = (sa.y - sp.y + ia.y - ip.y) / 2.0;
        let depth = (ux * ux + uy * uy).sqrt();
        let (ux, uy) = (ux / depth, uy / depth);
        (self.centre(), (ux, uy), (-uy, ux), depth)
    }
}

/// Transitional anatomy of the lumbosacral junction or the ribs. The
/// bodies keep their names by the convention readers count by: up from the
/// sacrum, L5 being the lowest vertebra with a disc below it. So the
/// variants differ from a normal spine in which vertebra bears the last rib
/// (and in the junction's look), and there counting from the sacrum and
/// from the ribs disagree.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Transitional {
    /// 11 rib pairs: the last rib on T11.
    ElevenRibs,
    /// 13 rib pairs: a rib on L1.
    ThirteenRibs,
    /// S1 separated from the sacrum by a disc: six lumbar-type vertebrae,
    /// the lowest named L5, so the last rib lies on the one named T11.
    LumbarisedS1,
    /// L5 fused into the sacrum (its top segment, body-like): four
    /// lumbar-type vertebrae, the lowest named L5, so the last rib lies on
    /// the one named T11.
    SacralisedL5,
}

impl Transitional {
    /// Levels above (+) or below (-) T12 of the last rib-bearing vertebra,
    /// by the counting-up names.
    pub fn last_rib_shift(self) -> i32 {
        match self {
            Transitional::ThirteenRibs => -1,
            _ => 1,
        }
    }
}

/// Which aortic wall a deposit lies on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Wall {
    /// Anterior wall (label 1).
    Anterior,
    /// Posterior wall (label 2).
    Posterior,
}

/// A calcified deposit along one aortic wall between two rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deposit {
    /// The wall.
    pub wall: Wall,
    /// First row (pixels, facing-right frame).
    pub y0: f64,
    /// Last row.
    pub y1: f64,
    /// Thickness in pixels.
    pub thickness: f64,
    /// Peak brightness added (attenuation units; below ~0.05 is very faint).
    pub contrast: f64,
    /// Offset of the deposit from the wall line toward the lumen, in pixels.
    pub inset: f64,
    /// Patchiness: relative variation of brightness along the deposit (0..1).
    pub patchiness: f64,
}

/// The aorta: wall positions sampled on every image row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Aorta {
    /// First row sampled.
    pub y_start: usize,
    /// Posterior-wall x for rows y_start.. (one value per row).
    pub posterior_x: Vec<f64>,
    /// Anterior-wall x for the same rows.
    pub anterior_x: Vec<f64>,
}

impl Aorta {
    /// Wall x at row y (linear interpolation, clamped to the sampled range).
    pub fn wall_x(&self, wall: Wall, y: f64) -> f64 {
        let xs = match wall {
            Wall::Anterior => &self.anterior_x,
            Wall::Posterior => &self.posterior_x,
        };
        let t = (y - self.y_start as f64).clamp(0.0, (xs.len() - 1) as f64);
        let i = (t.floor() as usize).min(xs.len() - 2);
        let f = t - i as f64;
        xs[i] * (1.0 - f) + xs[i + 1] * f
    }
}

/// A rib: a bright band along a curve y = a + b x + c x^2 over [x0, x1].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rib {
    /// Curve coefficients (a, b, c).
    pub coef: (f64, f64, f64),
    /// Column range.
    pub x0: f64,
    /// Column range end.
    pub x1: f64,
    /// Half thickness in pixels.
    pub half_width: f64,
    /// Brightness.
    pub density: f64,
}

impl Rib {
    /// Centre row of the rib at column x.
    pub fn y_at(&self, x: f64) -> f64 {
        let (a, b, c) = self.coef;
        a + b * x + c * x * x
    }
}

/// A dark gas pocket: an irregular ellipse.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GasBlob {
    /// Centre.
    pub centre: Point,
    /// Radii (x, y) in pixels.
    pub radii: (f64, f64),
    /// Darkening (attenuation units).
    pub depth: f64,
}

/// Everything about one synthetic patient and scan, in pixel units.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Anatomy {
    /// Image width.
    pub width: usize,
    /// Image height.
    pub height: usize,
    /// Pixel spacing (mm).
    pub spacing_mm: f64,
    /// Vertebral bodies T4..L5.
    pub vertebrae: Vec<Vertebra>,
    /// Sacrum outline (S1 top endplate posterior, anterior, then two lower points).
    pub sacrum: [Point; 4],
    /// Aorta walls.
    pub aorta: Aorta,
    /// Row of the diaphragm dome (lungs above are darker).
    pub diaphragm_y: f64,
    /// Posterior skin line x (air behind it).
    pub skin_x: f64,
    /// Ribs.
    pub ribs: Vec<Rib>,
    /// Iliac crest curve: centre, radii.
    pub iliac: (Point, f64, f64),
    /// Bowel gas pockets.
    pub gas: Vec<GasBlob>,
    /// Calcified deposits.
    pub deposits: Vec<Deposit>,
    /// How far apart the two contours of an endplate seen twice are at the
    /// top and bottom of the field (pixels; 0: seen once).
    #[serde(default)]
    pub double_endplate_px: f64,
    /// Transitional anatomy, if any.
    #[serde(default)]
    pub transitional: Option<Transitional>,
    /// The index in `vertebrae` of the last rib-bearing vertebra, when the
    /// ribs are attached to theirs ([`Factor::AttachedRibs`]).
    #[serde(default)]
    pub last_rib: Option<usize>,
}

/// A uniform draw from [a, b), or `a` without touching the generator when
/// the range is empty (so fixed values leave the random stream unchanged).
pub(crate) fn uniform<R: Rng>(rng: &mut R, (a, b): (f64, f64)) -> f64 {
    if b > a {
        rng.random_range(a..b)
    } else {
        a
    }
}

fn normal<R: Rng>(rng: &mut R, sd: f64) -> f64 {
    Normal::new(0.0, sd).map(|n| n.sample(rng)).unwrap_or(0.0)
}

/// Spine axis angle (radians from vertical, positive = heading anterior when
/// going down) at fractional vertebra index `s` (0 = T4, 13 = L5).
fn axis_angle(s: f64, kyphosis: f64, lordosis: f64) -> f64 {
    // Control points: kyphosis turns the thoracic axis from posterior-heading to
    // anterior-heading; lordosis turns the lumbar axis back toward posterior.
    let pts = [
        (0.0, -kyphosis),
        (4.0, 0.0),
        (8.5, 0.75 * lordosis),
        (11.0, 0.0),
        (13.5, -1.1 * lordosis),
    ];
    if s <= pts[0].0 {
        return pts[0].1;
    }
    for w in pts.windows(2) {
        if s <= w[1].0 {
            let f = (s - w[0].0) / (w[1].0 - w[0].0);
            return w[0].1 + f * (w[1].1 - w[0].1);
        }
    }
    pts[pts.len() - 1].1
}

/// Parameters of the patient body drawn before pixel sizes are known.
pub struct Frame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Pixel spacing in mm.
    pub spacing_mm: f64,
}

/// Draws a patient: spine, aorta, ribs, pelvis, gas and calcification.
pub fn draw_anatomy<R: Rng>(
    rng: &mut R,
    frame: &Frame,
    calcified_only: bool,
    style: &Style,
) -> Anatomy {
    let ranges = &style.anatomy;
    let (gas_prob, low_rib_prob) = (style.gas, style.low_ribs);
    let mm = 1.0 / frame.spacing_mm;
    let (w, h) = (frame.width as f64, frame.height as f64);
    let kyphosis = uniform(rng, (8.0, 22.0)).to_radians();
    let lordosis = uniform(rng, ranges.lordosis_deg).to_radians();
    let size = uniform(rng, ranges.size);
    let osteo = uniform(rng, (0.0, 1.0)); // bone loss: lower density, more deformity

    // The factors added after 0.4.0 draw from their own stream, so that a
    // patient is the same patient with or without them.
    let mut extra = rand_chacha::ChaCha8Rng::seed_from_u64(
        kyphosis.to_bits() ^ size.to_bits().rotate_left(17) ^ osteo.to_bits().rotate_left(31),
    );
    let fracture_p = if style.has(Factor::Fractures) {
        ranges.fracture
    } else {
        0.0
    };

    // Heights in mm: thoracic bodies grow from ~17 to ~24 mm, lumbar ~26-29.
    let mut heights = Vec::new();
    let mut depths = Vec::new();
    let mut discs = Vec::new();
    for i in 0..VERTEBRA_NAMES.len() {
        let lumbar = i >= L1;
        let hh = if lumbar {
            26.0 + 0.8 * (i - L1) as f64
        } else {
            17.0 + 0.85 * i as f64
        };
        let dd = if lumbar {
            36.0 + 1.5 * (i - L1) as f64
        } else {
            26.0 + 1.0 * i as f64
        };
        heights.push(hh * size * (1.0 + normal(rng, 0.04)));
        depths.push(dd * size * (1.0 + normal(rng, 0.04)));
        let disc = if lumbar { 9.5 } else { 4.5 + 0.3 * i as f64 };
        discs.push(disc * size * uniform(rng, ranges.disc_height));
    }
    if style.has(Factor::Degeneration) {
        // Narrowed discs, more with age (bone loss stands for it here).
        for d in discs.iter_mut() {
            if extra.random::<f64>() < 0.1 + 0.35 * osteo {
                *d *= uniform(&mut extra, (0.25, 0.6));
            }
        }
    }
    let total: f64 = heights.iter().sum::<f64>() + discs.iter().sum::<f64>();
    let top_margin_mm = (h / mm - total - 55.0).max(10.0) * uniform(rng, (0.25, 0.6));
    let spine_x = w * uniform(rng, ranges.spine_x);

    let mut vertebrae = Vec::new();
    let mut centre = Point::new(spine_x, top_margin_mm * mm + heights[0] * mm / 2.0);
    for i in 0..VERTEBRA_NAMES.len() {
        let theta = axis_angle(i as f64, kyphosis, lordosis) + normal(rng, 2.0f64.to_radians());
        let (t, u) = ((theta.sin(), theta.cos()), (theta.cos(), -theta.sin()));
        let mut hgt = heights[i] * mm;
        let dep = depths[i] * mm;
        // Wedge: thoracic bodies shorter in front; L5 taller in front.
        let mut wedge = if i < L1 {
            uniform(rng, (0.85, 1.0))
        } else {
            uniform(rng, (0.95, 1.06))
        };
        if i == VERTEBRA_NAMES.len() - 1 {
            wedge = uniform(rng, (1.05, 1.2));
        }
        let mut fracture = None;
        let mut biconcave_loss = 0.0;
        if rng.random::<f64>() < fracture_p * osteo {
            // The shares are checked first so that styles without crush or
            // biconcave fractures keep their random stream.
            if ranges.biconcave_share > 0.0 && rng.random::<f64>() < ranges.biconcave_share {
                // Genant grades 1-3: 20-25%, 25-40%, over 40% of the middle
                // height lost.
                biconcave_loss = uniform(rng, (0.2, 0.5));
                fracture = Some(Fracture::Biconcave);
            } else if ranges.crush_share > 0.0 && rng.random::<f64>() < ranges.crush_share {
                hgt *= uniform(rng, (0.6, 0.85));
                fracture = Some(Fracture::Crush);
            } else {
                wedge *= uniform(rng, (0.65, 0.85));
                fracture = Some(Fracture::Wedge);
            }
        }
        let (hp, ha) = (hgt, hgt * wedge);
        let corner = |du: f64, dv: f64| {
            Point::new(
                centre.x + du * u.0 + dv * t.0,
                centre.y + du * u.1 + dv * t.1,
            )
        };
        let corners = [
            corner(-dep / 2.0, -hp / 2.0),
            corner(dep / 2.0, -ha / 2.0),
            corner(dep / 2.0, ha / 2.0),
            corner(-dep / 2.0, hp / 2.0),
        ];
        let mut concavity = hgt * uniform(rng, (0.02, 0.05 + 0.08 * osteo));
        if fracture == Some(Fracture::Crush) {
            concavity *= 1.8;
        }
        if fracture == Some(Fracture::Biconcave) {
            // Each endplate gives half the middle height lost.
            concavity = concavity.max(biconcave_loss * hgt / 2.0);
        }
        vertebrae.push(Vertebra {
            name: VERTEBRA_NAMES[i].to_string(),
            corners,
            concavity,
            density: uniform(rng, ranges.bone_density) - 0.07 * osteo,
            rim_px: (uniform(rng, ranges.rim_mm) * mm).max(1.0),
            fracture,
            osteophytes_px: [0.0; 2],
        });
        if i + 1 < VERTEBRA_NAMES.len() {
            let next_theta = axis_angle(i as f64 + 1.0, kyphosis, lordosis);
            let step = (hgt / 2.0 + discs[i] * mm + heights[i + 1] * mm / 2.0) * 0.5;
            centre = Point::new(
                centre.x + step * (theta.sin() + next_theta.sin()),
                centre.y + step * (theta.cos() + next_theta.cos()),
            );
        }
    }
    // Sacrum: steeply inclined below L5.
    let l5 = &vertebrae[VERTEBRA_NAMES.len() - 1];
    let disc = discs[discs.len() - 1] * mm * 0.8;
    let slope = uniform(rng, (30.0, 48.0)).to_radians();
    let s_post = Point::new(l5.corners[3].x + 0.15 * disc, l5.corners[3].y + disc);
    let top_len = l5.corners[3].dist(&l5.corners[2]) * 1.05;
    let s_ant = Point::new(
        s_post.x + top_len * slope.cos(),
        s_post.y + top_len * slope.sin(),
    );
    // The sacrum tapers downward and curves back (posteriorly).
    let down = 75.0 * mm;
    let dir = (slope.sin(), slope.cos());
    let tip = Point::new(s_ant.x - down * dir.0 * 0.6, s_ant.y + down * dir.1);
    let sacrum = [
        s_post,
        s_ant,
        tip,
        Point::new(
            tip.x + 0.3 * (s_post.x - s_ant.x),
            tip.y + 0.3 * (s_post.y - s_ant.y),
        ),
    ];

    let aorta = draw_aorta(rng, &vertebrae, frame, mm, ranges);
    let diaphragm_y = {
        let t11 = vertebrae[L1 - 2].centre().y;
        let l1 = vertebrae[L1].centre().y;
        t11 + uniform(rng, (-0.4, 0.7)) * (l1 - t11)
    };
    let skin_x = spine_x - uniform(rng, (70.0, 110.0)) * mm;

    // Ribs: broad bands descending anteriorly from the spine; the lowest ones
    // may cross L1-L2 and the aorta in front of them.
    let mut ribs = Vec::new();
    let n_ribs = rng.random_range(7..11);
    let lowest = if rng.random::<f64>() < low_rib_prob {
        vertebrae[L1 + 1].centre().y
    } else {
        vertebrae[L1 - 1].centre().y
    };
    for r in 0..n_ribs {
        let y0 = lowest - r as f64 * uniform(rng, (20.0, 28.0)) * mm;
        let slope = uniform(rng, (0.3, 0.8));
        let curve = uniform(rng, (0.0008, 0.0025)) / mm;
        let x_start = spine_x - uniform(rng, (10.0, 30.0)) * mm;
        let x_end = (spine_x + uniform(rng, (90.0, 160.0)) * mm).min(w + 20.0);
        let a = y0 - slope * x_start - curve * x_start * x_start;
        ribs.push(Rib {
            coef: (a, slope, curve),
            x0: x_start,
            x1: x_end,
            half_width: uniform(rng, (5.0, 9.0)) * mm,
            density: uniform(rng, (0.05, 0.11)),
        });
    }
    let l4c = vertebrae[L1 + 3].centre();
    let l5c = vertebrae[L1 + 4].centre();
    let iliac = (
        Point::new(
            l5c.x + uniform(rng, (-15.0, 25.0)) * mm,
            l5c.y + uniform(rng, (10.0, 40.0)) * mm,
        ),
        uniform(rng, (70.0, 95.0)) * mm,
        (l5c.y - l4c.y).abs().max(1.0) * uniform(rng, (1.0, 1.8)),
    );

    let mut gas = Vec::new();
    let n_gas = if rng.random::<f64>() < gas_prob {
        rng.random_range(2..9)
    } else {
        rng.random_range(0..3)
    };
    let ant = aorta.wall_x(Wall::Anterior, vertebrae[L1 + 2].centre().y);
    for _ in 0..n_gas {
        let cy = uniform(rng, (vertebrae[L1].corners[0].y, l5c.y + 30.0 * mm));
        let cx = ant + uniform(rng, (-25.0, 60.0)) * mm;
        gas.push(GasBlob {
            centre: Point::new(cx, cy),
            radii: (
                uniform(rng, (6.0, 22.0)) * mm,
                uniform(rng, (5.0, 16.0)) * mm,
            ),
            depth: uniform(rng, (0.04, 0.14)),
        });
    }
    let deposits = draw_deposits(rng, &vertebrae, &aorta, mm, calcified_only, ranges);
    if style.has(Factor::Degeneration) {
        for v in vertebrae.iter_mut().skip(L1 - 3) {
            if extra.random::<f64>() < 0.15 + 0.5 * osteo {
                v.osteophytes_px = [
                    uniform(&mut extra, (0.0, 5.0)) * mm,
                    uniform(&mut extra, (0.0, 5.0)) * mm,
                ];
            }
        }
    }
    let double_endplate_px = if style.has(Factor::DoubleEndplates) {
        uniform(&mut extra, (1.0, 3.5)) * mm
    } else {
        0.0
    };
    let transitional =
        (style.has(Factor::Transitional) && extra.random::<f64>() < 0.25).then(|| {
            [
                Transitional::ElevenRibs,
                Transitional::ThirteenRibs,
                Transitional::LumbarisedS1,
                Transitional::SacralisedL5,
            ][extra.random_range(0..4)]
        });
    let mut last_rib = None;
    if style.has(Factor::AttachedRibs) {
        let shift = transitional.map_or(0, Transitional::last_rib_shift);
        let last = (L1 as i32 - 1 - shift) as usize;
        ribs = attached_ribs(&mut extra, &vertebrae, last, mm, w, low_rib_prob);
        last_rib = Some(last);
    }
    if !style.has(Factor::Ribs) {
        ribs.clear();
    }
    if !style.has(Factor::BowelGas) {
        gas.clear();
    }
    Anatomy {
        width: frame.width,
        height: frame.height,
        spacing_mm: frame.spacing_mm,
        vertebrae,
        sacrum,
        aorta,
        diaphragm_y,
        skin_x,
        ribs,
        iliac,
        gas,
        deposits,
        double_endplate_px,
        transitional,
        last_rib,
    }
}

/// Ribs leaving the spine at the posterior half of their vertebrae, the
/// lowest at `vertebrae[last]` and one per vertebra above, sloping down
/// anteriorly: the lowest ones, steeper when `low_prob` says so, reach over
/// L1-L3 in front of the spine.
fn attached_ribs<R: Rng>(
    rng: &mut R,
    vertebrae: &[Vertebra],
    last: usize,
    mm: f64,
    w: f64,
    low_prob: f64,
) -> Vec<Rib> {
    let steep = rng.random::<f64>() < low_prob;
    (0..=last.min(vertebrae.len() - 1))
        .rev()
        .take(10)
        .enumerate()
        .map(|(r, k)| {
            let v = &vertebrae[k];
            let [sp, _, _, ip] = v.corners;
            // The costovertebral joint: behind the body, level with it.
            let joint = Point::new(
                (sp.x + ip.x) / 2.0 - uniform(rng, (4.0, 10.0)) * mm,
                (sp.y + ip.y) / 2.0,
            );
            let slope = if steep && r < 2 {
                uniform(rng, (0.8, 1.2))
            } else {
                uniform(rng, (0.35, 0.8))
            };
            let curve = uniform(rng, (0.0008, 0.0025)) / mm;
            let x_end = (joint.x + uniform(rng, (90.0, 160.0)) * mm).min(w + 20.0);
            // y = a + b (x - x0) + c (x - x0)^2 through the joint, in the
            // curve's form a' + b' x + c x^2.
            let (b, c) = (slope - 2.0 * curve * joint.x, curve);
            let a = joint.y - b * joint.x - c * joint.x * joint.x;
            Rib {
                coef: (a, b, c),
                x0: joint.x,
                x1: x_end,
                half_width: uniform(rng, (5.0, 9.0)) * mm,
                density: uniform(rng, (0.05, 0.11)),
            }
        })
        .collect()
}

/// x of the anterior border of the vertebral column at row y (through the
/// anterior corners of the bodies and across the discs).
pub fn spine_anterior_x(vertebrae: &[Vertebra], y: f64) -> f64 {
    let mut pts: Vec<Point> = Vec::new();
    for v in vertebrae {
        pts.push(v.corners[1]);
        pts.push(v.corners[2]);
    }
    if y <= pts[0].y {
        return pts[0].x;
    }
    for w in pts.windows(2) {
        if y <= w[1].y && w[1].y > w[0].y {
            let f = (y - w[0].y) / (w[1].y - w[0].y);
            return w[0].x + f * (w[1].x - w[0].x);
        }
    }
    pts[pts.len() - 1].x
}

fn draw_aorta<R: Rng>(
    rng: &mut R,
    vertebrae: &[Vertebra],
    frame: &Frame,
    mm: f64,
    ranges: &AnatomyRanges,
) -> Aorta {
    let gap0 = uniform(rng, ranges.aorta_gap_mm);
    let diam0 = uniform(rng, ranges.aorta_diameter_mm);
    let tort_amp = uniform(rng, ranges.tortuosity_mm);
    // The gap stays within the drawn range's neighbourhood (2-10 mm for the
    // named styles) however the tortuosity swings.
    let gap_limits = (
        ranges.aorta_gap_mm.0.min(2.0),
        ranges.aorta_gap_mm.1.max(10.0),
    );
    let tort_period = uniform(rng, (80.0, 200.0)) * mm;
    let phase = uniform(rng, (0.0, std::f64::consts::TAU));
    let taper = uniform(rng, (-0.1, 0.05));
    let y_start = (vertebrae[L1 - 3].corners[0].y.max(0.0)) as usize;
    let y_end = ((vertebrae[L1 + 4].corners[3].y + 10.0 * mm) as usize).min(frame.height - 1);
    let y_l1 = vertebrae[L1].corners[0].y;
    let y_l5 = vertebrae[L1 + 4].corners[3].y;
    let mut posterior_x = Vec::new();
    let mut anterior_x = Vec::new();
    for y in y_start..=y_end.max(y_start + 2) {
        let yf = y as f64;
        let rel = ((yf - y_l1) / (y_l5 - y_l1).max(1.0)).clamp(-0.5, 1.2);
        let gap = (gap0 + tort_amp * (yf / tort_period * std::f64::consts::TAU + phase).sin())
            .clamp(gap_limits.0, gap_limits.1);
        let diam = diam0 * (1.0 + taper * rel);
        let p = spine_anterior_x(vertebrae, yf) + gap * mm;
        posterior_x.push(p);
        anterior_x.push(p + diam * mm);
    }
    Aorta {
        y_start,
        posterior_x,
        anterior_x,
    }
}

/// The five disc mid-levels T12/L1 .. L4/L5 as rows (centre of the four
/// endplate corners around each disc).
pub fn disc_levels(vertebrae: &[Vertebra]) -> [f64; 5] {
    let mut levels = [0.0; 5];
    for (k, level) in levels.iter_mut().enumerate() {
        let upper = &vertebrae[L1 - 1 + k];
        let lower = &vertebrae[L1 + k];
        *level =
            (upper.corners[2].y + upper.corners[3].y + lower.corners[0].y + lower.corners[1].y)
                / 4.0;
    }
    levels
}

fn draw_deposits<R: Rng>(
    rng: &mut R,
    vertebrae: &[Vertebra],
    aorta: &Aorta,
    mm: f64,
    calcified_only: bool,
    ranges: &AnatomyRanges,
) -> Vec<Deposit> {
    // Population: ~40% without AAC; severity skewed to mild.
    if !calcified_only && rng.random::<f64>() < 0.4 {
        return Vec::new();
    }
    let severity: f64 = rand_distr::Gamma::new(1.1, 1.0)
        .map(|g| g.sample(rng))
        .unwrap_or(1.0);
    let n = 1 + (severity * rng.random_range(1.5..4.5)) as usize;
    let levels = disc_levels(vertebrae);
    let (top, bottom) = (levels[0], levels[4]);
    let mut out = Vec::new();
    for _ in 0..n {
        // Deposits favour L3-L4: sample position with a bias toward the bottom.
        let u: f64 = rng.random::<f64>().powf(0.6);
        let centre = top + u * (bottom - top);
        let mean_len = (5.0 + 6.0 * severity) * mm;
        let len = (rand_distr::Exp::new(1.0 / mean_len)
            .map(|e| e.sample(rng))
            .unwrap_or(mean_len))
        .clamp(1.5 * mm, 45.0 * mm);
        let wall = if rng.random::<f64>() < 0.5 {
            Wall::Anterior
        } else {
            Wall::Posterior
        };
        let faint = rng.random::<f64>() < ranges.faint_probability;
        let contrast = if faint {
            uniform(rng, ranges.faint_contrast)
        } else {
            uniform(rng, ranges.deposit_contrast)
        };
        let thickness = (uniform(rng, ranges.deposit_thickness_mm) * mm).max(1.2);
        let inset = match wall {
            Wall::Anterior => -uniform(rng, (0.0, 1.0)) * mm,
            Wall::Posterior => uniform(rng, (0.0, 1.0)) * mm,
        };
        let y0 = (centre - len / 2.0).max(aorta.y_start as f64);
        let deposit = Deposit {
            wall,
            y0,
            y1: centre + len / 2.0,
            thickness,
            contrast,
            inset,
            patchiness: uniform(rng, (0.0, 0.6)),
        };
        // The share is checked first so that styles without broken deposits
        // keep their random stream.
        if ranges.broken > 0.0 && rng.random::<f64>() < ranges.broken {
            out.extend(broken(rng, deposit, mm));
        } else {
            out.push(deposit);
        }
    }
    out
}

/// A deposit broken into dashes (2-6 mm long) or a row of small dots, with
/// gaps of 1-3 mm: granular plaque. Each piece is a deposit of its own, so
/// the masks and the geometric score (the union of row extents) count only
/// what is drawn.
fn broken<R: Rng>(rng: &mut R, d: Deposit, mm: f64) -> Vec<Deposit> {
    let dots = rng.random::<bool>();
    let mut pieces = Vec::new();
    let mut y = d.y0;
    while y < d.y1 {
        let (len, thickness) = if dots {
            let size = uniform(rng, (1.0, 2.0)) * mm;
            (size, size.max(1.2))
        } else {
            (uniform(rng, (2.0, 6.0)) * mm, d.thickness)
        };
        let y1 = (y + len).min(d.y1);
        pieces.push(Deposit {
            y0: y,
            y1,
            thickness,
            ..d.clone()
        });
        y = y1 + uniform(rng, (1.0, 3.0)) * mm;
    }
    pieces
}
