//! A trained finder: its file format and inference.

use crate::frame::Frame;
use crate::heatmap::{peak, Peak};
use crate::regularity;
use crate::{Grid, LandmarkError, N_POINTS};
use aac_io::Point;
use aac_unet::model_file;
use aac_unet::photometric::normalise;
use aac_unet::Inference;
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

/// The share of the confidence bar that still flags a scan whose naming
/// the sacrum confirms ([`crate::sacrum::CONFIRMING_L5_S1_GAP_RATIO`]). On
/// the held-out scans of docs/landmarks.md it took (with the sheared-body
/// check) the flagged share of clean `hologic` from 10.5% to 8.0% and of
/// `lunar` from 8% to 4%, and left no wrongly named scan unflagged that
/// was flagged before; 0.5 rather than 0 keeps the
/// network's doubt where it is strong, since the sacrum alone cannot see a
/// naming one level too high.
const CONFIRMED_BAR: f64 = 0.5;

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
    /// Scans with a confidence below this are flagged [`UNCERTAIN_FLAG`]
    /// (below half of it when the sacrum confirms the naming).
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
    /// Byte length of the fine network's model bytes, when another finder
    /// (a second opinion, [`crate::ensemble`]) may follow them; absent in
    /// finders written before 0.8.4, whose fine network ends the bytes.
    #[serde(default)]
    pub fine_bytes: Option<usize>,
}

/// The bytes of each finder in a finder's bytes, and of the sacrum-top
/// locator that may follow them.
type Parts<'a> = (Vec<&'a [u8]>, Option<&'a [u8]>);

/// A loaded finder.
pub struct Finder {
    /// Header (the first finder's, when there are more).
    pub header: FinderHeader,
    coarse: Inference,
    fine: Inference,
    /// Finders trained alike from other seeds, asked for a second opinion
    /// on each scan ([`crate::ensemble::second_opinion`]).
    others: Vec<Finder>,
    /// The sacrum-top locator, whose answer every finder's naming is
    /// checked against ([`crate::sacrum_top`]); None in finders trained
    /// before 0.14.0 or without known sacrum tops.
    locator: Option<crate::sacrum_top::Locator>,
}

