//! The region of interest: a 4 x 5 grid of control points (posterior spine
//! border, anterior spine border, posterior aortic wall, anterior aortic wall
//! widened by 3 SD; at the five disc levels T12/L1 .. L4/L5) and its fixed
//! target in warped space.

use aac_io::{Point, ROI_HEIGHT, ROI_WIDTH, ROWS_PER_VERTEBRA};
use serde::{Deserialize, Serialize};

/// Number of control columns.
pub const COLUMNS: usize = 4;
/// Number of disc levels.
pub const LEVELS: usize = 5;
/// Warped-space x of the control columns: posterior border of the vertebral
/// bodies, their anterior border, the posterior aortic wall, and the anterior
/// aortic wall + 3 SD.
pub const TARGET_X: [f64; COLUMNS] = [0.0, 40.0, 56.0, (ROI_WIDTH - 1) as f64];

/// Warped-space y of disc level k (0 = T12/L1 .. 4 = L4/L5).
pub fn target_y(k: usize) -> f64 {
    (k as u32 * ROWS_PER_VERTEBRA) as f64
}

/// The target position of control point (level k, column c).
pub fn target(k: usize, c: usize) -> Point {
    Point::new(TARGET_X[c], target_y(k))
}

/// Output image size (columns, rows).
pub const SIZE: (u32, u32) = (ROI_WIDTH, ROI_HEIGHT);

/// Source control points of one image: `points[k][c]` in image pixels.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Roi {
    /// Control points by disc level and column.
    pub points: [[Point; COLUMNS]; LEVELS],
    /// How the aorta band was laid out.
    #[serde(default)]
    pub layout: BandLayout,
}

/// How the aorta band of an ROI was laid out at each disc level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub enum BandLayout {
    /// The paper's: from the posterior wall toward the anterior wall, widened
    /// by 3 SD.
    #[default]
    AsPredicted,
    /// Along the spine's normal at each level, same distances (when the
    /// predicted walls make the grid fold).
    AlongSpineNormal,
    /// Along the spine's normal, the widened band narrowed to this fraction
    /// of its length (never below a fifth of the body depth).
    Narrowed(f64),
}

impl BandLayout {
    /// The layouts tried in order.
    const FALLBACKS: [BandLayout; 7] = [
        BandLayout::AsPredicted,
        BandLayout::AlongSpineNormal,
        BandLayout::Narrowed(0.85),
        BandLayout::Narrowed(0.7),
        BandLayout::Narrowed(0.55),
        BandLayout::Narrowed(0.4),
        BandLayout::Narrowed(0.0),
    ];

    /// True when the band is not the paper's (QC: the scan is unusual).
    pub fn is_fallback(&self) -> bool {
        *self != BandLayout::AsPredicted
    }
}

/// The spine borders alone must not fold: that is the landmarks' fault, not
/// the band's.
fn check_spine_folding(levels: &[Level]) -> Result<(), RoiError> {
    let mut sign = 0.0;
    for (k, pair) in levels.windows(2).enumerate() {
        let (a, b, d, e) = (pair[0].post, pair[0].ant, pair[1].post, pair[1].ant);
        for (p, q, r) in [(a, b, e), (a, e, d)] {
            let cross = (q.x - p.x) * (r.y - p.y) - (q.y - p.y) * (r.x - p.x);
            if cross.abs() < 1e-6 || (sign != 0.0 && cross.signum() != sign) {
                return Err(RoiError::Degenerate(format!(
                    "the spine borders fold over at disc level {k} (vertebrae out of order?)"
                )));
            }
            sign = cross.signum();
        }
    }
    Ok(())
}

/// The geometry of one disc level from which its ROI row is laid out.
struct Level {
    post: Point,
    ant: Point,
    /// Unit vector from the posterior to the anterior spine border.
    normal: (f64, f64),
    /// Posterior aortic wall (kept in front of the spine).
    wall_p: Point,
    /// Its distance in front of the anterior spine border.
    gap: f64,
    /// Unit vector from the posterior to the anterior wall.
    wall_dir: (f64, f64),
    /// Length of the band from the posterior wall: wall distance + 3 SD.
    reach: f64,
    /// The shortest band allowed.
    min_reach: f64,
}

