//! The U-net model file: a magic line, a JSON header line (format, version,
//! network config, threshold, training metadata), then burn's record bytes.

use crate::net::sequential_ids;
use crate::net::{UNet, UNetConfig};
#[cfg(test)]
use burn::module::{ModuleMapper, Param, ParamId};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// First line of every U-net model file.
pub const MAGIC: &[u8] = b"AAC-UNET\n";
/// The `format` field.
pub const FORMAT: &str = "aac-unet";
/// The file version.
pub const VERSION: u32 = 1;
/// Most output channels a model file may declare: 2 for segmentation, one
/// per point for the landmark finder's heatmap networks.
pub const MAX_CLASSES: usize = 32;

/// Everything about a trained network except its weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnetHeader {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// Network configuration.
    pub config: UNetConfig,
    /// Probability threshold chosen on validation data, or kept as given
    /// (`TrainConfig::threshold`).
    pub threshold: f32,
    /// Validation Dice at the kept epoch.
    pub val_dice: Option<f64>,
    /// Epoch kept (1-based).
    pub epoch: usize,
    /// Whether photometric augmentation was used.
    pub photometric: bool,
    /// Epochs whose mean the weights are (the last of them is `epoch`); 0
    /// for one epoch's weights.
    #[serde(default)]
    pub averaged: usize,
}

impl UnetHeader {
    /// The header of a network trained with photometric augmentation and
    /// no segmentation threshold to choose (the landmark finder's heatmap
    /// networks, the trials' networks): threshold 0.5, no validation Dice,
    /// one epoch's weights.
    pub fn unthresholded(config: UNetConfig, epoch: usize) -> UnetHeader {
        UnetHeader {
            format: FORMAT.into(),
            version: VERSION,
            config,
            threshold: 0.5,
            val_dice: None,
            epoch,
            photometric: true,
            averaged: 0,
        }
    }
}

/// Errors reading or writing model files.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// Not a model file or a broken one.
    #[error("{path}: {message}")]
    Bad {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A network or header could not be serialised.
    #[error("cannot serialise the network: {0}")]
    Serialise(String),
    /// The file could not be written.
    #[error(transparent)]
    Io(#[from] aac_io::IoError),
}

fn bad(path: &Path, message: impl Into<String>) -> ModelFileError {
    ModelFileError::Bad {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Serialises a network (in eval mode) and its header to bytes: the same
/// weights, the same bytes.
pub fn to_bytes(net: &UNet, header: &UnetHeader) -> Result<Vec<u8>, ModelFileError> {
    let record = sequential_ids(net.valid())
        .into_record()
        .into_bytes()
        .map_err(|e| ModelFileError::Serialise(format!("{e:?}")))?;
    let mut out = MAGIC.to_vec();
    out.extend(serde_json::to_vec(header).map_err(|e| ModelFileError::Serialise(e.to_string()))?);
    out.push(b'\n');
    out.extend_from_slice(&record);
    Ok(out)
}

/// Parses bytes written by [`to_bytes`] into a network on `dev`.
pub fn from_bytes(
    bytes: &[u8],
    dev: &Device,
    path: &Path,
) -> Result<(UNet, UnetHeader), ModelFileError> {
    if !bytes.starts_with(MAGIC) {
        return Err(bad(path, "not a U-net model file"));
    }
    let rest = &bytes[MAGIC.len()..];
    let nl = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| bad(path, "truncated U-net model file"))?;
    let header: UnetHeader = serde_json::from_slice(&rest[..nl])
        .map_err(|e| bad(path, format!("corrupt U-net header: {e}")))?;
    if header.format != FORMAT {
        return Err(bad(
            path,
            format!("not a U-net model (format {:?})", header.format),
        ));
    }
    if header.version != VERSION {
        return Err(bad(
            path,
            format!(
                "U-net model version {} is not supported (expected {VERSION})",
                header.version
            ),
        ));
    }
    let c = &header.config;
    if !(1..=MAX_CLASSES).contains(&c.classes)
        || c.width == 0
        || c.width > 256
        || c.depth == 0
        || c.depth > 6
    {
        return Err(bad(
            path,
            "corrupt U-net header (impossible network configuration)",
        ));
    }
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(rest[nl + 1..].to_vec()))
        .map_err(|e| bad(path, format!("corrupt U-net weights: {e:?}")))?;
    let net = UNet::new(c, dev).try_load_record(record).map_err(|e| {
        bad(
            path,
            format!("U-net weights do not match the header: {e:?}"),
        )
    })?;
    // Files written before 0.8.1 carry burn's random ids; in memory every network
    // has the sequential ones, so an optimizer's checkpointed state (keyed
    // by id) matches the network read back.
    Ok((sequential_ids(net), header))
}

/// Writes a model file atomically.
pub fn save(path: &Path, net: &UNet, header: &UnetHeader) -> Result<(), ModelFileError> {
    let bytes = to_bytes(net, header)?;
    aac_io::write_bytes_atomic(path, &bytes)?;
    Ok(())
}

/// Reads a model file.
pub fn load(path: &Path, dev: &Device) -> Result<(UNet, UnetHeader), ModelFileError> {
    let bytes = aac_io::read_capped(path, aac_io::input::MAX_MODEL_BYTES)
        .map_err(|e| bad(path, e.to_string()))?;
    from_bytes(&bytes, dev, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives every parameter and running statistic a fresh random id, as
    /// another process making the same network would.
    struct FreshIds;

    impl ModuleMapper for FreshIds {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (_, value, mapper) = p.consume();
            Param::from_mapped_value(ParamId::new(), value, mapper)
        }
    }

    fn fresh_ids(net: UNet) -> UNet {
        let mut net = net.map(&mut FreshIds);
        crate::net::renumber_running_stats(&mut net, ParamId::new);
        net
    }

    #[test]
    fn the_same_weights_give_the_same_bytes_whatever_ids_burn_drew() {
        let dev = Device::flex();
        let cfg = UNetConfig {
            classes: 2,
            width: 2,
            depth: 2,
            dropout: 0.0,
            prior: 0.01,
            coords: true,
            rows: false,
        };
        let net = UNet::new(&cfg, &dev);
        let twin = fresh_ids(net.clone());
        // burn writes the ids with the weights: the raw records differ.
        let raw = |n: &UNet| n.valid().into_record().into_bytes().unwrap().to_vec();
        assert_ne!(raw(&net), raw(&twin));
        let header = UnetHeader {
            format: FORMAT.into(),
            version: VERSION,
            config: cfg,
            threshold: 0.5,
            val_dice: None,
            epoch: 0,
            photometric: false,
            averaged: 0,
        };
        assert!(to_bytes(&net, &header).unwrap() == to_bytes(&twin, &header).unwrap());
    }
}
