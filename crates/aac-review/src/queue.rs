//! The review queue: which scans a listing holds (filters), in what order
//! (the review order or a column), one page at a time.

use crate::cohort::Scan;
use aac_pipeline::qc::{QcFlag, Status};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;

/// The most rows one page may hold.
pub const MAX_PAGE: usize = 1000;

/// A row's place in the review order: errors, then flagged scans, then the
/// audit sample, then the rest, each by uncertainty (most doubtful first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// Could not be scored.
    Error,
    /// Raised a QC flag.
    Flagged,
    /// In the random audit sample of unflagged scans.
    Audit,
    /// Everything else.
    Rest,
}

impl Group {
    /// The group of a scan.
    pub fn of(s: &Scan) -> Group {
        match s.row.status {
            Status::Error => Group::Error,
            Status::Flagged => Group::Flagged,
            Status::Ok if s.audit => Group::Audit,
            Status::Ok => Group::Rest,
        }
    }

    /// The name in the API.
    pub fn name(self) -> &'static str {
        match self {
            Group::Error => "error",
            Group::Flagged => "flagged",
            Group::Audit => "audit",
            Group::Rest => "rest",
        }
    }
}

/// How a listing is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// The review order ([`Group`], then uncertainty).
    Queue,
    /// AAC24, highest first (`-aac24`) or lowest first (`aac24`).
    Aac24 { descending: bool },
    /// Uncertainty, highest first (`-uncertainty`) or lowest (`uncertainty`).
    Uncertainty { descending: bool },
    /// By id.
    Id,
}

impl Sort {
    fn parse(s: &str) -> Result<Sort> {
        Ok(match s {
            "" | "queue" => Sort::Queue,
            "aac24" => Sort::Aac24 { descending: false },
            "-aac24" => Sort::Aac24 { descending: true },
            "uncertainty" => Sort::Uncertainty { descending: false },
            "-uncertainty" => Sort::Uncertainty { descending: true },
            "id" => Sort::Id,
            other => {
                bail!("sort={other:?}: use queue, aac24, -aac24, uncertainty, -uncertainty or id")
            }
        })
    }
}

/// A listing's filters, sort and page (`GET /api/scans`).
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// First row of the page.
    pub offset: usize,
    /// Rows in the page.
    pub limit: usize,
    /// Only this status.
    pub status: Option<Status>,
    /// Only scans with this flag.
    pub flag: Option<QcFlag>,
    /// Only this AAC24 category (index: low, moderate, high).
    pub category: Option<usize>,
    /// Only scans this reader has (true) or has not (false) decided.
    pub reviewed: Option<bool>,
    /// Only the audit sample (true) or only outside it (false).
    pub audit: Option<bool>,
    /// Only scans where readers disagree (true) or do not (false).
    pub disagree: Option<bool>,
    /// Only AAC24 at least this.
    pub min_aac24: Option<u32>,
    /// Only AAC24 at most this.
    pub max_aac24: Option<u32>,
    /// Only ids containing this text.
    pub q: Option<String>,
    /// The order.
    pub sort: Sort,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            offset: 0,
            limit: 50,
            status: None,
            flag: None,
            category: None,
            reviewed: None,
            audit: None,
            disagree: None,
            min_aac24: None,
            max_aac24: None,
            q: None,
            sort: Sort::Queue,
        }
    }
}

fn parse_bool(k: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => bail!("{k}={v:?}: use true or false"),
    }
}

fn parse_num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T> {
    v.parse()
        .ok()
        .with_context(|| format!("{k}={v:?}: not a whole number"))
}

