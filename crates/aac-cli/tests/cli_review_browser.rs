//! `aac review` in a real browser: headless Chromium driven through
//! ChromeDriver's WebDriver protocol (plain HTTP on loopback). Skipped,
//! saying so, where Chromium or ChromeDriver is not installed (`.ci/run`
//! installs both where apt is available). With `AAC_SCREENSHOTS=DIR` the
//! screenshots of docs/review.md are written there.

mod common;

use common::{aac, http, ok, s, ReviewServer};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// The WebDriver element key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A ChromeDriver process and one browser session, ended when dropped.
struct Browser {
    driver: std::process::Child,
    addr: String,
    session: String,
}

impl Browser {
    fn start(chromium: &str, chromedriver: &str) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = std::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let t0 = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut b = Browser {
            driver,
            addr,
            session: String::new(),
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,900"]}
        }}});
        let v = b.call("POST", "/session", Some(caps));
        b.session = v["sessionId"].as_str().expect("a session").to_string();
        b
    }

    /// One WebDriver command: its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string());
        let (code, text) = http(&self.addr, method, path, &self.addr, body.as_deref());
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(code == 200, "{method} {path}: {code} {text}");
        v["value"].clone()
    }

    fn cmd(&self, method: &str, what: &str, body: Value) -> Value {
        let body = (!body.is_null()).then_some(body);
        self.call(method, &format!("/session/{}{what}", self.session), body)
    }

    fn open(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    fn script(&self, js: &str) -> Value {
        self.cmd("POST", "/execute/sync", json!({ "script": js, "args": [] }))
    }

    /// Waits until `js` (an expression) is true and the page has no request
    /// in flight, for at most 30 s.
    fn wait_for(&self, js: &str) {
        let t0 = Instant::now();
        while self.script(&format!(
            "return !!(window.aacIdle && aacIdle() && ({js}));"
        )) != Value::Bool(true)
        {
            if t0.elapsed() > Duration::from_secs(30) {
                let state = self.script(
                    "return [document.getElementById('range').textContent, document.getElementById('sid').textContent, document.getElementById('status').textContent, location.hash]",
                );
                panic!("timed out waiting for {js}; the page shows {state}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn click(&self, css: &str) {
        let el = self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        let id = el[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {el}"))
            .to_string();
        self.cmd("POST", &format!("/element/{id}/click"), json!({}));
    }

    /// Types keys as a user would (WebDriver key actions).
    fn keys(&self, keys: &str) {
        let mut actions = Vec::new();
        for k in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": k.to_string()}));
            actions.push(json!({"type": "keyUp", "value": k.to_string()}));
        }
        self.cmd(
            "POST",
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        );
    }

    fn screenshot(&self, dir: Option<&Path>, name: &str) {
        if let Some(dir) = dir {
            use base64::Engine;
            let png = self.cmd("GET", "/screenshot", Value::Null);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(png.as_str().unwrap())
                .unwrap();
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(
                &self.addr,
                "DELETE",
                &format!("/session/{}", self.session),
                &self.addr,
                None,
            );
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn found(candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|p| Path::new(p).exists())
        .map(|p| p.to_string())
}

#[test]
fn a_reader_filters_opens_corrects_shifts_levels_drags_a_corner_marks_unreadable_and_reloads() {
    let chromium = found(&[
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]);
    let driver = found(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
    let (Some(chromium), Some(driver)) = (chromium, driver) else {
        eprintln!("SKIPPED: the browser test needs Chromium and ChromeDriver (apt-get install chromium chromium-driver)");
        return;
    };
    let shots = std::env::var_os("AAC_SCREENSHOTS").map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let (_, _, _, out) = common::predicted_output(tmp.path());
    let server = ReviewServer::start(&[s(&out), "--reader", "eve"]);
    let b = Browser::start(&chromium, &driver);
    b.open(&server.url);
    b.wait_for("document.querySelectorAll('tr.row').length == 8");
    b.screenshot(shots.as_deref(), "review-queue.png");

    // Filter to flagged (key f): only flagged rows remain.
    b.keys("f");
    b.wait_for("document.getElementById('range').textContent.includes('of') && !document.getElementById('range').textContent.includes('of 8')");
    let statuses =
        b.script("return [...document.querySelectorAll('tr.row td.st')].map(t => t.textContent)");
    let statuses = statuses.as_array().unwrap();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|s| s == "flagged"),
        "{statuses:?}"
    );
    let ids = b.script(
        "return [...document.querySelectorAll('tr.row td:first-child')].map(t => t.textContent)",
    );
    assert!(
        ids.as_array().unwrap().contains(&json!("synth00004")),
        "the mirrored scan: {ids}"
    );

    // Open the first and correct its first sub-score by keyboard.
    let corrected = ids[0].clone();
    b.click("tr.row");
    b.wait_for(&format!(
        "document.getElementById('sid').textContent == {corrected}"
    ));
    b.keys("s2");
    b.screenshot(shots.as_deref(), "review-correct.png");
    b.keys("\u{E007}");
    b.wait_for("document.getElementById('status').textContent.includes('correct recorded')");

    // Back to every scan (the flagged first); shift the levels of the last
    // one up.
    b.keys("f");
    b.wait_for("document.getElementById('range').textContent.includes('of 8')");
    b.click("tr.row:nth-child(8)");
    b.wait_for(&format!(
        "document.getElementById('sid').textContent != {corrected}"
    ));
    let shifted = b.script("return document.getElementById('sid').textContent");
    b.keys("u");
    b.wait_for("document.getElementById('status').textContent.includes('levels_up recorded')");

    // Mark the next one unreadable, with the reason asked for.
    b.click("tr.row:nth-child(7)");
    b.wait_for(&format!(
        "document.getElementById('sid').textContent != {shifted}"
    ));
    let unreadable = b.script("return document.getElementById('sid').textContent");
    b.keys("x");
    b.cmd("POST", "/alert/text", json!({"text": "patient moved"}));
    b.cmd("POST", "/alert/accept", json!({}));
    b.wait_for("document.getElementById('status').textContent.includes('unreadable recorded')");
    b.screenshot(shots.as_deref(), "review-overlay.png");

    // Drag L1's first corner 8 screen pixels right: scored again at once.
    b.click("tr.row:nth-child(5)");
    b.wait_for("scan && img && document.getElementById('canvas').clientWidth > 20");
    let dragged = b.script("return document.getElementById('sid').textContent");
    let at = b.script(
        "const c = document.getElementById('canvas'), r = c.getBoundingClientRect(), k = c.clientWidth / c.width; \
         return [Math.round(scan.points[0][0] * k - r.width / 2), Math.round(scan.points[0][1] * k - r.height / 2)];",
    );
    let canvas = b.cmd(
        "POST",
        "/element",
        json!({"using": "css selector", "value": "#canvas"}),
    );
    let pointer = json!({"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": [
        {"type": "pointerMove", "origin": canvas, "x": at[0], "y": at[1]},
        {"type": "pointerDown", "button": 0},
        {"type": "pointerMove", "origin": "pointer", "x": 8, "y": 0, "duration": 100},
        {"type": "pointerUp", "button": 0},
    ]});
    b.cmd("POST", "/actions", json!({ "actions": [pointer] }));
    b.wait_for("document.getElementById('status').textContent.includes('move_points recorded')");

    // A reload shows what was recorded.
    b.open(&server.url);
    b.wait_for("document.getElementById('counts').textContent.includes('reviewed 4')");

    let log = std::fs::read_to_string(out.join("review/eve.csv")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 5, "{log}");
    assert!(
        lines[1].starts_with(&format!("{},eve,reader,", corrected.as_str().unwrap())),
        "{log}"
    );
    assert!(lines[1].contains(",correct,"), "{log}");
    assert!(
        lines[1].contains(",2 "),
        "the first sub-score set to 2: {log}"
    );
    assert!(
        lines[2].contains(",levels_up,") && lines[2].starts_with(shifted.as_str().unwrap()),
        "{log}"
    );
    assert!(
        lines[3].contains(",unreadable,") && lines[3].ends_with("patient moved"),
        "{log}"
    );
    assert!(lines[3].starts_with(unreadable.as_str().unwrap()));
    assert!(
        lines[4].starts_with(dragged.as_str().unwrap()) && lines[4].contains(",move_points,"),
        "{log}"
    );

    let fin = tmp.path().join("final.csv");
    ok(aac(&["review", s(&out), "--export", s(&fin)]));
    let text = std::fs::read_to_string(&fin).unwrap();
    assert_eq!(text.matches(",reader,eve,").count(), 4, "{text}");
}
