//! A trained finder: its file format and inference.

use crate::frame::Frame;
use crate::heatmap::{peak, Peak};
use crate::{Grid, LandmarkError, N_POINTS};
use aac_io::Point;
use aac_unet::model_file;
use aac_unet::photometric::normalise;
use aac_unet::UNet;
use burn::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// First line of a finder's bytes.
pub const MAGIC: &[u8] = b"AAC-LANDMARKS\n";
/// The `format` field.
pub const FORMAT: &str = "aac-landmarks";
/// Format version.
pub const VERSION: u32 = 1;
/// The QC flag of a scan whose found points are in doubt.
pub const UNCERTAIN_FLAG: &str = "landmarks_uncertain";

/// Radius (coarse input pixels, about 2 mm each) beyond which a second
/// response counts as a rival: about half a vertebral body, so that the same
/// corner of the next level up or down is a rival.
const COARSE_RIVAL_RADIUS: f64 = 8.0;
/// The same in the fine frame, where a body is about 40 rows tall (pixels
/// of the full-resolution grid; scaled to the fine network's own).
const FINE_RIVAL_RADIUS: f64 = 20.0;
/// Below this median peak mass the image is taken to hold no spine (a flat
/// map puts about 0.0015 within 3 pixels of any point).
const NO_SPINE_MASS: f32 = 0.05;
/// Coarse and fine estimates of a point further apart than this (pixels of
/// the full-resolution fine grid, about 0.85 mm each) mean the two stages
/// disagree.
const STAGE_DISAGREEMENT: f64 = 12.0;

/// Everything about a finder except its weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FinderHeader {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// Target Gaussian SD of the coarse network (input pixels).
    pub coarse_sigma: f64,
    /// Target Gaussian SD of the fine network (input pixels).
    pub fine_sigma: f64,
    /// Scans with a confidence below this are flagged [`UNCERTAIN_FLAG`].
    pub uncertain_below: f64,
    /// Validation point error (median, 95th percentile) relative to the
    /// T12-L5 span, when measured.
    pub val_error: Option<[f64; 2]>,
    /// Byte length of the coarse network's model bytes (the fine one's
    /// follow them).
    pub coarse_bytes: usize,
    /// The fine network's input grid (the spine's window is the same at
    /// any grid; finders written before it could be chosen used the full
    /// 128 x 256 one).
    #[serde(default = "Grid::full")]
    pub fine_grid: Grid,
}

/// A loaded finder.
pub struct Finder {
    /// Header.
    pub header: FinderHeader,
    coarse: UNet,
    fine: UNet,
    device: Device,
}

/// Points found in one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The 20 spine points (image pixels), in the contract's order.
    pub points: Vec<Point>,
    /// The coarse stage's anchors ([`crate::frame::anchors`]).
    pub coarse: Vec<Point>,
    /// 0..1: the fine peaks' mean probability mass times one minus the
    /// strongest rival of any coarse or fine peak.
    pub confidence: f64,
    /// Why the points are in doubt (empty when they are not).
    pub doubts: Vec<String>,
}

impl Found {
    /// True when the scan should be reviewed.
    pub fn uncertain(&self) -> bool {
        !self.doubts.is_empty()
    }
}

impl Finder {
    /// A finder from its two networks (as model-file bytes) and header.
    pub fn new(header: FinderHeader, coarse: &[u8], fine: &[u8]) -> Result<Finder, LandmarkError> {
        let device = aac_unet::device();
        let origin = Path::new("<landmark finder>");
        let load = |b: &[u8]| {
            model_file::from_bytes(b, &device, origin)
                .map(|(net, _)| net)
                .map_err(|e| LandmarkError::Model(e.to_string()))
        };
        Ok(Finder {
            coarse: load(coarse)?,
            fine: load(fine)?,
            header,
            device,
        })
    }

    /// Serialises the finder: magic line, header line, coarse then fine
    /// model bytes.
    pub fn to_bytes(header: &FinderHeader, coarse: &[u8], fine: &[u8]) -> Vec<u8> {
        let mut h = header.clone();
        h.coarse_bytes = coarse.len();
        let mut out = MAGIC.to_vec();
        out.extend(serde_json::to_vec(&h).expect("a finder header serialises"));
        out.push(b'\n');
        out.extend_from_slice(coarse);
        out.extend_from_slice(fine);
        out
    }

