//! Programs from many fields, written the way their authors write them, each checked against
//! central finite differences (the value bit for bit against the function): attention, option
//! pricing, an HMM's forward algorithm, Sinkhorn iterations, Cox regression, the heat equation,
//! a small CNN, Bradley-Terry ranking, an N-body integrator, a policy gradient with entropy,
//! splines, an AR model, a neural ODE, kernel ridge regression, tone mapping, a mixture of
//! experts, curve fitting through a residual helper, a sparse regression of adaptors, a graph
//! network, layer norm with GELU, inverse kinematics, matrix factorisation, a Morse potential
//! over a distance matrix, a portfolio, a shooting method, softmax regression, soft k-means, a
//! tridiagonal solve, a ranking loss, an RTS smoother, Lotka-Volterra by RK4, skip-gram, attention
//! weights in a struct, a polygon's edges, negative binomial regression, a spring chain, bond
//! pricing and a CES utility.
#![allow(clippy::needless_range_loop)] // index loops are how this numerical code is written

use autodiff_core::{Differentiable, differentiate, no_grad, numeric_gradient};

/// `got` within `tol` of `want`, relative to the largest of `want`'s components (at least 1).
fn close(name: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    let scale = want.iter().fold(1.0f64, |m, w| m.max(w.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * scale,
            "{name}[{i}]: got {g}, want {w} (scale {scale})"
        );
    }
}

// 1. single-head attention, softmax per row with max subtraction
#[differentiate(wrt(q, k, v))]
fn attention_loss(q: &[Vec<f64>], k: &[Vec<f64>], v: &[Vec<f64>], target: &[Vec<f64>]) -> f64 {
    let n = q.len();
    let d = q[0].len();
    let scale = 1.0 / (d as f64).sqrt();
    let mut loss = 0.0;
    for i in 0..n {
        let mut scores = vec![0.0; n];
        for j in 0..n {
            let mut s = 0.0;
            for t in 0..d {
                s += q[i][t] * k[j][t];
            }
            scores[j] = s * scale;
        }
        let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let mut z = 0.0;
        for j in 0..n {
            scores[j] = (scores[j] - m).exp();
            z += scores[j];
        }
        for t in 0..d {
            let mut out = 0.0;
            for j in 0..n {
                out += scores[j] / z * v[j][t];
            }
            let e = out - target[i][t];
            loss += e * e;
        }
    }
    loss / n as f64
}

#[test]
fn attention() {
    let n = 4;
    let d = 3;
    let mk = |s: f64| -> Vec<Vec<f64>> {
        (0..n)
            .map(|i| (0..d).map(|t| ((i * 7 + t * 3) as f64 * s).sin()).collect())
            .collect()
    };
    let (q, k, v, tg) = (mk(0.3), mk(0.5), mk(0.7), mk(1.1));
    let (val, (gq, gk, gv)) = attention_loss_grad(&q, &k, &v, &tg);
    assert_eq!(val, attention_loss(&q, &k, &v, &tg));
    let flat: Vec<f64> = [&q, &k, &v]
        .iter()
        .flat_map(|m| m.iter().flatten().cloned())
        .collect();
    let unflat = |x: &[f64], o: usize| -> Vec<Vec<f64>> {
        (0..n)
            .map(|i| x[o + i * d..o + i * d + d].to_vec())
            .collect()
    };
    let fd = numeric_gradient(
        |x| attention_loss(&unflat(x, 0), &unflat(x, n * d), &unflat(x, 2 * n * d), &tg),
        &flat,
    );
    let got: Vec<f64> = [&gq, &gk, &gv]
        .iter()
        .flat_map(|m| m.iter().flatten().cloned())
        .collect();
    close("attention", &got, &fd, 1e-7);
}

// 2. Black-Scholes with an erf approximation (Abramowitz-Stegun 7.1.26), a differentiated
// helper calling another.
#[differentiate]
fn norm_cdf(x: f64) -> f64 {
    0.5 * (1.0 + erf_diff(x / std::f64::consts::SQRT_2))
}

#[differentiate]
fn erf_diff(x: f64) -> f64 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
            + 0.254829592)
            * t
            * (-x * x).exp();
    sign * y
}

#[differentiate(wrt(spot, vol, rate, maturity))]
fn call_price(spot: f64, strike: f64, vol: f64, rate: f64, maturity: f64) -> f64 {
    let sqrt_t = maturity.sqrt();
    let d1 = ((spot / strike).ln() + (rate + 0.5 * vol * vol) * maturity) / (vol * sqrt_t);
    let d2 = d1 - vol * sqrt_t;
    spot * norm_cdf(d1) - strike * (-rate * maturity).exp() * norm_cdf(d2)
}

#[test]
fn black_scholes() {
    for &(s, kk) in &[(100.0, 95.0), (80.0, 100.0), (100.0, 100.0)] {
        let (val, g) = call_price_grad(s, kk, 0.2, 0.03, 1.5);
        assert_eq!(val, call_price(s, kk, 0.2, 0.03, 1.5));
        let fd = numeric_gradient(
            |x| call_price(x[0], kk, x[1], x[2], x[3]),
            &[s, 0.2, 0.03, 1.5],
        );
        close("bs", &[g.0, g.1, g.2, g.3], &fd, 1e-8);
    }
}

// 3. HMM forward algorithm in log space
#[differentiate(wrt(log_init, log_trans, log_emit))]
fn hmm_loglik(
    log_init: &[f64],
    log_trans: &[Vec<f64>],
    log_emit: &[Vec<f64>],
    obs: &[usize],
) -> f64 {
    let s = log_init.len();
    let mut alpha: Vec<f64> = (0..s).map(|i| log_init[i] + log_emit[i][obs[0]]).collect();
    for &o in &obs[1..] {
        let mut next = vec![0.0; s];
        for j in 0..s {
            let mut m = f64::NEG_INFINITY;
            for i in 0..s {
                m = m.max(alpha[i] + log_trans[i][j]);
            }
            let mut acc = 0.0;
            for i in 0..s {
                acc += (alpha[i] + log_trans[i][j] - m).exp();
            }
            next[j] = m + acc.ln() + log_emit[j][o];
        }
        alpha = next;
    }
    let m = alpha.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    m + alpha.iter().map(|a| (a - m).exp()).sum::<f64>().ln()
}

#[test]
fn hmm() {
    let s = 3;
    let e = 4;
    let li: Vec<f64> = (0..s).map(|i| -1.0 - 0.1 * i as f64).collect();
    let lt: Vec<Vec<f64>> = (0..s)
        .map(|i| {
            (0..s)
                .map(|j| -0.5 - 0.3 * ((i + 2 * j) % 3) as f64)
                .collect()
        })
        .collect();
    let le: Vec<Vec<f64>> = (0..s)
        .map(|i| {
            (0..e)
                .map(|j| -0.7 - 0.2 * ((3 * i + j) % 4) as f64)
                .collect()
        })
        .collect();
    let obs = [0usize, 2, 1, 3, 3, 0, 1];
    let (val, (gi, gt, ge)) = hmm_loglik_grad(&li, &lt, &le, &obs);
    assert_eq!(val, hmm_loglik(&li, &lt, &le, &obs));
    let mut flat = li.clone();
    flat.extend(lt.iter().flatten());
    flat.extend(le.iter().flatten());
    let fd = numeric_gradient(
        |x| {
            let li = x[..s].to_vec();
            let lt: Vec<Vec<f64>> = (0..s)
                .map(|i| x[s + i * s..s + i * s + s].to_vec())
                .collect();
            let o = s + s * s;
            let le: Vec<Vec<f64>> = (0..s)
                .map(|i| x[o + i * e..o + i * e + e].to_vec())
                .collect();
            hmm_loglik(&li, &lt, &le, &obs)
        },
        &flat,
    );
    let mut got = gi.clone();
    got.extend(gt.iter().flatten());
    got.extend(ge.iter().flatten());
    close("hmm", &got, &fd, 1e-8);
}