/// Points found in one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The 20 spine points (image pixels), in the contract's order.
    pub points: Vec<Point>,
    /// The coarse stage's anchors ([`crate::frame::anchors`]), with one end
    /// moved a level when the window was re-framed.
    pub coarse: Vec<Point>,
    /// 0..1: the fine peaks' mean probability mass times one minus the
    /// strongest rival of any coarse or fine peak.
    pub confidence: f64,
    /// Why the points are in doubt (empty when they are not).
    pub doubts: Vec<String>,
    /// What the level naming was checked against, in words (the sacrum
    /// below L5, or why it could not be).
    pub cue: String,
    /// Where the sacrum-top locator put the sacrum's top (image pixels),
    /// when the naming was checked against it ([`crate::sacrum_top::checked`]).
    pub sacrum_top: Option<Point>,
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
            coarse: Inference::new(load(coarse)?, device.clone()),
            fine: Inference::new(load(fine)?, device),
            header,
            others: Vec::new(),
            locator: None,
        })
    }

    /// True when the finder carries a sacrum-top locator.
    pub fn has_locator(&self) -> bool {
        self.locator.is_some()
    }

    /// How many finders answer: this one and its second opinions.
    pub fn members(&self) -> usize {
        1 + self.others.len()
    }

    /// Serialises the finder: magic line, header line, coarse then fine
    /// model bytes.
    pub fn to_bytes(header: &FinderHeader, coarse: &[u8], fine: &[u8]) -> Vec<u8> {
        let mut h = header.clone();
        h.coarse_bytes = coarse.len();
        h.fine_bytes = Some(fine.len());
        let mut out = MAGIC.to_vec();
        out.extend(serde_json::to_vec(&h).expect("a finder header serialises"));
        out.push(b'\n');
        out.extend_from_slice(coarse);
        out.extend_from_slice(fine);
        out
    }

    /// Parses bytes written by [`Finder::to_bytes`], or several such
    /// finders one after the other (the first answers, the others give
    /// second opinions), optionally followed by a sacrum-top locator's
    /// block ([`crate::sacrum_top::to_block`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Finder, LandmarkError> {
        let (members, locator) = Finder::parts(bytes)?;
        let mut members = members.into_iter();
        let first = members.next().expect("parts gives at least one finder");
        let (header, coarse, fine) = Finder::split_bytes(first)?;
        let mut finder = Finder::new(header, coarse, fine)?;
        for m in members {
            let (header, coarse, fine) = Finder::split_bytes(m)?;
            finder.others.push(Finder::new(header, coarse, fine)?);
        }
        finder.locator = locator
            .map(|block| {
                crate::sacrum_top::Locator::new(crate::sacrum_top::network_of_block(block)?)
            })
            .transpose()?;
        Ok(finder)
    }

    /// The bytes of each finder in bytes written by [`Finder::to_bytes`]
    /// and concatenated (one finder's bytes: itself), without the
    /// sacrum-top locator that may follow them.
    pub fn member_bytes(bytes: &[u8]) -> Result<Vec<&[u8]>, LandmarkError> {
        Ok(Finder::parts(bytes)?.0)
    }

    /// The sacrum-top locator's block ([`crate::sacrum_top::to_block`])
    /// that follows the finders in `bytes`, if any.
    pub fn locator_bytes(bytes: &[u8]) -> Result<Option<&[u8]>, LandmarkError> {
        Ok(Finder::parts(bytes)?.1)
    }

    /// The finders' bytes and the locator's.
    fn parts(bytes: &[u8]) -> Result<Parts<'_>, LandmarkError> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() || out.is_empty() {
            if !out.is_empty() && rest.starts_with(crate::sacrum_top::MAGIC) {
                return Ok((out, Some(rest)));
            }
            let (_, _, fine) = Finder::split_bytes(rest)?;
            // The fine network's bytes end this finder's.
            let end = fine.as_ptr() as usize - rest.as_ptr() as usize + fine.len();
            out.push(&rest[..end]);
            rest = &rest[end..];
        }
        Ok((out, None))
    }

    /// The header and the coarse and fine networks' model bytes of bytes
    /// written by [`Finder::to_bytes`] (checked as far as the header goes;
    /// any finders that follow are left out: [`Finder::member_bytes`]).
    pub fn split_bytes(bytes: &[u8]) -> Result<(FinderHeader, &[u8], &[u8]), LandmarkError> {
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
        let fine = match header.fine_bytes {
            Some(n) if n > fine.len() => return Err(bad("truncated networks")),
            Some(n) => &fine[..n],
            None => fine,
        };
        Ok((header, coarse, fine))
    }

    /// Finds the 20 spine points in each image (raw intensities, row-major,
    /// with width and height), running each network once per batch of 4.
    /// An image gets an error when it is blank or too small, holds no
    /// spine, or its best points cannot be four vertebral bodies
    /// ([`LandmarkError::NotVertebrae`]).
    ///
    /// Where no usable points were found, the mirror image (the patient
    /// facing the other way) is looked at: its points, mapped back, are
    /// kept with a doubt that says so ([`mirror_rescue`]). Where still none
    /// were found, or the network is in doubt (confidence below the
    /// header's bar), the image's negative is looked at too: a scan stored
    /// inverted (bone dark) is said to be so
    /// ([`LandmarkError::LooksInverted`], or a doubt) when its negative
    /// shows four regular bodies that the finder is sure of.
    ///
    /// Where the finder carries a sacrum-top locator, every finder's
    /// naming is checked against the sacrum top it finds
    /// ([`crate::sacrum_top::checked`]). Each scan is then put to the
    /// second opinions, if any
    /// ([`crate::ensemble::second_opinion`]): the naming with the fewest
    /// doubts is kept, a different naming of the levels is a doubt, and a
    /// failed scan keeps another finder's points in doubt.
    pub fn find(&self, images: &[(&[f32], usize, usize)]) -> Vec<Result<Found, LandmarkError>> {
        let tops = match &self.locator {
            Some(l) => l.find(images),
            None => vec![None; images.len()],
        };
        // Every finder's naming is checked against the same sacrum top, so
        // that the second opinion weighs that doubt too.
        let checked = |found: Vec<Result<Found, LandmarkError>>| {
            found
                .into_iter()
                .zip(&tops)
                .zip(images)
                .map(|((r, top), &(_, w, h))| {
                    r.map(|f| crate::sacrum_top::checked(f, top.as_ref(), w, h))
                })
                .collect::<Vec<_>>()
        };
        let first = checked(self.find_alone(images));
        if self.others.is_empty() {
            return first;
        }
        let mut others: Vec<_> = self
            .others
            .iter()
            .map(|o| checked(o.find_alone(images)).into_iter())
            .collect();
        first
            .into_iter()
            .map(|r| {
                let said = others.iter_mut().filter_map(Iterator::next).collect();
                crate::ensemble::second_opinion(r, said)
            })
            .collect()
    }

    /// [`Finder::find`] by this finder alone.
    fn find_alone(&self, images: &[(&[f32], usize, usize)]) -> Vec<Result<Found, LandmarkError>> {
        let found = self.find_once(images);
        let found = self.mirrors_of_failed(images, found);
        let negatives = self.negatives_of_doubtful(images, &found);
        found
            .into_iter()
            .zip(negatives)
            .map(|(r, negative)| match negative {
                Some(n) => inverted_note(r, &n),
                None => r,
            })
            .collect()
    }

    /// Each failed image's result replaced by [`mirror_rescue`] of its
    /// mirror image's (the others as they were).
    fn mirrors_of_failed(
        &self,
        images: &[(&[f32], usize, usize)],
        found: Vec<Result<Found, LandmarkError>>,
    ) -> Vec<Result<Found, LandmarkError>> {
        let failed: Vec<bool> = found.iter().map(rescuable).collect();
        let mirrors: Vec<(Vec<f32>, usize, usize)> = images
            .iter()
            .zip(&failed)
            .filter(|(_, &f)| f)
            .map(|(&(img, w, h), _)| (aac_io::image_io::mirrored_rows(img, w), w, h))
            .collect();
        if mirrors.is_empty() {
            return found;
        }
        let inputs: Vec<(&[f32], usize, usize)> = mirrors
            .iter()
            .map(|(m, w, h)| (m.as_slice(), *w, *h))
            .collect();
        let mut results = self
            .find_once(&inputs)
            .into_iter()
            .zip(mirrors.iter().map(|m| m.1));
        found
            .into_iter()
            .zip(failed)
            .map(|(r, f)| match f.then(|| results.next()).flatten() {
                Some((m, width)) => mirror_rescue(r, m, width),
                None => r,
            })
            .collect()
    }

    /// The finder's result on the negative of each image whose points
    /// failed or are in the network's doubt (None for the others).
    fn negatives_of_doubtful(
        &self,
        images: &[(&[f32], usize, usize)],
        found: &[Result<Found, LandmarkError>],
    ) -> Vec<Option<Result<Found, LandmarkError>>> {
        let bar = self.header.uncertain_below;
        let doubtful: Vec<bool> = found
            .iter()
            .map(|r| match r {
                Ok(f) => f.confidence < bar,
                Err(e) => matches!(
                    e,
                    LandmarkError::NoSpine(_) | LandmarkError::NotVertebrae(_)
                ),
            })
            .collect();
        let negatives: Vec<(Vec<f32>, usize, usize)> = images
            .iter()
            .zip(&doubtful)
            .filter(|(_, &d)| d)
            .map(|(&(img, w, h), _)| (aac_io::image_io::negative(img), w, h))
            .collect();
        let inputs: Vec<(&[f32], usize, usize)> = negatives
            .iter()
            .map(|(n, w, h)| (n.as_slice(), *w, *h))
            .collect();
        let mut results = if inputs.is_empty() {
            Vec::new()
        } else {
            self.find_once(&inputs)
        }
        .into_iter();
        doubtful
            .iter()
            .map(|&d| if d { results.next() } else { None })
            .collect()
    }

    fn find_once(&self, images: &[(&[f32], usize, usize)]) -> Vec<Result<Found, LandmarkError>> {
        let (coarse_frames, coarse_inputs) = whole_image_inputs(images);
        let mut coarse_peaks = batched_peaks(
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
        let fine_frames: Vec<Option<Frame>> = staged
            .iter()
            .map(|s| s.as_ref().ok().map(|c| c.fine))
            .collect();
        let fine_peaks = self.fine_peaks(images, &fine_frames);
        let mut found: Vec<Result<(Coarse, Found), LandmarkError>> = staged
            .drain(..)
            .zip(fine_peaks)
            .map(|(s, fp)| {
                let c = s?;
                let fp = fp.ok_or_else(|| LandmarkError::Model("no fine output".into()))?;
                let f = self.assemble(&c.peaks, c.anchors.clone(), &c.fine, &fp);
                Ok((c, f))
            })
            .collect();
        self.reframe_irregular(images, &mut found);
        found
            .into_iter()
            .zip(images)
            .map(|(r, &(img, w, h))| {
                // A blank image (all 0, all 65535) gives the networks nothing
                // to see, whatever their heatmaps make of it.
                if !matches!(r, Err(LandmarkError::TooSmall(..))) {
                    if let Some(v) = constant_value(img) {
                        return Err(LandmarkError::Blank(v));
                    }
                }
                let (_, f) = r?;
                self.checked(f, img, w, h)
            })
            .collect()
    }

    /// The fine network's peaks in each image's window (None where the
    /// image has none), all windows in parallel batches.
    fn fine_peaks(
        &self,
        images: &[(&[f32], usize, usize)],
        frames: &[Option<Frame>],
    ) -> Vec<Option<Vec<Peak>>> {
        let inputs: Vec<Vec<f32>> = frames
            .par_iter()
            .zip(images)
            .filter_map(|(f, &(img, w, h))| f.map(|f| normalise(&f.sample(img, w, h))))
            .collect();
        let grid = self.header.fine_grid;
        let mut peaks = batched_peaks(
            &self.fine,
            N_POINTS,
            &inputs,
            FINE_RIVAL_RADIUS * grid.factor(),
            grid,
        )
        .into_iter();
        frames
            .iter()
            .map(|f| f.and_then(|_| peaks.next()))
            .collect()
    }

    /// Looks again, in windows with one end moved by a level, at images
    /// whose points are not four consecutive bodies: the coarse stage put
    /// that end of the window one level off. Takes the regular candidate
    /// that the coarse network's second choice for the moved end supports
    /// best.
    fn reframe_irregular(
        &self,
        images: &[(&[f32], usize, usize)],
        found: &mut [Result<(Coarse, Found), LandmarkError>],
    ) {
        let mut owners = Vec::new();
        let mut candidates = Vec::new();
        for (i, r) in found.iter().enumerate() {
            let Ok((c, f)) = r else { continue };
            if !misshapen(&f.points) {
                continue;
            }
            for cand in c.alternatives(regularity::level_step(&f.points), self.header.fine_grid) {
                owners.push(i);
                candidates.push(cand);
            }
        }
        if candidates.is_empty() {
            return;
        }
        let sub_images: Vec<(&[f32], usize, usize)> = owners.iter().map(|&i| images[i]).collect();
        let frames: Vec<Option<Frame>> = candidates.iter().map(|c| Some(c.fine)).collect();
        let peaks = self.fine_peaks(&sub_images, &frames);
        // (irregularity, support) of the best candidate so far per image.
        let mut best: Vec<Option<(f64, f32, Found)>> = vec![None; found.len()];
        for ((&i, cand), fp) in owners.iter().zip(&candidates).zip(peaks) {
            let (Some(fp), Ok((c, _))) = (fp, &found[i]) else {
                continue;
            };
            let f = self.assemble(&c.peaks, cand.anchors.clone(), &cand.fine, &fp);
            if misshapen(&f.points) {
                continue;
            }
            let irregular = regularity::irregularity(&f.points);
            let better = match &best[i] {
                None => true,
                Some((bi, bs, _)) => cand.support > *bs || (cand.support == *bs && irregular < *bi),
            };
            if better {
                best[i] = Some((irregular, cand.support, f));
            }
        }
        for (r, b) in found.iter_mut().zip(best) {
            if let (Ok((_, f)), Some((_, _, better))) = (r, b) {
                *f = better;
            }
        }
    }

    /// The found points after the checks that do not need the networks:
    /// an error when they cannot be four vertebral bodies, else with every
    /// doubt of shape, view, sacrum and confidence, and the cue in words.
    fn checked(
        &self,
        mut f: Found,
        img: &[f32],
        w: usize,
        h: usize,
    ) -> Result<Found, LandmarkError> {
        if let Some(why) =
            regularity::sheared(&f.points).or_else(|| regularity::overlapping(&f.points))
        {
            return Err(LandmarkError::NotVertebrae(why));
        }
        // Points the dataset contract refuses (bodies out of order, corners
        // collapsed) would be refused again by `predict --landmarks`: say so
        // now rather than write them.
        if let Some(why) = aac_io::dataset::landmark_problem(&f.points, Some((w as u32, h as u32)))
        {
            return Err(LandmarkError::NotVertebrae(why));
        }
        let irregular = regularity::irregularity(&f.points);
        if irregular > 1.0 {
            f.doubts.push(format!(
                "body heights or disc gaps implausible ({irregular:.1} times the limit)"
            ));
        }
        f.doubts.extend(regularity::twisted_endplates(&f.points));
        f.doubts
            .extend(crate::view::cues_out_of_view(&f.points, w, h));
        let sacrum = crate::sacrum::sacrum_cue(img, w, h, &f.points);
        let bar = self.confidence_bar(sacrum.confirms);
        if f.confidence < bar {
            let why = if sacrum.confirms {
                format!(
                    "confidence {:.2} below {bar:.2} (the bar halved: the sacrum confirms the naming)",
                    f.confidence
                )
            } else {
                format!("confidence {:.2} below {bar:.2}", f.confidence)
            };
            f.doubts.insert(0, why);
        }
        f.cue = sacrum.words;
        // A view that ends above S1 has said why the count was not made.
        if sacrum.checked || crate::view::sacrum_in_view(&f.points, w, h) {
            f.doubts.extend(sacrum.doubt);
        }
        Ok(f)
    }

    /// The confidence below which a scan is in doubt: the header's bar, or
    /// [`CONFIRMED_BAR`] of it when the count up from the sacrum confirms
    /// the naming (two cues agree).
    fn confidence_bar(&self, sacrum_confirms: bool) -> f64 {
        if sacrum_confirms {
            self.header.uncertain_below * CONFIRMED_BAR
        } else {
            self.header.uncertain_below
        }
    }

    /// The fine network's points (this finder's alone, before any check) in
    /// the window of each image's given points moved `levels` levels down
    /// the spine (negative: up): what the scan looks like named that many
    /// levels otherwise. None where an image has no points or too few.
    pub fn look_shifted(
        &self,
        images: &[(&[f32], usize, usize)],
        points: &[Option<&[Point]>],
        levels: f64,
    ) -> Vec<Option<Found>> {
        let grid = self.header.fine_grid;
        let moved: Vec<Option<Vec<Point>>> = points
            .iter()
            .map(|p| {
                let p = (*p).filter(|p| p.len() >= N_POINTS)?;
                Some(shifted_anchors(p, levels).to_vec())
            })
            .collect();
        let frames: Vec<Option<Frame>> = moved
            .iter()
            .map(|a| {
                a.as_ref()
                    .map(|a| Frame::from_anchors(a[0], a[1], a[2]).in_grid(grid))
            })
            .collect();
        let peaks = self.fine_peaks(images, &frames);
        moved
            .into_iter()
            .zip(frames)
            .zip(peaks)
            .map(|((a, f), fp)| Some(self.assemble(&[], a?, &f?, &fp?)))
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
            cue: String::new(),
            sacrum_top: None,
        }
    }
}

