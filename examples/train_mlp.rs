//! A two-layer neural network that learns to read handwritten digits, trained with the gradient
//! that `#[differentiate]` writes.
//!
//! This is the `TwoLayerNet` of "Deep Learning from Scratch" (chapters 5 and 6), built from the
//! book's layers:
//!
//! ```text
//! image (64 pixels) -> Affine -> Sigmoid -> Affine -> Softmax-with-loss (cross-entropy)
//! ```
//!
//! Only the forward passes are written here. The book writes each layer's backward pass by hand;
//! here `#[differentiate]` derives them: the network is a `#[derive(Differentiable)]` struct, its
//! loss a `#[differentiate]` method, and the gradient a value of the same struct, which the
//! optimizers step with.
//!
//! The program
//! 1. loads the 1797 handwritten digits (8x8 pixels, 17 grey levels) that ship inside the
//!    `smartcore` crate, and splits them at random into 80% training and 20% test images;
//! 2. checks the generated gradient against numerical differentiation on a mini-batch, as the
//!    book does before it trusts backpropagation (section 5.7.3);
//! 3. trains the network with Adam on mini-batches, whose per-image gradients are computed in
//!    parallel on all cores (rayon), and asserts that the test accuracy is far above chance (10%);
//! 4. trains it again from the same start with SGD, Momentum, AdaGrad and Adam to compare them
//!    (section 6.1.8);
//! 5. draws the loss and accuracy curves to `docs/train_mlp.png`, and the comparison to
//!    `docs/optimizers.png`.
//!
//! Run it with `cargo run --release --example train_mlp` (about ten seconds). With `--short`, or
//! `AUTODIFF_SHORT=1` in the environment, it trains for a few epochs only and writes its plots to
//! the temporary directory: that is how CI runs it.

#![allow(clippy::needless_range_loop)] // indexed loops, as numerical code writes them

use std::error::Error;
use std::fs::File;
use std::io::BufWriter;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use autodiff_core::optim::{AdaGrad, Adam, Momentum, Optimizer, Sgd};
use autodiff_core::{Differentiable, check_gradient_of, differentiate, no_grad};
use indicatif::{ProgressBar, ProgressStyle};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::types::RangedCoordi32;
use plotters::prelude::*;
use rayon::prelude::*;

const PIXELS: usize = 64;
const HIDDEN: usize = 50;
const CLASSES: usize = 10;

// ------------------------------------------------------------------------------------------------
// The network: forward passes only, the macro writes the backward passes
// ------------------------------------------------------------------------------------------------

/// The Affine layer, `y = x W + b`, with `W` stored row by row: `n_in` rows of `n_out`.
#[derive(Clone, Differentiable)]
struct Affine {
    w: Vec<f64>,
    b: Vec<f64>,
    // Integer fields are not parameters: the gradient carries a copy of them.
    n_in: usize,
    n_out: usize,
}

impl Affine {
    /// Weights drawn from a normal distribution of standard deviation `1 / sqrt(n_in)`: "Xavier's
    /// initial value", the book's choice for sigmoid networks (section 6.2.2).
    fn new(n_in: usize, n_out: usize, rng: &mut Rng) -> Self {
        let std = 1.0 / (n_in as f64).sqrt();
        Affine {
            w: (0..n_in * n_out).map(|_| std * rng.normal()).collect(),
            b: vec![0.0; n_out],
            n_in,
            n_out,
        }
    }

    #[differentiate]
    fn forward(&self, x: &[f64]) -> Vec<f64> {
        let mut y = vec![0.0; self.n_out];
        for j in 0..self.n_out {
            let mut s = self.b[j];
            for i in 0..self.n_in {
                s += x[i] * self.w[i * self.n_out + j];
            }
            y[j] = s;
        }
        y
    }
}

/// The Sigmoid layer's function, applied to each of its inputs.
#[differentiate]
fn sigmoid(a: f64) -> f64 {
    1.0 / (1.0 + (-a).exp())
}

