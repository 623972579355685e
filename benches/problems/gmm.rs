//! ADBench's Gaussian mixture model objective (Srajer, Kukelova, Fitzgibbon, "A benchmark of
//! selected algorithmic differentiation tools on some problems in computer vision and machine
//! learning", 2018, section 4.1), with its argument list: `k` components in `d` dimensions,
//! `n` data points.
//!
//! - `alphas[j]`: the log of component `j`'s unnormalised weight;
//! - `means[j][l]`: its mean;
//! - `icf[j]`: its inverse covariance factor `Q_j` (lower triangular, `Q_jᵀ Q_j` the precision
//!   matrix), `d (d + 1) / 2` numbers: first the logs of the diagonal, then the strictly lower
//!   entries column by column (`Q[1][0], Q[2][0], .., Q[d-1][0], Q[2][1], ..`);
//! - `x[i]`: the data; `wishart_gamma`, `wishart_m`: the Wishart prior on the `Q_j`.
//!
//! The objective is ADBench's, as its C++ reference `gmm_objective` computes it:
//!
//! ```text
//! -n d/2 ln 2π + Σ_i lse_j(α_j + Σ_l ln Q_j[l][l] - ½ |Q_j (x_i - μ_j)|²) - n lse(α)
//!   + Σ_j (½ γ² ‖Q_j‖_F² - m Σ_l ln Q_j[l][l]) - k C(d, γ, m)
//! ```
//!
//! (the log-likelihood of the mixture plus ADBench's prior term, `lse` the log-sum-exp,
//! `C = n_w d (ln γ - ½ ln 2) - ln Γ_d(n_w / 2)` with `n_w = d + m + 1`).

#![allow(clippy::needless_range_loop)] // index loops, as ADBench's reference and numerical code write them

use std::f64::consts::PI;

use autodiff_core::differentiate;
use num_dual::Dual64;

use super::{Method, Problem, Real, central_differences, dual_gradient, echidna_gradient, uniform};

/// The Wishart prior's parameters at every size (`m > 0` keeps its `- m Σ ln Q_ll` term in
/// play).
pub const WISHART_GAMMA: f64 = 1.0;
pub const WISHART_M: usize = 2;

// The function, written the natural way ----------------------------------------------------

/// `ln Σ_j exp(v_j)`, stably: ADBench's `logsumexp` (the maximum first, then the shifted sum).
#[differentiate]
pub fn log_sum_exp(v: &[f64]) -> f64 {
    let mut mx = v[0];
    for &e in v.iter() {
        mx = mx.max(e);
    }
    let mut semx = 0.0;
    for &e in v.iter() {
        semx += (e - mx).exp();
    }
    semx.ln() + mx
}

/// ADBench's GMM objective (see the module's documentation), as one would write it in Rust from
/// the C++ reference: `Q_j`'s diagonal and log-determinant computed once, then for every data
/// point a `main_term` per component from the centred point `xc` and `qxc = Q_j xc`, local
/// vectors of the loops, and the point's log-sum-exp; then the prior.
#[differentiate(wrt(alphas, means, icf))]
pub fn gmm_objective(
    alphas: &[f64],
    means: &[Vec<f64>],
    icf: &[Vec<f64>],
    x: &[Vec<f64>],
    wishart_gamma: f64,
    wishart_m: usize,
) -> f64 {
    let k = alphas.len();
    let n = x.len();
    let d = x[0].len();
    let mut qdiags = vec![vec![0.0; d]; k];
    let mut sum_qs = vec![0.0; k];
    for j in 0..k {
        for l in 0..d {
            sum_qs[j] += icf[j][l];
            qdiags[j][l] = icf[j][l].exp();
        }
    }
    let mut slse = 0.0;
    for i in 0..n {
        let mut main_term = vec![0.0; k];
        for j in 0..k {
            let mut xc = vec![0.0; d];
            for l in 0..d {
                xc[l] = x[i][l] - means[j][l];
            }
            let mut qxc = vec![0.0; d];
            for l in 0..d {
                qxc[l] = qdiags[j][l] * xc[l];
            }
            let mut idx = d;
            for c in 0..d {
                for r in c + 1..d {
                    qxc[r] += icf[j][idx] * xc[c];
                    idx += 1;
                }
            }
            let mut sqnorm = 0.0;
            for l in 0..d {
                sqnorm += qxc[l] * qxc[l];
            }
            main_term[j] = alphas[j] + sum_qs[j] - 0.5 * sqnorm;
        }
        slse += log_sum_exp(&main_term);
    }
    let lse_alphas = log_sum_exp(alphas);
    let mut prior = 0.0;
    for j in 0..k {
        let mut frobenius = 0.0;
        for l in 0..d {
            frobenius += qdiags[j][l] * qdiags[j][l];
        }
        for t in d..icf[j].len() {
            frobenius += icf[j][t] * icf[j][t];
        }
        prior += 0.5 * wishart_gamma * wishart_gamma * frobenius - wishart_m as f64 * sum_qs[j];
    }
    let constant = -((n * d) as f64) * 0.5 * (2.0 * PI).ln();
    constant + slse - n as f64 * lse_alphas + prior
        - k as f64 * wishart_constant(d, wishart_gamma, wishart_m)
}

