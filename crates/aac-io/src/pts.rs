//! ISBE/Cootes `.pts` landmark files and the 30-point landmark contract.

use crate::atomic::write_string_atomic;
use crate::error::{IoError, Result};
use std::path::Path;

/// Number of points in a full spine + aorta annotation.
pub const N_POINTS: usize = 30;
/// Number of spine points (0..19).
pub const N_SPINE: usize = 20;
/// Number of aorta points (20..29).
pub const N_AORTA: usize = 10;

/// A 2-D point in pixel coordinates (x right, y down, origin at the centre of the
/// top-left pixel).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Point {
    /// Column coordinate.
    pub x: f64,
    /// Row coordinate.
    pub y: f64,
}

impl Point {
    /// A new point.
    pub const fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }
    /// Euclidean distance to another point.
    pub fn dist(&self, o: &Point) -> f64 {
        ((self.x - o.x).powi(2) + (self.y - o.y).powi(2)).sqrt()
    }
    /// Midpoint between two points.
    pub fn mid(&self, o: &Point) -> Point {
        Point::new(0.5 * (self.x + o.x), 0.5 * (self.y + o.y))
    }
}

/// Index helpers for the 30-point order of docs/data-format.md.
pub mod index {
    /// Superior-posterior corner of lumbar vertebra `v` (0 = L1 .. 3 = L4).
    pub const fn sup_post(v: usize) -> usize {
        4 * v
    }
    /// Superior-anterior corner of lumbar vertebra `v`.
    pub const fn sup_ant(v: usize) -> usize {
        4 * v + 1
    }
    /// Inferior-anterior corner of lumbar vertebra `v`.
    pub const fn inf_ant(v: usize) -> usize {
        4 * v + 2
    }
    /// Inferior-posterior corner of lumbar vertebra `v`.
    pub const fn inf_post(v: usize) -> usize {
        4 * v + 3
    }
    /// The four corners of lumbar vertebra `v` in order around the body:
    /// superior-posterior, superior-anterior, inferior-anterior,
    /// inferior-posterior.
    pub const fn corners(v: usize) -> [usize; 4] {
        [sup_post(v), sup_ant(v), inf_ant(v), inf_post(v)]
    }
    /// T12 inferior endplate, posterior corner.
    pub const T12_INF_POST: usize = 16;
    /// T12 inferior endplate, anterior corner.
    pub const T12_INF_ANT: usize = 17;
    /// L5 superior endplate, posterior corner.
    pub const L5_SUP_POST: usize = 18;
    /// L5 superior endplate, anterior corner.
    pub const L5_SUP_ANT: usize = 19;
    /// Posterior aortic wall at disc level `k` (0 = T12/L1 .. 4 = L4/L5).
    pub const fn aorta_post(k: usize) -> usize {
        20 + 2 * k
    }
    /// Anterior aortic wall at disc level `k`.
    pub const fn aorta_ant(k: usize) -> usize {
        21 + 2 * k
    }
}

/// Parses the text of a `.pts` file. `origin` names the file in errors.
pub fn parse_pts(text: &str, origin: &Path) -> Result<Vec<Point>> {
    let err = |line: usize, msg: String| IoError::format(origin, format!("line {line}: {msg}"));
    let mut n_points: Option<usize> = None;
    let mut points = Vec::new();
    let mut in_block = false;
    let mut closed = false;
    // Editors on Windows often start UTF-8 files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        if closed {
            return Err(err(lineno, format!("unexpected text after '}}': {line:?}")));
        }
        if in_block {
            if line == "}" {
                in_block = false;
                closed = true;
                continue;
            }
            let nums: Vec<&str> = line.split_whitespace().collect();
            if nums.len() != 2 {
                return Err(err(lineno, format!("expected 'x y', found {line:?}")));
            }
            let parse = |s: &str| {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| err(lineno, format!("not a finite number: {s:?}")))
            };
            points.push(Point::new(parse(nums[0])?, parse(nums[1])?));
            continue;
        }
        if line == "{" {
            in_block = true;
            continue;
        }
        let (key, value) = line.split_once(':').ok_or_else(|| {
            err(
                lineno,
                format!("expected 'key: value' or '{{', found {line:?}"),
            )
        })?;
        let value = value.trim();
        match key.trim() {
            "version" => {}
            "n_points" => {
                n_points = Some(
                    value
                        .parse()
                        .map_err(|_| err(lineno, format!("n_points is not a count: {value:?}")))?,
                )
            }
            "image_size_x" | "image_size_y" => {
                value
                    .parse::<f64>()
                    .map_err(|_| err(lineno, format!("{key} is not a number: {value:?}")))?;
            }
            other => return Err(err(lineno, format!("unknown header key {other:?}"))),
        }
    }
    if in_block {
        return Err(IoError::format(origin, "missing closing '}'"));
    }
    if !closed {
        return Err(IoError::format(origin, "no '{' point block found"));
    }
    if let Some(n) = n_points {
        if n != points.len() {
            return Err(IoError::format(
                origin,
                format!("n_points says {n} but {} points are listed", points.len()),
            ));
        }
    } else {
        return Err(IoError::format(origin, "missing 'n_points:' header"));
    }
    Ok(points)
}

/// Reads a `.pts` file with any number of points.
pub fn read_pts(path: &Path) -> Result<Vec<Point>> {
    let text = crate::input::read_text_capped(path, crate::input::MAX_POINTS_BYTES)?;
    parse_pts(&text, path)
}

/// Reads a `.pts` file and checks it holds exactly `expected` points.
pub fn read_pts_n(path: &Path, expected: usize) -> Result<Vec<Point>> {
    let pts = read_pts(path)?;
    if pts.len() != expected {
        return Err(IoError::format(
            path,
            format!("expected {expected} points, found {}", pts.len()),
        ));
    }
    Ok(pts)
}

/// Reads landmarks for prediction: at least the 20 spine points (30 accepted;
/// aorta points beyond 20 are returned but may be ignored by the caller).
pub fn read_spine_pts(path: &Path) -> Result<Vec<Point>> {
    let pts = read_pts(path)?;
    if pts.len() != N_SPINE && pts.len() != N_POINTS {
        return Err(IoError::format(
            path,
            format!("expected 20 spine points or 30 points, found {}", pts.len()),
        ));
    }
    Ok(pts)
}

/// Formats points as `.pts` text.
pub fn format_pts(points: &[Point]) -> String {
    let mut s = format!("version: 1\nn_points: {}\n{{\n", points.len());
    for p in points {
        s.push_str(&format!("{:.3} {:.3}\n", p.x, p.y));
    }
    s.push_str("}\n");
    s
}

/// Writes a `.pts` file atomically.
pub fn write_pts(path: &Path, points: &[Point]) -> Result<()> {
    write_string_atomic(path, &format_pts(points))
}