/// The book's `TwoLayerNet`. Its gradient is a `TwoLayerNet` too, holding the adjoints.
#[derive(Clone, Differentiable)]
struct TwoLayerNet {
    affine1: Affine,
    affine2: Affine,
}

impl TwoLayerNet {
    fn new(rng: &mut Rng) -> Self {
        TwoLayerNet {
            affine1: Affine::new(PIXELS, HIDDEN, rng),
            affine2: Affine::new(HIDDEN, CLASSES, rng),
        }
    }

    /// The forward pass, Affine -> Sigmoid -> Affine: a score for each digit.
    #[differentiate(wrt(self))]
    fn scores(&self, x: &[f64]) -> Vec<f64> {
        let a1 = self.affine1.forward(x);
        let mut z1 = vec![0.0; a1.len()];
        for j in 0..a1.len() {
            z1[j] = sigmoid(a1[j]);
        }
        self.affine2.forward(&z1)
    }

    /// The loss of one image: the Softmax-with-loss layer on its scores, that is the
    /// cross-entropy of `softmax(scores)` against the true label, `-ln(e^s_label / sum_k e^s_k)`.
    /// As in the book, the largest score `c` is subtracted first so that `exp` cannot overflow;
    /// the loss does not depend on `c`, so `no_grad` keeps it out of the derivative.
    ///
    /// `net.loss_grad(x, label)` returns the loss and its gradient, a `TwoLayerNet`
    /// (`wrt(self)`: the image and the label are data).
    #[differentiate(wrt(self))]
    fn loss(&self, x: &[f64], label: usize) -> f64 {
        let scores = self.scores(x);
        let mut c = scores[0];
        for k in 1..scores.len() {
            c = c.max(scores[k]);
        }
        let c = no_grad(c);
        let mut sum = 0.0;
        for k in 0..scores.len() {
            sum += (scores[k] - c).exp();
        }
        sum.ln() - (scores[label] - c)
    }

    /// The most likely digit (softmax keeps the order: the largest score wins).
    fn predict(&self, x: &[f64]) -> usize {
        let scores = self.scores(x);
        (1..scores.len()).fold(0, |best, k| if scores[k] > scores[best] { k } else { best })
    }

    /// The name of the `index`-th parameter, in the order of `Differentiable::for_each`.
    fn parameter_name(&self, index: usize) -> String {
        let mut rest = index;
        for (layer, affine) in [("affine1", &self.affine1), ("affine2", &self.affine2)] {
            if rest < affine.w.len() {
                let (i, j) = (rest / affine.n_out, rest % affine.n_out);
                return format!("{layer}.w[{i} * {} + {j}]", affine.n_out);
            }
            rest -= affine.w.len();
            if rest < affine.b.len() {
                return format!("{layer}.b[{rest}]");
            }
            rest -= affine.b.len();
        }
        format!("parameter {index}")
    }
}

// ------------------------------------------------------------------------------------------------
// Mini-batches
// ------------------------------------------------------------------------------------------------

/// The mean loss over the images `batch` of `data`, and its gradient. The batch is cut into one
/// chunk per thread; each thread sums its images' gradients (`loss_grad_into` writes each into
/// one reused buffer), and the threads' sums are added at the end.
fn batch_gradient(net: &TwoLayerNet, data: &Digits, batch: &[usize]) -> (f64, TwoLayerNet) {
    let chunk = batch.len().div_ceil(rayon::current_num_threads()).max(1);
    let (loss, mut grad) = batch
        .par_chunks(chunk)
        .map(|chunk| {
            let mut sum = net.zero_like();
            let mut grad = net.zero_like();
            let mut loss = 0.0;
            for &i in chunk {
                loss += net.loss_grad_into(data.image(i), data.labels[i], &mut grad);
                sum.add_assign(&grad);
            }
            (loss, sum)
        })
        .reduce_with(|(loss_a, mut a), (loss_b, b)| {
            a.add_assign(&b);
            (loss_a + loss_b, a)
        })
        .expect("a non-empty batch");
    let n = batch.len() as f64;
    grad.scale(1.0 / n);
    (loss / n, grad)
}