/// Each image letterboxed whole into the coarse grid (None where it is
/// too small to look at), and the normalised inputs of those that are, in
/// order: what the coarse network and the sacrum-top locator see.
pub(crate) fn whole_image_inputs(
    images: &[(&[f32], usize, usize)],
) -> (Vec<Option<Frame>>, Vec<Vec<f32>>) {
    let frames: Vec<Option<Frame>> = images
        .iter()
        .map(|&(_, w, h)| (w >= 16 && h >= 16).then(|| Frame::whole_image(w, h)))
        .collect();
    let inputs = images
        .par_iter()
        .zip(&frames)
        .filter_map(|(&(img, w, h), f)| f.map(|f| normalise(&f.sample(img, w, h))))
        .collect();
    (frames, inputs)
}

/// Each input's peaks, one per channel of `net`'s maps (rivals counted
/// beyond `radius` input pixels), in batches of 4 in flight on every core:
/// one network call alone leaves cores idle between its layers.
pub(crate) fn batched_peaks(
    net: &Inference,
    channels: usize,
    inputs: &[Vec<f32>],
    radius: f64,
    grid: Grid,
) -> Vec<Vec<Peak>> {
    let batches: Vec<Vec<Vec<Peak>>> = inputs
        .par_chunks(4)
        .map(|chunk| {
            let refs: Vec<&[f32]> = chunk.iter().map(|v| v.as_slice()).collect();
            heatmaps(net, &refs, channels, grid)
                .iter()
                .map(|planes| planes.iter().map(|p| peak(p, radius, grid)).collect())
                .collect()
        })
        .collect();
    batches.into_iter().flatten().collect()
}

