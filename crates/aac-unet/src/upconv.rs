//! The U-net's 2x2 stride-2 transposed convolution (with bias) as matrix
//! products, for burn's `flex` CPU backend.
//!
//! Why this exists: burn's generic transposed-convolution backward pass was
//! a tenth of a width-16 training step (`examples/unet_profile.rs`). With
//! kernel = stride = 2 every output pixel comes from exactly one input pixel,
//! so per image the layer is one product `Z = Wt X` (Wt: [4 O, C], the kernel
//! taps as rows; X: [C, h w]) followed by interleaving Z's four tap planes
//! into the 2h x 2w output; the gradients are the two transposed products.
//! GPU builds use burn's layer.

use crate::flex_util::{flex_from, gemm_parallelism, FlexTensor};
use crate::gemm_checked::Layout;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Dispatch, Flex};
use burn::nn::conv::ConvTranspose2d;
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

/// The backend operation.
#[backend_extension(Autodiff, Flex)]
pub trait UpConvBackend: burn::backend::Backend {
    /// `x` [N, C, h, w], `weight` [C, O, 2, 2], `bias` [O] -> [N, O, 2h, 2w].
    fn upconv2x2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    t.layout().shape().dims()
}

/// `dst (m x n) = lhs (m x k) * rhs (k x n)`, with `dst` dense row-major and
/// the inputs given by (row stride, column stride) pairs; bounds-checked by
/// [`crate::gemm_checked::product`].
fn product(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    parallelism: gemm::Parallelism,
) {
    crate::gemm_checked::product(
        (m, n, k),
        dst,
        Layout::new(0, n, 1),
        false,
        lhs,
        Layout::new(0, lhs_rs, lhs_cs),
        rhs,
        Layout::new(0, rhs_rs, rhs_cs),
        parallelism,
    );
}

fn forward(x: &FlexTensor, weight: &FlexTensor, bias: &FlexTensor) -> FlexTensor {
    let (x, weight, bias) = (
        x.to_contiguous(),
        weight.to_contiguous(),
        bias.to_contiguous(),
    );
    let [n, c, h, w] = dims4(&x);
    let [_, o, _, _] = dims4(&weight);
    assert_eq!(dims4(&weight), [c, o, 2, 2], "upconv: weight shape");
    assert_eq!(bias.layout().shape().dims::<1>(), [o], "upconv: bias shape");
    let (xs, ws, bs): (&[f32], &[f32], &[f32]) = (x.storage(), weight.storage(), bias.storage());
    let hw = h * w;
    let par = gemm_parallelism(n);
    let mut y = vec![0f32; n * o * 4 * hw];
    y.par_chunks_mut(o * 4 * hw)
        .enumerate()
        .for_each(|(b, yb)| {
            let x = &xs[b * c * hw..(b + 1) * c * hw];
            upconv_image(x, (c, h, w), ws, bs, yb, par, &mut Vec::new());
        });
    flex_from(y, vec![n, o, 2 * h, 2 * w])
}

/// One image `x` [c, h, w] through the 2x2 stride-2 transposed convolution
/// with weight `ws` [c, o, 2, 2] and bias `bs` [o], into `y` [o, 2h, 2w];
/// `z` holds the four taps' products on the way.
pub(crate) fn upconv_image(
    x: &[f32],
    (c, h, w): (usize, usize, usize),
    ws: &[f32],
    bs: &[f32],
    y: &mut [f32],
    par: gemm::Parallelism,
    z: &mut Vec<f32>,
) {
    let (o, hw) = (bs.len(), h * w);
    debug_assert_eq!(y.len(), 4 * o * hw);
    z.clear();
    z.resize(4 * o * hw, 0.0);
    // Wt [4O, C] is W [C, O, 2, 2] read at (row 1, col 4O); z is 4O x hw.
    product((4 * o, hw, c), z, ws, (1, 4 * o), x, (hw, 1), par);
    for oc in 0..o {
        for tap in 0..4 {
            let (a, bb) = (tap / 2, tap % 2);
            let plane = &z[(oc * 4 + tap) * hw..(oc * 4 + tap + 1) * hw];
            for i in 0..h {
                let row = &mut y[(oc * 2 * h + 2 * i + a) * 2 * w..][..2 * w];
                for j in 0..w {
                    row[2 * j + bb] = plane[i * w + j] + bs[oc];
                }
            }
        }
    }
}

/// The four tap planes of image `b` of the output gradient, as dZ [4O, hw].
fn gather_taps(dys: &[f32], b: usize, o: usize, h: usize, w: usize) -> Vec<f32> {
    let hw = h * w;
    let mut dz = vec![0f32; 4 * o * hw];
    let image = &dys[b * o * 4 * hw..(b + 1) * o * 4 * hw];
    for oc in 0..o {
        for tap in 0..4 {
            let (a, bb) = (tap / 2, tap % 2);
            let plane = &mut dz[(oc * 4 + tap) * hw..(oc * 4 + tap + 1) * hw];
            for i in 0..h {
                let row = &image[(oc * 2 * h + 2 * i + a) * 2 * w..][..2 * w];
                for j in 0..w {
                    plane[i * w + j] = row[2 * j + bb];
                }
            }
        }
    }
    dz
}

#[derive(Debug)]
struct UpConvBackward;

