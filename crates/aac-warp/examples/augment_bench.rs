//! Benchmark: augmented warps per second (landmark noise + shape-model
//! prediction + ROI + jittered map + bilinear image warp + mask warp), on one
//! thread and on all threads. `cargo run --release -p aac-warp --example augment_bench`

use aac_io::Point;
use aac_shape::ShapeModel;
use aac_synth::{generate_case, Style};
use aac_warp::augment::{augmented_map, AugmentParams};
use rand::SeedableRng;
use rayon::prelude::*;
use std::time::Instant;

fn main() {
    let style = Style::hologic();
    let cases: Vec<_> = (0..20).map(|i| generate_case(3, i, &style, true)).collect();
    let shapes: Vec<Vec<Point>> = cases.iter().map(|c| c.landmarks.clone()).collect();
    let ssm = ShapeModel::fit(&shapes, 0.98, 0).expect("fit");
    let images: Vec<Vec<f32>> = cases
        .iter()
        .map(|c| c.image.as_raw().iter().map(|&v| v as f32).collect())
        .collect();
    let p = AugmentParams::default();
    let one = |k: usize| {
        let c = &cases[k % cases.len()];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(k as u64);
        if let Ok(map) = augmented_map(&mut rng, &ssm, &c.landmarks, &p) {
            let img = map.warp_f32(
                &images[k % cases.len()],
                c.image.width() as usize,
                c.image.height() as usize,
                0.0,
            );
            let mask = map.warp_labels(&c.mask);
            img[0] as f64 + mask.as_raw()[0] as f64
        } else {
            0.0
        }
    };
    let n = 400;
    let t = Instant::now();
    let s1: f64 = (0..n).map(one).sum();
    let single = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let s2: f64 = (0..n).into_par_iter().map(one).sum();
    let multi = n as f64 / t.elapsed().as_secs_f64();
    println!(
        "| threads | augmented warps/s |\n|---|---|\n| 1 | {single:.0} |\n| {} | {multi:.0} |",
        rayon::current_num_threads()
    );
    assert_eq!(s1, s2);
}
