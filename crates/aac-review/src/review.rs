//! A reader's review of a cohort: the decisions so far (rebuilt from the
//! decision files), the queue, and each action turned into a decision.

use crate::cohort::{Cohort, Scan};
use crate::decisions::{now_utc, read_all, Action, Decision, Log, Role, Scores};
use crate::levels::{shift_levels, Shift};
use crate::queue::{review_order, Facts, Group};
use aac_io::Point;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// The latest decision of each reader on each scan.
type Latest = HashMap<String, HashMap<String, Decision>>;

/// A review in progress: the cohort, whose decisions count, and the file
/// this reader's decisions go to.
pub struct Review {
    /// The output reviewed.
    pub cohort: Cohort,
    /// This reader.
    pub reader: String,
    /// First reading or adjudication.
    pub role: Role,
    /// The review order of the scans.
    pub queue: Vec<usize>,
    latest: Latest,
    /// This reader's moved points per scan: from their latest decision
    /// that moved any (the decision file is the record, not the files
    /// rescoring writes).
    moved: HashMap<String, Vec<Point>>,
    disagree: HashSet<String>,
    log: Log,
}

/// A decision asked for (`POST /api/decision`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Request {
    /// The scan.
    pub id: String,
    /// accept, correct, levels_up, levels_down, move_points or unreadable.
    pub action: String,
    /// The 8 sub-scores, for `correct`.
    #[serde(default)]
    pub subscores: Option<Vec<u32>>,
    /// The reader's note (the reason, for `unreadable`).
    #[serde(default)]
    pub note: Option<String>,
    /// The 20 spine points as `[x, y]` pairs, for `move_points`.
    #[serde(default)]
    pub points: Option<Vec<[f64; 2]>>,
}

/// What is needed to score a scan again (levels moved): done outside any
/// lock, then recorded with [`Review::record`].
pub struct Rescore {
    /// The scan.
    pub id: String,
    /// Its image.
    pub image: PathBuf,
    /// The moved points.
    pub points: Vec<Point>,
}

impl Review {
    /// Opens the review of `reader` over `cohort`, with every reader's
    /// decisions so far.
    pub fn open(cohort: Cohort, reader: &str, role: Role) -> Result<Review> {
        let log = Log::open(&cohort.out, reader)?;
        let mut latest: Latest = HashMap::new();
        let mut moved = HashMap::new();
        for (name, decisions) in read_all(&cohort.out)? {
            let is_me = name == reader;
            let mine = latest.entry(name).or_default();
            for d in decisions {
                if cohort.get(&d.id).is_none() {
                    continue;
                }
                if let (true, Some(p)) = (is_me, &d.points) {
                    moved.insert(d.id.clone(), p.clone());
                }
                mine.insert(d.id.clone(), d);
            }
        }
        let queue = review_order(&cohort.scans);
        let mut r = Review {
            cohort,
            reader: reader.to_string(),
            role,
            queue,
            latest,
            moved,
            disagree: HashSet::new(),
            log,
        };
        r.disagree = r.find_disagreements();
        Ok(r)
    }

    /// The decision file of this reader.
    pub fn log_path(&self) -> &std::path::Path {
        self.log.path()
    }

    /// This reader's latest decision on a scan.
    pub fn mine(&self, id: &str) -> Option<&Decision> {
        self.latest.get(&self.reader).and_then(|m| m.get(id))
    }

    /// The first readers' latest decisions on a scan, by reader.
    pub fn readings(&self, id: &str) -> Vec<&Decision> {
        let mut v: Vec<&Decision> = self
            .latest
            .values()
            .filter_map(|m| m.get(id))
            .filter(|d| d.role == Role::Reader)
            .collect();
        v.sort_by(|a, b| a.reader.cmp(&b.reader));
        v
    }

    /// The latest adjudication of a scan, if any.
    pub fn adjudication(&self, id: &str) -> Option<&Decision> {
        self.latest
            .values()
            .filter_map(|m| m.get(id))
            .filter(|d| d.role == Role::Adjudicator)
            .max_by(|a, b| a.time_utc.cmp(&b.time_utc))
    }

