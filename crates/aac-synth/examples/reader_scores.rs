//! Scores of a simulated reader who differs systematically from the
//! generator's truth, for measuring `aac calibrate` against a reader it was
//! not trained towards: `cargo run --release -p aac-synth --example
//! reader_scores -- STYLE SEED N READER > reader.csv`, for the cohort that
//! `aac synth --style STYLE --seed SEED --n N` writes. READER:
//! - `truth`: the generator's own scores (scores.csv), as a check;
//! - `liberal`: sees every deposit and reads each 30% longer than it is
//!   (its ends 15% of its length further out), as a reader who counts the
//!   faint halo of a plaque does;
//! - `conservative`: does not see deposits fainter than 0.08 (attenuation
//!   units; 0.05 is very faint) and reads the others 20% shorter.
//!
//! The sub-scores follow the generator's own rule (`truth::geometric_aac24`)
//! on the deposits as this reader sees them.

use aac_synth::truth::geometric_aac24;
use aac_synth::{generate_case, style::Style};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 5 {
        eprintln!("usage: reader_scores STYLE SEED N truth|liberal|conservative");
        std::process::exit(2);
    }
    let style = Style::by_name(&a[1]).expect("a style of `aac synth --style`");
    let seed: u64 = a[2].parse().expect("SEED: a whole number");
    let n: usize = a[3].parse().expect("N: a whole number");
    let (min_contrast, length_factor) = match a[4].as_str() {
        "truth" => (0.0, 1.0),
        "liberal" => (0.0, 1.3),
        "conservative" => (0.08, 0.8),
        r => panic!("unknown reader {r}"),
    };
    println!("id,aac24,l1_ant,l1_post,l2_ant,l2_post,l3_ant,l3_post,l4_ant,l4_post");
    for i in 0..n {
        let c = generate_case(seed, i, &style, false);
        let anatomy = &c.truth.anatomy;
        let seen: Vec<_> = anatomy
            .deposits
            .iter()
            .filter(|d| d.contrast >= min_contrast)
            .map(|d| {
                let (mid, half) = (0.5 * (d.y0 + d.y1), 0.5 * (d.y1 - d.y0) * length_factor);
                let mut e = d.clone();
                e.y0 = mid - half;
                e.y1 = mid + half;
                e
            })
            .collect();
        let s = geometric_aac24(anatomy, &seen);
        let subs: Vec<String> = s.sub.iter().map(u32::to_string).collect();
        println!("{},{},{}", c.id, s.total, subs.join(","));
    }
}
