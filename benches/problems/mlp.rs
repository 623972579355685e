//! The loss of a two-layer perceptron, 64 → 32 (tanh) → 10 (softmax cross-entropy), on a batch
//! of 16: 2 410 weights, about 38 000 multiply-adds per evaluation.

use autodiff_core::differentiate;
use num_dual::Dual64;

use super::{Method, Problem, Real, central_differences, dual_gradient, echidna_gradient, uniform};

pub const INPUTS: usize = 64;
pub const HIDDEN: usize = 32;
pub const OUTPUTS: usize = 10;
pub const BATCH: usize = 16;

/// The mean cross-entropy of `softmax(w2 tanh(w1 x + b1) + b2)` against `labels` over the batch
/// `x` (row-major, `labels.len()` rows of `INPUTS`); `w1` is `HIDDEN × INPUTS` and `w2` is
/// `OUTPUTS × HIDDEN`, row-major. The softmax is the stable one (the logits' maximum
/// subtracted), and the hidden and output layers are local arrays overwritten for every sample.
#[differentiate(wrt(w1, b1, w2, b2))]
pub fn mlp_loss(
    w1: &[f64],
    b1: &[f64],
    w2: &[f64],
    b2: &[f64],
    x: &[f64],
    labels: &[usize],
) -> f64 {
    let mut loss = 0.0;
    for s in 0..labels.len() {
        let mut h = [0.0; HIDDEN];
        for j in 0..HIDDEN {
            let mut a = b1[j];
            for k in 0..INPUTS {
                a += w1[j * INPUTS + k] * x[s * INPUTS + k];
            }
            h[j] = a.tanh();
        }
        let mut z = [0.0; OUTPUTS];
        for o in 0..OUTPUTS {
            let mut a = b2[o];
            for j in 0..HIDDEN {
                a += w2[o * HIDDEN + j] * h[j];
            }
            z[o] = a;
        }
        let mut m = z[0];
        for &zo in z.iter() {
            m = m.max(zo);
        }
        let mut se = 0.0;
        for &zo in z.iter() {
            se += (zo - m).exp();
        }
        loss += m + se.ln() - z[labels[s]];
    }
    loss / labels.len() as f64
}

/// The gradient of [`mlp_loss`] wrt `(w1, b1, w2, b2)`, hand-written into `grad`: backpropagation
/// one sample at a time, right after that sample's forward pass (so nothing is stored beyond
/// the sample's hidden layer and softmax); `d logits = (softmax - onehot) / batch`, then
/// `dW2 += dz hᵀ`, `dh = W2ᵀ dz`, `da = dh (1 - h²)`, `dW1 += da xᵀ`.
pub fn mlp_loss_hand(
    w1: &[f64],
    b1: &[f64],
    w2: &[f64],
    b2: &[f64],
    x: &[f64],
    labels: &[usize],
    grad: &mut (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>),
) -> f64 {
    let (dw1, db1, dw2, db2) = grad;
    for (g, len) in [
        (&mut *dw1, w1.len()),
        (&mut *db1, b1.len()),
        (&mut *dw2, w2.len()),
        (&mut *db2, b2.len()),
    ] {
        g.clear();
        g.resize(len, 0.0);
    }
    let batch = labels.len();
    let inv_batch = 1.0 / batch as f64;
    let mut loss = 0.0;
    for (s, &label) in labels.iter().enumerate() {
        let xs = &x[s * INPUTS..(s + 1) * INPUTS];
        // Forward.
        let mut h = [0.0; HIDDEN];
        for (j, hj) in h.iter_mut().enumerate() {
            let row = &w1[j * INPUTS..(j + 1) * INPUTS];
            let mut a = b1[j];
            for k in 0..INPUTS {
                a += row[k] * xs[k];
            }
            *hj = a.tanh();
        }
        let mut z = [0.0; OUTPUTS];
        for (o, zo) in z.iter_mut().enumerate() {
            let row = &w2[o * HIDDEN..(o + 1) * HIDDEN];
            let mut a = b2[o];
            for j in 0..HIDDEN {
                a += row[j] * h[j];
            }
            *zo = a;
        }
        let mut m = z[0];
        for &zo in &z[1..] {
            m = m.max(zo);
        }
        let mut p = [0.0; OUTPUTS];
        let mut se = 0.0;
        for o in 0..OUTPUTS {
            p[o] = (z[o] - m).exp();
            se += p[o];
        }
        loss += m + se.ln() - z[label];
        // Backward.
        let r = inv_batch / se;
        let mut dh = [0.0; HIDDEN];
        for o in 0..OUTPUTS {
            let mut dz = p[o] * r;
            if o == label {
                dz -= inv_batch;
            }
            db2[o] += dz;
            let row = &w2[o * HIDDEN..(o + 1) * HIDDEN];
            let drow = &mut dw2[o * HIDDEN..(o + 1) * HIDDEN];
            for j in 0..HIDDEN {
                drow[j] += dz * h[j];
                dh[j] += dz * row[j];
            }
        }
        for j in 0..HIDDEN {
            let da = dh[j] * (1.0 - h[j] * h[j]);
            db1[j] += da;
            let drow = &mut dw1[j * INPUTS..(j + 1) * INPUTS];
            for k in 0..INPUTS {
                drow[k] += da * xs[k];
            }
        }
    }
    loss / batch as f64
}

