//! A 3x3 'same' convolution (stride 1, zero padding 1, no bias) whose
//! training step is fast on burn's `flex` CPU backend.
//!
//! Why this exists: burn's autodiff computes a convolution's weight gradient
//! as a second convolution, of the batch-swapped input with the batch-swapped
//! output gradient used as a full-image kernel. On `flex` that takes 7-10
//! times as long as the forward convolution at the U-net's first level
//! (`examples/unet_profile.rs` measures it) and was two thirds of a training
//! step. Here the forward pass, the input gradient and the weight gradient
//! are matrix products done by the `gemm` crate (the one `flex` itself
//! uses) on the zero-padded images: per cache-sized tile of output
//! positions for the first two, nine per image (one per kernel tap) for
//! the weight gradient. Small images (the bottom level), other element types
//! and mismatched shapes go to `flex`'s own kernels.
//!
//! The operation is a burn backend extension for `flex` (with and without
//! autodiff). GPU builds (`--features gpu`) use burn's convolution as is.

use crate::flex_util::{flex_from, gemm_parallelism, FlexTensor};
use crate::gemm_checked::{product, Layout};
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::ops::{ConvOptions, ConvTransposeOptions, FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Dispatch, Flex};
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

fn same_options() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], 1)
}

/// The backend operation: `conv3x3(x [N, C, H, W], w [O, C, 3, 3]) -> [N, O, H, W]`.
#[backend_extension(Autodiff, Flex)]
pub trait Conv3x3Backend: burn::backend::Backend {
    /// A 3x3 convolution, stride 1, zero padding 1, no bias.
    fn conv3x3(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl Conv3x3Backend for Flex {
    fn conv3x3(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        forward(&x, &weight)
    }
}

#[derive(Debug)]
struct Conv3x3Backward;

impl Backward<Flex, 2> for Conv3x3Backward {
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, weight) = ops.state;
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, weight_gradient(&x, &grad));
        }
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, input_gradient(&grad, &weight));
        }
    }
}

impl<C: CheckpointStrategy> Conv3x3Backend for Autodiff<Flex, C> {
    fn conv3x3(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        match Conv3x3Backward
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, w) = (x.into_primitive(), weight.into_primitive());
                let out = forward(&x, &w);
                prep.finish((x, w), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(x.primitive(), weight.primitive())),
        }
    }
}

/// A 3x3 'same' convolution without bias of `x` [N, C, H, W] with `weight`
/// [O, C, 3, 3], differentiable in both. Same values as burn's `conv2d` with
/// padding 1; faster to train on the `flex` backend.
pub fn conv3x3(x: Tensor<4>, weight: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as Conv3x3Backend>::conv3x3(
        x.into_dispatch(),
        weight.into_dispatch(),
    ))
}

/// Below this many pixels per image (the U-net's bottom level, 16 x 8) burn's
/// own weight gradient is as fast or faster: there the products are short
/// and wide, and one image per thread leaves the wide product unthreaded.
const SMALL_IMAGE: usize = 256;

/// dL/dw for a 3x3 'same' convolution: `dw[o, c, ky, kx] = sum over n, y, x of
/// dy[n, o, y, x] * xpad[n, c, y + ky, x + kx]`.
///
/// Both images are laid out on the padded row length `W + 2`, with the output
/// gradient's two extra columns zero. Then for each tap the shifted input is a
/// plain strided matrix (row `c`, column `p` at `c * plane + offset + p`), and
/// the tap's gradient is one matrix product `dy [O, L] x xpad_tap^T [L, C]`.
fn weight_gradient(x: &FlexTensor, dy: &FlexTensor) -> FlexTensor {
    let [n, c, h, w]: [usize; 4] = x.layout().shape().dims();
    let [dn, o, dh, dw]: [usize; 4] = dy.layout().shape().dims();
    let fits = x.dtype() == DType::F32
        && dy.dtype() == DType::F32
        && h * w >= SMALL_IMAGE
        && (dn, dh, dw) == (n, h, w)
        && n * c * o > 0;
    if !fits {
        return generic_weight_gradient(x.clone(), dy.clone());
    }
    let x = x.to_contiguous();
    let dy = dy.to_contiguous();
    let [n, c, h, w]: [usize; 4] = x.layout().shape().dims();
    let [_, o, _, _]: [usize; 4] = dy.layout().shape().dims();
    let xs: &[f32] = x.storage();
    let dys: &[f32] = dy.storage();
    let row = w + 2;
    let plane = (h + 2) * row;
    let len = h * row;
    let par = gemm_parallelism(n);
    let one_image = |b: usize| -> Vec<f32> {
        {
            let xpad = padded_planes(&xs[b * c * h * w..(b + 1) * c * h * w], c, h, w);
            let mut dypad = vec![0f32; o * len];
            for oc in 0..o {
                for y in 0..h {
                    let src = ((b * o + oc) * h + y) * w;
                    let dst = oc * len + y * row;
                    dypad[dst..dst + w].copy_from_slice(&dys[src..src + w]);
                }
            }
            let mut dw = vec![0f32; o * c * 9];
            for ky in 0..3 {
                for kx in 0..3 {
                    let tap = ky * 3 + kx;
                    let offset = ky * row + kx;
                    // dw[oc, ch, tap] = dy[oc, :] . xpad[ch, offset + :]
                    product(
                        (o, c, len),
                        &mut dw,
                        Layout::new(tap, 9 * c, 9),
                        false,
                        &dypad,
                        Layout::new(0, len, 1),
                        &xpad,
                        Layout::new(offset, 1, plane),
                        par,
                    );
                }
            }
            dw
        }
    };
    let per_image: Vec<Vec<f32>> = if matches!(par, gemm::Parallelism::None) {
        (0..n).into_par_iter().map(one_image).collect()
    } else {
        (0..n).map(one_image).collect()
    };
    let mut total = vec![0f32; o * c * 9];
    for dw in per_image {
        for (t, v) in total.iter_mut().zip(dw) {
            *t += v;
        }
    }
    flex_from(total, vec![o, c, 3, 3])
}