// 4. Sinkhorn (entropic OT) with fixed iterations, Vec reassignment inside the loop
#[differentiate(wrt(cost))]
fn sinkhorn(cost: &[Vec<f64>], a: &[f64], b: &[f64], eps: f64, iters: usize) -> f64 {
    let n = a.len();
    let m = b.len();
    let mut kmat = vec![vec![0.0; m]; n];
    for i in 0..n {
        for j in 0..m {
            kmat[i][j] = (-cost[i][j] / eps).exp();
        }
    }
    let mut u = vec![1.0; n];
    let mut v = vec![1.0; m];
    for _ in 0..iters {
        for i in 0..n {
            let mut s = 0.0;
            for j in 0..m {
                s += kmat[i][j] * v[j];
            }
            u[i] = a[i] / s;
        }
        for j in 0..m {
            let mut s = 0.0;
            for i in 0..n {
                s += kmat[i][j] * u[i];
            }
            v[j] = b[j] / s;
        }
    }
    let mut total = 0.0;
    for i in 0..n {
        for j in 0..m {
            total += u[i] * kmat[i][j] * v[j] * cost[i][j];
        }
    }
    total
}

#[test]
fn sinkhorn_ot() {
    let n = 3;
    let m = 4;
    let cost: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..m)
                .map(|j| ((i as f64) - 0.7 * j as f64).powi(2) * 0.3)
                .collect()
        })
        .collect();
    let a = vec![0.2, 0.5, 0.3];
    let b = vec![0.25, 0.25, 0.3, 0.2];
    let (val, g) = sinkhorn_grad(&cost, &a, &b, 0.5, 20);
    assert_eq!(val, sinkhorn(&cost, &a, &b, 0.5, 20));
    let flat: Vec<f64> = cost.iter().flatten().cloned().collect();
    let fd = numeric_gradient(
        |x| {
            sinkhorn(
                &(0..n)
                    .map(|i| x[i * m..i * m + m].to_vec())
                    .collect::<Vec<_>>(),
                &a,
                &b,
                0.5,
                20,
            )
        },
        &flat,
    );
    let got: Vec<f64> = g.iter().flatten().cloned().collect();
    close("sinkhorn", &got, &fd, 1e-7);
}

// 5. Cox partial likelihood: sorted by time, risk set via reverse cumulative sum
#[differentiate(wrt(beta))]
fn cox_nll(beta: &[f64], x: &[Vec<f64>], time: &[f64], event: &[bool]) -> f64 {
    let n = x.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| time[i].partial_cmp(&time[j]).unwrap());
    let eta: Vec<f64> = x
        .iter()
        .map(|xi| xi.iter().zip(beta).map(|(a, b)| a * b).sum::<f64>())
        .collect();
    let mut risk = 0.0;
    let mut nll = 0.0;
    for &i in order.iter().rev() {
        risk += eta[i].exp();
        if event[i] {
            nll -= eta[i] - risk.ln();
        }
    }
    nll
}

#[test]
fn cox() {
    let n = 7;
    let x: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            vec![
                (i as f64 * 0.7).sin(),
                (i as f64 * 1.3).cos(),
                0.1 * i as f64,
            ]
        })
        .collect();
    let time: Vec<f64> = (0..n).map(|i| ((i * 5) % 7) as f64 + 0.5).collect();
    let event: Vec<bool> = (0..n).map(|i| i % 3 != 0).collect();
    let beta = vec![0.3, -0.2, 0.5];
    let (val, g) = cox_nll_grad(&beta, &x, &time, &event);
    assert_eq!(val, cox_nll(&beta, &x, &time, &event));
    let fd = numeric_gradient(|b| cox_nll(b, &x, &time, &event), &beta);
    close("cox", &g, &fd, 1e-8);
}

// 6. Heat equation, explicit scheme, u = next each step; loss on final profile
#[differentiate(wrt(u0, alpha))]
fn heat(u0: &[f64], alpha: f64, steps: usize, target: &[f64]) -> f64 {
    let n = u0.len();
    let mut u = u0.to_vec();
    for _ in 0..steps {
        let mut next = u.clone();
        for i in 1..n - 1 {
            next[i] = u[i] + alpha * (u[i - 1] - 2.0 * u[i] + u[i + 1]);
        }
        u = next;
    }
    u.iter()
        .zip(target)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
}

#[test]
fn heat_eq() {
    let u0: Vec<f64> = (0..8).map(|i| (i as f64 * 0.4).sin()).collect();
    let target: Vec<f64> = (0..8).map(|i| 0.1 * i as f64).collect();
    let (val, (gu, ga)) = heat_grad(&u0, 0.2, 10, &target);
    assert_eq!(val, heat(&u0, 0.2, 10, &target));
    let mut flat = u0.clone();
    flat.push(0.2);
    let fd = numeric_gradient(|x| heat(&x[..8], x[8], 10, &target), &flat);
    let mut got = gu.clone();
    got.push(ga);
    close("heat", &got, &fd, 1e-8);
}

// 7. conv1d + relu + max pool via windows + linear head
#[differentiate(wrt(kernel, w))]
fn conv_net(signal: &[f64], kernel: &[f64; 3], w: &[f64], bias: f64) -> f64 {
    let conv: Vec<f64> = signal
        .windows(3)
        .map(|win| (win[0] * kernel[0] + win[1] * kernel[1] + win[2] * kernel[2] + bias).max(0.0))
        .collect();
    let pooled: Vec<f64> = conv
        .chunks(2)
        .map(|c| c.iter().cloned().fold(f64::NEG_INFINITY, f64::max))
        .collect();
    let mut out = 0.0;
    for (p, wi) in pooled.iter().zip(w) {
        out += p * wi;
    }
    (out - 1.0).powi(2)
}

#[test]
fn conv() {
    let signal: Vec<f64> = (0..11).map(|i| (i as f64 * 0.9).sin() + 0.3).collect();
    let kernel = [0.5, -0.3, 0.8];
    let w: Vec<f64> = (0..5).map(|i| 0.2 + 0.1 * i as f64).collect();
    let (val, (gk, gw)) = conv_net_grad(&signal, &kernel, &w, 0.05);
    assert_eq!(val, conv_net(&signal, &kernel, &w, 0.05));
    let mut flat = kernel.to_vec();
    flat.extend(&w);
    let fd = numeric_gradient(
        |x| conv_net(&signal, &[x[0], x[1], x[2]], &x[3..], 0.05),
        &flat,
    );
    let mut got = gk.to_vec();
    got.extend(&gw);
    close("conv", &got, &fd, 1e-7);
}

// 8. Bradley-Terry with matches as tuples
#[differentiate(wrt(skill))]
fn bradley_terry(skill: &[f64], matches: &[(usize, usize, bool)], l2: f64) -> f64 {
    let mut nll = 0.0;
    for &(a, b, a_won) in matches {
        let diff = skill[a] - skill[b];
        let p = 1.0 / (1.0 + (-diff).exp());
        nll -= if a_won { p.ln() } else { (1.0 - p).ln() };
    }
    nll + l2 * skill.iter().map(|s| s * s).sum::<f64>()
}

#[test]
fn bt() {
    let skill = vec![0.1, -0.4, 0.7, 0.0];
    let matches = vec![
        (0, 1, true),
        (1, 2, false),
        (2, 3, true),
        (3, 0, false),
        (0, 2, false),
    ];
    let (val, g) = bradley_terry_grad(&skill, &matches, 0.01);
    assert_eq!(val, bradley_terry(&skill, &matches, 0.01));
    let fd = numeric_gradient(|s| bradley_terry(s, &matches, 0.01), &skill);
    close("bt", &g, &fd, 1e-8);
}

// 9. N-body leapfrog with a struct of arrays
#[derive(Clone, Copy)]
struct Body {
    pos: [f64; 2],
    vel: [f64; 2],
}

#[differentiate(wrt(masses))]
fn nbody_energy_drift(masses: &[f64], bodies: &[Body], dt: f64, steps: usize) -> f64 {
    let n = bodies.len();
    let mut pos = vec![[0.0; 2]; n];
    let mut vel = vec![[0.0; 2]; n];
    for i in 0..n {
        pos[i] = bodies[i].pos;
        vel[i] = bodies[i].vel;
    }
    for _ in 0..steps {
        let mut acc = vec![[0.0; 2]; n];
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let dx = pos[j][0] - pos[i][0];
                    let dy = pos[j][1] - pos[i][1];
                    let r2 = dx * dx + dy * dy + 0.01;
                    let inv = masses[j] / (r2 * r2.sqrt());
                    acc[i][0] += dx * inv;
                    acc[i][1] += dy * inv;
                }
            }
        }
        for i in 0..n {
            vel[i][0] += dt * acc[i][0];
            vel[i][1] += dt * acc[i][1];
            pos[i][0] += dt * vel[i][0];
            pos[i][1] += dt * vel[i][1];
        }
    }
    let mut ke = 0.0;
    for i in 0..n {
        ke += 0.5 * masses[i] * (vel[i][0] * vel[i][0] + vel[i][1] * vel[i][1]);
    }
    ke
}

