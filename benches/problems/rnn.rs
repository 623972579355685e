//! A loop that overwrites its state: a scalar recurrent cell `h = tanh(w h + u x_t + b)` run over
//! a sequence, with a squared error against a target at every step.

use autodiff_core::differentiate;
use num_dual::Dual64;

use super::{Method, Problem, Real, central_differences, dual_gradient, echidna_gradient, uniform};

/// The summed squared error of the recurrence `h_t = tanh(w h_{t-1} + u x_t + b)`, `h_0 = 0`,
/// against `y_t`: `h` is overwritten at every step, so the backward sweep needs the tape of its
/// old values.
#[differentiate(wrt(w, u, b))]
pub fn rnn_loss(w: f64, u: f64, b: f64, x: &[f64], y: &[f64]) -> f64 {
    let mut h = 0.0;
    let mut loss = 0.0;
    for t in 0..x.len() {
        h = (w * h + u * x[t] + b).tanh();
        let e = h - y[t];
        loss += e * e;
    }
    loss
}

/// The gradient of [`rnn_loss`] by hand (backpropagation through time), into `grad`: the
/// forward pass keeps every `h_t` in `hs`, the caller's buffer reused across calls; the backward
/// pass carries `dh` from step to step.
#[inline]
pub fn rnn_loss_hand(
    w: f64,
    u: f64,
    b: f64,
    x: &[f64],
    y: &[f64],
    hs: &mut Vec<f64>,
    grad: &mut [f64; 3],
) -> f64 {
    hs.clear();
    let mut h = 0.0;
    let mut loss = 0.0;
    for t in 0..x.len() {
        h = (w * h + u * x[t] + b).tanh();
        hs.push(h);
        let e = h - y[t];
        loss += e * e;
    }
    let (mut dw, mut du, mut db) = (0.0, 0.0, 0.0);
    let mut dh = 0.0;
    for t in (0..x.len()).rev() {
        let h = hs[t];
        dh += 2.0 * (h - y[t]);
        let da = dh * (1.0 - h * h);
        let h_prev = if t > 0 { hs[t - 1] } else { 0.0 };
        dw += da * h_prev;
        du += da * x[t];
        db += da;
        dh = da * w;
    }
    *grad = [dw, du, db];
    loss
}

/// [`rnn_loss`] for the peers, on `(w, u, b)` as one slice.
pub fn rnn_loss_generic<T: Real>(p: &[T], x: &[f64], y: &[f64]) -> T {
    let (w, u, b) = (p[0], p[1], p[2]);
    let mut h = T::cst(0.0);
    let mut loss = T::cst(0.0);
    for t in 0..x.len() {
        h = (w * h + u * x[t] + b).tanh();
        let e = h - y[t];
        loss = loss + e * e;
    }
    loss
}

pub struct Rnn {
    p: [f64; 3],
    x: Vec<f64>,
    y: Vec<f64>,
    generated: (f64, f64, f64),
    hand: [f64; 3],
    hs: Vec<f64>,
    finite_differences: [f64; 3],
    num_dual: [f64; 3],
    duals: Vec<Dual64>,
    echidna: [f64; 3],
}

impl Rnn {
    /// A sequence of `steps` reproducible inputs and targets.
    pub fn new(steps: usize) -> Self {
        Self {
            p: [0.8, 0.6, -0.1],
            x: uniform(6, steps, -1.0, 1.0),
            y: uniform(7, steps, -0.5, 0.5),
            generated: (0.0, 0.0, 0.0),
            hand: [0.0; 3],
            hs: Vec::new(),
            finite_differences: [0.0; 3],
            num_dual: [0.0; 3],
            duals: Vec::new(),
            echidna: [0.0; 3],
        }
    }
}

impl Problem for Rnn {
    fn name(&self) -> String {
        format!("rnn_{}_steps", self.x.len())
    }
    fn dim(&self) -> usize {
        3
    }
    #[inline]
    fn primal(&mut self) -> f64 {
        let [w, u, b] = self.p;
        rnn_loss(w, u, b, &self.x, &self.y)
    }
    #[inline]
    fn generated(&mut self) -> f64 {
        let [w, u, b] = self.p;
        rnn_loss_grad_into(w, u, b, &self.x, &self.y, &mut self.generated)
    }
    #[inline]
    fn hand(&mut self) -> f64 {
        let [w, u, b] = self.p;
        rnn_loss_hand(w, u, b, &self.x, &self.y, &mut self.hs, &mut self.hand)
    }
    #[inline]
    fn finite_differences(&mut self) -> f64 {
        let (x, y) = (&self.x, &self.y);
        central_differences(
            |p| rnn_loss(p[0], p[1], p[2], x, y),
            &mut self.p,
            &mut self.finite_differences,
        )
    }
    #[inline]
    fn num_dual(&mut self) -> f64 {
        let (x, y) = (&self.x, &self.y);
        dual_gradient(
            |p| rnn_loss_generic(p, x, y),
            &self.p,
            &mut self.duals,
            &mut self.num_dual,
        )
    }
    #[inline]
    fn echidna(&mut self) -> f64 {
        let (x, y) = (&self.x, &self.y);
        echidna_gradient(|p| rnn_loss_generic(p, x, y), &self.p, &mut self.echidna)
    }
    fn gradient(&self, method: Method) -> Vec<f64> {
        match method {
            Method::Primal => Vec::new(),
            Method::Generated => vec![self.generated.0, self.generated.1, self.generated.2],
            Method::Hand => self.hand.to_vec(),
            Method::FiniteDifferences => self.finite_differences.to_vec(),
            Method::NumDual => self.num_dual.to_vec(),
            Method::Echidna => self.echidna.to_vec(),
        }
    }
}
