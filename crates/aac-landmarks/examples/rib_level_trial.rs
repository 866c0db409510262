//! Can a network tell whether a rib leaves a given vertebra, looking only
//! at that vertebra? A trial towards a last-rib cue (docs/landmarks.md):
//! patches centred on the bodies T11 to L2 (extrapolated from the 20 spine
//! points by the level step, so the patch never says which level it is),
//! labelled from the generator's truth (a rib leaves every vertebra from
//! the last rib-bearing one up), a small U-net whose mean logit is the
//! answer. Tested on another cohort's true points: the lowest level
//! answered "rib" is the last rib-bearing vertebra.
//!
//! `BALANCED=1 WIDTH=16 ACROSS=3.5 ALONG=2.5 FORWARD=0.75 cargo run
//! --release -p aac-landmarks --example rib_level_trial --
//! TRAIN_COHORT[,TRAIN_COHORT...] TEST_COHORT[,TEST_COHORT...] [EPOCHS]` (synthetic cohorts with
//! `truth.json`; the settings of docs/landmarks.md). `SAVE=FILE` writes the
//! trained network, `LOAD=FILE` tests a saved one without training.

use aac_io::Point;
use aac_landmarks::frame::{anchors, Frame};
use aac_landmarks::regularity::level_step;
use aac_landmarks::Grid;
use aac_unet::photometric::{augment, normalise, Photometric};
use aac_unet::train::{bce_loss, epoch_lr};
use aac_unet::{Inference, UNet, UNetConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::path::Path;

const PATCH: Grid = Grid {
    width: 48,
    height: 48,
};
/// The patch's extent in levels: across (posterior to anterior), along
/// the spine, and how far its centre lies in front of the body's centre.
fn extent() -> (f64, f64, f64) {
    let env = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    (env("ACROSS", 2.0), env("ALONG", 1.5), env("FORWARD", -0.5))
}
/// Levels relative to L1 looked at: T11, T12, L1, L2.
const LEVELS: [i32; 4] = [-2, -1, 0, 1];
/// Index of L1 among the generator's vertebrae.
const L1: i32 = 9;

struct Scan {
    id: String,
    image: Vec<f32>,
    width: usize,
    height: usize,
    points: Vec<Point>,
    /// The last rib-bearing vertebra, levels from L1 (None: ribs as bands).
    last: Option<i32>,
    kind: String,
}

/// Loads a cohort of this generator (`truth.json` of `aac_synth::Truth`),
/// or of `bench/foreign_vfa.py`, whose spines are all normal (a rib on
/// every thoracic vertebra, the last on T12).
fn load(dir: &Path) -> Vec<Scan> {
    let text = std::fs::read_to_string(dir.join("truth.json")).unwrap();
    let truths: Vec<aac_synth::Truth> = match serde_json::from_str(&text) {
        Ok(t) => t,
        Err(_) => return load_foreign(dir, &text),
    };
    truths
        .par_iter()
        .map(|t| {
            let img =
                aac_io::read_image(&dir.join("images").join(format!("{}.png", t.id))).unwrap();
            let pts =
                aac_io::read_pts(&dir.join("landmarks").join(format!("{}.pts", t.id))).unwrap();
            Scan {
                id: t.id.clone(),
                image: aac_io::image_io::to_f32(&img),
                width: img.width() as usize,
                height: img.height() as usize,
                points: pts[..20].to_vec(),
                last: t.anatomy.last_rib.map(|i| i as i32 - L1),
                kind: match (t.anatomy.last_rib, t.anatomy.transitional) {
                    (None, _) => "bands".into(),
                    (Some(_), None) => "normal".into(),
                    (Some(_), Some(k)) => format!("{k:?}"),
                },
            }
        })
        .collect()
}

fn load_foreign(dir: &Path, text: &str) -> Vec<Scan> {
    let rows: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
    rows.par_iter()
        .map(|r| {
            let id = r["id"].as_str().unwrap().to_string();
            let img = aac_io::read_image(&dir.join("images").join(format!("{id}.png"))).unwrap();
            let pts = aac_io::read_pts(&dir.join("landmarks").join(format!("{id}.pts"))).unwrap();
            Scan {
                kind: format!("foreign_{}", r["view"].as_str().unwrap_or("?")),
                id,
                image: aac_io::image_io::to_f32(&img),
                width: img.width() as usize,
                height: img.height() as usize,
                points: pts[..20].to_vec(),
                last: Some(-1),
            }
        })
        .collect()
}

/// The patch frame of level `k` (from L1): centred half a level behind
/// the body's centre, rows one and a half levels of the spine, columns two
/// levels from posterior to anterior.
fn patch_frame(points: &[Point], k: i32) -> Frame {
    let [top, bottom, front] = anchors(points);
    let spine = Frame::from_anchors(top, bottom, front);
    let step = level_step(points);
    let span = top.dist(&bottom).max(1e-6);
    let u = Point::new((bottom.x - top.x) / span, (bottom.y - top.y) / span);
    let s = spine.scale();
    // The spine frame's column direction, posterior to anterior.
    let n = Point::new(spine.m[0] / s, spine.m[1] / s);
    let c = aac_io::pts::index::corners(0);
    let l1 = Point::new(
        c.iter().map(|&i| points[i].x).sum::<f64>() / 4.0,
        c.iter().map(|&i| points[i].y).sum::<f64>() / 4.0,
    );
    let (across, along, forward) = extent();
    let centre = Point::new(
        l1.x + k as f64 * step * u.x + forward * step * n.x,
        l1.y + k as f64 * step * u.y + forward * step * n.y,
    );
    let (sx, sy) = (
        across * step / PATCH.width as f64,
        along * step / PATCH.height as f64,
    );
    Frame {
        origin: centre,
        m: [n.x * sx, n.y * sx, u.x * sy, u.y * sy],
        grid: PATCH,
    }
}

fn sample(s: &Scan, k: i32, rng: Option<&mut ChaCha8Rng>) -> Vec<f32> {
    let f = patch_frame(&s.points, k);
    let Some(rng) = rng else {
        return normalise(&f.sample(&s.image, s.width, s.height));
    };
    let f = f.perturbed(
        rng.random_range(-0.12..0.12),
        rng.random_range(0.9..1.1),
        rng.random_range(-3.0..3.0),
        rng.random_range(-3.0..3.0),
        false,
    );
    let mut x = normalise(&f.sample(&s.image, s.width, s.height));
    augment(rng, &mut x, PATCH.width, &Photometric::default());
    x
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let epochs: usize = a.get(3).map_or(10, |s| s.parse().unwrap());
    let cfg = UNetConfig {
        classes: 1,
        width: std::env::var("WIDTH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(8),
        depth: 3,
        dropout: 0.1,
        prior: 0.5,
        coords: false,
        rows: false,
    };
    let net = match std::env::var("LOAD") {
        Ok(path) => {
            aac_unet::model_file::load(Path::new(&path), &aac_unet::device())
                .unwrap()
                .0
        }
        Err(_) => {
            let scans: Vec<Scan> = a[1].split(',').flat_map(|d| load(Path::new(d))).collect();
            train(&scans, &cfg, epochs)
        }
    };
    if let Ok(path) = std::env::var("SAVE") {
        let header = aac_unet::model_file::UnetHeader::unthresholded(cfg.clone(), epochs);
        aac_unet::model_file::save(Path::new(&path), &net, &header).unwrap();
    }
    let inf = Inference::new(net, aac_unet::device());
    println!("cohort,id,kind,true_last,p_t11,p_t12,p_l1,p_l2");
    for dir in a[2].split(',') {
        test(&inf, dir, &load(Path::new(dir)));
    }
}

/// The training patches: levels T11-L2 of every scan with attached ribs,
/// labelled 1 where a rib leaves; with `BALANCED`, only T12 and L1 (where
/// a last rib can end), each patch of the rarer answer at its level
/// repeated so that both answers weigh alike.
fn patches(train: &[Scan]) -> Vec<(usize, i32, f32)> {
    let items: Vec<(usize, i32, f32)> = train
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.last.map(|last| (i, last)))
        .flat_map(|(i, last)| {
            LEVELS
                .iter()
                .map(move |&k| (i, k, f32::from(u8::from(k <= last))))
        })
        .collect();
    if std::env::var("BALANCED").is_err() {
        return items;
    }
    let mut out = Vec::new();
    for k in [-1, 0] {
        let at: Vec<_> = items.iter().filter(|t| t.1 == k).copied().collect();
        let pos = at.iter().filter(|t| t.2 > 0.5).count().max(1);
        let neg = (at.len() - pos).max(1);
        for t in at {
            let copies = if t.2 > 0.5 {
                (neg / pos).max(1)
            } else {
                (pos / neg).max(1)
            };
            out.extend(std::iter::repeat_n(t, copies));
        }
    }
    out
}

/// Trains the classifier (the mean of its logit map is the answer).
fn train(train: &[Scan], cfg: &UNetConfig, epochs: usize) -> UNet {
    let items = patches(train);
    eprintln!(
        "{} patches, {} with a rib",
        items.len(),
        items.iter().filter(|t| t.2 > 0.5).count()
    );
    let dev = aac_unet::device().autodiff();
    let mut net = aac_unet::with_seed(&dev, 7, || UNet::new(cfg, &dev));
    let mut optim = AdamConfig::new().with_epsilon(1e-7).init();
    let batch = 16;
    let t0 = std::time::Instant::now();
    for epoch in 0..epochs {
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch as u64 + 1));
        let lr = epoch_lr(2e-3, epoch, epochs);
        let mut loss_sum = 0.0;
        for chunk in order.chunks(batch) {
            let xs: Vec<Vec<f32>> = chunk
                .par_iter()
                .map(|&j| {
                    let (i, k, _) = items[j];
                    let mut rng = ChaCha8Rng::seed_from_u64((epoch as u64) << 32 ^ j as u64);
                    sample(&train[i], k, Some(&mut rng))
                })
                .collect();
            let n = chunk.len();
            let x = Tensor::<4>::from_data(
                TensorData::new(xs.concat(), [n, 1, PATCH.height, PATCH.width]),
                &dev,
            );
            let labels: Vec<f32> = chunk.iter().map(|&j| items[j].2).collect();
            let y = Tensor::<4>::from_data(TensorData::new(labels, [n, 1, 1, 1]), &dev);
            let logit = net.forward(x).mean_dim(2).mean_dim(3);
            let loss = bce_loss(logit, y);
            let value: f32 = loss.clone().into_scalar();
            loss_sum += f64::from(value) * n as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = optim.step(lr, net, grads);
        }
        eprintln!(
            "epoch {}: loss {:.4} ({:.0} s)",
            epoch + 1,
            loss_sum / items.len() as f64,
            t0.elapsed().as_secs_f64()
        );
    }
    net.valid()
}

