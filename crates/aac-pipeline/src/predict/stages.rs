//! The stages of one chunk: locate (read, find points), prepare (shape model,
//! warp), segment (the U-net, batched) and score (one path, flags, the row).

use super::*;

/// A scored (or failed) image: its row and, when asked for, its overlay.
pub(super) struct Done {
    pub(super) row: Row,
    pub(super) overlay: Option<Overlay>,
    /// The spine points the row was scored with, when it had them.
    pub(super) points: Option<Vec<Point>>,
}

impl Done {
    /// The row of an image that failed; `source` is where its points came
    /// from, when it had them.
    fn failed(id: &str, why: ImageFailure, source: LandmarkSource) -> Done {
        let source = if why.had_points() {
            source
        } else {
            LandmarkSource::None
        };
        Done {
            row: Row::error(id, why.to_string(), source),
            overlay: None,
            points: None,
        }
    }
}

/// Why one image of a chunk could not be scored (its row's `message`).
#[derive(Debug, thiserror::Error)]
pub(super) enum ImageFailure {
    /// The image or its given points could not be read.
    #[error("{0}")]
    Read(String),
    /// No spine points: the finder found none, or there is no finder.
    #[error("{0}")]
    NoPoints(String),
    /// The shape model or the warp failed on the points.
    #[error("{0}")]
    Warp(String),
    /// The network gave no output for the image.
    #[error("the network returned no output for this image (internal error)")]
    NoNetworkOutput,
    /// The probabilities could not be scored.
    #[error("{0}")]
    Score(String),
}

impl ImageFailure {
    /// True when the image failed after its points were had.
    fn had_points(&self) -> bool {
        !matches!(self, ImageFailure::Read(_) | ImageFailure::NoPoints(_))
    }
}

/// One image to score: id, image path and its landmark file, if given.
pub(super) type Item = (String, PathBuf, Option<PathBuf>);

/// An image read, with its spacing and spine points (given or found).
pub(super) struct Located {
    pub(super) img: aac_io::Gray16,
    pub(super) spacing: Option<[f64; 2]>,
    /// Why the file's own pixel spacing was not used, when it was refused.
    pub(super) spacing_note: Option<String>,
    pub(super) spine: Vec<Point>,
    /// The finder's result when the points were found.
    pub(super) found: Option<aac_landmarks::Found>,
    /// The image as f32, when the finder needed it.
    pub(super) data: Option<Vec<f32>>,
}

/// The pixel spacing an image is scored with, and why its file's was
/// refused when it was.
pub(super) struct Spacing {
    pub(super) mm: Option<[f64; 2]>,
    pub(super) note: Option<String>,
}

/// The file's pixel spacing when it passes [`aac_io::spacing_problem`], else
/// `--pixel-spacing` (checked by the same rule), with a note saying so.
pub(super) fn resolve_spacing(file: Option<[f64; 2]>, default: Option<[f64; 2]>) -> Spacing {
    match file {
        Some(v) => match aac_io::spacing_problem(v) {
            None => Spacing {
                mm: Some(v),
                note: None,
            },
            Some(why) => Spacing {
                mm: default,
                note: Some(format!(
                    "the file's {why}: refused{}",
                    if default.is_some() {
                        ", --pixel-spacing used"
                    } else {
                        ""
                    }
                )),
            },
        },
        None => Spacing {
            mm: default,
            note: None,
        },
    }
}

