//! The HVP of the loss of `benches/problems/mlp.rs`: a 64 → 32 (tanh) → 10 (softmax
//! cross-entropy) perceptron on a batch of 16, wrt its 2 410 weights.

use autodiff_core::differentiate;
use num_dual::{Dual64, HyperDual64};

use super::rosenbrock::{hvp_dual_over_grad, hvp_hyperdual};
use super::{
    Case, Dn, Kind, Measure, assert_agree, assert_value, central_hvp, hide, max_re, uniform,
};

pub const INPUTS: usize = 64;
pub const HIDDEN: usize = 32;
pub const OUTPUTS: usize = 10;
pub const BATCH: usize = 16;

/// The weights' blocks, `(w1, b1, w2, b2)`: the gradient's and the direction's shape.
pub type Weights = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>);

/// The four blocks' lengths, in parameter order.
pub const BLOCKS: [usize; 4] = [HIDDEN * INPUTS, HIDDEN, OUTPUTS * HIDDEN, OUTPUTS];

/// The mean cross-entropy of `softmax(w2 tanh(w1 x + b1) + b2)` against `labels`; the body of
/// `benches/problems/mlp.rs`'s `mlp_loss`, differentiated to second order.
#[differentiate(hessian, wrt(w1, b1, w2, b2))]
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

/// Splits a flat parameter vector into `(w1, b1, w2, b2)`.
pub fn split<T>(theta: &[T]) -> (&[T], &[T], &[T], &[T]) {
    let (w1, rest) = theta.split_at(BLOCKS[0]);
    let (b1, rest) = rest.split_at(BLOCKS[1]);
    let (w2, b2) = rest.split_at(BLOCKS[2]);
    (w1, b1, w2, b2)
}

fn split_mut<T>(theta: &mut [T]) -> (&mut [T], &mut [T], &mut [T], &mut [T]) {
    let (w1, rest) = theta.split_at_mut(BLOCKS[0]);
    let (b1, rest) = rest.split_at_mut(BLOCKS[1]);
    let (w2, b2) = rest.split_at_mut(BLOCKS[2]);
    (w1, b1, w2, b2)
}

fn flat(w: &Weights) -> Vec<f64> {
    [&w.0[..], &w.1, &w.2, &w.3].concat()
}

/// [`mlp_loss`] for num-dual's numbers, on the flat parameters `w1 | b1 | w2 | b2`.
pub fn mlp_loss_generic<D: Dn>(theta: &[D], x: &[f64], labels: &[usize]) -> D {
    let (w1, b1, w2, b2) = split(theta);
    let mut loss = D::from(0.0);
    for (s, &label) in labels.iter().enumerate() {
        let mut h = [D::from(0.0); HIDDEN];
        for j in 0..HIDDEN {
            let mut a = b1[j];
            for k in 0..INPUTS {
                a += w1[j * INPUTS + k] * x[s * INPUTS + k];
            }
            h[j] = a.tanh();
        }
        let mut z = [D::from(0.0); OUTPUTS];
        for o in 0..OUTPUTS {
            let mut a = b2[o];
            for j in 0..HIDDEN {
                a += w2[o * HIDDEN + j] * h[j];
            }
            z[o] = a;
        }
        let mut m = z[0];
        for &zo in &z {
            m = max_re(m, zo);
        }
        let mut se = D::from(0.0);
        for &zo in &z {
            se += (zo - m).exp();
        }
        loss += m + se.ln() - z[label];
    }
    loss / labels.len() as f64
}