/// [`gmm_objective`] with ADBench's buffers: `main_term`, `xc` and `qxc` allocated once before
/// the loops and overwritten for every point and component (the C++ reference's `vector`s).
#[differentiate(wrt(alphas, means, icf))]
pub fn gmm_objective_hoisted(
    alphas: &[f64],
    means: &[Vec<f64>],
    icf: &[Vec<f64>],
    x: &[Vec<f64>],
    wishart_gamma: f64,
    wishart_m: usize,
) -> f64 {
    let k = alphas.len();
    let n = x.len();
    let d = x[0].len();
    let mut qdiags = vec![vec![0.0; d]; k];
    let mut sum_qs = vec![0.0; k];
    for j in 0..k {
        for l in 0..d {
            sum_qs[j] += icf[j][l];
            qdiags[j][l] = icf[j][l].exp();
        }
    }
    let mut xc = vec![0.0; d];
    let mut qxc = vec![0.0; d];
    let mut main_term = vec![0.0; k];
    let mut slse = 0.0;
    for i in 0..n {
        for j in 0..k {
            for l in 0..d {
                xc[l] = x[i][l] - means[j][l];
            }
            for l in 0..d {
                qxc[l] = qdiags[j][l] * xc[l];
            }
            let mut idx = d;
            for c in 0..d {
                for r in c + 1..d {
                    qxc[r] += icf[j][idx] * xc[c];
                    idx += 1;
                }
            }
            let mut sqnorm = 0.0;
            for l in 0..d {
                sqnorm += qxc[l] * qxc[l];
            }
            main_term[j] = alphas[j] + sum_qs[j] - 0.5 * sqnorm;
        }
        slse += log_sum_exp(&main_term);
    }
    let lse_alphas = log_sum_exp(alphas);
    let mut prior = 0.0;
    for j in 0..k {
        let mut frobenius = 0.0;
        for l in 0..d {
            frobenius += qdiags[j][l] * qdiags[j][l];
        }
        for t in d..icf[j].len() {
            frobenius += icf[j][t] * icf[j][t];
        }
        prior += 0.5 * wishart_gamma * wishart_gamma * frobenius - wishart_m as f64 * sum_qs[j];
    }
    let constant = -((n * d) as f64) * 0.5 * (2.0 * PI).ln();
    constant + slse - n as f64 * lse_alphas + prior
        - k as f64 * wishart_constant(d, wishart_gamma, wishart_m)
}

/// `C = n_w d (ln γ - ½ ln 2) - ln Γ_d(n_w / 2)`, `n_w = d + m + 1`: the prior's constant per
/// component (it depends on no parameter).
pub fn wishart_constant(d: usize, wishart_gamma: f64, wishart_m: usize) -> f64 {
    let n_w = d + wishart_m + 1;
    (n_w * d) as f64 * (wishart_gamma.ln() - 0.5 * 2f64.ln()) - ln_multigamma_half(n_w, d)
}

/// `ln Γ_p(t / 2) = p (p - 1) / 4 ln π + Σ_{j=1..p} ln Γ((t + 1 - j) / 2)`, the log of the
/// multivariate gamma function at half the integer `t >= p` (Rust's `ln_gamma` is unstable).
pub fn ln_multigamma_half(t: usize, p: usize) -> f64 {
    assert!(t >= p, "Γ_p(t/2) needs t >= p");
    let mut sum = 0.25 * (p * (p - 1)) as f64 * PI.ln();
    for j in 1..=p {
        sum += ln_gamma_half(t + 1 - j);
    }
    sum
}