/// The mean loss over `batch`, without its gradient: what the numerical gradient differentiates.
fn batch_loss(net: &TwoLayerNet, data: &Digits, batch: &[usize]) -> f64 {
    let total: f64 = batch
        .iter()
        .map(|&i| net.loss(data.image(i), data.labels[i]))
        .sum();
    total / batch.len() as f64
}

/// The mean loss and the accuracy over all of `data`.
fn evaluate(net: &TwoLayerNet, data: &Digits) -> (f64, f64) {
    let (loss, correct) = (0..data.len())
        .into_par_iter()
        .map(|i| {
            let (x, label) = (data.image(i), data.labels[i]);
            (net.loss(x, label), usize::from(net.predict(x) == label))
        })
        .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let n = data.len() as f64;
    (loss / n, correct as f64 / n)
}

// ------------------------------------------------------------------------------------------------
// Training
// ------------------------------------------------------------------------------------------------

/// The loss and the accuracy after each epoch; entry 0 is before training.
#[derive(Default)]
struct History {
    train_loss: Vec<f64>,
    test_loss: Vec<f64>,
    train_accuracy: Vec<f64>,
    test_accuracy: Vec<f64>,
}

impl History {
    fn record(&mut self, net: &TwoLayerNet, data: &Split) {
        let (loss, accuracy) = evaluate(net, &data.train);
        self.train_loss.push(loss);
        self.train_accuracy.push(accuracy);
        let (loss, accuracy) = evaluate(net, &data.test);
        self.test_loss.push(loss);
        self.test_accuracy.push(accuracy);
    }

    fn final_test_accuracy(&self) -> f64 {
        *self.test_accuracy.last().expect("recorded before training")
    }

    fn summary(&self) -> String {
        let last = |v: &[f64]| *v.last().expect("recorded before training");
        format!(
            "loss {:.4}  train {:.1}%  test {:.1}%",
            last(&self.train_loss),
            100.0 * last(&self.train_accuracy),
            100.0 * last(&self.test_accuracy),
        )
    }
}

struct Settings {
    epochs: usize,
    batch_size: usize,
    /// Seeds the order of the mini-batches, the same for every run.
    seed: u64,
}

/// Trains a copy of `initial` with `optimizer` for `settings.epochs` epochs of shuffled
/// mini-batches, showing its progress under `label`.
fn train(
    label: &str,
    initial: &TwoLayerNet,
    mut optimizer: impl Optimizer,
    data: &Split,
    settings: &Settings,
) -> History {
    let mut net = initial.clone();
    let bar = progress_bar(label, settings.epochs);
    let mut rng = Rng::new(settings.seed);
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    let mut history = History::default();
    history.record(&net, data);
    for _ in 0..settings.epochs {
        rng.shuffle(&mut order);
        for batch in order.chunks(settings.batch_size) {
            let (_, grad) = batch_gradient(&net, &data.train, batch);
            optimizer.step(&mut net, &grad);
        }
        history.record(&net, data);
        bar.set_message(history.summary());
        bar.inc(1);
    }
    bar.finish();
    if bar.is_hidden() {
        // Not a terminal (CI's log, a pipe): one line instead of the bar.
        println!("  {label:<18} {}", history.summary());
    }
    history
}

fn progress_bar(label: &str, epochs: usize) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "  {prefix:<18} [{bar:24.cyan/blue}] {pos:>3}/{len} epochs  {msg}",
    )
    .expect("a valid template")
    .progress_chars("=> ");
    ProgressBar::new(epochs as u64)
        .with_style(style)
        .with_prefix(label.to_owned())
}