#[test]
fn nbody() {
    let bodies: Vec<Body> = (0..4)
        .map(|i| {
            let a = i as f64 * 1.7;
            Body {
                pos: [a.cos(), a.sin()],
                vel: [-0.2 * a.sin(), 0.2 * a.cos()],
            }
        })
        .collect();
    let masses = vec![1.0, 0.5, 0.8, 0.3];
    let (val, g) = nbody_energy_drift_grad(&masses, &bodies, 0.01, 15);
    assert_eq!(val, nbody_energy_drift(&masses, &bodies, 0.01, 15));
    let fd = numeric_gradient(|m| nbody_energy_drift(m, &bodies, 0.01, 15), &masses);
    close("nbody", &g, &fd, 1e-8);
}

// 10. entropy-regularized softmax policy with no_grad baseline
#[differentiate(wrt(logits))]
fn policy_loss(logits: &[f64], rewards: &[f64], beta: f64) -> f64 {
    let m = no_grad(logits.iter().cloned().fold(f64::MIN, f64::max));
    let exps: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
    let z: f64 = exps.iter().sum();
    let probs: Vec<f64> = exps.iter().map(|e| e / z).collect();
    let baseline = no_grad(rewards.iter().sum::<f64>() / rewards.len() as f64);
    let mut loss = 0.0;
    let mut entropy = 0.0;
    for (p, r) in probs.iter().zip(rewards) {
        loss -= p * (r - baseline);
        if *p > 0.0 {
            entropy -= p * p.ln();
        }
    }
    loss - beta * entropy
}

#[test]
fn policy() {
    let logits = vec![0.2, 1.5, -0.3, 0.9];
    let rewards = vec![1.0, 0.0, 2.0, -1.0];
    let (val, g) = policy_loss_grad(&logits, &rewards, 0.1);
    assert_eq!(val, policy_loss(&logits, &rewards, 0.1));
    let fd = numeric_gradient(|l| policy_loss(l, &rewards, 0.1), &logits);
    close("policy", &g, &fd, 1e-8);
}

// 11. cubic spline evaluation with binary search on knots (partition_point)
#[differentiate(wrt(values, slopes))]
fn spline_fit(knots: &[f64], values: &[f64], slopes: &[f64], xs: &[f64], ys: &[f64]) -> f64 {
    let mut sse = 0.0;
    for (&x, &y) in xs.iter().zip(ys) {
        let k = knots.partition_point(|&t| t <= x).clamp(1, knots.len() - 1) - 1;
        let h = knots[k + 1] - knots[k];
        let t = (x - knots[k]) / h;
        let h00 = 2.0 * t * t * t - 3.0 * t * t + 1.0;
        let h10 = t * t * t - 2.0 * t * t + t;
        let h01 = -2.0 * t * t * t + 3.0 * t * t;
        let h11 = t * t * t - t * t;
        let p =
            h00 * values[k] + h10 * h * slopes[k] + h01 * values[k + 1] + h11 * h * slopes[k + 1];
        sse += (p - y) * (p - y);
    }
    sse
}

#[test]
fn spline() {
    let knots = [0.0, 1.0, 2.5, 4.0];
    let values = vec![0.0, 0.8, 0.3, -0.5];
    let slopes = vec![1.0, 0.0, -0.5, 0.2];
    let xs: Vec<f64> = (0..12).map(|i| i as f64 * 0.33).collect();
    let ys: Vec<f64> = xs.iter().map(|x: &f64| x.sin()).collect();
    let (val, (gv, gs)) = spline_fit_grad(&knots, &values, &slopes, &xs, &ys);
    assert_eq!(val, spline_fit(&knots, &values, &slopes, &xs, &ys));
    let mut flat = values.clone();
    flat.extend(&slopes);
    let fd = numeric_gradient(|p| spline_fit(&knots, &p[..4], &p[4..], &xs, &ys), &flat);
    let mut got = gv.clone();
    got.extend(&gs);
    close("spline", &got, &fd, 1e-8);
}

// 12. AR(p) Gaussian log-likelihood via windows
#[differentiate(wrt(phi, log_sigma))]
fn ar_nll(series: &[f64], phi: &[f64], log_sigma: f64) -> f64 {
    let p = phi.len();
    let sigma2 = (2.0 * log_sigma).exp();
    let mut nll = 0.0;
    for w in series.windows(p + 1) {
        let pred: f64 = phi
            .iter()
            .zip(w.iter().rev().skip(1))
            .map(|(a, b)| a * b)
            .sum();
        let e = w[p] - pred;
        nll += 0.5 * e * e / sigma2 + log_sigma;
    }
    nll
}

#[test]
fn ar() {
    let series: Vec<f64> = (0..30)
        .map(|i| (i as f64 * 0.37).sin() + 0.1 * (i as f64 * 2.1).cos())
        .collect();
    let phi = vec![0.5, -0.2, 0.1];
    let (val, (gp, gs)) = ar_nll_grad(&series, &phi, -0.3);
    assert_eq!(val, ar_nll(&series, &phi, -0.3));
    let fd = numeric_gradient(|x| ar_nll(&series, &x[..3], x[3]), &[0.5, -0.2, 0.1, -0.3]);
    let mut got = gp.clone();
    got.push(gs);
    close("ar", &got, &fd, 1e-8);
}

// 13. Neural ODE: tanh MLP dynamics, Euler steps, struct params with method
#[derive(Clone, Differentiable)]
struct Field {
    w1: Vec<Vec<f64>>,
    b1: Vec<f64>,
    w2: Vec<Vec<f64>>,
}

impl Field {
    #[differentiate]
    fn rhs(&self, state: &[f64]) -> Vec<f64> {
        let h: Vec<f64> = self
            .w1
            .iter()
            .zip(&self.b1)
            .map(|(row, b)| (row.iter().zip(state).map(|(w, s)| w * s).sum::<f64>() + b).tanh())
            .collect();
        self.w2
            .iter()
            .map(|row| row.iter().zip(&h).map(|(w, x)| w * x).sum::<f64>())
            .collect()
    }
}

#[differentiate(wrt(field))]
fn ode_loss(field: &Field, x0: &[f64], dt: f64, steps: usize, target: &[f64]) -> f64 {
    let mut x = x0.to_vec();
    for _ in 0..steps {
        let dx = field.rhs(&x);
        for i in 0..x.len() {
            x[i] += dt * dx[i];
        }
    }
    x.iter().zip(target).map(|(a, b)| (a - b) * (a - b)).sum()
}

#[test]
fn neural_ode() {
    let h = 4;
    let d = 2;
    let f = Field {
        w1: (0..h)
            .map(|i| {
                (0..d)
                    .map(|j| ((i * 3 + j) as f64 * 0.7).sin() * 0.5)
                    .collect()
            })
            .collect(),
        b1: (0..h).map(|i| 0.1 * i as f64 - 0.15).collect(),
        w2: (0..d)
            .map(|i| {
                (0..h)
                    .map(|j| ((i * 5 + j) as f64 * 0.3).cos() * 0.4)
                    .collect()
            })
            .collect(),
    };
    let x0 = [1.0, -0.5];
    let target = [0.3, 0.2];
    let (val, g) = ode_loss_grad(&f, &x0, 0.1, 12, &target);
    assert_eq!(val, ode_loss(&f, &x0, 0.1, 12, &target));
    let flat = |f: &Field| -> Vec<f64> {
        let mut v: Vec<f64> = f.w1.iter().flatten().cloned().collect();
        v.extend(&f.b1);
        v.extend(f.w2.iter().flatten());
        v
    };
    let fd = numeric_gradient(
        |p| {
            let f = Field {
                w1: (0..h).map(|i| p[i * d..i * d + d].to_vec()).collect(),
                b1: p[h * d..h * d + h].to_vec(),
                w2: (0..d)
                    .map(|i| p[h * d + h + i * h..h * d + h + i * h + h].to_vec())
                    .collect(),
            };
            ode_loss(&f, &x0, 0.1, 12, &target)
        },
        &flat(&f),
    );
    close("ode", &flat(&g), &fd, 1e-8);
}