    /// The scans two or more first readers decided differently (a sub-score,
    /// the category, or readable or not).
    fn find_disagreements(&self) -> HashSet<String> {
        self.cohort
            .scans
            .iter()
            .map(|s| &s.row.id)
            .filter(|id| crate::decisions::readers_disagree(&self.readings(id)))
            .cloned()
            .collect()
    }

    /// This reader's scores of a scan now: after their latest decision, else
    /// the model's.
    pub fn current(&self, s: &Scan) -> Option<Scores> {
        match self.mine(&s.row.id) {
            Some(d) => d.after,
            None => s.scores,
        }
    }

    /// The spine points this reader's view of a scan is scored with: as
    /// their latest decision that moved points left them, else those
    /// `predict` used.
    pub fn points(&self, id: &str) -> Option<Vec<Point>> {
        self.moved.get(id).cloned().or_else(|| {
            aac_io::read_pts(&aac_pipeline::predict::points_path(&self.cohort.out, id)).ok()
        })
    }

    /// True when this reader has moved a scan's points (its overlay is then
    /// the one drawn for them).
    pub fn has_moved(&self, id: &str) -> bool {
        self.moved.contains_key(id)
    }

    /// Turns a request into a decision, or into the rescoring it needs
    /// first; an error says what is wrong with the request.
    pub fn plan(&self, req: &Request) -> Result<Result<Decision, Rescore>> {
        let scan = self
            .cohort
            .get(&req.id)
            .with_context(|| format!("no scan {:?} in this output", req.id))?;
        let action = Action::from_name(&req.action).with_context(|| {
            format!(
                "action {:?}: use accept, correct, levels_up, levels_down, move_points or unreadable",
                req.action
            )
        })?;
        let note = req.note.clone().unwrap_or_default();
        let before = self.current(scan);
        let after = match action {
            Action::Accept => {
                if before.is_none() {
                    bail!(
                        "{} has no scores to accept: correct it or mark it unreadable",
                        req.id
                    );
                }
                before
            }
            Action::Correct => {
                let sub: [u32; 8] = req
                    .subscores
                    .clone()
                    .context("correct needs \"subscores\": 8 whole numbers 0-3")?
                    .try_into()
                    .map_err(|v: Vec<u32>| {
                        anyhow::anyhow!("{} sub-scores given where 8 belong", v.len())
                    })?;
                Some(Scores::from_sub(sub)?)
            }
            Action::Unreadable => {
                if note.trim().is_empty() {
                    bail!("unreadable needs a \"note\" saying why");
                }
                None
            }
            Action::LevelsUp | Action::LevelsDown | Action::MovePoints => {
                let moved = if action == Action::MovePoints {
                    given_points(req)?
                } else {
                    let points = self
                        .points(&req.id)
                        .with_context(|| format!("{}: no spine points to move", req.id))?;
                    let shift = if action == Action::LevelsUp {
                        Shift::Up
                    } else {
                        Shift::Down
                    };
                    shift_levels(&points, shift)?
                };
                let image = self
                    .cohort
                    .images
                    .get(&req.id)
                    .with_context(|| {
                        format!("{}: its image is not found (start with --images)", req.id)
                    })?
                    .clone();
                return Ok(Err(Rescore {
                    id: req.id.clone(),
                    image,
                    points: moved,
                }));
            }
        };
        Ok(Ok(self.decision(&req.id, action, before, after, None, note)))
    }

    /// A decision of this reader on a scan, stamped now.
    pub fn decision(
        &self,
        id: &str,
        action: Action,
        before: Option<Scores>,
        after: Option<Scores>,
        points: Option<Vec<Point>>,
        note: String,
    ) -> Decision {
        Decision {
            id: id.to_string(),
            reader: self.reader.clone(),
            role: self.role,
            time_utc: now_utc(),
            action,
            before,
            after,
            points,
            bundle: self.cohort.bundle_key.clone(),
            note,
        }
    }

