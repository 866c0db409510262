//! `aac train bundle`, `aac predict` (broken files, resume, shards) and `aac merge`.

mod common;

use common::{aac, ok, output_text, s};
use std::collections::BTreeMap;
use std::path::Path;

fn rows(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(dir.join("scores.csv")).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            h.iter()
                .zip(rec.unwrap().iter())
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn bundle_predict_resume_shards_and_broken_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, model) = common::tiny_bundle(tmp.path());
    let new = tmp.path().join("new");
    ok(aac(&["synth", "--n", "6", "--seed", "2", "--out", s(&new)]));
    // Broken inputs: an unreadable image, a missing landmark file, degenerate landmarks.
    std::fs::write(new.join("images/synth00001.png"), b"not a png").unwrap();
    std::fs::remove_file(new.join("landmarks/synth00002.pts")).unwrap();
    aac_io::write_pts(
        &new.join("landmarks/synth00003.pts"),
        &vec![aac_io::Point::new(3.0, 3.0); 20],
    )
    .unwrap();
    // Landmarks mirrored in x relative to their image: scored, but flagged.
    common::mirror_points(&new.join("images"), &new.join("landmarks"), "synth00004");
    let out = tmp.path().join("out");
    let (img_dir, lm_dir) = (new.join("images"), new.join("landmarks"));
    let args = [
        "predict",
        "--model",
        s(&model),
        "--images",
        s(&img_dir),
        "--landmarks",
        s(&lm_dir),
        "--out",
        s(&out),
        "--overlays",
    ];
    let first = ok(aac(&args));
    // PNGs state no pixel spacing: said once in the log, not on every row.
    assert_eq!(
        first.matches("state no pixel spacing").count(),
        1,
        "{first}"
    );
    let r = rows(&out);
    assert_eq!(r.len(), 6);
    let by_id: BTreeMap<String, BTreeMap<String, String>> =
        r.into_iter().map(|x| (x["id"].clone(), x)).collect();
    for bad in ["synth00001", "synth00002", "synth00003"] {
        assert_eq!(by_id[bad]["status"], "error", "{bad}");
        assert!(!by_id[bad]["message"].is_empty());
    }
    assert_ne!(
        by_id["synth00000"]["status"], "error",
        "{:?}",
        by_id["synth00000"]
    );
    assert!(by_id["synth00000"]["aac24"].parse::<u32>().unwrap() <= 24);
    assert!(
        by_id["synth00004"]["flags"].contains("landmarks_disagree_with_image"),
        "{:?}",
        by_id["synth00004"]
    );
    assert!(!by_id["synth00000"]["flags"].contains("landmarks_disagree_with_image"));
    assert!(out.join("overlays/synth00000.jpg").exists() && out.join("index.html").exists());
    for e in std::fs::read_dir(out.join("overlays")).unwrap() {
        let bytes = e.unwrap().metadata().unwrap().len() as usize;
        assert!(bytes <= aac_pipeline::predict::OVERLAY_MAX_BYTES, "{bytes}");
    }
    // The points each row was scored with, and its uncertainty in [0, 1].
    let used = aac_io::read_pts(&out.join("points/synth00000.pts")).unwrap();
    assert_eq!(used.len(), aac_io::N_SPINE);
    for (id, r) in &by_id {
        if r["status"] != "error" {
            let u: f64 = r["uncertainty"].parse().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&u), "{id}: {:?}", r["uncertainty"]);
        }
    }

    // A crash midway: two rows lost and a torn line; re-running completes without duplicates.
    let text = std::fs::read_to_string(out.join("scores.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let torn = format!(
        "{}\n{}",
        lines[..lines.len() - 2].join("\n"),
        &lines[lines.len() - 2][..5]
    );
    std::fs::write(out.join("scores.csv"), torn).unwrap();
    let t = ok(aac(&args));
    assert!(t.contains("2 images to score"), "{t}");
    let again = rows(&out);
    assert_eq!(again.len(), 6);
    let ids: std::collections::BTreeSet<_> = again.iter().map(|x| x["id"].clone()).collect();
    assert_eq!(ids.len(), 6);
    // Nothing to do the third time.
    assert!(ok(aac(&args)).contains("0 images to score"));

    // Shards 1/2 and 2/2, merged, equal the single run.
    let (s1, s2, merged) = (
        tmp.path().join("s1"),
        tmp.path().join("s2"),
        tmp.path().join("merged"),
    );
    for (k, dir) in [("1/2", &s1), ("2/2", &s2)] {
        let mut a = args.to_vec();
        a[8] = s(dir);
        a.push("--shard");
        a.push(k);
        ok(aac(&a));
    }
    let n1 = rows(&s1).len();
    let n2 = rows(&s2).len();
    assert_eq!(n1 + n2, 6);
    ok(aac(&["merge", s(&s1), s(&s2), "--out", s(&merged)]));
    let m: BTreeMap<String, BTreeMap<String, String>> = rows(&merged)
        .into_iter()
        .map(|x| (x["id"].clone(), x))
        .collect();
    assert_eq!(m.len(), 6);
    for (id, row) in &by_id {
        assert_eq!(m[id]["aac24"], row["aac24"], "{id}");
        assert_eq!(m[id]["status"], row["status"], "{id}");
    }
    // Resume never keeps a row scored from other inputs: a changed image is
    // scored again, and all of them with another bundle.
    // (another image under the same id: a different size, whatever the
    // file system's time resolution)
    let replacement = std::fs::read(new.join("images/synth00005.png")).unwrap();
    assert_ne!(
        replacement.len() as u64,
        std::fs::metadata(new.join("images/synth00004.png"))
            .unwrap()
            .len()
    );
    std::fs::write(new.join("images/synth00004.png"), &replacement).unwrap();
    let t = ok(aac(&args));
    assert!(t.contains("1 images to score (5 already done)"), "{t}");
    let model2 = tmp.path().join("model2.aac");
    ok(aac(&[
        "train",
        "bundle",
        "--data",
        s(&train),
        "--out",
        s(&model2),
        "--unet-width",
        "2",
        "--epochs",
        "1",
        "--seed",
        "9",
        "--no-landmarks",
    ]));
    let mut other = args.to_vec();
    other[2] = s(&model2);
    let t = ok(aac(&other));
    assert!(t.contains("6 images to score (0 already done)"), "{t}");
    // merge refuses shards of different bundles, and a missing input, and
    // writes nothing then.
    let refused = tmp.path().join("refused");
    let o = aac(&["merge", s(&s1), s(&out), "--out", s(&refused)]);
    assert!(!o.status.success() && output_text(&o).contains("different bundles"));
    let o = aac(&["merge", s(&s1), "/no/such/shard", "--out", s(&refused)]);
    assert!(!o.status.success() && output_text(&o).contains("/no/such/shard"));
    assert!(!refused.exists(), "merge wrote output before failing");

    // Per-wall and continuous columns are filled; PNG has no spacing, so the
    // lengths are empty and the message says why; --pixel-spacing fills them.
    let ok_row = &by_id["synth00000"];
    assert!(ok_row["aac24_continuous"].parse::<f64>().unwrap() <= 24.0);
    assert!(ok_row["ant_length_mm"].is_empty() && ok_row["pixel_spacing_mm"].is_empty());
    assert!(!ok_row["message"].contains("pixel spacing"), "{ok_row:?}");
    // AAC-8 is the sum of its wall scores, each 0-4.
    let walls: Vec<u32> = ["aac8_ant", "aac8_post"]
        .iter()
        .map(|c| ok_row[*c].parse().unwrap())
        .collect();
    assert!(walls.iter().all(|&w| w <= 4));
    assert_eq!(ok_row["aac8"].parse::<u32>().unwrap(), walls[0] + walls[1]);
    let spaced = tmp.path().join("spaced");
    let mut a = args.to_vec();
    a[8] = s(&spaced);
    a.extend(["--pixel-spacing", "0.3"]);
    ok(aac(&a));
    let sp = rows(&spaced);
    let row0 = sp.iter().find(|r| r["id"] == "synth00000").unwrap();
    assert!(
        row0["ant_length_mm"].parse::<f64>().unwrap() >= 0.0,
        "{row0:?}"
    );
    assert_eq!(row0["pixel_spacing_mm"], "0.3");
    // A re-run over the first output with a new option scores the rows
    // again instead of keeping rows made without it.
    let mut a2 = args.to_vec();
    a2.extend(["--pixel-spacing", "0.3"]);
    let t = ok(aac(&a2));
    assert!(t.contains("6 images to score (0 already done)"), "{t}");
    let r2 = rows_by_id(&out);
    assert_eq!(r2["synth00000"]["pixel_spacing_mm"], "0.3");
    assert!(r2["synth00000"]["ant_length_mm"].parse::<f64>().is_ok());
    assert!(ok(aac(&a2)).contains("0 images to score"));
    a.pop();
    a.push("0");
    let o = aac(&a);
    assert!(
        !o.status.success() && output_text(&o).contains("pixel spacing"),
        "{}",
        output_text(&o)
    );

    // A run in which every image fails exits non-zero; a missing landmark
    // directory is refused before anything is written.
    let empty = tmp.path().join("no_landmarks");
    std::fs::create_dir_all(&empty).unwrap();
    let all_failed = tmp.path().join("all_failed");
    let mut a = args.to_vec();
    a[6] = s(&empty);
    a[8] = s(&all_failed);
    let o = aac(&a);
    assert!(!o.status.success(), "{}", output_text(&o));
    assert!(
        output_text(&o).contains("every one of the 6 images failed"),
        "{}",
        output_text(&o)
    );
    // ... and so does a re-run of it, which has nothing left to score.
    let o = aac(&a);
    assert!(!o.status.success(), "{}", output_text(&o));
    assert!(output_text(&o).contains("0 images to score"));
    // The error rows had no points: `landmarks` says none.
    assert!(rows(&all_failed).iter().all(|r| r["landmarks"] == "none"));
    let mut huge = args.to_vec();
    huge.extend(["--jobs", "100000000"]);
    let o = aac(&huge);
    assert!(!o.status.success() && !output_text(&o).contains("panicked"));
    assert!(output_text(&o).contains("--jobs"), "{}", output_text(&o));
    a[6] = "/no/such/landmarks";
    let o = aac(&a);
    assert!(!o.status.success() && output_text(&o).contains("landmark directory does not exist"));

    // A bundle damaged in the middle of its weights, or with an edited
    // header value, is refused rather than scoring everything wrongly.
    let good = std::fs::read(&model).unwrap();
    let mut damaged = good.clone();
    let mid = damaged.len() / 2 + 17;
    damaged[mid] ^= 0x5a;
    std::fs::write(&model, &damaged).unwrap();
    let o = aac(&args);
    assert!(!o.status.success() && output_text(&o).contains("damaged or was edited"));
    let edited = String::from_utf8_lossy(&good).replacen("\"threshold\":", "\"threshold\":9", 1);
    std::fs::write(&model, edited.as_bytes()).unwrap();
    let o = aac(&args);
    assert!(!o.status.success(), "{}", output_text(&o));
    assert!(!output_text(&o).contains("panicked"));

    // Bad bundle.
    std::fs::write(&model, b"AAC-BUNDLE\n{\"version\": 9}\n").unwrap();
    let o = aac(&args);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("version"));
}