// 14. Kernel ridge objective with an RBF kernel built by closures
#[differentiate(wrt(alpha, log_len))]
fn krr(alpha: &[f64], log_len: f64, xs: &[[f64; 2]], ys: &[f64], lambda: f64) -> f64 {
    let ell2 = (2.0 * log_len).exp();
    let k = |a: &[f64; 2], b: &[f64; 2]| -> f64 {
        let d0 = a[0] - b[0];
        let d1 = a[1] - b[1];
        (-(d0 * d0 + d1 * d1) / (2.0 * ell2)).exp()
    };
    let n = xs.len();
    let mut loss = 0.0;
    for i in 0..n {
        let mut f = 0.0;
        for j in 0..n {
            f += alpha[j] * k(&xs[i], &xs[j]);
        }
        loss += (f - ys[i]).powi(2);
    }
    let mut reg = 0.0;
    for i in 0..n {
        for j in 0..n {
            reg += alpha[i] * alpha[j] * k(&xs[i], &xs[j]);
        }
    }
    loss + lambda * reg
}

#[test]
fn kernel_ridge() {
    let xs: Vec<[f64; 2]> = (0..5)
        .map(|i| [(i as f64).sin(), (i as f64 * 0.5).cos()])
        .collect();
    let ys: Vec<f64> = (0..5).map(|i| 0.3 * i as f64 - 0.4).collect();
    let alpha = vec![0.1, -0.2, 0.3, 0.05, -0.1];
    let (val, (ga, gl)) = krr_grad(&alpha, 0.2, &xs, &ys, 0.1);
    assert_eq!(val, krr(&alpha, 0.2, &xs, &ys, 0.1));
    let mut flat = alpha.clone();
    flat.push(0.2);
    let fd = numeric_gradient(|p| krr(&p[..5], p[5], &xs, &ys, 0.1), &flat);
    let mut got = ga.clone();
    got.push(gl);
    close("krr", &got, &fd, 1e-8);
}

// 15. photometric: gamma, clamp, mul_add, powf with learned exponent
#[differentiate(wrt(gain, gamma, offset))]
fn tone_map(pixels: &[f64], reference: &[f64], gain: f64, gamma: f64, offset: f64) -> f64 {
    let mut err = 0.0;
    for (&p, &r) in pixels.iter().zip(reference) {
        let lin = p.mul_add(gain, offset).clamp(0.0, 1.0);
        let out = lin.powf(1.0 / gamma);
        err += (out - r).abs().min(0.5);
    }
    err / pixels.len() as f64
}

#[test]
fn tone() {
    let pixels: Vec<f64> = (0..9).map(|i| 0.05 + 0.1 * i as f64).collect();
    let reference: Vec<f64> = pixels.iter().map(|p| p.powf(0.45) * 0.9 + 0.013).collect();
    let (val, g) = tone_map_grad(&pixels, &reference, 1.1, 2.0, 0.02);
    assert_eq!(val, tone_map(&pixels, &reference, 1.1, 2.0, 0.02));
    let fd = numeric_gradient(
        |x| tone_map(&pixels, &reference, x[0], x[1], x[2]),
        &[1.1, 2.0, 0.02],
    );
    close("tone", &[g.0, g.1, g.2], &fd, 1e-7);
}

// 16. Mixture of experts: gate softmax, expert argmax under no_grad used as index
#[differentiate(wrt(gate_w, experts))]
fn moe(gate_w: &[Vec<f64>], experts: &[Vec<f64>], x: &[f64], y: f64) -> f64 {
    let logits: Vec<f64> = gate_w
        .iter()
        .map(|w| w.iter().zip(x).map(|(a, b)| a * b).sum::<f64>())
        .collect();
    let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = logits.iter().map(|l| (l - m).exp()).sum();
    let mut pred = 0.0;
    for (l, e) in logits.iter().zip(experts) {
        let g = (l - m).exp() / z;
        let out: f64 = e.iter().zip(x).map(|(a, b)| a * b).sum();
        pred += g * out;
    }
    let best = logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.partial_cmp(b.1).unwrap())
        .map(|(i, _)| i)
        .unwrap();
    let aux: f64 = experts[best].iter().map(|v| v * v).sum();
    (pred - y).powi(2) + 0.01 * aux
}

#[test]
fn mixture_of_experts() {
    let e = 3;
    let d = 4;
    let gw: Vec<Vec<f64>> = (0..e)
        .map(|i| (0..d).map(|j| ((i * 4 + j) as f64 * 0.61).sin()).collect())
        .collect();
    let ex: Vec<Vec<f64>> = (0..e)
        .map(|i| (0..d).map(|j| ((i * 2 + j) as f64 * 0.37).cos()).collect())
        .collect();
    let x = [0.5, -1.0, 0.25, 0.8];
    let (val, (ggw, gex)) = moe_grad(&gw, &ex, &x, 0.7);
    assert_eq!(val, moe(&gw, &ex, &x, 0.7));
    let mut flat: Vec<f64> = gw.iter().flatten().cloned().collect();
    flat.extend(ex.iter().flatten());
    let fd = numeric_gradient(
        |p| {
            let gw: Vec<Vec<f64>> = (0..e).map(|i| p[i * d..i * d + d].to_vec()).collect();
            let ex: Vec<Vec<f64>> = (0..e)
                .map(|i| p[e * d + i * d..e * d + i * d + d].to_vec())
                .collect();
            moe(&gw, &ex, &x, 0.7)
        },
        &flat,
    );
    let mut got: Vec<f64> = ggw.iter().flatten().cloned().collect();
    got.extend(gex.iter().flatten());
    close("moe", &got, &fd, 1e-8);
}

// 17. Gauss-Newton style residual helper returning a Vec, called from the objective
#[differentiate]
fn residuals(params: &[f64; 3], ts: &[f64], ys: &[f64]) -> Vec<f64> {
    ts.iter()
        .zip(ys)
        .map(|(&t, &y)| params[0] * (-params[1] * t).exp() + params[2] - y)
        .collect()
}

#[differentiate]
fn decay_fit(params: &[f64; 3], ts: &[f64], ys: &[f64]) -> f64 {
    let r = residuals(params, ts, ys);
    0.5 * r.iter().map(|v| v * v).sum::<f64>()
}

#[test]
fn decay() {
    let ts: Vec<f64> = (0..10).map(|i| i as f64 * 0.4).collect();
    let ys: Vec<f64> = ts.iter().map(|t| 2.0 * (-0.7 * t).exp() + 0.3).collect();
    let p = [1.5, 0.5, 0.1];
    let (val, g) = decay_fit_grad(&p, &ts, &ys);
    assert_eq!(val, decay_fit(&p, &ts, &ys));
    let fd = numeric_gradient(|x| decay_fit(&[x[0], x[1], x[2]], &ts, &ys), &p);
    close("decay", &g.0, &fd, 1e-8);
}

// 18. Elastic net via iterator adaptors: filter_map, enumerate, skip, step_by
#[differentiate(wrt(w))]
fn sparse_loss(w: &[f64], xs: &[Vec<f64>], ys: &[f64], l1: f64) -> f64 {
    let data: f64 = xs
        .iter()
        .zip(ys)
        .enumerate()
        .filter(|(i, _)| i % 4 != 3)
        .map(|(_, (x, y))| {
            let p: f64 = x.iter().zip(w).map(|(a, b)| a * b).sum();
            (p - y).powi(2)
        })
        .sum();
    let pen: f64 = w.iter().skip(1).step_by(1).map(|v| v.abs()).sum();
    data + l1 * pen
}

#[test]
fn sparse() {
    let xs: Vec<Vec<f64>> = (0..9)
        .map(|i| vec![1.0, (i as f64).sin(), (i as f64 * 0.3).cos()])
        .collect();
    let ys: Vec<f64> = (0..9).map(|i| 0.5 * i as f64 - 1.0).collect();
    let w = vec![0.2, -0.7, 0.4];
    let (val, g) = sparse_loss_grad(&w, &xs, &ys, 0.05);
    assert_eq!(val, sparse_loss(&w, &xs, &ys, 0.05));
    let fd = numeric_gradient(|p| sparse_loss(p, &xs, &ys, 0.05), &w);
    close("sparse", &g, &fd, 1e-8);
}

fn unflat(x: &[f64], rows: usize) -> Vec<Vec<f64>> {
    let c = x.len() / rows;
    (0..rows).map(|i| x[i * c..(i + 1) * c].to_vec()).collect()
}

