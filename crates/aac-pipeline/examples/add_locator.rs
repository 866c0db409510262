//! Adds the sacrum-top locator (aac_landmarks::sacrum_top) to a bundle
//! whose finder was trained before it existed, trained as `aac train
//! bundle` trains it (the same training/validation split of DATA, the
//! bundle's seed, the default epochs): so that a bundle trained by an
//! earlier recipe becomes, but for its header's times, the bundle the
//! current recipe makes from the same data (DATA must be the data the
//! bundle was trained on; nothing checks it). `cargo run --release -p
//! aac-pipeline --example add_locator -- BUNDLE.aac DATA OUT.aac`

use aac_landmarks::train::{train_locator, Progress};
use aac_landmarks::{Finder, FinderTraining};
use aac_pipeline::bundle::{load, network_bytes, save};
use aac_pipeline::dataset_util::{load_raw_cases, sacrum_tops, split_ids};
use aac_pipeline::landmarks::annotated;
use std::path::Path;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let (from, data, out) = (Path::new(&a[1]), Path::new(&a[2]), Path::new(&a[3]));
    let b = load(from)?;
    let (unet, finder) = network_bytes(from, &b.header)?;
    let finder = finder.expect("the bundle has a landmark finder");
    anyhow::ensure!(
        Finder::locator_bytes(&finder)?.is_none(),
        "the bundle has a locator already"
    );
    let ds = aac_io::Dataset::open(data)?;
    let ids = ds.ids();
    let tops = sacrum_tops(&ds)?;
    let all = load_raw_cases(&ds, &ids, "masks")?;
    let (train_ids, val_ids) = split_ids(&ids, aac_pipeline::defaults::VAL_FRACTION);
    let pick = |keep: &[String]| -> Vec<_> {
        all.iter()
            .filter(|c| keep.contains(&c.id))
            .cloned()
            .collect()
    };
    let (train, val) = (pick(&train_ids), pick(&val_ids));
    let mut header = b.header.clone();
    let section = header.landmarks.as_mut().expect("a finder section");
    // What `train bundle` would have set for the bundle's finder epochs.
    section.training.sacrum_epochs = FinderTraining::default()
        .with_fine(section.training.epochs, section.training.width)
        .sacrum_epochs;
    let locator = train_locator(
        &section.training,
        &annotated(&train, &tops),
        &annotated(&val, &tops),
        &mut |p| {
            if let Progress::EpochEnd {
                epoch,
                loss,
                val_error,
                ..
            } = p
            {
                eprintln!("sacrum epoch {epoch}: loss {loss:.4}, validation error {val_error:.4}");
            }
        },
    )?;
    anyhow::ensure!(
        !locator.is_empty(),
        "no sacrum tops known in {}",
        data.display()
    );
    // Each finder rewritten with its length in its header (a finder of
    // before 0.8.4 has none, and would take the locator for its own).
    let mut payload = unet;
    for m in Finder::member_bytes(&finder)? {
        let (h, coarse, fine) = Finder::split_bytes(m)?;
        payload.extend(Finder::to_bytes(&h, coarse, fine));
    }
    payload.extend(locator);
    save(out, &header, &payload)?;
    let check = load(out)?;
    let (_, written) = network_bytes(out, &check.header)?;
    anyhow::ensure!(
        Finder::from_bytes(&written.expect("a finder"))?.has_locator(),
        "{}: the locator did not come back (internal error)",
        out.display()
    );
    eprintln!("wrote {}", out.display());
    Ok(())
}
