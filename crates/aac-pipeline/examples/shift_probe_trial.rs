//! Looks at each scan named otherwise: the first finder's fine network in
//! the window of the found points moved one level down and one level up
//! (`Finder::look_shifted`), and what the checks say of each naming (the
//! gap below its L5, its regularity, its confidence). A trial of "is there
//! a second plausible naming?" as a doubt, docs/landmarks.md.
//! `cargo run --release -p aac-pipeline --example shift_probe_trial --
//! MODEL.aac IMAGES_DIR FOUND_DIR > probe.csv` (FOUND_DIR: `aac landmarks`
//! output).

use aac_io::image_io::{read_image, to_f32};
use aac_io::pts::read_pts;
use aac_landmarks::{ensemble::level_offset, regularity, sacrum::l5_s1_gap_ratio, Found};
use aac_pipeline::{bundle, dataset_util::images_to_score};
use std::path::Path;

fn describe(f: &Found, img: &[f32], w: usize, h: usize) -> String {
    let gap = l5_s1_gap_ratio(img, w, h, &f.points).map_or(String::new(), |g| format!("{g:.3}"));
    format!(
        "{:.3},{:.3},{},{}",
        f.confidence,
        regularity::irregularity(&f.points),
        u8::from(
            regularity::sheared(&f.points).is_some()
                || regularity::overlapping(&f.points).is_some()
        ),
        gap
    )
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (model, images, found) = (Path::new(&a[1]), Path::new(&a[2]), Path::new(&a[3]));
    let b = bundle::load(model).expect("bundle");
    let finder = b.finder(model).expect("finder");
    let paths = images_to_score(images).expect("images");
    println!("id,shift,offset,confidence,irregularity,misshapen,gap");
    for (id, path) in &paths {
        let Ok(points) = read_pts(&found.join(format!("{id}.pts"))) else {
            continue;
        };
        let img = read_image(path).expect("image");
        let (w, h) = (img.width() as usize, img.height() as usize);
        let data = to_f32(&img);
        let input = [(data.as_slice(), w, h)];
        for shift in [-1.0, 1.0] {
            let probe = finder.look_shifted(&input, &[Some(&points)], shift);
            let Some(f) = &probe[0] else { continue };
            let off = level_offset(&f.points, &points).unwrap_or(99);
            println!("{id},{shift},{off},{}", describe(f, &data, w, h));
        }
    }
}
