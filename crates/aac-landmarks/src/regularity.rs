//! How regular a found spine is: four lumbar bodies of about one height
//! with discs between them. A fine window whose end was put one level off
//! by the coarse stage shows itself here: the fine network keeps the
//! endplates on real endplates but stretches one "body" over two (or
//! squeezes one into a disc), which no spine does.

use aac_io::pts::index;
use aac_io::Point;

/// A body this much taller than the median of the four is two bodies.
const TALLEST_BODY: f64 = 1.4;
/// A body this much shorter than the median is half a body (a crush
/// fracture loses up to about 40% of its height).
const SHORTEST_BODY: f64 = 0.55;
/// A gap this much wider than the median of the five is a body read as a
/// disc (a body and its two discs: about 7 times a disc). Discs differ more
/// than bodies do: in degenerated spines, whose narrowed discs pull the
/// median down, the true points of held-out scans reach 3.3 (`biobank`);
/// 2.2 (before 0.8.0) flagged such spines named right (docs/landmarks.md).
const WIDEST_GAP: f64 = 3.5;

/// Heights of L1-L4 (mean of the posterior and anterior walls), pixels.
fn body_heights(p: &[Point]) -> [f64; 4] {
    std::array::from_fn(|v| {
        (p[index::sup_post(v)].dist(&p[index::inf_post(v)])
            + p[index::sup_ant(v)].dist(&p[index::inf_ant(v)]))
            / 2.0
    })
}

/// The endplates either side of disc `k` (0: T12/L1 .. 4: L4/L5), each as
/// its (posterior, anterior) point indices: the upper body's inferior, the
/// lower body's superior.
fn disc_endplates(k: usize) -> ((usize, usize), (usize, usize)) {
    let upper = if k == 0 {
        (index::T12_INF_POST, index::T12_INF_ANT)
    } else {
        (index::inf_post(k - 1), index::inf_ant(k - 1))
    };
    let lower = if k == 4 {
        (index::L5_SUP_POST, index::L5_SUP_ANT)
    } else {
        (index::sup_post(k), index::sup_ant(k))
    };
    (upper, lower)
}