/// A failed image that a second look at its mirror image may rescue: no
/// spine found, or points that cannot be four bodies.
fn rescuable(r: &Result<Found, LandmarkError>) -> bool {
    matches!(
        r,
        Err(LandmarkError::NoSpine(_) | LandmarkError::NotVertebrae(_))
    )
}

/// A failed image's result after looking at its mirror image (`width`
/// pixels wide): the mirror's points, mapped back into the image, with a
/// doubt that says the scan as stored gave none (a reader looks at every
/// such scan: on the 100 scans of another generator, docs/landmarks.md,
/// 14 of 21 failed scans were rescued this way, 10 of them named right
/// and none of the 4 wrong ones without another doubt). Where the mirror
/// fails too, the original error stands.
pub fn mirror_rescue(
    original: Result<Found, LandmarkError>,
    mirror: Result<Found, LandmarkError>,
    width: usize,
) -> Result<Found, LandmarkError> {
    let (Err(e), Ok(mut m)) = (&original, mirror) else {
        return original;
    };
    let back = |p: &Point| Point::new(width as f64 - 1.0 - p.x, p.y);
    m.points = m.points.iter().map(back).collect();
    m.coarse = m.coarse.iter().map(back).collect();
    m.doubts.insert(
        0,
        format!("found on the mirror image only (as stored: {e})"),
    );
    Ok(m)
}

