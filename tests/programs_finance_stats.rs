//! Programs from finance and statistics, written as practitioners write them, differentiated with
//! `#[differentiate]` and checked against forward-mode dual numbers, central differences and
//! closed forms (see `programs/common.rs`).
#![allow(clippy::needless_range_loop)] // index loops are how this numerical code is written
#![allow(clippy::too_many_arguments)]
#![allow(clippy::excessive_precision)] // published coefficients are quoted as published

#[path = "programs/common.rs"]
mod common;

use autodiff_core::{Differentiable, differentiate, no_grad};
use common::{Fd, Reader, Tol, assert_close, c, check_oracles, flat};
use std::f64::consts::PI;

// ------------------------------------------------------------------------------------------
// Black–Scholes with the Abramowitz–Stegun 7.1.26 approximation of erf; the market in a struct
// passed through calls; the normal CDF a differentiated function calling another.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn erf_approx(x: f64) -> f64 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    sign * (1.0 - poly * (-x * x).exp())
}

#[differentiate]
fn norm_cdf(x: f64) -> f64 {
    0.5 * (1.0 + erf_approx(x / std::f64::consts::SQRT_2))
}

#[derive(Clone, Differentiable)]
struct Market {
    spot: f64,
    rate: f64,
    vol: f64,
}

#[differentiate]
fn bs_call(m: &Market, strike: f64, expiry: f64) -> f64 {
    let sqrt_t = expiry.sqrt();
    let d1 = ((m.spot / strike).ln() + (m.rate + 0.5 * m.vol * m.vol) * expiry) / (m.vol * sqrt_t);
    let d2 = d1 - m.vol * sqrt_t;
    m.spot * norm_cdf(d1) - strike * (-m.rate * expiry).exp() * norm_cdf(d2)
}

fn erf_approx_fd(x: Fd) -> Fd {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let poly = t
        * (0.254829592
            + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    sign * (1.0 - poly * (-x * x).exp())
}

fn norm_cdf_fd(x: Fd) -> Fd {
    0.5 * (1.0 + erf_approx_fd(x / std::f64::consts::SQRT_2))
}

fn bs_call_fd(spot: Fd, rate: Fd, vol: Fd, strike: Fd, expiry: Fd) -> Fd {
    let sqrt_t = expiry.sqrt();
    let d1 = ((spot / strike).ln() + (rate + 0.5 * vol * vol) * expiry) / (vol * sqrt_t);
    let d2 = d1 - vol * sqrt_t;
    spot * norm_cdf_fd(d1) - strike * (-rate * expiry).exp() * norm_cdf_fd(d2)
}

fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
}

#[test]
fn black_scholes_greeks() {
    // In, at and out of the money; d1 < 0 in the last (the erf's sign branch).
    for (spot, strike) in [(110.0, 100.0), (100.0, 101.0), (80.0, 100.0)] {
        let m = Market {
            spot,
            rate: 0.03,
            vol: 0.25,
        };
        let expiry = 0.75;
        let (value, (dm, dk, dt)) =
            generated!(bs_call_grad, bs_call_pullback, bs_call_grad_into; &m, strike, expiry);
        let g = [dm.spot, dm.rate, dm.vol, dk, dt];
        check_oracles(
            "bs_call",
            &[spot, 0.03, 0.25, strike, expiry],
            value,
            &g,
            |p| {
                bs_call(
                    &Market {
                        spot: p[0],
                        rate: p[1],
                        vol: p[2],
                    },
                    p[3],
                    p[4],
                )
            },
            |p| bs_call_fd(p[0], p[1], p[2], p[3], p[4]),
            Tol::default(),
        );
        // The Greeks' closed forms hold where N' is the normal density exactly; the
        // approximation's derivative differs by ~1e-7, multiplied by S / (σ √T) in the Greeks.
        // (Forward mode above is the exact check; this one catches a wrong formula.)
        let approx = 1e-4;
        let d1 = ((spot / strike).ln() + (0.03 + 0.5 * 0.0625) * expiry) / (0.25 * expiry.sqrt());
        let d2 = d1 - 0.25 * expiry.sqrt();
        let discount = (-0.03 * expiry).exp();
        assert_close(
            dm.spot,
            0.5 * (1.0 + erf(d1 / 2f64.sqrt())),
            approx,
            "delta",
        );
        assert_close(dm.vol, spot * norm_pdf(d1) * expiry.sqrt(), approx, "vega");
        assert_close(
            dm.rate,
            strike * expiry * discount * 0.5 * (1.0 + erf(d2 / 2f64.sqrt())),
            approx,
            "rho",
        );
        assert_close(
            dk,
            -discount * 0.5 * (1.0 + erf(d2 / 2f64.sqrt())),
            approx,
            "d price / d strike",
        );
    }
}

/// erf to 1e-16 by its Taylor series (|x| < 3), for the closed forms.
fn erf(x: f64) -> f64 {
    let mut term = x;
    let mut sum = x;
    for n in 1..200 {
        term *= -x * x / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    2.0 / PI.sqrt() * sum
}

// ------------------------------------------------------------------------------------------
// Implied volatility by Newton's method with an early return, calling a differentiated function
// that returns (price, vega) in every iteration. d sigma / d price is 1 / vega.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn bs_call_and_vega(spot: f64, strike: f64, rate: f64, vol: f64, expiry: f64) -> (f64, f64) {
    let sqrt_t = expiry.sqrt();
    let d1 = ((spot / strike).ln() + (rate + 0.5 * vol * vol) * expiry) / (vol * sqrt_t);
    let d2 = d1 - vol * sqrt_t;
    let price = spot * norm_cdf(d1) - strike * (-rate * expiry).exp() * norm_cdf(d2);
    let vega = spot * (-0.5 * d1 * d1).exp() / (2.0 * PI).sqrt() * sqrt_t;
    (price, vega)
}

#[differentiate(wrt(price, spot, strike, rate))]
fn implied_vol(price: f64, spot: f64, strike: f64, rate: f64, expiry: f64) -> f64 {
    let mut sigma = 0.3;
    for _ in 0..50 {
        let (model, vega) = bs_call_and_vega(spot, strike, rate, sigma, expiry);
        let step = (model - price) / vega;
        sigma -= step;
        if step.abs() < 1e-13 {
            return sigma;
        }
    }
    sigma
}

fn bs_call_and_vega_fd(spot: Fd, strike: Fd, rate: Fd, vol: Fd, expiry: f64) -> (Fd, Fd) {
    let sqrt_t = expiry.sqrt();
    let d1 = ((spot / strike).ln() + (rate + 0.5 * vol * vol) * expiry) / (vol * sqrt_t);
    let d2 = d1 - vol * sqrt_t;
    let price = spot * norm_cdf_fd(d1) - strike * (-rate * expiry).exp() * norm_cdf_fd(d2);
    let vega = spot * (-0.5 * d1 * d1).exp() / (2.0 * PI).sqrt() * sqrt_t;
    (price, vega)
}

