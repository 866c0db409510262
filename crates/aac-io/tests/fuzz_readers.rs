//! Property tests (proptest) of the readers that take other people's files:
//! `.pts`, label masks, score tables and images. Whatever the bytes, a reader
//! returns a value or an error naming the file; it never panics.

use aac_io::pts::parse_pts;
use aac_io::{read_image, read_mask, read_scores, Point};
use proptest::prelude::*;
use std::path::Path;

fn valid_pts() -> String {
    let pts: Vec<Point> = (0..30)
        .map(|i| Point::new(100.0 + i as f64, 50.0 + 7.0 * i as f64))
        .collect();
    aac_io::pts::format_pts(&pts)
}

fn valid_mask_png() -> Vec<u8> {
    let mut m = image::GrayImage::new(24, 16);
    m.put_pixel(3, 4, image::Luma([1]));
    m.put_pixel(9, 9, image::Luma([2]));
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(m)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

/// Applies byte edits (position modulo the length, new value) to `base`.
fn mutate(base: &[u8], edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let mut b = base.to_vec();
    for &(i, v) in edits {
        if !b.is_empty() {
            let n = b.len();
            b[i % n] = v;
        }
    }
    b.truncate(b.len().saturating_sub(cut % 8));
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn pts_parser_never_panics_on_any_text(text in ".{0,400}") {
        let _ = parse_pts(&text, Path::new("fuzz.pts"));
    }

    #[test]
    fn pts_parser_never_panics_on_edited_valid_files(
        edits in proptest::collection::vec((0usize..2000, any::<u8>()), 0..12),
        cut in 0usize..64,
    ) {
        let bytes = mutate(valid_pts().as_bytes(), &edits, cut);
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(points) = parse_pts(&text, Path::new("fuzz.pts")) {
            prop_assert!(points.len() <= 30 || text.contains("n_points"));
        }
    }

    #[test]
    fn mask_and_image_readers_never_panic_on_edited_pngs(
        edits in proptest::collection::vec((0usize..4000, any::<u8>()), 0..8),
        cut in 0usize..64,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.png");
        std::fs::write(&p, mutate(&valid_mask_png(), &edits, cut)).unwrap();
        if let Err(e) = read_mask(&p, Some((24, 16))) {
            prop_assert!(e.to_string().contains("m.png"), "{}", e);
        }
        if let Err(e) = read_image(&p) {
            prop_assert!(e.to_string().contains("m.png"), "{}", e);
        }
    }

    #[test]
    fn score_reader_never_panics_on_any_table(
        cells in proptest::collection::vec("[a-z0-9.,\"\\n -]{0,12}", 0..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.csv");
        let text = format!("id,aac24,l1_ant\n{}", cells.join(","));
        std::fs::write(&p, text).unwrap();
        if let Err(e) = read_scores(&p, &["aac24"]) {
            prop_assert!(e.to_string().contains("s.csv"), "{}", e);
        }
    }
}
