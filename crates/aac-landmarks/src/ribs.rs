//! The last rib as a check on the level naming. Readers name L1-L4 by
//! counting up from the sacrum and check the count against the last
//! rib-bearing vertebra, T12. The coarse network of a finder trained with
//! [`crate::FinderTraining::last_rib`] has a fourth output: where the lowest
//! rib meets the spine. Where that lies against the found T12 says whether
//! the two counts agree; when they do not, the anatomy is transitional (11
//! or 13 rib pairs, a lumbarised S1, a sacralised L5) or the found levels
//! are one off, and a reader must look.

use crate::frame::anchors;
use crate::heatmap::Peak;
use crate::regularity::level_step;
use aac_io::pts::index;
use aac_io::Point;

/// What a training scan says of its lowest rib.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum RibTruth {
    /// Not annotated: the rib output is not trained on this scan.
    #[default]
    Unknown,
    /// No rib in view: the rib output is trained towards a flat map.
    Absent,
    /// Where the lowest rib meets the spine (image pixels).
    Head(Point),
}

/// Below this probability mass the rib output has seen no rib (a flat map
/// puts about 0.002 within 3 pixels of any point; a found landmark about
/// 0.3-0.9).
pub const MIN_RIB_MASS: f32 = 0.15;

/// Above this rival ratio two places compete for the rib head (two ribs
/// each of which could be the lowest), and the rib is not used.
pub const MAX_RIB_RIVAL: f32 = 0.6;

/// Boundaries of the vertebrae a rib head can leave, in levels below the
/// posterior corner of the found T12 inferior endplate (negative: above):
/// a head at T12's middle lies about 0.4 levels above that corner, at
/// T11's about 1.35, at L1's 0.55 below (measured on the generator's
/// attached ribs: T12 -0.30 to -0.47, T11 -1.14 to -1.59, L1 0.52 to 0.59),
/// so each boundary lies midway.
const T11_ABOVE: f64 = -0.85;
/// See [`T11_ABOVE`].
const L1_BELOW: f64 = 0.05;
/// Beyond these the head is at no level a last rib leaves from (T10 or
/// above, L2 or below): the rib output misread the scan.
const READABLE: (f64, f64) = (-1.85, 1.0);

/// Where a rib head lies along the spine, in levels below the posterior
/// corner of the T12 inferior endplate of the 20 `points` (projected on
/// the spine's T12-L5 axis).
pub fn rib_level(points: &[Point], head: Point) -> f64 {
    let [top, bottom, _] = anchors(points);
    let span = top.dist(&bottom).max(1e-9);
    let axis = Point::new((bottom.x - top.x) / span, (bottom.y - top.y) / span);
    let corner = points[index::T12_INF_POST];
    let along = (head.x - corner.x) * axis.x + (head.y - corner.y) * axis.y;
    along / level_step(points).max(1e-9)
}

/// What the rib says of the found levels.
#[derive(Debug, Clone, PartialEq)]
pub struct RibCue {
    /// In words, for the `message` column (empty when the finder has no
    /// rib output).
    pub words: String,
    /// Why the naming is in doubt, if the rib disagrees with it.
    pub doubt: Option<String>,
    /// Where the lowest rib meets the spine (image pixels), when seen.
    pub head: Option<Point>,
}

