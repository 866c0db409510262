//! Tests of the I/O layer: .pts parsing, real DICOM samples from other toolkits,
//! masks, score tables, and bad input.

use aac_io::dicom::read_header;
use aac_io::pts::parse_pts;
use aac_io::*;
use std::path::{Path, PathBuf};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/dicom-samples")
}

/// Writes a 30 x 20 DICOM with 0.35 mm pixels to `p`; returns its pixels.
fn write_small_dicom(p: &Path) -> Gray16 {
    let img = Gray16::from_fn(30, 20, |x, y| image::Luma([(x * 100 + y) as u16]));
    let info = dicom::DicomWriteInfo {
        pixel_spacing_mm: [0.35, 0.35],
        manufacturer: "aac synth".into(),
        bits_stored: 12,
        id: "case0001".into(),
    };
    dicom::write_dicom_gray16(p, &img, &info).unwrap();
    img
}

fn pts_text(n: usize) -> String {
    let pts: Vec<Point> = (0..n)
        .map(|i| Point::new(i as f64, 2.0 * i as f64))
        .collect();
    pts::format_pts(&pts)
}

#[test]
fn pts_round_trip_and_comments() {
    let text = "// written by msm\nversion: 1\nimage_size_x: 400\nimage_size_y: 900\nn_points: 3\n{\n// a comment\n1.5 2\n  3 4.25 \n5 6\n}\n";
    let pts = parse_pts(text, Path::new("a.pts")).unwrap();
    assert_eq!(
        pts,
        vec![
            Point::new(1.5, 2.0),
            Point::new(3.0, 4.25),
            Point::new(5.0, 6.0)
        ]
    );
    let again = parse_pts(&pts::format_pts(&pts), Path::new("b.pts")).unwrap();
    assert_eq!(again, pts);
}

#[test]
fn pts_malformed_are_refused_with_file_name() {
    let cases = [
        ("version: 1\nn_points: 2\n{\n1 2\n}\n", "n_points says 2"),
        (
            "version: 1\nn_points: 1\n{\n1 abc\n}\n",
            "not a finite number",
        ),
        ("version: 1\nn_points: 1\n{\n1 2\n", "missing closing"),
        ("version: 1\nn_points: 1\n1 2\n", "expected 'key: value'"),
        ("version: 1\n{\n1 2\n}\n", "missing 'n_points:'"),
        ("version: 1\nn_points: 1\n{\n1 2 3\n}\n", "expected 'x y'"),
        (
            "version: 1\nn_points: 1\n{\nNaN 2\n}\n",
            "not a finite number",
        ),
        ("\u{0}\u{1}garbage", "expected"),
    ];
    for (text, want) in cases {
        let err = parse_pts(text, Path::new("bad.pts"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.pts") && err.contains(want),
            "{text:?}: {err}"
        );
    }
}

#[test]
fn pts_with_29_points_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.pts");
    std::fs::write(&p, pts_text(29)).unwrap();
    let err = read_pts_n(&p, 30).unwrap_err().to_string();
    assert!(
        err.contains("x.pts") && err.contains("expected 30 points, found 29"),
        "{err}"
    );
    assert!(read_pts_n(&dir.path().join("missing.pts"), 30).is_err());
}