/// Prints each test scan's answers and, on stderr, the table of the last
/// rib-bearing vertebra read (the lowest level answered "rib") against
/// the truth.
fn test(inf: &Inference, name: &str, test: &[Scan]) {
    const NAMES: [&str; 4] = ["T11", "T12", "L1", "L2"];
    let mut table = std::collections::BTreeMap::<(String, String), usize>::new();
    for s in test {
        let xs: Vec<Vec<f32>> = LEVELS.iter().map(|&k| sample(s, k, None)).collect();
        let refs: Vec<&[f32]> = xs.iter().map(|v| v.as_slice()).collect();
        let p: Vec<f64> = inf
            .logits(&refs, (PATCH.height, PATCH.width))
            .iter()
            .map(|l| {
                let m = l.iter().map(|&v| f64::from(v)).sum::<f64>() / l.len() as f64;
                1.0 / (1.0 + (-m).exp())
            })
            .collect();
        let found = LEVELS
            .iter()
            .zip(&p)
            .filter(|(_, &q)| q > 0.5)
            .map(|(&k, _)| k)
            .max()
            .map_or("none".to_string(), |k| NAMES[(k + 2) as usize].into());
        let truth = s.last.map_or("bands".to_string(), |k| {
            format!("last {}", NAMES[(k + 2) as usize])
        });
        *table
            .entry((format!("{} ({truth})", s.kind), found))
            .or_default() += 1;
        println!(
            "{name},{},{},{},{:.3},{:.3},{:.3},{:.3}",
            s.id,
            s.kind,
            s.last.map_or(String::new(), |k| k.to_string()),
            p[0],
            p[1],
            p[2],
            p[3]
        );
    }
    eprintln!("{name}:");
    for ((kind, found), n) in table {
        eprintln!("  {kind:32} read as last on {found:5}: {n}");
    }
}