/// `ln Γ(t / 2)` for an integer `t >= 1`, exactly as a sum of logs: `Γ(1) = 1`, `Γ(½) = √π`,
/// `Γ(z + 1) = z Γ(z)`.
pub fn ln_gamma_half(t: usize) -> f64 {
    assert!(t >= 1, "Γ(0) is a pole");
    let (mut z, mut sum) = if t % 2 == 0 {
        (1.0, 0.0)
    } else {
        (0.5, 0.5 * PI.ln())
    };
    while 2.0 * z < t as f64 {
        sum += f64::ln(z);
        z += 1.0;
    }
    sum
}

// The gradient by hand ---------------------------------------------------------------------

/// The gradient of [`gmm_objective`] in the generated gradient's shape: `(d alphas, d means,
/// d icf)`.
pub type GmmGrad = (Vec<f64>, Vec<Vec<f64>>, Vec<Vec<f64>>);

/// The hand-written gradient's work space, reused across calls (`k × d` each for the centred
/// points and `Q xc` of one data point, `k` for the main terms, ...).
#[derive(Default)]
pub struct HandScratch {
    qdiags: Vec<f64>,
    sum_qs: Vec<f64>,
    xcs: Vec<f64>,
    qxcs: Vec<f64>,
    main_term: Vec<f64>,
    weight_sums: Vec<f64>,
}