/// The gradient by hand, on the flat parameters, into `grad` (same length), generic so that it
/// also runs on `Dual64`: backpropagation one sample at a time right after its forward pass,
/// `d logits = (softmax - onehot) / batch`, then `dW2 += dz hᵀ`, `dh = W2ᵀ dz`,
/// `da = dh (1 - h²)`, `dW1 += da xᵀ` (the loop of `benches/problems/mlp.rs`'s hand gradient).
pub fn mlp_grad_hand<D: Dn>(theta: &[D], x: &[f64], labels: &[usize], grad: &mut [D]) -> D {
    let (w1, b1, w2, b2) = split(theta);
    grad.fill(D::from(0.0));
    let (dw1, db1, dw2, db2) = split_mut(grad);
    let inv_batch = 1.0 / labels.len() as f64;
    let mut loss = D::from(0.0);
    for (s, &label) in labels.iter().enumerate() {
        let xs = &x[s * INPUTS..(s + 1) * INPUTS];
        let mut h = [D::from(0.0); HIDDEN];
        for (j, hj) in h.iter_mut().enumerate() {
            let row = &w1[j * INPUTS..(j + 1) * INPUTS];
            let mut a = b1[j];
            for k in 0..INPUTS {
                a += row[k] * xs[k];
            }
            *hj = a.tanh();
        }
        let mut z = [D::from(0.0); OUTPUTS];
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
            m = max_re(m, zo);
        }
        let mut p = [D::from(0.0); OUTPUTS];
        let mut se = D::from(0.0);
        for o in 0..OUTPUTS {
            p[o] = (z[o] - m).exp();
            se += p[o];
        }
        loss += m + se.ln() - z[label];
        let r = se.recip() * inv_batch;
        let mut dh = [D::from(0.0); HIDDEN];
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
            let da = dh[j] * (-h[j] * h[j] + 1.0);
            db1[j] += da;
            let drow = &mut dw1[j * INPUTS..(j + 1) * INPUTS];
            for k in 0..INPUTS {
                drow[k] += da * xs[k];
            }
        }
    }
    loss * inv_batch
}

/// The four blocks `(w1, b1, w2, b2)` of weights, of a direction or of a result.
pub type Blocks<'a> = (&'a [f64], &'a [f64], &'a [f64], &'a [f64]);
pub type BlocksMut<'a> = (&'a mut [f64], &'a mut [f64], &'a mut [f64], &'a mut [f64]);

/// Value, gradient and `H v` by hand (Pearlmutter's R-operator), into `grad` and `hv`
/// (overwritten): per sample the forward pass and its directional derivative along `v`
/// (`R a = c1 + V1 x`, `R h = (1 - h²) R a`, `R z = c2 + V2 h + W2 R h`), then the backward pass
/// and its directional derivative (`R dz = p ⊙ (R z - pᵀ R z) / batch`,
/// `R dW2 += R dz hᵀ + dz R hᵀ`, `R dh = V2ᵀ dz + W2ᵀ R dz`, `R da = R dh (1 - h²) - 2 dh h R h`,
/// `R dW1 += R da xᵀ`).
pub fn mlp_hvp_hand_into(
    (w1, b1, w2, b2): Blocks,
    (v1, c1, v2, c2): Blocks,
    x: &[f64],
    labels: &[usize],
    (dw1, db1, dw2, db2): BlocksMut,
    (rw1, rb1, rw2, rb2): BlocksMut,
) -> f64 {
    for block in [&mut *dw1, db1, dw2, db2, rw1, rb1, rw2, rb2] {
        block.fill(0.0);
    }
    let inv_batch = 1.0 / labels.len() as f64;
    let mut loss = 0.0;
    for (s, &label) in labels.iter().enumerate() {
        let xs = &x[s * INPUTS..(s + 1) * INPUTS];
        // Forward, and along v.
        let mut h = [0.0; HIDDEN];
        let mut rh = [0.0; HIDDEN];
        for j in 0..HIDDEN {
            let row = &w1[j * INPUTS..(j + 1) * INPUTS];
            let vrow = &v1[j * INPUTS..(j + 1) * INPUTS];
            let (mut a, mut ra) = (b1[j], c1[j]);
            for k in 0..INPUTS {
                a += row[k] * xs[k];
                ra += vrow[k] * xs[k];
            }
            h[j] = a.tanh();
            rh[j] = (1.0 - h[j] * h[j]) * ra;
        }
        let mut z = [0.0; OUTPUTS];
        let mut rz = [0.0; OUTPUTS];
        for o in 0..OUTPUTS {
            let row = &w2[o * HIDDEN..(o + 1) * HIDDEN];
            let vrow = &v2[o * HIDDEN..(o + 1) * HIDDEN];
            let (mut a, mut ra) = (b2[o], c2[o]);
            for j in 0..HIDDEN {
                a += row[j] * h[j];
                ra += vrow[j] * h[j] + row[j] * rh[j];
            }
            z[o] = a;
            rz[o] = ra;
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
        let inv_se = 1.0 / se;
        let mut p_rz = 0.0;
        for o in 0..OUTPUTS {
            p[o] *= inv_se;
            p_rz += p[o] * rz[o];
        }
        // Backward, and along v.
        let mut dh = [0.0; HIDDEN];
        let mut rdh = [0.0; HIDDEN];
        for o in 0..OUTPUTS {
            let mut dz = p[o] * inv_batch;
            if o == label {
                dz -= inv_batch;
            }
            let rdz = p[o] * (rz[o] - p_rz) * inv_batch;
            db2[o] += dz;
            rb2[o] += rdz;
            let row = &w2[o * HIDDEN..(o + 1) * HIDDEN];
            let vrow = &v2[o * HIDDEN..(o + 1) * HIDDEN];
            let drow = &mut dw2[o * HIDDEN..(o + 1) * HIDDEN];
            let rrow = &mut rw2[o * HIDDEN..(o + 1) * HIDDEN];
            for j in 0..HIDDEN {
                drow[j] += dz * h[j];
                rrow[j] += rdz * h[j] + dz * rh[j];
                dh[j] += dz * row[j];
                rdh[j] += dz * vrow[j] + rdz * row[j];
            }
        }
        for j in 0..HIDDEN {
            let slope = 1.0 - h[j] * h[j];
            let da = dh[j] * slope;
            let rda = rdh[j] * slope - 2.0 * dh[j] * h[j] * rh[j];
            db1[j] += da;
            rb1[j] += rda;
            let drow = &mut dw1[j * INPUTS..(j + 1) * INPUTS];
            let rrow = &mut rw1[j * INPUTS..(j + 1) * INPUTS];
            for k in 0..INPUTS {
                drow[k] += da * xs[k];
                rrow[k] += rda * xs[k];
            }
        }
    }
    loss * inv_batch
}

fn zeros() -> Weights {
    (
        vec![0.0; BLOCKS[0]],
        vec![0.0; BLOCKS[1]],
        vec![0.0; BLOCKS[2]],
        vec![0.0; BLOCKS[3]],
    )
}

fn blocks(w: &Weights) -> Blocks<'_> {
    (&w.0, &w.1, &w.2, &w.3)
}

