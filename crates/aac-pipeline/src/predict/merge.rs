//! `aac merge`: the outputs of several `aac predict` runs (one per shard,
//! say) into one folder, after checking that each is finished, that the
//! shards are all there once, and that one bundle scored them all.

use super::index_page::write_index;
use super::{Row, Shard, COLUMNS, PROVENANCE_COLUMNS};
use crate::run_record::{RunRecord, RunState};
use crate::table::{read_provenance, read_rows, table_text, PROVENANCE_FILE};
use aac_io::{OutputLock, WhenHeld};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Settings of `aac merge`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MergeConfig {
    /// Output directories of `aac predict` (e.g. one per shard).
    pub inputs: Vec<PathBuf>,
    /// Merged output directory.
    pub out: PathBuf,
    /// Replace a result already in `out`.
    pub force: bool,
    /// Merge unfinished inputs and incomplete or doubled shard sets with a
    /// warning instead of refusing.
    pub allow_partial: bool,
    /// Wait for a run holding `out` instead of refusing.
    pub wait: bool,
}

/// What makes a set of inputs partial: unfinished runs, missing or doubled
/// shards. Each line names the input or shard.
fn partial_problems(inputs: &[(PathBuf, Option<RunRecord>)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut shards: BTreeMap<u64, BTreeMap<u64, Vec<&Path>>> = BTreeMap::new();
    for (dir, record) in inputs {
        if let Some(holder) = OutputLock::writer_of(dir) {
            problems.push(format!(
                "{}: still being written by {holder}",
                dir.display()
            ));
        }
        match record {
            None => problems.push(format!(
                "{}: has no run.json, so it may be unfinished (or made by aac before 0.2): \
                 finish it by running the same `aac predict` command again",
                dir.display()
            )),
            Some(r) if r.state != RunState::Complete => problems.push(format!(
                "{}: its run did not finish (run.json says {:?}): resume it by running the same \
                 `aac predict` command again",
                dir.display(),
                r.state
            )),
            _ => {}
        }
        for Shard { k, n } in record.iter().flat_map(|r| r.shards.iter().copied()) {
            shards.entry(n).or_default().entry(k).or_default().push(dir);
        }
    }
    if shards.len() > 1 {
        let splits: Vec<String> = shards.keys().map(|n| format!("/{n}")).collect();
        problems.push(format!(
            "the inputs are shards of different splits ({})",
            splits.join(", ")
        ));
    }
    for (n, got) in &shards {
        for k in 1..=*n {
            match got.get(&k).map(Vec::as_slice) {
                None | Some([]) => problems.push(format!("shard {k}/{n} is missing")),
                Some([_]) => {}
                Some(dirs) => {
                    let names: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                    problems.push(format!(
                        "shard {k}/{n} is given {} times ({})",
                        dirs.len(),
                        names.join(", ")
                    ))
                }
            }
        }
    }
    problems
}

/// Refuses an output that is a file, one of the inputs, or (without
/// `force`) a folder that already holds a result.
fn check_output(a: &MergeConfig) -> Result<()> {
    if a.out.exists() && !a.out.is_dir() {
        bail!(
            "{}: is not a directory (--out names the merged output folder)",
            a.out.display()
        );
    }
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    if let Some(out) = canon(&a.out) {
        if a.inputs.iter().any(|i| canon(i).as_ref() == Some(&out)) {
            bail!(
                "{}: is both an input and --out; merge into a new folder",
                a.out.display()
            );
        }
    }
    let scores = a.out.join("scores.csv");
    if !a.force && scores.exists() {
        let n = read_rows(&scores, &COLUMNS, "an `aac predict` scores file")
            .map(|r| r.len().to_string())
            .unwrap_or_else(|_| "some".into());
        bail!(
            "{}: holds a result already ({n} rows); pass --force to replace it, or choose another --out",
            a.out.display()
        );
    }
    Ok(())
}

/// Merges `aac predict` outputs (`aac merge`): every input is read and
/// checked before anything is written; unfinished inputs, missing or doubled
/// shards and outputs of different bundles are refused (the first two merged
/// with a warning under `allow_partial`).
pub fn merge(a: &MergeConfig) -> Result<()> {
    check_output(a)?;
    // 1. Read and check every input before writing anything.
    let mut records = Vec::new();
    let mut tables = Vec::new();
    for dir in &a.inputs {
        if !dir.is_dir() {
            bail!(
                "{}: merge input {} (inputs are `aac predict` output folders)",
                dir.display(),
                if dir.exists() {
                    "is not a folder"
                } else {
                    "does not exist"
                }
            );
        }
        if !dir.join("scores.csv").is_file() {
            bail!(
                "{}: merge input has no scores.csv (not an `aac predict` output folder)",
                dir.display()
            );
        }
        let table = read_rows(
            &dir.join("scores.csv"),
            &COLUMNS,
            "an `aac predict` scores file (merge input)",
        )?;
        tables.push(table);
        records.push((dir.clone(), RunRecord::read(dir)?));
    }
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut sources: BTreeMap<String, &PathBuf> = BTreeMap::new();
    let mut provenance: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut bundles: BTreeMap<String, &PathBuf> = BTreeMap::new();
    for (dir, table) in a.inputs.iter().zip(tables) {
        let p = dir.join("scores.csv");
        let prov = read_provenance(&dir.join(PROVENANCE_FILE), &PROVENANCE_COLUMNS)?;
        for fields in prov.values() {
            bundles.entry(fields[0].clone()).or_insert(dir);
            if bundles.len() > 1 {
                let dirs: Vec<String> = bundles.values().map(|d| d.display().to_string()).collect();
                bail!(
                    "{} were scored with different bundles, aac versions or options (threshold, pixel spacing, overlays); merge outputs of one bundle, one version and one set of options only",
                    dirs.join(" and ")
                );
            }
        }
        for fields in table {
            let r =
                Row::from_fields(fields).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
            let id = r.id.clone();
            if let Some(prev) = rows.get(&id) {
                if prev != &r {
                    bail!(
                        "{}: id {id} also appears with different results in another input",
                        p.display()
                    );
                }
            }
            if let Some(f) = prov.get(&id) {
                provenance.insert(id.clone(), f.clone());
            }
            sources.insert(id.clone(), dir);
            rows.insert(id, r);
        }
    }
    let problems = partial_problems(&records);
    if !problems.is_empty() {
        if !a.allow_partial {
            bail!(
                "the inputs are not a complete set:\n  {}\nfinish them, or pass --allow-partial to merge the rows there are",
                problems.join("\n  ")
            );
        }
        for p in &problems {
            tracing::warn!("merging anyway (--allow-partial): {p}");
        }
    }
    // 2. Own the output, copy the overlays, then write the tables.
    let _lock = OutputLock::acquire(&a.out, "aac merge", WhenHeld::from_wait(a.wait))?;
    let mut record = RunRecord::start("merge", Vec::new(), a);
    record.bundle = bundles.keys().next().cloned();
    record.write(&a.out)?;
    for (id, dir) in &sources {
        for sub in ["overlays", "thumbs"] {
            let src = dir.join(sub).join(format!("{id}.png"));
            if src.is_file() {
                let bytes =
                    std::fs::read(&src).with_context(|| format!("reading {}", src.display()))?;
                aac_io::write_bytes_atomic(&a.out.join(sub).join(format!("{id}.png")), &bytes)?;
            }
        }
    }
    let prov: Vec<Vec<String>> = provenance
        .iter()
        .map(|(id, f)| {
            std::iter::once(id.clone())
                .chain(f.iter().cloned())
                .collect()
        })
        .collect();
    aac_io::write_string_atomic(
        &a.out.join(PROVENANCE_FILE),
        &table_text(&PROVENANCE_COLUMNS, &prov),
    )?;
    aac_io::write_string_atomic(
        &a.out.join("scores.csv"),
        &table_text(&COLUMNS, rows.values().map(Row::fields)),
    )?;
    let all: Vec<Row> = rows.into_values().collect();
    write_index(&a.out, &all)?;
    record.finish(all.iter().map(super::row_summary));
    record.write(&a.out)?;
    tracing::info!(
        "merged {} rows from {} inputs into {}",
        all.len(),
        a.inputs.len(),
        a.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::csv_line;

    fn row(id: &str) -> Vec<String> {
        let mut r = Row::error(id, String::new(), super::super::LandmarkSource::Given);
        r.status = crate::qc::Status::Ok;
        r.scores.iter_mut().for_each(|c| *c = "0".into());
        r.fields()
    }

    /// A finished (or not) predict output with one row.
    fn output(root: &Path, name: &str, id: &str, bundle: &str, shard: Option<Shard>) -> PathBuf {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("scores.csv"), table_text(&COLUMNS, &[row(id)])).unwrap();
        let mut prov = table_text(&PROVENANCE_COLUMNS, Vec::<Vec<String>>::new());
        prov.push_str(&csv_line(&[id, bundle, "1:2", "3:4"].map(String::from)));
        std::fs::write(d.join(PROVENANCE_FILE), prov).unwrap();
        let mut r = RunRecord::start("predict", shard.into_iter().collect(), &());
        r.finish([(id, "ok", "")]);
        r.write(&d).unwrap();
        d
    }

    fn config(inputs: Vec<PathBuf>, out: &Path) -> MergeConfig {
        MergeConfig {
            inputs,
            out: out.to_path_buf(),
            force: false,
            allow_partial: false,
            wait: false,
        }
    }

    fn ids(out: &Path) -> Vec<String> {
        read_rows(&out.join("scores.csv"), &COLUMNS, "scores")
            .unwrap()
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    }

    #[test]
    fn a_folder_shared_by_shards_run_in_turn_holds_their_union() {
        let sh = |k| Shard { k, n: 3 };
        let mut r = RunRecord::start("predict", vec![sh(2)], &());
        assert_eq!(RunRecord::shards_after(Some(&r), Some(sh(1))), vec![sh(1)]);
        r.finish(Vec::<(&str, &str, &str)>::new());
        assert_eq!(
            RunRecord::shards_after(Some(&r), Some(sh(1))),
            vec![sh(1), sh(2)]
        );
        r.shards = vec![sh(1), sh(2)];
        assert!(RunRecord::shards_after(Some(&r), Some(sh(3))).is_empty());
        assert!(RunRecord::shards_after(None, None).is_empty());
        assert_eq!(RunRecord::shards_after(None, Some(sh(3))), vec![sh(3)]);
    }

    #[test]
    fn merge_refuses_outputs_of_different_bundles_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let a = output(dir.path(), "s1", "x", "aaaa", None);
        let b = output(dir.path(), "s2", "y", "bbbb", None);
        let out = dir.path().join("merged");
        let err = merge(&config(vec![a.clone(), b], &out)).unwrap_err();
        assert!(format!("{err:#}").contains("different bundles"), "{err:#}");
        assert!(!out.exists());
        let c = output(dir.path(), "s3", "z", "aaaa", None);
        merge(&config(vec![a, c], &out)).unwrap();
        assert_eq!(ids(&out), ["x", "z"]);
        let r = RunRecord::read(&out).unwrap().unwrap();
        assert_eq!((r.state, r.counts["ok"]), (RunState::Complete, 2));
    }

    #[test]
    fn missing_doubled_and_unfinished_shards_are_refused_unless_partial_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let sh = |k| Some(Shard { k, n: 2 });
        let s1 = output(dir.path(), "s1", "x", "aaaa", sh(1));
        let s1b = output(dir.path(), "s1b", "x", "aaaa", sh(1));
        let s2 = output(dir.path(), "s2", "y", "aaaa", sh(2));
        let out = dir.path().join("m");
        let e = format!("{:#}", merge(&config(vec![s1.clone()], &out)).unwrap_err());
        assert!(e.contains("shard 2/2 is missing"), "{e}");
        let e = format!(
            "{:#}",
            merge(&config(vec![s1.clone(), s1b, s2.clone()], &out)).unwrap_err()
        );
        assert!(e.contains("shard 1/2 is given 2 times"), "{e}");
        assert!(!out.exists());
        // A killed run leaves its record `running`.
        let mut r = RunRecord::read(&s2).unwrap().unwrap();
        r.state = RunState::Running;
        r.write(&s2).unwrap();
        let e = format!(
            "{:#}",
            merge(&config(vec![s1.clone(), s2.clone()], &out)).unwrap_err()
        );
        assert!(e.contains("s2: its run did not finish"), "{e}");
        std::fs::remove_file(s2.join("run.json")).unwrap();
        let e = format!(
            "{:#}",
            merge(&config(vec![s1.clone(), s2.clone()], &out)).unwrap_err()
        );
        assert!(e.contains("s2: has no run.json"), "{e}");
        let mut partial = config(vec![s1.clone()], &out);
        partial.allow_partial = true;
        merge(&partial).unwrap();
        assert_eq!(ids(&out), ["x"]);
    }

    #[test]
    fn a_finished_result_is_replaced_only_with_force_and_inputs_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = output(dir.path(), "a", "x", "aaaa", None);
        let b = output(dir.path(), "b", "y", "aaaa", None);
        let out = dir.path().join("m");
        merge(&config(vec![a.clone(), b.clone()], &out)).unwrap();
        let e = format!("{:#}", merge(&config(vec![a.clone()], &out)).unwrap_err());
        assert!(
            e.contains("holds a result already (2 rows)") && e.contains("--force"),
            "{e}"
        );
        assert_eq!(ids(&out), ["x", "y"]);
        let mut forced = config(vec![a.clone()], &out);
        forced.force = true;
        merge(&forced).unwrap();
        assert_eq!(ids(&out), ["x"]);
        // An input that is not a predict output is named as the input.
        let big = dir.path().join("big");
        std::fs::create_dir_all(&big).unwrap();
        std::fs::write(big.join("scores.csv"), "id,aac24\nq,1\n").unwrap();
        let e = format!(
            "{:#}",
            merge(&config(vec![big.clone()], &dir.path().join("m2"))).unwrap_err()
        );
        assert!(e.contains("big") && e.contains("merge input"), "{e}");
        assert!(!e.contains("--out"), "{e}");
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let e = format!("{:#}", merge(&config(vec![a], &file)).unwrap_err());
        assert!(e.contains("is not a directory"), "{e}");
    }
}
