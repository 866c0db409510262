//! A second opinion on the levels: the same finder trained again from
//! another seed. Two networks trained alike agree on the scans that look
//! like their training and part ways where a scan's look is new to them,
//! which is where a level is named wrongly with a confident face. On 200
//! scans of another generator (docs/landmarks.md) 6 of the 7 wrong
//! namings that no check flagged were named differently by a second
//! finder, which named all but a few of the right ones as the first did;
//! and where the two part ways, the naming that passes more of the checks
//! is the right one about four times in five.

use crate::{Found, LandmarkError};
use aac_io::pts::index;
use aac_io::Point;

/// The centre of lumbar body `v` (0 = L1 .. 3 = L4).
fn body_centre(points: &[Point], v: usize) -> Point {
    let c = index::corners(v).map(|i| points[i]);
    Point::new(
        c.iter().map(|p| p.x).sum::<f64>() / 4.0,
        c.iter().map(|p| p.y).sum::<f64>() / 4.0,
    )
}

/// By how many levels `other` names the bodies lower than `points` (+1:
/// its L1 is `points`' L2, every level one too high in `points`' eyes;
/// -1: its L1 is `points`' T12), when its four bodies lie within half a
/// level of `points`' bodies so shifted; None when they do not line up at
/// any shift of up to two levels (another spine, or a body found twice).
pub fn level_offset(points: &[Point], other: &[Point]) -> Option<i32> {
    let mine: Vec<Point> = (0..4).map(|v| body_centre(points, v)).collect();
    let theirs: Vec<Point> = (0..4).map(|v| body_centre(other, v)).collect();
    let step = (0..3).map(|v| mine[v].dist(&mine[v + 1])).sum::<f64>() / 3.0;
    [0, 1, -1, 2, -2].into_iter().find(|&k| {
        let pairs: Vec<(Point, Point)> = (0..4i32)
            .filter(|v| (0..4).contains(&(v + k)))
            .map(|v| (theirs[v as usize], mine[(v + k) as usize]))
            .collect();
        pairs.iter().all(|(a, b)| a.dist(b) < step / 2.0)
    })
}

/// What `who`'s naming (`other`) says of the kept points' (`kept`), in
/// words; None when they agree.
fn disagreement(kept: &Found, other: &Found, who: &str) -> Option<String> {
    match level_offset(&kept.points, &other.points) {
        Some(0) => None,
        Some(k) => {
            let (n, way) = (k.unsigned_abs(), if k > 0 { "lower" } else { "higher" });
            let levels = if n == 1 { "level" } else { "levels" };
            Some(format!(
                "{who} names the levels {n} {levels} {way} (its L1 is this scan's {})",
                level_name(k)
            ))
        }
        None => Some(format!("{who} places the bodies elsewhere")),
    }
}

/// The name of the body `k` levels below L1 (T11, T12, L1, L2, L3).
fn level_name(k: i32) -> &'static str {
    match k {
        -2 => "T11",
        -1 => "T12",
        0 => "L1",
        1 => "L2",
        _ => "L3",
    }
}

