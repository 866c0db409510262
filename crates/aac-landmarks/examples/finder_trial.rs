//! Trains a finder on synthetic scans of one style and measures it on
//! another cohort: `cargo run --release -p aac-landmarks --example
//! finder_trial -- N_TRAIN EPOCHS WIDTH TRAIN_STYLE TEST_STYLE [N_TEST]`.
//! Prints each epoch and the point error table (mm) of the test cohort.

use aac_landmarks::train::{relative_error, Progress};
use aac_landmarks::{train_finder, Annotated, Finder, FinderTraining};
use aac_synth::{generate_case, style::Style};

/// Image, width, height, spine points and pixel spacing.
type Case = (Vec<f32>, usize, usize, Vec<aac_io::Point>, f64);

fn cohort(seed: u64, n: usize, style: &str) -> Vec<Case> {
    let style = Style::by_name(style).expect("style");
    (0..n)
        .map(|i| {
            let c = generate_case(seed, i, &style, false);
            let (w, h) = c.image.dimensions();
            let img: Vec<f32> = c.image.as_raw().iter().map(|&v| v as f32).collect();
            (
                img,
                w as usize,
                h as usize,
                c.landmarks[..20].to_vec(),
                c.truth.spacing_mm,
            )
        })
        .collect()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let n: usize = a.get(1).map_or(200, |s| s.parse().unwrap());
    let epochs: usize = a.get(2).map_or(6, |s| s.parse().unwrap());
    let width: usize = a.get(3).map_or(8, |s| s.parse().unwrap());
    let train_style = a.get(4).map_or("random", |s| s.as_str());
    let test_style = a.get(5).map_or("lunar", |s| s.as_str());
    let n_test: usize = a.get(6).map_or(40, |s| s.parse().unwrap());
    let train = cohort(1, n, train_style);
    let test = cohort(98, n_test, test_style);
    let all: Vec<Annotated> = train
        .iter()
        .map(|(img, w, h, p, _)| Annotated {
            image: img,
            width: *w,
            height: *h,
            points: p,
            sacrum_top: None,
        })
        .collect();
    if let Ok(d) = std::env::var("DUMP") {
        dump(&all, std::path::Path::new(&d));
        return;
    }
    let n_val = (n / 10).max(2);
    let (val, tr) = if std::env::var("OVERFIT").is_ok() {
        (&all[..], &all[..])
    } else {
        all.split_at(n_val)
    };
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
    let mut cfg = FinderTraining {
        width,
        epochs,
        ..Default::default()
    };
    if let Some(b) = env("BATCH") {
        cfg.batch = b as usize;
    }
    if let Some(lr) = env("LR") {
        cfg.lr = lr;
    }
    if std::env::var("FINE").as_deref() == Ok("half") {
        cfg.fine_grid = aac_landmarks::Grid::HALF;
    }
    if let Some(cw) = env("COARSE_WIDTH") {
        cfg.coarse_width = cw as usize;
    }
    let t0 = std::time::Instant::now();
    let bytes = train_finder(&cfg, tr, val, &mut |p| {
        if let Progress::EpochEnd {
            stage,
            epoch,
            loss,
            val_error,
        } = p
        {
            eprintln!(
                "{stage} {epoch}: loss {loss:.4} val {val_error:.4} ({:.0} s)",
                t0.elapsed().as_secs_f64()
            );
        }
    })
    .unwrap();
    let finder = Finder::from_bytes(&bytes).unwrap();
    eprintln!("header {:?}", finder.header.val_error);
    let inputs: Vec<(&[f32], usize, usize)> =
        test.iter().map(|t| (t.0.as_slice(), t.1, t.2)).collect();
    let t1 = std::time::Instant::now();
    let found = finder.find(&inputs);
    let secs = t1.elapsed().as_secs_f64();
    let mut mm = Vec::new();
    let (mut wrong_level, mut flagged, mut wrong_unflagged, mut refused) = (0, 0, 0, 0);
    for (f, t) in found.iter().zip(&test) {
        // A refusal (no spine, points that are not bodies) is a miss the
        // user is told of: counted apart, not in the point errors.
        let Ok(f) = f else {
            refused += 1;
            continue;
        };
        let errs: Vec<f64> = f
            .points
            .iter()
            .zip(&t.3)
            .map(|(p, q)| p.dist(q) * t.4)
            .collect();
        let rel: f64 = f
            .points
            .iter()
            .zip(&t.3)
            .map(|(p, q)| relative_error(p, q, &t.3))
            .fold(0.0, f64::max);
        // A level is misnamed when a point lies over a quarter span (about a vertebra) off.
        let wrong = rel > 0.12;
        wrong_level += wrong as usize;
        flagged += f.uncertain() as usize;
        wrong_unflagged += (wrong && !f.uncertain()) as usize;
        mm.extend(errs);
    }
    mm.sort_by(f64::total_cmp);
    let q = |p: f64| mm[((mm.len() as f64 * p) as usize).min(mm.len() - 1)];
    println!(
        "train {n} {train_style} w{width} e{epochs} ({:.0} s) -> {test_style}: median {:.2} mm, p95 {:.2} mm, max {:.1} mm; wrong level {wrong_level}/{n_test}, flagged {flagged}, wrong unflagged {wrong_unflagged}, refused {refused}; {:.1} img/s",
        t0.elapsed().as_secs_f64() - secs, q(0.5), q(0.95), mm[mm.len() - 1], n_test as f64 / secs
    );
}

/// Writes the exact coarse and fine inputs of a few scans with their points,
/// to check by eye that inputs and targets line up.
#[allow(dead_code)]
pub fn dump(train: &[Annotated], dir: &std::path::Path) {
    use aac_landmarks::frame::Frame;
    std::fs::create_dir_all(dir).unwrap();
    for (i, a) in train.iter().take(3).enumerate() {
        for (name, f) in [
            ("coarse", Frame::whole_image(a.width, a.height)),
            ("fine", Frame::along_spine(a.points)),
        ] {
            let x = aac_unet::photometric::normalise(&f.sample(a.image, a.width, a.height));
            let mut rgb = aac_io::draw::display_rgb_f32(&x, 128, 256);
            for p in a.points.iter().take(20) {
                let q = f.to_input(*p);
                aac_io::draw::line(
                    &mut rgb,
                    aac_io::Point::new(q.x - 2.0, q.y),
                    aac_io::Point::new(q.x + 2.0, q.y),
                    image::Rgb([255, 0, 0]),
                );
                aac_io::draw::line(
                    &mut rgb,
                    aac_io::Point::new(q.x, q.y - 2.0),
                    aac_io::Point::new(q.x, q.y + 2.0),
                    image::Rgb([255, 0, 0]),
                );
            }
            aac_io::write_rgb_png(&dir.join(format!("{i}_{name}.png")), &rgb).unwrap();
        }
    }
}