/// `channels` planes of `h x w` values, each copied into a zero border of one
/// pixel (rows of `w + 2`, planes of `(h + 2) * (w + 2)`), plus two trailing
/// zeros: the taps of the two padding columns of the last row read up to two
/// elements past the last plane (their products are with zeros, but the
/// reads must stay inside the buffer).
fn padded_planes(src: &[f32], channels: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(channels * (h + 2) * (w + 2) + 2);
    push_padded(&mut out, src, channels, h, w);
    out.extend_from_slice(&[0.0, 0.0]);
    out
}

/// Appends the planes of `src` [channels, h, w] to `out`, each in its zero
/// border, as [`padded_planes`] lays them out (without the two trailing
/// zeros, so that several tensors can follow each other: a concatenation
/// along the channels at no extra cost).
pub(crate) fn push_padded(out: &mut Vec<f32>, src: &[f32], channels: usize, h: usize, w: usize) {
    let row = w + 2;
    debug_assert_eq!(src.len(), channels * h * w);
    // Written once, border and values in order: zero-filling the whole
    // buffer first and copying over it was a tenth of inference time.
    for ch in 0..channels {
        out.resize(out.len() + row + 1, 0.0);
        for y in 0..h {
            let s = (ch * h + y) * w;
            out.extend_from_slice(&src[s..s + w]);
            out.extend_from_slice(&[0.0, 0.0]);
        }
        out.resize(out.len() + row - 1, 0.0);
    }
}

/// The weight matrix of one kernel tap inside a [O, C, 3, 3] weight buffer:
/// element (row, column) of tap `k` is at `tap(k) + row * row_stride +
/// column * col_stride`.
struct TapMatrices {
    row_stride: usize,
    col_stride: usize,
    tap: fn(usize) -> usize,
}

/// Floats of one output tile of [`correlate`] (128 KiB, so that it stays
/// in the core's cache while the product fills it).
const TILE_FLOATS: usize = 32 * 1024;
/// Floats of a tile's stacked inputs (the nine shifted copies of its input
/// positions, 256 KiB).
const COL_FLOATS: usize = 64 * 1024;
/// Fewest output positions per tile, so that each product keeps some
/// length however many channels there are.
const MIN_TILE: usize = 256;

/// One image's 3x3 correlation with zero padding 1, as [`correlate`]
/// computes it: `rows` output channels from `cin` input ones of `h x w`,
/// with the weights arranged by [`arrange_taps`].
pub(crate) struct Correlation<'a> {
    /// Weights [3 (ky), rows, cin * 3 (j, kx)].
    pub wm: &'a [f32],
    /// Output channels.
    pub rows: usize,
    /// Input channels.
    pub cin: usize,
    /// Image height.
    pub h: usize,
    /// Image width.
    pub w: usize,
}

