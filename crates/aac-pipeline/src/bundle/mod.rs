//! The deployable model bundle (`aac train bundle` writes it, `aac predict`
//! reads it): one file with a magic line, a JSON header line (shape model,
//! training metadata), a checksum line over both and the 2-class U-net's
//! model bytes, followed by the landmark finder's bytes when the header has a
//! `landmarks` section.

mod finetune;
mod shape_choice;
mod train;

pub use train::{train_bundle, BundleConfig};

use aac_shape::ShapeModel;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// First line of a bundle file.
pub const MAGIC: &[u8] = b"AAC-BUNDLE\n";
/// Bundle format version (2: with a checksum line).
pub const VERSION: u32 = 2;
/// Prefix of the checksum line.
const CHECKSUM_PREFIX: &[u8] = b"fnv1a64:";

/// The header of a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleHeader {
    /// Always "aac-bundle".
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// aac version that wrote it.
    pub aac_version: String,
    /// Creation time (seconds since the Unix epoch).
    pub created_unix: u64,
    /// FNV-1a hash of the training data (ids, landmarks, masks).
    pub data_hash: String,
    /// Training images (including validation).
    pub n_images: usize,
    /// Validation Dice of the kept U-net epoch.
    pub val_dsc: Option<f64>,
    /// Probability threshold chosen on the validation images (a fine-tuned
    /// bundle may carry its base's: `fine_tuned.threshold_chosen`).
    pub threshold: f32,
    /// The shape model.
    pub ssm: ShapeModel,
    /// How the U-net was trained (absent in bundles written before 0.1.0's
    /// training settings were recorded).
    #[serde(default)]
    pub training: Option<crate::unet_training::UnetTraining>,
    /// The landmark finder after the U-net's bytes (absent in bundles
    /// trained with `--no-landmarks` or by an older aac).
    #[serde(default)]
    pub landmarks: Option<LandmarkSection>,
    /// Thresholds per wall (anterior, posterior) chosen by `aac calibrate`;
    /// `threshold` for both walls when absent.
    #[serde(default)]
    pub wall_thresholds: Option<[f32; 2]>,
    /// Factors per wall (anterior, posterior) that `aac calibrate` chose
    /// to multiply measured calcified lengths by before the Kauppila rule
    /// (`aac_score::Scored::with_length_scales`); 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_scales: Option<[f32; 2]>,
    /// What `aac calibrate` did, when it made this bundle from another.
    #[serde(default)]
    pub calibration: Option<crate::calibrate::CalibrationRecord>,
    /// What fine-tuning started from and on what, when `aac train bundle
    /// --init` made this bundle.
    #[serde(default)]
    pub fine_tuned: Option<finetune::FineTuneRecord>,
}

/// Where the landmark finder lies in a bundle and how it was trained.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LandmarkSection {
    /// Byte length of the U-net's model bytes; the finder's follow them.
    pub unet_bytes: usize,
    /// How the finder was trained.
    pub training: aac_landmarks::FinderTraining,
}

/// A loaded bundle.
pub struct Bundle {
    /// Header.
    pub header: BundleHeader,
    /// The U-net.
    pub unet: aac_unet::UnetModel,
    /// The file's checksum (identifies the bundle in provenance records).
    pub checksum: String,
    /// The landmark finder, when the bundle has one.
    pub finder: Option<aac_landmarks::Finder>,
}

impl Bundle {
    /// The landmark finder, or an error saying how to get one.
    pub fn finder(&self, path: &Path) -> Result<&aac_landmarks::Finder> {
        self.finder.as_ref().with_context(|| {
            format!(
                "{}: this bundle has no landmark finder (trained with --no-landmarks or by an older aac): give the spine points with --landmarks, or retrain it with `aac train bundle`",
                path.display()
            )
        })
    }
}

