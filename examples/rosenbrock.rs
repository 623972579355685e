//! Minimising the n-dimensional Rosenbrock function with the `argmin` crate, fed by the derivatives
//! `#[differentiate(hessian)]` writes.
//!
//! The extended (chained) Rosenbrock function
//!
//! ```text
//! f(x) = sum_{i=1}^{n-1} 100 (x_i - x_{i-1}^2)^2 + (1 - x_{i-1})^2
//! ```
//!
//! has its global minimum `f = 0` at `x = (1, ..., 1)`, at the end of a long, curved, narrow
//! valley where plain gradient descent crawls. This example minimises it twice with argmin:
//!
//! - **L-BFGS** with a Moré–Thuente line search, which needs the value and the gradient; the
//!   gradient comes from `rosenbrock_grad_into`.
//! - **Newton-CG in a trust region** (Steihaug's conjugate gradients on the Newton system
//!   `H p = -g`, stopped at the trust-region boundary or on negative curvature), which also needs
//!   the Hessian — but only through products `H v`. argmin accepts as "the Hessian" any type that
//!   can be multiplied with a vector, so here it is an operator whose every product is one exact
//!   call of `rosenbrock_hvp`: second-order steps without ever forming the n x n matrix.
//!
//! Why not argmin's `NewtonCG` solver, which takes the same operator? In argmin 0.11 its inner
//! conjugate gradients stop after about one step (they compare the *squared* residual norm with a
//! tolerance meant for the norm), which makes it a scaled steepest descent: from the start used
//! here it is still 3.5e-6 (n = 2) and 2.5e-5 (n = 100) away from the minimum after 10,000
//! iterations, where the same solver with the test on the norm takes 21 and 104. The trust-region
//! solver runs its conjugate gradients to convergence.
//!
//! [`Differentiated`] is the adapter that makes a `#[differentiate(hessian)]` function an argmin
//! problem in one line; copy it for your own functions of `&[f64]`.
//!
//! Run it with `cargo run --release --example rosenbrock` (n = 100), or pass another dimension:
//! `cargo run --release --example rosenbrock -- 1000`. It exits nonzero if either method misses the
//! minimum.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use argmin::core::observers::{Observe, ObserverMode};
use argmin::core::{
    CostFunction, Error, Executor, Gradient, Hessian, IterState, KV, State, TerminationReason,
};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use argmin::solver::trustregion::{Steihaug, TrustRegion};
use argmin_math::ArgminDot;
use autodiff_core::differentiate;

/// The extended Rosenbrock function of `x.len()` variables.
#[differentiate(hessian)]
fn rosenbrock(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 1..x.len() {
        let a = x[i] - x[i - 1] * x[i - 1];
        let b = 1.0 - x[i - 1];
        s += 100.0 * a * a + b * b;
    }
    s
}

/// A function `f(x: &[f64]) -> f64` with the derivatives `#[differentiate(hessian)]` generates
/// for it, as an argmin problem over `Vec<f64>`:
///
/// ```ignore
/// let problem = Differentiated { value: f, grad_into: f_grad_into, hvp: f_hvp };
/// ```
///
/// It implements argmin's [`CostFunction`], [`Gradient`] and [`Hessian`]; its Hessian is a
/// [`HessianOperator`], for the solvers that only multiply the Hessian with vectors (trust region
/// with Steihaug, Newton-CG). Made of function items, it is `Copy`. With plain `#[differentiate]`
/// there is no `f_hvp`: write `hvp: ()`, and only first-order solvers will accept the problem.
#[derive(Clone, Copy)]
struct Differentiated<F, G, H> {
    value: F,
    grad_into: G,
    hvp: H,
}

impl<F: Fn(&[f64]) -> f64, G, H> CostFunction for Differentiated<F, G, H> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Vec<f64>) -> Result<f64, Error> {
        Ok((self.value)(x))
    }
}

impl<F, G: Fn(&[f64], &mut Vec<f64>) -> f64, H> Gradient for Differentiated<F, G, H> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, x: &Vec<f64>) -> Result<Vec<f64>, Error> {
        // argmin takes every gradient as a new vector, so the buffer can't be reused across calls.
        let mut grad = Vec::with_capacity(x.len());
        (self.grad_into)(x, &mut grad);
        Ok(grad)
    }
}

