//! Two reductions of one slice: the Rosenbrock function and a numerically stable log-sum-exp.

use autodiff_core::differentiate;
use num_dual::Dual64;

use super::{Method, Problem, Real, central_differences, dual_gradient, echidna_gradient, uniform};

// Rosenbrock ----------------------------------------------------------------------------------

/// The extended Rosenbrock function, `sum_i (1 - x_i)^2 + 100 (x_{i+1} - x_i^2)^2`.
#[differentiate]
pub fn rosenbrock(x: &[f64]) -> f64 {
    let mut sum = 0.0;
    for i in 0..x.len() - 1 {
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i] * x[i];
        sum += a * a + 100.0 * b * b;
    }
    sum
}

/// The gradient of [`rosenbrock`] by hand, into `grad`: one fused loop, each term's two partial
/// derivatives added where they belong, nothing stored.
#[inline]
pub fn rosenbrock_hand(x: &[f64], grad: &mut Vec<f64>) -> f64 {
    let n = x.len();
    grad.resize(n, 0.0);
    grad[0] = 0.0;
    let mut sum = 0.0;
    for i in 0..n - 1 {
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i] * x[i];
        sum += a * a + 100.0 * b * b;
        let t = 200.0 * b;
        grad[i] += -2.0 * a - 2.0 * x[i] * t;
        grad[i + 1] = t;
    }
    sum
}

/// [`rosenbrock`] for the peers.
pub fn rosenbrock_generic<T: Real>(x: &[T]) -> T {
    let mut sum = T::cst(0.0);
    for i in 0..x.len() - 1 {
        let a = T::cst(1.0) - x[i];
        let b = x[i + 1] - x[i] * x[i];
        sum = sum + (a * a + b * b * 100.0);
    }
    sum
}

// log-sum-exp ---------------------------------------------------------------------------------

/// `ln sum_i exp(x_i)`, computed stably as `m + ln sum_i exp(x_i - m)` with `m = max_i x_i`,
/// written as a user would: `m` is a running maximum (a variable overwritten in a loop), and the
/// derivative flows through it too (its contributions cancel: `1 - sum_i softmax_i = 0`).
#[differentiate]
pub fn log_sum_exp(x: &[f64]) -> f64 {
    let mut m = x[0];
    for &v in x.iter() {
        m = m.max(v);
    }
    let mut s = 0.0;
    for &v in x.iter() {
        s += (v - m).exp();
    }
    m + s.ln()
}

/// The gradient of [`log_sum_exp`] by hand, into `grad`: the softmax. One `exp` per input,
/// stored in `grad` and scaled by `1 / s` afterwards; the maximum's zero net contribution is
/// left out.
#[inline]
pub fn log_sum_exp_hand(x: &[f64], grad: &mut Vec<f64>) -> f64 {
    grad.resize(x.len(), 0.0);
    let mut m = x[0];
    for &v in &x[1..] {
        m = m.max(v);
    }
    let mut s = 0.0;
    for (g, &v) in grad.iter_mut().zip(x) {
        let e = (v - m).exp();
        *g = e;
        s += e;
    }
    let r = 1.0 / s;
    for g in grad.iter_mut() {
        *g *= r;
    }
    m + s.ln()
}

/// [`log_sum_exp`] for the peers.
pub fn log_sum_exp_generic<T: Real>(x: &[T]) -> T {
    let mut m = x[0];
    for &v in x {
        m = m.max(v);
    }
    let mut s = T::cst(0.0);
    for &v in x {
        s = s + (v - m).exp();
    }
    m + s.ln()
}

// The problems --------------------------------------------------------------------------------

/// A problem of one slice: the input and one gradient buffer per method.
macro_rules! one_slice {
    ($problem:ident, $name:literal, $f:ident, $grad_into:ident, $hand:ident, $generic:ident) => {
        pub struct $problem {
            x: Vec<f64>,
            generated: Vec<f64>,
            hand: Vec<f64>,
            finite_differences: Vec<f64>,
            num_dual: Vec<f64>,
            duals: Vec<Dual64>,
            echidna: Vec<f64>,
        }

        impl $problem {
            /// The problem at `n` reproducible points of `[-1.5, 1.5)`.
            pub fn new(n: usize) -> Self {
                Self {
                    x: uniform(n as u64, n, -1.5, 1.5),
                    generated: Vec::new(),
                    hand: Vec::new(),
                    finite_differences: vec![0.0; n],
                    num_dual: vec![0.0; n],
                    duals: Vec::new(),
                    echidna: vec![0.0; n],
                }
            }
        }

        impl Problem for $problem {
            fn name(&self) -> String {
                format!(concat!($name, "_{}"), self.x.len())
            }
            fn dim(&self) -> usize {
                self.x.len()
            }
            #[inline]
            fn primal(&mut self) -> f64 {
                $f(&self.x)
            }
            #[inline]
            fn generated(&mut self) -> f64 {
                $grad_into(&self.x, &mut self.generated)
            }
            #[inline]
            fn hand(&mut self) -> f64 {
                $hand(&self.x, &mut self.hand)
            }
            #[inline]
            fn finite_differences(&mut self) -> f64 {
                central_differences($f, &mut self.x, &mut self.finite_differences)
            }
            #[inline]
            fn num_dual(&mut self) -> f64 {
                dual_gradient(
                    |x| $generic(x),
                    &self.x,
                    &mut self.duals,
                    &mut self.num_dual,
                )
            }
            #[inline]
            fn echidna(&mut self) -> f64 {
                echidna_gradient(|x| $generic(x), &self.x, &mut self.echidna)
            }
            fn gradient(&self, method: Method) -> Vec<f64> {
                match method {
                    Method::Primal => Vec::new(),
                    Method::Generated => self.generated.clone(),
                    Method::Hand => self.hand.clone(),
                    Method::FiniteDifferences => self.finite_differences.clone(),
                    Method::NumDual => self.num_dual.clone(),
                    Method::Echidna => self.echidna.clone(),
                }
            }
        }
    };
}

one_slice!(
    Rosenbrock,
    "rosenbrock",
    rosenbrock,
    rosenbrock_grad_into,
    rosenbrock_hand,
    rosenbrock_generic
);

one_slice!(
    LogSumExp,
    "log_sum_exp",
    log_sum_exp,
    log_sum_exp_grad_into,
    log_sum_exp_hand,
    log_sum_exp_generic
);
