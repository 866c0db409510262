//! Training-mode batch normalisation fused into a few passes over memory, for
//! burn's `flex` CPU backend.
//!
//! Why this exists: `flex` runs burn's generic batch-norm training op, which
//! swaps the batch and channel axes (a full copy) for each statistic and then
//! normalises with four broadcast element-wise operations; its backward pass
//! does the same again. That was a quarter of a training step at width 16
//! (`examples/unet_profile.rs`). Here the statistics, the normalisation and
//! the gradients each take one parallel pass over the NCHW data, with the
//! per-channel sums in f64.
//!
//! The layer keeps burn's `BatchNorm` module (its parameters, running
//! statistics and record format); only the arithmetic moves here. At
//! inference the running statistics fold into one per-channel scale and
//! shift, applied in one pass. GPU builds use burn's own batch norm.

use crate::flex_util::{flex_from, FlexTensor};
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Dispatch, Flex};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

/// The backend operations.
#[backend_extension(Autodiff, Flex)]
pub trait BatchNormBackend: burn::backend::Backend {
    /// Batch norm of `x` [N, C, ...] with its own batch statistics, scaled by
    /// `gamma` and shifted by `beta` (both [C]); differentiable in all three.
    fn batch_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;

    /// Per-channel mean and biased variance of `x` [N, C, ...] as a [2, C]
    /// tensor (not differentiable).
    fn channel_statistics(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `x * scale + shift` per channel (`scale`, `shift`: [C]) in one pass:
    /// batch norm at inference, with the running statistics folded in.
    fn channel_affine(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// `x * scale + shift` per channel, one parallel pass.
fn affine(x: &FlexTensor, scale: &FlexTensor, shift: &FlexTensor) -> FlexTensor {
    let shape = x.layout().shape().to_vec();
    let (x, _, c, pixels) = nchw(x);
    let (scale, shift) = (scale.to_contiguous(), shift.to_contiguous());
    let (xs, a, b): (&[f32], &[f32], &[f32]) = (x.storage(), scale.storage(), shift.storage());
    let mut out = vec![0f32; xs.len()];
    out.par_chunks_mut(pixels)
        .zip(xs.par_chunks(pixels))
        .enumerate()
        .for_each(|(i, (o, xb))| {
            let (a, b) = (a[i % c], b[i % c]);
            for (o, &v) in o.iter_mut().zip(xb) {
                *o = v * a + b;
            }
        });
    flex_from(out, shape)
}

/// A contiguous version of a `flex` tensor (a copy only if it is not
/// contiguous already), with its (batch, channels, pixels per channel).
fn nchw(t: &FlexTensor) -> (FlexTensor, usize, usize, usize) {
    let t = t.to_contiguous();
    let dims = t.layout().shape().to_vec();
    let (n, c) = (dims[0], dims[1]);
    let pixels = dims[2..].iter().product();
    (t, n, c, pixels)
}

/// Per-channel mean and biased variance (f64 sums over (batch, pixel) blocks).
fn statistics(x: &[f32], n: usize, c: usize, pixels: usize) -> (Vec<f64>, Vec<f64>) {
    let blocks: Vec<(f64, f64)> = x
        .par_chunks(pixels)
        .map(|b| {
            b.iter().fold((0.0, 0.0), |(s, q), &v| {
                let v = v as f64;
                (s + v, q + v * v)
            })
        })
        .collect();
    let count = (n * pixels) as f64;
    let mut mean = vec![0.0; c];
    let mut var = vec![0.0; c];
    for (i, (s, q)) in blocks.iter().enumerate() {
        mean[i % c] += s;
        var[i % c] += q;
    }
    for ch in 0..c {
        mean[ch] /= count;
        var[ch] = (var[ch] / count - mean[ch] * mean[ch]).max(0.0);
    }
    (mean, var)
}

/// Normalised output, batch means and inverse standard deviations.
fn forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    epsilon: f64,
) -> (FlexTensor, Vec<f32>, Vec<f32>) {
    let shape = x.layout().shape().to_vec();
    let (x, n, c, pixels) = nchw(x);
    let (gamma, beta) = (gamma.to_contiguous(), beta.to_contiguous());
    let (xs, g, b): (&[f32], &[f32], &[f32]) = (x.storage(), gamma.storage(), beta.storage());
    let (mean, var) = statistics(xs, n, c, pixels);
    let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let inv_std: Vec<f32> = var
        .iter()
        .map(|&v| (1.0 / (v + epsilon).sqrt()) as f32)
        .collect();
    let mut out = vec![0f32; xs.len()];
    out.par_chunks_mut(pixels)
        .zip(xs.par_chunks(pixels))
        .enumerate()
        .for_each(|(i, (o, xb))| {
            let ch = i % c;
            // (v - mean) * scale + beta, as burn computes it: folding the mean
            // into the shift loses precision when |mean| >> sd.
            let (m, scale, shift) = (mean[ch], g[ch] * inv_std[ch], b[ch]);
            for (o, &v) in o.iter_mut().zip(xb) {
                *o = (v - m) * scale + shift;
            }
        });
    (flex_from(out, shape), mean, inv_std)
}

impl BatchNormBackend for Flex {
    fn batch_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        forward(&x, &gamma, &beta, epsilon).0
    }

    fn channel_statistics(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let (x, n, c, pixels) = nchw(&x);
        let (mean, var) = statistics(x.storage(), n, c, pixels);
        let values = mean.iter().chain(&var).map(|&v| v as f32).collect();
        flex_from(values, vec![2, c])
    }

    fn channel_affine(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        affine(&x, &scale, &shift)
    }
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    /// Input, gamma, batch means, inverse standard deviations.
    type State = (FlexTensor, FlexTensor, Vec<f32>, Vec<f32>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, gamma, mean, inv_std) = ops.state;
        let (x, n, c, pixels) = nchw(&x);
        let (dy, _, _, _) = nchw(&dy);
        let gamma = gamma.to_contiguous();
        let (xs, dys, g): (&[f32], &[f32], &[f32]) = (x.storage(), dy.storage(), gamma.storage());
        // Per (batch, channel) block: sum of dy and of dy * xhat.
        let blocks: Vec<(f64, f64)> = xs
            .par_chunks(pixels)
            .zip(dys.par_chunks(pixels))
            .enumerate()
            .map(|(i, (xb, db))| {
                let (m, s) = (mean[i % c], inv_std[i % c]);
                xb.iter().zip(db).fold((0.0, 0.0), |(a, b), (&v, &d)| {
                    (a + d as f64, b + (d * (v - m) * s) as f64)
                })
            })
            .collect();
        let mut sum_dy = vec![0f64; c];
        let mut sum_dy_xhat = vec![0f64; c];
        for (i, (a, b)) in blocks.iter().enumerate() {
            sum_dy[i % c] += a;
            sum_dy_xhat[i % c] += b;
        }
        if let Some(node) = node_x {
            let count = (n * pixels) as f64;
            let mut dx = vec![0f32; xs.len()];
            dx.par_chunks_mut(pixels)
                .zip(xs.par_chunks(pixels).zip(dys.par_chunks(pixels)))
                .enumerate()
                .for_each(|(i, (o, (xb, db)))| {
                    let ch = i % c;
                    let (m, s) = (mean[ch], inv_std[ch]);
                    let scale = g[ch] * s;
                    let mean_dy = (sum_dy[ch] / count) as f32;
                    let mean_dy_xhat = (sum_dy_xhat[ch] / count) as f32;
                    for ((o, &v), &d) in o.iter_mut().zip(xb).zip(db) {
                        *o = scale * (d - mean_dy - (v - m) * s * mean_dy_xhat);
                    }
                });
            grads.register::<Flex>(node.id, flex_from(dx, x.layout().shape().to_vec()));
        }
        if let Some(node) = node_gamma {
            let v = sum_dy_xhat.iter().map(|&v| v as f32).collect();
            grads.register::<Flex>(node.id, flex_from(v, vec![c]));
        }
        if let Some(node) = node_beta {
            let v = sum_dy.iter().map(|&v| v as f32).collect();
            grads.register::<Flex>(node.id, flex_from(v, vec![c]));
        }
    }
}