fn blocks_mut(w: &mut Weights) -> BlocksMut<'_> {
    (&mut w.0, &mut w.1, &mut w.2, &mut w.3)
}

/// [`mlp_hvp_hand_into`] with the signature of the generated `mlp_loss_hvp`.
pub fn mlp_hvp_hand(
    w1: &[f64],
    b1: &[f64],
    w2: &[f64],
    b2: &[f64],
    x: &[f64],
    labels: &[usize],
    v: Weights,
) -> (f64, Weights, Weights) {
    let (mut grad, mut hv) = (zeros(), zeros());
    let value = mlp_hvp_hand_into(
        (w1, b1, w2, b2),
        blocks(&v),
        x,
        labels,
        blocks_mut(&mut grad),
        blocks_mut(&mut hv),
    );
    (value, grad, hv)
}

// The case ------------------------------------------------------------------------------------

pub struct HvpMlp {
    w1: Vec<f64>,
    b1: Vec<f64>,
    w2: Vec<f64>,
    b2: Vec<f64>,
    /// `w1 | b1 | w2 | b2` in one vector, for the methods that see one flat input.
    theta: Vec<f64>,
    /// The direction, in blocks and flat.
    v: Weights,
    v_flat: Vec<f64>,
    x: Vec<f64>,
    labels: Vec<usize>,
    generated_grad: Weights,
    hand_grad: Vec<f64>,
    /// The buffers of `hand_hvp_into`, and the flat ones of the num-dual methods.
    grad_blocks: Weights,
    hv_blocks: Weights,
    grad: Vec<f64>,
    hv: Vec<f64>,
    duals: Vec<Dual64>,
    dual_grad: Vec<Dual64>,
    hyperduals: Vec<HyperDual64>,
}

