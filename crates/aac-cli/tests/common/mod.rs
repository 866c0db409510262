//! Helpers shared by the CLI tests: run the built `aac` and read its output.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
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