/// The rib cue for found `points` from the rib output's peak (`None` when
/// the finder has no rib output), with `to_image` mapping the peak's
/// input pixels to image pixels.
pub fn rib_cue(points: &[Point], peak: Option<&Peak>, to_image: impl Fn(Point) -> Point) -> RibCue {
    let Some(peak) = peak else {
        return RibCue {
            words: String::new(),
            doubt: None,
            head: None,
        };
    };
    if peak.mass < MIN_RIB_MASS || peak.rival > MAX_RIB_RIVAL {
        return RibCue {
            words: "no last rib seen".into(),
            doubt: None,
            head: None,
        };
    }
    let head = to_image(peak.at);
    let level = rib_level(points, head);
    let (words, doubt) = if !(READABLE.0..READABLE.1).contains(&level) {
        (
            format!("the lowest rib seen lies {level:+.1} levels from T12's lower endplate, where no last rib lies: not used"),
            None,
        )
    } else if level < T11_ABOVE {
        (
            "the last rib lies on the vertebra named T11".to_string(),
            Some(
                "the last rib lies on the vertebra named T11, not T12: transitional anatomy (11 rib pairs, a lumbarised S1 or a sacralised L5) or L1-L4 named one level low".to_string(),
            ),
        )
    } else if level >= L1_BELOW {
        (
            "a rib leaves the vertebra named L1".to_string(),
            Some(
                "a rib leaves the vertebra named L1: 13 rib pairs (transitional anatomy) or L1-L4 named one level high".to_string(),
            ),
        )
    } else {
        ("the last rib on T12 agrees".to_string(), None)
    };
    RibCue {
        words,
        doubt,
        head: Some(head),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four bodies 40 px tall with gaps of 10 along a vertical spine, the
    /// T12 inferior endplate at y = 100.
    fn spine() -> Vec<Point> {
        let mut p = vec![Point::new(0.0, 0.0); 20];
        p[index::T12_INF_POST] = Point::new(0.0, 100.0);
        p[index::T12_INF_ANT] = Point::new(40.0, 100.0);
        let mut y = 110.0;
        for v in 0..4 {
            p[index::sup_post(v)] = Point::new(0.0, y);
            p[index::sup_ant(v)] = Point::new(40.0, y);
            p[index::inf_post(v)] = Point::new(0.0, y + 40.0);
            p[index::inf_ant(v)] = Point::new(40.0, y + 40.0);
            y += 50.0;
        }
        p[index::L5_SUP_POST] = Point::new(0.0, y);
        p[index::L5_SUP_ANT] = Point::new(40.0, y);
        p
    }

    fn peak_at(y: f64, mass: f32, rival: f32) -> Peak {
        let at = Point::new(-10.0, y);
        Peak {
            at,
            mass,
            rival,
            rival_at: at,
        }
    }

    #[test]
    fn a_rib_head_is_read_against_the_found_t12() {
        let p = spine();
        // T12's middle: 25 px (half a level) above its lower endplate.
        assert!((rib_level(&p, Point::new(-10.0, 75.0)) + 0.5).abs() < 1e-9);
        let cue = |y: f64| rib_cue(&p, Some(&peak_at(y, 0.5, 0.1)), |q| q);
        let normal = cue(78.0);
        assert_eq!(normal.doubt, None);
        assert!(normal.words.contains("agrees"), "{}", normal.words);
        assert_eq!(normal.head, Some(Point::new(-10.0, 78.0)));
        // T11's middle, one level higher: the counts disagree.
        let high = cue(28.0).doubt.expect("T11 bears the last rib");
        assert!(
            high.contains("T11") && high.contains("one level low"),
            "{high}"
        );
        // L1's middle.
        let low = cue(130.0).doubt.expect("L1 bears a rib");
        assert!(low.contains("L1") && low.contains("13 rib pairs"), "{low}");
        // L2's middle: no last rib lies there, so the reading is not used.
        let far = cue(180.0);
        assert_eq!(far.doubt, None);
        assert!(far.words.contains("not used"), "{}", far.words);
    }

    #[test]
    fn a_faint_or_contested_rib_is_not_read_and_an_old_finder_says_nothing() {
        let p = spine();
        let faint = rib_cue(&p, Some(&peak_at(28.0, 0.05, 0.0)), |q| q);
        assert_eq!((faint.doubt, faint.head), (None, None));
        assert_eq!(faint.words, "no last rib seen");
        let contested = rib_cue(&p, Some(&peak_at(28.0, 0.5, 0.9)), |q| q);
        assert_eq!(contested.doubt, None);
        let none = rib_cue(&p, None, |q| q);
        assert_eq!(none.words, "");
    }
}