impl HvpMlp {
    /// The weights, inputs and labels of `benches/problems/mlp.rs`; a direction in `[-1, 1)`.
    pub fn new() -> Self {
        let w1 = uniform(1, BLOCKS[0], -0.125, 0.125);
        let b1 = uniform(2, BLOCKS[1], -0.1, 0.1);
        let w2 = uniform(3, BLOCKS[2], -0.18, 0.18);
        let b2 = uniform(4, BLOCKS[3], -0.1, 0.1);
        let theta = [&w1[..], &b1, &w2, &b2].concat();
        let n = theta.len();
        let v_flat = uniform(11, n, -1.0, 1.0);
        let (a, b, c, d) = split(&v_flat);
        let v = (a.to_vec(), b.to_vec(), c.to_vec(), d.to_vec());
        Self {
            w1,
            b1,
            w2,
            b2,
            theta,
            v,
            v_flat,
            x: uniform(5, BATCH * INPUTS, -1.0, 1.0),
            labels: (0..BATCH).map(|s| (s * 7 + 3) % OUTPUTS).collect(),
            generated_grad: Default::default(),
            hand_grad: vec![0.0; n],
            grad_blocks: zeros(),
            hv_blocks: zeros(),
            grad: vec![0.0; n],
            hv: vec![0.0; n],
            duals: Vec::new(),
            dual_grad: Vec::new(),
            hyperduals: Vec::new(),
        }
    }

    #[inline]
    fn generated_grad_into(&mut self) -> f64 {
        mlp_loss_grad_into(
            &self.w1,
            &self.b1,
            &self.w2,
            &self.b2,
            &self.x,
            &self.labels,
            &mut self.generated_grad,
        )
    }
    #[inline]
    fn hand_grad_into(&mut self) -> f64 {
        mlp_grad_hand(&self.theta, &self.x, &self.labels, &mut self.hand_grad)
    }
    #[inline]
    fn generated_hvp(&mut self) -> (f64, Weights, Weights) {
        mlp_loss_hvp(
            &self.w1,
            &self.b1,
            &self.w2,
            &self.b2,
            &self.x,
            &self.labels,
            self.v.clone(),
        )
    }
    #[inline]
    fn hand_hvp(&mut self) -> (f64, Weights, Weights) {
        mlp_hvp_hand(
            &self.w1,
            &self.b1,
            &self.w2,
            &self.b2,
            &self.x,
            &self.labels,
            self.v.clone(),
        )
    }
    #[inline]
    fn hand_hvp_into(&mut self) -> f64 {
        mlp_hvp_hand_into(
            (&self.w1, &self.b1, &self.w2, &self.b2),
            blocks(&self.v),
            &self.x,
            &self.labels,
            blocks_mut(&mut self.grad_blocks),
            blocks_mut(&mut self.hv_blocks),
        )
    }
    #[inline]
    fn num_dual_over_hand_grad(&mut self) -> f64 {
        let (x, labels) = (&self.x, &self.labels);
        hvp_dual_over_grad(
            |theta, grad| mlp_grad_hand(theta, x, labels, grad),
            &self.theta,
            &self.v_flat,
            &mut self.duals,
            &mut self.dual_grad,
            &mut self.grad,
            &mut self.hv,
        )
    }
    #[inline]
    fn num_dual_hyperdual(&mut self) -> f64 {
        let (x, labels) = (&self.x, &self.labels);
        hvp_hyperdual(
            |theta| mlp_loss_generic(theta, x, labels),
            &self.theta,
            &self.v_flat,
            &mut self.hyperduals,
            &mut self.grad,
            &mut self.hv,
        )
    }
}

impl Case for HvpMlp {
    fn name(&self) -> String {
        format!("hvp_mlp_{INPUTS}_{HIDDEN}_{OUTPUTS}_batch{BATCH}")
    }
    fn kind(&self) -> Kind {
        Kind::Hvp
    }
    fn dim(&self) -> usize {
        self.theta.len()
    }