impl Backward<Flex, 3> for UpConvBackward {
    /// Input and weight.
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, weight) = ops.state;
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let [n, c, h, w] = dims4(&x);
        let [_, o, _, _] = dims4(&weight);
        let hw = h * w;
        let (xs, ws, dys): (&[f32], &[f32], &[f32]) = (x.storage(), weight.storage(), dy.storage());
        let par = gemm_parallelism(n);
        // Per image: dX = Wt^T dZ, dW = X dZ^T, dbias = row sums of dZ.
        let per_image: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> = (0..n)
            .into_par_iter()
            .map(|b| {
                let dz = gather_taps(dys, b, o, h, w);
                let xb = &xs[b * c * hw..(b + 1) * c * hw];
                let mut dx = vec![0f32; c * hw];
                let mut dw = vec![0f32; c * 4 * o];
                // Wt^T [C, 4O] is W read row-major; dZ is 4O x hw;
                // X [C, hw]; dZ^T [hw, 4O] is dZ read at (row 1, col hw).
                product((c, hw, 4 * o), &mut dx, ws, (4 * o, 1), &dz, (hw, 1), par);
                product((c, 4 * o, hw), &mut dw, xb, (hw, 1), &dz, (1, hw), par);
                let db: Vec<f32> = (0..o)
                    .map(|oc| dz[oc * 4 * hw..(oc + 1) * 4 * hw].iter().sum())
                    .collect();
                (dx, dw, db)
            })
            .collect();
        let mut dx = Vec::with_capacity(n * c * hw);
        let mut dw = vec![0f32; c * 4 * o];
        let mut db = vec![0f32; o];
        for (x_i, w_i, b_i) in per_image {
            dx.extend(x_i);
            dw.iter_mut().zip(w_i).for_each(|(t, v)| *t += v);
            db.iter_mut().zip(b_i).for_each(|(t, v)| *t += v);
        }
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex_from(dx, vec![n, c, h, w]));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, flex_from(dw, vec![c, o, 2, 2]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, flex_from(db, vec![o]));
        }
    }
}

impl UpConvBackend for Flex {
    fn upconv2x2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        forward(&x, &weight, &bias)
    }
}

impl<C: CheckpointStrategy> UpConvBackend for Autodiff<Flex, C> {
    fn upconv2x2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        match UpConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, w) = (x.into_primitive(), weight.into_primitive());
                let out = forward(&x, &w, bias.primitive());
                prep.finish((x, w), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(forward(x.primitive(), weight.primitive(), bias.primitive()))
            }
        }
    }
}

/// `layer` (a 2x2, stride-2 transposed convolution with bias) applied to `x`
/// [N, C, h, w]: through the products above on the CPU for f32, otherwise
/// burn's own layer.
pub fn upconv(layer: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    let plain = layer.stride == [2, 2]
        && layer.kernel_size == [2, 2]
        && layer.dilation == [1, 1]
        && layer.groups == 1
        && layer.padding == [0, 0]
        && layer.padding_out == [0, 0];
    let [n, c, h, w] = x.dims();
    let [wc, o, _, _] = layer.weight.dims();
    // Mismatched or empty shapes go to burn, which reports them itself.
    let fits = plain && n * c * h * w * o > 0 && wc == c && x.dtype() == DType::F32;
    let bias = match &layer.bias {
        Some(b) if fits && !cfg!(feature = "gpu") && b.dims() == [o] => b.val(),
        _ => return layer.forward(x),
    };
    Tensor::from_dispatch(<Dispatch as UpConvBackend>::upconv2x2(
        x.into_dispatch(),
        layer.weight.val().into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// burn's transposed convolution with the U-net's options (for the tests).
#[cfg(test)]
fn reference(x: Tensor<4>, layer: &ConvTranspose2d) -> Tensor<4> {
    use burn::tensor::ops::ConvTransposeOptions;
    burn::tensor::module::conv_transpose2d(
        x,
        layer.weight.val(),
        layer.bias.as_ref().map(|b| b.val()),
        ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::ConvTranspose2dConfig;
    use burn::tensor::Distribution;

    fn max_abs_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    #[test]
    fn matches_burns_transposed_convolution_and_its_gradients() {
        let dev = Device::flex().autodiff();
        dev.seed(9);
        let layer = ConvTranspose2dConfig::new([6, 3], [2, 2])
            .with_stride([2, 2])
            .init(&dev);
        let x = Tensor::<4>::random([2, 6, 5, 4], Distribution::Normal(0.0, 1.0), &dev);
        let t = Tensor::<4>::random([2, 3, 10, 8], Distribution::Normal(0.0, 1.0), &dev);
        let run = |ours: bool| {
            let x = x.clone().require_grad();
            let y = if ours {
                upconv(&layer, x.clone())
            } else {
                reference(x.clone(), &layer)
            };
            let grads = (y.clone() * t.clone()).sum().backward();
            let bias = layer.bias.as_ref().unwrap();
            (
                y,
                x.grad(&grads).unwrap(),
                layer.weight.grad(&grads).unwrap(),
                bias.grad(&grads).unwrap().reshape([1, 1, 1, 3]),
            )
        };
        let (y1, gx1, gw1, gb1) = run(true);
        let (y0, gx0, gw0, gb0) = run(false);
        assert_eq!(y1.dims(), [2, 3, 10, 8]);
        assert!(max_abs_diff(y1, y0) < 1e-4, "output");
        assert!(max_abs_diff(gx1, gx0) < 1e-4, "input gradient");
        assert!(max_abs_diff(gw1, gw0) < 1e-3, "weight gradient");
        assert!(max_abs_diff(gb1, gb0) < 1e-3, "bias gradient");
    }
}
