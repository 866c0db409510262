//! `aac eval`: the paper's experiment. k-fold cross-validation: per fold the
//! shape model, the random forest and the U-nets are trained on the training
//! images only (thresholds and best epoch on a validation split), the test
//! images are segmented and scored, and a report is written.

use crate::dataset_util::load_raw_cases;
use crate::dataset_util::split_ids;
use crate::defaults as d;
use crate::report;
use crate::roi_labels::roi_labels;
use crate::unet_training::{train_unet_with_progress, unet_config, write_loss_curves};
use aac_io::{Dataset, Gray16, Gray8, Point, ROI_HEIGHT, ROI_WIDTH};
use aac_rf::{choose_threshold, RfModel, RoiCase, TrainParams};
use aac_score::metrics::{
    agreement, compare_masks, subscore_agreement, summarize, Agreement, Region, SubscoreAgreement,
};
use aac_score::{score_labels, score_segmentation, Grouping, Scored};
use aac_shape::ShapeModel;
use aac_unet::train::RawCase;
use aac_warp::{prepare_roi, AortaSource, WarpMap};
use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A segmentation method `aac eval` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The Haar-feature random forest (the paper's baseline).
    Rf,
    /// The binary U-net.
    Unet,
    /// The 2-class (anterior/posterior wall) U-net.
    Unet2,
}

impl Method {
    /// Every method, in the order of the report's tables.
    pub const ALL: [Method; 3] = [Method::Rf, Method::Unet, Method::Unet2];

    /// The name used in reports, tables and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Rf => "rf",
            Method::Unet => "unet",
            Method::Unet2 => "unet2",
        }
    }

    /// The method's name in Table 1.
    pub fn title(&self) -> &'static str {
        match self {
            Method::Rf => "Random forest",
            Method::Unet => "U-net (binary)",
            Method::Unet2 => "U-net (2-class)",
        }
    }
}

/// Settings of a cross-validated evaluation (`aac eval`, `aac demo`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct EvalConfig {
    /// Raw annotated dataset (images, 30-point landmarks, masks; optional masks2, scores.csv).
    pub data: PathBuf,
    /// Report directory.
    pub out: PathBuf,
    /// Number of folds.
    pub folds: usize,
    /// Seed (fold assignment, training).
    pub seed: u64,
    /// Methods compared.
    pub methods: Vec<Method>,
    /// U-net training (both U-nets).
    pub unet: crate::unet_training::UnetTraining,
    /// Random-forest training patches.
    pub rf_patches: usize,
    /// Random-forest trees.
    pub rf_trees: usize,
    /// Random transforms per patch.
    pub rf_transforms: usize,
}

impl EvalConfig {
    /// The default settings for a dataset and a report directory: the
    /// training defaults of [`crate::defaults`], shared with `train unet` and
    /// `train bundle`.
    pub fn new(data: PathBuf, out: PathBuf) -> Self {
        use crate::defaults as d;
        EvalConfig {
            data,
            out,
            folds: d::FOLDS,
            seed: d::SEED,
            methods: d::METHODS.to_vec(),
            unet: crate::unet_training::UnetTraining::new(),
            rf_patches: d::RF_PATCHES,
            rf_trees: d::RF_TREES,
            rf_transforms: d::RF_TRANSFORMS,
        }
    }
}

/// Mean (SD) of one metric.
#[derive(Debug, Clone, Serialize)]
pub struct MeanSd {
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub sd: f64,
    /// Number of images.
    pub n: usize,
}

/// One row of Table 1.
#[derive(Debug, Clone, Serialize)]
pub struct TableRow {
    /// Method.
    pub method: String,
    /// Dice.
    pub dsc: Option<MeanSd>,
    /// Jaccard.
    pub jsc: Option<MeanSd>,
    /// Pixel accuracy.
    pub acc: Option<MeanSd>,
}