/// The gradient of [`gmm_objective`] wrt `(alphas, means, icf)`, hand-written into `grad`.
///
/// With `w_ij = softmax_j(main_term_i)` (the point's responsibilities), `v = Q_j xc` and
/// `L` the strictly lower part of `Q_j`:
///
/// - `main_term_ij` gets the adjoint `w_ij`, so `d v = -w_ij v`;
/// - `d μ_j = -d xc = w_ij Q_jᵀ v`, and `d Q_j += d v xcᵀ` on the lower triangle: `d L_rc
///   -= w_ij v_r xc_c`, `d Q_ll -= w_ij v_l xc_l` (times `Q_ll` for `ln Q_ll`, applied once at
///   the end);
/// - `d α_j = Σ_i w_ij - n softmax(α)_j`; `d ln Q_ll` gets `Σ_i w_ij` from the log-determinant;
/// - the prior adds `γ² Q_ll²  - m` to `d ln Q_ll` and `γ² L_rc` to `d L_rc`.
///
/// One pass over the data: each point's forward (keeping `xc` and `v` of its `k` components)
/// is followed by its backward, which walks each column of `L` once for both `Q_jᵀ v` and the
/// outer product.
#[allow(clippy::too_many_arguments)]
pub fn gmm_objective_hand(
    alphas: &[f64],
    means: &[Vec<f64>],
    icf: &[Vec<f64>],
    x: &[Vec<f64>],
    wishart_gamma: f64,
    wishart_m: usize,
    scratch: &mut HandScratch,
    grad: &mut GmmGrad,
) -> f64 {
    let k = alphas.len();
    let n = x.len();
    let d = x[0].len();
    let (d_alphas, d_means, d_icf) = grad;
    d_alphas.clear();
    d_alphas.resize(k, 0.0);
    d_means.resize_with(k, Vec::new);
    d_icf.resize_with(k, Vec::new);
    for j in 0..k {
        d_means[j].clear();
        d_means[j].resize(d, 0.0);
        d_icf[j].clear();
        d_icf[j].resize(icf[j].len(), 0.0);
    }
    let HandScratch {
        qdiags,
        sum_qs,
        xcs,
        qxcs,
        main_term,
        weight_sums,
    } = scratch;
    for (buffer, len) in [
        (&mut *qdiags, k * d),
        (&mut *sum_qs, k),
        (&mut *xcs, k * d),
        (&mut *qxcs, k * d),
        (&mut *main_term, k),
        (&mut *weight_sums, k),
    ] {
        buffer.clear();
        buffer.resize(len, 0.0);
    }
    for j in 0..k {
        let log_diag = &icf[j][..d];
        for (q, &v) in qdiags[j * d..(j + 1) * d].iter_mut().zip(log_diag) {
            *q = v.exp();
        }
        sum_qs[j] = log_diag.iter().sum();
    }

    let mut slse = 0.0;
    for xi in x {
        let xi = &xi[..d];
        // Forward: each component's `xc`, `v = Q xc` and main term.
        for j in 0..k {
            let xc = &mut xcs[j * d..(j + 1) * d];
            let v = &mut qxcs[j * d..(j + 1) * d];
            let qdiag = &qdiags[j * d..(j + 1) * d];
            let lower = &icf[j][d..];
            let mean = &means[j][..d];
            for l in 0..d {
                xc[l] = xi[l] - mean[l];
                v[l] = qdiag[l] * xc[l];
            }
            let mut offset = 0;
            for c in 0..d {
                let column = &lower[offset..offset + (d - 1 - c)];
                let xcc = xc[c];
                for (vr, &q) in v[c + 1..].iter_mut().zip(column) {
                    *vr += q * xcc;
                }
                offset += d - 1 - c;
            }
            main_term[j] = alphas[j] + sum_qs[j] - 0.5 * dot(v, v);
        }
        // The point's log-sum-exp; `main_term` becomes `exp(main_term - max)`.
        let mx = main_term.iter().fold(main_term[0], |m, &t| m.max(t));
        let mut semx = 0.0;
        for t in main_term.iter_mut() {
            *t = (*t - mx).exp();
            semx += *t;
        }
        slse += semx.ln() + mx;
        // Backward.
        let inv_semx = 1.0 / semx;
        for j in 0..k {
            let w = main_term[j] * inv_semx;
            weight_sums[j] += w;
            let xc = &xcs[j * d..(j + 1) * d];
            let v = &qxcs[j * d..(j + 1) * d];
            let qdiag = &qdiags[j * d..(j + 1) * d];
            let lower = &icf[j][d..];
            let d_mean = &mut d_means[j][..d];
            let (d_log_diag, d_lower) = d_icf[j].split_at_mut(d);
            let mut offset = 0;
            for c in 0..d {
                let len = d - 1 - c;
                let column = &lower[offset..offset + len];
                let d_column = &mut d_lower[offset..offset + len];
                let scale = -w * xc[c];
                // `(Qᵀ v)_c` with four partial sums (one chain of additions would wait on
                // each), and `d L[.][c] += scale v` in the same pass over the column.
                let mut partial = [0.0; 4];
                let mut chunks = column.chunks_exact(4);
                let mut d_chunks = d_column.chunks_exact_mut(4);
                let mut v_chunks = v[c + 1..].chunks_exact(4);
                for ((q, dq), vr) in (&mut chunks).zip(&mut d_chunks).zip(&mut v_chunks) {
                    for t in 0..4 {
                        partial[t] += q[t] * vr[t];
                        dq[t] += scale * vr[t];
                    }
                }
                let mut qt_v =
                    qdiag[c] * v[c] + ((partial[0] + partial[1]) + (partial[2] + partial[3]));
                let rest = chunks.remainder().iter().zip(d_chunks.into_remainder());
                for ((&q, dq), &vr) in rest.zip(v_chunks.remainder()) {
                    qt_v += q * vr;
                    *dq += scale * vr;
                }
                d_mean[c] += w * qt_v;
                // `d Q_cc`, turned into `d ln Q_cc` after the last point.
                d_log_diag[c] += scale * v[c];
                offset += len;
            }
        }
    }

    let lse_alphas = {
        let mx = alphas.iter().fold(alphas[0], |m, &a| m.max(a));
        let semx: f64 = alphas.iter().map(|&a| (a - mx).exp()).sum();
        semx.ln() + mx
    };
    let gamma2 = wishart_gamma * wishart_gamma;
    let m = wishart_m as f64;
    let mut prior = 0.0;
    for j in 0..k {
        let qdiag = &qdiags[j * d..(j + 1) * d];
        let lower = &icf[j][d..];
        let frobenius: f64 =
            qdiag.iter().map(|&q| q * q).sum::<f64>() + lower.iter().map(|&q| q * q).sum::<f64>();
        prior += 0.5 * gamma2 * frobenius - m * sum_qs[j];
        d_alphas[j] = weight_sums[j] - n as f64 * (alphas[j] - lse_alphas).exp();
        let (d_log_diag, d_lower) = d_icf[j].split_at_mut(d);
        for l in 0..d {
            d_log_diag[l] =
                d_log_diag[l] * qdiag[l] + weight_sums[j] + gamma2 * qdiag[l] * qdiag[l] - m;
        }
        for (dq, &q) in d_lower.iter_mut().zip(lower) {
            *dq += gamma2 * q;
        }
    }
    let constant = -((n * d) as f64) * 0.5 * (2.0 * PI).ln();
    constant + slse - n as f64 * lse_alphas + prior
        - k as f64 * wishart_constant(d, wishart_gamma, wishart_m)
}