    /// Parses bytes written by [`Finder::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Finder, LandmarkError> {
        let bad = |m: &str| LandmarkError::Model(m.to_string());
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("not a landmark finder"))?;
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("truncated header"))?;
        let header: FinderHeader = serde_json::from_slice(&rest[..nl])
            .map_err(|e| LandmarkError::Model(format!("corrupt header: {e}")))?;
        if header.format != FORMAT || header.version != VERSION {
            return Err(LandmarkError::Model(format!(
                "format {} version {} is not supported (expected {FORMAT} {VERSION})",
                header.format, header.version
            )));
        }
        if ![Grid::FULL, Grid::HALF].contains(&header.fine_grid) {
            return Err(LandmarkError::Model(format!(
                "a fine grid of {}x{} pixels is not supported (128x256 or 64x128)",
                header.fine_grid.width, header.fine_grid.height
            )));
        }
        let nets = &rest[nl + 1..];
        if header.coarse_bytes > nets.len() {
            return Err(bad("truncated networks"));
        }
        let (coarse, fine) = nets.split_at(header.coarse_bytes);
        Finder::new(header, coarse, fine)
    }

    /// Finds the 20 spine points in each image (raw intensities, row-major,
    /// with width and height), running each network once per batch of 4.
    pub fn find(&self, images: &[(&[f32], usize, usize)]) -> Vec<Result<Found, LandmarkError>> {
        let coarse_frames: Vec<Option<Frame>> = images
            .iter()
            .map(|&(_, w, h)| (w >= 16 && h >= 16).then(|| Frame::whole_image(w, h)))
            .collect();
        let coarse_inputs: Vec<Vec<f32>> = images
            .par_iter()
            .zip(&coarse_frames)
            .filter_map(|(&(img, w, h), f)| f.map(|f| normalise(&f.sample(img, w, h))))
            .collect();
        let mut coarse_peaks = self
            .peaks(
                &self.coarse,
                3,
                &coarse_inputs,
                COARSE_RIVAL_RADIUS,
                Grid::FULL,
            )
            .into_iter();
        let mut staged: Vec<Result<Coarse, LandmarkError>> = Vec::new();
        for (&(_, w, h), f) in images.iter().zip(&coarse_frames) {
            // Only images with a frame were run through the network.
            let peaks = f.and_then(|_| coarse_peaks.next());
            staged.push(match (f, peaks) {
                (Some(f), Some(p)) => Coarse::new(f, p, self.header.fine_grid),
                _ => Err(LandmarkError::TooSmall(w, h)),
            });
        }
        let fine_inputs: Vec<Vec<f32>> = staged
            .par_iter()
            .zip(images)
            .filter_map(|(s, &(img, w, h))| {
                s.as_ref()
                    .ok()
                    .map(|c| normalise(&c.fine.sample(img, w, h)))
            })
            .collect();
        let grid = self.header.fine_grid;
        let mut fine_peaks = self
            .peaks(
                &self.fine,
                N_POINTS,
                &fine_inputs,
                FINE_RIVAL_RADIUS * grid.factor(),
                grid,
            )
            .into_iter();
        staged
            .drain(..)
            .map(|s| {
                let c = s?;
                let fp = fine_peaks
                    .next()
                    .ok_or_else(|| LandmarkError::Model("no fine output".into()))?;
                Ok(self.assemble(&c.peaks, c.anchors, &c.fine, &fp))
            })
            .collect()
    }

    /// Points, confidence and doubts from both stages' peaks.
    fn assemble(&self, cp: &[Peak], coarse: Vec<Point>, fine: &Frame, fp: &[Peak]) -> Found {
        let points: Vec<Point> = fp.iter().map(|k| fine.to_image(k.at)).collect();
        let mean_mass = fp.iter().map(|k| k.mass as f64).sum::<f64>() / fp.len() as f64;
        let rival = cp
            .iter()
            .chain(fp)
            .map(|k| k.rival as f64)
            .fold(0.0, f64::max);
        let confidence = (mean_mass * (1.0 - rival)).clamp(0.0, 1.0);
        let mut doubts = Vec::new();
        if confidence < self.header.uncertain_below {
            doubts.push(format!(
                "confidence {confidence:.2} below {:.2}",
                self.header.uncertain_below
            ));
        }
        let worst = crate::frame::anchors(&points)
            .iter()
            .zip(&coarse)
            .take(2)
            .map(|(p, c)| p.dist(c) / fine.in_grid(Grid::FULL).scale())
            .fold(0.0, f64::max);
        if worst > STAGE_DISAGREEMENT {
            doubts.push(format!(
                "coarse and fine endplates differ by up to {worst:.0} fine pixels"
            ));
        }
        if let Some(problem) = order_problem(&points) {
            doubts.push(problem);
        }
        Found {
            points,
            coarse,
            confidence,
            doubts,
        }
    }

    fn peaks(
        &self,
        net: &UNet,
        channels: usize,
        inputs: &[Vec<f32>],
        radius: f64,
        grid: Grid,
    ) -> Vec<Vec<Peak>> {
        // Batches in flight on every core: one network call alone leaves
        // cores idle between its layers.
        let batches: Vec<Vec<Vec<Peak>>> = inputs
            .par_chunks(4)
            .map(|chunk| {
                let refs: Vec<&[f32]> = chunk.iter().map(|v| v.as_slice()).collect();
                heatmaps(net, &refs, channels, grid, &self.device)
                    .iter()
                    .map(|planes| planes.iter().map(|p| peak(p, radius, grid)).collect())
                    .collect()
            })
            .collect();
        batches.into_iter().flatten().collect()
    }
}