/// The finder's result for an image after looking at its negative: when
/// the negative shows four regular bodies with no doubt, at a confidence
/// above the original's, a failed image becomes
/// [`LandmarkError::LooksInverted`] and doubtful points get a doubt that
/// says so; otherwise the original stands.
pub fn inverted_note(
    original: Result<Found, LandmarkError>,
    negative: &Result<Found, LandmarkError>,
) -> Result<Found, LandmarkError> {
    let Ok(n) = negative else {
        return original;
    };
    if n.uncertain() {
        return original;
    }
    match original {
        Err(LandmarkError::NotVertebrae(why)) => Err(LandmarkError::LooksInverted {
            why: format!("no usable L1-L4 found: {why}"),
            confidence: n.confidence,
        }),
        Err(e @ LandmarkError::NoSpine(_)) => Err(LandmarkError::LooksInverted {
            why: e.to_string(),
            confidence: n.confidence,
        }),
        Ok(mut f) if n.confidence > f.confidence => {
            f.doubts.push(format!(
                "the image's negative shows four regular bodies (confidence {:.2} against {:.2}): the scan may be stored inverted, bone dark (`aac convert --invert`)",
                n.confidence, f.confidence
            ));
            Ok(f)
        }
        other => other,
    }
}

/// The anchors ([`crate::frame::anchors`]) of 20 spine points moved
/// `levels` levels (the median body height plus disc gap) down the spine
/// (negative: up), along the axis from the T12 to the L5 endplate.
fn shifted_anchors(points: &[Point], levels: f64) -> [Point; 3] {
    let [top, bottom, front] = crate::frame::anchors(points);
    let span = top.dist(&bottom).max(1e-6);
    let d = levels * regularity::level_step(points) / span;
    let by = |q: Point| Point::new(q.x + d * (bottom.x - top.x), q.y + d * (bottom.y - top.y));
    [by(top), by(bottom), by(front)]
}