fn implied_vol_fd(price: Fd, spot: Fd, strike: Fd, rate: Fd, expiry: f64) -> Fd {
    let mut sigma = c(0.3);
    for _ in 0..50 {
        let (model, vega) = bs_call_and_vega_fd(spot, strike, rate, sigma, expiry);
        let step = (model - price) / vega;
        sigma -= step;
        if step.abs() < 1e-13 {
            return sigma;
        }
    }
    sigma
}

#[test]
fn implied_volatility_newton() {
    let (spot, strike, rate, expiry) = (100.0, 105.0, 0.02, 0.5);
    let m = Market {
        spot,
        rate,
        vol: 0.35,
    };
    let price = bs_call(&m, strike, expiry);
    let (value, g) = generated!(implied_vol_grad, implied_vol_pullback, implied_vol_grad_into;
        price, spot, strike, rate, expiry);
    assert_close(value, 0.35, 1e-12, "implied vol recovers the vol");
    check_oracles(
        "implied_vol",
        &[price, spot, strike, rate],
        value,
        &flat(&g),
        |p| implied_vol(p[0], p[1], p[2], p[3], expiry),
        |p| implied_vol_fd(p[0], p[1], p[2], p[3], expiry),
        Tol {
            dual: 1e-10,
            ..Tol::default()
        },
    );
    // The implicit function theorem: d sigma / d x = -(dC/dx) / (dC/d sigma).
    let (_, (dm, dk, _)) = bs_call_grad(&m, strike, expiry);
    assert_close(g.0, 1.0 / dm.vol, 1e-9, "d sigma / d price");
    assert_close(g.1, -dm.spot / dm.vol, 1e-9, "d sigma / d spot");
    assert_close(g.2, -dk / dm.vol, 1e-9, "d sigma / d strike");
    assert_close(g.3, -dm.rate / dm.vol, 1e-9, "d sigma / d rate");
}

// ------------------------------------------------------------------------------------------
// A bond as a struct with methods: price by continuous discounting, Macaulay duration; the
// yield solved from a price by Newton's method in a `while` loop with a tolerance.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Differentiable)]
struct Bond {
    coupon: f64,
    face: f64,
    #[differentiable(skip)]
    years: usize,
}

impl Bond {
    #[differentiate]
    fn price(&self, y: f64) -> f64 {
        let mut p = 0.0;
        for t in 1..=self.years {
            p += self.coupon * (-y * t as f64).exp();
        }
        // `no_grad`: the macro cannot see that `years` is an integer (see the README's limits).
        p + self.face * (-y * no_grad(self.years) as f64).exp()
    }

    #[differentiate]
    fn duration(&self, y: f64) -> f64 {
        let mut weighted = 0.0;
        for t in 1..=self.years {
            let time = t as f64;
            weighted += time * self.coupon * (-y * time).exp();
        }
        let n = no_grad(self.years) as f64;
        weighted += n * self.face * (-y * n).exp();
        weighted / self.price(y)
    }

    #[differentiate]
    fn yield_from_price(&self, target: f64) -> f64 {
        let mut y = 0.05;
        let mut error = self.price(y) - target;
        let mut iterations = 0;
        while error.abs() > 1e-12 && iterations < 50 {
            // dP/dy = -D P
            let slope = -self.duration(y) * self.price(y);
            y -= error / slope;
            error = self.price(y) - target;
            iterations += 1;
        }
        y
    }
}

fn bond_price_fd(coupon: Fd, face: Fd, years: usize, y: Fd) -> Fd {
    let mut p = c(0.0);
    for t in 1..=years {
        p += coupon * (-y * t as f64).exp();
    }
    p + face * (-y * years as f64).exp()
}

fn bond_duration_fd(coupon: Fd, face: Fd, years: usize, y: Fd) -> Fd {
    let mut weighted = c(0.0);
    for t in 1..=years {
        let time = t as f64;
        weighted += time * coupon * (-y * time).exp();
    }
    let n = years as f64;
    weighted += n * face * (-y * n).exp();
    weighted / bond_price_fd(coupon, face, years, y)
}

fn bond_yield_fd(coupon: Fd, face: Fd, years: usize, target: Fd) -> Fd {
    let mut y = c(0.05);
    let mut error = bond_price_fd(coupon, face, years, y) - target;
    let mut iterations = 0;
    while error.abs() > 1e-12 && iterations < 50 {
        let slope =
            -bond_duration_fd(coupon, face, years, y) * bond_price_fd(coupon, face, years, y);
        y -= error / slope;
        error = bond_price_fd(coupon, face, years, y) - target;
        iterations += 1;
    }
    y
}

#[test]
fn bond_price_duration_and_yield() {
    let bond = Bond {
        coupon: 4.0,
        face: 100.0,
        years: 7,
    };
    let y = 0.045;
    // Price: dP/dy = -D P (closed form through the other method).
    let (p, (dbond, dy)) = generated!(bond => price_grad, price_pullback, price_grad_into; y);
    check_oracles(
        "bond price",
        &[4.0, 100.0, y],
        p,
        &[dbond.coupon, dbond.face, dy],
        |q| {
            Bond {
                coupon: q[0],
                face: q[1],
                years: 7,
            }
            .price(q[2])
        },
        |q| bond_price_fd(q[0], q[1], 7, q[2]),
        Tol::default(),
    );
    assert_close(dy, -bond.duration(y) * p, 1e-13, "dP/dy = -D P");
    assert_eq!(dbond.years, 7);
    // Duration: a method calling a method.
    let (d, (dbond, dy)) =
        generated!(bond => duration_grad, duration_pullback, duration_grad_into; y);
    check_oracles(
        "bond duration",
        &[4.0, 100.0, y],
        d,
        &[dbond.coupon, dbond.face, dy],
        |q| {
            Bond {
                coupon: q[0],
                face: q[1],
                years: 7,
            }
            .duration(q[2])
        },
        |q| bond_duration_fd(q[0], q[1], 7, q[2]),
        Tol::default(),
    );
    // The yield from a price: Newton in a while loop, derivatives by the implicit function theorem.
    let target = 97.5;
    let (yld, (dbond, dtarget)) = generated!(bond => yield_from_price_grad,
        yield_from_price_pullback, yield_from_price_grad_into; target);
    assert_close(bond.price(yld), target, 1e-12, "yield solves the price");
    check_oracles(
        "bond yield",
        &[4.0, 100.0, target],
        yld,
        &[dbond.coupon, dbond.face, dtarget],
        |q| {
            Bond {
                coupon: q[0],
                face: q[1],
                years: 7,
            }
            .yield_from_price(q[2])
        },
        |q| bond_yield_fd(q[0], q[1], 7, q[2]),
        Tol {
            dual: 1e-10,
            ..Tol::default()
        },
    );
    let (pv, (dp_dbond, dp_dy)) = bond.price_grad(yld);
    assert_close(dtarget, 1.0 / dp_dy, 1e-10, "dy / dtarget");
    assert_close(
        dbond.coupon,
        -dp_dbond.coupon / dp_dy,
        1e-10,
        "dy / dcoupon",
    );
    assert_close(pv, target, 1e-12, "price at the yield");
}