    /// Appends a decision to this reader's file (synced) and takes it into
    /// account.
    pub fn record(&mut self, d: Decision) -> Result<()> {
        self.log.append(&d)?;
        let id = d.id.clone();
        if let Some(p) = &d.points {
            self.moved.insert(id.clone(), p.clone());
        }
        self.latest
            .entry(self.reader.clone())
            .or_default()
            .insert(id.clone(), d);
        if crate::decisions::readers_disagree(&self.readings(&id)) {
            self.disagree.insert(id);
        } else {
            self.disagree.remove(&id);
        }
        Ok(())
    }

    /// The JSON of a scan's row for the API.
    pub fn row_json(&self, s: &Scan) -> Value {
        let id = &s.row.id;
        let names = aac_score::Grouping::default().names();
        let scores = |x: Option<Scores>| match x {
            Some(x) => (json!(x.aac24), json!(x.sub), json!(names[x.category()])),
            None => (Value::Null, Value::Null, Value::Null),
        };
        let (aac24, sub, category) = scores(s.scores);
        let (c24, csub, ccat) = scores(self.current(s));
        let decision = self.mine(id).map(|d| {
            json!({
                "action": d.action.name(),
                "time_utc": d.time_utc,
                "note": d.note,
                "aac24": d.after.map(|x| x.aac24),
                "subscores": d.after.map(|x| x.sub),
            })
        });
        json!({
            "id": id,
            "aac24": aac24,
            "subscores": sub,
            "category": category,
            "status": s.row.status.name(),
            "flags": s.row.flags.iter().map(|f| f.name()).collect::<Vec<_>>(),
            "message": s.row.message,
            "uncertainty": s.uncertainty,
            "landmarks": s.row.landmarks.name(),
            "group": Group::of(s).name(),
            "audit": s.audit,
            "decision": decision,
            "current_aac24": c24,
            "current_subscores": csub,
            "current_category": ccat,
            "disagree": self.disagree.contains(id),
        })
    }

    /// Counts for the page's header: by status, flag, category, reviewed,
    /// and the AAC24 histogram (0-24).
    pub fn summary(&self) -> Value {
        let mut status: HashMap<&str, usize> = HashMap::new();
        let mut flags: HashMap<&str, usize> = HashMap::new();
        let mut category = [0usize; 3];
        let mut hist = [0usize; 25];
        let (mut reviewed, mut audit, mut audit_reviewed) = (0, 0, 0);
        for s in &self.cohort.scans {
            *status.entry(s.row.status.name()).or_default() += 1;
            for f in &s.row.flags {
                *flags.entry(f.name()).or_default() += 1;
            }
            if let Some(x) = s.scores {
                category[x.category()] += 1;
                hist[x.aac24.min(24) as usize] += 1;
            }
            let done = self.mine(&s.row.id).is_some();
            reviewed += usize::from(done);
            audit += usize::from(s.audit);
            audit_reviewed += usize::from(s.audit && done);
        }
        let names = aac_score::Grouping::default().names();
        json!({
            "total": self.cohort.scans.len(),
            "reader": self.reader,
            "role": self.role.name(),
            "status": status,
            "flags": flags,
            "category": names.iter().zip(category).map(|(n, c)| (n.to_string(), c)).collect::<HashMap<_, _>>(),
            "histogram": hist,
            "reviewed": reviewed,
            "audit": audit,
            "audit_reviewed": audit_reviewed,
            "disagreements": self.disagree.len(),
            "images": !self.cohort.images.is_empty(),
        })
    }
}

/// The 20 finite spine points of a `move_points` request.
fn given_points(req: &Request) -> Result<Vec<Point>> {
    let given = req
        .points
        .as_ref()
        .context("move_points needs \"points\": the 20 spine points as [x, y] pairs")?;
    if given.len() != aac_io::N_SPINE {
        bail!(
            "{} points given where the {} spine points belong",
            given.len(),
            aac_io::N_SPINE
        );
    }
    if given.iter().flatten().any(|v| !v.is_finite()) {
        bail!("a point is not a finite number");
    }
    Ok(given.iter().map(|&[x, y]| Point::new(x, y)).collect())
}

impl Facts for Review {
    fn reviewed(&self, id: &str) -> bool {
        self.mine(id).is_some()
    }

    fn disagree(&self, id: &str) -> bool {
        self.disagree.contains(id)
    }
}