/// Points that cannot be four consecutive bodies as they stand: heights
/// and gaps out of proportion, a body sheared across two levels, or two
/// bodies overlapping (one body read twice).
fn misshapen(points: &[Point]) -> bool {
    regularity::irregularity(points) > 1.0
        || regularity::sheared(points).is_some()
        || regularity::overlapping(points).is_some()
}

/// The coarse stage's outcome for one image.
struct Coarse {
    /// The whole-image frame the coarse network saw.
    whole: Frame,
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
            whole: *frame,
            peaks,
            anchors,
            fine,
        })
    }

    /// Fine windows with the top or the bottom end moved one level (`step`
    /// image pixels) up or down the spine, each with the coarse network's
    /// support for the moved end: its second-choice response there, if
    /// that lies within half a level.
    fn alternatives(&self, step: f64, fine_grid: Grid) -> Vec<Candidate> {
        let [top, bottom, front] = [self.anchors[0], self.anchors[1], self.anchors[2]];
        let span = top.dist(&bottom).max(1e-6);
        let along = |p: Point, s: f64| {
            Point::new(
                p.x + s * step * (bottom.x - top.x) / span,
                p.y + s * step * (bottom.y - top.y) / span,
            )
        };
        let support = |end: usize, moved: Point| {
            let k = &self.peaks[end];
            let second = self.whole.to_image(k.rival_at);
            if second.dist(&moved) < step / 2.0 {
                k.rival
            } else {
                0.0
            }
        };
        [(0, 1.0), (0, -1.0), (1, 1.0), (1, -1.0)]
            .into_iter()
            .map(|(end, s)| {
                let (t, b) = if end == 0 {
                    (along(top, s), bottom)
                } else {
                    (top, along(bottom, s))
                };
                Candidate {
                    fine: Frame::from_anchors(t, b, front).in_grid(fine_grid),
                    anchors: vec![t, b, front],
                    support: support(end, if end == 0 { t } else { b }),
                }
            })
            .collect()
    }
}

/// A fine window to try again in, for an image whose first points were
/// irregular.
struct Candidate {
    fine: Frame,
    /// The anchors that define it (one end moved).
    anchors: Vec<Point>,
    /// The coarse network's second-choice response at the moved end (0
    /// when its second choice lies elsewhere).
    support: f32,
}