// ------------------------------------------------------------------------------------------
// Portfolio: variance w' Σ w with a covariance matrix, and the Sharpe ratio calling it.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn portfolio_variance(w: &[f64; 4], cov: &[[f64; 4]; 4]) -> f64 {
    let mut var = 0.0;
    for i in 0..4 {
        for j in 0..4 {
            var += w[i] * cov[i][j] * w[j];
        }
    }
    var
}

#[differentiate(wrt(w, mu, cov))]
fn sharpe_ratio(w: [f64; 4], mu: [f64; 4], cov: [[f64; 4]; 4], risk_free: f64) -> f64 {
    let mut excess = 0.0;
    for (wi, mi) in w.iter().zip(mu.iter()) {
        excess += wi * mi;
    }
    excess -= risk_free * w.iter().sum::<f64>();
    excess / portfolio_variance(&w, &cov).sqrt()
}

fn portfolio_variance_fd(w: &[Fd; 4], cov: &[[Fd; 4]; 4]) -> Fd {
    let mut var = c(0.0);
    for i in 0..4 {
        for j in 0..4 {
            var += w[i] * cov[i][j] * w[j];
        }
    }
    var
}

fn sharpe_ratio_fd(w: [Fd; 4], mu: [Fd; 4], cov: [[Fd; 4]; 4], risk_free: f64) -> Fd {
    let mut excess = c(0.0);
    for (wi, mi) in w.iter().zip(mu.iter()) {
        excess += *wi * *mi;
    }
    excess -= risk_free * w.iter().copied().sum::<Fd>();
    excess / portfolio_variance_fd(&w, &cov).sqrt()
}

const COV: [[f64; 4]; 4] = [
    [0.040, 0.006, 0.010, 0.002],
    [0.006, 0.090, 0.012, 0.004],
    [0.010, 0.012, 0.060, 0.008],
    [0.002, 0.004, 0.008, 0.020],
];

#[test]
fn portfolio_variance_and_sharpe() {
    let w = [0.3, 0.2, 0.1, 0.4];
    let mu = [0.07, 0.12, 0.09, 0.04];
    let (var, (dw, dcov)) = generated!(portfolio_variance_grad, portfolio_variance_pullback,
        portfolio_variance_grad_into; &w, &COV);
    for i in 0..4 {
        let sigma_w: f64 = (0..4).map(|j| COV[i][j] * w[j]).sum();
        assert_close(dw[i], 2.0 * sigma_w, 1e-15, "2 Σ w");
        for j in 0..4 {
            assert_close(dcov[i][j], w[i] * w[j], 1e-16, "w w'");
        }
    }
    let mut x = w.to_vec();
    x.extend(flat(&COV));
    let mut g = dw.to_vec();
    g.extend(flat(&dcov));
    check_oracles(
        "portfolio_variance",
        &x,
        var,
        &g,
        |p| {
            let mut r = Reader::new(p);
            portfolio_variance(&r.a(), &r.m())
        },
        |p| {
            let mut r = Reader::new(p);
            portfolio_variance_fd(&r.a(), &r.m())
        },
        Tol::default(),
    );

    let (s, g) = generated!(sharpe_ratio_grad, sharpe_ratio_pullback, sharpe_ratio_grad_into;
        w, mu, COV, 0.02);
    let mut x = w.to_vec();
    x.extend(mu);
    x.extend(flat(&COV));
    check_oracles(
        "sharpe_ratio",
        &x,
        s,
        &flat(&g),
        |p| {
            let mut r = Reader::new(p);
            sharpe_ratio(r.a(), r.a(), r.m(), 0.02)
        },
        |p| {
            let mut r = Reader::new(p);
            sharpe_ratio_fd(r.a(), r.a(), r.m(), 0.02)
        },
        Tol::default(),
    );
    // The Sharpe ratio is scale invariant in w: its gradient is orthogonal to w.
    let dot: f64 = (0..4).map(|i| g.0[i] * w[i]).sum();
    assert!(dot.abs() < 1e-14, "w . grad = {dot}");
}

// ------------------------------------------------------------------------------------------
// Monte Carlo price of an arithmetic Asian call with normal draws passed in as data: GBM paths,
// pathwise derivatives (delta, vega, rho, d/dstrike) through `.max(0.0)`.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(spot, rate, vol, strike))]
fn asian_call_mc(
    spot: f64,
    rate: f64,
    vol: f64,
    strike: f64,
    expiry: f64,
    draws: &[Vec<f64>],
) -> f64 {
    let steps = draws[0].len();
    let dt = expiry / steps as f64;
    let drift = (rate - 0.5 * vol * vol) * dt;
    let diffusion = vol * dt.sqrt();
    let mut total = 0.0;
    for path in draws.iter() {
        let mut s = spot;
        let mut sum = 0.0;
        // `for z in path.iter()` is rejected: "iterating over a row of an array is not
        // supported; iterate over its indices".
        for k in 0..steps {
            s *= (drift + diffusion * path[k]).exp();
            sum += s;
        }
        let average = sum / steps as f64;
        total += (average - strike).max(0.0);
    }
    (-rate * expiry).exp() * total / draws.len() as f64
}

fn asian_call_mc_fd(
    spot: Fd,
    rate: Fd,
    vol: Fd,
    strike: Fd,
    expiry: f64,
    draws: &[Vec<f64>],
) -> Fd {
    let steps = draws[0].len();
    let dt = expiry / steps as f64;
    let drift = (rate - 0.5 * vol * vol) * dt;
    let diffusion = vol * dt.sqrt();
    let mut total = c(0.0);
    for path in draws.iter() {
        let mut s = spot;
        let mut sum = c(0.0);
        for z in path.iter() {
            s *= (drift + diffusion * *z).exp();
            sum += s;
        }
        let average = sum / steps as f64;
        total += (average - strike).max(0.0);
    }
    (-rate * expiry).exp() * total / draws.len() as f64
}

/// Deterministic standard-normal-looking draws (Box–Muller on a fixed sequence).
fn draws(paths: usize, steps: usize) -> Vec<Vec<f64>> {
    (0..paths)
        .map(|p| {
            (0..steps)
                .map(|s| {
                    let u1 = ((p * steps + s) as f64 * 0.618_033_988_75 + 0.1)
                        .fract()
                        .max(1e-3);
                    let u2 = ((p * steps + s) as f64 * 0.414_213_562_37 + 0.3).fract();
                    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
                })
                .collect()
        })
        .collect()
}

