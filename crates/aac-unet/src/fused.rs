//! Inference on the CPU without burn's tensors: each batch norm folded into
//! the weights and bias of the convolution before it, its ReLU applied as the
//! convolution's output is written, the decoder's concatenation written by
//! the padding copy every convolution makes anyway, and one image per thread
//! from input to logits with its work buffers kept between layers.
//!
//! Why this exists: through burn's tensors every layer of an eval-mode
//! network is three passes over memory (convolution, batch norm, ReLU), each
//! into a freshly allocated and zero-filled tensor, and every level of the
//! decoder copies its input once more to concatenate it. Those passes were a
//! third of inference (`examples/unet_bench.rs` with `INFER_ONLY=1`). The
//! arithmetic is the same as [`crate::UNet::forward`]'s (the same matrix
//! products; the tests compare the two), in a different order of summation.

use crate::conv3x3::{arrange_taps, push_padded, Correlation, TileScratch};
use crate::maxpool::pool_plane;
use crate::net::{ConvBlock, UNet};
use crate::upconv::upconv_image;
use burn::nn::conv::Conv2d;
use burn::nn::BatchNorm;
use burn::prelude::*;

/// The values of a tensor, row-major.
fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// A 3x3 convolution with its batch norm folded in, followed by ReLU.
struct FusedConv {
    /// Weights as [`arrange_taps`] lays them out, each output's scaled by
    /// its batch norm.
    weights: Vec<f32>,
    /// Per output: the batch norm's shift.
    shift: Vec<f32>,
    cin: usize,
}

impl FusedConv {
    /// `bn(conv(x))` = `conv'(x) + shift` with conv' = conv scaled per output
    /// by `gamma / sqrt(var + eps)`, and shift = `beta - mean * scale`.
    fn new(conv: &Conv2d, bn: &BatchNorm) -> FusedConv {
        let [cout, cin, _, _] = conv.weight.val().dims();
        let mean = values(bn.running_mean.value());
        let var = values(bn.running_var.value());
        let gamma = values(bn.gamma.val());
        let beta = values(bn.beta.val());
        let mut weights = values(conv.weight.val());
        let mut shift = vec![0f32; cout];
        for o in 0..cout {
            let scale = gamma[o] / (var[o] + bn.epsilon as f32).sqrt();
            for w in &mut weights[o * cin * 9..(o + 1) * cin * 9] {
                *w *= scale;
            }
            shift[o] = beta[o] - mean[o] * scale;
        }
        FusedConv {
            weights: arrange_taps(cout, cin, |r, j, k| weights[(r * cin + j) * 9 + k]),
            shift,
            cin,
        }
    }

    /// `relu(bn(conv(x)))` [out, h, w] of the padded input planes `xpad`,
    /// on this thread or with its tiles across the threads.
    fn apply(&self, xpad: &[f32], (h, w): (usize, usize), run: &mut Run) -> Vec<f32> {
        let rows = self.shift.len();
        let mut out = run.ws.zeroed(rows * h * w);
        let corr = Correlation {
            wm: &self.weights,
            rows,
            cin: self.cin,
            h,
            w,
        };
        if run.across_threads {
            corr.image_across_threads(xpad, &mut out, Some(&self.shift));
        } else {
            corr.image(xpad, &mut out, Some(&self.shift), &mut run.ws.scratch);
        }
        out
    }
}

/// A U-net level's two convolutions (dropout is the identity at inference).
struct FusedBlock {
    first: FusedConv,
    second: FusedConv,
}

impl FusedBlock {
    fn new(block: &ConvBlock) -> FusedBlock {
        FusedBlock {
            first: FusedConv::new(&block.c1, &block.b1),
            second: FusedConv::new(&block.c2, &block.b2),
        }
    }

