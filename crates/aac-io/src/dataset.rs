//! The dataset contract (docs/data-format.md): a directory with `images/`,
//! `landmarks/`, `masks/`, optional `masks2/` and `scores.csv`; and the checker
//! behind `aac check`.

use crate::error::{IoError, Result};
use crate::image_io::{read_image, IMAGE_EXTENSIONS};
use crate::mask::read_mask;
use crate::pts::{index, read_pts, Point, N_POINTS, N_SPINE};
use crate::scores::{read_scores, SUBSCORE_COLUMNS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A dataset on disk: its root and the image file of each id.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The dataset root directory.
    pub root: PathBuf,
    /// Image file per id, sorted by id.
    pub images: BTreeMap<String, PathBuf>,
}

impl Dataset {
    /// Opens a dataset by listing `ROOT/images`. Fails if the directory is
    /// missing, empty, or two files share an id.
    pub fn open(root: &Path) -> Result<Self> {
        let images = list_images(&root.join("images"))?;
        if images.is_empty() {
            return Err(IoError::format(
                root.join("images"),
                "no images (.png, .tif, .dcm) found",
            ));
        }
        Ok(Dataset {
            root: root.to_path_buf(),
            images,
        })
    }

    /// All ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.images.keys().cloned().collect()
    }

    /// Path of the image of `id`.
    pub fn image_path(&self, id: &str) -> PathBuf {
        self.images
            .get(id)
            .cloned()
            .unwrap_or_else(|| self.root.join("images").join(format!("{id}.png")))
    }

    /// Path of the landmarks of `id`.
    pub fn landmarks_path(&self, id: &str) -> PathBuf {
        self.root.join("landmarks").join(format!("{id}.pts"))
    }

    /// Path of the mask of `id` in mask directory `dir` (e.g. "masks", "masks2").
    pub fn mask_path(&self, id: &str, dir: &str) -> PathBuf {
        self.root.join(dir).join(format!("{id}.png"))
    }

    /// True if the dataset has a directory `dir` (e.g. "masks2").
    pub fn has_dir(&self, dir: &str) -> bool {
        self.root.join(dir).is_dir()
    }

    /// Path of `scores.csv`.
    pub fn scores_path(&self) -> PathBuf {
        self.root.join("scores.csv")
    }
}

/// Lists `<id>.<ext>` image files in a directory; fails on duplicate ids.
pub fn list_images(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| IoError::os(dir, e))?;
    let mut images = BTreeMap::new();
    for entry in entries {
        let path = entry.map_err(|e| IoError::os(dir, e))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        // DICOM exports often have no extension: recognised by their magic.
        let dicom_without_extension =
            ext.is_empty() && path.is_file() && crate::image_io::is_dicom(&path);
        if !IMAGE_EXTENSIONS.contains(&ext.as_str()) && !dicom_without_extension {
            if path.is_file() {
                tracing::warn!(
                    "{}: skipped: not an image extension ({})",
                    path.display(),
                    IMAGE_EXTENSIONS.join(", ")
                );
            }
            continue;
        }
        if !path.is_file() {
            tracing::warn!(
                "{}: skipped: not a readable file (a directory, or a dangling or looping link)",
                path.display()
            );
            continue;
        }
        let Some(id) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        if let Some(prev) = images.insert(id.clone(), path.clone()) {
            return Err(IoError::format(
                &path,
                format!("id {id:?} also used by {}", prev.display()),
            ));
        }
    }
    Ok(images)
}

/// True if the annotation faces right (anterior toward larger x), judged from
/// the lumbar vertebral corners.
pub fn faces_right(points: &[Point]) -> bool {
    let (mut ant, mut post) = (0.0, 0.0);
    for v in 0..4 {
        ant += points[index::sup_ant(v)].x + points[index::inf_ant(v)].x;
        post += points[index::sup_post(v)].x + points[index::inf_post(v)].x;
    }
    ant > post
}

/// Largest landmark coordinate accepted, in pixels: no scan is a million
/// pixels across, so a point beyond it is a damaged file.
pub const MAX_COORDINATE: f64 = 1e6;