/// The coarse stage's outcome for one image.
struct Coarse {
    peaks: Vec<Peak>,
    /// The anchors in image pixels.
    anchors: Vec<Point>,
    /// The fine window they define.
    fine: Frame,
}

impl Coarse {
    /// The anchors from the coarse peaks, or no spine when the maps are flat.
    fn new(frame: &Frame, peaks: Vec<Peak>, fine_grid: Grid) -> Result<Coarse, LandmarkError> {
        let mut masses: Vec<f32> = peaks.iter().map(|k| k.mass).collect();
        masses.sort_by(f32::total_cmp);
        let median = masses[masses.len() / 2];
        if median < NO_SPINE_MASS {
            return Err(LandmarkError::NoSpine(median));
        }
        let anchors: Vec<Point> = peaks.iter().map(|k| frame.to_image(k.at)).collect();
        let fine = Frame::from_anchors(anchors[0], anchors[1], anchors[2]).in_grid(fine_grid);
        Ok(Coarse {
            peaks,
            anchors,
            fine,
        })
    }
}

/// Per input (planes of `grid`), one probability map per point: the
/// network's logits turned into a distribution over the pixels of each
/// channel (spatial softmax).
pub fn heatmaps(
    net: &UNet,
    inputs: &[&[f32]],
    channels: usize,
    grid: Grid,
    dev: &Device,
) -> Vec<Vec<Vec<f32>>> {
    let n = inputs.len();
    let (h, w) = (grid.height, grid.width);
    let xs: Vec<f32> = inputs.iter().flat_map(|s| s.iter().copied()).collect();
    let x = Tensor::<4>::from_data(TensorData::new(xs, [n, 1, h, w]), dev);
    let logits = net
        .forward(x)
        .reshape([n, channels, h * w])
        .mul_scalar(crate::heatmap::LOGIT_SCALE);
    let p: Vec<f32> = burn::tensor::activation::softmax(logits, 2)
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    p.chunks(channels * h * w)
        .map(|img| img.chunks(h * w).map(<[f32]>::to_vec).collect())
        .collect()
}

/// A reason the points cannot be a spine: vertebrae out of order from head
/// to feet along the spine's own axis.
fn order_problem(points: &[Point]) -> Option<String> {
    let frame = Frame::along_spine(points);
    let level = |v: usize| {
        let c = aac_io::pts::index::corners(v);
        let mid = points[c[0]].mid(&points[c[2]]);
        frame.to_input(mid).y
    };
    (0..3)
        .find(|&v| level(v + 1) <= level(v) + 5.0)
        .map(|v| format!("L{} does not lie below L{}", v + 2, v + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_with_an_unsupported_fine_grid_is_refused() {
        let header = FinderHeader {
            format: FORMAT.into(),
            version: VERSION,
            coarse_sigma: 1.5,
            fine_sigma: 1.25,
            uncertain_below: 0.5,
            val_error: None,
            coarse_bytes: 0,
            fine_grid: Grid {
                width: 0,
                height: 7,
            },
        };
        let bytes = Finder::to_bytes(&header, &[], &[]);
        let e = Finder::from_bytes(&bytes).err().expect("refused");
        assert!(e.to_string().contains("0x7"), "{e}");
    }
}