/// `Σ a_i b_i` with four partial sums, so that the additions do not wait on each other.
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut partial = [0.0; 4];
    let (chunks, b_chunks) = (a.chunks_exact(4), b.chunks_exact(4));
    let rest: f64 = chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in chunks.zip(b_chunks) {
        for t in 0..4 {
            partial[t] += x[t] * y[t];
        }
    }
    (partial[0] + partial[1]) + (partial[2] + partial[3]) + rest
}

// For the peers ----------------------------------------------------------------------------

/// [`gmm_objective`] for the peers, on flat parameters: `means` is `k × d` and `icf` is
/// `k × d (d + 1) / 2`, row-major.
pub fn gmm_objective_generic<T: Real>(
    alphas: &[T],
    means: &[T],
    icf: &[T],
    x: &[Vec<f64>],
    wishart_gamma: f64,
    wishart_m: usize,
) -> T {
    let k = alphas.len();
    let n = x.len();
    let d = x[0].len();
    let icf_size = d * (d + 1) / 2;
    let mut qdiags = vec![T::cst(0.0); k * d];
    let mut sum_qs = vec![T::cst(0.0); k];
    for j in 0..k {
        for l in 0..d {
            sum_qs[j] = sum_qs[j] + icf[j * icf_size + l];
            qdiags[j * d + l] = icf[j * icf_size + l].exp();
        }
    }
    let lse = |v: &[T]| {
        let mut mx = v[0];
        for &e in v {
            mx = mx.max(e);
        }
        let mut semx = T::cst(0.0);
        for &e in v {
            semx = semx + (e - mx).exp();
        }
        semx.ln() + mx
    };
    let mut slse = T::cst(0.0);
    let mut main_term = vec![T::cst(0.0); k];
    let mut xc = vec![T::cst(0.0); d];
    let mut qxc = vec![T::cst(0.0); d];
    for xi in x {
        for j in 0..k {
            for l in 0..d {
                xc[l] = T::cst(xi[l]) - means[j * d + l];
                qxc[l] = qdiags[j * d + l] * xc[l];
            }
            let mut idx = j * icf_size + d;
            for c in 0..d {
                for r in c + 1..d {
                    qxc[r] = qxc[r] + icf[idx] * xc[c];
                    idx += 1;
                }
            }
            let mut sqnorm = T::cst(0.0);
            for &e in &qxc {
                sqnorm = sqnorm + e * e;
            }
            main_term[j] = alphas[j] + sum_qs[j] - sqnorm * 0.5;
        }
        slse = slse + lse(&main_term);
    }
    let lse_alphas = lse(alphas);
    let mut prior = T::cst(0.0);
    for j in 0..k {
        let mut frobenius = T::cst(0.0);
        for l in 0..d {
            frobenius = frobenius + qdiags[j * d + l] * qdiags[j * d + l];
        }
        for t in d..icf_size {
            frobenius = frobenius + icf[j * icf_size + t] * icf[j * icf_size + t];
        }
        prior = prior + frobenius * (0.5 * wishart_gamma * wishart_gamma)
            - sum_qs[j] * wishart_m as f64;
    }
    let constant = -((n * d) as f64) * 0.5 * (2.0 * PI).ln();
    slse + constant - lse_alphas * n as f64 + prior
        - k as f64 * wishart_constant(d, wishart_gamma, wishart_m)
}

// An independent evaluation ----------------------------------------------------------------