impl Level {
    /// The four control points of this level under `layout`.
    fn row(&self, layout: BandLayout) -> [Point; COLUMNS] {
        let (ux, uy) = self.normal;
        let on_normal = |d: f64| Point::new(self.ant.x + d * ux, self.ant.y + d * uy);
        match layout {
            BandLayout::AsPredicted => {
                let (vx, vy) = self.wall_dir;
                let outer = Point::new(
                    self.wall_p.x + self.reach * vx,
                    self.wall_p.y + self.reach * vy,
                );
                [self.post, self.ant, self.wall_p, outer]
            }
            BandLayout::AlongSpineNormal => [
                self.post,
                self.ant,
                on_normal(self.gap),
                on_normal(self.gap + self.reach),
            ],
            BandLayout::Narrowed(f) => {
                let reach = (f * self.reach).max(self.min_reach);
                [
                    self.post,
                    self.ant,
                    on_normal(self.gap),
                    on_normal(self.gap + reach),
                ]
            }
        }
    }
}

/// Why an ROI cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum RoiError {
    /// Fewer landmarks than needed.
    #[error("{0} landmarks given, 20 spine points needed")]
    TooFewPoints(usize),
    /// The ROI folds over itself or collapses.
    #[error("degenerate region of interest: {0}")]
    Degenerate(String),
    /// The ROI lies (partly) outside the image.
    #[error("the region of interest ({0}) extends beyond the {1}x{2} image")]
    OutsideImage(String, u32, u32),
}

/// Disc-level posterior and anterior points of the spine: the midpoints of the
/// endplate corners above and below each disc.
pub fn disc_points(spine: &[Point]) -> [(Point, Point); LEVELS] {
    let mut out = [(Point::default(), Point::default()); LEVELS];
    // (upper inferior-posterior, upper inferior-anterior, lower superior-posterior, lower superior-anterior)
    use aac_io::pts::index::*;
    let idx = [
        (T12_INF_POST, T12_INF_ANT, sup_post(0), sup_ant(0)),
        (inf_post(0), inf_ant(0), sup_post(1), sup_ant(1)),
        (inf_post(1), inf_ant(1), sup_post(2), sup_ant(2)),
        (inf_post(2), inf_ant(2), sup_post(3), sup_ant(3)),
        (inf_post(3), inf_ant(3), L5_SUP_POST, L5_SUP_ANT),
    ];
    for (k, &(up, ua, lp, la)) in idx.iter().enumerate() {
        out[k] = (spine[up].mid(&spine[lp]), spine[ua].mid(&spine[la]));
    }
    out
}

