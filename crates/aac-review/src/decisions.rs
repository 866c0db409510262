//! A reader's decisions: one line each, appended to `OUT/review/<reader>.csv`
//! and synced to disk, never rewritten. The file is the record; the server
//! rebuilds everything it knows of a reader from it on start.

use aac_io::Point;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The columns of a decision file, in order.
pub const DECISION_COLUMNS: [&str; 12] = [
    "id",
    "reader",
    "role",
    "time_utc",
    "action",
    "aac24_before",
    "subscores_before",
    "aac24_after",
    "subscores_after",
    "points",
    "bundle",
    "note",
];

/// What a reader did with a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The scores stand as they are.
    Accept,
    /// The reader set the 8 sub-scores.
    Correct,
    /// The L1-L4 naming moved one vertebra up (the named L1 was L2), the
    /// scan scored again.
    LevelsUp,
    /// The L1-L4 naming moved one vertebra down (the named L1 was T12).
    LevelsDown,
    /// The reader dragged spine points; the scan scored again.
    MovePoints,
    /// The scan cannot be scored; the note says why.
    Unreadable,
}

impl Action {
    /// Every action, in the order of the docs.
    pub const ALL: [Action; 6] = [
        Action::Accept,
        Action::Correct,
        Action::LevelsUp,
        Action::LevelsDown,
        Action::MovePoints,
        Action::Unreadable,
    ];

    /// The name in the API and in the `action` column.
    pub fn name(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Correct => "correct",
            Action::LevelsUp => "levels_up",
            Action::LevelsDown => "levels_down",
            Action::MovePoints => "move_points",
            Action::Unreadable => "unreadable",
        }
    }

    /// The action of a name, if any.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// A reader's part in a study: a first reading or the third look at a
/// disagreement (`aac review --adjudicate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A reader of the queue.
    Reader,
    /// A reader settling the scans where readers disagree.
    Adjudicator,
}

impl Role {
    /// The name in the `role` column.
    pub fn name(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Adjudicator => "adjudicator",
        }
    }

    fn from_name(name: &str) -> Option<Role> {
        [Role::Reader, Role::Adjudicator]
            .into_iter()
            .find(|r| r.name() == name)
    }
}

/// AAC24 and its 8 sub-scores (L1 anterior, L1 posterior, ..., L4 posterior).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scores {
    /// The sum of the sub-scores.
    pub aac24: u32,
    /// The sub-scores, each 0-3.
    pub sub: [u32; 8],
}

impl Scores {
    /// Scores from 8 sub-scores; an error unless each is 0-3.
    pub fn from_sub(sub: [u32; 8]) -> Result<Scores> {
        if let Some(v) = sub.iter().find(|&&v| v > 3) {
            bail!("a sub-score is 0, 1, 2 or 3, not {v}");
        }
        Ok(Scores {
            aac24: sub.iter().sum(),
            sub,
        })
    }

    /// The AAC24 category index (low, moderate, high).
    pub fn category(&self) -> usize {
        aac_score::Grouping::default().index(f64::from(self.aac24))
    }

    fn sub_cell(&self) -> String {
        self.sub.map(|v| v.to_string()).join(" ")
    }

    fn parse(aac24: &str, sub: &str) -> Result<Option<Scores>> {
        if aac24.is_empty() && sub.is_empty() {
            return Ok(None);
        }
        let values: Vec<u32> = sub
            .split_whitespace()
            .map(|v| v.parse().with_context(|| format!("sub-score {v:?}")))
            .collect::<Result<_>>()?;
        let sub: [u32; 8] = values
            .try_into()
            .map_err(|v: Vec<u32>| anyhow::anyhow!("{} sub-scores where 8 belong", v.len()))?;
        let s = Scores::from_sub(sub)?;
        if aac24.parse::<u32>().ok() != Some(s.aac24) {
            bail!(
                "aac24 {aac24:?} is not the sum of the sub-scores {}",
                s.aac24
            );
        }
        Ok(Some(s))
    }
}

/// One decision: a line of a decision file.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The scan's id.
    pub id: String,
    /// Who decided.
    pub reader: String,
    /// As a first reader or as adjudicator.
    pub role: Role,
    /// When (RFC 3339, UTC).
    pub time_utc: String,
    /// What was done.
    pub action: Action,
    /// The scores before (None when the scan had none).
    pub before: Option<Scores>,
    /// The scores after (None when unreadable or unscored).
    pub after: Option<Scores>,
    /// The 20 spine points when the decision moved them.
    pub points: Option<Vec<Point>>,
    /// The checksum of the bundle that scored the scan.
    pub bundle: String,
    /// The reader's note (the reason, for unreadable).
    pub note: String,
}