/// Reads each image and its given points, then finds the points of the
/// others with the bundle's finder (batched).
pub(super) fn locate(
    b: &Bundle,
    items: &[Item],
    default_spacing: Option<[f64; 2]>,
) -> Vec<Result<Located, ImageFailure>> {
    /// An image, its pixel spacing and its given spine points.
    type Read = (aac_io::Gray16, Spacing, Option<Vec<Point>>);
    let read: Vec<Result<Read, ImageFailure>> = items
        .par_iter()
        .map(|(_, img_path, pts_path)| {
            let (img, spacing) =
                read_image_spaced(img_path).map_err(|e| ImageFailure::Read(e.to_string()))?;
            let given = match pts_path {
                Some(p) => {
                    let pts = crate::dataset_util::read_landmarks_any(p)
                        .map_err(|e| ImageFailure::Read(format!("{e:#}")))?;
                    Some(pts[..aac_io::N_SPINE].to_vec())
                }
                None => None,
            };
            Ok((img, resolve_spacing(spacing, default_spacing), given))
        })
        .collect();
    // The intensities of the images whose points are to be found, kept for
    // the warp.
    let mut data: Vec<Option<Vec<f32>>> = read
        .par_iter()
        .map(|r| match (r, &b.finder) {
            (Ok((img, _, None)), Some(_)) => Some(aac_io::image_io::to_f32(img)),
            _ => None,
        })
        .collect();
    let to_find: Vec<Option<(&[f32], usize, usize)>> = read
        .iter()
        .zip(&data)
        .map(|(r, d)| match (r, d) {
            (Ok((img, _, _)), Some(d)) => {
                Some((d.as_slice(), img.width() as usize, img.height() as usize))
            }
            _ => None,
        })
        .collect();
    let found = match &b.finder {
        Some(f) => crate::batch::run_matched(&to_find, |x| *x, |v| f.find(&v)),
        None => to_find.iter().map(|_| None).collect(),
    };
    read.into_iter()
        .zip(items)
        .zip(data.iter_mut())
        .zip(found)
        .map(|(((r, (_, img_path, _)), data), found)| {
            let (img, spacing, given) = r?;
            let (spine, found) = match given {
                Some(spine) => (spine, None),
                None => match found {
                    Some(Ok(f)) => (f.points.clone(), Some(f)),
                    Some(Err(e)) => {
                        return Err(ImageFailure::NoPoints(format!(
                            "{}: {e}",
                            img_path.display()
                        )))
                    }
                    None => {
                        return Err(ImageFailure::NoPoints(format!(
                            "{}: no landmark file and the bundle has no landmark finder",
                            img_path.display()
                        )))
                    }
                },
            };
            Ok(Located {
                img,
                spacing: spacing.mm,
                spacing_note: spacing.note,
                spine,
                found,
                data: data.take(),
            })
        })
        .collect()
}

/// A located image with its region of interest warped.
pub(super) struct Prepared {
    pub(super) located: Located,
    pub(super) prep: aac_warp::PreparedRoi,
    pub(super) pred: aac_shape::Prediction,
    pub(super) roi: Vec<f32>,
    pub(super) disagree: bool,
}

pub(super) fn prepare(b: &Bundle, mut l: Located, what: &str) -> Result<Prepared, ImageFailure> {
    let (prep, pred) = prepare_roi(
        &b.header.ssm,
        &l.spine,
        AortaSource::Predicted,
        l.img.dimensions(),
    )
    .map_err(|e| ImageFailure::Warp(format!("{what}: {e}")))?;
    let map = WarpMap::new(&prep.roi, None);
    let data = l
        .data
        .take()
        .unwrap_or_else(|| aac_io::image_io::to_f32(&l.img));
    let roi = map.warp_f32(&data, l.img.width() as usize, l.img.height() as usize, 0.0);
    let disagree = aac_warp::check_landmarks_against_image(&l.img, &l.spine).disagrees();
    Ok(Prepared {
        located: l,
        prep,
        pred,
        roi,
        disagree,
    })
}

/// What every image of a run is scored with, beside the bundle.
pub(super) struct ChunkSettings<'a> {
    pub(super) overlays: bool,
    pub(super) default_spacing: Option<[f64; 2]>,
    pub(super) thresholds: [f32; 2],
    /// The `landmarks.csv` rows of `aac landmarks`, when the given points
    /// came from it.
    pub(super) finder_notes: &'a BTreeMap<String, FinderNote>,
}

/// Where a row's points came from: `given`, `found` (now or by `aac
/// landmarks`).
pub(super) fn landmark_source(
    id: &str,
    given: bool,
    notes: &BTreeMap<String, FinderNote>,
) -> LandmarkSource {
    if given && !notes.contains_key(id) {
        LandmarkSource::Given
    } else {
        LandmarkSource::Found
    }
}

/// A model's probability planes over a warped region (anterior, posterior).
pub(super) type Planes = Vec<Vec<f32>>;

