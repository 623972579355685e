//! Machine-learning programs, written as practitioners write them, differentiated with
//! `#[differentiate]` and checked against forward-mode dual numbers, central differences and
//! closed forms (see `programs/common.rs`).
#![allow(clippy::needless_range_loop)] // index loops are how this numerical code is written
#![allow(clippy::too_many_arguments)]

#[path = "programs/common.rs"]
mod common;

use autodiff_core::{Differentiable, differentiate, no_grad};
use common::{Fd, Reader, Tol, assert_close, c, check_oracles, flat};

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Deterministic features in about [-1, 1].
fn features<const N: usize>(rows: usize, seed: f64) -> Vec<[f64; N]> {
    (0..rows)
        .map(|i| std::array::from_fn(|j| ((i * N + j) as f64 * 0.618_034 + seed).sin()))
        .collect()
}

// ------------------------------------------------------------------------------------------
// Logistic regression: a model struct with a loss method; the log-likelihood written with the
// numerically stable softplus (a branch on the sign of the logit), L2 penalty.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Differentiable)]
struct LogisticModel {
    w: [f64; 4],
    b: f64,
}

impl LogisticModel {
    #[differentiate(wrt(self))]
    fn loss(&self, x: &[[f64; 4]], y: &[f64], lambda: f64) -> f64 {
        let mut total = 0.0;
        for i in 0..x.len() {
            let mut z = self.b;
            for j in 0..4 {
                z += self.w[j] * x[i][j];
            }
            // -log p(y | x) = softplus(z) - y z, softplus computed without overflow.
            let softplus = if z > 0.0 {
                z + (-z).exp().ln_1p()
            } else {
                z.exp().ln_1p()
            };
            total += softplus - y[i] * z;
        }
        let mut penalty = 0.0;
        for w in self.w.iter() {
            penalty += w * w;
        }
        total / x.len() as f64 + 0.5 * lambda * penalty
    }
}

fn logistic_loss_fd(w: [Fd; 4], b: Fd, x: &[[f64; 4]], y: &[f64], lambda: f64) -> Fd {
    let mut total = c(0.0);
    for i in 0..x.len() {
        let mut z = b;
        for j in 0..4 {
            z += w[j] * x[i][j];
        }
        let softplus = if z > 0.0 {
            z + (-z).exp().ln_1p()
        } else {
            z.exp().ln_1p()
        };
        total += softplus - y[i] * z;
    }
    let mut penalty = c(0.0);
    for w in w.iter() {
        penalty += *w * *w;
    }
    total / x.len() as f64 + 0.5 * lambda * penalty
}

