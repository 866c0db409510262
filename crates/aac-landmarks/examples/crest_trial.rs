//! Can a network find the top of the iliac crest on the whole scan, and
//! does it say whether the levels are named right? A trial towards the
//! third cue readers name the levels by (the crest lies level with L4-L5;
//! docs/landmarks.md): a heatmap U-net like the finder's coarse one (the
//! whole scan letterboxed into 128 x 256, the same perturbations) with one
//! map, trained on the generator's truth (`aac_synth::Truth::iliac_crest_top`)
//! and tested on cohorts of this generator or of `bench/foreign_vfa.py`
//! (whose `truth.json` gives `crest_top`).
//!
//! `cargo run --release -p aac-landmarks --example crest_trial --
//! TRAIN_COHORT TEST_COHORT[:FOUND_DIR][,...] [EPOCHS] > crest.csv`
//!
//! Prints one CSV row per test scan: whether a crest is drawn, the peak's
//! mass, its distance from the true crest in levels, and where along the
//! spine the true and the found crest lie against the L4/L5 disc, in levels
//! (negative: above it), measured on the true points and on the points in
//! FOUND_DIR (`aac landmarks` output). `SAVE=FILE` writes the network,
//! `LOAD=FILE` tests a saved one without training.
//!
//! `TARGET=sacrum` trains on the top of the sacrum instead
//! (`aac_synth::Truth::sacrum_top`, the first cue readers count by); the
//! second generator's `truth.json` gives none, so there only the found
//! positions are printed.