/// The objective computed another way, to check [`gmm_objective`]'s value: each `Q_j` built as a
/// dense matrix, the precision `P_j = Q_jᵀ Q_j` formed, and the mixture's log-density of each
/// point taken as `ln Σ_j π_j N(x_i; μ_j, P_j⁻¹)` with the Gaussian's density written out
/// (`(2π)^(-d/2) det(P)^(1/2) exp(-½ xcᵀ P xc)`, `det P = Π_l Q_ll²`), the weights `π`
/// normalised directly; the prior from the dense `Q_j`, and `ln Γ_d` from the values of `Γ`
/// (`Γ_d(a) = Π_j π^((j-1)/2) Γ(a + (1 - j)/2)`).
pub fn gmm_objective_direct(
    alphas: &[f64],
    means: &[Vec<f64>],
    icf: &[Vec<f64>],
    x: &[Vec<f64>],
    wishart_gamma: f64,
    wishart_m: usize,
) -> f64 {
    let k = alphas.len();
    let d = x[0].len();
    // Dense Q_j, row-major.
    let qs: Vec<Vec<f64>> = icf
        .iter()
        .map(|f| {
            let mut q = vec![0.0; d * d];
            let mut t = d;
            for c in 0..d {
                q[c * d + c] = f[c].exp();
                for r in c + 1..d {
                    q[r * d + c] = f[t];
                    t += 1;
                }
            }
            q
        })
        .collect();
    let precisions: Vec<Vec<f64>> = qs
        .iter()
        .map(|q| {
            let mut p = vec![0.0; d * d];
            for a in 0..d {
                for b in 0..d {
                    p[a * d + b] = (0..d).map(|r| q[r * d + a] * q[r * d + b]).sum();
                }
            }
            p
        })
        .collect();
    let det_q: Vec<f64> = qs
        .iter()
        .map(|q| (0..d).map(|l| q[l * d + l]).product())
        .collect();
    let total: f64 = alphas.iter().map(|a| a.exp()).sum();
    let weights: Vec<f64> = alphas.iter().map(|a| a.exp() / total).collect();
    // The densities would underflow for large d: scale each point's by exp(-shift) with the
    // smallest quadratic form's half (the scale cancels in the log).
    let mut log_likelihood = 0.0;
    for xi in x {
        let quads: Vec<f64> = (0..k)
            .map(|j| {
                let xc: Vec<f64> = (0..d).map(|l| xi[l] - means[j][l]).collect();
                let p = &precisions[j];
                (0..d)
                    .map(|a| (0..d).map(|b| xc[a] * p[a * d + b] * xc[b]).sum::<f64>())
                    .sum()
            })
            .collect();
        let shift = quads.iter().fold(f64::INFINITY, |m, &q| m.min(q)) * 0.5;
        let density: f64 = (0..k)
            .map(|j| weights[j] * det_q[j] * (shift - 0.5 * quads[j]).exp())
            .sum();
        log_likelihood += density.ln() - shift - 0.5 * d as f64 * (2.0 * PI).ln();
    }
    // Prior: ½ γ² ‖Q‖_F² - m ln det Q per component, minus k C.
    // (Γ_d itself overflows for large d: its factors are multiplied in groups that do not.)
    let n_w = d + wishart_m + 1;
    let mut ln_multigamma = 0.0;
    for j in 1..=d {
        ln_multigamma += (PI.powf(0.5 * (j - 1) as f64) * gamma_half(n_w + 1 - j)).ln();
    }
    let c = (n_w * d) as f64 * (wishart_gamma / 2f64.sqrt()).ln() - ln_multigamma;
    let mut prior = 0.0;
    for (q, det) in qs.iter().zip(&det_q) {
        let frobenius: f64 = q.iter().map(|v| v * v).sum();
        prior += 0.5 * wishart_gamma * wishart_gamma * frobenius - wishart_m as f64 * det.ln();
    }
    log_likelihood + prior - k as f64 * c
}

/// `Γ(t / 2)` for an integer `t >= 1`, by the recurrence on the values.
fn gamma_half(t: usize) -> f64 {
    let (mut z, mut value) = if t % 2 == 0 {
        (1.0, 1.0)
    } else {
        (0.5, PI.sqrt())
    };
    while 2.0 * z < t as f64 {
        value *= z;
        z += 1.0;
    }
    value
}

// Data -------------------------------------------------------------------------------------

/// The inputs of one size, reproducible: `α` uniform in `[-1, 1)`, the means and the data
/// uniform in `[0, 1)^d`, the logs of `Q`'s diagonal uniform in `[-0.5, 0.5)`, its strictly
/// lower entries uniform in `[-0.3, 0.3)`.
pub struct GmmData {
    pub alphas: Vec<f64>,
    pub means: Vec<Vec<f64>>,
    pub icf: Vec<Vec<f64>>,
    pub x: Vec<Vec<f64>>,
}

/// `rows` vectors of `len` numbers from one stream.
fn rows(seed: u64, rows: usize, len: usize, lo: f64, hi: f64) -> Vec<Vec<f64>> {
    let values = uniform(seed, rows * len, lo, hi);
    (0..rows)
        .map(|r| values[r * len..(r + 1) * len].to_vec())
        .collect()
}

