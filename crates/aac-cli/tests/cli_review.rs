//! `aac review`: the token, the Host check, ids that try to leave the
//! output, the listing, every decision, a restart, two readers,
//! adjudication and the exported table read by `aac agree`.

mod common;

use common::{aac, ok, s, ReviewServer};
use serde_json::Value;

fn ids(v: &Value) -> Vec<String> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn review_guards_lists_records_resumes_adjudicates_and_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, _, out) = common::predicted_output(tmp.path());
    let out_s = s(&out);
    let ann = ReviewServer::start(&[out_s, "--reader", "ann", "--audit", "50"]);

    // One server per reader: a second one for ann is refused, and ends.
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_aac"))
        .args(["review", out_s, "--reader", "ann", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let status = loop {
        if let Some(st) = second.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > std::time::Duration::from_secs(30) {
            second.kill().unwrap();
            panic!("a second server for the same reader started");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        !status.success() && err.contains("already has aac review open"),
        "{err}"
    );

    // The token and the Host header.
    assert_eq!(ann.request("GET", "/api/summary", None, None).0, 403);
    assert_eq!(
        ann.request("GET", "/api/summary?token=0123", None, None).0,
        403
    );
    assert_eq!(ann.request("GET", "/?token=", None, None).0, 403);
    let with_token = format!("/api/summary?token={}", ann.token);
    assert_eq!(
        ann.request("GET", &with_token, Some("evil.example:80"), None)
            .0,
        421
    );
    assert_eq!(ann.request("GET", &with_token, None, None).0, 200);
    let (code, page) = ann.request("GET", &format!("/?token={}", ann.token), None, None);
    assert!(code == 200 && page.contains("aac review"), "{code}");

    // Ids that try to reach other files are not scans of the output.
    for bad in [
        "/api/scans/..%2F..%2Fscores.csv/overlay",
        "/api/scans/%2Fetc%2Fpasswd/image",
        "/api/scans/..%5Cscores.csv/thumb",
        "/../scores.csv",
        "/api/../scores.csv",
    ] {
        let (code, body) = ann.request("GET", &format!("{bad}?token={}", ann.token), None, None);
        assert!(code == 404 || code == 400, "{bad}: {code}");
        assert!(!body.contains("aac24,l1_ant"), "{bad}: {body}");
    }

    // The listing: every scan, review order, filters, paging, counts.
    let (code, all) = ann.get("/api/scans?limit=100");
    assert_eq!(code, 200);
    assert_eq!(all["total"], 8);
    let order: Vec<&str> = all["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["group"].as_str().unwrap())
        .collect();
    let rank = |g: &str| {
        ["error", "flagged", "audit", "rest"]
            .iter()
            .position(|x| *x == g)
            .unwrap()
    };
    assert!(
        order.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
        "{order:?}"
    );
    let first = all["rows"][0].clone();
    for key in [
        "aac24",
        "subscores",
        "status",
        "flags",
        "uncertainty",
        "decision",
    ] {
        assert!(first.get(key).is_some(), "{key}: {first}");
    }
    let (_, page2) = ann.get("/api/scans?offset=3&limit=3");
    assert_eq!(ids(&page2), ids(&all)[3..6].to_vec());
    let (_, audit) = ann.get("/api/scans?audit=true");
    assert!(audit["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["status"] == "ok"));
    let (_, high) = ann.get("/api/scans?min_aac24=1&sort=-aac24");
    let scores: Vec<u64> = high["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["aac24"].as_u64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]) && scores.iter().all(|&x| x >= 1),
        "{scores:?}"
    );
    assert_eq!(ann.get("/api/scans?sort=sideways").0, 400);
    assert_eq!(ann.get("/api/scans?colour=red").0, 400);

    // Decisions: accept, correct, levels down, unreadable; refusals say why.
    let id: Vec<String> = ids(&all);
    let (code, row) = ann.decide(&format!(r#"{{"id":"{}","action":"accept"}}"#, id[0]));
    assert_eq!(code, 200, "{row}");
    assert_eq!(row["decision"]["action"], "accept");
    let (code, row) = ann.decide(&format!(
        r#"{{"id":"{}","action":"correct","subscores":[3,3,0,0,0,0,0,1]}}"#,
        id[1]
    ));
    assert_eq!(code, 200, "{row}");
    assert_eq!(row["current_aac24"], 7);
    let (code, row) = ann.decide(&format!(r#"{{"id":"{}","action":"levels_down"}}"#, id[2]));
    assert_eq!(code, 200, "{row}");
    assert_eq!(row["decision"]["action"], "levels_down");
    let (_, moved) = ann.get(&format!("/api/scans/{}", id[2]));
    let (_, predicted) = (
        0,
        aac_io::read_pts(&out.join("points").join(format!("{}.pts", id[2]))).unwrap(),
    );
    assert!(
        moved["points"][0][1].as_f64().unwrap() > predicted[0].y + 10.0,
        "{}",
        moved["points"]
    );
    // Points dragged: scored again with them, recorded in the file.
    let mut pts = moved["points"].clone();
    pts[0][0] = serde_json::json!(pts[0][0].as_f64().unwrap() + 3.0);
    let (code, row) = ann.decide(&format!(
        r#"{{"id":"{}","action":"move_points","points":{pts}}}"#,
        id[2]
    ));
    assert_eq!(code, 200, "{row}");
    let (_, dragged) = ann.get(&format!("/api/scans/{}", id[2]));
    assert_eq!(dragged["points"][0], pts[0]);
    let (code, err) = ann.decide(&format!(
        r#"{{"id":"{}","action":"move_points","points":[[1,2],[3,4]]}}"#,
        id[2]
    ));
    assert!(
        code == 400 && err["error"].as_str().unwrap().contains("20"),
        "{err}"
    );
    let (code, err) = ann.decide(&format!(r#"{{"id":"{}","action":"unreadable"}}"#, id[3]));
    assert!(
        code == 400 && err["error"].as_str().unwrap().contains("note"),
        "{err}"
    );
    ann.decide(&format!(
        r#"{{"id":"{}","action":"unreadable","note":"cut off"}}"#,
        id[3]
    ));
    let (code, err) = ann.decide(r#"{"id":"nope","action":"accept"}"#);
    assert!(
        code == 400 && err["error"].as_str().unwrap().contains("nope"),
        "{err}"
    );
    let (code, _) = ann.decide(&format!(
        r#"{{"id":"{}","action":"correct","subscores":[4,0,0,0,0,0,0,0]}}"#,
        id[4]
    ));
    assert_eq!(code, 400);
    let (_, reviewed) = ann.get("/api/scans?reviewed=true");
    assert_eq!(reviewed["total"], 4);
    drop(ann);

    // The decision file is the record: one line per decision, resumed on restart.
    let log = std::fs::read_to_string(out.join("review/ann.csv")).unwrap();
    assert_eq!(log.lines().count(), 6, "{log}");
    assert!(log.starts_with("id,reader,role,time_utc,action,"));
    // The moved points come back from the file alone (not from the points
    // rescoring wrote).
    std::fs::remove_dir_all(out.join("review/points")).unwrap();
    let ann = ReviewServer::start(&[out_s, "--reader", "ann"]);
    let (_, summary) = ann.get("/api/summary");
    assert_eq!(summary["reviewed"], 4);
    let (_, again) = ann.get(&format!("/api/scans/{}", id[2]));
    let x = |v: &Value| v["points"][0][0].as_f64().unwrap();
    assert!((x(&again) - x(&dragged)).abs() < 0.01, "{again}");
    drop(ann);

    // A second reader disagrees on one scan and agrees on another.
    let bob = ReviewServer::start(&[out_s, "--reader", "bob"]);
    bob.decide(&format!(
        r#"{{"id":"{}","action":"correct","subscores":[0,0,0,0,0,0,0,0]}}"#,
        id[1]
    ));
    bob.decide(&format!(r#"{{"id":"{}","action":"accept"}}"#, id[0]));
    let (_, dis) = bob.get("/api/scans?disagree=true");
    assert_eq!(ids(&dis), vec![id[1].clone()]);
    drop(bob);

    // The adjudicator sees the disagreement and settles it.
    let judge = ReviewServer::start(&[out_s, "--adjudicate", "--reader", "chief"]);
    let list = std::fs::read_to_string(out.join("review/_disagreements.csv")).unwrap();
    assert_eq!(list.lines().count(), 3, "{list}");
    let (_, one) = judge.get(&format!("/api/scans/{}", id[1]));
    assert_eq!(one["readings"].as_array().unwrap().len(), 2, "{one}");
    judge.decide(&format!(
        r#"{{"id":"{}","action":"correct","subscores":[2,2,0,0,0,0,0,0]}}"#,
        id[1]
    ));
    drop(judge);

    // The final table: sources, scores, and `aac agree` reads it.
    let fin = tmp.path().join("final.csv");
    ok(aac(&["review", out_s, "--export", s(&fin)]));
    let mut r = csv::Reader::from_path(&fin).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|c| c == n).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 8);
    let by = |i: &str| rows.iter().find(|r| &r[0] == i).unwrap().clone();
    assert_eq!(&by(&id[1])[col("source")], "adjudicated");
    assert_eq!(&by(&id[1])[col("aac24")], "4");
    assert_eq!(&by(&id[0])[col("source")], "reader");
    assert_eq!(&by(&id[3])[col("status")], "unreadable");
    assert_eq!(&by(&id[5])[col("source")], "model");
    let agree = ok(aac(&[
        "agree",
        "--a",
        s(&out.join("scores.csv")),
        "--b",
        s(&fin),
    ]));
    assert!(agree.contains("ICC") || agree.contains("icc"), "{agree}");

    // One reader's table holds the scans they reviewed: agreement between
    // readers, and between a reader and the model, on those scans.
    let (a_csv, b_csv) = (tmp.path().join("ann.csv"), tmp.path().join("bob.csv"));
    ok(aac(&[
        "review",
        out_s,
        "--export",
        s(&a_csv),
        "--reader",
        "ann",
    ]));
    ok(aac(&[
        "review",
        out_s,
        "--export",
        s(&b_csv),
        "--reader",
        "bob",
    ]));
    let n = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count() - 1;
    assert_eq!((n(&a_csv), n(&b_csv)), (4, 2));
    let between = ok(aac(&[
        "agree",
        "--a",
        s(&a_csv),
        "--b",
        s(&b_csv),
        "--json",
    ]));
    let v: Value = serde_json::from_str(&between[between.find('{').unwrap()..]).unwrap();
    // Both read two scans: the same on one, 7 against 0 on the other.
    assert_eq!(v["n"], 2, "{between}");
    assert_eq!(v["mae"], 3.5, "{between}");
}