/// Per test image results.
#[derive(Debug, Clone, Serialize)]
pub struct ImageResult {
    /// Id.
    pub id: String,
    /// Fold in which it was a test image.
    pub fold: usize,
    /// AAC24 from the annotated (warped) mask.
    pub aac24_annotation: u32,
    /// Sub-scores from the annotation.
    pub sub_annotation: [u32; 8],
    /// AAC24 predicted by the 2-class U-net.
    pub aac24_predicted: Option<u32>,
    /// Its sub-scores.
    pub sub_predicted: Option<[u32; 8]>,
    /// AAC24 without rounding up, from the annotation.
    pub aac24_continuous_annotation: f64,
    /// AAC24 without rounding up, predicted.
    pub aac24_continuous_predicted: Option<f64>,
    /// AAC-8 from the annotation.
    pub aac8_annotation: u32,
    /// AAC-8 predicted by the 2-class U-net.
    pub aac8_predicted: Option<u32>,
    /// Dice per method.
    pub dsc: BTreeMap<Method, Option<f64>>,
}

/// Everything in metrics.json.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    /// Images.
    pub n_images: usize,
    /// Folds.
    pub folds: usize,
    /// Table 1.
    pub table1: Vec<TableRow>,
    /// AAC24 agreement: predicted vs annotation-derived, and vs each score column.
    pub aac24_agreement: BTreeMap<String, Agreement>,
    /// The grouping behind the categories of `aac24_agreement`.
    pub grouping: String,
    /// AAC-8 agreement, predicted vs annotation-derived (categories none 0,
    /// low 1-2, high >= 3).
    pub aac8_agreement: Option<Agreement>,
    /// Per-wall agreement of the 8 sub-scores: annotation-derived (a) vs the
    /// 2-class U-net (b).
    pub subscore_agreement: Option<SubscoreAgreement>,
    /// True if no test image was in the training or validation set of its fold (checked).
    pub no_test_image_in_training: bool,
    /// Seconds per stage.
    pub timing_s: BTreeMap<String, f64>,
    /// Settings.
    pub settings: BTreeMap<String, String>,
}

/// What `run_eval` returns.
pub struct EvalOutcome {
    /// Metrics.
    pub metrics: Metrics,
    /// The report's index.html.
    pub index: PathBuf,
}

struct Warped {
    roi: RoiCase,
    /// The 20 spine points in warped pixels (what [`roi_labels`] clears the
    /// bone by).
    spine: Vec<Point>,
    mask2: Option<Gray8>,
    /// The shape model's aortic centre line in warped space (wall split prior).
    prior_x: f64,
}

fn warp_case(ssm: &ShapeModel, c: &RawCase, mask2: Option<&Gray8>) -> Result<Warped> {
    let (prep, _) = prepare_roi(
        ssm,
        &c.landmarks,
        AortaSource::Predicted,
        (c.width as u32, c.height as u32),
    )
    .with_context(|| format!("{}: warp", c.id))?;
    let map = WarpMap::new(&prep.roi, None);
    let image = map.warp_f32(&c.image, c.width, c.height, 0.0);
    Ok(Warped {
        spine: aac_warp::warp_image::warp_points(
            &prep.roi,
            &c.landmarks[..aac_io::N_SPINE.min(c.landmarks.len())],
        ),
        roi: RoiCase {
            width: ROI_WIDTH,
            height: ROI_HEIGHT,
            image,
            mask: Some(map.warp_labels(&c.mask)),
        },
        mask2: mask2.map(|m| map.warp_labels(m)),
        prior_x: prep.aorta_centre_x(),
    })
}

fn region_overlap(
    pred: &Gray8,
    truth: &Gray8,
    region: Region,
) -> (Option<f64>, Option<f64>, Option<f64>) {
    match compare_masks(truth, pred) {
        Ok(c) => {
            let o = c.get(region);
            (o.dice, o.jaccard, o.accuracy)
        }
        Err(_) => (None, None, None),
    }
}

fn union_overlap(pred: &Gray8, truth: &Gray8) -> (Option<f64>, Option<f64>, Option<f64>) {
    region_overlap(pred, truth, Region::Union)
}

/// Dice, Jaccard and accuracy values collected over test images.
#[derive(Default)]
struct OverlapLists {
    dice: Vec<f64>,
    jaccard: Vec<f64>,
    accuracy: Vec<f64>,
}