#[test]
fn landmarks_found_by_the_bundle_and_a_bundle_without_a_finder() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, model) = common::tiny_finder_bundle(tmp.path());
    // Two finders by default: the second gives a second opinion.
    let b = aac_pipeline::bundle::load(&model).unwrap();
    assert_eq!(b.header.landmarks.as_ref().unwrap().training.members, 2);
    assert_eq!(b.finder.as_ref().unwrap().members(), 2);
    let new = tmp.path().join("new");
    ok(aac(&[
        "synth",
        "--n",
        "3",
        "--seed",
        "2",
        "--style",
        "hologic",
        "--out",
        s(&new),
    ]));
    // A blank image: no spine in it.
    aac_io::write_png16(
        &new.join("images/blank.png"),
        &aac_io::Gray16::from_raw(200, 400, vec![1000u16; 200 * 400]).unwrap(),
    )
    .unwrap();
    aac_io::write_png16(
        &new.join("images/white.png"),
        &aac_io::Gray16::from_raw(200, 400, vec![65535u16; 200 * 400]).unwrap(),
    )
    .unwrap();
    let images = new.join("images");
    let found = tmp.path().join("found");
    let find_into = |images: &Path, out: &Path, overlays: bool| {
        let mut a = vec![
            "landmarks",
            "--model",
            s(&model),
            "--images",
            s(images),
            "--out",
            s(out),
        ];
        if overlays {
            a.push("--overlays");
        }
        aac(&a)
    };
    let o = find_into(&images, &found, true);
    let t = output_text(&o);
    assert!(!t.contains("panicked"), "{t}");
    // landmarks.csv: the contract's columns, one row per image.
    let mut r = csv::Reader::from_path(found.join("landmarks.csv")).unwrap();
    assert_eq!(
        r.headers().unwrap().iter().collect::<Vec<_>>(),
        ["id", "status", "confidence", "message", "flags"]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 5);
    for row in &rows {
        let pts = found.join(format!("{}.pts", &row[0]));
        match &row[1] {
            // Written rows: 20 points in the ISBE format, confidence in 0..1.
            "ok" | "flagged" => {
                let text = std::fs::read_to_string(&pts).unwrap();
                assert!(text.starts_with("version: 1\nn_points: 20\n{"), "{text}");
                assert_eq!(aac_io::read_pts(&pts).unwrap().len(), 20);
                let c: f64 = row[2].parse().unwrap();
                assert!((0.0..=1.0).contains(&c));
                assert_eq!(&row[1] == "flagged", &row[4] == "landmarks_uncertain");
            }
            "error" => {
                assert!(!row[3].is_empty() && !pts.exists());
            }
            other => panic!("status {other}"),
        }
    }
    // A blank image (every pixel the same, 1000 or 65535) has no spine.
    for id in ["blank", "white"] {
        let blank = rows.iter().find(|r| &r[0] == id).unwrap();
        assert_eq!(&blank[1], "error", "{blank:?}");
        assert!(blank[3].contains("no spine found"), "{blank:?}");
    }
    // Run again: everything is done already; the table is kept (the exit
    // status says whether every image failed, as on the first run).
    let again = find_into(&images, &found, false);
    let t = output_text(&again);
    assert!(
        t.contains("0 images to find points in (5 already done)"),
        "{t}"
    );
    assert_eq!(again.status.success(), o.status.success(), "{t}");
    // A rerun into the same directory where an image now fails leaves no
    // .pts of the earlier run for it (predict --landmarks would take it).
    let later = tmp.path().join("later");
    std::fs::create_dir_all(&later).unwrap();
    std::fs::write(later.join("synth00000.png"), b"not a png").unwrap();
    let stale = found.join("synth00000.pts");
    std::fs::copy(new.join("landmarks/synth00000.pts"), &stale).unwrap();
    let o = find_into(&later, &found, false);
    assert!(!o.status.success() && !output_text(&o).contains("panicked"));
    assert!(!stale.exists(), "the earlier run's points are still there");
    // The earlier run's rows of other images stay in landmarks.csv.
    let mut r = csv::Reader::from_path(found.join("landmarks.csv")).unwrap();
    let table: BTreeMap<String, String> = r
        .records()
        .map(|x| x.unwrap())
        .map(|x| (x[0].to_string(), x[1].to_string()))
        .collect();
    assert_eq!(table.len(), 5, "{table:?}");
    assert_eq!(table["synth00000"], "error");
    assert_eq!(table["white"], "error");
    // predict without --landmarks uses the found points and says so (a
    // finder trained this briefly may find none, and the run then fails,
    // but every row still says where its points came from); with a
    // directory lacking some ids it finds only those.
    let out = tmp.path().join("out");
    let o = aac(&[
        "predict",
        "--model",
        s(&model),
        "--images",
        s(&images),
        "--out",
        s(&out),
        "--overlays",
    ]);
    assert!(!output_text(&o).contains("panicked"), "{}", output_text(&o));
    let p = rows_by_id(&out);
    assert_eq!(p.len(), 5);
    // Found points say `found`; a row whose points could not be found says
    // `none` (a finder trained this briefly may find none).
    assert!(
        p.values()
            .all(|r| r["landmarks"] == "found"
                || (r["status"] == "error" && r["landmarks"] == "none")),
        "{p:?}"
    );
    let partial = tmp.path().join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::copy(
        new.join("landmarks/synth00000.pts"),
        partial.join("synth00000.pts"),
    )
    .unwrap();
    let out2 = tmp.path().join("out2");
    ok(aac(&[
        "predict",
        "--model",
        s(&model),
        "--images",
        s(&images),
        "--landmarks",
        s(&partial),
        "--out",
        s(&out2),
    ]));
    let p2 = rows_by_id(&out2);
    assert_eq!(p2["synth00000"]["landmarks"], "given");
    // Without a file its points go to the finder: found, or none if the
    // finder found nothing.
    let r1 = &p2["synth00001"];
    assert!(
        r1["landmarks"] == "found" || (r1["status"] == "error" && r1["landmarks"] == "none"),
        "{r1:?}"
    );

    // A bundle without a finder: a clear error for `landmarks` and for
    // predict without points.
    let bare = tmp.path().join("bare.aac");
    let mut a = vec![
        "train",
        "bundle",
        "--data",
        s(&train),
        "--out",
        s(&bare),
        "--no-landmarks",
    ];
    a.extend(&common::TINY[..4]);
    ok(aac(&a));
    let o = aac(&[
        "landmarks",
        "--model",
        s(&bare),
        "--images",
        s(&images),
        "--out",
        s(&tmp.path().join("x")),
    ]);
    assert!(!o.status.success());
    assert!(
        output_text(&o).contains("no landmark finder"),
        "{}",
        output_text(&o)
    );
    let o = aac(&[
        "predict",
        "--model",
        s(&bare),
        "--images",
        s(&images),
        "--out",
        s(&tmp.path().join("y")),
    ]);
    assert!(!o.status.success());
    assert!(
        output_text(&o).contains("--landmarks"),
        "{}",
        output_text(&o)
    );
}