/// Seconds since the Unix epoch (a bundle's `created_unix`).
fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// FNV-1a 64-bit hash, for fingerprinting training data (not security).
pub fn fnv1a(data: &[u8], mut h: u64) -> u64 {
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// The checksum of a bundle: FNV-1a over the header line and the model bytes.
/// It catches damaged or edited files, not deliberate forgery.
fn checksum(header_line: &[u8], unet_bytes: &[u8]) -> String {
    let h = fnv1a(unet_bytes, fnv1a(header_line, 0xcbf2_9ce4_8422_2325));
    format!("{h:016x}")
}

/// Writes a bundle atomically: `payload` is the U-net's model bytes, then
/// the finder's when `header.landmarks` says so.
pub fn save(path: &Path, header: &BundleHeader, payload: &[u8]) -> Result<()> {
    let header_line = serde_json::to_vec(header)?;
    let mut out = MAGIC.to_vec();
    out.extend(&header_line);
    out.push(b'\n');
    out.extend(CHECKSUM_PREFIX);
    out.extend(checksum(&header_line, payload).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload);
    aac_io::write_bytes_atomic(path, &out)?;
    Ok(())
}

/// Splits a version-2 bundle into header line, model bytes and the stored
/// checksum, checking the checksum.
fn split<'a>(path: &Path, bytes: &'a [u8]) -> Result<(&'a [u8], &'a [u8], String)> {
    let rest = &bytes[MAGIC.len().min(bytes.len())..];
    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
        bail!("{}: truncated model bundle", path.display())
    };
    let (header_line, rest) = (&rest[..nl], &rest[nl + 1..]);
    let Some(nl2) = rest.iter().position(|&b| b == b'\n') else {
        bail!("{}: truncated model bundle", path.display())
    };
    let stored = rest[..nl2]
        .strip_prefix(CHECKSUM_PREFIX)
        .and_then(|h| std::str::from_utf8(h).ok())
        .with_context(|| format!("{}: bundle has no checksum line", path.display()))?;
    let unet_bytes = &rest[nl2 + 1..];
    if checksum(header_line, unet_bytes) != stored {
        bail!(
            "{}: the bundle is damaged or was edited (checksum mismatch); use the file `aac train bundle` wrote",
            path.display()
        );
    }
    Ok((header_line, unet_bytes, stored.to_string()))
}

impl BundleHeader {
    /// The thresholds `aac predict` labels with by default: anterior,
    /// posterior.
    pub fn thresholds(&self) -> [f32; 2] {
        self.wall_thresholds.unwrap_or([self.threshold; 2])
    }

    /// The factors calcified lengths are read with: anterior, posterior
    /// (1 unless `aac calibrate` chose others).
    pub fn length_scales(&self) -> [f64; 2] {
        self.length_scales.unwrap_or([1.0; 2]).map(f64::from)
    }

    /// What a run record says of the bundle's training: when, by which aac,
    /// on how many images (and their fingerprint), validation Dice,
    /// threshold, and the training settings.
    pub fn training_summary(&self) -> serde_json::Value {
        serde_json::json!({
            "aac_version": self.aac_version,
            "created_unix": self.created_unix,
            "n_images": self.n_images,
            "data_hash": self.data_hash,
            "val_dsc": self.val_dsc,
            "threshold": self.threshold,
            "wall_thresholds": self.wall_thresholds,
            "length_scales": self.length_scales,
            "calibration": self.calibration,
            "fine_tuned": self.fine_tuned,
            "unet_training": self.training,
            "finder_training": self.landmarks.as_ref().map(|l| &l.training),
        })
    }
}

/// The networks' bytes of the bundle at `path` (checked): the U-net's, and
/// the finder's when it has one.
pub fn network_bytes(path: &Path, header: &BundleHeader) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    let bytes = aac_io::read_capped(path, aac_io::input::MAX_MODEL_BYTES)?;
    if !bytes.starts_with(MAGIC) {
        bail!("{}: not an aac model bundle", path.display());
    }
    let (_, payload, _) = split(path, &bytes)?;
    Ok(match &header.landmarks {
        Some(l) if l.unet_bytes <= payload.len() => {
            let (u, f) = payload.split_at(l.unet_bytes);
            (u.to_vec(), Some(f.to_vec()))
        }
        Some(_) => bail!("{}: truncated model bundle", path.display()),
        None => (payload.to_vec(), None),
    })
}

/// Writes the networks of the bundle at `base` (checked on the way) under
/// another header to `out`: a bundle made from another, as `aac calibrate`
/// makes one.
pub fn rewrite_header(base: &Path, header: &BundleHeader, out: &Path) -> Result<()> {
    let bytes = aac_io::read_capped(base, aac_io::input::MAX_MODEL_BYTES)?;
    if !bytes.starts_with(MAGIC) {
        bail!("{}: not an aac model bundle", base.display());
    }
    let (_, payload, _) = split(base, &bytes)?;
    save(out, header, payload)
}

