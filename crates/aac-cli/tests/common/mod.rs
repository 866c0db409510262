//! Helpers shared by the CLI tests: run the built `aac` and read its output.
#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `aac` with arguments to the end.
pub fn aac(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aac"))
        .args(args)
        .output()
        .expect("run aac")
}

/// Standard output and standard error together.
pub fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The output of a run that must succeed.
pub fn ok(o: Output) -> String {
    let t = output_text(&o);
    assert!(o.status.success(), "{t}");
    t
}

/// A path as an argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Training flags of a tiny bundle: a U-net of width 2 and a finder of width
/// 2, one epoch each (seconds, not a usable model).
pub const TINY: [&str; 8] = [
    "--unet-width",
    "2",
    "--epochs",
    "1",
    "--landmark-epochs",
    "1",
    "--landmark-width",
    "2",
];

/// Eight `hologic` scans in `dir/train` and a tiny bundle with a landmark
/// finder trained on them, `dir/model.aac`.
pub fn tiny_finder_bundle(dir: &Path) -> (PathBuf, PathBuf) {
    let train = dir.join("train");
    ok(aac(&[
        "synth",
        "--n",
        "8",
        "--seed",
        "1",
        "--style",
        "hologic",
        "--out",
        s(&train),
    ]));
    let model = dir.join("model.aac");
    let mut a = vec!["train", "bundle", "--data", s(&train), "--out", s(&model)];
    a.extend(TINY);
    ok(aac(&a));
    (train, model)
}

/// Ten calcified synthetic scans in `dir/train` and a tiny bundle without a
/// landmark finder trained on them, `dir/model.aac`.
pub fn tiny_bundle(dir: &Path) -> (PathBuf, PathBuf) {
    let train = calcified_training_set(dir);
    let model = dir.join("model.aac");
    ok(aac(&[
        "train",
        "bundle",
        "--data",
        s(&train),
        "--out",
        s(&model),
        "--unet-width",
        "2",
        "--epochs",
        "1",
        "--no-landmarks",
    ]));
    (train, model)
}

/// Ten calcified synthetic scans in `dir/train`, for training tiny models.
pub fn calcified_training_set(dir: &Path) -> PathBuf {
    let train = dir.join("train");
    ok(aac(&[
        "synth",
        "--n",
        "10",
        "--seed",
        "1",
        "--calcified-only",
        "--out",
        s(&train),
    ]));
    train
}

/// Mirrors the points of scan `id` in x relative to its image (in place):
/// points that do not fit their image.
pub fn mirror_points(images: &Path, landmarks: &Path, id: &str) {
    let path = landmarks.join(format!("{id}.pts"));
    let width = aac_io::read_image(&images.join(format!("{id}.png")))
        .unwrap()
        .width();
    let flipped: Vec<aac_io::Point> = aac_io::read_pts(&path)
        .unwrap()
        .iter()
        .map(|p| aac_io::Point::new(f64::from(width - 1) - p.x, p.y))
        .collect();
    aac_io::write_pts(&path, &flipped).unwrap();
}

/// A tiny bundle and a `predict --overlays` output of 8 scans with given
/// points, one of them mirrored (flagged): `(images, landmarks, model,
/// out)` under `dir`.
pub fn predicted_output(dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let (_, model) = tiny_bundle(dir);
    let new = dir.join("new");
    ok(aac(&["synth", "--n", "8", "--seed", "3", "--out", s(&new)]));
    let out = dir.join("out");
    let (images, landmarks) = (new.join("images"), new.join("landmarks"));
    // Points mirrored in x on one scan: scored, but flagged.
    mirror_points(&images, &landmarks, "synth00004");
    ok(aac(&[
        "predict",
        "--model",
        s(&model),
        "--images",
        s(&images),
        "--landmarks",
        s(&landmarks),
        "--out",
        s(&out),
        "--overlays",
        "--threshold",
        "0.05",
    ]));
    (images, landmarks, model, out)
}

/// A running `aac review`, stopped when dropped.
pub struct ReviewServer {
    child: std::process::Child,
    /// The URL printed on the first line of stdout.
    pub url: String,
    /// host:port.
    pub addr: String,
    /// The token in the URL.
    pub token: String,
}

impl ReviewServer {
    /// Starts `aac review` with `args` and reads its URL.
    pub fn start(args: &[&str]) -> ReviewServer {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_aac"))
            .arg("review")
            .args(args)
            .args(["--port", "0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start aac review");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_string();
        if !url.starts_with("http://127.0.0.1:") {
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
            panic!("aac review {args:?} printed {url:?}: {err}");
        }
        // Drain stderr so that the server never blocks on a full pipe.
        let mut stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let addr = url["http://".len()..]
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let token = url.split("token=").nth(1).unwrap().to_string();
        ReviewServer {
            child,
            url,
            addr,
            token,
        }
    }

    /// One HTTP/1.1 request to the server with `Host` set to `host` (its
    /// own address when None): status and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        host: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        http(&self.addr, method, path, host.unwrap_or(&self.addr), body)
    }

    /// A GET with the token: status and body parsed as JSON.
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (code, body) = self.request(
            "GET",
            &format!("{path}{sep}token={}", self.token),
            None,
            None,
        );
        (
            code,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A decision posted with the token: status and body as JSON.
    pub fn decide(&self, json: &str) -> (u16, serde_json::Value) {
        let (code, body) = self.request(
            "POST",
            &format!("/api/decision?token={}", self.token),
            None,
            Some(json),
        );
        (
            code,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }
}

impl Drop for ReviewServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request over a plain socket (so that the Host header is
/// the test's to set): status and body. Loopback only.
pub fn http(addr: &str, method: &str, path: &str, host: &str, body: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    assert!(
        addr.starts_with("127.0.0.1:"),
        "tests talk to loopback only"
    );
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Read the head, then as much body as it announces (a server may keep
    // the connection open whatever the request asked).
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let head_end = loop {
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the connection closed before the response head");
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let body = &raw[head_end..];
        let done = match length {
            Some(n) => body.len() >= n,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if done {
            break;
        }
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = String::from_utf8_lossy(&raw[head_end..]).to_string();
    let body = if chunked { dechunk(&body) } else { body };
    (code, body)
}

/// The body of a chunked HTTP response.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}