/// The weights of a correlation as [`Correlation`] reads them: one
/// [rows, cin * 3] matrix per kernel row `ky`, element (r, j * 3 + kx) the
/// weight of input channel `j` at tap `k = ky * 3 + kx` for output `r`,
/// given by `weight(r, j, k)`.
pub(crate) fn arrange_taps(
    rows: usize,
    cin: usize,
    weight: impl Fn(usize, usize, usize) -> f32,
) -> Vec<f32> {
    let mut wm = Vec::with_capacity(9 * rows * cin);
    for ky in 0..3 {
        for r in 0..rows {
            for j in 0..cin {
                for kx in 0..3 {
                    wm.push(weight(r, j, ky * 3 + kx));
                }
            }
        }
    }
    wm
}

/// The work buffers of one thread's tiles, kept between tiles (and layers)
/// so that no tile allocates or zero-fills.
#[derive(Default)]
pub(crate) struct TileScratch {
    col: Vec<f32>,
    prod: Vec<f32>,
}

impl Correlation<'_> {
    /// Positions of the padded row length per tile.
    fn tile(&self) -> usize {
        (TILE_FLOATS / self.rows.max(1))
            .min(COL_FLOATS / (9 * self.cin))
            .max(MIN_TILE)
            .min(self.len())
    }

    /// Output positions on the padded row length (`h * (w + 2)`).
    fn len(&self) -> usize {
        self.h * (self.w + 2)
    }

    /// Number of tiles.
    fn tiles(&self) -> usize {
        self.len().div_ceil(self.tile())
    }

    /// The [rows, tn] output of tile `t` of padded image `xpad` into
    /// `scratch.prod`. The three column shifts of every input channel are
    /// stacked over the tile's positions and the two rows after it (rows
    /// `j * 3 + kx`); each kernel row `ky` is then the same stack read `ky`
    /// rows further on, so three products over `3 * cin` terms give the
    /// output with a third of the copying of stacking all nine taps.
    /// Returns `tn`.
    fn tile_product(&self, xpad: &[f32], t: usize, scratch: &mut TileScratch) -> usize {
        let (row, tile) = (self.w + 2, self.tile());
        let plane = (self.h + 2) * row;
        let t0 = t * tile;
        let tn = tile.min(self.len() - t0);
        let span = tn + 2 * row;
        let k3 = 3 * self.cin;
        scratch.col.clear();
        for j in 0..self.cin {
            for kx in 0..3 {
                let at = j * plane + kx + t0;
                scratch.col.extend_from_slice(&xpad[at..at + span]);
            }
        }
        // Overwritten by the first product: only a longer tile than before
        // grows (and zero-fills) the buffer.
        if scratch.prod.len() < self.rows * tn {
            scratch.prod.resize(self.rows * tn, 0.0);
        }
        for ky in 0..3 {
            product(
                (self.rows, tn, k3),
                &mut scratch.prod,
                Layout::new(0, tn, 1),
                ky > 0,
                self.wm,
                Layout::new(ky * self.rows * k3, k3, 1),
                &scratch.col,
                Layout::new(ky * row, span, 1),
                gemm::Parallelism::None,
            );
        }
        tn
    }

    /// Copies tile `t` (`prod` [rows, tn]) into the image's unpadded
    /// output, skipping the two padding columns of each row; with `shift`,
    /// as `max(0, value + shift[r])` (a folded batch norm and its ReLU).
    fn scatter(&self, dst: &mut [f32], t: usize, prod: &[f32], tn: usize, shift: Option<&[f32]>) {
        let (h, w, row) = (self.h, self.w, self.w + 2);
        let t0 = t * self.tile();
        for y in t0 / row..=((t0 + tn - 1) / row).min(h - 1) {
            let from = t0.max(y * row);
            let to = (t0 + tn).min(y * row + w);
            if from >= to {
                continue;
            }
            for r in 0..self.rows {
                let d = (r * h + y) * w + (from - y * row);
                let s = r * tn + (from - t0);
                let (out, src) = (&mut dst[d..d + (to - from)], &prod[s..s + (to - from)]);
                match shift {
                    None => out.copy_from_slice(src),
                    Some(b) => {
                        for (o, v) in out.iter_mut().zip(src) {
                            *o = (v + b[r]).max(0.0);
                        }
                    }
                }
            }
        }
    }

    /// The whole image on this thread: `dst` [rows, h, w] from `xpad`
    /// (padded as by [`push_padded`], plus two trailing zeros), each value
    /// through the optional shift and ReLU of [`Correlation::scatter`].
    pub(crate) fn image(
        &self,
        xpad: &[f32],
        dst: &mut [f32],
        shift: Option<&[f32]>,
        scratch: &mut TileScratch,
    ) {
        for t in 0..self.tiles() {
            let tn = self.tile_product(xpad, t, scratch);
            self.scatter(dst, t, &scratch.prod[..self.rows * tn], tn, shift);
        }
    }

    /// [`Correlation::image`] with the tiles spread over the threads (for
    /// fewer images than threads).
    pub(crate) fn image_across_threads(
        &self,
        xpad: &[f32],
        dst: &mut [f32],
        shift: Option<&[f32]>,
    ) {
        let products: Vec<(Vec<f32>, usize)> = (0..self.tiles())
            .into_par_iter()
            .map(|t| {
                let mut scratch = TileScratch::default();
                let tn = self.tile_product(xpad, t, &mut scratch);
                (scratch.prod, tn)
            })
            .collect();
        for (t, (prod, tn)) in products.iter().enumerate() {
            self.scatter(dst, t, &prod[..self.rows * tn], *tn, shift);
        }
    }
}

