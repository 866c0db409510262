//! The evaluation report: predictions.csv and a self-contained index.html with
//! the tables and figures (PNG images embedded as data URIs, so the page opens
//! offline).

use crate::eval::{Example, ImageResult, MeanSd, Method, Metrics};
use aac_io::draw::{
    display_rgb, hstack, line_chart, overlay_labels, scatter_chart, text, vstack, Series,
};
use aac_io::Rgb8;
use aac_score::render_overlay;
use anyhow::Result;
use base64::Engine;
use image::Rgb;
use std::path::{Path, PathBuf};

/// predictions.csv: per test image fold, scores and Dice.
pub fn predictions_csv(results: &[ImageResult]) -> String {
    let mut header: Vec<String> = [
        "id",
        "fold",
        "aac24_annotation",
        "aac24_predicted",
        "aac24_continuous_annotation",
        "aac24_continuous_predicted",
    ]
    .map(String::from)
    .to_vec();
    for suffix in ["annotation", "predicted"] {
        header.extend(aac_io::SUBSCORE_COLUMNS.map(|c| format!("{c}_{suffix}")));
    }
    header.extend(Method::ALL.map(|m| format!("dsc_{}", m.name())));
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(&header);
    for r in results {
        let opt = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
        let mut rec = vec![
            aac_io::guard_cell(&r.id).into_owned(),
            r.fold.to_string(),
            r.aac24_annotation.to_string(),
            r.aac24_predicted.map(|v| v.to_string()).unwrap_or_default(),
            format!("{:.4}", r.aac24_continuous_annotation),
            opt(r.aac24_continuous_predicted),
        ];
        rec.extend(r.sub_annotation.iter().map(|v| v.to_string()));
        rec.extend((0..8).map(|k| {
            r.sub_predicted
                .map(|p| p[k].to_string())
                .unwrap_or_default()
        }));
        for m in Method::ALL {
            rec.push(opt(r.dsc.get(&m).copied().flatten()));
        }
        let _ = w.write_record(&rec);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn png_data_uri(img: &Rgb8) -> String {
    let mut bytes = Vec::new();
    let _ = image::DynamicImage::ImageRgb8(img.clone()).write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    );
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn labelled(img: Rgb8, title: &str) -> Rgb8 {
    let mut out = Rgb8::from_pixel(img.width(), img.height() + 14, Rgb([20, 20, 20]));
    image::imageops::overlay(&mut out, &img, 0, 14);
    text(&mut out, 2, 3, title, 1, Rgb([255, 255, 255]));
    out
}

fn scaled(img: &Rgb8, k: u32) -> Rgb8 {
    image::imageops::resize(
        img,
        img.width() * k,
        img.height() * k,
        image::imageops::FilterType::Nearest,
    )
}

fn fig2(examples: &[Example]) -> Option<Rgb8> {
    if examples.is_empty() {
        return None;
    }
    let rows: Vec<Rgb8> = examples
        .iter()
        .map(|e| {
            let base = display_rgb(&e.image);
            let mut panels = vec![labelled(scaled(&base, 2), &format!("{} ROI", e.id))];
            let mut t = base.clone();
            overlay_labels(&mut t, &e.truth.clone(), 0.9);
            panels.push(labelled(scaled(&t, 2), "manual"));
            for (m, title) in [(Method::Rf, "random forest"), (Method::Unet, "U-net")] {
                if let Some(l) = e.labels.get(&m) {
                    let mut p = base.clone();
                    let yellow = aac_io::Gray8::from_fn(l.width(), l.height(), |x, y| {
                        image::Luma([if l.get_pixel(x, y).0[0] > 0 { 3 } else { 0 }])
                    });
                    overlay_labels(&mut p, &yellow, 0.9);
                    panels.push(labelled(scaled(&p, 2), title));
                }
            }
            hstack(&panels, 4)
        })
        .collect();
    Some(vstack(&rows, 6))
}

fn fig3(examples: &[Example]) -> Option<Rgb8> {
    let rows: Vec<Rgb8> = examples
        .iter()
        .filter_map(|e| {
            let l = e.labels.get(&Method::Unet2)?;
            let base = display_rgb(&e.image);
            let mut t = base.clone();
            overlay_labels(&mut t, &e.truth, 0.9);
            let mut p = base.clone();
            overlay_labels(&mut p, l, 0.9);
            let scored = aac_score::score_segmentation(l, e.prior_x).ok()?;
            let ov = render_overlay(Some(&e.image), l, &scored, 2);
            Some(hstack(
                &[
                    labelled(scaled(&base, 2), &e.id),
                    labelled(scaled(&t, 2), "manual"),
                    labelled(scaled(&p, 2), "2-class U-net"),
                    labelled(ov, "midline + scores"),
                ],
                4,
            ))
        })
        .collect();
    (!rows.is_empty()).then(|| vstack(&rows, 6))
}

fn fmt(v: &Option<MeanSd>, pct: bool) -> String {
    match v {
        Some(s) if pct => format!("{:.1}% ({:.2}%)", 100.0 * s.mean, 100.0 * s.sd),
        Some(s) => format!("{:.3} ({:.3})", s.mean, s.sd),
        None => "-".into(),
    }
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or("-".into())
}

/// Fig. 4: predicted against annotation-derived AAC24 with its fit, and the
/// Bland-Altman plot; None without predictions.
fn fig4(m: &Metrics, results: &[ImageResult]) -> Option<Rgb8> {
    let pts: Vec<(f64, f64)> = results
        .iter()
        .filter_map(|r| {
            r.aac24_predicted
                .map(|p| (r.aac24_annotation as f64, p as f64))
        })
        .collect();
    let name = "annotation-derived";
    let ag = m.aac24_agreement.get(name).filter(|_| !pts.is_empty())?;
    let fit = ag.linear.as_ref().map(|l| (l.slope, l.intercept));
    let mut panels = vec![scatter_chart(
        &format!(
            "AAC24: predicted vs {name}, R2 {}",
            opt(ag.linear.as_ref().and_then(|l| l.r2))
        ),
        name,
        "predicted",
        &pts,
        fit,
        &[],
        380,
    )];
    if let Some(ba) = &ag.bland_altman {
        let bpts: Vec<(f64, f64)> = pts.iter().map(|(a, b)| ((a + b) / 2.0, b - a)).collect();
        panels.push(scatter_chart(
            "Bland-Altman: predicted - annotation",
            "mean of the two",
            "difference",
            &bpts,
            None,
            &[ba.bias, ba.lower, ba.upper],
            380,
        ));
    }
    Some(hstack(&panels, 8))
}

/// Training and validation loss per epoch of every U-net, side by side.
fn loss_figure(losses: &[(String, Vec<aac_unet::train::EpochLog>)]) -> Rgb8 {
    let colours = [
        Rgb([30, 90, 220]),
        Rgb([220, 40, 40]),
        Rgb([20, 150, 60]),
        Rgb([200, 120, 0]),
        Rgb([120, 40, 160]),
    ];
    let charts: Vec<Rgb8> = ["train", "val"]
        .iter()
        .map(|kind| {
            let series: Vec<Series> = losses
                .iter()
                .enumerate()
                .map(|(i, (name, logs))| Series {
                    label: name.as_str(),
                    points: logs
                        .iter()
                        .map(|l| {
                            let v = if *kind == "train" {
                                l.train_loss
                            } else {
                                l.val_loss
                            };
                            (l.epoch as f64, v)
                        })
                        .collect(),
                    colour: colours[i % colours.len()],
                })
                .collect();
            line_chart(
                &format!("{kind} loss per epoch"),
                "epoch",
                &series,
                520,
                320,
            )
        })
        .collect();
    hstack(&charts, 8)
}

/// Every figure of the report: (file name, caption, image).
fn figures(
    m: &Metrics,
    results: &[ImageResult],
    examples: &[Example],
    fig1: Option<&Rgb8>,
    losses: &[(String, Vec<aac_unet::train::EpochLog>)],
) -> Vec<(String, String, Rgb8)> {
    let mut figures: Vec<(String, String, Rgb8)> = Vec::new();
    let mut add =
        |file: &str, caption: &str, img: Rgb8| figures.push((file.into(), caption.into(), img));
    if let Some(f) = fig1 {
        add("fig1.png", "Fig. 1: shape model (fold 1): mean shape, modes 1 and 2 (mean ± 2 SD), and the predicted aorta with its 3 SD band and ROI on one image", f.clone());
    }
    if let Some(f) = fig2(examples) {
        add("fig2.png", "Fig. 2: test images: warped ROI, manual annotation, random forest and binary U-net output", f);
    }
    if let Some(f) = fig3(examples) {
        add("fig3.png", "Fig. 3: 2-class U-net (blue anterior, red posterior) and the midline fit with sub-scores", f);
    }
    if let Some(f) = fig4(m, results) {
        add("fig4.png", "Fig. 4: AAC24 from the 2-class U-net against the annotation-derived score (red: least-squares fit), and the Bland-Altman plot (grey: bias and limits of agreement)", f);
    }
    if !losses.is_empty() {
        add(
            "loss.png",
            "Training and validation loss of every U-net",
            loss_figure(losses),
        );
    }
    figures
}

/// Table 1 as HTML.
fn table1_section(m: &Metrics) -> String {
    let mut html = String::from("<h2>Table 1: segmentation</h2><table><tr><th>method</th><th>DSC (SD)</th><th>JSC (SD)</th><th>ACC (SD)</th><th>n</th></tr>");
    for r in &m.table1 {
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.method,
            fmt(&r.dsc, false),
            fmt(&r.jsc, false),
            fmt(&r.acc, true),
            r.dsc.as_ref().map(|s| s.n).unwrap_or(0)
        ));
    }
    html.push_str("</table><p>Paper (NSHD, Hologic): random forest DSC 0.373 (0.149), U-net 0.569 (0.189), intra-rater 0.869.</p>");
    html
}

