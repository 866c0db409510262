//! Similarity transforms and Procrustes alignment of 2-D point sets.

use aac_io::Point;
use serde::{Deserialize, Serialize};

/// A 2-D similarity transform: p' = s R(theta) p + t, as (a, b, tx, ty) with
/// a = s cos(theta), b = s sin(theta).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Similarity {
    /// s cos(theta).
    pub a: f64,
    /// s sin(theta).
    pub b: f64,
    /// Translation x.
    pub tx: f64,
    /// Translation y.
    pub ty: f64,
}

impl Similarity {
    /// The identity.
    pub const IDENTITY: Similarity = Similarity {
        a: 1.0,
        b: 0.0,
        tx: 0.0,
        ty: 0.0,
    };

    /// Applies the transform to a point.
    pub fn apply(&self, p: Point) -> Point {
        Point::new(
            self.a * p.x - self.b * p.y + self.tx,
            self.b * p.x + self.a * p.y + self.ty,
        )
    }

    /// The scale factor s.
    pub fn scale(&self) -> f64 {
        (self.a * self.a + self.b * self.b).sqrt()
    }

    /// The inverse transform.
    pub fn inverse(&self) -> Similarity {
        let d = self.a * self.a + self.b * self.b;
        let (a, b) = (self.a / d, -self.b / d);
        Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        }
    }
}

/// Centroid of points.
pub fn centroid(points: &[Point]) -> Point {
    let n = points.len().max(1) as f64;
    Point::new(
        points.iter().map(|p| p.x).sum::<f64>() / n,
        points.iter().map(|p| p.y).sum::<f64>() / n,
    )
}

/// The least-squares similarity mapping `from` onto `to` (same length).
pub fn fit_similarity(from: &[Point], to: &[Point]) -> Similarity {
    let cf = centroid(from);
    let ct = centroid(to);
    let (mut sxx, mut sxy, mut norm) = (0.0, 0.0, 0.0);
    for (f, t) in from.iter().zip(to) {
        let (fx, fy) = (f.x - cf.x, f.y - cf.y);
        let (tx, ty) = (t.x - ct.x, t.y - ct.y);
        sxx += fx * tx + fy * ty;
        sxy += fx * ty - fy * tx;
        norm += fx * fx + fy * fy;
    }
    if norm <= 0.0 {
        return Similarity {
            a: 1.0,
            b: 0.0,
            tx: ct.x - cf.x,
            ty: ct.y - cf.y,
        };
    }
    let (a, b) = (sxx / norm, sxy / norm);
    Similarity {
        a,
        b,
        tx: ct.x - (a * cf.x - b * cf.y),
        ty: ct.y - (b * cf.x + a * cf.y),
    }
}

/// Root of the summed squared distance of points from their centroid.
pub fn size(points: &[Point]) -> f64 {
    let c = centroid(points);
    points
        .iter()
        .map(|p| (p.x - c.x).powi(2) + (p.y - c.y).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_similarity() {
        let from = [
            Point::new(0.0, 0.0),
            Point::new(3.0, 1.0),
            Point::new(1.0, 4.0),
            Point::new(-2.0, 2.0),
        ];
        let t = Similarity {
            a: 1.5 * 0.3f64.cos(),
            b: 1.5 * 0.3f64.sin(),
            tx: 10.0,
            ty: -4.0,
        };
        let to: Vec<Point> = from.iter().map(|&p| t.apply(p)).collect();
        let f = fit_similarity(&from, &to);
        assert!((f.a - t.a).abs() < 1e-12 && (f.b - t.b).abs() < 1e-12);
        assert!((f.tx - t.tx).abs() < 1e-9 && (f.ty - t.ty).abs() < 1e-9);
        let back = f.inverse().apply(to[2]);
        assert!(back.dist(&from[2]) < 1e-9);
        assert!((f.scale() - 1.5).abs() < 1e-12);
    }
}
