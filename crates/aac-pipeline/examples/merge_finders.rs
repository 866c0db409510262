//! Builds a bundle whose landmark finder is BASE's followed by the first
//! finder of each OTHER bundle (second opinions, aac_landmarks::ensemble),
//! then BASE's sacrum-top locator if it has one:
//! to measure an ensemble from finders already trained, e.g. with
//! `aac train bundle --seed 2` on the same data (which trains exactly the
//! recipe's second member). `cargo run --release -p aac-pipeline --example
//! merge_finders -- BASE.aac OUT.aac OTHER.aac...`

use aac_landmarks::Finder;
use aac_pipeline::bundle::{load, network_bytes, save};
use std::path::Path;

fn first_finder(path: &Path) -> Vec<u8> {
    let b = load(path).expect("bundle");
    let (_, finder) = network_bytes(path, &b.header).expect("bundle bytes");
    let bytes = finder.expect("the bundle has a landmark finder");
    let first = Finder::member_bytes(&bytes).expect("finder")[0];
    let (header, coarse, fine) = Finder::split_bytes(first).expect("finder");
    Finder::to_bytes(&header, coarse, fine)
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (base, out) = (Path::new(&a[1]), Path::new(&a[2]));
    let b = load(base).expect("base bundle");
    let (unet, _) = network_bytes(base, &b.header).expect("base bytes");
    let mut header = b.header.clone();
    let mut payload = unet.clone();
    payload.extend(first_finder(base));
    for other in &a[3..] {
        payload.extend(first_finder(Path::new(other)));
    }
    let (_, base_finder) = network_bytes(base, &b.header).expect("base bytes");
    let base_finder = base_finder.expect("the base has a finder");
    payload.extend(
        Finder::locator_bytes(&base_finder)
            .expect("finder")
            .unwrap_or_default(),
    );
    let members = 1 + a.len() - 3;
    let section = header.landmarks.as_mut().expect("base has a finder");
    section.unet_bytes = unet.len();
    section.training.members = members;
    save(out, &header, &payload).expect("write");
    eprintln!("wrote {} with {members} finders", out.display());
}