/// The AAC24 agreement table and the confusion matrices as HTML.
fn agreement_section(m: &Metrics) -> String {
    let mut html = String::from("<h2>AAC24 agreement (2-class U-net, midline scoring)</h2><table><tr><th>against</th><th>n</th><th>R² (intercept)</th><th>R² (origin)</th><th>Pearson r</th><th>Spearman ρ</th><th>ICC(2,1)</th><th>MAE</th><th>Bland-Altman bias [limits]</th><th>category accuracy</th><th>weighted κ</th></tr>");
    for (name, a) in &m.aac24_agreement {
        let ba = a
            .bland_altman
            .as_ref()
            .map(|b| format!("{:.2} [{:.2}, {:.2}]", b.bias, b.lower, b.upper))
            .unwrap_or("-".into());
        html.push_str(&format!(
            "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{ba}</td><td>{}</td><td>{}</td></tr>",
            a.n,
            opt(a.linear.as_ref().and_then(|l| l.r2)),
            opt(a.origin.as_ref().and_then(|l| l.r2)),
            opt(a.pearson),
            opt(a.spearman),
            opt(a.icc_2_1),
            opt(a.mae),
            opt(a.category_accuracy),
            opt(a.kappa_linear)
        ));
    }
    html.push_str("</table><p>Paper: R² 0.682 against annotation-derived scores (0.630 through the origin), 0.585 against the radiologist.</p>");
    if let Some(a) = &m.aac8_agreement {
        html.push_str(&format!(
            "<h2>AAC-8 agreement (annotation-derived)</h2><table><tr><th>n</th><th>Pearson r</th><th>ICC(2,1)</th><th>MAE</th><th>category accuracy ({})</th><th>weighted κ</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
            aac_score::Grouping::Aac8.describe(),
            a.n,
            opt(a.pearson),
            opt(a.icc_2_1),
            opt(a.mae),
            opt(a.category_accuracy),
            opt(a.kappa_linear)
        ));
    }
    for (name, a) in &m.aac24_agreement {
        html.push_str(&format!("<p>Confusion matrix ({name}; rows: reference, columns: predicted; {}):</p><table><tr><th></th>", a.categories.join(" / ")));
        for c in a.categories {
            html.push_str(&format!("<th>{c}</th>"));
        }
        html.push_str("</tr>");
        for (i, row) in a.confusion.iter().enumerate() {
            html.push_str(&format!("<tr><td>{}</td>", a.categories[i]));
            for v in row {
                html.push_str(&format!("<td>{v}</td>"));
            }
            html.push_str("</tr>");
        }
        html.push_str("</table>");
    }
    html
}