/// The first stages of a chunk: read, find points where none are given,
/// shape model and warp; then the U-net on the good ones, batched. Each
/// image's prepared region with its two probability planes, or why it
/// failed.
pub(super) fn prepared_with_planes(
    b: &Bundle,
    items: &[Item],
    default_spacing: Option<[f64; 2]>,
) -> Vec<Result<(Prepared, Planes), ImageFailure>> {
    let prepared: Vec<Result<Prepared, ImageFailure>> = locate(b, items, default_spacing)
        .into_par_iter()
        .zip(items)
        .map(|(l, (_, img_path, pts_path))| {
            let what = pts_path
                .as_deref()
                .unwrap_or(img_path)
                .display()
                .to_string();
            prepare(b, l?, &what)
        })
        .collect();
    let planes = crate::batch::run_matched(
        &prepared,
        |p| p.as_ref().ok().map(|x| x.roi.as_slice()),
        |rois| b.unet.predict(&rois),
    );
    prepared
        .into_iter()
        .zip(planes)
        .map(|(p, planes)| match (p?, planes) {
            (p, Some(pl)) if pl.len() == 2 && pl.iter().all(|p| p.len() == PIXELS) => Ok((p, pl)),
            _ => Err(ImageFailure::NoNetworkOutput),
        })
        .collect()
}

pub(super) fn predict_chunk(b: &Bundle, items: &[Item], cfg: &ChunkSettings) -> Vec<Done> {
    prepared_with_planes(b, items, cfg.default_spacing)
        .into_iter()
        .zip(items)
        .map(|(r, (id, _, given))| {
            let source = landmark_source(id, given.is_some(), cfg.finder_notes);
            match r {
                Err(why) => Done::failed(id, why, source),
                Ok((p, pl)) => score_row(b, id, p, &pl, cfg, source),
            }
        })
        .collect()
}

/// What calibration scores an image from: its warped region, the U-net's
/// two probability planes over it and the predicted aortic centre (warped
/// pixels), through the same stages as `aac predict`.
pub struct RoiProbabilities {
    /// The warped image (row-major 128 x 256).
    pub roi: Vec<f32>,
    /// Anterior and posterior probabilities.
    pub planes: Vec<Vec<f32>>,
    /// The predicted aortic centre, where the walls are split.
    pub prior_x: f64,
    /// The 20 spine points in warped pixels.
    pub spine: Vec<aac_io::Point>,
}

/// [`RoiProbabilities`] of images (id, image, landmark file if given) with
/// a bundle, or why each failed.
pub fn roi_probabilities(
    b: &Bundle,
    items: &[(String, PathBuf, Option<PathBuf>)],
) -> Vec<Result<RoiProbabilities, String>> {
    prepared_with_planes(b, items, None)
        .into_iter()
        .map(|r| {
            r.map(|(p, planes)| RoiProbabilities {
                prior_x: p.prep.aorta_centre_x(),
                spine: aac_warp::warp_image::warp_points(&p.prep.roi, &p.located.spine),
                roi: p.roi,
                planes,
            })
            .map_err(|e| e.to_string())
        })
        .collect()
}