/// [`mlp_loss`] for the peers.
pub fn mlp_loss_generic<T: Real>(
    w1: &[T],
    b1: &[T],
    w2: &[T],
    b2: &[T],
    x: &[f64],
    labels: &[usize],
) -> T {
    let mut loss = T::cst(0.0);
    for (s, &label) in labels.iter().enumerate() {
        let mut h = [T::cst(0.0); HIDDEN];
        for j in 0..HIDDEN {
            let mut a = b1[j];
            for k in 0..INPUTS {
                a = a + w1[j * INPUTS + k] * x[s * INPUTS + k];
            }
            h[j] = a.tanh();
        }
        let mut z = [T::cst(0.0); OUTPUTS];
        for o in 0..OUTPUTS {
            let mut a = b2[o];
            for j in 0..HIDDEN {
                a = a + w2[o * HIDDEN + j] * h[j];
            }
            z[o] = a;
        }
        let mut m = z[0];
        for &zo in &z {
            m = m.max(zo);
        }
        let mut se = T::cst(0.0);
        for &zo in &z {
            se = se + (zo - m).exp();
        }
        loss = loss + (m + se.ln() - z[label]);
    }
    loss / labels.len() as f64
}

/// The four weight blocks' lengths, in parameter order.
const BLOCKS: [usize; 4] = [HIDDEN * INPUTS, HIDDEN, OUTPUTS * HIDDEN, OUTPUTS];

/// Splits a flat parameter vector into `(w1, b1, w2, b2)`.
fn split<T>(theta: &[T]) -> (&[T], &[T], &[T], &[T]) {
    let (w1, rest) = theta.split_at(BLOCKS[0]);
    let (b1, rest) = rest.split_at(BLOCKS[1]);
    let (w2, b2) = rest.split_at(BLOCKS[2]);
    (w1, b1, w2, b2)
}

pub struct Mlp {
    w1: Vec<f64>,
    b1: Vec<f64>,
    w2: Vec<f64>,
    b2: Vec<f64>,
    /// `w1 | b1 | w2 | b2` in one vector, for the methods that see one flat input.
    theta: Vec<f64>,
    x: Vec<f64>,
    labels: Vec<usize>,
    generated: (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>),
    hand: (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>),
    finite_differences: Vec<f64>,
    num_dual: Vec<f64>,
    duals: Vec<Dual64>,
    echidna: Vec<f64>,
}