impl Query {
    /// A query from URL parameters (`token` is the server's); an unknown
    /// parameter or a bad value is an error saying which.
    pub fn from_params(params: &HashMap<String, String>) -> Result<Query> {
        let mut q = Query::default();
        for (k, v) in params {
            let v = v.as_str();
            match k.as_str() {
                "token" => {}
                "offset" => q.offset = parse_num(k, v)?,
                "limit" => {
                    q.limit = parse_num(k, v)?;
                    if q.limit == 0 || q.limit > MAX_PAGE {
                        bail!("limit={v}: use 1 to {MAX_PAGE}");
                    }
                }
                "status" if !v.is_empty() => {
                    q.status = Some(
                        Status::from_name(v)
                            .with_context(|| format!("status={v:?}: use ok, flagged or error"))?,
                    )
                }
                "flag" if !v.is_empty() => {
                    q.flag = Some(
                        aac_pipeline::qc::parse_flags_cell(v)
                            .ok()
                            .and_then(|f| f.into_iter().next())
                            .with_context(|| format!("flag={v:?}: not a QC flag"))?,
                    )
                }
                "category" if !v.is_empty() => {
                    let names = aac_score::Grouping::default().names();
                    q.category = Some(
                        names
                            .iter()
                            .position(|n| *n == v)
                            .with_context(|| format!("category={v:?}: use {}", names.join(", ")))?,
                    )
                }
                "reviewed" if !v.is_empty() => q.reviewed = Some(parse_bool(k, v)?),
                "audit" if !v.is_empty() => q.audit = Some(parse_bool(k, v)?),
                "disagree" if !v.is_empty() => q.disagree = Some(parse_bool(k, v)?),
                "min_aac24" if !v.is_empty() => q.min_aac24 = Some(parse_num(k, v)?),
                "max_aac24" if !v.is_empty() => q.max_aac24 = Some(parse_num(k, v)?),
                "q" if !v.is_empty() => q.q = Some(v.to_string()),
                "sort" => q.sort = Sort::parse(v)?,
                "status" | "flag" | "category" | "reviewed" | "audit" | "disagree"
                | "min_aac24" | "max_aac24" | "q" => {}
                other => bail!("unknown parameter {other:?}"),
            }
        }
        Ok(q)
    }
}

/// What a listing needs to know of a scan beyond its row.
pub trait Facts {
    /// True when this reader has decided the scan.
    fn reviewed(&self, id: &str) -> bool;
    /// True when readers disagree on the scan.
    fn disagree(&self, id: &str) -> bool;
}

/// The indices of the scans a query selects, in its order, and how many
/// there are in all (before paging).
pub fn select(
    scans: &[Scan],
    queue: &[usize],
    query: &Query,
    facts: &dyn Facts,
) -> (usize, Vec<usize>) {
    let keep = |s: &Scan| {
        let aac24 = s.scores.map(|x| x.aac24);
        query.status.is_none_or(|st| s.row.status == st)
            && query.flag.is_none_or(|f| s.row.flags.contains(&f))
            && query
                .category
                .is_none_or(|c| s.scores.is_some_and(|x| x.category() == c))
            && query
                .reviewed
                .is_none_or(|r| facts.reviewed(&s.row.id) == r)
            && query.audit.is_none_or(|a| s.audit == a)
            && query
                .disagree
                .is_none_or(|d| facts.disagree(&s.row.id) == d)
            && query
                .min_aac24
                .is_none_or(|m| aac24.is_some_and(|a| a >= m))
            && query
                .max_aac24
                .is_none_or(|m| aac24.is_some_and(|a| a <= m))
            && query.q.as_deref().is_none_or(|t| s.row.id.contains(t))
    };
    let mut chosen: Vec<usize> = queue.iter().copied().filter(|&i| keep(&scans[i])).collect();
    let aac24 = |i: usize| scans[i].scores.map_or(-1, |x| x.aac24 as i64);
    match query.sort {
        Sort::Queue => {}
        Sort::Aac24 { descending } => {
            chosen.sort_by_key(|&i| if descending { -aac24(i) } else { aac24(i) })
        }
        Sort::Uncertainty { descending } => chosen.sort_by(|&a, &b| {
            let o = scans[a].uncertainty.total_cmp(&scans[b].uncertainty);
            if descending {
                o.reverse()
            } else {
                o
            }
        }),
        Sort::Id => chosen.sort_by(|&a, &b| scans[a].row.id.cmp(&scans[b].row.id)),
    }
    let total = chosen.len();
    let page = chosen
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .collect();
    (total, page)
}

/// The review order of every scan: by [`Group`], then most uncertain first,
/// then id.
pub fn review_order(scans: &[Scan]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scans.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&scans[a], &scans[b]);
        Group::of(x)
            .cmp(&Group::of(y))
            .then(y.uncertainty.total_cmp(&x.uncertainty))
            .then(x.row.id.cmp(&y.row.id))
    });
    order
}