/// `out[b, r, y, x] = sum over taps k, columns j of M_k[r, j] *
/// xpad[b, j, y + ky, x + kx]`: a 3x3 correlation with zero padding 1 of
/// `x` [n, cin, h, w] into `rows` output channels, on the padded row length.
///
/// Per cache-sized tile of output positions (see
/// [`Correlation::tile_product`]), so that the output stays in cache while
/// all taps add to it. As nine products of cin terms over whole images
/// (before 0.3) every product read and wrote the whole output again; in
/// alternating runs of the two (`INFER_ONLY=1 unet_bench`) inference of a
/// batch of 4 at width 32 went from 0.83-0.94 to 0.76-0.81 s and at width 64
/// from 2.75-2.97 to 2.59-2.61 s, with no change at widths 8 and 16.
fn correlate(
    x: &[f32],
    (n, cin, h, w): (usize, usize, usize, usize),
    weights: &[f32],
    taps: &TapMatrices,
    rows: usize,
) -> Vec<f32> {
    let mut out = vec![0f32; n * rows * h * w];
    let wm = arrange_taps(rows, cin, |r, j, k| {
        weights[(taps.tap)(k) + r * taps.row_stride + j * taps.col_stride]
    });
    let corr = Correlation {
        wm: &wm,
        rows,
        cin,
        h,
        w,
    };
    let one_image = |b: usize, dst: &mut [f32], across_tiles: bool| {
        let xpad = padded_planes(&x[b * cin * h * w..(b + 1) * cin * h * w], cin, h, w);
        if across_tiles {
            corr.image_across_threads(&xpad, dst, None);
        } else {
            corr.image(&xpad, dst, None, &mut TileScratch::default());
        }
    };
    // Images across the cores when there are enough of them, else the
    // tiles of each image.
    if matches!(gemm_parallelism(n), gemm::Parallelism::None) {
        out.par_chunks_mut(rows * h * w)
            .enumerate()
            .for_each(|(b, dst)| one_image(b, dst, false));
    } else {
        for (b, dst) in out.chunks_mut(rows * h * w).enumerate() {
            one_image(b, dst, true);
        }
    }
    out
}

/// Whether the gemm kernels here serve `x` (f32, at least `SMALL_IMAGE`
/// pixels per image); otherwise burn's own operations do.
/// The input must have the weight's input channels (`x_channels_at` is 1 for
/// the input of the forward pass, 0 for the output gradient), and no size may
/// be zero; anything else goes to burn, which reports shape errors itself.
fn gemm_path(x: &FlexTensor, weight: &FlexTensor, x_channels_at: usize) -> bool {
    let [n, c, h, w]: [usize; 4] = x.layout().shape().dims();
    let wd: [usize; 4] = weight.layout().shape().dims();
    x.dtype() == DType::F32
        && weight.dtype() == DType::F32
        && h * w >= SMALL_IMAGE
        && n > 0
        && wd[0] > 0
        && wd[1] > 0
        && wd[2..] == [3, 3]
        && c == wd[x_channels_at]
}

/// The forward convolution.
fn forward(x: &FlexTensor, weight: &FlexTensor) -> FlexTensor {
    if !gemm_path(x, weight, 1) {
        return Flex::conv2d(x.clone(), weight.clone(), None, same_options());
    }
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let [n, c, h, w]: [usize; 4] = x.layout().shape().dims();
    let [o, _, _, _]: [usize; 4] = weight.layout().shape().dims();
    // Tap k of W as an [O, C] matrix: W[o, c, k] at o * 9C + c * 9 + k.
    let taps = TapMatrices {
        row_stride: 9 * c,
        col_stride: 9,
        tap: |k| k,
    };
    let y = correlate(x.storage(), (n, c, h, w), weight.storage(), &taps, o);
    flex_from(y, vec![n, o, h, w])
}