#[test]
fn asian_option_monte_carlo() {
    let z = draws(40, 12);
    let (spot, rate, vol, strike, expiry) = (100.0, 0.03, 0.3, 98.0, 1.0);
    let (value, g) = generated!(asian_call_mc_grad, asian_call_mc_pullback,
        asian_call_mc_grad_into; spot, rate, vol, strike, expiry, &z);
    check_oracles(
        "asian_call_mc",
        &[spot, rate, vol, strike],
        value,
        &flat(&g),
        |p| asian_call_mc(p[0], p[1], p[2], p[3], expiry, &z),
        |p| asian_call_mc_fd(p[0], p[1], p[2], p[3], expiry, &z),
        Tol::default(),
    );
    // The price is homogeneous of degree one in (spot, strike): V = S dV/dS + K dV/dK.
    assert_close(value, spot * g.0 + strike * g.3, 1e-13, "Euler homogeneity");
}

// ------------------------------------------------------------------------------------------
// SABR implied volatility (Hagan et al. 2002), a long formula with an at-the-money branch.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(alpha, rho, nu, forward, strike))]
fn sabr_vol(
    alpha: f64,
    beta: f64,
    rho: f64,
    nu: f64,
    forward: f64,
    strike: f64,
    expiry: f64,
) -> f64 {
    let one_b = 1.0 - beta;
    let fk = forward * strike;
    let fk_beta = fk.powf(0.5 * one_b);
    let log_fk = (forward / strike).ln();
    let correction = 1.0
        + (one_b * one_b / 24.0 * alpha * alpha / fk.powf(one_b)
            + 0.25 * rho * beta * nu * alpha / fk_beta
            + (2.0 - 3.0 * rho * rho) / 24.0 * nu * nu)
            * expiry;
    let denominator = fk_beta
        * (1.0 + one_b.powi(2) / 24.0 * log_fk.powi(2) + one_b.powi(4) / 1920.0 * log_fk.powi(4));
    if log_fk.abs() < 1e-7 {
        return alpha / denominator * correction;
    }
    let z = nu / alpha * fk_beta * log_fk;
    let x = (((1.0 - 2.0 * rho * z + z * z).sqrt() + z - rho) / (1.0 - rho)).ln();
    alpha / denominator * (z / x) * correction
}

fn sabr_vol_fd(alpha: Fd, beta: f64, rho: Fd, nu: Fd, forward: Fd, strike: Fd, expiry: f64) -> Fd {
    let one_b = 1.0 - beta;
    let fk = forward * strike;
    let fk_beta = fk.powf(0.5 * one_b);
    let log_fk = (forward / strike).ln();
    let correction = 1.0
        + (one_b * one_b / 24.0 * alpha * alpha / fk.powf(one_b)
            + 0.25 * rho * beta * nu * alpha / fk_beta
            + (2.0 - 3.0 * rho * rho) / 24.0 * nu * nu)
            * expiry;
    let denominator = fk_beta
        * (1.0 + one_b.powi(2) / 24.0 * log_fk.powi(2) + one_b.powi(4) / 1920.0 * log_fk.powi(4));
    if log_fk.abs() < 1e-7 {
        return alpha / denominator * correction;
    }
    let z = nu / alpha * fk_beta * log_fk;
    let x = (((1.0 - 2.0 * rho * z + z * z).sqrt() + z - rho) / (1.0 - rho)).ln();
    alpha / denominator * (z / x) * correction
}

#[test]
fn sabr_implied_volatility() {
    for strike in [0.025, 0.03, 0.04] {
        let x = [0.035, -0.3, 0.45, 0.03, strike];
        let (value, g) = generated!(sabr_vol_grad, sabr_vol_pullback, sabr_vol_grad_into;
            x[0], 0.5, x[1], x[2], x[3], x[4], 2.0);
        let f = |p: &[f64]| sabr_vol(p[0], 0.5, p[1], p[2], p[3], p[4], 2.0);
        let fd = |p: &[Fd]| sabr_vol_fd(p[0], 0.5, p[1], p[2], p[3], p[4], 2.0);
        if strike == 0.03 {
            // At the money the branch drops the terms of first order in ln(F/K), so its
            // derivative in F and K is not the limit of the other branch's: differences, which
            // leave the branch, do not apply.
            common::check_forward_mode("sabr_vol atm", &x, value, &flat(&g), f, fd, Tol::default());
        } else {
            check_oracles("sabr_vol", &x, value, &flat(&g), f, fd, Tol::default());
        }
    }
}

// ------------------------------------------------------------------------------------------
// GARCH(1,1): the negative log-likelihood of returns, the conditional variance carried through
// the loop and started at the unconditional variance.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(omega, alpha, beta))]
fn garch_nll(omega: f64, alpha: f64, beta: f64, returns: &[f64]) -> f64 {
    let mut variance = omega / (1.0 - alpha - beta);
    let mut nll = 0.0;
    for &r in returns.iter() {
        nll += 0.5 * ((2.0 * PI).ln() + variance.ln() + r * r / variance);
        variance = omega + alpha * r * r + beta * variance;
    }
    nll
}

fn garch_nll_fd(omega: Fd, alpha: Fd, beta: Fd, returns: &[f64]) -> Fd {
    let mut variance = omega / (1.0 - alpha - beta);
    let mut nll = c(0.0);
    for &r in returns.iter() {
        nll += 0.5 * ((2.0 * PI).ln() + variance.ln() + r * r / variance);
        variance = omega + alpha * r * r + beta * variance;
    }
    nll
}

fn returns() -> Vec<f64> {
    (0..60)
        .map(|t| 0.01 * ((t as f64 * 1.3).sin() + 0.5 * (t as f64 * 0.37).cos()))
        .collect()
}

#[test]
fn garch_likelihood() {
    let r = returns();
    let x = [2e-6, 0.08, 0.9];
    let (value, g) = generated!(garch_nll_grad, garch_nll_pullback, garch_nll_grad_into;
        x[0], x[1], x[2], &r);
    check_oracles(
        "garch_nll",
        &x,
        value,
        &flat(&g),
        |p| garch_nll(p[0], p[1], p[2], &r),
        |p| garch_nll_fd(p[0], p[1], p[2], &r),
        Tol {
            fd: 1e-6,
            ..Tol::default()
        },
    );
}

// ------------------------------------------------------------------------------------------
// Holt's linear exponential smoothing: level and trend carried, the previous level kept in a
// `let` for the trend update; the sum of squared one-step forecast errors.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(alpha, beta))]
fn holt_sse(alpha: f64, beta: f64, y: &[f64]) -> f64 {
    let mut level = y[0];
    let mut trend = y[1] - y[0];
    let mut sse = 0.0;
    for t in 1..y.len() {
        let forecast = level + trend;
        sse += (y[t] - forecast).powi(2);
        let previous_level = level;
        level = alpha * y[t] + (1.0 - alpha) * (level + trend);
        trend = beta * (level - previous_level) + (1.0 - beta) * trend;
    }
    sse
}