/// The five disc gaps T12/L1 .. L4/L5 (mean of the two walls), pixels.
fn disc_gaps(p: &[Point]) -> [f64; 5] {
    std::array::from_fn(|k| {
        let ((up, ua), (lp, la)) = disc_endplates(k);
        (p[up].dist(&p[lp]) + p[ua].dist(&p[la])) / 2.0
    })
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// How irregular the 20 points are: the largest departure of a body height
/// or disc gap from the median, in units of its limit, so that above 1 the
/// points cannot be four consecutive bodies.
pub fn irregularity(points: &[Point]) -> f64 {
    let heights = body_heights(points);
    let gaps = disc_gaps(points);
    let (mh, mg) = (median(&heights).max(1e-6), median(&gaps).max(1e-6));
    let body = heights
        .iter()
        .map(|&h| {
            let r = (h / mh).max(1e-6);
            (r.ln() / TALLEST_BODY.ln()).max(r.ln() / SHORTEST_BODY.ln())
        })
        .fold(0.0, f64::max);
    let gap = gaps
        .iter()
        .map(|&g| (g / mg).max(1e-6).ln() / WIDEST_GAP.ln())
        .fold(0.0, f64::max);
    body.max(gap)
}

/// Endplates further apart in angle than this, within a body or across the
/// T12/L1 and L4/L5 discs, were taken from different levels. With the true
/// points of 1,600 held-out scans (wedge fractures, degeneration and
/// lordosis included) the widest pair was 22 degrees, the 99th percentile
/// 14-17 per cohort (docs/landmarks.md).
const TWISTED_DEGREES: f64 = 35.0;

/// Direction of an endplate, posterior to anterior corner, in degrees.
fn endplate_angle(p: &[Point], post: usize, ant: usize) -> f64 {
    (p[ant].y - p[post].y)
        .atan2(p[ant].x - p[post].x)
        .to_degrees()
}

/// A doubt when a body's two endplates (or the endplates either side of the
/// T12/L1 or L4/L5 disc) differ in angle by more than [`TWISTED_DEGREES`]:
/// the posterior corners were placed a level away from the anterior ones,
/// so one "body" is a twisted quadrilateral across two levels, which heights
/// and gaps alone do not show. None as well for fewer than the 20 spine
/// points.
pub fn twisted_endplates(p: &[Point]) -> Option<String> {
    if p.len() < aac_io::N_SPINE {
        return None;
    }
    let apart = |a: f64, b: f64| {
        let d = (a - b).abs() % 360.0;
        d.min(360.0 - d)
    };
    let sup = |v: usize| endplate_angle(p, index::sup_post(v), index::sup_ant(v));
    let inf = |v: usize| endplate_angle(p, index::inf_post(v), index::inf_ant(v));
    let mut pairs: Vec<(String, f64)> = (0..4)
        .map(|v| (format!("of L{}", v + 1), apart(sup(v), inf(v))))
        .collect();
    let t12 = endplate_angle(p, index::T12_INF_POST, index::T12_INF_ANT);
    let l5 = endplate_angle(p, index::L5_SUP_POST, index::L5_SUP_ANT);
    pairs.push(("across the T12/L1 disc".into(), apart(t12, sup(0))));
    pairs.push(("across the L4/L5 disc".into(), apart(inf(3), l5)));
    let (at, worst) =
        pairs.into_iter().fold(
            (String::new(), 0.0),
            |w, pair| if pair.1 > w.1 { pair } else { w },
        );
    (worst > TWISTED_DEGREES).then(|| {
        format!(
            "the endplates {at} differ by {worst:.1} degrees (more than {TWISTED_DEGREES:.0}): corners taken from different levels"
        )
    })
}

/// A body whose endplate meets one of its walls further than this from
/// square is not a vertebral body: its corners came from two levels (a
/// sheared parallelogram, which the twisted-endplate check misses because
/// both endplates lean alike). With the true points of 1,600 held-out scans
/// (wedge fractures, degeneration and lordosis included) the widest was 7.8
/// degrees; a grade-3 wedge (anterior height 40% of posterior) leans its
/// endplate about 23 degrees. Of the found placements beyond it on those
/// scans, all but one were named wrongly, and that one was flagged
/// (docs/landmarks.md).
pub const SHEARED_DEGREES: f64 = 35.0;

/// The angle in degrees between two directions, as lines (0..=90).
fn between_lines(a: f64, b: f64) -> f64 {
    let d = (a - b).abs() % 180.0;
    d.min(180.0 - d)
}

/// The most sheared of L1-L4: its name and how far (degrees) one of its
/// endplates is from square to one of its walls. None for fewer than the
/// 16 body points.
pub fn most_sheared_body(p: &[Point]) -> Option<(String, f64)> {
    if p.len() < 16 {
        return None;
    }
    (0..4)
        .map(|v| {
            let walls = [
                endplate_angle(p, index::sup_post(v), index::inf_post(v)),
                endplate_angle(p, index::sup_ant(v), index::inf_ant(v)),
            ];
            let plates = [
                endplate_angle(p, index::sup_post(v), index::sup_ant(v)),
                endplate_angle(p, index::inf_post(v), index::inf_ant(v)),
            ];
            let worst = plates
                .iter()
                .flat_map(|&e| {
                    walls
                        .iter()
                        .map(move |&w| (90.0 - between_lines(e, w)).abs())
                })
                .fold(0.0, f64::max);
            (format!("L{}", v + 1), worst)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Why the points cannot be four vertebral bodies, when a body is sheared
/// beyond [`SHEARED_DEGREES`].
pub fn sheared(p: &[Point]) -> Option<String> {
    let (body, degrees) = most_sheared_body(p)?;
    (degrees > SHEARED_DEGREES).then(|| {
        format!(
            "{body}'s corners are {degrees:.0} degrees from square (more than {SHEARED_DEGREES:.0}): they were taken from two levels"
        )
    })
}

/// Bodies that overlap along the spine by more than this share of the
/// median body height are one body read twice. The true points of the
/// 2,000 held-out scans of docs/landmarks.md overlap by at most 0.11
/// (an endplate's corner over the next body's, in wedged and degenerated
/// spines); the found points of the wrongly named scans that overlapped
/// did so by 0.6-1.0, the one scan named right by 0.17.
pub const OVERLAP_SHARE: f64 = 0.3;

/// Why the points cannot be four vertebral bodies, when two neighbouring
/// bodies (T12 and L5 included, by their endplates) overlap along the
/// spine's T12-L5 axis by more than [`OVERLAP_SHARE`] of the median body
/// height: the lower one's superior corner lies above the upper one's
/// inferior corner on the same wall.
pub fn overlapping(p: &[Point]) -> Option<String> {
    let top = p[index::T12_INF_POST].mid(&p[index::T12_INF_ANT]);
    let bottom = p[index::L5_SUP_POST].mid(&p[index::L5_SUP_ANT]);
    let span = top.dist(&bottom);
    if span <= 0.0 {
        return None;
    }
    let axis = Point::new((bottom.x - top.x) / span, (bottom.y - top.y) / span);
    let along = |a: Point, b: Point| (b.x - a.x) * axis.x + (b.y - a.y) * axis.y;
    let name = |k: usize| match k {
        0 => "T12".to_string(),
        5 => "L5".to_string(),
        k => format!("L{k}"),
    };
    let height = median(&body_heights(p)).max(1e-6);
    let (worst, k) = (0..5)
        .map(|k| {
            let ((up, ua), (lp, la)) = disc_endplates(k);
            let gap = along(p[up], p[lp]).min(along(p[ua], p[la]));
            (-gap / height, k)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    (worst > OVERLAP_SHARE).then(|| {
        format!(
            "{} and {} overlap by {:.0}% of a body's height: one body was read twice",
            name(k),
            name(k + 1),
            100.0 * worst
        )
    })
}

/// One level's step along the spine: median body height plus median gap.
pub fn level_step(points: &[Point]) -> f64 {
    median(&body_heights(points)) + median(&disc_gaps(points))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upright spine: bodies `h` tall, gaps `g`, from y = 100.
    fn spine(heights: [f64; 4], g: f64) -> Vec<Point> {
        let mut p = vec![Point::new(0.0, 0.0); 20];
        p[index::T12_INF_POST] = Point::new(0.0, 100.0);
        p[index::T12_INF_ANT] = Point::new(40.0, 100.0);
        let mut y = 100.0 + g;
        for (v, h) in heights.iter().enumerate() {
            p[index::sup_post(v)] = Point::new(0.0, y);
            p[index::sup_ant(v)] = Point::new(40.0, y);
            p[index::inf_post(v)] = Point::new(0.0, y + h);
            p[index::inf_ant(v)] = Point::new(40.0, y + h);
            y += h + g;
        }
        p[index::L5_SUP_POST] = Point::new(0.0, y);
        p[index::L5_SUP_ANT] = Point::new(40.0, y);
        p
    }

    #[test]
    fn bodies_that_overlap_are_one_body_read_twice() {
        let p = spine([40.0; 4], 8.0);
        assert_eq!(overlapping(&p), None);
        // A corner of L2 4 px over L1's (a tenth of a body): a wedge, not
        // an overlap.
        let mut wedge = p.clone();
        wedge[index::sup_ant(1)].y -= 12.0;
        assert_eq!(overlapping(&wedge), None);
        // L3 moved up onto L2: the same body read twice.
        let mut twice = p.clone();
        for k in [
            index::sup_post(2),
            index::sup_ant(2),
            index::inf_ant(2),
            index::inf_post(2),
        ] {
            twice[k].y -= 44.0;
        }
        let why = overlapping(&twice).expect("overlap");
        assert!(why.starts_with("L2 and L3 overlap by 90%"), "{why}");
    }

    #[test]
    fn a_regular_spine_and_a_crushed_body_are_plausible() {
        assert!(irregularity(&spine([40.0; 4], 8.0)) < 0.1);
        assert!(irregularity(&spine([40.0, 40.0, 26.0, 40.0], 8.0)) < 1.0);
        assert!((level_step(&spine([40.0; 4], 8.0)) - 48.0).abs() < 1e-9);
    }

    #[test]
    fn a_body_whose_posterior_corners_slid_a_level_is_twisted() {
        let p = spine([40.0; 4], 8.0);
        assert_eq!(twisted_endplates(&p), None);
        // A wedge of 20 degrees (a fractured L2's anterior wall 15 px
        // short) is no twist.
        let mut wedge = p.clone();
        wedge[index::inf_ant(1)].y -= 15.0;
        assert_eq!(twisted_endplates(&wedge), None);
        // L3's superior posterior corner on L4's superior endplate.
        let mut twisted = p.clone();
        twisted[index::sup_post(2)].y += 48.0;
        let doubt = twisted_endplates(&twisted).expect("twisted");
        assert!(doubt.contains("of L3"), "{doubt}");
        assert!(doubt.contains("50.2 degrees"), "{doubt}");
        // The same across the L4/L5 disc.
        let mut low = p;
        low[index::L5_SUP_POST].y += 48.0;
        let doubt = twisted_endplates(&low).expect("twisted");
        assert!(doubt.contains("L4/L5"), "{doubt}");
        assert_eq!(twisted_endplates(&low[..19]), None);
    }

    #[test]
    fn one_normal_disc_among_narrowed_ones_is_plausible() {
        // Discs narrowed to 4 px but L2/L3 at 12: three times the median,
        // as in degenerated spines, not a body read as a disc.
        let mut p = spine([40.0; 4], 4.0);
        for k in (8..16).chain([index::L5_SUP_POST, index::L5_SUP_ANT]) {
            p[k].y += 8.0;
        }
        let irregular = irregularity(&p);
        assert!(irregular > 0.8 && irregular < 1.0, "{irregular}");
    }

    #[test]
    fn two_bodies_read_as_one_are_implausible() {
        // The second "body" spans L1, its disc and L2.
        assert!(irregularity(&spine([40.0, 88.0, 40.0, 40.0], 8.0)) > 1.0);
        // A whole body read as a disc: L2-L5 one level lower.
        let mut p = spine([40.0; 4], 8.0);
        for k in (4..16).chain([index::L5_SUP_POST, index::L5_SUP_ANT]) {
            p[k].y += 48.0;
        }
        assert!(irregularity(&p) > 1.0);
    }

    #[test]
    fn a_body_with_corners_from_two_levels_is_sheared() {
        let p = spine([40.0; 4], 8.0);
        let (_, square) = most_sheared_body(&p).unwrap();
        assert!(square < 1e-9, "{square}");
        assert_eq!(sheared(&p), None);
        // A grade-3 wedge: L2's anterior wall 60% short leans its inferior
        // endplate about 31 degrees: still a body.
        let mut wedge = p.clone();
        wedge[index::inf_ant(1)].y -= 24.0;
        assert_eq!(sheared(&wedge), None);
        // L3's anterior corners on L4's: both endplates lean alike (no
        // twist), the body is a parallelogram across two levels.
        let mut shear = p.clone();
        shear[index::sup_ant(2)].y += 48.0;
        shear[index::inf_ant(2)].y += 48.0;
        assert_eq!(twisted_endplates(&shear), None);
        let why = sheared(&shear).expect("sheared");
        assert!(why.starts_with("L3's corners are 50 degrees"), "{why}");
        assert_eq!(sheared(&p[..15]), None);
        // Every body and disc leaning alike (each anterior corner 30 px
        // below its posterior one: 37 degrees): heights, gaps and the
        // endplates' agreement all regular, the bodies still not bodies.
        let mut lean = p.clone();
        for v in 0..4 {
            lean[index::sup_ant(v)].y += 30.0;
            lean[index::inf_ant(v)].y += 30.0;
        }
        lean[index::T12_INF_ANT].y += 30.0;
        lean[index::L5_SUP_ANT].y += 30.0;
        assert!(irregularity(&lean) < 0.1);
        assert_eq!(twisted_endplates(&lean), None);
        assert!(sheared(&lean).expect("sheared").contains("37 degrees"));
    }
}