// 19. GNN message passing over an adjacency list parameter, mean aggregation, collected rows
#[differentiate(wrt(h, w))]
fn gnn(h: &[Vec<f64>], adj: &[Vec<usize>], w: &[Vec<f64>]) -> f64 {
    let n = h.len();
    let d = h[0].len();
    let agg: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let deg = adj[i].len().max(1) as f64;
            (0..d)
                .map(|k| adj[i].iter().map(|&j| h[j][k]).sum::<f64>() / deg)
                .collect()
        })
        .collect();
    let out: Vec<Vec<f64>> = agg
        .iter()
        .map(|a| {
            w.iter()
                .map(|wr| wr.iter().zip(a).map(|(x, y)| x * y).sum::<f64>().tanh())
                .collect()
        })
        .collect();
    out.iter().flatten().map(|v| v * v).sum()
}

#[test]
fn gnn_test() {
    let h: Vec<Vec<f64>> = (0..4)
        .map(|i| (0..3).map(|k| ((i * 3 + k) as f64 * 0.4).sin()).collect())
        .collect();
    let w: Vec<Vec<f64>> = (0..2)
        .map(|i| (0..3).map(|k| ((i * 5 + k) as f64 * 0.3).cos()).collect())
        .collect();
    let adj = vec![vec![1, 2], vec![0], vec![0, 1, 3], vec![]];
    let (v, (gh, gw)) = gnn_grad(&h, &adj, &w);
    assert_eq!(v, gnn(&h, &adj, &w));
    let mut flat: Vec<f64> = h.concat();
    flat.extend(w.concat());
    let fd = numeric_gradient(
        |p| gnn(&unflat(&p[..12], 4), &adj, &unflat(&p[12..], 2)),
        &flat,
    );
    let mut got = gh.concat();
    got.extend(gw.concat());
    close("gnn", &got, &fd, 1e-8);
}

// 20. Transformer block pieces: layer norm per row, GELU, residual
#[differentiate(wrt(x, gamma, beta))]
fn ln_gelu(x: &[Vec<f64>], gamma: &[f64], beta: &[f64]) -> f64 {
    let normed: Vec<Vec<f64>> = x
        .iter()
        .map(|row| {
            let n = row.len() as f64;
            let mean = row.iter().sum::<f64>() / n;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            let inv = 1.0 / (var + 1e-5).sqrt();
            row.iter()
                .zip(gamma.iter().zip(beta))
                .map(|(v, (g, b))| (v - mean) * inv * g + b)
                .collect()
        })
        .collect();
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let mut s = 0.0;
    for (row, xr) in normed.iter().zip(x) {
        for (v, xv) in row.iter().zip(xr) {
            let gelu = 0.5 * v * (1.0 + (c * (v + 0.044715 * v.powi(3))).tanh());
            s += (gelu + xv).powi(2);
        }
    }
    s
}

#[test]
fn ln_gelu_test() {
    let x: Vec<Vec<f64>> = (0..3)
        .map(|i| (0..4).map(|k| ((i * 4 + k) as f64 * 0.9).sin()).collect())
        .collect();
    let gamma = vec![1.0, 0.8, 1.2, 0.9];
    let beta = vec![0.0, 0.1, -0.1, 0.05];
    let (v, (gx, gg, gb)) = ln_gelu_grad(&x, &gamma, &beta);
    assert_eq!(v, ln_gelu(&x, &gamma, &beta));
    let mut flat = x.concat();
    flat.extend(&gamma);
    flat.extend(&beta);
    let fd = numeric_gradient(
        |p| ln_gelu(&unflat(&p[..12], 3), &p[12..16], &p[16..]),
        &flat,
    );
    let mut got = gx.concat();
    got.extend(gg);
    got.extend(gb);
    close("ln_gelu", &got, &fd, 1e-7);
}

// 21. Inverse kinematics with a Differentiable arm struct and method
#[derive(Clone, Differentiable)]
struct Arm {
    lengths: Vec<f64>,
}

impl Arm {
    #[differentiate]
    fn tip(&self, angles: &[f64]) -> [f64; 2] {
        let mut p = [0.0, 0.0];
        let mut theta = 0.0;
        for (l, a) in self.lengths.iter().zip(angles) {
            theta += a;
            p[0] += l * theta.cos();
            p[1] += l * theta.sin();
        }
        p
    }
}

#[differentiate(wrt(angles))]
fn ik_loss(arm: &Arm, angles: &[f64], target: [f64; 2]) -> f64 {
    let p = arm.tip(angles);
    let reg: f64 = angles.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
    (p[0] - target[0]).powi(2) + (p[1] - target[1]).powi(2) + 0.01 * reg
}

#[test]
fn ik() {
    let arm = Arm {
        lengths: vec![1.0, 0.8, 0.5],
    };
    let angles = vec![0.3, -0.5, 0.9];
    let (v, g) = ik_loss_grad(&arm, &angles, [1.2, 0.7]);
    assert_eq!(v, ik_loss(&arm, &angles, [1.2, 0.7]));
    let fd = numeric_gradient(|a| ik_loss(&arm, a, [1.2, 0.7]), &angles);
    close("ik", &g, &fd, 1e-8);
}

// 22. Matrix factorisation over (user, item, rating) triples with biases
#[differentiate(wrt(u, v, bu, bi))]
fn mf(
    u: &[Vec<f64>],
    v: &[Vec<f64>],
    bu: &[f64],
    bi: &[f64],
    ratings: &[(usize, usize, f64)],
    lam: f64,
) -> f64 {
    let mut loss = 0.0;
    for &(a, b, r) in ratings {
        let pred: f64 = u[a].iter().zip(&v[b]).map(|(x, y)| x * y).sum::<f64>() + bu[a] + bi[b];
        loss += (pred - r).powi(2);
    }
    let reg: f64 = u.iter().flatten().map(|x| x * x).sum::<f64>()
        + v.iter().flatten().map(|x| x * x).sum::<f64>();
    loss + lam * reg
}

#[test]
fn mf_test() {
    let u: Vec<Vec<f64>> = (0..3)
        .map(|i| vec![(i as f64).sin(), (i as f64).cos()])
        .collect();
    let v: Vec<Vec<f64>> = (0..2).map(|i| vec![(i as f64 * 0.5).cos(), 0.3]).collect();
    let bu = vec![0.1, -0.1, 0.0];
    let bi = vec![0.2, 0.05];
    let ratings = vec![(0, 0, 4.0), (1, 1, 2.0), (2, 0, 3.5), (0, 1, 1.0)];
    let (val, (gu, gv, gbu, gbi)) = mf_grad(&u, &v, &bu, &bi, &ratings, 0.1);
    assert_eq!(val, mf(&u, &v, &bu, &bi, &ratings, 0.1));
    let mut flat = u.concat();
    flat.extend(v.concat());
    flat.extend(&bu);
    flat.extend(&bi);
    let fd = numeric_gradient(
        |p| {
            mf(
                &unflat(&p[..6], 3),
                &unflat(&p[6..10], 2),
                &p[10..13],
                &p[13..],
                &ratings,
                0.1,
            )
        },
        &flat,
    );
    let mut got = gu.concat();
    got.extend(gv.concat());
    got.extend(gbu);
    got.extend(gbi);
    close("mf", &got, &fd, 1e-8);
}

// 23. Pairwise distance matrix (collected rows) + Morse potential with cutoff continue
#[differentiate(wrt(pos))]
fn morse(pos: &[[f64; 3]], de: f64, a: f64, re: f64, cutoff: f64) -> f64 {
    let n = pos.len();
    let dist: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    let d: f64 = (0..3).map(|k| (pos[i][k] - pos[j][k]).powi(2)).sum();
                    (d + 1e-12).sqrt()
                })
                .collect()
        })
        .collect();
    let mut e = 0.0;
    for i in 0..n {
        for j in (i + 1)..n {
            let r = dist[i][j];
            if r > cutoff {
                continue;
            }
            let x = 1.0 - (-a * (r - re)).exp();
            e += de * x * x;
        }
    }
    e
}

#[test]
fn morse_test() {
    let pos = vec![
        [0.0, 0.0, 0.0],
        [1.1, 0.2, -0.1],
        [0.3, 1.0, 0.4],
        [3.5, 0.0, 0.0],
    ];
    let (v, g) = morse_grad(&pos, 1.0, 1.5, 1.0, 2.5);
    assert_eq!(v, morse(&pos, 1.0, 1.5, 1.0, 2.5));
    let flat: Vec<f64> = pos.iter().flatten().cloned().collect();
    let fd = numeric_gradient(
        |p| {
            morse(
                &p.chunks(3).map(|c| [c[0], c[1], c[2]]).collect::<Vec<_>>(),
                1.0,
                1.5,
                1.0,
                2.5,
            )
        },
        &flat,
    );
    let got: Vec<f64> = g.iter().flatten().cloned().collect();
    close("morse", &got, &fd, 1e-8);
}