#[test]
fn every_dicom_sample_decodes_or_is_refused_clearly() {
    let dir = samples();
    let mr = read_image(&dir.join("MR_small.dcm")).unwrap();
    assert_eq!(mr.dimensions(), (64, 64));
    for f in [
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
    ] {
        let img = read_image(&dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(img.as_raw(), mr.as_raw(), "{f} pixels differ from MR_small");
    }
    let ct = read_image(&dir.join("CT_small.dcm")).unwrap();
    assert_eq!(ct.dimensions(), (128, 128));
    let spread = ct.as_raw().iter().max().unwrap() - ct.as_raw().iter().min().unwrap();
    assert!(spread > 100, "CT image looks flat");
    let jpg = read_image(&dir.join("JPGExtended.dcm")).unwrap();
    assert_eq!(
        jpg.dimensions(),
        (256, 1024),
        "Columns x Rows of the DICOM header"
    );
    assert!(
        *jpg.as_raw().iter().max().unwrap() <= 4095,
        "12-bit data must stay 12-bit"
    );
    let rgb = read_image(&dir.join("SC_rgb_jpeg_dcmtk.dcm")).unwrap();
    assert!(rgb.width() > 0 && rgb.height() > 0);
    let err = read_image(&dir.join("MR_truncated.dcm"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("MR_truncated.dcm"), "{err}");
}

#[test]
fn dicom_headers_report_transfer_syntax_and_modality() {
    let dir = samples();
    let h = read_header(&dir.join("MR_small_RLE.dcm")).unwrap();
    assert_eq!(h.transfer_syntax_uid, "1.2.840.10008.1.2.5");
    assert_eq!(h.modality.as_deref(), Some("MR"));
    assert_eq!((h.width, h.height), (64, 64));
    let ct = read_header(&dir.join("CT_small.dcm")).unwrap();
    assert_eq!(ct.modality.as_deref(), Some("CT"));
    assert!(ct.pixel_spacing_mm.is_some());
    let info = info::image_info(&dir.join("JPGExtended.dcm")).unwrap();
    assert_eq!(info.bits_stored, Some(12));
    let json = serde_json::to_value(&info).unwrap();
    for key in [
        "width",
        "height",
        "bits_stored",
        "photometric",
        "transfer_syntax",
        "modality",
        "manufacturer",
        "pixel_spacing_mm",
    ] {
        assert!(json.get(key).is_some(), "missing key {key}");
    }
}

#[test]
fn dicom_written_by_us_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.dcm");
    let img = write_small_dicom(&p);
    assert_eq!(read_image(&p).unwrap().as_raw(), img.as_raw());
    assert_eq!(
        read_header(&p).unwrap().pixel_spacing_mm,
        Some([0.35, 0.35])
    );
}

#[test]
fn dicom_length_field_larger_than_the_file_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.dcm");
    write_small_dicom(&p);
    let mut bytes = std::fs::read(&p).unwrap();
    // Pixel Data (7FE0,0010), explicit VR little endian: tag, "OW", 2 reserved
    // bytes, then the 4-byte length, here made to claim almost 4 GB.
    let at = bytes
        .windows(6)
        .position(|w| w == [0xE0, 0x7F, 0x10, 0x00, b'O', b'W'])
        .expect("pixel data element");
    bytes[at + 8..at + 12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    std::fs::write(&p, &bytes).unwrap();
    for err in [
        read_image(&p).unwrap_err().to_string(),
        read_header(&p).unwrap_err().to_string(),
    ] {
        assert!(err.contains("huge.dcm"), "{err}");
        assert!(err.contains("declares 4294967280 bytes"), "{err}");
    }
}

#[test]
fn corrupt_and_missing_images_give_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("broken.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    assert!(read_image(&png)
        .unwrap_err()
        .to_string()
        .contains("broken.png"));
    let dcm = dir.path().join("junk.dcm");
    std::fs::write(&dcm, vec![7u8; 300]).unwrap();
    assert!(read_image(&dcm)
        .unwrap_err()
        .to_string()
        .contains("junk.dcm"));
    let err = read_image(&dir.path().join("nope.png"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.png") && err.contains("does not exist"));
}

#[test]
fn masks_check_labels_size_and_depth() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.png");
    let mut m = Gray8::new(10, 8);
    m.put_pixel(3, 2, image::Luma([2]));
    write_mask(&p, &m).unwrap();
    assert_eq!(read_mask(&p, Some((10, 8))).unwrap(), m);
    let err = read_mask(&p, Some((11, 8))).unwrap_err().to_string();
    assert!(err.contains("expected 11x8"), "{err}");
    m.put_pixel(4, 5, image::Luma([255]));
    write_mask(&p, &m).unwrap();
    let err = read_mask(&p, None).unwrap_err().to_string();
    assert!(err.contains("label 255 at (x=4, y=5)"), "{err}");
    write_png16(&p, &Gray16::new(10, 8)).unwrap();
    assert!(read_mask(&p, None)
        .unwrap_err()
        .to_string()
        .contains("8-bit"));
}

#[test]
fn score_tables_require_id_and_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.csv");
    std::fs::write(&p, "id,aac24,reader\na,3,4\nb,0,\n").unwrap();
    let t = read_scores(&p, &["aac24"]).unwrap();
    assert_eq!(t.column("aac24").unwrap()["a"], 3.0);
    assert_eq!(t.column("reader").unwrap().len(), 1);
    std::fs::write(&p, "id,aac24\na,x\n").unwrap();
    assert!(read_scores(&p, &["aac24"])
        .unwrap_err()
        .to_string()
        .contains("not a number"));
    // An error row of `aac predict` has no scores and is read as missing;
    // an empty score in any other row is still refused.
    std::fs::write(&p, "id,aac24,status\na,2,ok\nb,,error\n").unwrap();
    let t = read_scores(&p, &["aac24"]).unwrap();
    assert_eq!(t.column("aac24").unwrap().len(), 1);
    std::fs::write(&p, "id,aac24,status\na,2,ok\nb,,flagged\n").unwrap();
    assert!(read_scores(&p, &["aac24"]).is_err());
    std::fs::write(&p, "name,aac24\na,1\n").unwrap();
    assert!(read_scores(&p, &["aac24"])
        .unwrap_err()
        .to_string()
        .contains("no 'id'"));
    std::fs::write(&p, "id,aac24\na,1,2,3\n").unwrap();
    assert!(read_scores(&p, &["aac24"])
        .unwrap_err()
        .to_string()
        .contains("s.csv"));
}