fn points_cell(points: &[Point]) -> String {
    points
        .iter()
        .map(|p| format!("{:.2} {:.2}", p.x, p.y))
        .collect::<Vec<_>>()
        .join(";")
}

fn parse_points(cell: &str) -> Result<Option<Vec<Point>>> {
    if cell.is_empty() {
        return Ok(None);
    }
    cell.split(';')
        .map(|xy| {
            let v: Vec<f64> = xy
                .split_whitespace()
                .map(|n| n.parse::<f64>().with_context(|| format!("point {xy:?}")))
                .collect::<Result<_>>()?;
            match v[..] {
                [x, y] if x.is_finite() && y.is_finite() => Ok(Point::new(x, y)),
                _ => bail!("point {xy:?} is not two numbers"),
            }
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

impl Decision {
    /// The cells of the decision's line, in [`DECISION_COLUMNS`] order.
    pub fn fields(&self) -> Vec<String> {
        let s = |x: &Option<Scores>| match x {
            Some(s) => (s.aac24.to_string(), s.sub_cell()),
            None => (String::new(), String::new()),
        };
        let (b24, bsub) = s(&self.before);
        let (a24, asub) = s(&self.after);
        vec![
            self.id.clone(),
            self.reader.clone(),
            self.role.name().to_string(),
            self.time_utc.clone(),
            self.action.name().to_string(),
            b24,
            bsub,
            a24,
            asub,
            self.points.as_deref().map(points_cell).unwrap_or_default(),
            self.bundle.clone(),
            self.note.clone(),
        ]
    }

    fn from_fields(f: &[String]) -> Result<Decision> {
        if f.len() != DECISION_COLUMNS.len() {
            bail!("{} cells where {} belong", f.len(), DECISION_COLUMNS.len());
        }
        Ok(Decision {
            id: f[0].clone(),
            reader: f[1].clone(),
            role: Role::from_name(&f[2]).with_context(|| format!("unknown role {:?}", f[2]))?,
            time_utc: f[3].clone(),
            action: Action::from_name(&f[4])
                .with_context(|| format!("unknown action {:?}", f[4]))?,
            before: Scores::parse(&f[5], &f[6]).context("scores before")?,
            after: Scores::parse(&f[7], &f[8]).context("scores after")?,
            points: parse_points(&f[9])?,
            bundle: f[10].clone(),
            note: f[11].clone(),
        })
    }
}

/// True when first readers' decisions on one scan differ: a sub-score (so
/// also the category), or readable against unreadable.
pub fn readers_disagree(readings: &[&Decision]) -> bool {
    readings.len() >= 2 && readings.iter().any(|d| d.after != readings[0].after)
}

/// A reader name: letters, digits, `_`, `.` and `-`, starting with a letter
/// or digit, at most 40 characters (it names the decision file).
pub fn check_reader_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        bail!("reader name {name:?}: use 1-40 letters, digits, '_', '.' or '-', starting with a letter or digit");
    }
    Ok(())
}

/// The folder of an output's decision files.
pub fn review_dir(out: &Path) -> PathBuf {
    out.join("review")
}

/// The decision file of a reader.
pub fn log_path(out: &Path, reader: &str) -> PathBuf {
    review_dir(out).join(format!("{reader}.csv"))
}

/// The decisions of a file, in order. A torn last line (a crash while
/// writing) is left out; any other bad line is an error naming the file and
/// the line.
pub fn read_log(path: &Path) -> Result<Vec<Decision>> {
    let text = aac_io::read_text_capped(path, aac_io::input::MAX_TABLE_BYTES)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .map(|h| h.iter().map(str::to_string).collect())
        .unwrap_or_default();
    if header != DECISION_COLUMNS {
        bail!(
            "{}: is not a decision file of `aac review` (its header differs)",
            path.display()
        );
    }
    let records: Vec<csv::StringRecord> = rdr
        .records()
        .collect::<std::result::Result<_, _>>()
        .with_context(|| format!("{}: malformed CSV", path.display()))?;
    let n = records.len();
    let torn_tail = !text.ends_with('\n');
    let mut out = Vec::with_capacity(n);
    for (i, r) in records.iter().enumerate() {
        if torn_tail && i + 1 == n {
            tracing::warn!(
                "{}: its last line is incomplete and left out",
                path.display()
            );
            break;
        }
        let f: Vec<String> = r
            .iter()
            .map(|c| aac_io::unguard_cell(c).to_string())
            .collect();
        out.push(
            Decision::from_fields(&f)
                .with_context(|| format!("{}: line {}", path.display(), i + 2))?,
        );
    }
    Ok(out)
}

/// Every reader's decisions in an output, by reader name: the files of
/// `OUT/review/` named as readers are (other files there, such as
/// `_disagreements.csv`, start with `_`, which no reader name does).
pub fn read_all(out: &Path) -> Result<BTreeMap<String, Vec<Decision>>> {
    let dir = review_dir(out);
    let mut all = BTreeMap::new();
    if !dir.is_dir() {
        return Ok(all);
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("{}: cannot list", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    paths.sort();
    for p in paths {
        let Some(reader) = p.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if check_reader_name(reader).is_err() {
            continue;
        }
        all.insert(reader.to_string(), read_log(&p)?);
    }
    Ok(all)
}

/// Cuts a torn last line (a crash mid-write: never synced, so never a
/// decision) off a decision file, so that the next decision starts a line.
fn drop_torn_tail(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    if bytes.ends_with(b"\n") {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    tracing::warn!(
        "{}: an incomplete last line ({} bytes) is cut off",
        path.display(),
        bytes.len() - keep
    );
    let f = OpenOptions::new().write(true).open(path)?;
    f.set_len(keep as u64)?;
    f.sync_data()?;
    Ok(())
}

/// A reader's decision file open for appending.
pub struct Log {
    path: PathBuf,
    file: File,
}

impl Log {
    /// Opens (creating with its header) the decision file of `reader`.
    pub fn open(out: &Path, reader: &str) -> Result<Log> {
        check_reader_name(reader)?;
        let dir = review_dir(out);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        let path = log_path(out, reader);
        let fresh = !path.exists() || std::fs::metadata(&path).map(|m| m.len() == 0)?;
        if !fresh {
            drop_torn_tail(&path)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("{}: cannot open for appending", path.display()))?;
        if fresh {
            let header: Vec<String> = DECISION_COLUMNS.iter().map(|c| c.to_string()).collect();
            file.write_all(aac_pipeline::table::csv_line(&header).as_bytes())?;
            file.sync_data()?;
        }
        Ok(Log { path, file })
    }

    /// Appends one decision and syncs it to disk before returning.
    pub fn append(&mut self, d: &Decision) -> Result<()> {
        let line = aac_pipeline::table::csv_line(&d.fields());
        self.file
            .write_all(line.as_bytes())
            .and_then(|_| self.file.sync_data())
            .with_context(|| format!("{}: cannot write a decision", self.path.display()))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The time now as RFC 3339 in UTC, to the millisecond.
pub fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(id: &str, action: Action) -> Decision {
        Decision {
            id: id.into(),
            reader: "ann".into(),
            role: Role::Reader,
            time_utc: now_utc(),
            action,
            before: Some(Scores::from_sub([1, 0, 0, 2, 0, 0, 3, 0]).unwrap()),
            after: (action != Action::Unreadable)
                .then(|| Scores::from_sub([1, 1, 0, 2, 0, 0, 3, 0]).unwrap()),
            points: matches!(action, Action::LevelsUp | Action::MovePoints).then(|| {
                (0..20)
                    .map(|i| Point::new(i as f64, 2.5 * i as f64))
                    .collect()
            }),
            bundle: "abc".into(),
            note: "=cmd, \"quoted\"".into(),
        }
    }

    #[test]
    fn decisions_read_back_as_written_across_reopening_and_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let all = Action::ALL.map(|a| decision("s1", a));
        {
            let mut log = Log::open(dir.path(), "ann").unwrap();
            for d in &all[..3] {
                log.append(d).unwrap();
            }
        }
        // A crash mid-line, then a restart.
        let path = log_path(dir.path(), "ann");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"s2,ann,reader,2026").unwrap();
        drop(f);
        assert_eq!(read_log(&path).unwrap(), all[..3].to_vec());
        let mut log = Log::open(dir.path(), "ann").unwrap();
        for d in &all[3..] {
            log.append(d).unwrap();
        }
        assert_eq!(read_log(&path).unwrap(), all.to_vec());
        // A bad whole line is named, not skipped.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace(",correct,", ",fix,")).unwrap();
        let err = format!("{:#}", read_log(&path).unwrap_err());
        assert!(err.contains("line 3") && err.contains("fix"), "{err}");
    }

    #[test]
    fn reader_names_that_could_leave_the_folder_are_refused() {
        for bad in ["", "../x", ".hidden", "a/b", "a b", &"x".repeat(41)] {
            assert!(check_reader_name(bad).is_err(), "{bad:?}");
        }
        check_reader_name("dr.smith-2").unwrap();
        assert!(Scores::from_sub([4, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }
}
