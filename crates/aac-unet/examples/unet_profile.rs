//! Where a U-net training step spends its time on the `flex` CPU backend.
//!
//! Times every kind of layer of the network alone, at the shapes it sees in
//! the real network (batch 4, 1 x 256 x 128 input), forward and
//! forward + backward, and sums them per kind. Compare the total with the
//! full step of `unet_bench`.
//!
//! `cargo run --release -p aac-unet --example unet_profile -- 16`

use burn::nn::conv::{Conv2dConfig, ConvTranspose2dConfig};
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{BatchNormConfig, DropoutConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use burn::tensor::module::{conv2d, conv_transpose2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::Distribution;
use std::collections::BTreeMap;
use std::time::Instant;

const BATCH: usize = 4;
const ROWS: usize = 256;
const COLS: usize = 128;
const DEPTH: usize = 4;
const REPS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median seconds of `op` forward (with a sum to force it) and of forward +
/// backward, on a fresh input of `shape` that requires a gradient.
fn time_op(dev: &Device, shape: [usize; 4], op: &dyn Fn(Tensor<4>) -> Tensor<4>) -> (f64, f64) {
    let mut fwd = Vec::new();
    let mut both = Vec::new();
    for r in 0..=REPS {
        let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), dev).require_grad();
        let t = Instant::now();
        let s = op(x.clone()).sum();
        let _: f32 = s.clone().into_scalar();
        let f = t.elapsed().as_secs_f64();
        let _grads = s.backward();
        let b = t.elapsed().as_secs_f64();
        if r > 0 {
            fwd.push(f);
            both.push(b);
        }
    }
    (median(fwd), median(both))
}