impl<C: CheckpointStrategy> BatchNormBackend for Autodiff<Flex, C> {
    fn batch_norm_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        match BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, gamma) = (x.into_primitive(), gamma.into_primitive());
                let (out, mean, inv_std) = forward(&x, &gamma, beta.primitive(), epsilon);
                prep.finish((x, gamma, mean, inv_std), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(forward(x.primitive(), gamma.primitive(), beta.primitive(), epsilon).0)
            }
        }
    }

    fn channel_statistics(x: FloatTensor<Self>) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(Flex::channel_statistics(x.into_primitive()))
    }

    /// Only [`batch_norm`]'s inference path calls this, never on an autodiff
    /// device; should it be, the result is correct but not differentiable.
    fn channel_affine(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(affine(x.primitive(), scale.primitive(), shift.primitive()))
    }
}

/// `layer` applied to `x` [N, C, H, W]: in training (an autodiff device and
/// the layer not frozen) with the fused kernels above, updating the running
/// statistics as burn's `BatchNorm` does; at inference (a plain device) as
/// one affine pass; a frozen layer on an autodiff device by burn's own pass.
pub fn batch_norm(layer: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    if cfg!(feature = "gpu") || x.dtype() != DType::F32 || x.shape().num_elements() == 0 {
        return layer.forward(x);
    }
    if !x.device().is_autodiff() {
        return inference(layer, x);
    }
    if !layer.training.is_enabled() {
        return layer.forward(x);
    }
    let stats = Tensor::<2>::from_dispatch(<Dispatch as BatchNormBackend>::channel_statistics(
        x.clone().detach().into_dispatch(),
    ));
    let c = layer.gamma.val().dims()[0];
    let mean = stats.clone().slice([0..1, 0..c]).reshape([c]);
    let var = stats.slice([1..2, 0..c]).reshape([c]);
    let momentum = layer.momentum;
    let device = x.device();
    let running_mean = layer.running_mean.value_sync().to_device(&device);
    let running_var = layer.running_var.value_sync().to_device(&device);
    layer.running_mean.update(
        running_mean
            .mul_scalar(1.0 - momentum)
            .add(mean.mul_scalar(momentum))
            .detach(),
    );
    layer.running_var.update(
        running_var
            .mul_scalar(1.0 - momentum)
            .add(var.mul_scalar(momentum))
            .detach(),
    );
    Tensor::from_dispatch(<Dispatch as BatchNormBackend>::batch_norm_fused(
        x.into_dispatch(),
        layer.gamma.val().into_dispatch(),
        layer.beta.val().into_dispatch(),
        layer.epsilon,
    ))
}