/// The timing and settings tables and the list of files, as HTML.
fn timing_and_settings_section(m: &Metrics) -> String {
    let mut html = String::from("<h2>Timing</h2><table><tr><th>stage</th><th>seconds</th></tr>");
    for (k, v) in &m.timing_s {
        html.push_str(&format!("<tr><td>{k}</td><td>{v:.1}</td></tr>"));
    }
    html.push_str("</table><h2>Settings</h2><table>");
    for (k, v) in &m.settings {
        html.push_str(&format!(
            "<tr><td>{k}</td><td>{}</td></tr>",
            v.replace('<', "&lt;")
        ));
    }
    html.push_str("</table><p>Files: <code>metrics.json</code> (every number above), <code>predictions.csv</code> (per test image), <code>folds.csv</code>, loss curves per U-net (<code>loss_*.csv</code>).</p>");
    html
}

/// Writes index.html (and the figure PNGs) into `out`; returns the page path.
pub fn write_report(
    out: &Path,
    m: &Metrics,
    results: &[ImageResult],
    examples: &[Example],
    fig1: Option<&Rgb8>,
    losses: &[(String, Vec<aac_unet::train::EpochLog>)],
) -> Result<PathBuf> {
    let mut html = String::from("<!doctype html><html><head><meta charset=\"utf-8\"><title>aac evaluation report</title><style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 10px;text-align:right}th{background:#eee}td:first-child{text-align:left}img{max-width:100%;border:1px solid #ccc}figcaption{font-size:90%;color:#555;margin-bottom:2em}</style></head><body>");
    html.push_str(&format!("<h1>AAC24 evaluation report</h1><p>{} images, {}-fold cross-validation. In every fold the shape model, the random forest and the U-nets were trained on the training images only; thresholds and the kept epoch were chosen on a validation split; the test images were used for nothing but testing. <b>No test image was used for training or validation in its fold: {}</b> (fold assignment in <code>folds.csv</code>).</p>", m.n_images, m.folds, m.no_test_image_in_training));
    html.push_str(&table1_section(m));
    html.push_str(&agreement_section(m));
    if let Some(sa) = &m.subscore_agreement {
        html.push_str(&subscore_section(sa));
    }
    for (file, caption, img) in &figures(m, results, examples, fig1, losses) {
        aac_io::write_rgb_png(&out.join(file), img)?;
        html.push_str(&format!(
            "<figure><img src=\"{}\" alt=\"{file}\"><figcaption>{caption}</figcaption></figure>",
            png_data_uri(img)
        ));
    }
    html.push_str(&timing_and_settings_section(m));
    html.push_str("</body></html>\n");
    let index = out.join("index.html");
    aac_io::write_string_atomic(&index, &html)?;
    Ok(index)
}

/// The per-wall sub-score agreement as an HTML section.
fn subscore_section(sa: &aac_score::metrics::SubscoreAgreement) -> String {
    let opt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or("-".into());
    let mut h = format!(
        "<h2>Sub-score agreement per wall (2-class U-net vs annotation, {} images)</h2>\
         <p>Linearly weighted κ over all 8 sub-scores (0-3): <b>{}</b>; exact agreement {}. \
         Anterior sub-score points: annotation {}, predicted {}; posterior: annotation {}, predicted {}.</p>\
         <table><tr><th>sub-score</th>",
        sa.n,
        opt(sa.kappa_linear),
        opt(sa.exact),
        sa.anterior_total.0,
        sa.anterior_total.1,
        sa.posterior_total.0,
        sa.posterior_total.1
    );
    for n in aac_score::metrics::SUBSCORE_NAMES {
        h.push_str(&format!("<th>{n}</th>"));
    }
    h.push_str("</tr><tr><td>exact agreement</td>");
    for v in sa.exact_per_subscore {
        h.push_str(&format!("<td>{v:.3}</td>"));
    }
    h.push_str("</tr></table>");
    h
}
