//! Ground-truth scores from the generating geometry: the geometric Kauppila
//! AAC24, a second reading of the masks, and a simulated radiologist's score.

use crate::anatomy::{disc_levels, Anatomy, Deposit, Wall};
use rand::Rng;
use rand_distr::{Distribution, LogNormal, Normal};
use serde::{Deserialize, Serialize};

/// AAC24 with its 8 sub-scores (L1 ant, L1 post, ..., L4 post).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Aac24 {
    /// Sum of the sub-scores (0..24).
    pub total: u32,
    /// Sub-scores in contract order: l1_ant, l1_post, ..., l4_ant, l4_post.
    pub sub: [u32; 8],
}

/// Kauppila sub-score from a calcified fraction of the segment: 0 none, else
/// ceil(3 x fraction) capped at 3.
pub fn subscore(fraction: f64) -> u32 {
    if fraction <= 0.0 {
        0
    } else {
        ((3.0 * fraction - 1e-9).ceil() as u32).clamp(1, 3)
    }
}

/// Length of the union of intervals clipped to [lo, hi].
pub fn union_length(intervals: &[(f64, f64)], lo: f64, hi: f64) -> f64 {
    let mut v: Vec<(f64, f64)> = intervals
        .iter()
        .map(|&(a, b)| (a.max(lo), b.min(hi)))
        .filter(|(a, b)| b > a)
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut total = 0.0;
    let mut cur: Option<(f64, f64)> = None;
    for (a, b) in v {
        match cur {
            Some((ca, cb)) if a <= cb => cur = Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                cur = Some((a, b));
            }
            None => cur = Some((a, b)),
        }
    }
    if let Some((a, b)) = cur {
        total += b - a;
    }
    total
}

/// Geometric AAC24 of a set of deposits: each wall segment between the disc
/// mid-levels above and below the vertebra; the calcified length is the union of
/// the deposits' row extents (rows ceil(y0)..floor(y1), as the masks draw them).
pub fn geometric_aac24(a: &Anatomy, deposits: &[Deposit]) -> Aac24 {
    let levels = disc_levels(&a.vertebrae);
    let mut sub = [0u32; 8];
    for v in 0..4 {
        for (w, wall) in [Wall::Anterior, Wall::Posterior].into_iter().enumerate() {
            let intervals: Vec<(f64, f64)> = deposits
                .iter()
                .filter(|d| d.wall == wall)
                .map(|d| (d.y0.ceil() - 0.5, d.y1.floor() + 0.5))
                .filter(|(a, b)| b > a)
                .collect();
            let seg = levels[v + 1] - levels[v];
            let len = union_length(&intervals, levels[v], levels[v + 1]);
            sub[2 * v + w] = subscore(len / seg);
        }
    }
    Aac24 {
        total: sub.iter().sum(),
        sub,
    }
}

/// A second reading of the same image by the same annotator: deposit ends and
/// thickness jitter, and faint deposits are now and then missed.
pub fn second_reading<R: Rng>(rng: &mut R, deposits: &[Deposit]) -> Vec<Deposit> {
    let n = Normal::new(0.0, 1.0).expect("valid normal");
    let mut out = Vec::new();
    for d in deposits {
        let p_miss = if d.contrast < 0.07 { 0.3 } else { 0.02 };
        if rng.random::<f64>() < p_miss {
            continue;
        }
        let mut e = d.clone();
        e.y0 += n.sample(rng);
        e.y1 += n.sample(rng);
        e.thickness = (d.thickness * rng.random_range(0.85..1.2)).max(1.0);
        e.inset += 0.25 * n.sample(rng);
        out.push(e);
    }
    out
}

/// A simulated radiologist's visual AAC24: faint deposits are sometimes missed,
/// lengths are judged by eye (log-normal error), and sub-scores are now and then
/// off by one.
pub fn visual_score<R: Rng>(rng: &mut R, a: &Anatomy, deposits: &[Deposit]) -> u32 {
    let judged = LogNormal::new(0.0, 0.25).expect("valid lognormal");
    let mut seen = Vec::new();
    for d in deposits {
        if d.contrast < 0.07 && rng.random::<f64>() < 0.4 {
            continue;
        }
        let mut e = d.clone();
        let mid = 0.5 * (d.y0 + d.y1);
        let half = 0.5 * (d.y1 - d.y0) * judged.sample(rng);
        e.y0 = mid - half;
        e.y1 = mid + half;
        seen.push(e);
    }
    let mut s = geometric_aac24(a, &seen);
    for v in s.sub.iter_mut() {
        let r: f64 = rng.random();
        if r < 0.05 && *v < 3 {
            *v += 1;
        } else if r < 0.10 && *v > 0 {
            *v -= 1;
        }
    }
    s.sub.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscore_thresholds() {
        assert_eq!(subscore(0.0), 0);
        assert_eq!(subscore(0.01), 1);
        assert_eq!(subscore(1.0 / 3.0), 1);
        assert_eq!(subscore(0.34), 2);
        assert_eq!(subscore(2.0 / 3.0), 2);
        assert_eq!(subscore(0.67), 3);
        assert_eq!(subscore(1.5), 3);
    }

    #[test]
    fn union_merges_overlaps() {
        assert_eq!(
            union_length(&[(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)], 0.0, 10.0),
            4.0
        );
        assert_eq!(union_length(&[(0.0, 20.0)], 5.0, 10.0), 5.0);
        assert_eq!(union_length(&[], 0.0, 1.0), 0.0);
    }
}