/// Median seconds of `f` (which must force its result).
fn time_fn(f: &dyn Fn() -> f32) -> f64 {
    let mut times = Vec::new();
    for r in 0..=REPS {
        let t = Instant::now();
        let _ = f();
        if r > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    median(times)
}

/// The three products of a 3x3 convolution's training step, as burn's
/// autodiff computes them on `flex`: the forward convolution, the input
/// gradient (a transposed convolution) and the weight gradient (a
/// convolution of the batch-swapped input with the batch-swapped output
/// gradient as a `rows x cols` kernel); and the same three by aac's conv3x3.
fn conv_split(cin: usize, cout: usize, rows: usize, cols: usize) {
    let dev = Device::flex();
    let x = Tensor::<4>::random(
        [BATCH, cin, rows, cols],
        Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let w = Tensor::<4>::random([cout, cin, 3, 3], Distribution::Normal(0.0, 1.0), &dev);
    let dy = Tensor::<4>::random(
        [BATCH, cout, rows, cols],
        Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let same = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let forward = time_fn(&|| {
        conv2d(x.clone(), w.clone(), None, same.clone())
            .sum()
            .into_scalar()
    });
    let input_grad = time_fn(&|| {
        let opts = ConvTransposeOptions::new([1, 1], [1, 1], [0, 0], [1, 1], 1);
        conv_transpose2d(dy.clone(), w.clone(), None, opts)
            .sum()
            .into_scalar()
    });
    let weight_grad = time_fn(&|| {
        conv2d(
            x.clone().swap_dims(0, 1),
            dy.clone().swap_dims(0, 1),
            None,
            same.clone(),
        )
        .sum()
        .into_scalar()
    });
    // aac's conv3x3: forward, input gradient and weight gradient together
    // (plus a product and a sum to seed the backward pass).
    let ad = Device::flex().autodiff();
    let xa = Tensor::<4>::from_data(x.to_data(), &ad);
    let wa = Tensor::<4>::from_data(w.to_data(), &ad);
    let dya = Tensor::<4>::from_data(dy.to_data(), &ad);
    let ours = time_fn(&|| {
        let (xr, wr) = (xa.clone().require_grad(), wa.clone().require_grad());
        let g = (aac_unet::conv3x3::conv3x3(xr.clone(), wr.clone()) * dya.clone())
            .sum()
            .backward();
        xr.grad(&g).unwrap().sum().into_scalar::<f32>()
            + wr.grad(&g).unwrap().sum().into_scalar::<f32>()
    });
    let burn_total = forward + input_grad + weight_grad;
    println!(
        "| {cin} -> {cout}, {rows} x {cols} | {forward:.3} | {input_grad:.3} | {weight_grad:.3} | {burn_total:.3} | {ours:.3} |"
    );
}

fn main() {
    let width: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(16);
    let dev = Device::flex().autodiff();
    dev.seed(1);
    // kind -> (forward s, forward + backward s, calls)
    let mut table: BTreeMap<&str, (f64, f64, usize)> = BTreeMap::new();
    // Not part of the sum: burn's own layers that aac replaces, for comparison.
    let mut replaced: BTreeMap<&str, (f64, f64, usize)> = BTreeMap::new();
    let mut add = |kind: &'static str, (f, b): (f64, f64)| {
        let e = table.entry(kind).or_insert((0.0, 0.0, 0));
        e.0 += f;
        e.1 += b;
        e.2 += 1;
    };
    let conv3 = |cin: usize, cout: usize| {
        Conv2dConfig::new([cin, cout], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_bias(false)
            .init(&dev)
    };
    // Every block: conv(cin->c) BN ReLU [dropout] conv(c->c) BN ReLU.
    let mut blocks = Vec::new();
    let mut cin = 1;
    for level in 0..=DEPTH {
        let c = width << level;
        blocks.push((cin, c, ROWS >> level, COLS >> level, true));
        cin = c;
    }
    for level in (0..DEPTH).rev() {
        let c = width << level;
        blocks.push((2 * c, c, ROWS >> level, COLS >> level, false));
    }
    for &(cin, c, h, w, dropout) in &blocks {
        for (a, b) in [(cin, c), (c, c)] {
            let layer = conv3(a, b);
            add(
                "conv 3x3, aac conv3x3 (used)",
                time_op(&dev, [BATCH, a, h, w], &|x| {
                    aac_unet::conv3x3::conv3x3(x, layer.weight.val())
                }),
            );
            let (f, b) = time_op(&dev, [BATCH, a, h, w], &|x| layer.forward(x));
            let e = replaced.entry("conv 3x3, burn conv2d").or_default();
            *e = (e.0 + f, e.1 + b, e.2 + 1);
        }
        for _ in 0..2 {
            let bn = BatchNormConfig::new(c).init(&dev);
            add(
                "batch norm, aac fused (used)",
                time_op(&dev, [BATCH, c, h, w], &|x| {
                    aac_unet::batchnorm::batch_norm(&bn, x)
                }),
            );
            let (f, b) = time_op(&dev, [BATCH, c, h, w], &|x| bn.forward(x));
            let e = replaced.entry("batch norm, burn").or_default();
            *e = (e.0 + f, e.1 + b, e.2 + 1);
            add(
                "relu",
                time_op(&dev, [BATCH, c, h, w], &|x| Relu::new().forward(x)),
            );
        }
        if dropout {
            let d = DropoutConfig::new(0.5).init();
            add(
                "dropout, aac mask (used)",
                time_op(&dev, [BATCH, c, h, w], &|x| {
                    aac_unet::dropout::dropout(&d, x)
                }),
            );
            let (f, b) = time_op(&dev, [BATCH, c, h, w], &|x| d.forward(x));
            let e = replaced.entry("dropout, burn").or_default();
            *e = (e.0 + f, e.1 + b, e.2 + 1);
        }
    }
    let pool = MaxPool2dConfig::new([2, 2]).init();
    for level in 0..DEPTH {
        let c = width << level;
        add(
            "max-pool 2x2",
            time_op(&dev, [BATCH, c, ROWS >> level, COLS >> level], &|x| {
                pool.forward(x)
            }),
        );
        let up = ConvTranspose2dConfig::new([2 * c, c], [2, 2])
            .with_stride([2, 2])
            .init(&dev);
        let (h, w) = (ROWS >> (level + 1), COLS >> (level + 1));
        add(
            "transposed conv 2x2, aac upconv (used)",
            time_op(&dev, [BATCH, 2 * c, h, w], &|x| {
                aac_unet::upconv::upconv(&up, x)
            }),
        );
        let (f, b) = time_op(&dev, [BATCH, 2 * c, h, w], &|x| up.forward(x));
        let e = replaced.entry("transposed conv 2x2, burn").or_default();
        *e = (e.0 + f, e.1 + b, e.2 + 1);
        let skip = Tensor::<4>::zeros([BATCH, c, 2 * h, 2 * w], &dev);
        add(
            "concatenate",
            time_op(&dev, [BATCH, c, 2 * h, 2 * w], &|x| {
                Tensor::cat(vec![x, skip.clone()], 1)
            }),
        );
    }
    let head = Conv2dConfig::new([width, 2], [1, 1]).init(&dev);
    add(
        "head conv 1x1",
        time_op(&dev, [BATCH, width, ROWS, COLS], &|x| head.forward(x)),
    );
    let y = Tensor::<4>::zeros([BATCH, 2, ROWS, COLS], &dev);
    add(
        "loss (BCE)",
        time_op(&dev, [BATCH, 2, ROWS, COLS], &|x| {
            let l = aac_unet::train::bce_loss(x, y.clone());
            l.reshape([1, 1, 1, 1])
        }),
    );
    let total: f64 = table.values().map(|v| v.1).sum();
    println!("Width {width}, batch {BATCH}, {ROWS} x {COLS}: each layer alone, median of {REPS}\n");
    println!("| layer kind | calls | forward (s) | forward + backward (s) | share of the sum |");
    println!("|---|---|---|---|---|");
    let mut rows: Vec<_> = table.into_iter().collect();
    rows.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    for (kind, (f, b, n)) in rows {
        println!(
            "| {kind} | {n} | {f:.3} | {b:.3} | {:.0}% |",
            100.0 * b / total
        );
    }
    println!("| **sum** | | | {total:.3} | |");
    for (kind, (f, b, n)) in replaced {
        println!("| (replaced: {kind}) | {n} | {f:.3} | {b:.3} | |");
    }
    println!("\nOne 3x3 convolution's training products, median seconds\n");
    println!("| convolution | burn forward | burn input gradient | burn weight gradient | burn total | aac conv3x3 forward + both gradients |");
    println!("|---|---|---|---|---|---|");
    conv_split(width, width, ROWS, COLS);
    conv_split(2 * width, width, ROWS, COLS);
    conv_split(4 * width, 4 * width, ROWS >> 2, COLS >> 2);
    conv_split(8 * width, 8 * width, ROWS >> 3, COLS >> 3);
    conv_split(16 * width, 16 * width, ROWS >> 4, COLS >> 4);
}