use aac_io::Point;
use aac_landmarks::finder::heatmaps;
use aac_landmarks::frame::Frame;
use aac_landmarks::heatmap::{peak, targets};
use aac_landmarks::regularity::level_step;
use aac_landmarks::sacrum_top::levels_below_l4_l5;
use aac_landmarks::train::heatmap_loss;
use aac_landmarks::Grid;
use aac_unet::photometric::{augment, normalise, Photometric};
use aac_unet::train::epoch_lr;
use aac_unet::{Inference, UNet, UNetConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::path::Path;

const GRID: Grid = Grid::FULL;
const SIGMA: f64 = 1.5;

struct Scan {
    id: String,
    image: Vec<f32>,
    width: usize,
    height: usize,
    points: Vec<Point>,
    crest: Option<Point>,
    found: Option<Vec<Point>>,
}

fn read(dir: &Path, id: &str, crest: Option<Point>, found: Option<&Path>) -> Scan {
    let img = aac_io::read_image(&dir.join("images").join(format!("{id}.png"))).unwrap();
    let pts = aac_io::read_pts(&dir.join("landmarks").join(format!("{id}.pts"))).unwrap();
    let found = found.and_then(|f| aac_io::read_pts(&f.join(format!("{id}.pts"))).ok());
    Scan {
        id: id.to_string(),
        image: aac_io::image_io::to_f32(&img),
        width: img.width() as usize,
        height: img.height() as usize,
        points: pts[..20].to_vec(),
        crest,
        found,
    }
}

/// A cohort of this generator or of `bench/foreign_vfa.py`.
fn load(dir: &Path, found: Option<&Path>) -> Vec<Scan> {
    let text = std::fs::read_to_string(dir.join("truth.json")).unwrap();
    let sacrum = std::env::var("TARGET").is_ok_and(|t| t == "sacrum");
    if let Ok(truths) = serde_json::from_str::<Vec<aac_synth::Truth>>(&text) {
        return truths
            .par_iter()
            .map(|t| {
                let cue = if sacrum {
                    t.sacrum_top()
                } else {
                    t.iliac_crest_top()
                };
                read(dir, &t.id, cue, found)
            })
            .collect();
    }
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    rows.par_iter()
        .map(|r| {
            let crest = r["crest_top"]
                .as_array()
                .filter(|_| !sacrum)
                .map(|c| Point::new(c[0].as_f64().unwrap(), c[1].as_f64().unwrap()));
            read(dir, r["id"].as_str().unwrap(), crest, found)
        })
        .collect()
}

fn frame(s: &Scan, rng: Option<&mut ChaCha8Rng>) -> Frame {
    let base = Frame::whole_image(s.width, s.height);
    let Some(rng) = rng else {
        return base.in_grid(GRID);
    };
    base.perturbed(
        rng.random_range(-0.12..0.12),
        rng.random_range(0.8..1.1),
        rng.random_range(-10.0..10.0),
        rng.random_range(-12.0..12.0),
        rng.random_bool(0.5),
    )
    .in_grid(GRID)
}

fn config() -> UNetConfig {
    UNetConfig {
        classes: 1,
        width: 8,
        depth: 4,
        dropout: 0.1,
        prior: 2.0 * std::f64::consts::PI * SIGMA * SIGMA / GRID.pixels() as f64,
        coords: true,
        rows: true,
    }
}

fn train(scans: &[Scan], epochs: usize) -> UNet {
    let dev = aac_unet::device().autodiff();
    let cfg = config();
    let mut net = aac_unet::with_seed(&dev, 17, || UNet::new(&cfg, &dev));
    let mut optim = AdamConfig::new().with_epsilon(1e-7).init();
    let with: Vec<&Scan> = scans.iter().filter(|s| s.crest.is_some()).collect();
    let batch = 4;
    for epoch in 0..epochs {
        let mut order: Vec<usize> = (0..with.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch as u64 + 1));
        order.truncate(200);
        let lr = epoch_lr(2e-3, epoch, epochs);
        let mut loss_sum = 0.0;
        for chunk in order.chunks(batch) {
            let samples: Vec<(Vec<f32>, Vec<f32>)> = chunk
                .par_iter()
                .map(|&i| {
                    let s = with[i];
                    let mut rng = ChaCha8Rng::seed_from_u64(((epoch as u64) << 32) ^ i as u64);
                    let f = frame(s, Some(&mut rng));
                    let mut x = normalise(&f.sample(&s.image, s.width, s.height));
                    augment(&mut rng, &mut x, GRID.width, &Photometric::default());
                    let crest = s.crest.map(|c| f.to_input(c)).unwrap_or_default();
                    (x, targets(&[crest], SIGMA, GRID))
                })
                .collect();
            let n = samples.len();
            let xs: Vec<f32> = samples.iter().flat_map(|s| s.0.iter().copied()).collect();
            let ys: Vec<f32> = samples.iter().flat_map(|s| s.1.iter().copied()).collect();
            let x =
                Tensor::<4>::from_data(TensorData::new(xs, [n, 1, GRID.height, GRID.width]), &dev);
            let y =
                Tensor::<4>::from_data(TensorData::new(ys, [n, 1, GRID.height, GRID.width]), &dev);
            let loss = heatmap_loss(net.forward(x), y);
            let value: f32 = loss.clone().into_scalar();
            loss_sum += value as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(lr, net, grads);
        }
        eprintln!(
            "epoch {} loss {:.4}",
            epoch + 1,
            loss_sum / order.len().div_ceil(batch) as f64
        );
    }
    net.valid()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let epochs: usize = a.get(3).map_or(24, |s| s.parse().unwrap());
    let net = match std::env::var("LOAD") {
        Ok(path) => {
            aac_unet::model_file::load(Path::new(&path), &aac_unet::device())
                .unwrap()
                .0
        }
        Err(_) => train(&load(Path::new(&a[1]), None), epochs),
    };
    if let Ok(path) = std::env::var("SAVE") {
        let header = aac_unet::model_file::UnetHeader::unthresholded(config(), epochs);
        aac_unet::model_file::save(Path::new(&path), &net, &header).unwrap();
    }
    let inference = Inference::new(net, aac_unet::device());
    println!(
        "cohort,id,drawn,mass,error_levels,truth_at,found_at_true_points,found_at_found_points"
    );
    for spec in a[2].split(',') {
        let (dir, found) = spec
            .split_once(':')
            .map_or((spec, None), |(d, f)| (d, Some(f)));
        let scans = load(Path::new(dir), found.map(Path::new));
        let name = Path::new(dir)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        for chunk in scans.chunks(8) {
            let frames: Vec<Frame> = chunk.iter().map(|s| frame(s, None)).collect();
            let inputs: Vec<Vec<f32>> = chunk
                .iter()
                .zip(&frames)
                .map(|(s, f)| normalise(&f.sample(&s.image, s.width, s.height)))
                .collect();
            let refs: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
            for ((planes, s), f) in heatmaps(&inference, &refs, 1, GRID)
                .iter()
                .zip(chunk)
                .zip(&frames)
            {
                let k = peak(&planes[0], 8.0, GRID);
                let at = f.to_image(k.at);
                let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.3}"));
                let step = level_step(&s.points);
                println!(
                    "{name},{},{},{:.3},{},{},{:.3},{}",
                    s.id,
                    u8::from(s.crest.is_some()),
                    k.mass,
                    opt(s.crest.map(|c| c.dist(&at) / step)),
                    opt(s.crest.map(|c| levels_below_l4_l5(&s.points, c))),
                    levels_below_l4_l5(&s.points, at),
                    opt(s.found.as_ref().map(|p| levels_below_l4_l5(p, at))),
                );
            }
        }
    }
}