// 24. Portfolio: softmax weights, covariance quadratic form, entropy bonus
#[differentiate(wrt(logits))]
fn portfolio(logits: &[f64], mu: &[f64], cov: &[Vec<f64>], risk: f64) -> f64 {
    let m = logits.iter().cloned().fold(f64::MIN, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - m).exp()).collect();
    let z: f64 = e.iter().sum();
    let w: Vec<f64> = e.iter().map(|v| v / z).collect();
    let ret: f64 = w.iter().zip(mu).map(|(a, b)| a * b).sum();
    let cw: Vec<f64> = cov
        .iter()
        .map(|row| row.iter().zip(&w).map(|(c, x)| c * x).sum())
        .collect();
    let var: f64 = w.iter().zip(&cw).map(|(a, b)| a * b).sum();
    let ent: f64 = -w.iter().map(|x| x * x.ln()).sum::<f64>();
    -(ret - risk * var) - 0.01 * ent
}

#[test]
fn portfolio_test() {
    let logits = vec![0.1, 0.5, -0.3, 0.2];
    let mu = vec![0.05, 0.08, 0.02, 0.06];
    let cov: Vec<Vec<f64>> = (0..4)
        .map(|i| {
            (0..4)
                .map(|j| {
                    if i == j {
                        0.04 + 0.01 * i as f64
                    } else {
                        0.005
                    }
                })
                .collect()
        })
        .collect();
    let (v, g) = portfolio_grad(&logits, &mu, &cov, 2.0);
    assert_eq!(v, portfolio(&logits, &mu, &cov, 2.0));
    let fd = numeric_gradient(|l| portfolio(l, &mu, &cov, 2.0), &logits);
    close("portfolio", &g, &fd, 1e-8);
}

// 25. Shooting: integrate until the projectile lands (while + break), loss on range
#[differentiate(wrt(v0, angle))]
fn shoot(v0: f64, angle: f64, drag: f64, target: f64) -> f64 {
    let dt = 0.01;
    let (mut x, mut y) = (0.0, 0.0);
    let (mut vx, mut vy) = (v0 * angle.cos(), v0 * angle.sin());
    let mut steps = 0;
    while steps < 10_000 {
        let speed = (vx * vx + vy * vy).sqrt();
        vx -= dt * drag * speed * vx;
        vy -= dt * (9.81 + drag * speed * vy);
        let ny = y + dt * vy;
        if ny < 0.0 {
            let frac = y / (y - ny);
            x += frac * dt * vx;
            break;
        }
        x += dt * vx;
        y = ny;
        steps += 1;
    }
    (x - target).powi(2)
}

#[test]
fn shooting() {
    let (v, (g0, ga)) = shoot_grad(20.0, 0.7, 0.05, 25.0);
    assert_eq!(v, shoot(20.0, 0.7, 0.05, 25.0));
    // The landing step changes within the default stencil's reach: a small step.
    let fd = autodiff_core::numeric_gradient_with_step(
        |p| shoot(p[0], p[1], 0.05, 25.0),
        &[20.0, 0.7],
        1e-7,
    );
    close("shoot", &[g0, ga], &fd, 1e-6);
}

// 26. Softmax regression: logits collected per sample (rows of a known length)
#[differentiate(wrt(w, b))]
fn softmax_regression(w: &[Vec<f64>], b: &[f64], xs: &[Vec<f64>], ys: &[usize]) -> f64 {
    let logits: Vec<Vec<f64>> = xs
        .iter()
        .map(|x| {
            w.iter()
                .zip(b)
                .map(|(wr, bk)| wr.iter().zip(x).map(|(a, c)| a * c).sum::<f64>() + bk)
                .collect()
        })
        .collect();
    let mut nll = 0.0;
    for (z, &y) in logits.iter().zip(ys) {
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        nll += lse - z[y];
    }
    nll / xs.len() as f64
}

#[test]
fn softmax_reg() {
    let w: Vec<Vec<f64>> = (0..3)
        .map(|k| (0..2).map(|j| ((k * 2 + j) as f64 * 0.7).sin()).collect())
        .collect();
    let b = vec![0.1, -0.2, 0.05];
    let xs: Vec<Vec<f64>> = (0..5)
        .map(|i| vec![(i as f64).cos(), (i as f64 * 0.3).sin()])
        .collect();
    let ys = vec![0, 2, 1, 1, 0];
    let (v, (gw, gb)) = softmax_regression_grad(&w, &b, &xs, &ys);
    assert_eq!(v, softmax_regression(&w, &b, &xs, &ys));
    let mut flat = w.concat();
    flat.extend(&b);
    let fd = numeric_gradient(
        |p| softmax_regression(&unflat(&p[..6], 3), &p[6..], &xs, &ys),
        &flat,
    );
    let mut got = gw.concat();
    got.extend(gb);
    close("softmax_reg", &got, &fd, 1e-8);
}

// 27. Soft k-means: responsibilities collected, then weighted distortion
#[differentiate(wrt(centers))]
fn soft_kmeans(centers: &[[f64; 2]], pts: &[[f64; 2]], beta: f64) -> f64 {
    let resp: Vec<Vec<f64>> = pts
        .iter()
        .map(|p| {
            let d: Vec<f64> = centers
                .iter()
                .map(|c| (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2))
                .collect();
            let m = d.iter().cloned().fold(f64::INFINITY, f64::min);
            let z: f64 = d.iter().map(|v| (-beta * (v - m)).exp()).sum();
            d.iter().map(|v| (-beta * (v - m)).exp() / z).collect()
        })
        .collect();
    let mut cost = 0.0;
    for (p, r) in pts.iter().zip(&resp) {
        for (c, rk) in centers.iter().zip(r) {
            cost += rk * ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2));
        }
    }
    cost
}

#[test]
fn kmeans() {
    let centers = vec![[0.0, 0.0], [1.0, 1.0], [-1.0, 0.5]];
    let pts: Vec<[f64; 2]> = (0..7)
        .map(|i| [(i as f64 * 0.9).sin(), (i as f64 * 0.4).cos()])
        .collect();
    let (v, g) = soft_kmeans_grad(&centers, &pts, 2.0);
    assert_eq!(v, soft_kmeans(&centers, &pts, 2.0));
    let flat: Vec<f64> = centers.iter().flatten().cloned().collect();
    let fd = numeric_gradient(
        |p| {
            soft_kmeans(
                &p.chunks(2).map(|c| [c[0], c[1]]).collect::<Vec<_>>(),
                &pts,
                2.0,
            )
        },
        &flat,
    );
    let got: Vec<f64> = g.iter().flatten().cloned().collect();
    close("kmeans", &got, &fd, 1e-8);
}

// 28. Thomas algorithm for a tridiagonal system (beam/heat), loss on solution
#[differentiate(wrt(diag, rhs))]
fn tridiag_solve_loss(sub: &[f64], diag: &[f64], sup: &[f64], rhs: &[f64], target: &[f64]) -> f64 {
    let n = diag.len();
    let mut c = vec![0.0; n];
    let mut d = vec![0.0; n];
    c[0] = sup[0] / diag[0];
    d[0] = rhs[0] / diag[0];
    for i in 1..n {
        let m = diag[i] - sub[i - 1] * c[i - 1];
        if i < n - 1 {
            c[i] = sup[i] / m;
        }
        d[i] = (rhs[i] - sub[i - 1] * d[i - 1]) / m;
    }
    let mut x = vec![0.0; n];
    x[n - 1] = d[n - 1];
    for i in (0..n - 1).rev() {
        x[i] = d[i] - c[i] * x[i + 1];
    }
    x.iter().zip(target).map(|(a, b)| (a - b).powi(2)).sum()
}

#[test]
fn thomas() {
    let n = 6;
    let sub = vec![-1.0; n - 1];
    let sup = vec![-1.0; n - 1];
    let diag: Vec<f64> = (0..n).map(|i| 3.0 + 0.1 * i as f64).collect();
    let rhs: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
    let target = vec![0.2; n];
    let (v, (gd, gr)) = tridiag_solve_loss_grad(&sub, &diag, &sup, &rhs, &target);
    assert_eq!(v, tridiag_solve_loss(&sub, &diag, &sup, &rhs, &target));
    let mut flat = diag.clone();
    flat.extend(&rhs);
    let fd = numeric_gradient(
        |p| tridiag_solve_loss(&sub, &p[..n], &sup, &p[n..], &target),
        &flat,
    );
    let mut got = gd;
    got.extend(gr);
    close("thomas", &got, &fd, 1e-8);
}