fn holt_sse_fd(alpha: Fd, beta: Fd, y: &[f64]) -> Fd {
    let mut level = c(y[0]);
    let mut trend = c(y[1] - y[0]);
    let mut sse = c(0.0);
    for t in 1..y.len() {
        let forecast = level + trend;
        sse += (y[t] - forecast).powi(2);
        let previous_level = level;
        level = alpha * y[t] + (1.0 - alpha) * (level + trend);
        trend = beta * (level - previous_level) + (1.0 - beta) * trend;
    }
    sse
}

#[test]
fn holt_exponential_smoothing() {
    let y: Vec<f64> = (0..30)
        .map(|t| 10.0 + 0.5 * t as f64 + (t as f64 * 0.9).sin())
        .collect();
    let (value, g) = generated!(holt_sse_grad, holt_sse_pullback, holt_sse_grad_into; 0.4, 0.2, &y);
    check_oracles(
        "holt_sse",
        &[0.4, 0.2],
        value,
        &flat(&g),
        |p| holt_sse(p[0], p[1], &y),
        |p| holt_sse_fd(p[0], p[1], &y),
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// A local-level Kalman filter: mean and variance carried, the log-likelihood of the innovations;
// the noise variances as logs, the prior in a struct.
// ------------------------------------------------------------------------------------------

#[derive(Clone, Differentiable)]
struct Prior {
    mean: f64,
    variance: f64,
}

#[differentiate(wrt(log_q, log_r, prior))]
fn kalman_loglik(log_q: f64, log_r: f64, prior: &Prior, y: &[f64]) -> f64 {
    let q = log_q.exp();
    let r = log_r.exp();
    let mut m = prior.mean;
    let mut p = prior.variance;
    let mut ll = 0.0;
    for t in 0..y.len() {
        let m_pred = m;
        let p_pred = p + q;
        let s = p_pred + r;
        let innovation = y[t] - m_pred;
        ll -= 0.5 * ((2.0 * PI * s).ln() + innovation * innovation / s);
        let gain = p_pred / s;
        m = m_pred + gain * innovation;
        p = (1.0 - gain) * p_pred;
    }
    ll
}

fn kalman_loglik_fd(log_q: Fd, log_r: Fd, mean: Fd, variance: Fd, y: &[f64]) -> Fd {
    let q = log_q.exp();
    let r = log_r.exp();
    let mut m = mean;
    let mut p = variance;
    let mut ll = c(0.0);
    for t in 0..y.len() {
        let m_pred = m;
        let p_pred = p + q;
        let s = p_pred + r;
        let innovation = y[t] - m_pred;
        ll -= 0.5 * ((2.0 * PI * s).ln() + innovation * innovation / s);
        let gain = p_pred / s;
        m = m_pred + gain * innovation;
        p = (1.0 - gain) * p_pred;
    }
    ll
}

#[test]
fn kalman_filter_likelihood() {
    let y: Vec<f64> = (0..40)
        .map(|t| (t as f64 * 0.2).sin() + 0.3 * (t as f64 * 2.1).cos())
        .collect();
    let prior = Prior {
        mean: 0.1,
        variance: 2.0,
    };
    let (value, (dq, dr, dprior)) = generated!(kalman_loglik_grad, kalman_loglik_pullback,
        kalman_loglik_grad_into; -2.0, -1.5, &prior, &y);
    check_oracles(
        "kalman_loglik",
        &[-2.0, -1.5, 0.1, 2.0],
        value,
        &[dq, dr, dprior.mean, dprior.variance],
        |p| {
            kalman_loglik(
                p[0],
                p[1],
                &Prior {
                    mean: p[2],
                    variance: p[3],
                },
                &y,
            )
        },
        |p| kalman_loglik_fd(p[0], p[1], p[2], p[3], &y),
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// Student-t log-likelihood with the degrees of freedom estimated: ln Γ by the Lanczos
// approximation (a loop over a const table), location and scale; then a Poisson GLM.
// ------------------------------------------------------------------------------------------

const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_93,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_13,
    -176.615_029_162_140_59,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_571_6e-6,
    1.505_632_735_149_311_6e-7,
];

/// ln Γ(x) for x > 0.5 (Lanczos, g = 7).
#[differentiate]
fn ln_gamma(x: f64) -> f64 {
    let x = x - 1.0;
    let mut a = LANCZOS[0];
    let t = x + 7.5;
    for i in 1..9 {
        a += LANCZOS[i] / (x + i as f64);
    }
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[differentiate(wrt(mu, log_sigma, nu))]
fn student_t_loglik(mu: f64, log_sigma: f64, nu: f64, data: &[f64]) -> f64 {
    let sigma = log_sigma.exp();
    let n = data.len() as f64;
    let mut ll =
        n * (ln_gamma(0.5 * (nu + 1.0)) - ln_gamma(0.5 * nu) - 0.5 * (nu * PI).ln() - log_sigma);
    for x in data {
        let z = (x - mu) / sigma;
        ll -= 0.5 * (nu + 1.0) * (z * z / nu).ln_1p();
    }
    ll
}

fn ln_gamma_fd(x: Fd) -> Fd {
    let x = x - 1.0;
    let mut a = c(LANCZOS[0]);
    let t = x + 7.5;
    for i in 1..9 {
        a += LANCZOS[i] / (x + i as f64);
    }
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

fn student_t_loglik_fd(mu: Fd, log_sigma: Fd, nu: Fd, data: &[f64]) -> Fd {
    let sigma = log_sigma.exp();
    let n = data.len() as f64;
    let mut ll = n
        * (ln_gamma_fd(0.5 * (nu + 1.0))
            - ln_gamma_fd(0.5 * nu)
            - 0.5 * (nu * PI).ln()
            - log_sigma);
    for x in data {
        let z = (*x - mu) / sigma;
        ll -= 0.5 * (nu + 1.0) * (z * z / nu).ln_1p();
    }
    ll
}

#[test]
fn student_t_likelihood() {
    // ln Γ against known values and the digamma function ψ(1) = -γ.
    assert_close(ln_gamma(5.0), 24f64.ln(), 1e-13, "ln Γ(5)");
    assert_close(ln_gamma(0.5), PI.sqrt().ln(), 1e-13, "ln Γ(1/2)");
    let (_, psi1) = ln_gamma_grad(1.0);
    assert_close(psi1, -0.577_215_664_901_532_9, 1e-12, "ψ(1)");
    let data: Vec<f64> = (0..25)
        .map(|i| (i as f64 * 0.77).sin() * 2.0 + 0.3)
        .collect();
    let x = [0.2, 0.1, 4.5];
    let (value, g) = generated!(student_t_loglik_grad, student_t_loglik_pullback,
        student_t_loglik_grad_into; x[0], x[1], x[2], &data);
    check_oracles(
        "student_t_loglik",
        &x,
        value,
        &flat(&g),
        |p| student_t_loglik(p[0], p[1], p[2], &data),
        |p| student_t_loglik_fd(p[0], p[1], p[2], &data),
        Tol::default(),
    );
}

/// A Poisson GLM with log link: the log-likelihood of counts, ln y! by a loop over integers.
#[differentiate(wrt(beta))]
fn poisson_glm_loglik(beta: &[f64; 3], x: &[[f64; 3]], y: &[u32]) -> f64 {
    let mut ll = 0.0;
    for (row, &count) in x.iter().zip(y.iter()) {
        let mut eta = 0.0;
        for j in 0..3 {
            eta += beta[j] * row[j];
        }
        let mut log_factorial = 0.0;
        for k in 2..=count {
            log_factorial += (k as f64).ln();
        }
        ll += count as f64 * eta - eta.exp() - log_factorial;
    }
    ll
}

fn poisson_glm_loglik_fd(beta: &[Fd; 3], x: &[[f64; 3]], y: &[u32]) -> Fd {
    let mut ll = c(0.0);
    for (row, &count) in x.iter().zip(y.iter()) {
        let mut eta = c(0.0);
        for j in 0..3 {
            eta += beta[j] * row[j];
        }
        let mut log_factorial = 0.0;
        for k in 2..=count {
            log_factorial += (k as f64).ln();
        }
        ll += count as f64 * eta - eta.exp() - log_factorial;
    }
    ll
}

#[test]
fn poisson_regression() {
    let x: Vec<[f64; 3]> = (0..20)
        .map(|i| [1.0, (i as f64 * 0.3).sin(), (i as f64 * 0.17).cos()])
        .collect();
    let y: Vec<u32> = (0..20).map(|i| (i * 7 % 5) as u32).collect();
    let beta = [0.4, 0.3, -0.2];
    let (value, g) = generated!(poisson_glm_loglik_grad, poisson_glm_loglik_pullback,
        poisson_glm_loglik_grad_into; &beta, &x, &y);
    // The score X'(y - μ).
    for j in 0..3 {
        let mut score = 0.0;
        for i in 0..20 {
            let eta: f64 = (0..3).map(|k| beta[k] * x[i][k]).sum();
            score += x[i][j] * (y[i] as f64 - eta.exp());
        }
        assert_close(g[j], score, 1e-13, "Poisson score");
    }
    check_oracles(
        "poisson_glm_loglik",
        &beta,
        value,
        &g,
        |p| poisson_glm_loglik(&[p[0], p[1], p[2]], &x, &y),
        |p| poisson_glm_loglik_fd(&[p[0], p[1], p[2]], &x, &y),
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// A Cox–Ross–Rubinstein binomial tree: backward induction over a Vec with early exercise
// (`max` against the intrinsic value) chosen by a bool, nested loops with a reversed range.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(spot, strike, rate, vol))]
fn crr_put(
    spot: f64,
    strike: f64,
    rate: f64,
    vol: f64,
    expiry: f64,
    steps: usize,
    american: bool,
) -> f64 {
    let dt = expiry / steps as f64;
    let up = (vol * dt.sqrt()).exp();
    let down = 1.0 / up;
    let p = ((rate * dt).exp() - down) / (up - down);
    let discount = (-rate * dt).exp();
    let mut values = vec![0.0; steps + 1];
    for j in 0..=steps {
        let s = spot * up.powi(j as i32) * down.powi((steps - j) as i32);
        values[j] = (strike - s).max(0.0);
    }
    for n in (0..steps).rev() {
        for j in 0..=n {
            let continuation = discount * (p * values[j + 1] + (1.0 - p) * values[j]);
            if american {
                let s = spot * up.powi(j as i32) * down.powi((n - j) as i32);
                values[j] = continuation.max(strike - s);
            } else {
                values[j] = continuation;
            }
        }
    }
    values[0]
}

fn crr_put_fd(
    spot: Fd,
    strike: Fd,
    rate: Fd,
    vol: Fd,
    expiry: f64,
    steps: usize,
    american: bool,
) -> Fd {
    let dt = expiry / steps as f64;
    let up = (vol * dt.sqrt()).exp();
    let down = 1.0 / up;
    let p = ((rate * dt).exp() - down) / (up - down);
    let discount = (-rate * dt).exp();
    let mut values = vec![c(0.0); steps + 1];
    for j in 0..=steps {
        let s = spot * up.powi(j as i32) * down.powi((steps - j) as i32);
        values[j] = (strike - s).max(0.0);
    }
    for n in (0..steps).rev() {
        for j in 0..=n {
            let continuation = discount * (p * values[j + 1] + (1.0 - p) * values[j]);
            if american {
                let s = spot * up.powi(j as i32) * down.powi((n - j) as i32);
                values[j] = continuation.max(strike - s);
            } else {
                values[j] = continuation;
            }
        }
    }
    values[0]
}

#[test]
fn binomial_tree_put() {
    let x = [100.0, 105.0, 0.04, 0.3];
    for american in [false, true] {
        let (value, g) = generated!(crr_put_grad, crr_put_pullback, crr_put_grad_into;
            x[0], x[1], x[2], x[3], 0.5, 60, american);
        check_oracles(
            "crr_put",
            &x,
            value,
            &flat(&g),
            |p| crr_put(p[0], p[1], p[2], p[3], 0.5, 60, american),
            |p| crr_put_fd(p[0], p[1], p[2], p[3], 0.5, 60, american),
            // Differences cross nodes where exercise starts or the payoff's kink moves.
            Tol {
                fd: 1e-5,
                ..Tol::default()
            },
        );
        if !american {
            // The European tree converges to Black–Scholes (put by parity), delta to N(d1) - 1.
            let m = Market {
                spot: x[0],
                rate: x[2],
                vol: x[3],
            };
            let bs_put = bs_call(&m, x[1], 0.5) - x[0] + x[1] * (-x[2] * 0.5).exp();
            assert_close(value, bs_put, 2e-2, "tree vs Black–Scholes");
            let (_, (dm, _, _)) = bs_call_grad(&m, x[1], 0.5);
            // The tree's own delta sees the in-the-money set a node at a time: it converges as
            // O(1/sqrt(steps)), so this only catches a wrong sign or scale.
            assert_close(g.0, dm.spot - 1.0, 6e-2, "tree delta");
            // Homogeneous of degree one in (spot, strike).
            assert_close(value, x[0] * g.0 + x[1] * g.1, 1e-12, "homogeneity");
        } else {
            let european = crr_put(x[0], x[1], x[2], x[3], 0.5, 60, false);
            assert!(
                value > european,
                "early exercise has value: {value} vs {european}"
            );
        }
    }
}

// ------------------------------------------------------------------------------------------
// A self-exciting (Hawkes) process: the log-likelihood of event times by the recursive form of
// the exponential kernel's sum, a carried excitation updated in a branch.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(mu, alpha, beta))]
fn hawkes_loglik(mu: f64, alpha: f64, beta: f64, times: &[f64], horizon: f64) -> f64 {
    let mut ll = 0.0;
    let mut excitation = 0.0;
    for i in 0..times.len() {
        if i > 0 {
            excitation = (-beta * (times[i] - times[i - 1])).exp() * (1.0 + excitation);
        }
        ll += (mu + alpha * excitation).ln();
        ll -= alpha / beta * (1.0 - (-beta * (horizon - times[i])).exp());
    }
    ll - mu * horizon
}

fn hawkes_loglik_fd(mu: Fd, alpha: Fd, beta: Fd, times: &[f64], horizon: f64) -> Fd {
    // The direct O(n²) form: an independent formula.
    let mut ll = -mu * horizon;
    for i in 0..times.len() {
        let mut intensity = mu;
        for j in 0..i {
            intensity += alpha * (-beta * (times[i] - times[j])).exp();
        }
        ll += intensity.ln();
        ll -= alpha / beta * (1.0 - (-beta * (horizon - times[i])).exp());
    }
    ll
}

#[test]
fn hawkes_process_likelihood() {
    let times: Vec<f64> = (0..25)
        .map(|i| i as f64 * 0.8 + 0.3 * (i as f64 * 1.9).sin() + 0.4)
        .collect();
    let x = [0.6, 0.4, 1.5];
    let (value, g) = generated!(hawkes_loglik_grad, hawkes_loglik_pullback, hawkes_loglik_grad_into;
        x[0], x[1], x[2], &times, 21.0);
    check_oracles(
        "hawkes_loglik",
        &x,
        value,
        &flat(&g),
        |p| hawkes_loglik(p[0], p[1], p[2], &times, 21.0),
        |p| hawkes_loglik_fd(p[0], p[1], p[2], &times, 21.0),
        Tol::default(),
    );
}

// ------------------------------------------------------------------------------------------
// A two-state hidden Markov model: the forward algorithm in log space, the carried alpha array
// replaced by a fresh one each step, log-sum-exp through `max`; checked against the sum over
// every path.
// ------------------------------------------------------------------------------------------

#[differentiate]
fn log_emission(x: f64, mean: f64) -> f64 {
    -0.5 * (x - mean) * (x - mean) - 0.5 * (2.0 * PI).ln()
}

#[differentiate(wrt(log_init, log_trans, means))]
fn hmm_loglik(
    log_init: &[f64; 2],
    log_trans: &[[f64; 2]; 2],
    means: &[f64; 2],
    obs: &[f64],
) -> f64 {
    let mut alpha = [0.0; 2];
    for k in 0..2 {
        alpha[k] = log_init[k] + log_emission(obs[0], means[k]);
    }
    for t in 1..obs.len() {
        let mut next = [0.0; 2];
        for j in 0..2 {
            let a0 = alpha[0] + log_trans[0][j];
            let a1 = alpha[1] + log_trans[1][j];
            let m = a0.max(a1);
            next[j] = m + ((a0 - m).exp() + (a1 - m).exp()).ln() + log_emission(obs[t], means[j]);
        }
        alpha = next;
    }
    let m = alpha[0].max(alpha[1]);
    m + ((alpha[0] - m).exp() + (alpha[1] - m).exp()).ln()
}

fn hmm_loglik_fd(log_init: &[Fd; 2], log_trans: &[[Fd; 2]; 2], means: &[Fd; 2], obs: &[f64]) -> Fd {
    // Every one of the 2^T state paths, summed in probability space.
    let t_len = obs.len();
    let mut total = c(0.0);
    for path in 0..(1usize << t_len) {
        let state = |t: usize| (path >> t) & 1;
        let mut lp =
            log_init[state(0)] + -0.5 * (obs[0] - means[state(0)]).powi(2) - 0.5 * (2.0 * PI).ln();
        for t in 1..t_len {
            lp += log_trans[state(t - 1)][state(t)]
                - 0.5 * (obs[t] - means[state(t)]).powi(2)
                - 0.5 * (2.0 * PI).ln();
        }
        total += lp.exp();
    }
    total.ln()
}

#[test]
fn hidden_markov_forward_algorithm() {
    let log_init = [0.6f64.ln(), 0.4f64.ln()];
    let log_trans = [[0.9f64.ln(), 0.1f64.ln()], [0.2f64.ln(), 0.8f64.ln()]];
    let means = [-1.0, 1.5];
    let obs = [-0.8, -1.2, 0.3, 1.7, 1.1, -0.4, 1.9];
    let (value, g) = generated!(hmm_loglik_grad, hmm_loglik_pullback, hmm_loglik_grad_into;
        &log_init, &log_trans, &means, &obs);
    let mut x = log_init.to_vec();
    x.extend(flat(&log_trans));
    x.extend(means);
    check_oracles(
        "hmm_loglik",
        &x,
        value,
        &flat(&g),
        |p| {
            let mut r = Reader::new(p);
            hmm_loglik(&r.a(), &r.m(), &r.a(), &obs)
        },
        |p| {
            let mut r = Reader::new(p);
            hmm_loglik_fd(&r.a(), &r.m(), &r.a(), &obs)
        },
        Tol::default(),
    );
    // The gradient in the initial log-probabilities is the posterior of the first state.
    let s: f64 = g.0.iter().sum();
    assert_close(s, 1.0, 1e-14, "posterior of the first state sums to one");
}

// ------------------------------------------------------------------------------------------
// Nonlinear least squares by Levenberg–Marquardt: fit y = a exp(-b t), a 2x2 damped normal
// system solved in closed form each iteration, steps accepted or rejected in a branch that also
// adapts the damping; the fitted rate's sensitivity to each observation.
// ------------------------------------------------------------------------------------------

#[differentiate(wrt(y))]
fn fitted_decay_rate(t: &[f64], y: &[f64]) -> f64 {
    let (mut a, mut b) = (1.0, 0.5);
    let mut lambda = 1e-2;
    let mut cost = 0.0;
    for i in 0..t.len() {
        cost += (a * (-b * t[i]).exp() - y[i]).powi(2);
    }
    for _ in 0..60 {
        let (mut jtj00, mut jtj01, mut jtj11, mut g0, mut g1) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for i in 0..t.len() {
            let e = (-b * t[i]).exp();
            let residual = a * e - y[i];
            let (ja, jb) = (e, -a * t[i] * e);
            jtj00 += ja * ja;
            jtj01 += ja * jb;
            jtj11 += jb * jb;
            g0 += ja * residual;
            g1 += jb * residual;
        }
        let m00 = jtj00 * (1.0 + lambda);
        let m11 = jtj11 * (1.0 + lambda);
        let det = m00 * m11 - jtj01 * jtj01;
        let trial_a = a - (m11 * g0 - jtj01 * g1) / det;
        let trial_b = b - (m00 * g1 - jtj01 * g0) / det;
        let mut trial_cost = 0.0;
        for i in 0..t.len() {
            trial_cost += (trial_a * (-trial_b * t[i]).exp() - y[i]).powi(2);
        }
        if trial_cost < cost {
            a = trial_a;
            b = trial_b;
            cost = trial_cost;
            lambda *= 0.3;
        } else {
            lambda *= 4.0;
        }
    }
    b
}

fn fitted_decay_rate_fd(t: &[f64], y: &[Fd]) -> Fd {
    let (mut a, mut b) = (c(1.0), c(0.5));
    let mut lambda = 1e-2;
    let mut cost = c(0.0);
    for i in 0..t.len() {
        cost += (a * (-b * t[i]).exp() - y[i]).powi(2);
    }
    for _ in 0..60 {
        let (mut jtj00, mut jtj01, mut jtj11, mut g0, mut g1) =
            (c(0.0), c(0.0), c(0.0), c(0.0), c(0.0));
        for i in 0..t.len() {
            let e = (-b * t[i]).exp();
            let residual = a * e - y[i];
            let (ja, jb) = (e, -a * t[i] * e);
            jtj00 += ja * ja;
            jtj01 += ja * jb;
            jtj11 += jb * jb;
            g0 += ja * residual;
            g1 += jb * residual;
        }
        let m00 = jtj00 * (1.0 + lambda);
        let m11 = jtj11 * (1.0 + lambda);
        let det = m00 * m11 - jtj01 * jtj01;
        let trial_a = a - (m11 * g0 - jtj01 * g1) / det;
        let trial_b = b - (m00 * g1 - jtj01 * g0) / det;
        let mut trial_cost = c(0.0);
        for i in 0..t.len() {
            trial_cost += (trial_a * (-trial_b * t[i]).exp() - y[i]).powi(2);
        }
        if trial_cost < cost {
            a = trial_a;
            b = trial_b;
            cost = trial_cost;
            lambda *= 0.3;
        } else {
            lambda *= 4.0;
        }
    }
    b
}

#[test]
fn levenberg_marquardt_sensitivity() {
    let t: Vec<f64> = (0..8).map(|i| i as f64 * 0.5).collect();
    let y: Vec<f64> = t
        .iter()
        .map(|ti| 2.0 * (-0.7 * ti).exp() + 0.02 * (ti * 3.0).sin())
        .collect();
    let (b, g) = generated!(fitted_decay_rate_grad, fitted_decay_rate_pullback,
        fitted_decay_rate_grad_into; &t, &y);
    // Forward mode, not differences: a difference step can flip an accept/reject decision far
    // from convergence, which moves the converged rate by rounding only but the unrolled
    // derivative of the iterations noticeably.
    common::check_forward_mode(
        "fitted_decay_rate",
        &y,
        b,
        &g,
        |q| fitted_decay_rate(&t, q),
        |q| fitted_decay_rate_fd(&t, q),
        Tol {
            dual: 1e-10,
            ..Tol::default()
        },
    );
    // The implicit function theorem at the optimum: dθ/dy_i = H^{-1} 2 J_i', H the Hessian of
    // the cost in θ = (a, b) (with the residuals' curvature).
    let a = {
        let (mut num, mut den) = (0.0, 0.0);
        for i in 0..8 {
            let e = (-b * t[i]).exp();
            num += e * y[i];
            den += e * e;
        }
        num / den // the optimal a for this b
    };
    let mut h = [[0.0; 2]; 2];
    for i in 0..8 {
        let e = (-b * t[i]).exp();
        let r = a * e - y[i];
        let j = [e, -a * t[i] * e];
        // second derivatives of r: r_aa = 0, r_ab = -t e, r_bb = a t² e
        let rr = [[0.0, -t[i] * e], [-t[i] * e, a * t[i] * t[i] * e]];
        for p in 0..2 {
            for q in 0..2 {
                h[p][q] += 2.0 * (j[p] * j[q] + r * rr[p][q]);
            }
        }
    }
    let det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
    for i in 0..8 {
        let e = (-b * t[i]).exp();
        let j = [e, -a * t[i] * e];
        // second row of H^{-1} times 2 J_i
        let expected = (-h[1][0] * 2.0 * j[0] + h[0][0] * 2.0 * j[1]) / det;
        assert_close(
            g[i],
            expected,
            1e-8,
            "db/dy by the implicit function theorem",
        );
    }
}

// ------------------------------------------------------------------------------------------
// Robust statistics: the trimmed mean and the median of a sample, sorted by a bubble sort that
// swaps elements of a local array through a temporary in a branch of a nested loop.
// ------------------------------------------------------------------------------------------

// What clippy asks for, `s.copy_from_slice(sample)` and `s.swap(j, j + 1)`, is rejected
// ("method `swap` has no derivative rule, ..."): tests/pending/programs_rejected_idioms.rs.
#[allow(clippy::manual_memcpy, clippy::manual_swap)]
#[differentiate]
fn trimmed_mean_and_median(sample: &[f64; 7], weight: f64) -> f64 {
    let mut s = [0.0; 7];
    for i in 0..7 {
        s[i] = sample[i];
    }
    for i in 0..7 {
        for j in 0..6 - i {
            if s[j] > s[j + 1] {
                let t = s[j];
                s[j] = s[j + 1];
                s[j + 1] = t;
            }
        }
    }
    let mut total = 0.0;
    for i in 1..6 {
        total += s[i];
    }
    total / 5.0 + weight * s[3] * s[3]
}

fn trimmed_mean_and_median_fd(sample: &[Fd; 7], weight: Fd) -> Fd {
    let mut s = *sample;
    for i in 0..7 {
        for j in 0..6 - i {
            if s[j] > s[j + 1] {
                s.swap(j, j + 1);
            }
        }
    }
    let mut total = c(0.0);
    for i in 1..6 {
        total += s[i];
    }
    total / 5.0 + weight * s[3] * s[3]
}

#[test]
fn trimmed_mean_by_bubble_sort() {
    let sample = [0.3, -1.2, 0.8, 2.5, 0.1, -0.4, 1.1];
    let (value, (ds, dw)) = generated!(trimmed_mean_and_median_grad, trimmed_mean_and_median_pullback,
        trimmed_mean_and_median_grad_into; &sample, 0.5);
    // The extremes (-1.2 at 1, 2.5 at 3) get nothing, the middle five 1/5, the median (0.3 at 0)
    // also 2 w m.
    let expected = [0.2 + 2.0 * 0.5 * 0.3, 0.0, 0.2, 0.0, 0.2, 0.2, 0.2];
    for i in 0..7 {
        assert_close(ds[i], expected[i], 1e-15, "trimmed mean gradient");
    }
    assert_close(dw, 0.09, 1e-15, "median squared");
    let mut p = sample.to_vec();
    p.push(0.5);
    let mut g = ds.to_vec();
    g.push(dw);
    check_oracles(
        "trimmed_mean_and_median",
        &p,
        value,
        &g,
        |q| {
            let mut r = Reader::new(q);
            trimmed_mean_and_median(&r.a(), r.s())
        },
        |q| {
            let mut r = Reader::new(q);
            trimmed_mean_and_median_fd(&r.a(), r.s())
        },
        Tol::default(),
    );
}
