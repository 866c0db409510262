//! Segmentation by a trained model (`aac segment`): loading warped ROIs,
//! the random forest's feature export, any model file as a [`Segmenter`],
//! writing probability maps and masks. U-net training is in
//! [`crate::unet_training`].

use crate::progress::bar;
use aac_io::{
    read_image, read_mask, write_mask, write_png16, Dataset, Gray16, ROI_HEIGHT, ROI_WIDTH,
};
use aac_rf::{RfModel, RoiCase, TrainParams};
use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Loads the warped cases of a dataset (masks from `mask_dir` if present).
pub fn load_rois(ds: &Dataset, ids: &[String], mask_dir: Option<&str>) -> Result<Vec<RoiCase>> {
    ids.par_iter()
        .map(|id| {
            let img = read_image(&ds.image_path(id))?;
            if img.dimensions() != (ROI_WIDTH, ROI_HEIGHT) {
                bail!(
                    "{}: image is {}x{}, a warped ROI must be {ROI_WIDTH}x{ROI_HEIGHT} (run `aac warp` first)",
                    ds.image_path(id).display(),
                    img.width(),
                    img.height()
                );
            }
            let mask = match mask_dir {
                Some(d) => Some(read_mask(&ds.mask_path(id, d), Some((ROI_WIDTH, ROI_HEIGHT)))?),
                None => None,
            };
            Ok(RoiCase { width: ROI_WIDTH, height: ROI_HEIGHT, image: aac_io::image_io::to_f32(&img), mask })
        })
        .collect()
}

/// Writes the random forest's training feature matrix (features.f32,
/// labels.u8, shape.json) to `dir`, for the benchmark.
pub fn export_features(dir: &Path, train: &[RoiCase], p: &TrainParams) -> Result<()> {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(p.forest.seed);
    let features = aac_rf::haar::random_features(&mut rng, p.features.max(1));
    let (x, y) = aac_rf::model::training_matrix(train, &features, p, p.forest.seed ^ 0x5eed);
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    aac_io::write_bytes_atomic(&dir.join("features.f32"), &bytes)?;
    aac_io::write_bytes_atomic(&dir.join("labels.u8"), &y)?;
    let shape = serde_json::json!({"rows": y.len(), "cols": features.len(), "dtype": "float32 little-endian, row-major"});
    aac_io::write_string_atomic(&dir.join("shape.json"), &shape.to_string())?;
    Ok(())
}

/// A loaded segmentation model.
pub enum Segmenter {
    /// Random forest.
    Rf(RfModel),
    /// U-net.
    Unet(Box<aac_unet::UnetModel>),
}

impl Segmenter {
    /// Loads any supported model file.
    pub fn load(path: &Path) -> Result<Segmenter> {
        let head = aac_io::read_capped(path, aac_io::input::MAX_MODEL_BYTES)?;
        let text = String::from_utf8_lossy(&head[..head.len().min(200)]).to_string();
        if text.contains("\"aac-rf\"") {
            return Ok(Segmenter::Rf(RfModel::load(path)?));
        }
        if head.starts_with(aac_unet::model_file::MAGIC) {
            let unet = aac_unet::UnetModel::load(path)?;
            if unet.header.config.classes > 2 {
                bail!(
                    "{}: a U-net with {} output channels is not a segmentation model (1 or 2 classes)",
                    path.display(),
                    unet.header.config.classes
                );
            }
            return Ok(Segmenter::Unet(Box::new(unet)));
        }
        bail!("{}: not an aac segmentation model (expected a file from `aac train rf` or `aac train unet`)", path.display())
    }

    /// Probability planes (classes) of each ROI.
    pub fn predict(&self, cases: &[RoiCase]) -> Vec<Vec<Vec<f32>>> {
        match self {
            Segmenter::Rf(m) => cases
                .iter()
                .map(|c| m.response(&c.image, c.width, c.height))
                .collect(),
            Segmenter::Unet(u) => {
                let rois: Vec<Vec<f32>> = cases.iter().map(|c| c.image.clone()).collect();
                u.predict(&rois)
            }
        }
    }

    /// The default threshold.
    pub fn threshold(&self) -> f32 {
        match self {
            Segmenter::Rf(m) => m.threshold,
            Segmenter::Unet(u) => u.header.threshold,
        }
    }

    /// Number of output classes.
    pub fn classes(&self) -> usize {
        match self {
            Segmenter::Rf(m) => m.classes,
            Segmenter::Unet(u) => u.header.config.classes,
        }
    }
}

/// The spine points of a warped dataset's image (`aac warp` writes them in
/// warped pixels), or none when it has no landmark file.
fn warped_spine(ds: &Dataset, id: &str) -> Result<Vec<aac_io::Point>> {
    let path = ds.landmarks_path(id);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let mut pts = crate::dataset_util::read_landmarks_any(&path)?;
    pts.truncate(aac_io::N_SPINE);
    Ok(pts)
}

