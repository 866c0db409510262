//! Builds a bundle from one bundle's U-net (with its shape model,
//! threshold and calibration) and another's landmark finder: to measure a
//! finder trained on other data (a factor left out, docs/landmarks.md)
//! through the scores a full U-net gives with its points. `cargo run
//! --release -p aac-pipeline --example graft_finder -- UNET.aac FINDER.aac
//! OUT.aac [MEMBERS [SKIP]]` (MEMBERS: how many of FINDER's finders to
//! keep, from the first after SKIP, default 0; default all: `1 1` keeps
//! the recipe's second finder alone; FINDER's sacrum-top locator, if any,
//! is kept too).

use aac_landmarks::Finder;
use aac_pipeline::bundle::{load, network_bytes, save};
use std::path::Path;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (unet_from, finder_from, out) = (Path::new(&a[1]), Path::new(&a[2]), Path::new(&a[3]));
    let u = load(unet_from).expect("U-net bundle");
    let (unet, _) = network_bytes(unet_from, &u.header).expect("U-net bundle bytes");
    let f = load(finder_from).expect("finder bundle");
    let (_, finder) = network_bytes(finder_from, &f.header).expect("finder bundle bytes");
    let finder = finder.expect("the second bundle has a landmark finder");
    let all = Finder::member_bytes(&finder).expect("finder");
    let skip = a.get(5).map_or(0, |s| s.parse::<usize>().expect("SKIP"));
    assert!(skip < all.len(), "SKIP must be below {}", all.len());
    let members = &all[skip..];
    let keep = a
        .get(4)
        .map_or(members.len(), |s| s.parse::<usize>().expect("MEMBERS"));
    assert!(
        (1..=members.len()).contains(&keep),
        "MEMBERS must be 1-{}",
        members.len()
    );
    let mut payload = unet.clone();
    for m in &members[..keep] {
        let (header, coarse, fine) = Finder::split_bytes(m).expect("finder");
        payload.extend(Finder::to_bytes(&header, coarse, fine));
    }
    // FINDER's sacrum-top locator, if any, goes with its finders.
    payload.extend(
        Finder::locator_bytes(&finder)
            .expect("finder")
            .unwrap_or_default(),
    );
    let mut header = u.header.clone();
    let mut section = f.header.landmarks.clone().expect("finder section");
    section.unet_bytes = unet.len();
    section.training.members = keep;
    header.landmarks = Some(section);
    save(out, &header, &payload).expect("write");
    eprintln!(
        "wrote {}: the U-net of {}, {keep} finder(s) of {}",
        out.display(),
        unet_from.display(),
        finder_from.display()
    );
}