/// The scores.csv row (and overlay) of a scored image.
pub(super) fn score_row(
    b: &Bundle,
    id: &str,
    p: Prepared,
    pl: &[Vec<f32>],
    cfg: &ChunkSettings,
    source: LandmarkSource,
) -> Done {
    let thresholds = cfg.thresholds;
    let Prepared {
        located,
        prep,
        pred,
        roi,
        disagree,
    } = p;
    let scales = b.header.length_scales();
    let spine = aac_warp::warp_image::warp_points(&prep.roi, &located.spine);
    let (labelled, s) = match roi_scores(&roi, pl, &spine, thresholds, prep.aorta_centre_x()) {
        Ok((l, s)) => (l, s.with_length_scales(scales)),
        Err(e) => return Done::failed(id, ImageFailure::Score(e.to_string()), source),
    };
    let RoiLabels {
        planes: pl,
        flat,
        labels,
    } = labelled;
    let prior_x = prep.aorta_centre_x();
    let at = |factor: f32| {
        let t = thresholds.map(|t| (t * factor).min(0.99));
        crate::roi_labels::scores_of_cleared(&pl, t, prior_x)
            .map(|x| x.with_length_scales(scales))
            .unwrap_or(s)
    };
    let [looser, stricter] = super::uncertainty::THRESHOLD_FACTORS.map(at);
    let lengths = located.spacing.map(|sp| {
        let x = s.midline_x.unwrap_or_else(|| prep.aorta_centre_x());
        wall_lengths_mm(&labels, &s, &row_lengths_mm(&prep.roi, x, sp))
    });
    let (mut flags, mut messages) = flags_for(
        prep.fraction_inside,
        prep.shape_mahalanobis,
        b.header.ssm.n_modes(),
        &flat,
        &pl,
        thresholds[0].min(thresholds[1]),
    );
    if disagree {
        // The points do not fit the image: aac_warp::check_landmarks_against_image.
        flags.push(QcFlag::LandmarksDisagreeWithImage);
        messages.push(
            "landmarks disagree with the image: fewer than 3 of L1-L4 as the points outline them are brighter than the soft tissue in front with bone behind (points mirrored, of another scan, or misplaced)"
                .to_string(),
        );
    }
    if prep.roi.layout.is_fallback() {
        flags.push(QcFlag::RoiBandAdjusted);
        messages.push(
            "ROI band adjusted: the band predicted from the points folded, so it was laid out along the spine's normal or narrowed"
                .to_string(),
        );
    }
    messages.extend(located.spacing_note.iter().cloned());
    // The finder's verdict: from this run, or from the `aac landmarks` run
    // that wrote the given points.
    let note = cfg.finder_notes.get(id);
    let confidence = match (&located.found, note) {
        (Some(f), _) => {
            if f.uncertain() {
                flags.push(QcFlag::LandmarksUncertain);
                messages.push(format!("found landmarks in doubt: {}", f.doubts.join("; ")));
            }
            if !f.cue.is_empty() {
                messages.push(f.cue.clone());
            }
            format!("{:.3}", f.confidence)
        }
        (None, Some(n)) => {
            if n.flagged {
                flags.push(QcFlag::LandmarksUncertain);
                messages.push(format!("found landmarks in doubt: {}", n.message));
            }
            n.confidence.clone()
        }
        (None, None) => String::new(),
    };
    let uncertainty = super::uncertainty::uncertainty(
        &s,
        &looser,
        &stricter,
        located.found.as_ref().map(|f| f.confidence),
    );
    let row = Row {
        id: id.to_string(),
        scores: score_fields(&s, Grouping::default(), lengths),
        status: Status::of_flags(&flags),
        message: messages.join("; "),
        flags,
        landmarks: source,
        landmark_confidence: confidence,
        pixel_spacing_mm: located.spacing.map(spacing_cell).unwrap_or_default(),
        uncertainty: format!("{uncertainty:.3}"),
    };
    let overlay = cfg.overlays.then(|| {
        draw_overlay(
            &located.img,
            &located.spine,
            located.found.is_some(),
            &prep,
            &pred,
            &labels,
            &s,
            (id, &row.flags),
        )
    });
    Done {
        row,
        overlay,
        points: Some(located.spine),
    }
}

/// A pixel spacing as written in scores.csv: one number when square, else
/// `ROWxCOL` (mm).
pub(super) fn spacing_cell([r, c]: [f64; 2]) -> String {
    if r == c {
        format!("{r}")
    } else {
        format!("{r}x{c}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_spacing_outside_the_range_is_refused_with_a_note_and_the_flag_used() {
        let ok = resolve_spacing(Some([0.3, 0.3]), Some([0.5, 0.5]));
        assert_eq!((ok.mm, ok.note), (Some([0.3, 0.3]), None));
        for bad in [f64::INFINITY, 1e308, 1e6, 1e-9] {
            let r = resolve_spacing(Some([bad, bad]), None);
            assert_eq!(r.mm, None, "{bad}");
            let note = r.note.unwrap();
            assert!(
                note.contains("outside") && note.contains("refused"),
                "{note}"
            );
            let r = resolve_spacing(Some([bad, bad]), Some([0.4, 0.4]));
            assert_eq!(r.mm, Some([0.4, 0.4]));
            assert!(r.note.unwrap().contains("--pixel-spacing used"));
        }
        let none = resolve_spacing(None, Some([0.4, 0.4]));
        assert_eq!((none.mm, none.note), (Some([0.4, 0.4]), None));
    }
}