#[test]
fn atomic_write_leaves_no_partial_file_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.txt");
    let r = write_atomic(&p, |w| {
        w.write_all(b"half")?;
        Err(std::io::Error::other("disk full"))
    });
    assert!(r.is_err());
    assert!(!p.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "temp file left behind"
    );
}

/// A JPEG-LS file whose compressed stream is cut short gives an error that
/// names the file, never a panic or a wrong image.
#[test]
fn a_damaged_jpeg_ls_stream_is_refused_with_the_file_named() {
    let src = samples().join("MR_small_jpeg_ls_lossless.dcm");
    let bytes = std::fs::read(&src).unwrap();
    // Corrupt the entropy-coded data in the middle of the pixel fragment.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.dcm");
    let mut broken = bytes.clone();
    let start = bytes.len() - 2000;
    for b in &mut broken[start..start + 1500] {
        *b = 0xFF;
    }
    std::fs::write(&path, &broken).unwrap();
    let e = read_image(&path).unwrap_err().to_string();
    assert!(e.contains("cut.dcm"), "{e}");
}

#[test]
fn pts_with_a_utf8_byte_order_mark_is_read() {
    let text = format!("\u{feff}{}", pts_text(30));
    let pts = parse_pts(&text, Path::new("bom.pts")).unwrap();
    assert_eq!(pts.len(), 30);
    assert_eq!(pts[29], Point::new(29.0, 58.0));
}

/// An image above the size limit is refused from its header, before its
/// pixels are decoded.
#[test]
fn images_above_the_size_limit_are_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.png");
    // A valid PNG header claiming 20000 x 20000 pixels, with no pixel data.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend(20000u32.to_be_bytes());
    png.extend(20000u32.to_be_bytes());
    png.extend([16, 0, 0, 0, 0]);
    let crc = crc32(&png[12..]);
    png.extend(crc.to_be_bytes());
    for chunk in [b"IDAT", b"IEND"] {
        png.extend(0u32.to_be_bytes());
        png.extend(chunk);
        png.extend(crc32(chunk).to_be_bytes());
    }
    std::fs::write(&p, &png).unwrap();
    let e = read_image(&p).unwrap_err().to_string();
    assert!(
        e.contains("huge.png") && e.contains("20000x20000") && e.contains("limit"),
        "{e}"
    );
}

/// CRC-32 of PNG chunks (for the test's hand-made header).
fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Image listing: a DICOM file without an extension is an image; a dangling
/// link, a text file and hidden files are skipped (each with a warning),
/// never an error or a silent loss of the good images.
#[test]
fn listing_takes_extensionless_dicom_and_skips_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    image::GrayImage::new(4, 4).save(d.join("a.png")).unwrap();
    std::fs::copy(samples().join("CT_small.dcm"), d.join("b")).unwrap();
    std::fs::write(d.join("c.txt"), "notes").unwrap();
    std::fs::write(d.join(".hidden.png"), "x").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(d.join("nowhere.png"), d.join("dangling.png")).unwrap();
    let images = aac_io::dataset::list_images(d).unwrap();
    let ids: Vec<&str> = images.keys().map(String::as_str).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(read_image(&images["b"]).unwrap().dimensions(), (128, 128));
}