/// Checks that landmarks are plausible: finite, not collapsed, vertebrae ordered
/// from head to feet. Returns a description of the first problem.
pub fn landmark_problem(points: &[Point], size: Option<(u32, u32)>) -> Option<String> {
    if points.len() < 20 {
        return Some(format!("{} points, at least 20 needed", points.len()));
    }
    if let Some((i, _)) = points
        .iter()
        .enumerate()
        .find(|(_, p)| !p.x.is_finite() || !p.y.is_finite())
    {
        return Some(format!("point {i} is not finite"));
    }
    // A point far away is the problem itself; checked before the geometry,
    // which such a point would upset and so get blamed.
    if let Some((i, p)) = points
        .iter()
        .enumerate()
        .find(|(_, p)| p.x.abs() > MAX_COORDINATE || p.y.abs() > MAX_COORDINATE)
    {
        return Some(format!(
            "point {i} ({:.3e}, {:.3e}) lies far outside any image",
            p.x, p.y
        ));
    }
    if let Some((w, h)) = size {
        let margin = 0.5 * w.max(h) as f64;
        if let Some((i, p)) = points.iter().enumerate().take(20).find(|(_, p)| {
            p.x < -margin || p.y < -margin || p.x > w as f64 + margin || p.y > h as f64 + margin
        }) {
            return Some(format!(
                "spine point {i} ({:.1}, {:.1}) lies far outside the {w}x{h} image",
                p.x, p.y
            ));
        }
    }
    for v in 0..4 {
        let h = points[index::sup_post(v)].dist(&points[index::inf_post(v)]);
        let w = points[index::sup_post(v)].dist(&points[index::sup_ant(v)]);
        if h < 2.0 || w < 2.0 {
            return Some(format!(
                "vertebra L{} is degenerate (corners coincide)",
                v + 1
            ));
        }
    }
    // Corner order: the quadrilateral 0-1-2-3 of every vertebra turns the
    // same way (its signed area has the sign of the facing direction), and
    // is not flat.
    let area = |v: usize| {
        let q = index::corners(v).map(|i| points[i]);
        (0..4)
            .map(|k| {
                let (a, b) = (q[k], q[(k + 1) % 4]);
                a.x * b.y - b.x * a.y
            })
            .sum::<f64>()
            / 2.0
    };
    let areas: Vec<f64> = (0..4).map(area).collect();
    if let Some(v) = (0..4).find(|&v| areas[v].abs() < 4.0) {
        return Some(format!(
            "vertebra L{} is degenerate (its corners are collinear)",
            v + 1
        ));
    }
    if let Some(v) = (1..4).find(|&v| areas[v].signum() != areas[0].signum()) {
        return Some(format!(
            "the corners of L{} run the other way round than those of L1 (anterior and posterior corners swapped?)",
            v + 1
        ));
    }
    // Facing: anterior corners lie toward +x when the area is positive.
    let facing = areas[0].signum();
    let mean_x = |idx: &mut dyn Iterator<Item = usize>| {
        let v: Vec<f64> = idx.map(|i| points[i].x).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let anterior_x = mean_x(&mut (0..4).flat_map(|v| [index::sup_ant(v), index::inf_ant(v)]));
    if points.len() >= N_POINTS {
        let aorta_x = mean_x(&mut (N_SPINE..N_POINTS));
        if facing * (aorta_x - anterior_x) <= 0.0 {
            return Some(
                "the aorta points lie behind the vertebral bodies' anterior corners (anterior and posterior corners swapped, or the points mirrored?)"
                    .into(),
            );
        }
    }
    let mid_y = |v: usize| index::corners(v).iter().map(|&i| points[i].y).sum::<f64>() / 4.0;
    for v in 0..3 {
        if mid_y(v + 1) <= mid_y(v) {
            return Some(format!(
                "L{} is not below L{} (y grows downward)",
                v + 2,
                v + 1
            ));
        }
    }
    None
}

/// One problem found by [`check_dataset`].
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The file (or directory) concerned.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

fn push_err(problems: &mut Vec<Problem>, e: IoError) {
    match e {
        IoError::Format { path, message } => problems.push(Problem { path, message }),
        IoError::Os { path, error } => problems.push(Problem {
            path,
            message: error.to_string(),
        }),
    }
}

/// Validates a dataset against the contract and returns every problem found
/// (empty when the dataset is valid).
pub fn check_dataset(root: &Path) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !root.is_dir() {
        problems.push(Problem {
            path: root.to_path_buf(),
            message: "dataset root is not a directory".into(),
        });
        return problems;
    }
    let ds = match Dataset::open(root) {
        Ok(ds) => ds,
        Err(e) => {
            push_err(&mut problems, e);
            return problems;
        }
    };
    let has_masks = ds.has_dir("masks");
    let has_masks2 = ds.has_dir("masks2");
    if !ds.has_dir("landmarks") {
        problems.push(Problem {
            path: root.join("landmarks"),
            message: "landmarks directory is missing".into(),
        });
    }
    for id in ds.ids() {
        let size = match read_image(&ds.image_path(&id)) {
            Ok(img) => Some(img.dimensions()),
            Err(e) => {
                push_err(&mut problems, e);
                None
            }
        };
        let lp = ds.landmarks_path(&id);
        if !lp.exists() {
            problems.push(Problem {
                path: lp.clone(),
                message: "landmark file missing".into(),
            });
        } else {
            match read_pts(&lp) {
                Ok(pts) if pts.len() != N_POINTS => problems.push(Problem {
                    path: lp.clone(),
                    message: format!("expected {N_POINTS} points, found {}", pts.len()),
                }),
                Ok(pts) => {
                    if let Some(msg) = landmark_problem(&pts, size) {
                        problems.push(Problem {
                            path: lp.clone(),
                            message: msg,
                        });
                    }
                }
                Err(e) => push_err(&mut problems, e),
            }
        }
        for (dir, present) in [("masks", has_masks), ("masks2", has_masks2)] {
            if !present {
                continue;
            }
            let mp = ds.mask_path(&id, dir);
            if let Err(e) = read_mask(&mp, size) {
                push_err(&mut problems, e);
            }
        }
    }
    for dir in ["masks", "masks2"] {
        if let Ok(masks) = std::fs::read_dir(root.join(dir)) {
            for m in masks.flatten() {
                let p = m.path();
                if let Some(stem) = p.file_stem().map(|s| s.to_string_lossy().into_owned()) {
                    if !stem.starts_with('.') && !ds.images.contains_key(&stem) {
                        problems.push(Problem {
                            path: p.clone(),
                            message: "mask has no matching image".into(),
                        });
                    }
                }
            }
        }
    }
    let sp = ds.scores_path();
    if sp.exists() {
        match read_scores(&sp, &["aac24"]) {
            Ok(table) => {
                for id in ds.images.keys() {
                    if !table.rows.contains_key(id) {
                        problems.push(Problem {
                            path: sp.clone(),
                            message: format!("image {id:?} has no row"),
                        });
                    }
                }
                for (id, values) in &table.rows {
                    if !ds.images.contains_key(id) {
                        problems.push(Problem {
                            path: sp.clone(),
                            message: format!("id {id:?} has no image"),
                        });
                    }
                    let col = |name: &str| {
                        table
                            .columns
                            .iter()
                            .position(|c| c == name)
                            .and_then(|i| values[i])
                    };
                    let subs: Option<Vec<f64>> = SUBSCORE_COLUMNS.iter().map(|c| col(c)).collect();
                    if let (Some(total), Some(subs)) = (col("aac24"), subs) {
                        let sum: f64 = subs.iter().sum();
                        if (total - sum).abs() > 1e-9 {
                            problems.push(Problem {
                                path: sp.clone(),
                                message: format!(
                                    "{id}: aac24 = {total} but its 8 sub-scores sum to {sum}"
                                ),
                            });
                        }
                    }
                    for (c, v) in table.columns.iter().zip(values) {
                        let limit = if c == "aac24" {
                            24.0
                        } else if SUBSCORE_COLUMNS.contains(&c.as_str()) {
                            3.0
                        } else {
                            continue;
                        };
                        match v {
                            Some(x) if x.fract() != 0.0 => problems.push(Problem {
                                path: sp.clone(),
                                message: format!("{id}: {c} = {x} is not an integer"),
                            }),
                            Some(x) if (0.0..=limit).contains(x) => {}
                            Some(x) => problems.push(Problem {
                                path: sp.clone(),
                                message: format!("{id}: {c} = {x} is outside 0..{limit}"),
                            }),
                            None if c == "aac24" => {}
                            None => problems.push(Problem {
                                path: sp.clone(),
                                message: format!("{id}: {c} is empty or not a number"),
                            }),
                        }
                    }
                }
            }
            Err(e) => push_err(&mut problems, e),
        }
    }
    problems
}