// 29. Pairwise ranking hinge loss with a no_grad ordering by labels
#[differentiate(wrt(w))]
fn ranking_loss(w: &[f64], feats: &[Vec<f64>], labels: &[f64], margin: f64) -> f64 {
    let scores: Vec<f64> = feats
        .iter()
        .map(|f| f.iter().zip(w).map(|(a, b)| a * b).sum())
        .collect();
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| labels[b].partial_cmp(&labels[a]).unwrap());
    let mut loss = 0.0;
    for (k, &i) in order.iter().enumerate() {
        for &j in &order[k + 1..] {
            if labels[i] > labels[j] {
                loss += (margin - (scores[i] - scores[j])).max(0.0);
            }
        }
    }
    loss
}

#[test]
fn ranking() {
    let w = vec![0.3, -0.2, 0.8];
    let feats: Vec<Vec<f64>> = (0..5)
        .map(|i| vec![(i as f64).sin(), (i as f64 * 0.7).cos(), 0.1 * i as f64])
        .collect();
    let labels = vec![2.0, 0.0, 1.0, 3.0, 1.5];
    let (v, g) = ranking_loss_grad(&w, &feats, &labels, 1.0);
    assert_eq!(v, ranking_loss(&w, &feats, &labels, 1.0));
    let fd = numeric_gradient(|p| ranking_loss(p, &feats, &labels, 1.0), &w);
    close("ranking", &g, &fd, 1e-7);
}

// 30. RTS smoother for a scalar random walk: forward filter then backward pass with rev()
#[differentiate(wrt(log_q, log_r))]
fn rts(obs: &[f64], log_q: f64, log_r: f64) -> f64 {
    let q = log_q.exp();
    let r = log_r.exp();
    let n = obs.len();
    let mut m = vec![0.0; n];
    let mut p = vec![0.0; n];
    let mut mp = 0.0;
    let mut pp = 1.0;
    for t in 0..n {
        let k = pp / (pp + r);
        m[t] = mp + k * (obs[t] - mp);
        p[t] = (1.0 - k) * pp;
        mp = m[t];
        pp = p[t] + q;
    }
    let mut ms = m.clone();
    for t in (0..n - 1).rev() {
        let g = p[t] / (p[t] + q);
        ms[t] = m[t] + g * (ms[t + 1] - m[t]);
    }
    ms.iter()
        .zip(obs)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        + 0.1 * (q + r)
}

#[test]
fn smoother() {
    let obs: Vec<f64> = (0..12)
        .map(|i| (i as f64 * 0.5).sin() + 0.1 * (i as f64 * 3.0).cos())
        .collect();
    let (v, (gq, gr)) = rts_grad(&obs, -1.0, -0.5);
    assert_eq!(v, rts(&obs, -1.0, -0.5));
    let fd = numeric_gradient(|p| rts(&obs, p[0], p[1]), &[-1.0, -0.5]);
    close("rts", &[gq, gr], &fd, 1e-8);
}

// 31. Lotka-Volterra RK4 with a helper returning an array
#[differentiate]
fn lv_rhs(s: [f64; 2], p: &[f64; 4]) -> [f64; 2] {
    [
        p[0] * s[0] - p[1] * s[0] * s[1],
        p[2] * s[0] * s[1] - p[3] * s[1],
    ]
}

