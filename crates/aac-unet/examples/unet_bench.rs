//! Benchmark: one training step and one inference batch of the U-net at the
//! given widths, batch 4 (inference also batch 1), 1 x 256 x 128 input, 2 output classes. Prints a
//! Markdown table, or with `--json` one JSON object per width (used by
//! `bench/unet_vs_keras.py`, which runs one width per process so that the
//! peak memory belongs to that width alone).
//!
//! `cargo run --release -p aac-unet --example unet_bench -- 8 16 64`
//! (`REPS=5` for more repetitions; the median is reported; `INFER_ONLY=1`
//! times inference alone, for profiling; `BURN_LAYERS=1` times inference
//! through burn's tensors instead of the fused path).

use aac_unet::train::bce_loss;
use aac_unet::{UNet, UNetConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use std::time::Instant;

const BATCH: usize = 4;
const ROWS: usize = 256;
const COLS: usize = 128;
const CLASSES: usize = 2;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

struct Timing {
    train_step_s: f64,
    infer_batch_s: f64,
    /// One image alone (batch 1).
    infer_one_s: f64,
}

fn bench_width(width: usize, reps: usize) -> Timing {
    let cfg = UNetConfig {
        classes: CLASSES,
        width,
        depth: 4,
        dropout: 0.5,
        prior: 0.01,
        coords: true,
        rows: false,
    };
    let dev = Device::flex().autodiff();
    dev.seed(1);
    let mut net = UNet::new(&cfg, &dev);
    // Keras's Adam epsilon, so the two sides do the same arithmetic.
    let mut optim = AdamConfig::new().with_epsilon(1e-7).init();
    let xs: Vec<f32> = (0..BATCH * ROWS * COLS)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let ys: Vec<f32> = (0..BATCH * CLASSES * ROWS * COLS)
        .map(|i| ((i % 331) == 0) as u8 as f32)
        .collect();
    let mut steps = Vec::new();
    // INFER_ONLY=1 skips training (to profile inference alone).
    let train_reps = if std::env::var_os("INFER_ONLY").is_some() {
        0
    } else {
        reps
    };
    // The first repetition warms caches and allocators and is not counted.
    for r in 0..=train_reps {
        let t = Instant::now();
        let x = Tensor::<4>::from_data(TensorData::new(xs.clone(), [BATCH, 1, ROWS, COLS]), &dev);
        let y = Tensor::<4>::from_data(
            TensorData::new(ys.clone(), [BATCH, CLASSES, ROWS, COLS]),
            &dev,
        );
        let loss = bce_loss(net.forward(x), y);
        let _: f32 = loss.clone().into_scalar();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-4, net, grads);
        if r > 0 {
            steps.push(t.elapsed().as_secs_f64());
        }
    }
    // What `aac predict` runs: the fused inference path (batch norm folded,
    // one image per thread, or one image's layers across the threads).
    // BURN_LAYERS=1 times the same network through burn's tensors and
    // layers instead (what inference was before the fused path).
    let burn_layers = std::env::var_os("BURN_LAYERS").is_some();
    let eval = aac_unet::Inference::new(net.valid(), Device::flex());
    let infer = |batch: usize| {
        let mut times = Vec::new();
        for r in 0..=reps {
            let t = Instant::now();
            let values = if burn_layers {
                let x = Tensor::<4>::from_data(
                    TensorData::new(xs[..batch * ROWS * COLS].to_vec(), [batch, 1, ROWS, COLS]),
                    &Device::flex(),
                );
                let out: Vec<f32> = eval
                    .net()
                    .forward(x)
                    .into_data()
                    .try_into_vec::<f32>()
                    .expect("the network's output is f32");
                out.len()
            } else {
                let inputs: Vec<&[f32]> = xs.chunks(ROWS * COLS).take(batch).collect();
                let out = eval.logits(&inputs, (ROWS, COLS));
                out.iter().map(Vec::len).sum()
            };
            assert_eq!(values, batch * CLASSES * ROWS * COLS);
            if r > 0 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        median(times)
    };
    Timing {
        train_step_s: median(steps),
        infer_batch_s: infer(BATCH),
        infer_one_s: infer(1),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let widths: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let widths = if widths.is_empty() {
        vec![8, 16]
    } else {
        widths
    };
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    if !json {
        println!("| width | train step (s) | inference batch of 4 (s) | inference batch of 1 (s) | train images/s | inference images/s | peak RSS so far (MiB) |");
        println!("|---|---|---|---|---|---|---|");
    }
    for width in widths {
        let t = bench_width(width, reps);
        let peak = peak_rss_mib().unwrap_or(f64::NAN);
        if json {
            println!(
                "{{\"framework\":\"burn-flex\",\"width\":{width},\"train_step_s\":{:.4},\"infer_batch_s\":{:.4},\"infer_one_s\":{:.4},\"peak_rss_mib\":{peak:.1}}}",
                t.train_step_s, t.infer_batch_s, t.infer_one_s
            );
        } else {
            println!(
                "| {width} | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} | {peak:.0} |",
                t.train_step_s,
                t.infer_batch_s,
                t.infer_one_s,
                BATCH as f64 / t.train_step_s,
                BATCH as f64 / t.infer_batch_s
            );
        }
    }
}
