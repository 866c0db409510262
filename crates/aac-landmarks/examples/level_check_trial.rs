//! Measures the sacrum checks on synthetic cohorts: for each scan, the
//! spine profile below L4 with the true points and with the points named one
//! level too high (L1-L4 on T12-L3). `cargo run --release -p aac-landmarks
//! --example level_check_trial -- STYLE SEED N > profiles.csv`.

use aac_io::Point;
use aac_landmarks::sacrum::{l5_s1_gap_ratio, spine_profile};
use aac_synth::{generate_case, style::Style};

/// The 20 points named one level too high: L1-L4 on T12-L3, "L5" on L4.
/// T12's corners (not among the 20) are L1's moved by L1 minus L2.
fn one_too_high(p: &[Point]) -> Vec<Point> {
    let mut q = p[..20].to_vec();
    for v in (1..4).rev() {
        for k in 0..4 {
            q[4 * v + k] = p[4 * (v - 1) + k];
        }
    }
    for k in 0..4 {
        q[k] = Point::new(2.0 * p[k].x - p[4 + k].x, 2.0 * p[k].y - p[4 + k].y);
    }
    let shift =
        |a: Point, from: Point, to: Point| Point::new(a.x + to.x - from.x, a.y + to.y - from.y);
    q[16] = shift(p[16], p[7], p[3]);
    q[17] = shift(p[17], p[6], p[2]);
    q[18] = p[12];
    q[19] = p[13];
    q
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let style_name = a.get(1).map_or("hologic", |s| s.as_str());
    let seed: u64 = a.get(2).map_or(96, |s| s.parse().unwrap());
    let n: usize = a.get(3).map_or(200, |s| s.parse().unwrap());
    let style = Style::by_name(style_name).expect("style");
    let (from, to, k) = (0.0, 5.0, 101);
    print!("style,id,naming,transitional,sacral_segments,gap_ratio");
    for i in 0..k {
        print!(",p{i}");
    }
    println!();
    for i in 0..n {
        let c = generate_case(seed, i, &style, false);
        let (w, h) = c.image.dimensions();
        let (w, h) = (w as usize, h as usize);
        let img: Vec<f32> = c.image.as_raw().iter().map(|&v| v as f32).collect();
        let tr = format!("{:?}", c.truth.anatomy.transitional);
        let seg = c
            .truth
            .factors
            .contains(&aac_synth::factors::Factor::SacralSegments);
        for (naming, pts) in [
            ("true", c.landmarks[..20].to_vec()),
            ("high", one_too_high(&c.landmarks)),
        ] {
            let r = l5_s1_gap_ratio(&img, w, h, &pts).map_or(String::new(), |r| format!("{r:.3}"));
            let prof = spine_profile(&img, w, h, &pts, (from, to), k);
            print!("{style_name},{},{naming},{tr},{seg},{r}", c.id);
            match prof {
                Some(v) => v.iter().for_each(|x| match x {
                    Some(x) => print!(",{x:.1}"),
                    None => print!(","),
                }),
                None => (0..k).for_each(|_| print!(",")),
            }
            println!();
        }
    }
}
