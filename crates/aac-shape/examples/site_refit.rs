//! Should fine-tuning refit the shape model on a site's points? Measures
//! the aorta predicted from the true spine points of a site's new scans by
//! the base model (fitted on 1,000 `random` scans, as the default bundle's),
//! by one refitted on N site scans alone, and by one fitted on both:
//! `cargo run --release -p aac-shape --example site_refit`. Two sites: the
//! `hologic` style (the generator's anatomy) and `ectatic` (its look over
//! another anatomy: aorta further from the spine and wider, more lordosis),
//! which a base fitted on the generator's ranges has not seen. Prints a Markdown
//! table (docs/adapt.md).

use aac_io::pts::{N_AORTA, N_SPINE};
use aac_io::Point;
use aac_shape::eval::{cross_validate, ErrorStats};
use aac_shape::ShapeModel;
use aac_synth::generate_case;
use aac_synth::style::Style;

/// The variance the bundle's shape model keeps (aac-pipeline's
/// `defaults::SHAPE_VARIANCE`).
const VARIANCE: f64 = 0.98;

/// The 30 points and pixel spacing of `n` cases of `style`.
fn shapes(seed: u64, n: usize, style: &Style) -> Vec<(Vec<Point>, f64)> {
    (0..n)
        .map(|i| {
            let c = generate_case(seed, i, style, false);
            (c.landmarks, c.truth.spacing_mm)
        })
        .collect()
}

/// Median and 95th percentile aorta error (mm) and the share of aorta
/// points within 3 predicted SD, over `test`.
fn measure(model: &ShapeModel, test: &[(Vec<Point>, f64)]) -> (ErrorStats, f64) {
    let mut mm = Vec::new();
    let mut inside = 0usize;
    for (s, sp) in test {
        let p = model.predict(&s[..N_SPINE]).expect("a prediction");
        for k in 0..N_AORTA {
            let e = p.points[N_SPINE + k].dist(&s[N_SPINE + k]);
            mm.push(e * sp);
            inside += usize::from(e <= 3.0 * p.aorta_sd[k]);
        }
    }
    let share = inside as f64 / mm.len() as f64;
    (ErrorStats::of(&mm), share)
}

fn main() {
    let points = |v: &[(Vec<Point>, f64)]| v.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>();
    let base_shapes = points(&shapes(1, 1000, &Style::random()));
    let base = ShapeModel::fit(&base_shapes, VARIANCE, 5).expect("base fit");
    let other = Style::ectatic();
    println!("| site | site scans | model | aorta error median (mm) | 95th percentile (mm) | within 3 SD | on the site scans: base's error / refit's cross-validated |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for style in [Style::hologic(), other] {
        let pool = shapes(81, 100, &style);
        let test = shapes(82, 200, &style);
        let (e, c) = measure(&base, &test);
        let row = |n: &str, m: &str, e: ErrorStats, c: f64, ratio: &str| {
            println!(
                "| {} | {n} | {m} | {:.2} | {:.2} | {:.1}% | {ratio} |",
                style.name,
                e.median,
                e.p95,
                100.0 * c
            )
        };
        row("0", "base (1,000 `random`)", e, c, "-");
        for n in [10, 25, 50, 100] {
            let site = points(&pool[..n]);
            let refit = ShapeModel::fit(&site, VARIANCE, 5).expect("site fit");
            let (e, c) = measure(&refit, &test);
            // What fine-tuning decides by (aac-pipeline's shape_choice).
            let (on_site, _) = measure(&base, &pool[..n]);
            let cv = cross_validate(&site, &vec![None; n], 5, VARIANCE).expect("cv");
            let spacing = pool[..n].iter().map(|(_, sp)| sp).sum::<f64>() / n as f64;
            let ratio = format!("{:.2}", on_site.median / (cv.error_px.median * spacing));
            row(&n.to_string(), "refitted on the site's alone", e, c, &ratio);
            let both: Vec<Vec<Point>> = base_shapes.iter().cloned().chain(site).collect();
            let combined = ShapeModel::fit(&both, VARIANCE, 5).expect("combined fit");
            let (e, c) = measure(&combined, &test);
            row(&n.to_string(), "base and site together", e, c, "");
        }
    }
}