/// The first finder's result on a scan, given the other finders' results
/// on it.
///
/// Where the finders found points, the naming with the fewest doubts is
/// kept (the first's on a tie): where two finders part ways, the one
/// whose points pass more of the checks (confidence, the two stages
/// agreeing, the disc below L5, regular bodies, the cues in view) was
/// right on 52 of 67 such scans of another generator, the first finder
/// on 14 (docs/landmarks.md). Each finder that names the levels
/// differently from the kept points adds a doubt that says how, and
/// points not the first finder's say so. Where no finder found usable
/// points, the first's error stands ([`LandmarkError::NoSpine`] and
/// [`LandmarkError::NotVertebrae`] give way to another finder's points;
/// other errors, such as a blank image, always stand).
pub fn second_opinion(
    first: Result<Found, LandmarkError>,
    others: Vec<Result<Found, LandmarkError>>,
) -> Result<Found, LandmarkError> {
    if let Err(e) = &first {
        if !matches!(
            e,
            LandmarkError::NoSpine(_) | LandmarkError::NotVertebrae(_)
        ) {
            return first;
        }
    }
    // (which finder, its points): 0 is the first.
    let mut found: Vec<(usize, Found)> = others
        .into_iter()
        .enumerate()
        .filter_map(|(i, r)| r.ok().map(|f| (i + 1, f)))
        .collect();
    let first_failed = match first {
        Ok(f) => {
            found.insert(0, (0, f));
            None
        }
        Err(e) if found.is_empty() => return Err(e),
        Err(e) => Some(e.to_string()),
    };
    // Where the first finder found points, only a naming that differs from
    // its own can replace them: finders that agree add nothing.
    let best = (0..found.len())
        .filter(|&j| {
            first_failed.is_some()
                || j == 0
                || level_offset(&found[0].1.points, &found[j].1.points) != Some(0)
        })
        .min_by_key(|&j| (found[j].1.doubts.len(), found[j].0))
        .expect("at least one finder found points");
    let (kept_by, mut kept) = found.remove(best);
    let mut said: Vec<String> = Vec::new();
    if kept_by != 0 && first_failed.is_none() {
        let first_doubts = found[0].1.doubts.len();
        said.push(format!(
            "the points are a second finder's, whose naming has fewer doubts ({} against {first_doubts})",
            kept.doubts.len()
        ));
    }
    for (i, other) in &found {
        let who = if *i == 0 {
            "the first finder"
        } else {
            "a second finder"
        };
        said.extend(disagreement(&kept, other, who));
    }
    kept.doubts.extend(said);
    if let Some(why) = first_failed {
        kept.doubts.insert(
            0,
            format!("found by a second finder only (the first: {why})"),
        );
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four upright bodies 40 tall with 12-pixel discs, the first at `top`.
    fn spine(top: f64) -> Vec<Point> {
        let mut p = vec![Point::new(0.0, 0.0); 20];
        for v in 0..4 {
            let y = top + 52.0 * v as f64;
            p[index::sup_post(v)] = Point::new(100.0, y);
            p[index::sup_ant(v)] = Point::new(150.0, y);
            p[index::inf_ant(v)] = Point::new(150.0, y + 40.0);
            p[index::inf_post(v)] = Point::new(100.0, y + 40.0);
        }
        p[index::T12_INF_POST] = Point::new(100.0, top - 12.0);
        p[index::T12_INF_ANT] = Point::new(150.0, top - 12.0);
        p[index::L5_SUP_POST] = Point::new(100.0, top + 208.0);
        p[index::L5_SUP_ANT] = Point::new(150.0, top + 208.0);
        p
    }

    fn found(points: Vec<Point>) -> Found {
        Found {
            points,
            coarse: Vec::new(),
            confidence: 0.5,
            doubts: Vec::new(),
            cue: String::new(),
            sacrum_top: None,
        }
    }

    #[test]
    fn offsets_are_counted_in_levels_either_way() {
        let a = spine(100.0);
        assert_eq!(level_offset(&a, &spine(104.0)), Some(0));
        assert_eq!(level_offset(&a, &spine(152.0)), Some(1));
        assert_eq!(level_offset(&a, &spine(48.0)), Some(-1));
        assert_eq!(level_offset(&a, &spine(204.0)), Some(2));
        // Half a level off fits no shift.
        assert_eq!(level_offset(&a, &spine(126.0)), None);
    }

    #[test]
    fn agreement_adds_nothing_and_disagreement_is_a_doubt() {
        let same = second_opinion(Ok(found(spine(100.0))), vec![Ok(found(spine(103.0)))]);
        assert!(!same.unwrap().uncertain());
        let lower = second_opinion(Ok(found(spine(100.0))), vec![Ok(found(spine(152.0)))]).unwrap();
        assert_eq!(
            lower.points,
            spine(100.0),
            "the first finder's points stand"
        );
        assert_eq!(lower.doubts.len(), 1);
        assert!(
            lower.doubts[0].contains("1 level lower")
                && lower.doubts[0].contains("is this scan's L2"),
            "{:?}",
            lower.doubts
        );
        let higher = second_opinion(Ok(found(spine(100.0))), vec![Ok(found(spine(48.0)))]).unwrap();
        assert!(higher.doubts[0].contains("higher") && higher.doubts[0].contains("T12"));
        // A second finder that failed says nothing.
        let failed = second_opinion(
            Ok(found(spine(100.0))),
            vec![Err(LandmarkError::NoSpine(0.01))],
        );
        assert!(!failed.unwrap().uncertain());
    }

    #[test]
    fn the_naming_with_fewer_doubts_is_kept_and_says_whose_it_is() {
        let mut doubtful = found(spine(100.0));
        doubtful.doubts = vec!["confidence 0.10 below 0.30".into(), "x".into()];
        let mut sure = found(spine(152.0));
        sure.doubts = vec!["y".into()];
        let kept = second_opinion(Ok(doubtful.clone()), vec![Ok(sure.clone())]).unwrap();
        assert_eq!(kept.points, spine(152.0), "the second finder's points");
        assert_eq!(kept.doubts[0], "y");
        assert!(
            kept.doubts[1].contains("a second finder's")
                && kept.doubts[1].contains("(1 against 2)"),
            "{:?}",
            kept.doubts
        );
        assert!(
            kept.doubts[2].starts_with("the first finder names the levels 1 level higher")
                && kept.doubts[2].contains("this scan's T12"),
            "{:?}",
            kept.doubts
        );
        // A second finder that names the levels alike never replaces the
        // first's points, however few its doubts.
        let kept = second_opinion(Ok(doubtful.clone()), vec![Ok(found(spine(103.0)))]).unwrap();
        assert_eq!(kept.points, spine(100.0));
        assert_eq!(kept.doubts, doubtful.doubts);
        // On a tie the first finder's points stand.
        sure.doubts.push("z".into());
        let kept = second_opinion(Ok(doubtful), vec![Ok(sure)]).unwrap();
        assert_eq!(kept.points, spine(100.0));
        assert!(kept
            .doubts
            .last()
            .unwrap()
            .starts_with("a second finder names"));
    }

    #[test]
    fn a_failed_scan_keeps_a_second_finders_points_in_doubt() {
        let e = LandmarkError::NotVertebrae("L2's corners are 50 degrees from square".into());
        let kept = second_opinion(Err(e), vec![Ok(found(spine(100.0)))]).unwrap();
        assert_eq!(kept.points, spine(100.0));
        assert!(
            kept.doubts[0].starts_with("found by a second finder only"),
            "{:?}",
            kept.doubts
        );
        assert!(kept.doubts[0].contains("50 degrees"));
        // Nothing to keep: the first error stands; errors that are not
        // about the points are never replaced.
        let e = LandmarkError::NoSpine(0.01);
        let none = second_opinion(Err(e), vec![Err(LandmarkError::NoSpine(0.02))]);
        assert!(matches!(none, Err(LandmarkError::NoSpine(m)) if m == 0.01));
        let blank = second_opinion(Err(LandmarkError::Blank(0.0)), vec![Ok(found(spine(1.0)))]);
        assert!(matches!(blank, Err(LandmarkError::Blank(_))));
    }
}