// ------------------------------------------------------------------------------------------------
// The program
// ------------------------------------------------------------------------------------------------

fn main() -> Result<(), Box<dyn Error>> {
    let short = std::env::args().any(|a| a == "--short")
        || std::env::var("AUTODIFF_SHORT").is_ok_and(|v| !v.is_empty() && v != "0");
    let start = Instant::now();

    let mut rng = Rng::new(2016);
    let digits = Digits::load();
    let data = digits.split(0.2, &mut rng);
    println!(
        "Handwritten digits (the UCI set that smartcore embeds): {} images of 8x8 pixels, \
         {} for training, {} for testing.",
        digits.len(),
        data.train.len(),
        data.test.len()
    );
    let initial = TwoLayerNet::new(&mut rng);
    println!(
        "Network: {PIXELS} pixels -> Affine -> Sigmoid ({HIDDEN}) -> Affine -> Softmax-with-loss \
         ({CLASSES} digits), {} parameters.",
        initial.n_params()
    );

    // 1. The gradient check: the generated gradient against central differences, on 3 images.
    let batch = [0, 1, 2];
    let (_, grad) = batch_gradient(&initial, &data.train, &batch);
    let timer = Instant::now();
    let check = check_gradient_of(|net| batch_loss(net, &data.train, &batch), &initial, &grad);
    println!(
        "\nGradient check on a mini-batch of {} images, against central differences \
         ({} evaluations of the loss, {:.1?}):",
        batch.len(),
        4 * initial.n_params(),
        timer.elapsed()
    );
    println!(
        "  worst error {:.1e}, at {}: generated {:.12e}, numerical {:.12e}",
        check.max_error,
        initial.parameter_name(check.worst),
        check.analytic[check.worst],
        check.numeric[check.worst],
    );
    assert!(check.passes(1e-8), "the gradient check failed: {check}");

    // 2. Training.
    let settings = Settings {
        epochs: if short { 3 } else { 100 },
        batch_size: 100,
        seed: 1,
    };
    let lr = 0.01;
    println!(
        "\nTraining: Adam (learning rate {lr}), mini-batches of {} images, {} epochs, {} threads",
        settings.batch_size,
        settings.epochs,
        rayon::current_num_threads()
    );
    let timer = Instant::now();
    let history = train(
        &format!("Adam (lr {lr})"),
        &initial,
        Adam::new(lr),
        &data,
        &settings,
    );
    let test_accuracy = history.final_test_accuracy();
    println!(
        "Test accuracy: {:.1}%, {} of the {} test images (chance: 10%), after {:.1?}",
        100.0 * test_accuracy,
        (test_accuracy * data.test.len() as f64).round(),
        data.test.len(),
        timer.elapsed()
    );
    assert!(
        test_accuracy > 0.8,
        "the network should beat chance (10%) by far, but its test accuracy is {:.1}%",
        100.0 * test_accuracy
    );

    // 3. The optimizers compared: the same start, the same mini-batches.
    let compare = Settings {
        epochs: if short { 1 } else { 50 },
        ..settings
    };
    println!(
        "\nComparing optimizers, {} epoch{} each:",
        compare.epochs,
        if compare.epochs == 1 { "" } else { "s" }
    );
    let labels = [
        "SGD (lr 0.1)",
        "Momentum (lr 0.1)",
        "AdaGrad (lr 0.1)",
        "Adam (lr 0.01)",
    ];
    let runs = [
        train(labels[0], &initial, Sgd::new(0.1), &data, &compare),
        train(labels[1], &initial, Momentum::new(0.1), &data, &compare),
        train(labels[2], &initial, AdaGrad::new(0.1), &data, &compare),
        train(labels[3], &initial, Adam::new(0.01), &data, &compare),
    ];

    // 4. The plots.
    let dir = if short {
        std::env::temp_dir()
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs")
    };
    std::fs::create_dir_all(&dir)?;
    register_font();
    let curves = dir.join("train_mlp.png");
    plot_training(&curves, &history, lr, &settings)?;
    let comparison = dir.join("optimizers.png");
    plot_optimizers(&comparison, &labels, &runs, &compare)?;
    println!(
        "\nWrote {} and {} ({:.1?} in all).",
        curves.display(),
        comparison.display(),
        start.elapsed()
    );
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// The data
// ------------------------------------------------------------------------------------------------

/// Images of digits, `PIXELS` values in `[0, 1]` each, one after the other, and their labels.
struct Digits {
    pixels: Vec<f64>,
    labels: Vec<usize>,
}

struct Split {
    train: Digits,
    test: Digits,
}

impl Digits {
    /// The "Optical Recognition of Handwritten Digits" set (UCI): 8x8 images whose pixels count
    /// the ink in blocks of 4x4 of a 32x32 scan, 0 to 16.
    fn load() -> Self {
        let data = smartcore::dataset::digits::load_dataset();
        assert_eq!(data.num_features, PIXELS);
        Digits {
            pixels: data.data.iter().map(|&p| f64::from(p) / 16.0).collect(),
            labels: data.target.iter().map(|&t| t as usize).collect(),
        }
    }

    fn len(&self) -> usize {
        self.labels.len()
    }

    fn image(&self, i: usize) -> &[f64] {
        &self.pixels[i * PIXELS..(i + 1) * PIXELS]
    }

    fn select(&self, indices: &[usize]) -> Digits {
        Digits {
            pixels: indices
                .iter()
                .flat_map(|&i| self.image(i))
                .copied()
                .collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
        }
    }

    /// A random split, `test_fraction` of the images for testing and the rest for training.
    fn split(&self, test_fraction: f64, rng: &mut Rng) -> Split {
        let mut order: Vec<usize> = (0..self.len()).collect();
        rng.shuffle(&mut order);
        let n_test = (self.len() as f64 * test_fraction).round() as usize;
        Split {
            train: self.select(&order[n_test..]),
            test: self.select(&order[..n_test]),
        }
    }
}

/// SplitMix64: a small seeded random number generator, so that every run is the same.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// Standard normal, by the Box-Muller transform.
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform();
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Fisher-Yates.
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The plots
// ------------------------------------------------------------------------------------------------

const FONT: &str = "sans-serif";

/// plotters draws text with `ab_glyph` from a font it is handed, not from the system's font
/// libraries: DejaVu Sans, which the `dejavu` crate embeds.
fn register_font() {
    if plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_err() {
        panic!("DejaVu Sans is a valid font");
    }
}

const TAB_BLUE: RGBColor = RGBColor(31, 119, 180);
const TAB_ORANGE: RGBColor = RGBColor(255, 127, 14);
const TAB_GREEN: RGBColor = RGBColor(44, 160, 44);
const TAB_RED: RGBColor = RGBColor(214, 39, 40);
const TAB_PURPLE: RGBColor = RGBColor(148, 103, 189);

type Chart<'a, 'b, Y> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordi32, Y>>;

/// Axes from epoch 0 to `epochs` across and over the range `y` up, with a grid and labels.
fn axes<'a, 'b, Y>(
    area: &DrawingArea<BitMapBackend<'b>, Shift>,
    caption: &str,
    epochs: usize,
    y: Y,
    y_desc: &str,
) -> Result<Chart<'a, 'b, Y::CoordDescType>, Box<dyn Error>>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0..epochs.max(1) as i32, y)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_desc)
        .y_label_formatter(&|y| {
            let label = format!("{y:.3}");
            label.trim_end_matches('0').trim_end_matches('.').to_owned()
        })
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.1))
        .draw()?;
    Ok(chart)
}