impl<F, G, H> Hessian for Differentiated<F, G, H>
where
    H: Fn(&[f64], Vec<f64>) -> (f64, Vec<f64>, Vec<f64>) + Clone,
{
    type Param = Vec<f64>;
    type Hessian = HessianOperator<H>;

    fn hessian(&self, x: &Vec<f64>) -> Result<Self::Hessian, Error> {
        Ok(HessianOperator {
            at: x.clone(),
            hvp: self.hvp.clone(),
        })
    }
}

/// The Hessian of a function at the point `at`, as a linear operator: `dot(v)` is `H v`, one call
/// of the generated `f_hvp` (which also returns the value and the gradient; only `H v` is kept).
#[derive(Clone)]
struct HessianOperator<H> {
    at: Vec<f64>,
    hvp: H,
}

/// How many products `H v` were taken, for the summary (argmin counts only calls of `hessian`).
static HESSIAN_VECTOR_PRODUCTS: AtomicU64 = AtomicU64::new(0);

impl<H> ArgminDot<Vec<f64>, Vec<f64>> for HessianOperator<H>
where
    H: Fn(&[f64], Vec<f64>) -> (f64, Vec<f64>, Vec<f64>),
{
    fn dot(&self, v: &Vec<f64>) -> Vec<f64> {
        HESSIAN_VECTOR_PRODUCTS.fetch_add(1, Ordering::Relaxed);
        (self.hvp)(&self.at, v.clone()).2
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

/// Prints `iteration  f  |grad|` after iterations 0, 1, 2, 4, 8, ... and the last few: a short
/// table however many iterations a method takes, which still shows how it converges at the end.
#[derive(Default)]
struct Progress {
    last_printed: u64,
    /// The rows since the last printed one, up to `TAIL`.
    unprinted: VecDeque<(u64, f64, f64)>,
}

/// How many of the last iterations to print.
const TAIL: usize = 3;

/// What both solvers keep: parameters and gradients in `Vec<f64>`, and a Hessian of any type.
type SolverState<H> = IterState<Vec<f64>, Vec<f64>, (), H, (), f64>;

/// `done` is the number of iterations done.
fn row<H>(done: u64, state: &SolverState<H>) -> (u64, f64, f64) {
    let grad_norm = state.get_gradient().map_or(f64::NAN, |g| norm(g));
    (done, state.get_cost(), grad_norm)
}

fn print_row((done, f, grad_norm): (u64, f64, f64)) {
    println!("{done:>9} {f:>11.3e} {grad_norm:>11.3e}");
}

impl<H> Observe<SolverState<H>> for Progress {
    fn observe_init(&mut self, _name: &str, state: &SolverState<H>, _kv: &KV) -> Result<(), Error> {
        println!("{:>9} {:>11} {:>11}", "iteration", "f", "|grad|");
        print_row(row(0, state));
        Ok(())
    }

    fn observe_iter(&mut self, state: &SolverState<H>, _kv: &KV) -> Result<(), Error> {
        // Observers run before argmin counts the iteration.
        let done = state.get_iter() + 1;
        if done.is_power_of_two() {
            print_row(row(done, state));
            self.last_printed = done;
            self.unprinted.clear();
        } else {
            if self.unprinted.len() == TAIL {
                self.unprinted.pop_front();
            }
            self.unprinted.push_back(row(done, state));
        }
        Ok(())
    }

    fn observe_final(&mut self, _state: &SolverState<H>) -> Result<(), Error> {
        if self
            .unprinted
            .front()
            .is_some_and(|&(first, ..)| first > self.last_printed + 1)
        {
            println!("{:>9}", "...");
        }
        self.unprinted.drain(..).for_each(print_row);
        Ok(())
    }
}

/// Give up after this many iterations (n = 1000 takes about 2,100 with L-BFGS, 1,400 with the
/// trust region).
const MAX_ITERATIONS: u64 = 10_000;
/// L-BFGS stops when the gradient norm falls below this.
const GRADIENT_TOLERANCE: f64 = 1e-10;
/// argmin's trust-region method has no gradient test; f is a sum of squares whose minimum is 0,
/// so it stops when f falls below this.
const TARGET_COST: f64 = 1e-20;
/// Both must end this close to the minimum `(1, ..., 1)` in every coordinate.
const SOLUTION_TOLERANCE: f64 = 1e-6;

/// How a run ended, in one line; whether it reached the minimum.
fn summary<H>(name: &str, state: &SolverState<H>, extra: &str) -> (String, bool) {
    let counts = state.get_func_counts();
    let count = |key: &str| counts.get(key).copied().unwrap_or(0);
    let x = state
        .get_best_param()
        .expect("the solvers keep the best iterate");
    let error = x.iter().map(|v| (v - 1.0).abs()).fold(0.0, f64::max);
    let converged = error < SOLUTION_TOLERANCE;
    let reason = state.get_termination_reason().map_or_else(
        || "not terminated".to_string(),
        TerminationReason::to_string,
    );
    let line = format!(
        "{name}: {} iterations ({reason}), {} f, {} gradients{extra}; max |x_i - 1| = {error:.1e}{}",
        state.get_iter(),
        count("cost_count"),
        count("gradient_count"),
        if converged { "" } else { "  <- MISSED" },
    );
    (line, converged)
}

fn main() -> Result<(), Error> {
    let n: usize = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .expect("the argument is the dimension n, e.g. 100"),
        None => 100,
    };
    assert!(n >= 2, "the Rosenbrock function needs n >= 2");
    // A start on the line from 0 to 1. (From the classic (-1.2, 1, -1.2, 1, ...), the trust-region
    // method ends, correctly for a local method, in the chained function's other local minimum,
    // near (-1, 1, ..., 1) with f = 3.99.)
    let start: Vec<f64> = (1..=n).map(|i| i as f64 / (n + 1) as f64).collect();

    // The whole adapter: the function and two of the functions the macro generated from it.
    let problem = Differentiated {
        value: rosenbrock,
        grad_into: rosenbrock_grad_into,
        hvp: rosenbrock_hvp,
    };
    println!("minimising the {n}-dimensional Rosenbrock function\n");

    let lbfgs = LBFGS::new(MoreThuenteLineSearch::new(), 8)
        .with_tolerance_grad(GRADIENT_TOLERANCE)?
        // Stop on the gradient alone: by default L-BFGS also stops once f changes by less than
        // 2.2e-16, which near f = 0 happens while |grad| is still about 3e-7.
        .with_tolerance_cost(0.0)?;
    println!("L-BFGS (memory 8, More-Thuente line search), gradients from rosenbrock_grad_into");
    let result = Executor::new(problem, lbfgs)
        .configure(|state| {
            state
                .param(start.clone())
                .max_iters(MAX_ITERATIONS)
                .counting(true)
        })
        .add_observer(Progress::default(), ObserverMode::Always)
        .run()?;
    let lbfgs = summary("L-BFGS", &result.state, "");
    println!();

    let trust_region = TrustRegion::new(Steihaug::new());
    println!("trust-region Newton-CG (Steihaug), H v from rosenbrock_hvp");
    let result = Executor::new(problem, trust_region)
        .configure(|state| {
            state
                .param(start)
                .max_iters(MAX_ITERATIONS)
                .target_cost(TARGET_COST)
                .counting(true)
        })
        .add_observer(Progress::default(), ObserverMode::Always)
        .run()?;
    let products = HESSIAN_VECTOR_PRODUCTS.load(Ordering::Relaxed);
    let newton_cg = summary(
        "trust-region Newton-CG",
        &result.state,
        &format!(", {products} Hessian-vector products"),
    );

    println!();
    for (line, _) in [&lbfgs, &newton_cg] {
        println!("{line}");
    }
    if !(lbfgs.1 && newton_cg.1) {
        eprintln!(
            "a method did not reach the minimum (1, ..., 1) to within {SOLUTION_TOLERANCE:e}"
        );
        std::process::exit(1);
    }
    Ok(())
}