impl OverlapLists {
    fn push(&mut self, (d, j, a): (Option<f64>, Option<f64>, Option<f64>)) {
        self.dice.extend(d);
        self.jaccard.extend(j);
        self.accuracy.extend(a);
    }

    fn row(&self, method: &str) -> TableRow {
        TableRow {
            method: method.into(),
            dsc: mean_sd(&self.dice),
            jsc: mean_sd(&self.jaccard),
            acc: mean_sd(&self.accuracy),
        }
    }
}

fn mean_sd(v: &[f64]) -> Option<MeanSd> {
    summarize(v).map(|s| MeanSd {
        mean: s.mean,
        sd: s.sd,
        n: s.n,
    })
}

/// Example images kept for the figures.
pub struct Example {
    /// Id.
    pub id: String,
    /// Warped image.
    pub image: Gray16,
    /// Annotation.
    pub truth: Gray8,
    /// Per method labels.
    pub labels: BTreeMap<Method, Gray8>,
    /// The shape model's aortic centre line in warped space.
    pub prior_x: f64,
}

/// The images of an evaluation, loaded once.
struct Cohort {
    ds: Dataset,
    ids: Vec<String>,
    raw: Vec<RawCase>,
    masks2: Vec<Option<Gray8>>,
}

/// The fewest training images a fold may have: the shape model needs 3
/// shapes.
const MIN_FOLD_TRAINING: usize = 3;

/// Training images of the smallest fold's training set when `n` images are
/// split into `folds` folds (the largest test fold held out, then the
/// validation share of the rest, as [`FoldSplit::new`] does).
fn fold_training_images(n: usize, folds: usize) -> usize {
    let rest = n - n.div_ceil(folds.max(1));
    rest - crate::dataset_util::validation_count(rest, 0.2)
}