/// One curve of `values` against the epoch, with its legend entry.
fn curve<Y: Ranged<ValueType = f64>>(
    chart: &mut Chart<'_, '_, Y>,
    values: &[f64],
    color: RGBColor,
    label: &str,
) -> Result<(), Box<dyn Error>> {
    let points = values.iter().enumerate().map(|(e, &v)| (e as i32, v));
    chart
        .draw_series(LineSeries::new(points, color.stroke_width(2)))?
        .label(label)
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], color.stroke_width(3)));
    Ok(())
}

fn legend<'a, 'b: 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut Chart<'a, 'b, Y>,
    position: SeriesLabelPosition,
) -> Result<(), Box<dyn Error>> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

/// A range that holds all of `values`, with room around them on a logarithmic scale.
fn log_range(values: &[&[f64]]) -> Range<f64> {
    let all = || values.iter().flat_map(|v| v.iter().copied());
    let low = all().fold(f64::INFINITY, f64::min);
    let high = all().fold(0.0, f64::max);
    0.7 * low..1.4 * high
}

/// The loss and the accuracy, on the training and the test images, against the epoch.
fn plot_training(
    path: &Path,
    history: &History,
    lr: f64,
    settings: &Settings,
) -> Result<(), Box<dyn Error>> {
    let title = format!(
        "Two-layer network on 8x8 handwritten digits: Adam (lr {lr}), mini-batches of {}",
        settings.batch_size
    );
    save_png(path, (1100, 480), |root| {
        let root = root.titled(&title, (FONT, 20))?;
        let (left, right) = root.split_horizontally(550);
        let epochs = history.train_loss.len() - 1;

        let range = log_range(&[&history.train_loss, &history.test_loss]).log_scale();
        let mut chart = axes(
            &left,
            "Cross-entropy loss",
            epochs,
            range,
            "loss (log scale)",
        )?;
        curve(&mut chart, &history.train_loss, TAB_BLUE, "training images")?;
        curve(&mut chart, &history.test_loss, TAB_ORANGE, "test images")?;
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;

        let percent = |v: &[f64]| v.iter().map(|a| 100.0 * a).collect::<Vec<_>>();
        let caption = format!(
            "Accuracy (test: {:.1}%)",
            100.0 * history.final_test_accuracy()
        );
        let mut chart = axes(&right, &caption, epochs, 0.0..100.0, "accuracy (%)")?;
        curve(
            &mut chart,
            &percent(&history.train_accuracy),
            TAB_BLUE,
            "training images",
        )?;
        curve(
            &mut chart,
            &percent(&history.test_accuracy),
            TAB_ORANGE,
            "test images",
        )?;
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    })
}