/// Batch norm with the running statistics, as one per-channel affine pass.
fn inference(layer: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let mean = layer.running_mean.value().to_device(&device);
    let var = layer.running_var.value().to_device(&device);
    let scale = layer.gamma.val() / var.add_scalar(layer.epsilon).sqrt();
    let shift = layer.beta.val() - mean * scale.clone();
    Tensor::from_dispatch(<Dispatch as BatchNormBackend>::channel_affine(
        x.into_dispatch(),
        scale.into_dispatch(),
        shift.into_dispatch(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    #[test]
    fn matches_burns_batch_norm_gradients_and_running_statistics() {
        let dev = Device::flex().autodiff();
        dev.seed(5);
        let x = Tensor::<4>::random([3, 4, 6, 5], Distribution::Normal(2.0, 3.0), &dev);
        let t = Tensor::<4>::random([3, 4, 6, 5], Distribution::Normal(0.0, 1.0), &dev);
        let gamma = Tensor::<1>::random([4], Distribution::Normal(1.0, 0.5), &dev);
        let beta = Tensor::<1>::random([4], Distribution::Normal(0.0, 0.5), &dev);
        let run = |fused: bool| {
            let mut layer = BatchNormConfig::new(4).init(&dev);
            layer.gamma = burn::module::Param::from_tensor(gamma.clone());
            layer.beta = burn::module::Param::from_tensor(beta.clone());
            let x = x.clone().require_grad();
            let y = if fused {
                batch_norm(&layer, x.clone())
            } else {
                layer.forward(x.clone())
            };
            let grads = (y.clone() * t.clone()).sum().backward();
            (
                y,
                x.grad(&grads).unwrap(),
                layer.gamma.grad(&grads).unwrap(),
                layer.beta.grad(&grads).unwrap(),
                layer.running_mean.value_sync(),
                layer.running_var.value_sync(),
            )
        };
        let a = run(true);
        let b = run(false);
        assert!(max_abs_diff(a.0, b.0) < 1e-4, "output");
        assert!(max_abs_diff(a.1, b.1) < 1e-4, "input gradient");
        assert!(max_abs_diff(a.2, b.2) < 1e-3, "gamma gradient");
        assert!(max_abs_diff(a.3, b.3) < 1e-3, "beta gradient");
        assert!(max_abs_diff(a.4, b.4) < 1e-5, "running mean");
        assert!(max_abs_diff(a.5, b.5) < 1e-4, "running variance");
    }

    #[test]
    fn inference_matches_burns_batch_norm() {
        let dev = Device::flex();
        let mut layer = BatchNormConfig::new(3).init(&dev);
        let c = |v: [f32; 3]| Tensor::<1>::from_floats(v, &dev);
        layer.gamma = burn::module::Param::from_tensor(c([0.5, 2.0, -1.0]));
        layer.beta = burn::module::Param::from_tensor(c([0.1, -0.3, 0.7]));
        layer.running_mean = burn::module::RunningState::new(c([1.0, -2.0, 0.5]));
        layer.running_var = burn::module::RunningState::new(c([4.0, 0.25, 1.5]));
        let x = Tensor::<4>::random([2, 3, 5, 4], Distribution::Normal(0.0, 2.0), &dev);
        let ours = batch_norm(&layer, x.clone());
        let burns = layer.forward(x);
        assert!(max_abs_diff(ours, burns) < 1e-5);
    }
}
