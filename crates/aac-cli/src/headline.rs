//! Printing an evaluation's headline figures: the library returns them as
//! data ([`Metrics`]), the command line prints them.

use aac_pipeline::eval::{MeanSd, Metrics};

/// Prints Table 1 and the AAC24 agreement to the terminal.
pub fn print_headline(m: &Metrics) {
    println!(
        "Table 1 ({} images, {}-fold cross-validation)",
        m.n_images, m.folds
    );
    println!(
        "{:<32} {:>16} {:>16} {:>18}",
        "method", "DSC (SD)", "JSC (SD)", "ACC (SD)"
    );
    let f = |v: &Option<MeanSd>, pct: bool| match v {
        Some(s) if pct => format!("{:.1}% ({:.2}%)", 100.0 * s.mean, 100.0 * s.sd),
        Some(s) => format!("{:.3} ({:.3})", s.mean, s.sd),
        None => "-".into(),
    };
    for r in &m.table1 {
        println!(
            "{:<32} {:>16} {:>16} {:>18}",
            r.method,
            f(&r.dsc, false),
            f(&r.jsc, false),
            f(&r.acc, true)
        );
    }
    for (name, a) in &m.aac24_agreement {
        let r2 = a
            .linear
            .as_ref()
            .and_then(|l| l.r2)
            .map(|v| format!("{v:.3}"))
            .unwrap_or("-".into());
        let r2o = a
            .origin
            .as_ref()
            .and_then(|l| l.r2)
            .map(|v| format!("{v:.3}"))
            .unwrap_or("-".into());
        let opt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or("-".into());
        println!(
            "AAC24 predicted vs {name}: R2 {r2} (through origin {r2o}), r {}, ICC {}, MAE {}, category accuracy {}, weighted kappa {} (n={})",
            opt(a.pearson),
            opt(a.icc_2_1),
            opt(a.mae),
            opt(a.category_accuracy),
            opt(a.kappa_linear),
            a.n
        );
    }
    println!("Categories: {}", m.grouping);
    if let Some(a) = &m.aac8_agreement {
        let opt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or("-".into());
        println!(
            "AAC-8 vs annotation-derived: r {}, ICC {}, MAE {}, category accuracy {} ({}), weighted kappa {} (n={})",
            opt(a.pearson),
            opt(a.icc_2_1),
            opt(a.mae),
            opt(a.category_accuracy),
            aac_score::Grouping::Aac8.describe(),
            opt(a.kappa_linear),
            a.n
        );
    }
    if let Some(sa) = &m.subscore_agreement {
        let opt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or("-".into());
        println!(
            "Sub-scores per wall (2-class U-net vs annotation): weighted kappa {}, exact {}; anterior points {} vs {} predicted, posterior {} vs {} (n={})",
            opt(sa.kappa_linear),
            opt(sa.exact),
            sa.anterior_total.0,
            sa.anterior_total.1,
            sa.posterior_total.0,
            sa.posterior_total.1,
            sa.n
        );
    }
    println!(
        "No test image was used for training or validation in its fold: {}",
        m.no_test_image_in_training
    );
}