    /// The block's output for the channels of `parts` (each [c_i, h, w])
    /// concatenated in order.
    fn apply(&self, parts: &[&[f32]], hw: (usize, usize), run: &mut Run) -> Vec<f32> {
        let xpad = padded(parts, hw, run.ws);
        let x = self.first.apply(&xpad, hw, run);
        run.ws.give(xpad);
        let xpad = padded(&[&x], hw, run.ws);
        run.ws.give(x);
        let y = self.second.apply(&xpad, hw, run);
        run.ws.give(xpad);
        y
    }
}

/// One thread's memory for [`FusedUNet::logits_in`], kept from layer to
/// layer and image to image: fresh buffers of the larger layers come from
/// the system as new pages, whose zeroing by the kernel was a tenth of
/// inference at width 32.
#[derive(Default)]
pub struct Workspace {
    scratch: TileScratch,
    spare: Vec<Vec<f32>>,
}

impl Workspace {
    /// An empty buffer with room for `len` values: the smallest spare one
    /// that fits, else the largest grown.
    fn empty(&mut self, len: usize) -> Vec<f32> {
        let fits = (0..self.spare.len())
            .filter(|&i| self.spare[i].capacity() >= len)
            .min_by_key(|&i| self.spare[i].capacity());
        let mut v = match fits {
            Some(i) => self.spare.swap_remove(i),
            None => self.spare.pop().unwrap_or_default(),
        };
        v.clear();
        if v.capacity() < len {
            // Not `reserve`: growing copies the old contents.
            v = Vec::with_capacity(len);
        }
        v
    }

    /// `len` zeros.
    fn zeroed(&mut self, len: usize) -> Vec<f32> {
        let mut v = self.empty(len);
        v.resize(len, 0.0);
        v
    }

    /// Takes a buffer back for reuse.
    fn give(&mut self, v: Vec<f32>) {
        self.spare.push(v);
    }
}

/// How a network call runs: one image on this thread, or one image with
/// each layer's tiles across the threads; its buffers from `ws`.
struct Run<'a> {
    ws: &'a mut Workspace,
    across_threads: bool,
}

impl Run<'_> {
    fn parallelism(&self) -> gemm::Parallelism {
        if self.across_threads {
            gemm::Parallelism::Rayon(0)
        } else {
            gemm::Parallelism::None
        }
    }
}

/// The planes of `parts` one after another, each in its zero border, with
/// the two trailing zeros the correlation reads past the last plane.
fn padded(parts: &[&[f32]], (h, w): (usize, usize), ws: &mut Workspace) -> Vec<f32> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let channels = total / (h * w);
    let mut out = ws.empty(channels * (h + 2) * (w + 2) + 2);
    for p in parts {
        push_padded(&mut out, p, p.len() / (h * w), h, w);
    }
    out.extend_from_slice(&[0.0, 0.0]);
    out
}

/// A transposed 2x2 stride-2 convolution's weights [in, out, 2, 2] and bias.
struct FusedUp {
    weights: Vec<f32>,
    bias: Vec<f32>,
}

/// An eval-mode [`UNet`] as plain weights for [`FusedUNet::logits`].
pub struct FusedUNet {
    down: Vec<FusedBlock>,
    bottom: FusedBlock,
    up: Vec<FusedUp>,
    dec: Vec<FusedBlock>,
    /// The 1x1 head's weights [classes, width] and bias [classes].
    head: (Vec<f32>, Vec<f32>),
    coords: bool,
    rows: bool,
}

impl FusedUNet {
    /// The network's weights with its batch norms' running statistics
    /// folded in.
    pub fn new(net: &UNet) -> FusedUNet {
        let up = net
            .up
            .iter()
            .map(|u| {
                let [_, cout, _, _] = u.weight.val().dims();
                FusedUp {
                    weights: values(u.weight.val()),
                    bias: u
                        .bias
                        .as_ref()
                        .map(|b| values(b.val()))
                        .unwrap_or_else(|| vec![0.0; cout]),
                }
            })
            .collect();
        let [classes, ..] = net.head.weight.val().dims();
        FusedUNet {
            down: net.down.iter().map(FusedBlock::new).collect(),
            bottom: FusedBlock::new(&net.bottom),
            up,
            dec: net.dec.iter().map(FusedBlock::new).collect(),
            head: (
                values(net.head.weight.val()),
                net.head
                    .bias
                    .as_ref()
                    .map(|b| values(b.val()))
                    .unwrap_or_else(|| vec![0.0; classes]),
            ),
            coords: net.coords,
            rows: net.rows,
        }
    }