impl Roi {
    /// Builds the ROI from the 20 spine points, the 10 aorta points (annotated
    /// or predicted) and the SD of each aorta point. At each disc level the
    /// control points are the posterior and anterior spine borders (midpoints of
    /// the endplate corners), the posterior aortic wall, and the anterior wall
    /// moved 3 SD further anterior. The posterior side of the band widened by
    /// 3 SD lies between the spine and the posterior wall, inside the ROI; the
    /// posterior wall control point is kept in front of the spine so the warp
    /// stays one-to-one.
    ///
    /// Where the aorta predicted at neighbouring levels points in directions
    /// that make the grid fold over (a spine at the edge of the shape model's
    /// range), the band is laid along each level's spine normal instead, and
    /// narrowed step by step if it still folds ([`BandLayout`]); a spine whose
    /// own borders fold is an error.
    pub fn build(points: &[Point], aorta: &[Point], aorta_sd: &[f64]) -> Result<Roi, RoiError> {
        if points.len() < 20 {
            return Err(RoiError::TooFewPoints(points.len()));
        }
        if aorta.len() < 10 || aorta_sd.len() < 10 {
            return Err(RoiError::TooFewPoints(20 + aorta.len()));
        }
        let discs = disc_points(points);
        let mut levels = Vec::with_capacity(LEVELS);
        for (k, (post, ant)) in discs.iter().enumerate() {
            let (dx, dy) = (ant.x - post.x, ant.y - post.y);
            let n = (dx * dx + dy * dy).sqrt();
            if n < 1.0 {
                return Err(RoiError::Degenerate(format!(
                    "spine at disc level {k} has no width"
                )));
            }
            let (ux, uy) = (dx / n, dy / n);
            let along = |p: Point| (p.x - ant.x) * ux + (p.y - ant.y) * uy;
            // Annotations may swap the walls: order them along the anterior direction.
            let (mut wall_p, mut wall_a) = (aorta[2 * k], aorta[2 * k + 1]);
            if along(wall_p) > along(wall_a) {
                std::mem::swap(&mut wall_p, &mut wall_a);
            }
            let min_gap = 0.04 * n;
            if along(wall_p) < min_gap {
                let shift = min_gap - along(wall_p);
                wall_p = Point::new(wall_p.x + shift * ux, wall_p.y + shift * uy);
            }
            let sd = aorta_sd[2 * k].max(aorta_sd[2 * k + 1]);
            let (wx, wy) = (wall_a.x - wall_p.x, wall_a.y - wall_p.y);
            let wn = (wx * wx + wy * wy).sqrt();
            let wall_dir = if wn > 1.0 {
                (wx / wn, wy / wn)
            } else {
                (ux, uy)
            };
            levels.push(Level {
                post: *post,
                ant: *ant,
                normal: (ux, uy),
                wall_p,
                gap: along(wall_p),
                wall_dir,
                reach: (wn + 3.0 * sd).max(0.2 * n),
                min_reach: 0.2 * n,
            });
        }
        check_spine_folding(&levels)?;
        let mut last_err = None;
        for layout in BandLayout::FALLBACKS {
            let roi = Roi {
                points: std::array::from_fn(|k| levels[k].row(layout)),
                layout,
            };
            match roi.check_folding() {
                Ok(()) => return Ok(roi),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| RoiError::Degenerate("no layout fits".into())))
    }

    /// Every cell of the grid must keep its orientation (no fold-over).
    fn check_folding(&self) -> Result<(), RoiError> {
        let mut sign = 0.0;
        for k in 0..LEVELS - 1 {
            for c in 0..COLUMNS - 1 {
                let a = self.points[k][c];
                let b = self.points[k][c + 1];
                let d = self.points[k + 1][c];
                let e = self.points[k + 1][c + 1];
                for (p, q, r) in [(a, b, e), (a, e, d)] {
                    let cross = (q.x - p.x) * (r.y - p.y) - (q.y - p.y) * (r.x - p.x);
                    if cross.abs() < 1e-6 {
                        return Err(RoiError::Degenerate(format!("collapsed cell at level {k}")));
                    }
                    if sign == 0.0 {
                        sign = cross.signum();
                    } else if cross.signum() != sign {
                        return Err(RoiError::Degenerate(format!(
                            "the grid folds over at level {k} (vertebrae out of order?)"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks the ROI lies inside a `width` x `height` image (with `margin`
    /// pixels of tolerance).
    pub fn check_inside(&self, width: u32, height: u32, margin: f64) -> Result<(), RoiError> {
        for (k, row) in self.points.iter().enumerate() {
            for p in row {
                if p.x < -margin
                    || p.y < -margin
                    || p.x > width as f64 - 1.0 + margin
                    || p.y > height as f64 - 1.0 + margin
                {
                    return Err(RoiError::OutsideImage(
                        format!("point ({:.0}, {:.0}) at disc level {k}", p.x, p.y),
                        width,
                        height,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Fraction of the ROI's area (sampled on a grid) that lies inside the image.
    pub fn fraction_inside(&self, width: u32, height: u32) -> f64 {
        let map = crate::mesh::WarpMap::new(self, None);
        let inside = map
            .coords
            .iter()
            .filter(|(x, y)| {
                *x >= 0.0 && *y >= 0.0 && *x <= width as f32 - 1.0 && *y <= height as f32 - 1.0
            })
            .count();
        inside as f64 / map.coords.len() as f64
    }
}
