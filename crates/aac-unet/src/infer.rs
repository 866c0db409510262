//! Inference with a saved U-net: batched probability planes for warped ROIs.

use crate::model_file::{self, ModelFileError, UnetHeader};
use crate::net::UNet;
use crate::photometric::normalise;
use crate::train::predict_batch;
use burn::prelude::*;
use rayon::prelude::*;
use std::path::Path;

/// A loaded U-net ready for inference (eval mode, CPU).
pub struct UnetModel {
    /// The network.
    pub net: UNet,
    /// Its header.
    pub header: UnetHeader,
    device: Device,
}

impl UnetModel {
    /// Loads a model file.
    pub fn load(path: &Path) -> Result<UnetModel, ModelFileError> {
        let device = crate::device();
        let (net, header) = model_file::load(path, &device)?;
        Ok(UnetModel {
            net,
            header,
            device,
        })
    }

    /// From in-memory model bytes (e.g. inside a bundle).
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<UnetModel, ModelFileError> {
        let device = crate::device();
        let (net, header) = model_file::from_bytes(bytes, &device, origin)?;
        Ok(UnetModel {
            net,
            header,
            device,
        })
    }

    /// Probability planes (classes x 256 x 128) for raw warped ROIs, in batches.
    pub fn predict(&self, rois: &[Vec<f32>], batch: usize) -> Vec<Vec<Vec<f32>>> {
        let normed: Vec<Vec<f32>> = rois.iter().map(|r| normalise(r)).collect();
        // Batches in flight on every core: one network call alone leaves
        // cores idle between its layers.
        let batches: Vec<Vec<Vec<Vec<f32>>>> = normed
            .par_chunks(batch.max(1))
            .map(|chunk| {
                let inputs: Vec<&[f32]> = chunk.iter().map(|v| v.as_slice()).collect();
                predict_batch(&self.net, &inputs, self.header.config.classes, &self.device)
            })
            .collect();
        batches.into_iter().flatten().collect()
    }
}