    /// Output channels.
    pub fn classes(&self) -> usize {
        self.head.1.len()
    }

    /// The logits [classes, h, w] of one normalised input image [h, w] (h
    /// and w divisible by 2^depth), computed on the calling thread with the
    /// buffers of `ws`: callers run images in parallel, one workspace per
    /// thread.
    pub fn logits_in(&self, input: &[f32], hw: (usize, usize), ws: &mut Workspace) -> Vec<f32> {
        let mut run = Run {
            ws,
            across_threads: false,
        };
        self.forward(input, hw, &mut run)
    }

    /// [`FusedUNet::logits_in`] with each layer spread over the threads:
    /// for fewer images than threads.
    pub fn logits_across_threads(&self, input: &[f32], hw: (usize, usize)) -> Vec<f32> {
        let mut run = Run {
            ws: &mut Workspace::default(),
            across_threads: true,
        };
        self.forward(input, hw, &mut run)
    }

    fn forward(&self, input: &[f32], (h, w): (usize, usize), run: &mut Run) -> Vec<f32> {
        assert_eq!(input.len(), h * w, "input of {h} x {w} expected");
        let mut x = run.ws.empty(input.len() * 3);
        x.extend_from_slice(input);
        let step = |n: usize| if n > 1 { 2.0 / (n - 1) as f32 } else { 0.0 };
        if self.coords {
            let s = step(w);
            x.extend((0..h * w).map(|i| (i % w) as f32 * s - 1.0));
        }
        if self.rows {
            let s = step(h);
            x.extend((0..h * w).map(|i| (i / w) as f32 * s - 1.0));
        }
        let (mut h, mut w) = (h, w);
        let mut skips = Vec::with_capacity(self.down.len());
        for block in &self.down {
            let y = block.apply(&[&x], (h, w), run);
            let mut pooled = run.ws.zeroed(y.len() / 4);
            for (src, dst) in y
                .chunks_exact(h * w)
                .zip(pooled.chunks_exact_mut(h * w / 4))
            {
                pool_plane(src, w, dst);
            }
            skips.push(y);
            run.ws.give(std::mem::replace(&mut x, pooled));
            (h, w) = (h / 2, w / 2);
        }
        let bottom = self.bottom.apply(&[&x], (h, w), run);
        run.ws.give(std::mem::replace(&mut x, bottom));
        for ((up, dec), skip) in self.up.iter().zip(&self.dec).zip(skips.iter().rev()) {
            let cin = x.len() / (h * w);
            let mut u = run.ws.zeroed(4 * up.bias.len() * h * w);
            let mut z = run.ws.empty(u.len());
            upconv_image(
                &x,
                (cin, h, w),
                &up.weights,
                &up.bias,
                &mut u,
                run.parallelism(),
                &mut z,
            );
            run.ws.give(z);
            (h, w) = (2 * h, 2 * w);
            let next = dec.apply(&[&u, skip], (h, w), run);
            run.ws.give(u);
            run.ws.give(std::mem::replace(&mut x, next));
        }
        let logits = self.head_logits(&x, h * w, run.parallelism());
        run.ws.give(x);
        for skip in skips {
            run.ws.give(skip);
        }
        logits
    }