impl Mlp {
    /// Reproducible weights (uniform, scaled by `1 / sqrt(fan-in)`), inputs and labels.
    pub fn new() -> Self {
        let w1 = uniform(1, BLOCKS[0], -0.125, 0.125);
        let b1 = uniform(2, BLOCKS[1], -0.1, 0.1);
        let w2 = uniform(3, BLOCKS[2], -0.18, 0.18);
        let b2 = uniform(4, BLOCKS[3], -0.1, 0.1);
        let theta = [&w1[..], &b1, &w2, &b2].concat();
        let n = theta.len();
        Self {
            w1,
            b1,
            w2,
            b2,
            theta,
            x: uniform(5, BATCH * INPUTS, -1.0, 1.0),
            labels: (0..BATCH).map(|s| (s * 7 + 3) % OUTPUTS).collect(),
            generated: Default::default(),
            hand: Default::default(),
            finite_differences: vec![0.0; n],
            num_dual: vec![0.0; n],
            duals: Vec::new(),
            echidna: vec![0.0; n],
        }
    }
}

impl Problem for Mlp {
    fn name(&self) -> String {
        format!("mlp_{INPUTS}_{HIDDEN}_{OUTPUTS}_batch{BATCH}")
    }
    fn dim(&self) -> usize {
        self.theta.len()
    }
    #[inline]
    fn primal(&mut self) -> f64 {
        mlp_loss(
            &self.w1,
            &self.b1,
            &self.w2,
            &self.b2,
            &self.x,
            &self.labels,
        )
    }
    #[inline]
    fn generated(&mut self) -> f64 {
        mlp_loss_grad_into(
            &self.w1,
            &self.b1,
            &self.w2,
            &self.b2,
            &self.x,
            &self.labels,
            &mut self.generated,
        )
    }
    #[inline]
    fn hand(&mut self) -> f64 {
        mlp_loss_hand(
            &self.w1,
            &self.b1,
            &self.w2,
            &self.b2,
            &self.x,
            &self.labels,
            &mut self.hand,
        )
    }
    #[inline]
    fn finite_differences(&mut self) -> f64 {
        let (x, labels) = (&self.x, &self.labels);
        central_differences(
            |theta| {
                let (w1, b1, w2, b2) = split(theta);
                mlp_loss(w1, b1, w2, b2, x, labels)
            },
            &mut self.theta,
            &mut self.finite_differences,
        )
    }
    #[inline]
    fn num_dual(&mut self) -> f64 {
        let (x, labels) = (&self.x, &self.labels);
        dual_gradient(
            |theta| {
                let (w1, b1, w2, b2) = split(theta);
                mlp_loss_generic(w1, b1, w2, b2, x, labels)
            },
            &self.theta,
            &mut self.duals,
            &mut self.num_dual,
        )
    }
    #[inline]
    fn echidna(&mut self) -> f64 {
        let (x, labels) = (&self.x, &self.labels);
        echidna_gradient(
            |theta| {
                let (w1, b1, w2, b2) = split(theta);
                mlp_loss_generic(w1, b1, w2, b2, x, labels)
            },
            &self.theta,
            &mut self.echidna,
        )
    }
    fn gradient(&self, method: Method) -> Vec<f64> {
        let flat =
            |g: &(Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>)| [&g.0[..], &g.1, &g.2, &g.3].concat();
        match method {
            Method::Primal => Vec::new(),
            Method::Generated => flat(&self.generated),
            Method::Hand => flat(&self.hand),
            Method::FiniteDifferences => self.finite_differences.clone(),
            Method::NumDual => self.num_dual.clone(),
            Method::Echidna => self.echidna.clone(),
        }
    }
}