fn prob_png(plane: &[f32]) -> Gray16 {
    let data = plane
        .iter()
        .map(|&p| (p.clamp(0.0, 1.0) * 65535.0).round() as u16)
        .collect();
    Gray16::from_raw(ROI_WIDTH, ROI_HEIGHT, data).expect("size matches")
}

/// Writes one image's segmentation: prob/<id>.png (P(calcified), 16-bit),
/// for 2 classes also prob_ant/ and prob_post/, and masks/<id>.png, labelled
/// as `aac predict` labels ([`crate::roi_labels`]; `roi` is the warped image,
/// `spine` its 20 spine points in warped pixels, empty when unknown).
pub fn write_segmentation(
    out: &Path,
    id: &str,
    roi: &[f32],
    spine: &[aac_io::Point],
    planes: &[Vec<f32>],
    threshold: f32,
) -> Result<()> {
    let any: Vec<f32> = if planes.len() == 1 {
        planes[0].clone()
    } else {
        planes[0]
            .iter()
            .zip(&planes[1])
            .map(|(a, p)| a.max(*p))
            .collect()
    };
    write_png16(&out.join("prob").join(format!("{id}.png")), &prob_png(&any))?;
    if planes.len() == 2 {
        write_png16(
            &out.join("prob_ant").join(format!("{id}.png")),
            &prob_png(&planes[0]),
        )?;
        write_png16(
            &out.join("prob_post").join(format!("{id}.png")),
            &prob_png(&planes[1]),
        )?;
    }
    write_mask(
        &out.join("masks").join(format!("{id}.png")),
        &crate::roi_labels::roi_labels(roi, planes, spine, [threshold, threshold]).labels,
    )?;
    Ok(())
}

/// Settings of [`segment_dataset`].
#[derive(Debug, Clone)]
pub struct SegmentConfig {
    /// Model file (`aac train rf` or `aac train unet`).
    pub model: PathBuf,
    /// Warped dataset.
    pub data: PathBuf,
    /// Output directory (prob/, masks/, images/).
    pub out: PathBuf,
    /// Probability threshold (None: the model's, chosen on validation data).
    pub threshold: Option<aac_score::Threshold>,
}

/// What [`segment_dataset`] did.
#[derive(Debug, Clone, Copy)]
pub struct SegmentSummary {
    /// Images segmented.
    pub n_images: usize,
    /// Output classes of the model.
    pub classes: usize,
    /// The threshold used.
    pub threshold: f32,
    /// Seconds taken.
    pub seconds: f64,
}

/// Segments every image of a warped dataset with a model file (`aac
/// segment`): probability maps, masks and the warped images.
pub fn segment_dataset(a: &SegmentConfig) -> Result<SegmentSummary> {
    let model = Segmenter::load(&a.model)?;
    let threshold = match a.threshold {
        Some(t) => t.get(),
        None => aac_score::Threshold::new(model.threshold())
            .with_context(|| format!("{}: the model's threshold", a.model.display()))?
            .get(),
    };
    let ds = Dataset::open(&a.data)?;
    let ids = ds.ids();
    let pb = bar(ids.len() as u64, "segment");
    let t0 = std::time::Instant::now();
    for chunk in ids.chunks(8) {
        let cases = load_rois(&ds, chunk, None)?;
        let all = model.predict(&cases);
        for ((id, c), planes) in chunk.iter().zip(&cases).zip(&all) {
            let spine = warped_spine(&ds, id)?;
            write_segmentation(&a.out, id, &c.image, &spine, planes, threshold)?;
            let img = Gray16::from_raw(
                ROI_WIDTH,
                ROI_HEIGHT,
                c.image.iter().map(|&v| v as u16).collect(),
            )
            .expect("a warped ROI has the ROI's size");
            write_png16(&a.out.join("images").join(format!("{id}.png")), &img)?;
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    Ok(SegmentSummary {
        n_images: ids.len(),
        classes: model.classes(),
        threshold,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warped_datasets_spine_points_are_read_when_present() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("images")).unwrap();
        std::fs::create_dir_all(root.join("landmarks")).unwrap();
        let img = Gray16::new(ROI_WIDTH, ROI_HEIGHT);
        for id in ["a", "b", "c"] {
            write_png16(&root.join("images").join(format!("{id}.png")), &img).unwrap();
        }
        let pts: Vec<aac_io::Point> = (0..30)
            .map(|i| aac_io::Point::new(10.0 + i as f64, 8.0 * i as f64))
            .collect();
        aac_io::write_pts(&root.join("landmarks").join("a.pts"), &pts).unwrap();
        std::fs::write(root.join("landmarks").join("c.pts"), "not points").unwrap();
        let ds = Dataset::open(root).unwrap();
        // The 20 spine points of a 30-point file; none without a file.
        assert_eq!(warped_spine(&ds, "a").unwrap(), pts[..20].to_vec());
        assert!(warped_spine(&ds, "b").unwrap().is_empty());
        // A file that is there but unreadable is an error naming it.
        let e = warped_spine(&ds, "c").unwrap_err();
        assert!(format!("{e:#}").contains("c.pts"), "{e:#}");
    }
}