/// dL/dx: the correlation of the output gradient with the kernel flipped in
/// both axes and transposed in its channels.
fn input_gradient(dy: &FlexTensor, weight: &FlexTensor) -> FlexTensor {
    if !gemm_path(dy, weight, 0) {
        let opts = ConvTransposeOptions::new([1, 1], [1, 1], [0, 0], [1, 1], 1);
        return Flex::conv_transpose2d(dy.clone(), weight.clone(), None, opts);
    }
    let (dy, weight) = (dy.to_contiguous(), weight.to_contiguous());
    let [n, o, h, w]: [usize; 4] = dy.layout().shape().dims();
    let [_, c, _, _]: [usize; 4] = weight.layout().shape().dims();
    // Tap k of the flipped, transposed kernel as a [C, O] matrix:
    // W[o, c, 8 - k] at o * 9C + c * 9 + (8 - k).
    let taps = TapMatrices {
        row_stride: 9,
        col_stride: 9 * c,
        tap: |k| 8 - k,
    };
    let dx = correlate(dy.storage(), (n, o, h, w), weight.storage(), &taps, c);
    flex_from(dx, vec![n, c, h, w])
}

/// burn's own formula, for element types other than f32.
fn generic_weight_gradient(x: FlexTensor, dy: FlexTensor) -> FlexTensor {
    let g = Flex::conv2d(
        Flex::float_swap_dims(x, 0, 1),
        Flex::float_swap_dims(dy, 0, 1),
        None,
        same_options(),
    );
    Flex::float_swap_dims(g, 0, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn max_abs_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    /// Output, input gradient and weight gradient of `conv3x3` against
    /// burn's `conv2d`, for an image of `rows x cols`.
    fn check_against_burn(batch: usize, rows: usize, cols: usize) {
        let dev = Device::flex().autodiff();
        dev.seed(3);
        let x = Tensor::<4>::random([batch, 3, rows, cols], Distribution::Normal(0.0, 1.0), &dev);
        let w = Tensor::<4>::random([4, 3, 3, 3], Distribution::Normal(0.0, 1.0), &dev);
        let t = Tensor::<4>::random([batch, 4, rows, cols], Distribution::Normal(0.0, 1.0), &dev);
        let run = |fast: bool| {
            let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
            let y = if fast {
                conv3x3(x.clone(), w.clone())
            } else {
                burn::tensor::module::conv2d(x.clone(), w.clone(), None, same_options())
            };
            // A loss that weights every output differently.
            let grads = (y.clone() * t.clone()).sum().backward();
            (y, x.grad(&grads).unwrap(), w.grad(&grads).unwrap())
        };
        let (y1, gx1, gw1) = run(true);
        let (y0, gx0, gw0) = run(false);
        // Relative to the largest value: a weight gradient sums thousands of
        // products, whose order differs between the two.
        let close = |a: Tensor<4>, b: Tensor<4>, tol: f32| {
            let scale = 1.0 + b.clone().abs().max().into_scalar::<f32>();
            let d = max_abs_diff(a, b);
            assert!(d < tol * scale, "differs by {d} at scale {scale}");
        };
        close(y1, y0, 1e-5);
        close(gx1, gx0, 1e-5);
        close(gw1, gw0, 1e-5);
    }

    #[test]
    fn matches_burns_convolution_and_its_gradients() {
        // Our kernels (>= SMALL_IMAGE pixels; a batch of 1 threads inside
        // the products, a larger one across images), then burn's.
        check_against_burn(2, 20, 16);
        check_against_burn(1, 20, 16);
        check_against_burn(2, 9, 7);
        // Several output tiles, the last one partial and tiles starting
        // inside a row (3 input channels: 2427 positions per tile, 9100 on
        // the padded rows of 130).
        check_against_burn(1, 70, 128);
        check_against_burn(2, 70, 128);
    }

    #[test]
    fn works_without_autodiff() {
        let dev = Device::flex();
        let x = Tensor::<4>::ones([1, 1, 4, 4], &dev);
        let w = Tensor::<4>::ones([1, 1, 3, 3], &dev);
        let y: Vec<f32> = conv3x3(x, w).into_data().try_to_vec::<f32>().unwrap();
        // Corners see 4 ones, edges 6, the centre 9.
        assert_eq!(y[0], 4.0);
        assert_eq!(y[1], 6.0);
        assert_eq!(y[5], 9.0);
    }
}