/// Per input (planes of `grid`), one probability map per point: the
/// network's logits turned into a distribution over the pixels of each
/// channel (spatial softmax).
pub fn heatmaps(
    net: &Inference,
    inputs: &[&[f32]],
    channels: usize,
    grid: Grid,
) -> Vec<Vec<Vec<f32>>> {
    let pixels = grid.pixels();
    net.logits(inputs, (grid.height, grid.width))
        .iter()
        .map(|logits| {
            debug_assert_eq!(logits.len(), channels * pixels);
            logits
                .chunks(pixels)
                .map(crate::heatmap::spatial_softmax)
                .collect()
        })
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

/// The value of every pixel when all are the same (a blank image).
fn constant_value(img: &[f32]) -> Option<f32> {
    let first = *img.first()?;
    img.iter().all(|&v| v == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aac_io::pts::index;

    fn found(confidence: f64, doubts: &[&str]) -> Found {
        Found {
            points: Vec::new(),
            coarse: Vec::new(),
            confidence,
            doubts: doubts.iter().map(|d| d.to_string()).collect(),
            cue: String::new(),
            sacrum_top: None,
        }
    }

    #[test]
    fn a_failed_scan_takes_its_mirrors_points_mapped_back_and_in_doubt() {
        let mut m = found(0.8, &[]);
        m.points = vec![Point::new(10.0, 5.0), Point::new(0.0, 7.0)];
        m.coarse = vec![Point::new(99.0, 1.0)];
        let failed = || Err(LandmarkError::NotVertebrae("L2 sheared".into()));
        let r = mirror_rescue(failed(), Ok(m.clone()), 100).unwrap();
        // x' = width - 1 - x: pixel centres map onto pixel centres.
        assert_eq!(r.points, vec![Point::new(89.0, 5.0), Point::new(99.0, 7.0)]);
        assert_eq!(r.coarse, vec![Point::new(0.0, 1.0)]);
        assert!(r.uncertain(), "a rescued scan is always reviewed");
        assert!(
            r.doubts[0].starts_with("found on the mirror image only")
                && r.doubts[0].contains("L2 sheared"),
            "{:?}",
            r.doubts
        );
        // The mirror's own doubts are kept after it.
        let mut doubtful = m.clone();
        doubtful.doubts = vec!["confidence low".into()];
        let r = mirror_rescue(failed(), Ok(doubtful), 100).unwrap();
        assert_eq!(r.doubts.len(), 2);
        // A failed mirror leaves the original error; a found original is
        // never replaced.
        let e = mirror_rescue(failed(), Err(LandmarkError::NoSpine(0.01)), 100);
        assert!(matches!(e, Err(LandmarkError::NotVertebrae(_))));
        let kept = mirror_rescue(Ok(found(0.2, &[])), Ok(m), 100).unwrap();
        assert_eq!(kept.confidence, 0.2);
        assert!(rescuable(&Err(LandmarkError::NoSpine(0.0))));
        assert!(!rescuable(&Err(LandmarkError::Blank(0.0))));
        assert!(!rescuable(&Ok(found(0.1, &[]))));
    }

    #[test]
    fn a_negative_read_clearly_better_says_the_scan_looks_inverted() {
        let sure = Ok(found(0.9, &[]));
        // A failed image whose negative is sure: an error that says why and
        // what to do.
        let r = inverted_note(Err(LandmarkError::NotVertebrae("L2 twisted".into())), &sure);
        let Err(e @ LandmarkError::LooksInverted { .. }) = r else {
            panic!("{r:?}");
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with("no usable L1-L4 found: L2 twisted; the image's negative")
                && msg.contains("confidence 0.90")
                && msg.contains("--invert"),
            "{msg}"
        );
        let r = inverted_note(Err(LandmarkError::NoSpine(0.01)), &sure);
        assert!(
            matches!(r, Err(LandmarkError::LooksInverted { .. })),
            "{r:?}"
        );
        // Doubtful points whose negative is surer: a doubt more.
        let r = inverted_note(Ok(found(0.1, &["confidence 0.10 below 0.30"])), &sure).unwrap();
        assert_eq!(r.doubts.len(), 2);
        assert!(r.doubts[1].contains("stored inverted"), "{:?}", r.doubts);
        // A negative in doubt, or no surer, or failed: the original stands.
        let doubtful = Ok(found(0.95, &["coarse and fine endplates differ"]));
        let r = inverted_note(Err(LandmarkError::NotVertebrae("x".into())), &doubtful);
        assert!(matches!(r, Err(LandmarkError::NotVertebrae(_))), "{r:?}");
        let r = inverted_note(Ok(found(0.95, &[])), &sure).unwrap();
        assert!(r.doubts.is_empty());
        let r = inverted_note(Ok(found(0.1, &["d"])), &Err(LandmarkError::NoSpine(0.0))).unwrap();
        assert_eq!(r.doubts, vec!["d".to_string()]);
        // Other failures are not about polarity.
        let r = inverted_note(Err(LandmarkError::TooSmall(4, 4)), &sure);
        assert!(matches!(r, Err(LandmarkError::TooSmall(4, 4))), "{r:?}");
    }

    #[test]
    fn a_shifted_look_moves_every_anchor_a_whole_level_along_the_spine() {
        // An upright spine: bodies 40 rows tall, discs 10, L1 from row 110.
        let mut p = vec![Point::new(0.0, 0.0); N_POINTS];
        for v in 0..4 {
            let top = 110.0 + 50.0 * v as f64;
            p[index::sup_post(v)] = Point::new(100.0, top);
            p[index::sup_ant(v)] = Point::new(140.0, top);
            p[index::inf_post(v)] = Point::new(100.0, top + 40.0);
            p[index::inf_ant(v)] = Point::new(140.0, top + 40.0);
        }
        p[index::T12_INF_POST] = Point::new(100.0, 100.0);
        p[index::T12_INF_ANT] = Point::new(140.0, 100.0);
        p[index::L5_SUP_POST] = Point::new(100.0, 310.0);
        p[index::L5_SUP_ANT] = Point::new(140.0, 310.0);
        let at = crate::frame::anchors(&p);
        let down = shifted_anchors(&p, 1.0);
        let up = shifted_anchors(&p, -1.0);
        for k in 0..3 {
            assert!((down[k].x - at[k].x).abs() < 1e-9);
            assert!((down[k].y - at[k].y - 50.0).abs() < 1e-9, "{:?}", down[k]);
            assert!((up[k].y - at[k].y + 50.0).abs() < 1e-9, "{:?}", up[k]);
        }
        assert_eq!(shifted_anchors(&p, 0.0), at);
    }

    #[test]
    fn alternative_windows_move_one_end_a_level_and_carry_the_coarse_second_choice() {
        let whole = Frame::whole_image(256, 512);
        let peak_at = |p: Point, rival: f32, rival_at: Point| Peak {
            at: whole.to_input(p),
            mass: 0.9,
            rival,
            rival_at: whole.to_input(rival_at),
        };
        let (top, bottom, front) = (
            Point::new(100.0, 100.0),
            Point::new(100.0, 300.0),
            Point::new(130.0, 200.0),
        );
        // The coarse network's second choice for the top lies one level
        // (50 pixels) lower; the bottom has no second choice.
        let peaks = vec![
            peak_at(top, 0.6, Point::new(101.0, 151.0)),
            peak_at(bottom, 0.0, bottom),
            peak_at(front, 0.0, front),
        ];
        let coarse = Coarse::new(&whole, peaks, Grid::HALF).expect("a spine");
        let alts = coarse.alternatives(50.0, Grid::HALF);
        assert_eq!(alts.len(), 4);
        let moved_top: Vec<&Candidate> = alts
            .iter()
            .filter(|c| c.anchors[1].dist(&bottom) < 1e-6)
            .collect();
        assert_eq!(moved_top.len(), 2);
        let down = moved_top
            .iter()
            .find(|c| c.anchors[0].y > top.y)
            .expect("top moved down");
        assert!(down.anchors[0].dist(&Point::new(100.0, 150.0)) < 1e-6);
        assert!((down.support - 0.6).abs() < 1e-6);
        // Every other candidate lacks the coarse network's support.
        assert_eq!(alts.iter().filter(|c| c.support > 0.0).count(), 1);
        // The window of the moved top spans one level less.
        let span =
            |c: &Candidate| c.fine.in_grid(Grid::FULL).scale() * crate::frame::FINE_SPAN_ROWS;
        assert!((span(down) - 150.0).abs() < 1e-6);
    }

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
            fine_bytes: None,
        };
        let bytes = Finder::to_bytes(&header, &[], &[]);
        let e = Finder::from_bytes(&bytes).err().expect("refused");
        assert!(e.to_string().contains("0x7"), "{e}");
    }

    #[test]
    fn finders_written_one_after_another_are_parted_exactly() {
        let header = FinderHeader {
            format: FORMAT.into(),
            version: VERSION,
            coarse_sigma: 1.5,
            fine_sigma: 1.25,
            uncertain_below: 0.3,
            val_error: None,
            coarse_bytes: 0,
            fine_grid: Grid::HALF,
            fine_bytes: None,
        };
        let first = Finder::to_bytes(&header, b"coarse-1", b"fine-1");
        let second = Finder::to_bytes(&header, b"c2", b"the second fine");
        let both: Vec<u8> = first.iter().chain(&second).copied().collect();
        let parts = Finder::member_bytes(&both).unwrap();
        assert_eq!(parts, vec![first.as_slice(), second.as_slice()]);
        let (h, coarse, fine) = Finder::split_bytes(&both).unwrap();
        assert_eq!((coarse, fine), (&b"coarse-1"[..], &b"fine-1"[..]));
        assert_eq!(h.fine_bytes, Some(6));
        // A finder written before 0.8.4 (no fine length): its fine network
        // runs to the end.
        let mut old = MAGIC.to_vec();
        old.extend(
            serde_json::to_vec(&FinderHeader {
                coarse_bytes: 2,
                ..header
            })
            .unwrap(),
        );
        old.extend(b"\nccFINE");
        assert_eq!(Finder::member_bytes(&old).unwrap(), vec![old.as_slice()]);
        assert_eq!(Finder::split_bytes(&old).unwrap().2, b"FINE");
        // A cut second finder is refused, not read as a shorter one.
        let cut = &both[..both.len() - 3];
        assert!(Finder::member_bytes(cut).is_err());
    }
}