#[differentiate(wrt(p))]
fn lv_fit(p: &[f64; 4], s0: [f64; 2], dt: f64, obs: &[[f64; 2]]) -> f64 {
    let mut s = s0;
    let mut loss = 0.0;
    for o in obs {
        let k1 = lv_rhs(s, p);
        let k2 = lv_rhs([s[0] + 0.5 * dt * k1[0], s[1] + 0.5 * dt * k1[1]], p);
        let k3 = lv_rhs([s[0] + 0.5 * dt * k2[0], s[1] + 0.5 * dt * k2[1]], p);
        let k4 = lv_rhs([s[0] + dt * k3[0], s[1] + dt * k3[1]], p);
        for i in 0..2 {
            s[i] += dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
        loss += (s[0] - o[0]).powi(2) + (s[1] - o[1]).powi(2);
    }
    loss
}

#[test]
fn lotka() {
    let p = [1.1, 0.4, 0.1, 0.4];
    let obs: Vec<[f64; 2]> = (0..10)
        .map(|i| [10.0 + (i as f64).sin(), 5.0 + (i as f64).cos()])
        .collect();
    let (v, g) = lv_fit_grad(&p, [10.0, 5.0], 0.1, &obs);
    assert_eq!(v, lv_fit(&p, [10.0, 5.0], 0.1, &obs));
    let fd = numeric_gradient(
        |q| lv_fit(&[q[0], q[1], q[2], q[3]], [10.0, 5.0], 0.1, &obs),
        &p,
    );
    close("lotka", &g, &fd, 1e-8);
}

// 32. Skip-gram with negative sampling over index lists
#[differentiate(wrt(emb_in, emb_out))]
fn sgns(
    emb_in: &[Vec<f64>],
    emb_out: &[Vec<f64>],
    pairs: &[(usize, usize)],
    negs: &[Vec<usize>],
) -> f64 {
    let sig = |z: f64| 1.0 / (1.0 + (-z).exp());
    let mut loss = 0.0;
    for (k, &(c, o)) in pairs.iter().enumerate() {
        let dot: f64 = emb_in[c].iter().zip(&emb_out[o]).map(|(a, b)| a * b).sum();
        loss -= sig(dot).ln();
        for &n in &negs[k] {
            let dn: f64 = emb_in[c].iter().zip(&emb_out[n]).map(|(a, b)| a * b).sum();
            loss -= sig(-dn).ln();
        }
    }
    loss
}

#[test]
fn skipgram() {
    let ei: Vec<Vec<f64>> = (0..4)
        .map(|i| {
            (0..3)
                .map(|j| ((i * 3 + j) as f64 * 0.37).sin() * 0.5)
                .collect()
        })
        .collect();
    let eo: Vec<Vec<f64>> = (0..4)
        .map(|i| {
            (0..3)
                .map(|j| ((i * 3 + j) as f64 * 0.53).cos() * 0.5)
                .collect()
        })
        .collect();
    let pairs = vec![(0, 1), (2, 3), (1, 0)];
    let negs = vec![vec![2, 3], vec![0], vec![3, 2]];
    let (v, (gi, go)) = sgns_grad(&ei, &eo, &pairs, &negs);
    assert_eq!(v, sgns(&ei, &eo, &pairs, &negs));
    let mut flat = ei.concat();
    flat.extend(eo.concat());
    let fd = numeric_gradient(
        |p| sgns(&unflat(&p[..12], 4), &unflat(&p[12..], 4), &pairs, &negs),
        &flat,
    );
    let mut got = gi.concat();
    got.extend(go.concat());
    close("sgns", &got, &fd, 1e-8);
}

// 33. Attention with projection weights in a struct, per-row softmax through a local
#[derive(Clone, Differentiable)]
struct Head {
    wq: Vec<Vec<f64>>,
    wk: Vec<Vec<f64>>,
}

impl Head {
    #[differentiate]
    fn project(&self, w: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
        w.iter()
            .map(|r| r.iter().zip(x).map(|(a, b)| a * b).sum())
            .collect()
    }
}

#[differentiate(wrt(head))]
fn attention_entropy(head: &Head, xs: &[Vec<f64>]) -> f64 {
    let mut total = 0.0;
    for xi in xs {
        let q = head.project(&head.wq, xi);
        let scores: Vec<f64> = xs
            .iter()
            .map(|xj| {
                let k = head.project(&head.wk, xj);
                q.iter().zip(&k).map(|(a, b)| a * b).sum::<f64>()
            })
            .collect();
        let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = scores.iter().map(|s| (s - m).exp()).collect();
        let z: f64 = e.iter().sum();
        for v in &e {
            let p = v / z;
            total -= p * p.ln();
        }
    }
    total
}

#[test]
fn attention_entropy_test() {
    let head = Head {
        wq: (0..2)
            .map(|i| (0..3).map(|j| ((i * 3 + j) as f64 * 0.7).sin()).collect())
            .collect(),
        wk: (0..2)
            .map(|i| (0..3).map(|j| ((i * 3 + j) as f64 * 0.4).cos()).collect())
            .collect(),
    };
    let xs: Vec<Vec<f64>> = (0..4)
        .map(|i| (0..3).map(|j| ((i * 3 + j) as f64 * 0.9).cos()).collect())
        .collect();
    let (v, g) = attention_entropy_grad(&head, &xs);
    assert_eq!(v, attention_entropy(&head, &xs));
    let flat: Vec<f64> = head
        .wq
        .concat()
        .into_iter()
        .chain(head.wk.concat())
        .collect();
    let fd = numeric_gradient(
        |p| {
            let h = Head {
                wq: vec![p[0..3].to_vec(), p[3..6].to_vec()],
                wk: vec![p[6..9].to_vec(), p[9..12].to_vec()],
            };
            attention_entropy(&h, &xs)
        },
        &flat,
    );
    let got: Vec<f64> = g.wq.concat().into_iter().chain(g.wk.concat()).collect();
    close("attention_entropy", &got, &fd, 1e-8);
}

// 34. Polygon: edge vectors collected from windows of rows, shoelace area and perimeter
#[differentiate]
fn polygon_shape(pts: &[[f64; 2]]) -> f64 {
    let edges: Vec<[f64; 2]> = pts
        .windows(2)
        .map(|w| [w[1][0] - w[0][0], w[1][1] - w[0][1]])
        .collect();
    let perim: f64 = edges
        .iter()
        .map(|e| (e[0] * e[0] + e[1] * e[1]).sqrt())
        .sum();
    let mut area = 0.0;
    for w in pts.windows(2) {
        area += w[0][0] * w[1][1] - w[1][0] * w[0][1];
    }
    0.5 * area - 0.1 * perim * perim
}

#[test]
fn polygon() {
    let pts = vec![[0.0, 0.0], [1.0, 0.1], [1.2, 0.9], [0.3, 1.1], [0.0, 0.0]];
    let (v, g) = polygon_shape_grad(&pts);
    assert_eq!(v, polygon_shape(&pts));
    let flat: Vec<f64> = pts.iter().flatten().cloned().collect();
    let fd = numeric_gradient(
        |p| polygon_shape(&p.chunks(2).map(|c| [c[0], c[1]]).collect::<Vec<_>>()),
        &flat,
    );
    let got: Vec<f64> = g.iter().flatten().cloned().collect();
    close("polygon", &got, &fd, 1e-8);
}

// 35. Negative binomial regression with a hand-written log-gamma (Stirling with shift)
fn ln_gamma(x: f64) -> f64 {
    let mut x = x;
    let mut acc = 0.0;
    while x < 7.0 {
        acc -= x.ln();
        x += 1.0;
    }
    let x2 = x * x;
    acc + (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x * x2)
}

#[differentiate]
fn ln_gamma_d(x: f64) -> f64 {
    let mut x = x;
    let mut acc = 0.0;
    while x < 7.0 {
        acc -= x.ln();
        x += 1.0;
    }
    let x2 = x * x;
    acc + (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln() + 1.0 / (12.0 * x)
        - 1.0 / (360.0 * x * x2)
}

#[differentiate(wrt(beta, log_r))]
fn negbin_nll(beta: &[f64], log_r: f64, xs: &[Vec<f64>], ys: &[u32]) -> f64 {
    let r = log_r.exp();
    let mut nll = 0.0;
    for (x, &y) in xs.iter().zip(ys) {
        let eta: f64 = x.iter().zip(beta).map(|(a, b)| a * b).sum();
        let mu = eta.exp();
        let y = y as f64;
        nll -=
            ln_gamma_d(y + r) - ln_gamma_d(r) + r * (r / (r + mu)).ln() + y * (mu / (r + mu)).ln();
    }
    nll
}

#[test]
fn negbin() {
    assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-6);
    let xs: Vec<Vec<f64>> = (0..6).map(|i| vec![1.0, (i as f64 * 0.5).sin()]).collect();
    let ys = vec![0, 3, 1, 5, 2, 0];
    let beta = vec![0.4, -0.3];
    let (v, (gb, gr)) = negbin_nll_grad(&beta, 0.2, &xs, &ys);
    assert_eq!(v, negbin_nll(&beta, 0.2, &xs, &ys));
    let fd = numeric_gradient(|p| negbin_nll(&p[..2], p[2], &xs, &ys), &[0.4, -0.3, 0.2]);
    let mut got = gb;
    got.push(gr);
    close("negbin", &got, &fd, 1e-7);
}

// 36. Spring chain with Verlet steps, forces from windows(2)
#[differentiate(wrt(k))]
fn spring_chain(k: &[f64], x0: &[f64], dt: f64, steps: usize) -> f64 {
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut xprev = x0.to_vec();
    for _ in 0..steps {
        let mut f = vec![0.0; n];
        for (i, w) in x.windows(2).enumerate() {
            let stretch = w[1] - w[0] - 1.0;
            f[i] += k[i] * stretch;
            f[i + 1] -= k[i] * stretch;
        }
        let next: Vec<f64> = (0..n)
            .map(|i| 2.0 * x[i] - xprev[i] + dt * dt * f[i])
            .collect();
        xprev = x;
        x = next;
    }
    x.iter()
        .enumerate()
        .map(|(i, v)| (v - i as f64 * 1.05).powi(2))
        .sum()
}

#[test]
fn springs() {
    let k = vec![1.0, 2.0, 1.5];
    let x0 = vec![0.0, 1.1, 2.0, 3.2];
    let (v, g) = spring_chain_grad(&k, &x0, 0.1, 20);
    assert_eq!(v, spring_chain(&k, &x0, 0.1, 20));
    let fd = numeric_gradient(|p| spring_chain(p, &x0, 0.1, 20), &k);
    close("springs", &g, &fd, 1e-8);
}

// 37. Bond pricing: cash flows discounted with enumerate, duration-weighted penalty
#[differentiate(wrt(rate, spread))]
fn bond(rate: f64, spread: f64, coupons: &[f64], face: f64, market: f64) -> f64 {
    let y = rate + spread;
    let pv: f64 = coupons
        .iter()
        .enumerate()
        .map(|(t, c)| c * (-y * (t + 1) as f64).exp())
        .sum::<f64>()
        + face * (-y * coupons.len() as f64).exp();
    let dur: f64 = coupons
        .iter()
        .enumerate()
        .map(|(t, c)| (t + 1) as f64 * c * (-y * (t + 1) as f64).exp())
        .sum::<f64>()
        / pv;
    (pv - market).powi(2) + 0.01 * dur
}

#[test]
fn bond_test() {
    let coupons = vec![5.0; 8];
    let (v, (gr, gs)) = bond_grad(0.03, 0.01, &coupons, 100.0, 101.0);
    assert_eq!(v, bond(0.03, 0.01, &coupons, 100.0, 101.0));
    let fd = numeric_gradient(|p| bond(p[0], p[1], &coupons, 100.0, 101.0), &[0.03, 0.01]);
    close("bond", &[gr, gs], &fd, 1e-7);
}

// 38. CES utility with budget penalty, filter + zip chain
#[differentiate(wrt(q))]
fn ces(q: &[f64], alpha: &[f64], prices: &[f64], rho: f64, budget: f64) -> f64 {
    let inner: f64 = q
        .iter()
        .zip(alpha)
        .filter(|(x, _)| **x > 0.0)
        .map(|(x, a)| a * x.powf(rho))
        .sum();
    let u = inner.powf(1.0 / rho);
    let spend: f64 = q.iter().zip(prices).map(|(x, p)| x * p).sum();
    let over = (spend - budget).max(0.0);
    -u + 10.0 * over * over
}

#[test]
fn ces_test() {
    let q = vec![1.0, 2.0, 0.5, 3.0];
    let alpha = vec![0.3, 0.2, 0.4, 0.1];
    let prices = vec![1.0, 2.0, 3.0, 0.5];
    let (v, g) = ces_grad(&q, &alpha, &prices, 0.5, 6.0);
    assert_eq!(v, ces(&q, &alpha, &prices, 0.5, 6.0));
    let fd = numeric_gradient(|p| ces(p, &alpha, &prices, 0.5, 6.0), &q);
    close("ces", &g, &fd, 1e-7);
}