/// Reads and checks a bundle.
pub fn load(path: &Path) -> Result<Bundle> {
    let bytes = aac_io::read_capped(path, aac_io::input::MAX_MODEL_BYTES)?;
    if !bytes.starts_with(MAGIC) {
        bail!(
            "{}: not an aac model bundle (train one with `aac train bundle`)",
            path.display()
        );
    }
    let rest = &bytes[MAGIC.len()..];
    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
        bail!("{}: truncated model bundle", path.display())
    };
    let v: serde_json::Value = serde_json::from_slice(&rest[..nl])
        .with_context(|| format!("{}: corrupt bundle header", path.display()))?;
    if v.get("version").and_then(|x| x.as_u64()) == Some(1) {
        bail!(
            "{}: bundle version 1 (no checksum) is no longer read; retrain it with `aac train bundle`",
            path.display()
        );
    }
    if v.get("version").and_then(|x| x.as_u64()) != Some(VERSION as u64) {
        bail!(
            "{}: bundle version {} is not supported (expected {VERSION})",
            path.display(),
            v.get("version")
                .map(|x| x.to_string())
                .unwrap_or("?".into())
        );
    }
    let (_, payload, checksum) = split(path, &bytes)?;
    let header: BundleHeader = serde_json::from_value(v)
        .with_context(|| format!("{}: corrupt bundle header", path.display()))?;
    let (unet_bytes, finder_bytes) = match &header.landmarks {
        Some(l) if l.unet_bytes <= payload.len() => {
            let (u, f) = payload.split_at(l.unet_bytes);
            (u, Some(f))
        }
        Some(_) => bail!("{}: truncated model bundle", path.display()),
        None => (payload, None),
    };
    let finder = finder_bytes
        .map(aac_landmarks::Finder::from_bytes)
        .transpose()
        .with_context(|| format!("{}: bundle landmark finder", path.display()))?;
    for t in header.thresholds() {
        if let Err(why) = aac_score::Threshold::new(t) {
            bail!("{}: bundle {why}", path.display());
        }
    }
    for f in header.length_scales() {
        if !(crate::calibrate::LENGTH_SCALE_RANGE.0..=crate::calibrate::LENGTH_SCALE_RANGE.1)
            .contains(&f)
        {
            bail!(
                "{}: bundle length scale {f} outside {}-{}",
                path.display(),
                crate::calibrate::LENGTH_SCALE_RANGE.0,
                crate::calibrate::LENGTH_SCALE_RANGE.1
            );
        }
    }
    header
        .ssm
        .validate()
        .with_context(|| format!("{}: bundle shape model", path.display()))?;
    let unet = aac_unet::UnetModel::from_bytes(unet_bytes, path)?;
    if unet.header.config.classes != 2 {
        bail!("{}: the bundle's U-net must have 2 classes", path.display());
    }
    // Finite weights give finite probabilities on any input.
    let probe = vec![0.0f32; (aac_io::ROI_WIDTH * aac_io::ROI_HEIGHT) as usize];
    if unet
        .predict(&[probe])
        .iter()
        .flatten()
        .flatten()
        .any(|p| !p.is_finite())
    {
        bail!(
            "{}: the bundle's U-net has non-finite weights",
            path.display()
        );
    }
    Ok(Bundle {
        header,
        unet,
        checksum,
        finder,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// A valid bundle file's bytes: an untrained width-2 U-net and a shape
    /// model fitted on synthetic landmarks.
    fn valid_bundle() -> &'static [u8] {
        static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
        BYTES.get_or_init(|| {
            let style = aac_synth::Style::hologic();
            let shapes: Vec<_> = (0..12)
                .map(|i| aac_synth::generate_case(3, i, &style, true).landmarks)
                .collect();
            let ssm = ShapeModel::fit(&shapes, 0.95, 0).unwrap();
            let config = aac_unet::net::UNetConfig {
                classes: 2,
                width: 2,
                depth: 2,
                dropout: 0.0,
                prior: -4.0,
                coords: true,
                rows: false,
            };
            let net = aac_unet::net::UNet::new(&config, &aac_unet::device());
            let unet_header = aac_unet::model_file::UnetHeader {
                format: aac_unet::model_file::FORMAT.into(),
                version: aac_unet::model_file::VERSION,
                config,
                threshold: 0.5,
                val_dice: None,
                epoch: 1,
                photometric: false,
                averaged: 0,
            };
            let unet_bytes = aac_unet::model_file::to_bytes(&net, &unet_header).unwrap();
            let header = BundleHeader {
                format: "aac-bundle".into(),
                version: VERSION,
                aac_version: "test".into(),
                created_unix: 0,
                data_hash: "0".into(),
                n_images: 12,
                val_dsc: None,
                threshold: 0.5,
                ssm,
                training: None,
                landmarks: None,
                wall_thresholds: None,
                length_scales: None,
                calibration: None,
                fine_tuned: None,
            };
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("b.aac");
            save(&p, &header, &unet_bytes).unwrap();
            std::fs::read(&p).unwrap()
        })
    }

    fn load_bytes(bytes: &[u8]) -> Result<Bundle> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.aac");
        std::fs::write(&p, bytes).unwrap();
        load(&p)
    }

    #[test]
    fn the_valid_bundle_loads() {
        let b = load_bytes(valid_bundle()).unwrap();
        assert!(b.finder.is_none());
        let e = b.finder(Path::new("m.aac")).err().unwrap();
        assert!(format!("{e}").contains("no landmark finder"), "{e}");
    }

    #[test]
    fn length_scales_are_read_from_the_header_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.aac");
        std::fs::write(&base, valid_bundle()).unwrap();
        let b = load(&base).unwrap();
        assert_eq!(b.header.length_scales(), [1.0, 1.0]);
        let mut h = b.header.clone();
        h.length_scales = Some([1.3, 0.8]);
        let out = dir.path().join("scaled.aac");
        rewrite_header(&base, &h, &out).unwrap();
        let scales = load(&out).unwrap().header.length_scales();
        assert!((scales[0] - 1.3).abs() < 1e-6 && (scales[1] - 0.8).abs() < 1e-6);
        h.length_scales = Some([3.0, 1.0]);
        let bad = dir.path().join("bad.aac");
        rewrite_header(&base, &h, &bad).unwrap();
        let e = format!("{:#}", load(&bad).err().unwrap());
        assert!(e.contains("length scale 3") && e.contains("bad.aac"), "{e}");
    }

    /// Untrained width-2 networks of the finder's two shapes.
    fn untrained_finder() -> Vec<u8> {
        let net = |classes: usize| {
            let config = aac_unet::net::UNetConfig {
                classes,
                width: 2,
                depth: 2,
                dropout: 0.0,
                prior: 0.01,
                coords: true,
                rows: true,
            };
            let header = aac_unet::model_file::UnetHeader {
                format: aac_unet::model_file::FORMAT.into(),
                version: aac_unet::model_file::VERSION,
                config: config.clone(),
                threshold: 0.5,
                val_dice: None,
                epoch: 1,
                photometric: false,
                averaged: 0,
            };
            let n = aac_unet::net::UNet::new(&config, &aac_unet::device());
            aac_unet::model_file::to_bytes(&n, &header).unwrap()
        };
        let header = aac_landmarks::finder::FinderHeader {
            format: aac_landmarks::finder::FORMAT.into(),
            version: aac_landmarks::finder::VERSION,
            coarse_sigma: 1.5,
            fine_sigma: 2.0,
            uncertain_below: 0.3,
            val_error: None,
            coarse_bytes: 0,
            fine_grid: aac_landmarks::Grid::FULL,
            fine_bytes: None,
        };
        aac_landmarks::Finder::to_bytes(&header, &net(3), &net(aac_io::N_SPINE))
    }

    #[test]
    fn a_bundle_with_a_finder_loads_it_and_a_wrong_split_is_refused() {
        let plain = load_bytes(valid_bundle()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let unet_bytes = {
            let bytes = valid_bundle();
            let (_, payload, _) = split(Path::new("b"), bytes).unwrap();
            payload.to_vec()
        };
        let finder = untrained_finder();
        let mut payload = unet_bytes.clone();
        payload.extend_from_slice(&finder);
        let mut header = plain.header.clone();
        header.landmarks = Some(LandmarkSection {
            unet_bytes: unet_bytes.len(),
            training: aac_landmarks::FinderTraining::default(),
        });
        let p = dir.path().join("f.aac");
        save(&p, &header, &payload).unwrap();
        let b = load(&p).unwrap();
        assert!(b.finder(&p).is_ok());
        // A header whose split point does not match the bytes: refused,
        // naming the file, however the checksum was made to match.
        for wrong in [unet_bytes.len() - 1, payload.len() + 1] {
            header.landmarks.as_mut().unwrap().unet_bytes = wrong;
            save(&p, &header, &payload).unwrap();
            let e = load(&p).err().expect("a wrong split loaded");
            assert!(format!("{e:#}").contains("f.aac"), "{e:#}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any changed byte anywhere is refused with an error naming the
        /// file, never a panic and never a bundle that loads.
        #[test]
        fn any_changed_byte_is_refused(at in 0.0f64..1.0, xor in 1u8..=255) {
            let mut bytes = valid_bundle().to_vec();
            let i = ((bytes.len() - 1) as f64 * at) as usize;
            bytes[i] ^= xor;
            let err = load_bytes(&bytes).err().expect("a damaged bundle loaded");
            prop_assert!(format!("{err:#}").contains("m.aac"), "{err:#}");
        }

        /// Any truncation is refused.
        #[test]
        fn any_truncation_is_refused(at in 0.0f64..1.0) {
            let bytes = valid_bundle();
            let n = ((bytes.len() - 1) as f64 * at) as usize;
            prop_assert!(load_bytes(&bytes[..n]).is_err());
        }
    }
}
