//! 2x2 max-pooling with stride 2, fast on burn's `flex` CPU backend.
//!
//! Why this exists: `flex` pools through its general kernel, which records
//! the index of every maximum (for the gradient) even at inference and was
//! about 9% of the landmark finder's time. Here the forward pass only takes
//! maxima; the gradient recomputes where each maximum was from the saved
//! input (ties go to the first of the window in row-major order, as in
//! burn's kernel). Odd sizes and other element types go to burn's own.
//! GPU builds (`--features gpu`) use burn's pooling as is.

use crate::flex_util::{flex_from, FlexTensor};
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Dispatch, Flex};
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

/// The backend operation: `max_pool2x2(x [N, C, H, W]) -> [N, C, H/2, W/2]`
/// for even H and W.
#[backend_extension(Autodiff, Flex)]
pub trait MaxPool2x2Backend: burn::backend::Backend {
    /// 2x2 max-pooling, stride 2, of a tensor with even height and width.
    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl MaxPool2x2Backend for Flex {
    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        forward(&x)
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, input_gradient(&ops.state, &grad));
        }
    }
}

impl<C: CheckpointStrategy> MaxPool2x2Backend for Autodiff<Flex, C> {
    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match MaxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                let out = forward(&x);
                prep.finish(x, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(x.primitive())),
        }
    }
}

/// 2x2 max-pooling with stride 2 of `x` [N, C, H, W], differentiable: the
/// values and gradients of burn's `MaxPool2d` with kernel and stride 2.
pub fn max_pool2x2(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if cfg!(feature = "gpu") || x.dtype() != DType::F32 || h % 2 != 0 || w % 2 != 0 {
        return burns_pool(x);
    }
    Tensor::from_dispatch(<Dispatch as MaxPool2x2Backend>::max_pool2x2(
        x.into_dispatch(),
    ))
}

/// burn's own 2x2 max-pooling layer.
fn burns_pool(x: Tensor<4>) -> Tensor<4> {
    burn::nn::pool::MaxPool2dConfig::new([2, 2])
        .init()
        .forward(x)
}

/// Index within the 2x2 window (0..4, row-major) of its first maximum.
fn argmax(window: [f32; 4]) -> usize {
    let mut best = 0;
    for k in 1..4 {
        if window[k] > window[best] {
            best = k;
        }
    }
    best
}

/// The four values of the window at output (y, x) of a `w`-wide plane.
fn window(plane: &[f32], w: usize, y: usize, x: usize) -> [f32; 4] {
    let (r0, r1) = (2 * y * w + 2 * x, (2 * y + 1) * w + 2 * x);
    [plane[r0], plane[r0 + 1], plane[r1], plane[r1 + 1]]
}

fn forward(x: &FlexTensor) -> FlexTensor {
    let x = x.to_contiguous();
    let [n, c, h, w]: [usize; 4] = x.layout().shape().dims();
    let xs: &[f32] = x.storage();
    let (oh, ow) = (h / 2, w / 2);
    let mut out = vec![0f32; n * c * oh * ow];
    out.par_chunks_mut((oh * ow).max(1))
        .zip(xs.par_chunks((h * w).max(1)))
        .for_each(|(dst, plane)| pool_plane(plane, w, dst));
    flex_from(out, vec![n, c, oh, ow])
}

/// The 2x2 maxima of one `w`-wide plane into `dst` (half its width and
/// height).
pub(crate) fn pool_plane(plane: &[f32], w: usize, dst: &mut [f32]) {
    let ow = w / 2;
    for y in 0..dst.len() / ow.max(1) {
        for xx in 0..ow {
            let v = window(plane, w, y, xx);
            dst[y * ow + xx] = v[0].max(v[1]).max(v[2].max(v[3]));
        }
    }
}

fn input_gradient(x: &FlexTensor, dy: &FlexTensor) -> FlexTensor {
    let x = x.to_contiguous();
    let dy = dy.to_contiguous();
    let [n, c, h, w]: [usize; 4] = x.layout().shape().dims();
    let xs: &[f32] = x.storage();
    let dys: &[f32] = dy.storage();
    let (oh, ow) = (h / 2, w / 2);
    let mut dx = vec![0f32; n * c * h * w];
    dx.par_chunks_mut((h * w).max(1))
        .zip(xs.par_chunks((h * w).max(1)))
        .zip(dys.par_chunks((oh * ow).max(1)))
        .for_each(|((dst, plane), g)| {
            for y in 0..oh {
                for xx in 0..ow {
                    let k = argmax(window(plane, w, y, xx));
                    dst[(2 * y + k / 2) * w + 2 * xx + k % 2] = g[y * ow + xx];
                }
            }
        });
    flex_from(dx, vec![n, c, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn max_abs_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    #[test]
    fn matches_burns_pooling_and_its_gradient() {
        let dev = Device::flex().autodiff();
        dev.seed(5);
        let x = Tensor::<4>::random([2, 3, 8, 6], Distribution::Normal(0.0, 1.0), &dev);
        let t = Tensor::<4>::random([2, 3, 4, 3], Distribution::Normal(0.0, 1.0), &dev);
        let run = |fast: bool| {
            let x = x.clone().require_grad();
            let y = if fast {
                max_pool2x2(x.clone())
            } else {
                burns_pool(x.clone())
            };
            let grads = (y.clone() * t.clone()).sum().backward();
            (y, x.grad(&grads).unwrap())
        };
        let (y1, g1) = run(true);
        let (y0, g0) = run(false);
        assert_eq!(max_abs_diff(y1, y0), 0.0);
        assert_eq!(max_abs_diff(g1, g0), 0.0);
    }

    #[test]
    fn works_without_autodiff_and_on_odd_sizes() {
        let dev = Device::flex();
        let x = Tensor::<4>::from_data(
            TensorData::new((0..16).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 4, 4]),
            &dev,
        );
        let y: Vec<f32> = max_pool2x2(x).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(y, vec![5.0, 7.0, 13.0, 15.0]);
        let odd = Tensor::<4>::ones([1, 2, 5, 3], &dev);
        assert_eq!(max_pool2x2(odd).dims(), [1, 2, 2, 1]);
    }
}