    /// The hand-written R-operator is the reference, checked against central differences of
    /// the hand-written gradient along `v`; the hand-written gradient is checked against
    /// num-dual's forward mode along a few unit vectors.
    fn verify(&mut self) -> String {
        let name = self.name();
        let value = mlp_loss(
            &self.w1,
            &self.b1,
            &self.w2,
            &self.b2,
            &self.x,
            &self.labels,
        );
        let (x, labels) = (self.x.clone(), self.labels.clone());
        let grad_at = |theta: &[f64]| {
            let mut g = vec![0.0; theta.len()];
            mlp_grad_hand(theta, &x, &labels, &mut g);
            g
        };
        let g_ref = grad_at(&self.theta);
        let scale = g_ref.iter().fold(0.0_f64, |m, g| m.max(g.abs()));
        for i in [
            0,
            700,
            BLOCKS[0],
            BLOCKS[0] + BLOCKS[1] + 100,
            self.theta.len() - 1,
        ] {
            let mut duals: Vec<Dual64> = self.theta.iter().map(|&t| Dual64::from_re(t)).collect();
            duals[i].eps = 1.0;
            let d = mlp_loss_generic(&duals, &x, &labels).eps;
            assert!(
                (d - g_ref[i]).abs() <= 1e-14 * scale,
                "{name}: hand gradient component {i}: {} vs forward mode {d}",
                g_ref[i]
            );
        }
        assert_value(&name, "hand_hvp_into", self.hand_hvp_into(), value);
        let hv_ref = flat(&self.hv_blocks);
        assert_agree(
            &name,
            "hand_hvp_into gradient",
            &flat(&self.grad_blocks),
            &g_ref,
            1e-14,
        );
        let fd = central_hvp(grad_at, &self.theta, &self.v_flat);
        let mut summary = format!(
            "{name}: hand H v vs central differences {:.0e}",
            assert_agree(&name, "hand H v vs central differences", &hv_ref, &fd, 1e-7)
        );

        assert_eq!(self.generated_grad_into(), value, "{name}: generated value");
        let e = assert_agree(
            &name,
            "generated gradient",
            &flat(&self.generated_grad),
            &g_ref,
            1e-13,
        );
        summary += &format!("; generated_grad_into {e:.0e}");
        assert_value(&name, "hand_grad_into", self.hand_grad_into(), value);
        assert_agree(&name, "hand_grad_into", &self.hand_grad, &g_ref, 0.0);

        for (method, (v, g, hv)) in [
            ("generated_hvp", self.generated_hvp()),
            ("hand_hvp", self.hand_hvp()),
        ] {
            assert_value(&name, method, v, value);
            assert_agree(&name, method, &flat(&g), &g_ref, 1e-13);
            let e = assert_agree(&name, method, &flat(&hv), &hv_ref, 1e-13);
            summary += &format!("; {method} {e:.0e}");
        }
        type Method = fn(&mut HvpMlp) -> f64;
        let buffered: [(&str, Method); 2] = [
            ("num_dual_over_hand_grad", Self::num_dual_over_hand_grad),
            ("num_dual_hyperdual", Self::num_dual_hyperdual),
        ];
        for (method, run) in buffered {
            self.grad.fill(f64::NAN);
            self.hv.fill(f64::NAN);
            assert_value(&name, method, run(self), value);
            assert_agree(&name, method, &self.grad, &g_ref, 1e-13);
            let e = assert_agree(&name, method, &self.hv, &hv_ref, 1e-13);
            summary += &format!("; {method} {e:.0e}");
        }
        summary
    }

    fn measure(&mut self, m: &mut impl Measure) {
        m.time("generated_grad_into", || hide(self).generated_grad_into());
        m.time("hand_grad_into", || hide(self).hand_grad_into());
        m.time("generated_hvp", || hide(self).generated_hvp());
        m.time("hand_hvp", || hide(self).hand_hvp());
        m.time("hand_hvp_into", || hide(self).hand_hvp_into());
        m.time("num_dual_over_hand_grad", || {
            hide(self).num_dual_over_hand_grad()
        });
        m.time("num_dual_hyperdual", || hide(self).num_dual_hyperdual());
    }
}

// The same loss with the sizes in the types ---------------------------------------------------

/// [`mlp_loss`] with the sizes in the types (`w1[j][k]`, `x[s][k]`), the body of
/// `benches/problems/mlp.rs`'s `mlp_loss_arrays`: the compiler can see every index in bounds.
#[differentiate(hessian, wrt(w1, b1, w2, b2))]
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

/// The arrays' weights (and gradient, direction and `H v`) shape.
pub type ArrayWeights = (
    [[f64; INPUTS]; HIDDEN],
    [f64; HIDDEN],
    [[f64; HIDDEN]; OUTPUTS],
    [f64; OUTPUTS],
);