fn rows_by_id(dir: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    rows(dir)
        .into_iter()
        .map(|x| (x["id"].clone(), x))
        .collect()
}

#[test]
fn quick_training_is_short_and_refuses_explicit_epochs() {
    let tmp = tempfile::tempdir().unwrap();
    let train = common::calcified_training_set(tmp.path());
    let model = tmp.path().join("model.aac");
    let base = [
        "train",
        "bundle",
        "--data",
        s(&train),
        "--out",
        s(&model),
        "--quick",
    ];
    for extra in [["--epochs", "2"], ["--landmark-epochs", "1"]] {
        let o = aac(&[&base[..], &extra[..]].concat());
        assert!(!o.status.success(), "--quick with {extra:?} was accepted");
        assert!(
            output_text(&o).contains("cannot be used with"),
            "{}",
            output_text(&o)
        );
        assert!(!model.exists());
    }
    let tiny = [
        "--unet-width",
        "2",
        "--landmark-width",
        "2",
        "--landmark-scans",
        "4",
    ];
    ok(aac(&[&base[..], &tiny[..]].concat()));
    let header = aac_pipeline::bundle::load(&model).unwrap().header;
    assert_eq!(
        header.training.unwrap().epochs,
        aac_pipeline::defaults::QUICK_EPOCHS
    );
    let finder = header.landmarks.unwrap().training;
    assert_eq!(finder.epochs, aac_pipeline::defaults::QUICK_LANDMARK_EPOCHS);
    assert_eq!(finder.coarse_epochs, 3 * finder.epochs);
    assert_eq!(finder.members, 1, "a quick bundle has one finder");
    // A count of finders no training runs with is refused before any work.
    let other = tmp.path().join("other.aac");
    for bad in ["0", "9"] {
        let o = aac(&[
            "train",
            "bundle",
            "--data",
            s(&train),
            "--out",
            s(&other),
            "--landmark-members",
            bad,
        ]);
        assert!(!o.status.success());
        assert!(
            output_text(&o).contains("members must be 1-8"),
            "{}",
            output_text(&o)
        );
        assert!(!other.exists());
    }
}