impl GmmData {
    pub fn new(d: usize, k: usize, n: usize) -> Self {
        let seed = (1000 * d + k) as u64 * 10;
        let log_diag = rows(seed + 3, k, d, -0.5, 0.5);
        let lower = rows(seed + 4, k, d * (d - 1) / 2, -0.3, 0.3);
        Self {
            alphas: uniform(seed + 1, k, -1.0, 1.0),
            means: rows(seed + 2, k, d, 0.0, 1.0),
            icf: log_diag
                .into_iter()
                .zip(lower)
                .map(|(q, l)| [q, l].concat())
                .collect(),
            x: rows(seed + 5, n, d, 0.0, 1.0),
        }
    }

    pub fn d(&self) -> usize {
        self.x[0].len()
    }

    /// `alphas | means | icf`, row-major: the flat parameter vector of the peers.
    pub fn theta(&self) -> Vec<f64> {
        let mut theta = self.alphas.clone();
        theta.extend(self.means.iter().flatten());
        theta.extend(self.icf.iter().flatten());
        theta
    }

    /// The objective, by [`gmm_objective`].
    pub fn objective(&self) -> f64 {
        gmm_objective(
            &self.alphas,
            &self.means,
            &self.icf,
            &self.x,
            WISHART_GAMMA,
            WISHART_M,
        )
    }

    /// Panics unless [`gmm_objective`] and [`gmm_objective_direct`] agree to 1e-12 relative.
    pub fn check_objective(&self) {
        let value = self.objective();
        let direct = gmm_objective_direct(
            &self.alphas,
            &self.means,
            &self.icf,
            &self.x,
            WISHART_GAMMA,
            WISHART_M,
        );
        let error = (value - direct).abs() / direct.abs();
        assert!(
            error <= 1e-12,
            "GMM objective {value:e}, directly {direct:e}: relative error {error:.1e}"
        );
    }
}

/// Splits the peers' flat parameters into `(alphas, means, icf)`.
fn split<T>(theta: &[T], k: usize, d: usize) -> (&[T], &[T], &[T]) {
    let (alphas, rest) = theta.split_at(k);
    let (means, icf) = rest.split_at(k * d);
    (alphas, means, icf)
}

// The problem ------------------------------------------------------------------------------

/// Which peers run at a size: finite differences and forward mode cost `dim` evaluations of the
/// function (1 650 of about 1 ms each for `d = 10, k = 25`), echidna's tape holds every
/// operation (about 800 million for `d = 64, k = 200, n = 1000`).
const PEERS_UP_TO_DIM: usize = 500;
const ECHIDNA_UP_TO_DIM: usize = 5_000;

pub struct Gmm {
    data: GmmData,
    theta: Vec<f64>,
    generated: GmmGrad,
    hand: GmmGrad,
    scratch: HandScratch,
    finite_differences: Vec<f64>,
    num_dual: Vec<f64>,
    duals: Vec<Dual64>,
    echidna: Vec<f64>,
}

impl Gmm {
    pub fn new(d: usize, k: usize, n: usize) -> Self {
        let data = GmmData::new(d, k, n);
        let theta = data.theta();
        let dim = theta.len();
        Self {
            data,
            theta,
            generated: Default::default(),
            hand: Default::default(),
            scratch: HandScratch::default(),
            finite_differences: vec![0.0; dim],
            num_dual: vec![0.0; dim],
            duals: Vec::new(),
            echidna: vec![0.0; dim],
        }
    }

    pub fn data(&self) -> &GmmData {
        &self.data
    }
}

fn flatten(g: &GmmGrad) -> Vec<f64> {
    let mut flat = g.0.clone();
    flat.extend(g.1.iter().flatten());
    flat.extend(g.2.iter().flatten());
    flat
}