fn to_arrays(w: &Weights) -> Box<ArrayWeights> {
    Box::new((
        std::array::from_fn(|j| std::array::from_fn(|k| w.0[j * INPUTS + k])),
        std::array::from_fn(|j| w.1[j]),
        std::array::from_fn(|o| std::array::from_fn(|j| w.2[o * HIDDEN + j])),
        std::array::from_fn(|o| w.3[o]),
    ))
}

fn flat_arrays(w: &ArrayWeights) -> Vec<f64> {
    [w.0.as_flattened(), &w.1, w.2.as_flattened(), &w.3].concat()
}

/// The same problem as [`HvpMlp`] (same weights, direction, hand-written code), with the
/// generated gradient and HVP of [`mlp_loss_arrays`]. The num-dual lines are those of
/// [`HvpMlp`], not measured again.
pub struct HvpMlpArrays {
    slices: HvpMlp,
    weights: Box<ArrayWeights>,
    v: Box<ArrayWeights>,
    x: Vec<[f64; INPUTS]>,
    generated_grad: Box<ArrayWeights>,
}

impl HvpMlpArrays {
    pub fn new() -> Self {
        let slices = HvpMlp::new();
        let weights = to_arrays(&(
            slices.w1.clone(),
            slices.b1.clone(),
            slices.w2.clone(),
            slices.b2.clone(),
        ));
        let v = to_arrays(&slices.v);
        let x = slices
            .x
            .chunks(INPUTS)
            .map(|row| row.try_into().expect("rows of INPUTS"))
            .collect();
        let generated_grad = to_arrays(&zeros());
        Self {
            slices,
            weights,
            v,
            x,
            generated_grad,
        }
    }

    #[inline]
    fn generated_grad_into(&mut self) -> f64 {
        let (w1, b1, w2, b2) = &*self.weights;
        mlp_loss_arrays_grad_into(
            w1,
            b1,
            w2,
            b2,
            &self.x,
            &self.slices.labels,
            &mut self.generated_grad,
        )
    }
    /// The direction is copied onto the stack, as a caller holding it would pass it.
    #[inline]
    fn generated_hvp(&mut self) -> (f64, ArrayWeights, ArrayWeights) {
        let (w1, b1, w2, b2) = &*self.weights;
        mlp_loss_arrays_hvp(w1, b1, w2, b2, &self.x, &self.slices.labels, *self.v)
    }
}

impl Case for HvpMlpArrays {
    fn name(&self) -> String {
        format!("hvp_mlp_arrays_{INPUTS}_{HIDDEN}_{OUTPUTS}_batch{BATCH}")
    }
    fn kind(&self) -> Kind {
        Kind::Hvp
    }
    fn dim(&self) -> usize {
        self.slices.dim()
    }

    /// Checks the slices' case, then the arrays' generated gradient and HVP against its
    /// hand-written R-operator.
    fn verify(&mut self) -> String {
        let mut summary = self.slices.verify();
        let name = self.name();
        let value = self.slices.hand_hvp_into();
        let g_ref = flat(&self.slices.grad_blocks);
        let hv_ref = flat(&self.slices.hv_blocks);
        assert_value(
            &name,
            "generated_grad_into",
            self.generated_grad_into(),
            value,
        );
        let e = assert_agree(
            &name,
            "generated gradient",
            &flat_arrays(&self.generated_grad),
            &g_ref,
            1e-13,
        );
        summary += &format!("\n{name}: generated_grad_into {e:.0e}");
        let (v, g, hv) = self.generated_hvp();
        assert_value(&name, "generated_hvp", v, value);
        assert_agree(
            &name,
            "generated_hvp gradient",
            &flat_arrays(&g),
            &g_ref,
            1e-13,
        );
        let e = assert_agree(&name, "generated_hvp", &flat_arrays(&hv), &hv_ref, 1e-13);
        summary += &format!("; generated_hvp {e:.0e}");
        summary
    }

    fn measure(&mut self, m: &mut impl Measure) {
        m.time("generated_grad_into", || hide(self).generated_grad_into());
        m.time("hand_grad_into", || hide(self).slices.hand_grad_into());
        m.time("generated_hvp", || hide(self).generated_hvp());
        m.time("hand_hvp", || hide(self).slices.hand_hvp());
        m.time("hand_hvp_into", || hide(self).slices.hand_hvp_into());
    }
}