    /// The 1x1 head: `logits[k, p] = sum_c W[k, c] x[c, p] + b[k]`.
    fn head_logits(&self, x: &[f32], pixels: usize, par: gemm::Parallelism) -> Vec<f32> {
        let (weights, bias) = &self.head;
        let width = weights.len() / bias.len();
        let mut out = vec![0f32; bias.len() * pixels];
        crate::gemm_checked::product(
            (bias.len(), pixels, width),
            &mut out,
            crate::gemm_checked::Layout::new(0, pixels, 1),
            false,
            weights,
            crate::gemm_checked::Layout::new(0, width, 1),
            x,
            crate::gemm_checked::Layout::new(0, pixels, 1),
            par,
        );
        for (plane, b) in out.chunks_exact_mut(pixels).zip(bias) {
            for v in plane {
                *v += b;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::UNetConfig;
    use burn::tensor::Distribution;

    /// A trained-looking network: random weights and running statistics far
    /// from the defaults, so that a wrongly folded batch norm shows.
    fn network(cfg: &UNetConfig, dev: &Device) -> UNet {
        dev.seed(11);
        let mut net = UNet::new(cfg, dev);
        let stats = |bn: &mut BatchNorm, c: usize| {
            let r = |lo: f64, hi: f64| Tensor::<1>::random([c], Distribution::Uniform(lo, hi), dev);
            bn.running_mean = burn::module::RunningState::new(r(-0.5, 0.5));
            bn.running_var = burn::module::RunningState::new(r(0.3, 2.0));
            bn.gamma = burn::module::Param::from_tensor(r(0.5, 1.5));
            bn.beta = burn::module::Param::from_tensor(r(-0.3, 0.3));
        };
        for block in net
            .down
            .iter_mut()
            .chain(std::iter::once(&mut net.bottom))
            .chain(net.dec.iter_mut())
        {
            let c = block.b1.gamma.val().dims()[0];
            stats(&mut block.b1, c);
            stats(&mut block.b2, c);
        }
        net
    }

    fn check(cfg: UNetConfig, (h, w): (usize, usize)) {
        let dev = Device::flex();
        let net = network(&cfg, &dev);
        let fused = FusedUNet::new(&net);
        assert_eq!(fused.classes(), cfg.classes);
        let input = Tensor::<4>::random([3, 1, h, w], Distribution::Normal(0.0, 1.0), &dev);
        let want = values(net.forward(input.clone()));
        let xs = values(input);
        // Images 0 and 2 share one workspace (the second reuses the first's
        // buffers); image 1 runs across the threads.
        let mut ws = Workspace::default();
        for (b, x) in xs.chunks_exact(h * w).enumerate() {
            let got = if b == 1 {
                fused.logits_across_threads(x, (h, w))
            } else {
                fused.logits_in(x, (h, w), &mut ws)
            };
            let expect = &want[b * cfg.classes * h * w..(b + 1) * cfg.classes * h * w];
            assert_eq!(got.len(), expect.len());
            let scale = 1.0 + expect.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = got
                .iter()
                .zip(expect)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(worst < 1e-4 * scale, "differs by {worst} at scale {scale}");
        }
    }

    #[test]
    fn matches_the_network_in_eval_mode() {
        // Segmentation-like: 2 classes, the column channel, several tiles
        // per level.
        let seg = UNetConfig {
            classes: 2,
            width: 4,
            depth: 3,
            dropout: 0.5,
            prior: 0.05,
            coords: true,
            rows: false,
        };
        check(seg, (64, 48));
        // Finder-like: many output planes, both coordinate channels.
        let finder = UNetConfig {
            classes: 5,
            width: 3,
            depth: 2,
            dropout: 0.0,
            prior: 0.1,
            coords: true,
            rows: true,
        };
        check(finder, (32, 16));
        // No coordinate channel at all, one class.
        let plain = UNetConfig {
            classes: 1,
            width: 2,
            depth: 1,
            dropout: 0.0,
            prior: 0.1,
            coords: false,
            rows: false,
        };
        check(plain, (8, 6));
    }
}
