//! The defaults and figures the README and docs state are the code's: a
//! change to one without the other fails here.

use aac_pipeline::defaults as d;

fn doc(rel: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_readme_states_the_training_defaults_of_the_code() {
    let readme = doc("README.md");
    let stated = format!(
        "`--unet-width {} --epochs {} --augment {} --lr {}`",
        d::UNET_WIDTH,
        d::EPOCHS,
        d::AUGMENT,
        d::LR
    );
    assert!(readme.contains(&stated), "README.md does not say {stated}");
    assert!(
        readme.contains(&format!("({} epochs:", d::EPOCHS)),
        "README.md's recipe states another epoch count than {}",
        d::EPOCHS
    );
    // The finders a bundle is trained with, in words.
    let members = ["one", "two", "three"][aac_landmarks::train::DEFAULT_MEMBERS - 1];
    for (name, text) in [
        ("README.md", &readme),
        ("docs/landmarks.md", &doc("docs/landmarks.md")),
    ] {
        assert!(
            text.contains(&format!("{members} landmark finders"))
                || text.contains(&format!("holds {members} finders")),
            "{name} does not say a bundle has {members} finders"
        );
    }
}

#[test]
fn predict_docs_state_the_chunk_size_and_every_flag() {
    let predict = doc("docs/predict.md");
    let chunk = format!(
        "chunks of {} x threads",
        aac_pipeline::predict::CHUNK_PER_THREAD
    );
    assert!(
        predict.contains(&chunk),
        "docs/predict.md does not say {chunk}"
    );
    for flag in [
        "--landmarks",
        "--overlays",
        "--shard",
        "--pixel-spacing",
        "--threshold",
        "--jobs",
        "--wait",
        "--force",
        "--allow-partial",
    ] {
        assert!(
            predict.contains(flag),
            "docs/predict.md does not mention {flag}"
        );
    }
}

#[test]
fn the_synthetic_docs_list_every_factor_and_say_which_are_opt_in() {
    let synthetic = doc("docs/synthetic.md");
    for f in aac_synth::Factor::ALL {
        assert!(
            synthetic.contains(&format!("`{}`", f.name())),
            "docs/synthetic.md does not list the factor {}",
            f.name()
        );
    }
    for f in aac_synth::Factor::OPT_IN {
        // Its table row, from the file as written (one row a line).
        let raw = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/synthetic.md"),
        )
        .unwrap();
        let row = raw
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` (", f.name())))
            .unwrap_or_else(|| panic!("docs/synthetic.md has no row for {}", f.name()))
            .trim_end();
        assert!(
            row.ends_with("| only with `--with` |"),
            "docs/synthetic.md does not say that {} is opt-in: {row}",
            f.name()
        );
    }
}