impl Problem for Gmm {
    fn name(&self) -> String {
        let GmmData { alphas, x, .. } = &self.data;
        format!("gmm_d{}_k{}_n{}", self.data.d(), alphas.len(), x.len())
    }
    fn dim(&self) -> usize {
        self.theta.len()
    }
    fn runs(&self, method: Method) -> bool {
        match method {
            Method::FiniteDifferences | Method::NumDual => self.dim() <= PEERS_UP_TO_DIM,
            Method::Echidna => self.dim() <= ECHIDNA_UP_TO_DIM,
            Method::Primal | Method::Generated | Method::Hand => true,
        }
    }
    #[inline]
    fn primal(&mut self) -> f64 {
        let GmmData {
            alphas,
            means,
            icf,
            x,
        } = &self.data;
        gmm_objective(alphas, means, icf, x, WISHART_GAMMA, WISHART_M)
    }
    #[inline]
    fn generated(&mut self) -> f64 {
        let GmmData {
            alphas,
            means,
            icf,
            x,
        } = &self.data;
        gmm_objective_grad_into(
            alphas,
            means,
            icf,
            x,
            WISHART_GAMMA,
            WISHART_M,
            &mut self.generated,
        )
    }
    #[inline]
    fn hand(&mut self) -> f64 {
        let GmmData {
            alphas,
            means,
            icf,
            x,
        } = &self.data;
        gmm_objective_hand(
            alphas,
            means,
            icf,
            x,
            WISHART_GAMMA,
            WISHART_M,
            &mut self.scratch,
            &mut self.hand,
        )
    }
    /// On the generic copy at `f64` (the peers' flat parameters), not on [`gmm_objective`]'s
    /// vectors of rows.
    #[inline]
    fn finite_differences(&mut self) -> f64 {
        let (x, k, d) = (&self.data.x, self.data.alphas.len(), self.data.d());
        central_differences(
            |theta| {
                let (alphas, means, icf) = split(theta, k, d);
                gmm_objective_generic(alphas, means, icf, x, WISHART_GAMMA, WISHART_M)
            },
            &mut self.theta,
            &mut self.finite_differences,
        )
    }
    #[inline]
    fn num_dual(&mut self) -> f64 {
        let (x, k, d) = (&self.data.x, self.data.alphas.len(), self.data.d());
        dual_gradient(
            |theta| {
                let (alphas, means, icf) = split(theta, k, d);
                gmm_objective_generic(alphas, means, icf, x, WISHART_GAMMA, WISHART_M)
            },
            &self.theta,
            &mut self.duals,
            &mut self.num_dual,
        )
    }
    #[inline]
    fn echidna(&mut self) -> f64 {
        let (x, k, d) = (&self.data.x, self.data.alphas.len(), self.data.d());
        echidna_gradient(
            |theta| {
                let (alphas, means, icf) = split(theta, k, d);
                gmm_objective_generic(alphas, means, icf, x, WISHART_GAMMA, WISHART_M)
            },
            &self.theta,
            &mut self.echidna,
        )
    }
    fn gradient(&self, method: Method) -> Vec<f64> {
        match method {
            Method::Primal => Vec::new(),
            Method::Generated => flatten(&self.generated),
            Method::Hand => flatten(&self.hand),
            Method::FiniteDifferences => self.finite_differences.clone(),
            Method::NumDual => self.num_dual.clone(),
            Method::Echidna => self.echidna.clone(),
        }
    }
}

/// The same problem as [`Gmm`] (same data, hand-written gradient and peers), with the primal and
/// the generated gradient of [`gmm_objective_hoisted`].
pub struct GmmHoisted {
    loop_local: Gmm,
    generated: GmmGrad,
}

impl GmmHoisted {
    pub fn new(d: usize, k: usize, n: usize) -> Self {
        Self {
            loop_local: Gmm::new(d, k, n),
            generated: Default::default(),
        }
    }
}

impl Problem for GmmHoisted {
    fn name(&self) -> String {
        self.loop_local.name().replacen("gmm", "gmm_hoisted", 1)
    }
    fn dim(&self) -> usize {
        self.loop_local.dim()
    }
    fn runs(&self, method: Method) -> bool {
        self.loop_local.runs(method)
    }
    #[inline]
    fn primal(&mut self) -> f64 {
        let GmmData {
            alphas,
            means,
            icf,
            x,
        } = &self.loop_local.data;
        gmm_objective_hoisted(alphas, means, icf, x, WISHART_GAMMA, WISHART_M)
    }
    #[inline]
    fn generated(&mut self) -> f64 {
        let GmmData {
            alphas,
            means,
            icf,
            x,
        } = &self.loop_local.data;
        gmm_objective_hoisted_grad_into(
            alphas,
            means,
            icf,
            x,
            WISHART_GAMMA,
            WISHART_M,
            &mut self.generated,
        )
    }
    fn hand(&mut self) -> f64 {
        self.loop_local.hand()
    }
    fn finite_differences(&mut self) -> f64 {
        self.loop_local.finite_differences()
    }
    fn num_dual(&mut self) -> f64 {
        self.loop_local.num_dual()
    }
    fn echidna(&mut self) -> f64 {
        self.loop_local.echidna()
    }
    fn gradient(&self, method: Method) -> Vec<f64> {
        match method {
            Method::Generated => flatten(&self.generated),
            _ => self.loop_local.gradient(method),
        }
    }
}
