//! The shape-model figure (like the paper's Fig. 1): the mean shape, mean +/- 2
//! SD along modes 1 and 2, and one image with the fitted spine, the predicted
//! aorta, its 3 SD band and the ROI grid.

use aac_io::draw::{display_rgb, dot, hstack, line, resize_to_height, text};
use aac_io::{Gray16, Point, Rgb8};
use aac_shape::ShapeModel;
use aac_warp::{prepare_roi, AortaSource};
use anyhow::Result;
use image::Rgb;

const W: u32 = 300;
const H: u32 = 420;

fn draw_shape(img: &mut Rgb8, pts: &[Point], map: &dyn Fn(Point) -> Point, colour: Rgb<u8>) {
    use aac_io::pts::index;
    for v in 0..4 {
        let c = index::corners(v);
        for i in 0..4 {
            line(img, map(pts[c[i]]), map(pts[c[(i + 1) % 4]]), colour);
        }
    }
    line(
        img,
        map(pts[index::T12_INF_POST]),
        map(pts[index::T12_INF_ANT]),
        colour,
    );
    line(
        img,
        map(pts[index::L5_SUP_POST]),
        map(pts[index::L5_SUP_ANT]),
        colour,
    );
    for k in 0..4 {
        for wall in [index::aorta_post, index::aorta_ant] {
            line(img, map(pts[wall(k)]), map(pts[wall(k + 1)]), colour);
        }
    }
}

fn frame_for(shapes: &[Vec<Point>]) -> impl Fn(Point) -> Point {
    let all: Vec<&Point> = shapes.iter().flatten().collect();
    let (x0, x1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.x), b.max(p.x)));
    let (y0, y1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.y), b.max(p.y)));
    let s = ((W as f64 - 40.0) / (x1 - x0)).min((H as f64 - 60.0) / (y1 - y0));
    let (ox, oy) = (20.0 + 0.5 * ((W as f64 - 40.0) - s * (x1 - x0)), 40.0);
    move |p: Point| Point::new(ox + s * (p.x - x0), oy + s * (p.y - y0))
}

fn mode_panel(model: &ShapeModel, mode: usize, title: &str) -> Rgb8 {
    let mut img = Rgb8::from_pixel(W, H, Rgb([255, 255, 255]));
    let mean = model.instance(&[]);
    let mut shapes = vec![mean.clone()];
    if mode < model.n_modes() {
        let sd = model.variances[mode].sqrt();
        for sign in [-2.0, 2.0] {
            let mut b = vec![0.0; mode + 1];
            b[mode] = sign * sd;
            shapes.push(model.instance(&b));
        }
    }
    let map = frame_for(&shapes);
    let colours = [Rgb([0, 0, 0]), Rgb([30, 90, 220]), Rgb([220, 40, 40])];
    for (s, c) in shapes.iter().zip(colours) {
        draw_shape(&mut img, s, &map, c);
    }
    text(&mut img, 8, 8, title, 2, Rgb([0, 0, 0]));
    img
}

/// Renders the figure.
pub fn figure(model: &ShapeModel, image: &Gray16, points: &[Point]) -> Result<Rgb8> {
    let a = mode_panel(model, usize::MAX, "A mean");
    let b = mode_panel(model, 0, "B mode 1");
    let c = mode_panel(model, 1, "C mode 2");
    let (prep, pred) = prepare_roi(model, points, AortaSource::Predicted, image.dimensions())?;
    // Crop around the ROI.
    let xs = prep.roi.points.iter().flatten().map(|p| p.x);
    let ys = prep.roi.points.iter().flatten().map(|p| p.y);
    let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (y0, y1) = ys.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let m = 0.25 * (y1 - y0);
    let cx0 = (x0 - m).max(0.0) as u32;
    let cy0 = (y0 - m).max(0.0) as u32;
    let cx1 = ((x1 + m) as u32).min(image.width() - 1);
    let cy1 = ((y1 + m) as u32).min(image.height() - 1);
    let crop = image::imageops::crop_imm(image, cx0, cy0, cx1 - cx0 + 1, cy1 - cy0 + 1).to_image();
    let mut d = display_rgb(&crop);
    let off = |p: Point| Point::new(p.x - cx0 as f64, p.y - cy0 as f64);
    let cyan = Rgb([0, 220, 230]);
    for row in &prep.roi.points {
        for w in row.windows(2) {
            line(&mut d, off(w[0]), off(w[1]), cyan);
        }
    }
    for col in 0..4 {
        for k in 0..4 {
            line(
                &mut d,
                off(prep.roi.points[k][col]),
                off(prep.roi.points[k + 1][col]),
                cyan,
            );
        }
    }
    let yellow = Rgb([255, 210, 0]);
    let orange = Rgb([255, 120, 0]);
    let aorta = pred.aorta();
    let anterior = if pred.reflected { -1.0 } else { 1.0 };
    for wall in 0..2 {
        for k in 0..4 {
            line(
                &mut d,
                off(aorta[2 * k + wall]),
                off(aorta[2 * k + 2 + wall]),
                yellow,
            );
        }
    }
    // The 3 SD band: posterior wall - 3 SD and anterior wall + 3 SD (horizontal).
    for k in 0..4 {
        for (wall, sign) in [(0usize, -1.0), (1, 1.0)] {
            let p = |kk: usize| {
                let q = aorta[2 * kk + wall];
                off(Point::new(
                    q.x + sign * anterior * 3.0 * pred.aorta_sd[2 * kk + wall],
                    q.y,
                ))
            };
            line(&mut d, p(k), p(k + 1), orange);
        }
    }
    for p in &points[..20] {
        dot(&mut d, off(*p), 3, Rgb([40, 230, 40]));
    }
    let mut d = resize_to_height(&d, H);
    text(&mut d, 8, 8, "D fit", 2, Rgb([255, 255, 255]));
    Ok(hstack(&[a, b, c, d], 8))
}