/// The training loss against the epoch for each optimizer.
fn plot_optimizers(
    path: &Path,
    labels: &[&str],
    runs: &[History],
    settings: &Settings,
) -> Result<(), Box<dyn Error>> {
    let caption = format!(
        "Optimizers: the same start, the same mini-batches of {}",
        settings.batch_size
    );
    save_png(path, (800, 500), |root| {
        let losses: Vec<&[f64]> = runs.iter().map(|h| &h.train_loss[..]).collect();
        let mut chart = axes(
            root,
            &caption,
            settings.epochs,
            log_range(&losses).log_scale(),
            "training loss (log scale)",
        )?;
        let colors = [TAB_BLUE, TAB_GREEN, TAB_RED, TAB_PURPLE];
        for ((label, history), color) in labels.iter().zip(runs).zip(colors) {
            curve(&mut chart, &history.train_loss, color, label)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    })
}

/// Draws with `draw` on a white canvas of `width` x `height` pixels, and saves it as a PNG file.
fn save_png(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl for<'b> FnOnce(&DrawingArea<BitMapBackend<'b>, Shift>) -> Result<(), Box<dyn Error>>,
) -> Result<(), Box<dyn Error>> {
    let mut rgb = vec![0; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    let mut encoder = png::Encoder::new(BufWriter::new(File::create(path)?), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&rgb)?;
    Ok(())
}