/// [`mlp_loss`] with the sizes in the types: `w1[j][k]`, `x[s][k]`. The compiler can see every
/// index in bounds, as it can in the hand-written gradient's row slices.
#[differentiate(wrt(w1, b1, w2, b2))]
pub fn mlp_loss_arrays(
    w1: &[[f64; INPUTS]; HIDDEN],
    b1: &[f64; HIDDEN],
    w2: &[[f64; HIDDEN]; OUTPUTS],
    b2: &[f64; OUTPUTS],
    x: &[[f64; INPUTS]],
    labels: &[usize],
) -> f64 {
    let mut loss = 0.0;
    for s in 0..labels.len() {
        let mut h = [0.0; HIDDEN];
        for j in 0..HIDDEN {
            let mut a = b1[j];
            for k in 0..INPUTS {
                a += w1[j][k] * x[s][k];
            }
            h[j] = a.tanh();
        }
        let mut z = [0.0; OUTPUTS];
        for o in 0..OUTPUTS {
            let mut a = b2[o];
            for j in 0..HIDDEN {
                a += w2[o][j] * h[j];
            }
            z[o] = a;
        }
        let mut m = z[0];
        for &zo in z.iter() {
            m = m.max(zo);
        }
        let mut se = 0.0;
        for &zo in z.iter() {
            se += (zo - m).exp();
        }
        loss += m + se.ln() - z[labels[s]];
    }
    loss / labels.len() as f64
}

type ArrayGrad = (
    [[f64; INPUTS]; HIDDEN],
    [f64; HIDDEN],
    [[f64; HIDDEN]; OUTPUTS],
    [f64; OUTPUTS],
);

/// The same problem as [`Mlp`] (same weights, inputs, hand-written gradient and peers), with
/// the generated gradient and the primal of [`mlp_loss_arrays`].
pub struct MlpArrays {
    slices: Mlp,
    w1: [[f64; INPUTS]; HIDDEN],
    b1: [f64; HIDDEN],
    w2: [[f64; HIDDEN]; OUTPUTS],
    b2: [f64; OUTPUTS],
    x: Vec<[f64; INPUTS]>,
    generated: Box<ArrayGrad>,
}

impl MlpArrays {
    pub fn new() -> Self {
        let slices = Mlp::new();
        let w1 = std::array::from_fn(|j| std::array::from_fn(|k| slices.w1[j * INPUTS + k]));
        let w2 = std::array::from_fn(|o| std::array::from_fn(|j| slices.w2[o * HIDDEN + j]));
        let b1 = std::array::from_fn(|j| slices.b1[j]);
        let b2 = std::array::from_fn(|o| slices.b2[o]);
        let x = slices
            .x
            .chunks(INPUTS)
            .map(|row| row.try_into().expect("rows of INPUTS"))
            .collect();
        Self {
            slices,
            w1,
            b1,
            w2,
            b2,
            x,
            generated: Box::new((
                [[0.0; INPUTS]; HIDDEN],
                [0.0; HIDDEN],
                [[0.0; HIDDEN]; OUTPUTS],
                [0.0; OUTPUTS],
            )),
        }
    }
}

impl Problem for MlpArrays {
    fn name(&self) -> String {
        format!("mlp_arrays_{INPUTS}_{HIDDEN}_{OUTPUTS}_batch{BATCH}")
    }
    fn dim(&self) -> usize {
        self.slices.dim()
    }
    #[inline]
    fn primal(&mut self) -> f64 {
        let labels = &self.slices.labels;
        mlp_loss_arrays(&self.w1, &self.b1, &self.w2, &self.b2, &self.x, labels)
    }
    #[inline]
    fn generated(&mut self) -> f64 {
        let labels = &self.slices.labels;
        let grad = &mut *self.generated;
        mlp_loss_arrays_grad_into(
            &self.w1, &self.b1, &self.w2, &self.b2, &self.x, labels, grad,
        )
    }
    fn hand(&mut self) -> f64 {
        self.slices.hand()
    }
    fn finite_differences(&mut self) -> f64 {
        self.slices.finite_differences()
    }
    fn num_dual(&mut self) -> f64 {
        self.slices.num_dual()
    }
    fn echidna(&mut self) -> f64 {
        self.slices.echidna()
    }
    fn gradient(&self, method: Method) -> Vec<f64> {
        match method {
            Method::Generated => {
                let (w1, b1, w2, b2) = &*self.generated;
                [w1.as_flattened(), b1, w2.as_flattened(), b2].concat()
            }
            _ => self.slices.gradient(method),
        }
    }
}
