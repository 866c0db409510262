//! Benchmark: one training step and one inference batch of the U-net at the
//! given widths, batch 4, 1 x 256 x 128 input. Prints a table.
//!
//! `cargo run --release -p aac-unet --example unet_bench -- 8 16 64`

use aac_unet::train::bce_loss;
use aac_unet::{UNet, UNetConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let widths: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let widths = if widths.is_empty() {
        vec![8, 16]
    } else {
        widths
    };
    let reps: usize = std::env::var("REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let (n, h, w) = (4usize, 256usize, 128usize);
    println!("| width | train step (s) | inference batch of 4 (s) | train images/s | inference images/s |");
    println!("|---|---|---|---|---|");
    for width in widths {
        let cfg = UNetConfig {
            classes: 2,
            width,
            depth: 4,
            dropout: 0.5,
            prior: 0.01,
        };
        let dev = Device::flex().autodiff();
        dev.seed(1);
        let mut net = UNet::new(&cfg, &dev);
        let mut optim = AdamConfig::new().with_epsilon(1e-7).init();
        let xs: Vec<f32> = (0..n * h * w)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect();
        let ys: Vec<f32> = (0..n * 2 * h * w)
            .map(|i| ((i % 331) == 0) as u8 as f32)
            .collect();
        let mut steps = Vec::new();
        for r in 0..reps + 1 {
            let t = Instant::now();
            let x = Tensor::<4>::from_data(TensorData::new(xs.clone(), [n, 1, h, w]), &dev);
            let y = Tensor::<4>::from_data(TensorData::new(ys.clone(), [n, 2, h, w]), &dev);
            let loss = bce_loss(net.forward(x), y);
            let _: f32 = loss.clone().into_scalar();
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(1e-4, net, grads);
            if r > 0 {
                steps.push(t.elapsed().as_secs_f64());
            }
        }
        let eval = net.valid();
        let plain = Device::flex();
        let mut infs = Vec::new();
        for r in 0..reps + 1 {
            let t = Instant::now();
            let x = Tensor::<4>::from_data(TensorData::new(xs.clone(), [n, 1, h, w]), &plain);
            let _: Vec<f32> = eval.forward(x).into_data().try_into_vec::<f32>().unwrap();
            if r > 0 {
                infs.push(t.elapsed().as_secs_f64());
            }
        }
        let (s, i) = (median(steps), median(infs));
        println!(
            "| {width} | {s:.3} | {i:.3} | {:.1} | {:.1} |",
            n as f64 / s,
            n as f64 / i
        );
    }
}