#[test]
fn a_point_far_away_is_blamed_itself_not_the_vertebra_order() {
    // A plausible facing-right spine: L1..L4 downward, 30 px per body.
    let mut pts = Vec::new();
    for v in 0..4 {
        let y = 100.0 + 40.0 * v as f64;
        pts.extend([
            Point::new(100.0, y),
            Point::new(140.0, y),
            Point::new(140.0, y + 30.0),
            Point::new(100.0, y + 30.0),
        ]);
    }
    pts.extend([
        Point::new(100.0, 95.0),
        Point::new(140.0, 95.0),
        Point::new(100.0, 265.0),
        Point::new(140.0, 265.0),
    ]);
    assert_eq!(dataset::landmark_problem(&pts, None), None);
    pts[5].y = 1e300;
    let msg = dataset::landmark_problem(&pts, None).unwrap();
    assert!(
        msg.contains("point 5") && msg.contains("far outside"),
        "{msg}"
    );
}

#[test]
fn an_os_error_is_said_once_in_the_printed_chain() {
    let dir = tempfile::tempdir().unwrap();
    // Under a regular file: the OS refuses ("Not a directory"); a directory
    // named x.pts is refused by aac itself, with no OS error to repeat.
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let p = file.join("x.pts");
    let err = read_pts(&p).unwrap_err();
    let mut chain = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        chain.push_str(&format!(": {c}"));
        cause = c.source();
    }
    assert!(chain.contains("x.pts"), "{chain}");
    assert_eq!(chain.matches("os error").count(), 1, "{chain}");
}

#[test]
fn monochrome1_is_inverted_within_the_stored_bits_not_the_observed_range() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m1.dcm");
    let img = write_small_dicom(&p);
    let bytes = std::fs::read(&p).unwrap();
    let at = bytes
        .windows(11)
        .position(|w| w == b"MONOCHROME2")
        .expect("photometric interpretation");
    let mut bytes = bytes;
    bytes[at + 10] = b'1';
    std::fs::write(&p, &bytes).unwrap();
    let back = read_image(&p).unwrap();
    // 12 bits stored: v -> 4095 - v, whatever the image's own range.
    for (a, b) in img.as_raw().iter().zip(back.as_raw()) {
        assert_eq!(u32::from(*a) + u32::from(*b), 4095);
    }
}

/// MR_small.dcm rewritten as Deflated Explicit VR Little Endian
/// (1.2.840.10008.1.2.1.99): the meta group with the new transfer syntax,
/// then the data set as one raw deflate stream.
fn deflated_copy_of_mr_small(out: &Path) {
    use std::io::Write;
    let bytes = std::fs::read(samples().join("MR_small.dcm")).unwrap();
    assert_eq!(&bytes[128..132], b"DICM");
    let group_len = u32::from_le_bytes(bytes[140..144].try_into().unwrap()) as usize;
    let (meta, data) = (&bytes[144..144 + group_len], &bytes[144 + group_len..]);
    // Re-encode the meta elements with the new transfer syntax UID.
    let mut new_meta = Vec::new();
    let mut pos = 0;
    while pos < meta.len() {
        let tag = &meta[pos..pos + 4];
        let vr = &meta[pos + 4..pos + 6];
        let long = matches!(vr, b"OB" | b"OW" | b"UN" | b"SQ" | b"UT");
        let (head, len) = if long {
            (
                12,
                u32::from_le_bytes(meta[pos + 8..pos + 12].try_into().unwrap()) as usize,
            )
        } else {
            (
                8,
                u16::from_le_bytes(meta[pos + 6..pos + 8].try_into().unwrap()) as usize,
            )
        };
        if tag == [0x02, 0x00, 0x10, 0x00] {
            let uid = b"1.2.840.10008.1.2.1.99\0";
            new_meta.extend_from_slice(&meta[pos..pos + 6]);
            new_meta.extend_from_slice(&(uid.len() as u16).to_le_bytes());
            new_meta.extend_from_slice(uid);
        } else {
            new_meta.extend_from_slice(&meta[pos..pos + head + len]);
        }
        pos += head + len;
    }
    let mut file = bytes[..140].to_vec();
    file.extend_from_slice(&(new_meta.len() as u32).to_le_bytes());
    file.extend_from_slice(&new_meta);
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    file.extend_from_slice(&enc.finish().unwrap());
    std::fs::write(out, file).unwrap();
}

#[test]
fn a_deflated_file_reads_as_its_inflated_original() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deflated.dcm");
    deflated_copy_of_mr_small(&path);
    let h = read_header(&path).unwrap();
    assert_eq!(
        h.transfer_syntax_uid.trim_end_matches('\0'),
        "1.2.840.10008.1.2.1.99"
    );
    let img = read_image(&path).unwrap_or_else(|e| panic!("{e}"));
    let mr = read_image(&samples().join("MR_small.dcm")).unwrap();
    assert_eq!(img.as_raw(), mr.as_raw());
}