#[test]
fn logistic_regression() {
    let x = features::<4>(30, 0.2);
    let y: Vec<f64> = (0..30).map(|i| ((i * 5) % 3 == 0) as u8 as f64).collect();
    let model = LogisticModel {
        w: [0.5, -1.0, 0.8, 0.3],
        b: -0.2,
    };
    let (value, g) = generated!(model => loss_grad, loss_pullback, loss_grad_into; &x, &y, 0.1);
    // X'(σ(z) - y) / n + λ w.
    for j in 0..5 {
        let mut expected = 0.0;
        for i in 0..30 {
            let z = model.b + (0..4).map(|k| model.w[k] * x[i][k]).sum::<f64>();
            let xij = if j < 4 { x[i][j] } else { 1.0 };
            expected += xij * (sigmoid(z) - y[i]) / 30.0;
        }
        let actual = if j < 4 {
            expected += 0.1 * model.w[j];
            g.w[j]
        } else {
            g.b
        };
        assert_close(actual, expected, 1e-14, "logistic gradient");
    }
    let mut p = model.w.to_vec();
    p.push(model.b);
    check_oracles(
        "logistic loss",
        &p,
        value,
        &flat(&g),
        |q| {
            LogisticModel {
                w: [q[0], q[1], q[2], q[3]],
                b: q[4],
            }
            .loss(&x, &y, 0.1)
        },
        |q| logistic_loss_fd([q[0], q[1], q[2], q[3]], q[4], &x, &y, 0.1),
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// Softmax cross-entropy of a linear classifier, log-sum-exp with the maximum held constant.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(w, b))]
fn softmax_cross_entropy(w: &[[f64; 3]; 5], b: &[f64; 5], x: &[[f64; 3]], labels: &[usize]) -> f64 {
    let mut loss = 0.0;
    for n in 0..x.len() {
        let mut logits = [0.0; 5];
        for k in 0..5 {
            logits[k] = b[k];
            for j in 0..3 {
                logits[k] += w[k][j] * x[n][j];
            }
        }
        let mut m = logits[0];
        for k in 1..5 {
            m = m.max(logits[k]);
        }
        let m = no_grad(m);
        let mut sum = 0.0;
        for k in 0..5 {
            sum += (logits[k] - m).exp();
        }
        loss += m + sum.ln() - logits[labels[n]];
    }
    loss / x.len() as f64
}

fn softmax_cross_entropy_fd(w: &[[Fd; 3]; 5], b: &[Fd; 5], x: &[[f64; 3]], labels: &[usize]) -> Fd {
    let mut loss = c(0.0);
    for n in 0..x.len() {
        let mut logits = [c(0.0); 5];
        for k in 0..5 {
            logits[k] = b[k];
            for j in 0..3 {
                logits[k] += w[k][j] * x[n][j];
            }
        }
        let mut m = logits[0];
        for k in 1..5 {
            m = m.max(logits[k]);
        }
        let m = m.re();
        let mut sum = c(0.0);
        for k in 0..5 {
            sum += (logits[k] - m).exp();
        }
        loss += m + sum.ln() - logits[labels[n]];
    }
    loss / x.len() as f64
}

#[test]
fn softmax_classifier() {
    let x = features::<3>(12, 1.0);
    let labels: Vec<usize> = (0..12).map(|i| (i * 3) % 5).collect();
    let w: [[f64; 3]; 5] =
        std::array::from_fn(|k| std::array::from_fn(|j| 0.3 * ((k * 3 + j) as f64).cos()));
    let b = [0.1, -0.2, 0.0, 0.3, -0.1];
    let (value, (dw, db)) = generated!(softmax_cross_entropy_grad, softmax_cross_entropy_pullback,
        softmax_cross_entropy_grad_into; &w, &b, &x, &labels);
    // (softmax - onehot) x' / n.
    let mut expected_db = [0.0; 5];
    let mut expected_dw = [[0.0; 3]; 5];
    for n in 0..12 {
        let logits: Vec<f64> = (0..5)
            .map(|k| b[k] + (0..3).map(|j| w[k][j] * x[n][j]).sum::<f64>())
            .collect();
        let total: f64 = logits.iter().map(|l| l.exp()).sum();
        for k in 0..5 {
            let delta = logits[k].exp() / total - (k == labels[n]) as u8 as f64;
            expected_db[k] += delta / 12.0;
            for j in 0..3 {
                expected_dw[k][j] += delta * x[n][j] / 12.0;
            }
        }
    }
    for k in 0..5 {
        assert_close(db[k], expected_db[k], 1e-15, "d bias");
        for j in 0..3 {
            assert_close(dw[k][j], expected_dw[k][j], 1e-15, "d weight");
        }
    }
    let mut p = flat(&w);
    p.extend(b);
    let mut g = flat(&dw);
    g.extend(db);
    check_oracles(
        "softmax_cross_entropy",
        &p,
        value,
        &g,
        |q| {
            let mut r = Reader::new(q);
            softmax_cross_entropy(&r.m(), &r.a(), &x, &labels)
        },
        |q| {
            let mut r = Reader::new(q);
            softmax_cross_entropy_fd(&r.m(), &r.a(), &x, &labels)
        },
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// A two-layer perceptron as a struct of arrays: `forward` a method, `loss` a method calling it
// for each sample in a loop.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Differentiable)]
struct Mlp {
    w1: [[f64; 3]; 4],
    b1: [f64; 4],
    w2: [f64; 4],
    b2: f64,
}

impl Mlp {
    #[differentiate(wrt(self))]
    fn forward(&self, x: &[f64; 3]) -> f64 {
        let mut hidden = [0.0; 4];
        for i in 0..4 {
            let mut z = self.b1[i];
            for j in 0..3 {
                z += self.w1[i][j] * x[j];
            }
            hidden[i] = z.tanh();
        }
        let mut out = self.b2;
        for i in 0..4 {
            out += self.w2[i] * hidden[i];
        }
        out
    }

    #[differentiate(wrt(self))]
    fn loss(&self, xs: &[[f64; 3]], ys: &[f64]) -> f64 {
        let mut total = 0.0;
        for (x, y) in xs.iter().zip(ys.iter()) {
            let e = self.forward(x) - y;
            total += e * e;
        }
        total / xs.len() as f64
    }
}

fn mlp_forward_fd(w1: &[[Fd; 3]; 4], b1: &[Fd; 4], w2: &[Fd; 4], b2: Fd, x: &[f64; 3]) -> Fd {
    let mut hidden = [c(0.0); 4];
    for i in 0..4 {
        let mut z = b1[i];
        for j in 0..3 {
            z += w1[i][j] * x[j];
        }
        hidden[i] = z.tanh();
    }
    let mut out = b2;
    for i in 0..4 {
        out += w2[i] * hidden[i];
    }
    out
}

fn mlp_loss_fd(
    w1: &[[Fd; 3]; 4],
    b1: &[Fd; 4],
    w2: &[Fd; 4],
    b2: Fd,
    xs: &[[f64; 3]],
    ys: &[f64],
) -> Fd {
    let mut total = c(0.0);
    for (x, y) in xs.iter().zip(ys.iter()) {
        let e = mlp_forward_fd(w1, b1, w2, b2, x) - *y;
        total += e * e;
    }
    total / xs.len() as f64
}

fn mlp_params(q: &[f64]) -> Mlp {
    let mut r = Reader::new(q);
    let m = Mlp {
        w1: r.m(),
        b1: r.a(),
        w2: r.a(),
        b2: r.s(),
    };
    r.done();
    m
}

#[test]
fn mlp_struct_of_arrays() {
    let model = Mlp {
        w1: [
            [0.3, -0.5, 0.2],
            [0.8, 0.1, -0.4],
            [-0.6, 0.7, 0.5],
            [0.2, 0.2, -0.9],
        ],
        b1: [0.1, -0.1, 0.05, 0.0],
        w2: [0.7, -1.2, 0.4, 0.9],
        b2: 0.3,
    };
    let xs = features::<3>(10, 0.5);
    let ys: Vec<f64> = xs.iter().map(|x| x[0] * x[1] - x[2]).collect();
    let (value, g) = generated!(model => loss_grad, loss_pullback, loss_grad_into; &xs, &ys);
    let mut p = Vec::new();
    model.for_each(&mut |v| p.push(v));
    check_oracles(
        "mlp loss",
        &p,
        value,
        &flat(&g),
        |q| mlp_params(q).loss(&xs, &ys),
        |q| {
            let mut r = Reader::new(q);
            mlp_loss_fd(&r.m(), &r.a(), &r.a(), r.s(), &xs, &ys)
        },
        Tol::default(),
    );
    // The output layer's gradient in closed form: d out / d w2 = hidden, d out / d b2 = 1.
    let (_, gf) = model.forward_grad(&xs[0]);
    assert_eq!(gf.b2, 1.0);
    for i in 0..4 {
        let z = model.b1[i] + (0..3).map(|j| model.w1[i][j] * xs[0][j]).sum::<f64>();
        assert_close(gf.w2[i], z.tanh(), 1e-15, "d out / d w2");
        assert_close(
            gf.b1[i],
            model.w2[i] * (1.0 - z.tanh().powi(2)),
            1e-15,
            "d out / d b1",
        );
    }
}

// ------------------------------------------------------------------------------------------
// Layers as functions returning arrays (dense, layer norm, GELU), composed per sample.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn dense(w: &[[f64; 4]; 3], b: &[f64; 3], x: &[f64; 4]) -> [f64; 3] {
    // `let mut y = *b;` is rejected: "dereference `*` has no derivative rule".
    let mut y = [0.0; 3];
    for i in 0..3 {
        y[i] = b[i];
        for j in 0..4 {
            y[i] += w[i][j] * x[j];
        }
    }
    y
}

#[differentiate]
fn layer_norm(x: [f64; 3], gamma: &[f64; 3], beta: &[f64; 3]) -> [f64; 3] {
    let mean = (x[0] + x[1] + x[2]) / 3.0;
    let mut var = 0.0;
    for i in 0..3 {
        var += (x[i] - mean).powi(2);
    }
    let inv_std = 1.0 / (var / 3.0 + 1e-5).sqrt();
    let mut y = [0.0; 3];
    for i in 0..3 {
        y[i] = gamma[i] * (x[i] - mean) * inv_std + beta[i];
    }
    y
}

#[differentiate]
fn gelu(x: f64) -> f64 {
    // The tanh approximation.
    0.5 * x * (1.0 + (0.797_884_560_802_865_4 * (x + 0.044715 * x * x * x)).tanh())
}

#[differentiate(wrt(w, b, gamma, beta, head))]
fn block_loss(
    w: &[[f64; 4]; 3],
    b: &[f64; 3],
    gamma: &[f64; 3],
    beta: &[f64; 3],
    head: &[f64; 3],
    xs: &[[f64; 4]],
    ys: &[f64],
) -> f64 {
    let mut loss = 0.0;
    for n in 0..xs.len() {
        let z = dense(w, b, &xs[n]);
        let h = layer_norm(z, gamma, beta);
        let mut out = 0.0;
        for i in 0..3 {
            out += head[i] * gelu(h[i]);
        }
        loss += (out - ys[n]).powi(2);
    }
    loss
}

fn dense_fd(w: &[[Fd; 4]; 3], b: &[Fd; 3], x: &[f64; 4]) -> [Fd; 3] {
    let mut y = *b;
    for i in 0..3 {
        for j in 0..4 {
            y[i] += w[i][j] * x[j];
        }
    }
    y
}

fn layer_norm_fd(x: [Fd; 3], gamma: &[Fd; 3], beta: &[Fd; 3]) -> [Fd; 3] {
    let mean = (x[0] + x[1] + x[2]) / 3.0;
    let mut var = c(0.0);
    for i in 0..3 {
        var += (x[i] - mean).powi(2);
    }
    let inv_std = 1.0 / (var / 3.0 + 1e-5).sqrt();
    let mut y = [c(0.0); 3];
    for i in 0..3 {
        y[i] = gamma[i] * (x[i] - mean) * inv_std + beta[i];
    }
    y
}

fn gelu_fd(x: Fd) -> Fd {
    0.5 * x * (1.0 + (0.797_884_560_802_865_4 * (x + 0.044715 * x * x * x)).tanh())
}

fn block_loss_fd(
    w: &[[Fd; 4]; 3],
    b: &[Fd; 3],
    gamma: &[Fd; 3],
    beta: &[Fd; 3],
    head: &[Fd; 3],
    xs: &[[f64; 4]],
    ys: &[f64],
) -> Fd {
    let mut loss = c(0.0);
    for n in 0..xs.len() {
        let z = dense_fd(w, b, &xs[n]);
        let h = layer_norm_fd(z, gamma, beta);
        let mut out = c(0.0);
        for i in 0..3 {
            out += head[i] * gelu_fd(h[i]);
        }
        loss += (out - ys[n]).powi(2);
    }
    loss
}

#[test]
fn dense_layer_norm_gelu_block() {
    let w: [[f64; 4]; 3] =
        std::array::from_fn(|i| std::array::from_fn(|j| 0.4 * ((i * 4 + j) as f64 * 1.7).sin()));
    let b = [0.1, 0.0, -0.2];
    let gamma = [1.0, 0.8, 1.2];
    let beta = [0.0, 0.1, -0.1];
    let head = [0.5, -0.7, 0.9];
    let xs = features::<4>(6, 2.0);
    let ys: Vec<f64> = xs.iter().map(|x| x[0] - 0.5 * x[3]).collect();
    let (value, g) = generated!(block_loss_grad, block_loss_pullback, block_loss_grad_into;
        &w, &b, &gamma, &beta, &head, &xs, &ys);
    let mut p = flat(&w);
    for a in [b, gamma, beta, head] {
        p.extend(a);
    }
    check_oracles(
        "block_loss",
        &p,
        value,
        &flat(&g),
        |q| {
            let mut r = Reader::new(q);
            block_loss(&r.m(), &r.a(), &r.a(), &r.a(), &r.a(), &xs, &ys)
        },
        |q| {
            let mut r = Reader::new(q);
            block_loss_fd(&r.m(), &r.a(), &r.a(), &r.a(), &r.a(), &xs, &ys)
        },
        Tol::default(),
    );
    // Layer norm's output sums to sum(beta) whatever x: its pullback of (1, 1, 1) has zero x part.
    let (dx, _, dbeta) = layer_norm_pullback([0.3, -1.0, 2.0], &gamma, &beta, [1.0, 1.0, 1.0]);
    let (dx1, _, _) = layer_norm_pullback([0.3, -1.0, 2.0], &[1.0; 3], &beta, [1.0, 1.0, 1.0]);
    assert_eq!(dbeta, [1.0; 3]);
    assert!(dx1.iter().all(|d| d.abs() < 1e-15), "{dx1:?}");
    assert!(
        dx.iter().any(|d| d.abs() > 1e-3),
        "gamma not all equal: {dx:?}"
    );
}

// ------------------------------------------------------------------------------------------
// A GRU cell returning its new state, called in a loop over a sequence (the state carried as an
// array reassigned from the call); the loss reads the last state.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Differentiable)]
struct Gru {
    wz: [[f64; 2]; 3],
    uz: [[f64; 3]; 3],
    wh: [[f64; 2]; 3],
    uh: [[f64; 3]; 3],
    bz: [f64; 3],
    bh: [f64; 3],
}

#[differentiate]
fn gru_step(p: &Gru, x: &[f64; 2], h: [f64; 3]) -> [f64; 3] {
    let mut next = [0.0; 3];
    for i in 0..3 {
        let mut z = p.bz[i];
        let mut a = p.bh[i];
        for j in 0..2 {
            z += p.wz[i][j] * x[j];
            a += p.wh[i][j] * x[j];
        }
        for j in 0..3 {
            z += p.uz[i][j] * h[j];
            a += p.uh[i][j] * h[j];
        }
        let z = 1.0 / (1.0 + (-z).exp());
        next[i] = (1.0 - z) * h[i] + z * a.tanh();
    }
    next
}

#[differentiate(wrt(p, h0))]
fn gru_sequence_loss(p: &Gru, h0: [f64; 3], xs: &[[f64; 2]], target: &[f64; 3]) -> f64 {
    let mut h = h0;
    for t in 0..xs.len() {
        h = gru_step(p, &xs[t], h);
    }
    let mut loss = 0.0;
    for i in 0..3 {
        loss += (h[i] - target[i]).powi(2);
    }
    loss
}

struct GruFd {
    wz: [[Fd; 2]; 3],
    uz: [[Fd; 3]; 3],
    wh: [[Fd; 2]; 3],
    uh: [[Fd; 3]; 3],
    bz: [Fd; 3],
    bh: [Fd; 3],
}

fn gru_step_fd(p: &GruFd, x: &[f64; 2], h: [Fd; 3]) -> [Fd; 3] {
    let mut next = [c(0.0); 3];
    for i in 0..3 {
        let mut z = p.bz[i];
        let mut a = p.bh[i];
        for j in 0..2 {
            z += p.wz[i][j] * x[j];
            a += p.wh[i][j] * x[j];
        }
        for j in 0..3 {
            z += p.uz[i][j] * h[j];
            a += p.uh[i][j] * h[j];
        }
        let z = 1.0 / (1.0 + (-z).exp());
        next[i] = (1.0 - z) * h[i] + z * a.tanh();
    }
    next
}

fn gru_sequence_loss_fd(p: &GruFd, h0: [Fd; 3], xs: &[[f64; 2]], target: &[f64; 3]) -> Fd {
    let mut h = h0;
    for t in 0..xs.len() {
        h = gru_step_fd(p, &xs[t], h);
    }
    let mut loss = c(0.0);
    for i in 0..3 {
        loss += (h[i] - target[i]).powi(2);
    }
    loss
}

#[test]
fn gru_over_a_sequence() {
    let v = |k: usize| 0.5 * (k as f64 * 0.91).sin();
    let p = Gru {
        wz: std::array::from_fn(|i| std::array::from_fn(|j| v(i * 2 + j))),
        uz: std::array::from_fn(|i| std::array::from_fn(|j| v(10 + i * 3 + j))),
        wh: std::array::from_fn(|i| std::array::from_fn(|j| v(20 + i * 2 + j))),
        uh: std::array::from_fn(|i| std::array::from_fn(|j| v(30 + i * 3 + j))),
        bz: [0.1, -0.1, 0.0],
        bh: [0.0, 0.2, -0.2],
    };
    let h0 = [0.1, -0.2, 0.3];
    let xs = features::<2>(7, 0.3);
    let target = [0.5, -0.5, 0.2];
    let (value, (dp, dh0)) = generated!(gru_sequence_loss_grad, gru_sequence_loss_pullback,
        gru_sequence_loss_grad_into; &p, h0, &xs, &target);
    let mut x = Vec::new();
    p.for_each(&mut |q| x.push(q));
    x.extend(h0);
    let mut g = flat(&dp);
    g.extend(dh0);
    check_oracles(
        "gru_sequence_loss",
        &x,
        value,
        &g,
        |q| {
            let mut r = Reader::new(q);
            let p = Gru {
                wz: r.m(),
                uz: r.m(),
                wh: r.m(),
                uh: r.m(),
                bz: r.a(),
                bh: r.a(),
            };
            gru_sequence_loss(&p, r.a(), &xs, &target)
        },
        |q| {
            let mut r = Reader::new(q);
            let p = GruFd {
                wz: r.m(),
                uz: r.m(),
                wh: r.m(),
                uh: r.m(),
                bz: r.a(),
                bh: r.a(),
            };
            gru_sequence_loss_fd(&p, r.a(), &xs, &target)
        },
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// An LSTM cell. Written naturally it returns `(h, c)` as a tuple of arrays, whose reads in the
// caller do not compile (tests/pending/programs_matrices_from_calls.rs); here the cell returns
// its state as one array [h..., c...], the caller splitting it.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Differentiable)]
struct Lstm {
    /// Rows: input, forget, cell and output gates for each of 2 units; columns: x, h0, h1, bias.
    w: [[f64; 4]; 8],
}

#[differentiate]
fn lstm_step(p: &Lstm, x: f64, state: [f64; 4]) -> [f64; 4] {
    let mut next = [0.0; 4];
    for u in 0..2 {
        let mut gates = [0.0; 4];
        for g in 0..4 {
            let row = 4 * u + g;
            gates[g] =
                p.w[row][0] * x + p.w[row][1] * state[0] + p.w[row][2] * state[1] + p.w[row][3];
        }
        let input = 1.0 / (1.0 + (-gates[0]).exp());
        let forget = 1.0 / (1.0 + (-gates[1]).exp());
        let candidate = gates[2].tanh();
        let output = 1.0 / (1.0 + (-gates[3]).exp());
        let cell = forget * state[2 + u] + input * candidate;
        next[2 + u] = cell;
        next[u] = output * cell.tanh();
    }
    next
}

#[differentiate(wrt(p))]
fn lstm_regression(p: &Lstm, xs: &[f64], ys: &[f64]) -> f64 {
    let mut state = [0.0; 4];
    let mut loss = 0.0;
    for t in 0..xs.len() {
        state = lstm_step(p, xs[t], state);
        let prediction = state[0] - state[1];
        loss += (prediction - ys[t]).powi(2);
    }
    loss / xs.len() as f64
}

fn lstm_step_fd(w: &[[Fd; 4]; 8], x: f64, state: [Fd; 4]) -> [Fd; 4] {
    let mut next = [c(0.0); 4];
    for u in 0..2 {
        let mut gates = [c(0.0); 4];
        for g in 0..4 {
            let row = 4 * u + g;
            gates[g] = w[row][0] * x + w[row][1] * state[0] + w[row][2] * state[1] + w[row][3];
        }
        let input = 1.0 / (1.0 + (-gates[0]).exp());
        let forget = 1.0 / (1.0 + (-gates[1]).exp());
        let candidate = gates[2].tanh();
        let output = 1.0 / (1.0 + (-gates[3]).exp());
        let cell = forget * state[2 + u] + input * candidate;
        next[2 + u] = cell;
        next[u] = output * cell.tanh();
    }
    next
}

fn lstm_regression_fd(w: &[[Fd; 4]; 8], xs: &[f64], ys: &[f64]) -> Fd {
    let mut state = [c(0.0); 4];
    let mut loss = c(0.0);
    for t in 0..xs.len() {
        state = lstm_step_fd(w, xs[t], state);
        let prediction = state[0] - state[1];
        loss += (prediction - ys[t]).powi(2);
    }
    loss / xs.len() as f64
}

#[test]
fn lstm_sequence_regression() {
    let p = Lstm {
        w: std::array::from_fn(|i| {
            std::array::from_fn(|j| 0.6 * ((i * 4 + j) as f64 * 0.37).cos())
        }),
    };
    let xs: Vec<f64> = (0..9).map(|t| (t as f64 * 0.7).sin()).collect();
    let ys: Vec<f64> = (0..9).map(|t| 0.3 * (t as f64 * 0.7 - 0.5).sin()).collect();
    let (value, g) = generated!(lstm_regression_grad, lstm_regression_pullback,
        lstm_regression_grad_into; &p, &xs, &ys);
    check_oracles(
        "lstm_regression",
        &flat(&p.w),
        value,
        &flat(&g.w),
        |q| {
            lstm_regression(
                &Lstm {
                    w: Reader::new(q).m(),
                },
                &xs,
                &ys,
            )
        },
        |q| lstm_regression_fd(&Reader::new(q).m(), &xs, &ys),
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// Scaled dot-product self-attention over 3 tokens, with a softmax per query and a residual.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(wq, wk, wv))]
fn attention_loss(
    wq: &[[f64; 4]; 4],
    wk: &[[f64; 4]; 4],
    wv: &[[f64; 4]; 4],
    tokens: &[[f64; 4]; 3],
    target: &[[f64; 4]; 3],
) -> f64 {
    let mut q = [[0.0; 4]; 3];
    let mut k = [[0.0; 4]; 3];
    let mut v = [[0.0; 4]; 3];
    for t in 0..3 {
        for i in 0..4 {
            for j in 0..4 {
                q[t][i] += wq[i][j] * tokens[t][j];
                k[t][i] += wk[i][j] * tokens[t][j];
                v[t][i] += wv[i][j] * tokens[t][j];
            }
        }
    }
    let scale = 1.0 / 2.0; // 1 / sqrt(d), d = 4
    let mut loss = 0.0;
    for t in 0..3 {
        let mut scores = [0.0; 3];
        let mut max_score = f64::NEG_INFINITY;
        for s in 0..3 {
            let mut dot = 0.0;
            for i in 0..4 {
                dot += q[t][i] * k[s][i];
            }
            scores[s] = dot * scale;
            if scores[s] > max_score {
                max_score = scores[s];
            }
        }
        let mut total = 0.0;
        for s in 0..3 {
            scores[s] = (scores[s] - max_score).exp();
            total += scores[s];
        }
        for i in 0..4 {
            let mut out = tokens[t][i];
            for s in 0..3 {
                out += scores[s] / total * v[s][i];
            }
            loss += (out - target[t][i]).powi(2);
        }
    }
    loss
}

fn attention_loss_fd(
    wq: &[[Fd; 4]; 4],
    wk: &[[Fd; 4]; 4],
    wv: &[[Fd; 4]; 4],
    tokens: &[[f64; 4]; 3],
    target: &[[f64; 4]; 3],
) -> Fd {
    let mut q = [[c(0.0); 4]; 3];
    let mut k = [[c(0.0); 4]; 3];
    let mut v = [[c(0.0); 4]; 3];
    for t in 0..3 {
        for i in 0..4 {
            for j in 0..4 {
                q[t][i] += wq[i][j] * tokens[t][j];
                k[t][i] += wk[i][j] * tokens[t][j];
                v[t][i] += wv[i][j] * tokens[t][j];
            }
        }
    }
    let scale = 1.0 / 2.0;
    let mut loss = c(0.0);
    for t in 0..3 {
        let mut scores = [c(0.0); 3];
        let mut max_score = c(f64::NEG_INFINITY);
        for s in 0..3 {
            let mut dot = c(0.0);
            for i in 0..4 {
                dot += q[t][i] * k[s][i];
            }
            scores[s] = dot * scale;
            if scores[s] > max_score {
                max_score = scores[s];
            }
        }
        let mut total = c(0.0);
        for s in 0..3 {
            scores[s] = (scores[s] - max_score).exp();
            total += scores[s];
        }
        for i in 0..4 {
            let mut out = c(tokens[t][i]);
            for s in 0..3 {
                out += scores[s] / total * v[s][i];
            }
            loss += (out - target[t][i]).powi(2);
        }
    }
    loss
}

#[test]
fn self_attention() {
    let m = |seed: f64| -> [[f64; 4]; 4] {
        std::array::from_fn(|i| {
            std::array::from_fn(|j| 0.5 * ((i * 4 + j) as f64 * 0.77 + seed).sin())
        })
    };
    let (wq, wk, wv) = (m(0.0), m(1.0), m(2.0));
    let tokens: [[f64; 4]; 3] =
        std::array::from_fn(|t| std::array::from_fn(|i| ((t * 4 + i) as f64 * 1.3).cos()));
    let target: [[f64; 4]; 3] =
        std::array::from_fn(|t| std::array::from_fn(|i| 0.2 * (t + i) as f64 - 0.5));
    let (value, g) = generated!(attention_loss_grad, attention_loss_pullback,
        attention_loss_grad_into; &wq, &wk, &wv, &tokens, &target);
    let mut p = flat(&wq);
    p.extend(flat(&wk));
    p.extend(flat(&wv));
    check_oracles(
        "attention_loss",
        &p,
        value,
        &flat(&g),
        |q| {
            let mut r = Reader::new(q);
            attention_loss(&r.m(), &r.m(), &r.m(), &tokens, &target)
        },
        |q| {
            let mut r = Reader::new(q);
            attention_loss_fd(&r.m(), &r.m(), &r.m(), &tokens, &target)
        },
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// k-means: the within-cluster sum of squares, each point to its nearest centroid (a running
// minimum with an index, a branch in a nested loop); the gradient is 2 Σ (c - x) per cluster.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(centroids))]
fn kmeans_objective(centroids: &[[f64; 2]; 3], points: &[[f64; 2]]) -> f64 {
    let mut total = 0.0;
    for p in points.iter() {
        let mut best = f64::INFINITY;
        for k in 0..3 {
            let dx = p[0] - centroids[k][0];
            let dy = p[1] - centroids[k][1];
            let d = dx * dx + dy * dy;
            if d < best {
                best = d;
            }
        }
        total += best;
    }
    total
}

fn kmeans_objective_fd(centroids: &[[Fd; 2]; 3], points: &[[f64; 2]]) -> Fd {
    let mut total = c(0.0);
    for p in points.iter() {
        let mut best = c(f64::INFINITY);
        for k in 0..3 {
            let dx = p[0] - centroids[k][0];
            let dy = p[1] - centroids[k][1];
            let d = dx * dx + dy * dy;
            if d < best {
                best = d;
            }
        }
        total += best;
    }
    total
}

#[test]
fn kmeans_within_cluster_sum_of_squares() {
    let centroids = [[0.0, 0.0], [2.0, 1.0], [-1.0, 2.0]];
    let points: Vec<[f64; 2]> = (0..24)
        .map(|i| {
            let c = centroids[i % 3];
            [
                c[0] + 0.5 * (i as f64 * 1.1).sin(),
                c[1] + 0.5 * (i as f64 * 0.7).cos(),
            ]
        })
        .collect();
    let (value, g) = generated!(kmeans_objective_grad, kmeans_objective_pullback,
        kmeans_objective_grad_into; &centroids, &points);
    let mut expected = [[0.0; 2]; 3];
    for p in &points {
        let d = |k: usize| (p[0] - centroids[k][0]).powi(2) + (p[1] - centroids[k][1]).powi(2);
        let k = (0..3).min_by(|&a, &b| d(a).total_cmp(&d(b))).unwrap();
        for j in 0..2 {
            expected[k][j] += 2.0 * (centroids[k][j] - p[j]);
        }
    }
    for k in 0..3 {
        for j in 0..2 {
            assert_close(g[k][j], expected[k][j], 1e-14, "k-means gradient");
        }
    }
    check_oracles(
        "kmeans_objective",
        &flat(&centroids),
        value,
        &flat(&g),
        |q| kmeans_objective(&Reader::new(q).m(), &points),
        |q| kmeans_objective_fd(&Reader::new(q).m(), &points),
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// A one-dimensional Gaussian mixture: log-likelihood with the weights as a softmax of logits,
// log-sum-exp over components per point (running maximum held constant), parameters in a struct.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Differentiable)]
struct Mixture {
    logits: [f64; 3],
    means: [f64; 3],
    log_sd: [f64; 3],
}

impl Mixture {
    #[differentiate]
    fn log_weights(&self) -> [f64; 3] {
        let m = no_grad(self.logits[0].max(self.logits[1]).max(self.logits[2]));
        let mut total = 0.0;
        for k in 0..3 {
            total += (self.logits[k] - m).exp();
        }
        let log_total = m + total.ln();
        let mut out = [0.0; 3];
        for k in 0..3 {
            out[k] = self.logits[k] - log_total;
        }
        out
    }

    #[differentiate(wrt(self))]
    fn log_likelihood(&self, data: &[f64]) -> f64 {
        let log_w = self.log_weights();
        let mut ll = 0.0;
        for &x in data {
            let mut terms = [0.0; 3];
            let mut m = f64::NEG_INFINITY;
            for k in 0..3 {
                let z = (x - self.means[k]) / self.log_sd[k].exp();
                terms[k] = log_w[k]
                    - 0.5 * z * z
                    - self.log_sd[k]
                    - 0.5 * (2.0 * std::f64::consts::PI).ln();
                m = m.max(terms[k]);
            }
            let m = no_grad(m);
            let mut s = 0.0;
            for k in 0..3 {
                s += (terms[k] - m).exp();
            }
            ll += m + s.ln();
        }
        ll
    }
}

fn mixture_log_likelihood_fd(logits: [Fd; 3], means: [Fd; 3], log_sd: [Fd; 3], data: &[f64]) -> Fd {
    let total: Fd = logits.iter().map(|l| l.exp()).sum();
    let mut ll = c(0.0);
    for &x in data {
        // The plain mixture density, without the log-sum-exp shift: an independent formula.
        let mut density = c(0.0);
        for k in 0..3 {
            let sd = log_sd[k].exp();
            let z = (x - means[k]) / sd;
            density += logits[k].exp() / total * (-0.5 * z * z).exp()
                / (sd * (2.0 * std::f64::consts::PI).sqrt());
        }
        ll += density.ln();
    }
    ll
}

#[test]
fn gaussian_mixture_likelihood() {
    let gmm = Mixture {
        logits: [0.2, -0.3, 0.5],
        means: [-1.0, 0.5, 2.0],
        log_sd: [-0.2, 0.1, 0.3],
    };
    let data: Vec<f64> = (0..30).map(|i| 3.0 * (i as f64 * 0.83).sin()).collect();
    let (value, g) = generated!(gmm => log_likelihood_grad, log_likelihood_pullback,
        log_likelihood_grad_into; &data);
    let mut p = Vec::new();
    gmm.for_each(&mut |v| p.push(v));
    check_oracles(
        "mixture log_likelihood",
        &p,
        value,
        &flat(&g),
        |q| {
            let mut r = Reader::new(q);
            Mixture {
                logits: r.a(),
                means: r.a(),
                log_sd: r.a(),
            }
            .log_likelihood(&data)
        },
        |q| {
            let mut r = Reader::new(q);
            mixture_log_likelihood_fd(r.a(), r.a(), r.a(), &data)
        },
        Tol::default(),
    );
    // The logits' gradient sums to zero (adding a constant to every logit changes nothing).
    let s: f64 = g.logits.iter().sum();
    assert!(s.abs() < 1e-12, "{s}");
}

// ------------------------------------------------------------------------------------------
// Unrolled gradient descent (meta-learning a step size): a few steps on a least-squares loss
// with the hand-written gradient, the final loss differentiated with respect to the step size
// and the initial weights.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(lr, w0))]
fn unrolled_descent(lr: f64, w0: [f64; 3], a: &[[f64; 3]], y: &[f64], steps: usize) -> f64 {
    let mut w = w0;
    let n = a.len() as f64;
    for _ in 0..steps {
        let mut grad = [0.0; 3];
        for i in 0..a.len() {
            let mut r = -y[i];
            for j in 0..3 {
                r += a[i][j] * w[j];
            }
            for j in 0..3 {
                grad[j] += 2.0 * r * a[i][j] / n;
            }
        }
        for j in 0..3 {
            w[j] -= lr * grad[j];
        }
    }
    let mut loss = 0.0;
    for i in 0..a.len() {
        let r = a[i][0] * w[0] + a[i][1] * w[1] + a[i][2] * w[2] - y[i];
        loss += r * r / n;
    }
    loss
}

fn unrolled_descent_fd(lr: Fd, w0: [Fd; 3], a: &[[f64; 3]], y: &[f64], steps: usize) -> Fd {
    let mut w = w0;
    let n = a.len() as f64;
    for _ in 0..steps {
        let mut grad = [c(0.0); 3];
        for i in 0..a.len() {
            let mut r = c(-y[i]);
            for j in 0..3 {
                r += a[i][j] * w[j];
            }
            for j in 0..3 {
                grad[j] += 2.0 * r * a[i][j] / n;
            }
        }
        for j in 0..3 {
            w[j] -= lr * grad[j];
        }
    }
    let mut loss = c(0.0);
    for i in 0..a.len() {
        let r = a[i][0] * w[0] + a[i][1] * w[1] + a[i][2] * w[2] - y[i];
        loss += r * r / n;
    }
    loss
}

#[test]
fn unrolled_gradient_descent() {
    let a = features::<3>(15, 0.9);
    let y: Vec<f64> = a
        .iter()
        .map(|r| r[0] - 2.0 * r[1] + 0.5 * r[2] + 0.1)
        .collect();
    let w0 = [0.0, 0.0, 0.0];
    let (value, g) = generated!(unrolled_descent_grad, unrolled_descent_pullback,
        unrolled_descent_grad_into; 0.3, w0, &a, &y, 12);
    check_oracles(
        "unrolled_descent",
        &[0.3, 0.0, 0.0, 0.0],
        value,
        &flat(&g),
        |q| unrolled_descent(q[0], [q[1], q[2], q[3]], &a, &y, 12),
        |q| unrolled_descent_fd(q[0], [q[1], q[2], q[3]], &a, &y, 12),
        Tol::default(),
    );
    assert!(g.0 < 0.0, "a larger step helps at 0.3: {}", g.0);
}