/// Loads every image, its landmarks, mask and (if present) second reading.
fn load_cohort(a: &EvalConfig) -> Result<Cohort> {
    let ds = Dataset::open(&a.data)?;
    let ids = ds.ids();
    if fold_training_images(ids.len(), a.folds) < MIN_FOLD_TRAINING {
        let needed = (1..)
            .find(|&n| fold_training_images(n, a.folds) >= MIN_FOLD_TRAINING)
            .unwrap_or(usize::MAX);
        bail!(
            "{}: {} images are too few for {} folds: a fold would train on {} images \
             ({MIN_FOLD_TRAINING} needed, after one fold is held out for testing and 20% of \
             the rest for validation); give at least {needed} images, or fewer --folds",
            a.data.display(),
            ids.len(),
            a.folds,
            fold_training_images(ids.len(), a.folds)
        );
    }
    let raw = load_raw_cases(&ds, &ids, "masks")?;
    let has_masks2 = ds.has_dir("masks2");
    let masks2: Vec<Option<Gray8>> = raw
        .par_iter()
        .map(|c| {
            if has_masks2 {
                aac_io::read_mask(
                    &ds.mask_path(&c.id, "masks2"),
                    Some((c.width as u32, c.height as u32)),
                )
                .map(Some)
            } else {
                Ok(None)
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(Cohort {
        ds,
        ids,
        raw,
        masks2,
    })
}

/// Fold of every image: a seeded shuffle, then round robin.
fn assign_folds(n: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let mut fold_of = vec![0usize; n];
    for (pos, &i) in order.iter().enumerate() {
        fold_of[i] = pos % folds;
    }
    fold_of
}

/// The image indices of one fold's roles.
struct FoldSplit {
    train: Vec<usize>,
    val: Vec<usize>,
    test: Vec<usize>,
}

impl FoldSplit {
    fn new(ids: &[String], fold_of: &[usize], f: usize) -> FoldSplit {
        let test: Vec<usize> = (0..ids.len()).filter(|&i| fold_of[i] == f).collect();
        let rest: Vec<String> = (0..ids.len())
            .filter(|&i| fold_of[i] != f)
            .map(|i| ids[i].clone())
            .collect();
        let (train_ids, val_ids) = split_ids(&rest, 0.2);
        let index: BTreeMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        FoldSplit {
            train: train_ids.iter().map(|s| index[s.as_str()]).collect(),
            val: val_ids.iter().map(|s| index[s.as_str()]).collect(),
            test,
        }
    }

    /// True when no test image is among the training or validation images.
    fn leak_free(&self) -> bool {
        let test: BTreeSet<usize> = self.test.iter().copied().collect();
        !self.train.iter().chain(&self.val).any(|i| test.contains(i))
    }
}

/// Everything the folds accumulate for the report.
#[derive(Default)]
struct Accumulated {
    results: Vec<ImageResult>,
    per_method: BTreeMap<Method, OverlapLists>,
    /// The 2-class U-net per wall: anterior, posterior.
    unet2_walls: [OverlapLists; 2],
    intra: OverlapLists,
    examples: Vec<Example>,
    loss_logs: Vec<(String, Vec<aac_unet::train::EpochLog>)>,
    leak_free: bool,
    fold_rows: String,
    first_ssm: Option<ShapeModel>,
    timing: BTreeMap<String, f64>,
}

impl Accumulated {
    fn time(&mut self, key: &str, since: Instant) {
        *self.timing.entry(key.into()).or_default() += since.elapsed().as_secs_f64();
    }
}

/// The random forest of one fold: trained on the training ROIs, threshold on
/// the validation ROIs; labels of the test ROIs.
fn rf_fold(
    a: &EvalConfig,
    f: usize,
    train: &[RoiCase],
    val: &[RoiCase],
    test: &[RoiCase],
) -> Result<Vec<Gray8>> {
    let mut p = TrainParams {
        patches: a.rf_patches,
        transforms: a.rf_transforms,
        ..Default::default()
    };
    p.forest.trees = a.rf_trees;
    p.forest.seed = a.seed + f as u64;
    let mut rf = RfModel::train(train, &p).with_context(|| format!("fold {f}: random forest"))?;
    rf.threshold = choose_threshold(&rf, val);
    Ok(test
        .par_iter()
        .map(|c| {
            rf.labels(
                &rf.response(&c.image, c.width, c.height),
                c.width,
                c.height,
                rf.threshold,
            )
        })
        .collect())
}

/// A U-net of one fold: trained on the raw training images (warped on the
/// fly), best epoch and threshold on the validation images; labels of the
/// test ROIs and the training logs.
fn unet_fold(
    a: &EvalConfig,
    f: usize,
    classes: usize,
    label: &str,
    (train, val): (Vec<RawCase>, Vec<RawCase>),
    ssm: &ShapeModel,
    (test, spines): (&[RoiCase], &[&[Point]]),
) -> Result<(Vec<Gray8>, Vec<aac_unet::train::EpochLog>)> {
    let cfg = unet_config(classes, &a.unet, a.seed + f as u64);
    let trained = train_unet_with_progress(&cfg, &train, &val, ssm, label)?;
    let model = aac_unet::UnetModel::from_bytes(&trained.model, Path::new("<trained>"))?;
    let t = model.header.threshold;
    Ok((test_labels(&model, test, spines, t), trained.logs))
}

/// Labels of the test ROIs by a trained U-net at its threshold, as `aac
/// predict` labels them ([`crate::roi_labels`]).
fn test_labels(
    model: &aac_unet::UnetModel,
    test: &[RoiCase],
    spines: &[&[Point]],
    t: f32,
) -> Vec<Gray8> {
    let inputs: Vec<Vec<f32>> = test.iter().map(|c| c.image.clone()).collect();
    model
        .predict(&inputs)
        .iter()
        .zip(&inputs)
        .zip(spines)
        .map(|((p, roi), spine)| roi_labels(roi, p, spine, [t, t]).labels)
        .collect()
}

/// The 2-class U-net's scores of a test image from its labels, split around
/// the predicted aortic centre as `aac predict` splits them.
fn predicted_scores(labels: &Gray8, warped: &Warped) -> Result<Scored> {
    Ok(score_segmentation(labels, warped.prior_x)?)
}

/// Trains every method on one fold and scores its test images into `acc`.
fn run_fold(
    a: &EvalConfig,
    methods: &BTreeSet<Method>,
    c: &Cohort,
    split: &FoldSplit,
    f: usize,
    acc: &mut Accumulated,
) -> Result<()> {
    let (ids, raw) = (&c.ids, &c.raw);
    acc.leak_free &= split.leak_free();
    for (role, list) in [
        ("train", &split.train),
        ("val", &split.val),
        ("test", &split.test),
    ] {
        for &i in list.iter() {
            acc.fold_rows
                .push_str(&format!("{},{},{role}\n", ids[i], f));
        }
    }
    let t = Instant::now();
    let shapes: Vec<Vec<Point>> = split
        .train
        .iter()
        .map(|&i| raw[i].landmarks.clone())
        .collect();
    let ssm =
        ShapeModel::fit(&shapes, d::SHAPE_VARIANCE, d::SHAPE_CV_FOLDS).context("shape model")?;
    let all_idx: Vec<usize> = split
        .train
        .iter()
        .chain(&split.val)
        .chain(&split.test)
        .copied()
        .collect();
    let warped: BTreeMap<usize, Warped> = all_idx
        .par_iter()
        .map(|&i| warp_case(&ssm, &raw[i], c.masks2[i].as_ref()).map(|w| (i, w)))
        .collect::<Result<_>>()?;
    acc.time("shape model + warp", t);
    let rois =
        |idx: &[usize]| -> Vec<RoiCase> { idx.iter().map(|i| warped[i].roi.clone()).collect() };
    let test_rois = rois(&split.test);
    let test_spines: Vec<&[Point]> = split
        .test
        .iter()
        .map(|i| warped[i].spine.as_slice())
        .collect();
    let mut labels: BTreeMap<Method, Vec<Gray8>> = BTreeMap::new();
    if methods.contains(&Method::Rf) {
        let t = Instant::now();
        labels.insert(
            Method::Rf,
            rf_fold(a, f, &rois(&split.train), &rois(&split.val), &test_rois)?,
        );
        acc.time("random forest", t);
    }
    for (method, classes) in [(Method::Unet, 1usize), (Method::Unet2, 2usize)] {
        if !methods.contains(&method) {
            continue;
        }
        let name = method.name();
        let t = Instant::now();
        let pick =
            |idx: &[usize]| -> Vec<RawCase> { idx.iter().map(|&i| raw[i].clone()).collect() };
        let (ls, logs) = unet_fold(
            a,
            f,
            classes,
            &format!("f{} {name}", f + 1),
            (pick(&split.train), pick(&split.val)),
            &ssm,
            (&test_rois, &test_spines),
        )?;
        labels.insert(method, ls);
        acc.loss_logs.push((format!("fold {} {name}", f + 1), logs));
        acc.time(&format!("U-net ({name})"), t);
    }
    for (k, &i) in split.test.iter().enumerate() {
        score_test_image(ids, i, f, k, &warped[&i], &test_rois[k], &labels, acc)?;
    }
    if acc.first_ssm.is_none() {
        acc.first_ssm = Some(ssm);
    }
    Ok(())
}

/// Overlaps and scores of test image `i` (the `k`-th of its fold) for every
/// method; the first fold's first calcified images are kept as examples.
#[allow(clippy::too_many_arguments)]
fn score_test_image(
    ids: &[String],
    i: usize,
    f: usize,
    k: usize,
    warped: &Warped,
    roi: &RoiCase,
    labels: &BTreeMap<Method, Vec<Gray8>>,
    acc: &mut Accumulated,
) -> Result<()> {
    let truth = warped.roi.mask.clone().expect("annotated");
    let s_true =
        score_labels(&truth).with_context(|| format!("{}: scoring the annotation", ids[i]))?;
    let mut dsc = BTreeMap::new();
    for (m, ls) in labels {
        let o = union_overlap(&ls[k], &truth);
        dsc.insert(*m, o.0);
        acc.per_method.entry(*m).or_default().push(o);
        if *m == Method::Unet2 {
            for (wall, region) in [Region::Anterior, Region::Posterior]
                .into_iter()
                .enumerate()
            {
                let o = region_overlap(&ls[k], &truth, region);
                acc.unet2_walls[wall].push(o);
            }
        }
    }
    if let Some(m2) = &warped.mask2 {
        acc.intra.push(union_overlap(m2, &truth));
    }
    let pred: Option<Scored> = labels
        .get(&Method::Unet2)
        .map(|ls| predicted_scores(&ls[k], warped))
        .transpose()?;
    acc.results.push(ImageResult {
        id: ids[i].clone(),
        fold: f,
        aac24_annotation: s_true.aac24,
        sub_annotation: s_true.sub,
        aac24_predicted: pred.map(|p| p.aac24),
        sub_predicted: pred.map(|p| p.sub),
        aac24_continuous_annotation: s_true.aac24_continuous(),
        aac24_continuous_predicted: pred.map(|p| p.aac24_continuous()),
        aac8_annotation: s_true.aac8(),
        aac8_predicted: pred.map(|p| p.aac8()),
        dsc,
    });
    if f == 0 && acc.examples.len() < 4 && truth.as_raw().iter().any(|&v| v > 0) {
        acc.examples.push(Example {
            id: ids[i].clone(),
            image: gray16_of(&roi.image, ROI_WIDTH, ROI_HEIGHT),
            truth,
            labels: labels.iter().map(|(m, ls)| (*m, ls[k].clone())).collect(),
            prior_x: warped.prior_x,
        });
    }
    Ok(())
}

/// A float image as 16-bit, clamped.
fn gray16_of(image: &[f32], width: u32, height: u32) -> Gray16 {
    Gray16::from_raw(
        width,
        height,
        image
            .iter()
            .map(|&v| v.clamp(0.0, 65535.0) as u16)
            .collect(),
    )
    .expect("the buffer has the image's size")
}

/// Table 1: overlap per method, per class of the 2-class U-net, and the
/// intra-rater row when a second reading exists.
fn table1_rows(acc: &Accumulated) -> Vec<TableRow> {
    let mut table1: Vec<TableRow> = Method::ALL
        .iter()
        .filter_map(|m| acc.per_method.get(m).map(|l| l.row(m.title())))
        .collect();
    if acc.per_method.contains_key(&Method::Unet2) {
        for (lists, wall) in acc.unet2_walls.iter().zip(["anterior", "posterior"]) {
            table1.push(lists.row(&format!("{}, {wall} class", Method::Unet2.title())));
        }
    }
    if !acc.intra.dice.is_empty() {
        table1.push(acc.intra.row("Intra-rater (masks vs masks2)"));
    }
    table1
}

/// AAC-8 predicted against the annotation-derived AAC-8.
fn aac8_agreement(results: &[ImageResult]) -> Option<Agreement> {
    let (t, p): (Vec<f64>, Vec<f64>) = results
        .iter()
        .filter_map(|r| {
            r.aac8_predicted
                .map(|p| (r.aac8_annotation as f64, p as f64))
        })
        .unzip();
    if t.is_empty() {
        return None;
    }
    agreement(&t, &p, Grouping::Aac8).ok()
}

/// AAC24 agreement of the 2-class U-net with the annotation-derived score
/// and with every score column of the dataset's scores.csv.
fn aac24_agreements(ds: &Dataset, results: &[ImageResult]) -> Result<BTreeMap<String, Agreement>> {
    let mut agree = BTreeMap::new();
    let with_pred: Vec<&ImageResult> = results
        .iter()
        .filter(|r| r.aac24_predicted.is_some())
        .collect();
    if with_pred.is_empty() {
        return Ok(agree);
    }
    let predicted = |r: &ImageResult| r.aac24_predicted.unwrap_or(0) as f64;
    let p: Vec<f64> = with_pred.iter().map(|r| predicted(r)).collect();
    let t: Vec<f64> = with_pred
        .iter()
        .map(|r| r.aac24_annotation as f64)
        .collect();
    if let Ok(ag) = agreement(&t, &p, Grouping::default()) {
        agree.insert("annotation-derived".to_string(), ag);
    }
    let sp = ds.scores_path();
    if !sp.exists() {
        return Ok(agree);
    }
    let table = aac_io::read_scores(&sp, &["aac24"])?;
    for col in table
        .columns
        .iter()
        .filter(|c| !aac_io::SUBSCORE_COLUMNS.contains(&c.as_str()))
    {
        let Some(values) = table.column(col) else {
            continue;
        };
        let pairs: Vec<(f64, f64)> = with_pred
            .iter()
            .filter_map(|r| values.get(&r.id).map(|v| (*v, predicted(r))))
            .collect();
        if pairs.len() >= 3 {
            let (x, y): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
            if let Ok(ag) = agreement(&x, &y, Grouping::default()) {
                agree.insert(format!("scores.csv:{col}"), ag);
            }
        }
    }
    Ok(agree)
}

/// The settings recorded in metrics.json.
fn settings_of(a: &EvalConfig, methods: &BTreeSet<Method>) -> BTreeMap<String, String> {
    [
        ("data", a.data.display().to_string()),
        (
            "methods",
            methods
                .iter()
                .map(Method::name)
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("seed", a.seed.to_string()),
        ("unet_width", a.unet.width.to_string()),
        ("epochs", a.unet.epochs.to_string()),
        ("augment", a.unet.augment.to_string()),
        ("lr", a.unet.lr.to_string()),
        ("batch", a.unet.batch.to_string()),
        ("photometric", a.unet.photometric.to_string()),
        ("dice_weight", a.unet.dice_weight.to_string()),
        ("rf_patches", a.rf_patches.to_string()),
        ("rf_trees", a.rf_trees.to_string()),
        ("rf_transforms", a.rf_transforms.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Writes folds.csv, metrics.json, predictions.csv, the loss curves and the
/// HTML report; returns the report's index.
fn write_outputs(
    a: &EvalConfig,
    c: &Cohort,
    metrics: &Metrics,
    acc: &Accumulated,
) -> Result<PathBuf> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    aac_io::write_string_atomic(&a.out.join("folds.csv"), &acc.fold_rows)?;
    aac_io::write_string_atomic(&a.out.join("unet_training.json"), &a.unet.to_string())?;
    aac_io::write_string_atomic(
        &a.out.join("metrics.json"),
        &serde_json::to_string_pretty(metrics)?,
    )?;
    aac_io::write_string_atomic(
        &a.out.join("predictions.csv"),
        &report::predictions_csv(&acc.results),
    )?;
    for (name, logs) in &acc.loss_logs {
        let stem = name.replace(' ', "_");
        write_loss_curves(
            logs,
            &a.out.join(format!("loss_{stem}.csv")),
            &a.out.join(format!("loss_{stem}.png")),
            name,
        )?;
    }
    let fig1 = match (&acc.first_ssm, c.raw.first()) {
        (Some(ssm), Some(r)) => {
            let img = gray16_of(&r.image, r.width as u32, r.height as u32);
            crate::shape_plot::figure(ssm, &img, &r.landmarks).ok()
        }
        _ => None,
    };
    report::write_report(
        &a.out,
        metrics,
        &acc.results,
        &acc.examples,
        fig1.as_ref(),
        &acc.loss_logs,
    )
}

/// Runs the cross-validation and writes the report.
pub fn run_eval(a: &EvalConfig) -> Result<EvalOutcome> {
    let methods: BTreeSet<Method> = a.methods.iter().copied().collect();
    if methods.is_empty() {
        bail!("no method to evaluate (--methods)");
    }
    if a.folds < 2 {
        bail!("--folds must be at least 2");
    }
    let t_all = Instant::now();
    let mut acc = Accumulated {
        leak_free: true,
        fold_rows: String::from("id,fold,role\n"),
        ..Default::default()
    };
    let cohort = load_cohort(a)?;
    acc.time("load", t_all);
    let fold_of = assign_folds(cohort.ids.len(), a.folds, a.seed);
    for f in 0..a.folds {
        tracing::info!("fold {}/{}", f + 1, a.folds);
        let split = FoldSplit::new(&cohort.ids, &fold_of, f);
        run_fold(a, &methods, &cohort, &split, f, &mut acc)?;
    }
    let subscores = {
        let (t, p): (Vec<[u32; 8]>, Vec<[u32; 8]>) = acc
            .results
            .iter()
            .filter_map(|r| r.sub_predicted.map(|p| (r.sub_annotation, p)))
            .unzip();
        subscore_agreement(&t, &p).ok()
    };
    let aac24_agreement = aac24_agreements(&cohort.ds, &acc.results)?;
    acc.timing
        .insert("total".into(), t_all.elapsed().as_secs_f64());
    let metrics = Metrics {
        n_images: cohort.ids.len(),
        folds: a.folds,
        table1: table1_rows(&acc),
        aac24_agreement,
        grouping: Grouping::default().describe().into(),
        aac8_agreement: aac8_agreement(&acc.results),
        subscore_agreement: subscores,
        no_test_image_in_training: acc.leak_free,
        timing_s: acc.timing.clone(),
        settings: settings_of(a, &methods),
    };
    let index = write_outputs(a, &cohort, &metrics, &acc)?;
    Ok(EvalOutcome { metrics, index })
}

#[cfg(test)]
mod one_path_tests {
    use super::*;
    use crate::bundle::{train_bundle, BundleConfig};
    use crate::predict::{predict, PredictConfig};

    /// For one model and the same images, the scores cross-validation
    /// computes (warp, U-net, labels, wall split) are the scores `aac
    /// predict` writes.
    #[test]
    fn eval_scores_each_image_as_predict_does() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let opts = aac_synth::CohortOptions {
            n: 8,
            seed: 3,
            style: aac_synth::Style::hologic(),
            dicom: false,
            calcified_only: true,
        };
        aac_synth::write_cohort(&data, &opts, &|| ()).unwrap();
        let model_path = tmp.path().join("m.aac");
        let mut cfg = BundleConfig::new(data.clone(), model_path.clone());
        cfg.unet.width = 2;
        cfg.unet.epochs = 1;
        cfg.landmarks = None;
        train_bundle(&cfg).unwrap();
        let b = crate::bundle::load(&model_path).unwrap();
        let ds = Dataset::open(&data).unwrap();
        let ids = ds.ids();
        let raw = load_raw_cases(&ds, &ids, "masks").unwrap();
        let warped: Vec<Warped> = raw
            .iter()
            .map(|c| warp_case(&b.header.ssm, c, None).unwrap())
            .collect();
        let rois: Vec<RoiCase> = warped.iter().map(|w| w.roi.clone()).collect();
        // A network trained one epoch calls little: a threshold at the
        // 99.5th percentile of its probabilities gives both paths deposits
        // to score.
        let inputs: Vec<Vec<f32>> = rois.iter().map(|c| c.image.clone()).collect();
        let mut all: Vec<f32> = b
            .unet
            .predict(&inputs)
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        all.sort_by(f32::total_cmp);
        let t = all[all.len() * 995 / 1000].clamp(1e-6, 0.999);
        let out = tmp.path().join("out");
        predict(&PredictConfig {
            model: model_path.clone(),
            images: data.join("images"),
            landmarks: Some(data.join("landmarks")),
            out: out.clone(),
            jobs: Some(1),
            overlays: false,
            shard: None,
            pixel_spacing: None,
            threshold: Some([aac_score::Threshold::new(t).unwrap(); 2]),
            wait: false,
        })
        .unwrap();
        let rows: BTreeMap<String, Vec<String>> =
            crate::table::read_rows(&out.join("scores.csv"), &crate::predict::COLUMNS, "scores")
                .unwrap()
                .into_iter()
                .map(|r| (r[0].clone(), r))
                .collect();
        // Eval's path with the bundle's network and shape model.
        let spines: Vec<&[Point]> = warped.iter().map(|w| w.spine.as_slice()).collect();
        let labels = test_labels(&b.unet, &rois, &spines, t);
        let mut scored = 0;
        for ((id, w), l) in ids.iter().zip(&warped).zip(&labels) {
            let s = predicted_scores(l, w).unwrap();
            let row = &rows[id];
            let mut expected = vec![s.aac24.to_string()];
            expected.extend(s.sub.iter().map(|v| v.to_string()));
            assert_eq!(row[1..10], expected[..], "{id}");
            assert_eq!(row[15], s.aac8().to_string(), "{id}");
            scored += usize::from(s.aac24 > 0);
        }
        assert_eq!(rows.len(), ids.len());
        assert!(
            scored >= 2,
            "only {scored} images with calcification called"
        );
    }
}
