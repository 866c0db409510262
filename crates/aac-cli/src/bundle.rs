//! The deployable model bundle (`aac train bundle` writes it, `aac predict`
//! reads it): one file with a magic line, a JSON header line (shape model,
//! training metadata) and the 2-class U-net's model bytes.

use aac_shape::ShapeModel;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// First line of a bundle file.
pub const MAGIC: &[u8] = b"AAC-BUNDLE\n";
/// Bundle format version.
pub const VERSION: u32 = 1;

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
    /// Probability threshold chosen on the validation images.
    pub threshold: f32,
    /// The shape model.
    pub ssm: ShapeModel,
}

/// A loaded bundle.
pub struct Bundle {
    /// Header.
    pub header: BundleHeader,
    /// The U-net.
    pub unet: aac_unet::UnetModel,
}

/// FNV-1a 64-bit hash, for fingerprinting training data (not security).
pub fn fnv1a(data: &[u8], mut h: u64) -> u64 {
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Writes a bundle atomically.
pub fn save(path: &Path, header: &BundleHeader, unet_bytes: &[u8]) -> Result<()> {
    let mut out = MAGIC.to_vec();
    out.extend(serde_json::to_vec(header)?);
    out.push(b'\n');
    out.extend_from_slice(unet_bytes);
    aac_io::write_bytes_atomic(path, &out)?;
    Ok(())
}

/// Reads and checks a bundle.
pub fn load(path: &Path) -> Result<Bundle> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
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
    if v.get("version").and_then(|x| x.as_u64()) != Some(VERSION as u64) {
        bail!(
            "{}: bundle version {} is not supported (expected {VERSION})",
            path.display(),
            v.get("version")
                .map(|x| x.to_string())
                .unwrap_or("?".into())
        );
    }
    let header: BundleHeader = serde_json::from_value(v)
        .with_context(|| format!("{}: corrupt bundle header", path.display()))?;
    header
        .ssm
        .validate()
        .with_context(|| format!("{}: bundle shape model", path.display()))?;
    let unet = aac_unet::UnetModel::from_bytes(&rest[nl + 1..], path)?;
    if unet.header.config.classes != 2 {
        bail!("{}: the bundle's U-net must have 2 classes", path.display());
    }
    Ok(Bundle { header, unet })
}
