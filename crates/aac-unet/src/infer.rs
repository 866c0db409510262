//! Inference with a saved U-net: batched probability planes for warped ROIs.

use crate::model_file::{self, ModelFileError, UnetHeader};
use crate::net::UNet;
use crate::photometric::normalise;
use burn::prelude::*;
use std::path::Path;

/// A network ready for inference. On the CPU through
/// [`crate::fused::FusedUNet`], one image per thread; with the `gpu` feature
/// through burn's own layers in batches of 4.
pub struct Inference {
    net: UNet,
    #[cfg(not(feature = "gpu"))]
    fused: crate::fused::FusedUNet,
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    device: Device,
}

impl Inference {
    /// An eval-mode network (as loaded from a model file) on `device`.
    pub fn new(net: UNet, device: Device) -> Inference {
        Inference {
            #[cfg(not(feature = "gpu"))]
            fused: crate::fused::FusedUNet::new(&net),
            net,
            device,
        }
    }

    /// The network.
    pub fn net(&self) -> &UNet {
        &self.net
    }

    /// The segmentation network's probability planes (one sigmoid per
    /// class, each plane 256 x 128) for normalised warped ROIs.
    pub fn probabilities(&self, inputs: &[&[f32]]) -> Vec<Vec<Vec<f32>>> {
        let (h, w) = (aac_io::ROI_HEIGHT as usize, aac_io::ROI_WIDTH as usize);
        self.logits(inputs, (h, w))
            .into_iter()
            .map(|logits| {
                logits
                    .chunks(h * w)
                    .map(|plane| plane.iter().map(|&l| sigmoid(l)).collect())
                    .collect()
            })
            .collect()
    }

    /// The logits [channels, h, w] of each normalised image [h, w].
    pub fn logits(&self, inputs: &[&[f32]], (h, w): (usize, usize)) -> Vec<Vec<f32>> {
        #[cfg(not(feature = "gpu"))]
        {
            use rayon::prelude::*;
            // Whole images per thread where there are enough of them (no
            // synchronisation between layers), else each layer's tiles
            // across the threads.
            if inputs.len() >= rayon::current_num_threads() {
                inputs
                    .par_iter()
                    .map_init(crate::fused::Workspace::default, |ws, x| {
                        self.fused.logits_in(x, (h, w), ws)
                    })
                    .collect()
            } else {
                inputs
                    .iter()
                    .map(|x| self.fused.logits_across_threads(x, (h, w)))
                    .collect()
            }
        }
        #[cfg(feature = "gpu")]
        {
            inputs
                .chunks(4)
                .flat_map(|chunk| {
                    let n = chunk.len();
                    let xs: Vec<f32> = chunk.iter().flat_map(|s| s.iter().copied()).collect();
                    let x = Tensor::<4>::from_data(TensorData::new(xs, [n, 1, h, w]), &self.device);
                    let out: Vec<f32> = self
                        .net
                        .forward(x)
                        .into_data()
                        .convert::<f32>()
                        .try_into_vec::<f32>()
                        .unwrap_or_default();
                    let per = out.len() / n.max(1);
                    out.chunks(per.max(1))
                        .map(<[f32]>::to_vec)
                        .collect::<Vec<_>>()
                })
                .collect()
        }
    }
}

/// A loaded U-net ready for inference (eval mode).
pub struct UnetModel {
    /// The network.
    pub inference: Inference,
    /// Its header.
    pub header: UnetHeader,
}

impl UnetModel {
    /// Loads a model file.
    pub fn load(path: &Path) -> Result<UnetModel, ModelFileError> {
        let device = crate::device();
        let (net, header) = model_file::load(path, &device)?;
        Ok(UnetModel {
            inference: Inference::new(net, device),
            header,
        })
    }

    /// From in-memory model bytes (e.g. inside a bundle).
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<UnetModel, ModelFileError> {
        let device = crate::device();
        let (net, header) = model_file::from_bytes(bytes, &device, origin)?;
        Ok(UnetModel {
            inference: Inference::new(net, device),
            header,
        })
    }

    /// Probability planes (classes x 256 x 128) for raw warped ROIs.
    pub fn predict<R: AsRef<[f32]>>(&self, rois: &[R]) -> Vec<Vec<Vec<f32>>> {
        let normed: Vec<Vec<f32>> = rois.iter().map(|r| normalise(r.as_ref())).collect();
        let inputs: Vec<&[f32]> = normed.iter().map(|v| v.as_slice()).collect();
        self.inference.probabilities(&inputs)
    }
}

/// The logistic function.
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
