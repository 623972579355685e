//! Gradient checking by central finite differences: the independent reference against which a
//! generated gradient is tested.

use core::fmt;

/// The step used by [`numeric_gradient`], relative to `max(1, |x_i|)`.
///
/// With the fourth-order stencil the truncation error is about `h^4 |f^(5)|` and the rounding
/// error about `eps |f| / h`; `1e-3` balances the two for functions of moderate curvature.
pub const DEFAULT_STEP: f64 = 1e-3;

/// The gradient of `f` at `x` by central finite differences.
///
/// Each component uses the fourth-order central stencil
/// `(-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h` with `h = DEFAULT_STEP * max(1, |x_i|)`,
/// so it is accurate to about `1e-10` relative for smooth functions, and it costs `4n`
/// evaluations of `f`. Points within `2h` of a kink (`abs`, `max`, a branch) give the average of
/// the two sides, not either one-sided derivative.
///
/// ```
/// let g = autodiff_core::numeric_gradient(|v| v[0] * v[0] * v[1], &[3.0, 2.0]);
/// assert!((g[0] - 12.0).abs() < 1e-8 && (g[1] - 9.0).abs() < 1e-8);
/// ```
pub fn numeric_gradient(f: impl FnMut(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
    numeric_gradient_with_step(f, x, DEFAULT_STEP)
}

/// [`numeric_gradient`] with a chosen relative step `step` (for functions that are not smooth at
/// the scale of [`DEFAULT_STEP`], or to study the error).
///
/// ```
/// let g = autodiff_core::numeric_gradient_with_step(|v| v[0].sin(), &[0.5], 1e-2);
/// assert!((g[0] - 0.5_f64.cos()).abs() < 1e-8);
/// ```
pub fn numeric_gradient_with_step(
    mut f: impl FnMut(&[f64]) -> f64,
    x: &[f64],
    step: f64,
) -> Vec<f64> {
    let mut point = x.to_vec();
    (0..x.len())
        .map(|i| {
            let h = step * x[i].abs().max(1.0);
            let mut at = |offset: f64| {
                point[i] = x[i] + offset;
                let value = f(&point);
                point[i] = x[i];
                value
            };
            let (plus2, plus1, minus1, minus2) = (at(2.0 * h), at(h), at(-h), at(-2.0 * h));
            (-plus2 + 8.0 * plus1 - 8.0 * minus1 + minus2) / (12.0 * h)
        })
        .collect()
}

/// The outcome of [`check_gradient`]: both gradients and where they disagree most.
#[derive(Clone, Debug, PartialEq)]
pub struct GradientCheck {
    /// The gradient under test.
    pub analytic: Vec<f64>,
    /// The finite-difference reference.
    pub numeric: Vec<f64>,
    /// The component with the largest error.
    pub worst: usize,
    /// The error at `worst`: `|analytic - numeric| / max(1, |analytic|, |numeric|)`, that is a
    /// relative error for components larger than one and an absolute error below.
    pub max_error: f64,
}

impl GradientCheck {
    /// Whether every component agrees within `tolerance` (see [`GradientCheck::max_error`]).
    /// A NaN in either gradient fails.
    pub fn passes(&self, tolerance: f64) -> bool {
        self.max_error <= tolerance
    }
}

impl fmt::Display for GradientCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.analytic.is_empty() {
            return write!(f, "empty gradient");
        }
        write!(
            f,
            "worst component {} of {}: analytic {:e}, numeric {:e}, error {:.2e}",
            self.worst,
            self.analytic.len(),
            self.analytic[self.worst],
            self.numeric[self.worst],
            self.max_error
        )
    }
}

/// Compares `analytic`, a gradient of `f` at `x`, with [`numeric_gradient`], and reports the worst
/// component.
///
/// ```
/// use autodiff_core::{check_gradient, differentiate};
///
/// #[differentiate]
/// fn f(x: f64, y: f64) -> f64 {
///     x.sin() * y
/// }
///
/// let (_, (dx, dy)) = f_grad(0.3, 2.0);
/// let check = check_gradient(|v| f(v[0], v[1]), &[0.3, 2.0], &[dx, dy]);
/// assert!(check.passes(1e-8), "{check}");
/// ```
///
/// # Panics
/// If `analytic` and `x` differ in length.
pub fn check_gradient(f: impl FnMut(&[f64]) -> f64, x: &[f64], analytic: &[f64]) -> GradientCheck {
    assert_eq!(
        x.len(),
        analytic.len(),
        "the gradient must have one component per input"
    );
    let numeric = numeric_gradient(f, x);
    let mut worst = 0;
    let mut max_error = 0.0;
    for (i, (&a, &n)) in analytic.iter().zip(&numeric).enumerate() {
        let error = (a - n).abs() / 1.0_f64.max(a.abs()).max(n.abs());
        // A NaN in either gradient must never pass: it counts as an infinite error.
        let error = if error.is_nan() { f64::INFINITY } else { error };
        if error > max_error {
            worst = i;
            max_error = error;
        }
    }
    GradientCheck {
        analytic: analytic.to_vec(),
        numeric,
        worst,
        max_error,
    }
}

/// [`check_gradient`] for a function of a [`Differentiable`](crate::Differentiable) value, such
/// as the parameters of a model: perturbs each differentiable float of `at` in turn.
///
/// ```
/// use autodiff_core::{Differentiable, check_gradient_of, differentiate};
///
/// #[derive(Clone, Differentiable)]
/// struct Params {
///     a: f64,
///     b: [f64; 2],
/// }
///
/// #[differentiate]
/// fn f(p: &Params) -> f64 {
///     p.a * p.b[0] + p.b[1].exp()
/// }
///
/// let p = Params { a: 2.0, b: [3.0, 0.5] };
/// let (_, grad) = f_grad(&p);
/// let check = check_gradient_of(f, &p, &grad);
/// assert!(check.passes(1e-8), "{check}");
/// ```
pub fn check_gradient_of<P: crate::Differentiable>(
    mut f: impl FnMut(&P) -> f64,
    at: &P,
    grad: &P,
) -> GradientCheck {
    let mut point = at.clone();
    let set = |point: &mut P, values: &[f64]| {
        let mut values = values.iter();
        point.for_each_mut(&mut |x| *x = *values.next().expect("one value per parameter"));
    };
    let x = at.to_flat();
    check_gradient(
        |v| {
            set(&mut point, v);
            f(&point)
        },
        &x,
        &grad.to_flat(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_gradient_of_a_cubic_is_exact_to_rounding() {
        let g = numeric_gradient(|v| v[0].powi(3) + 2.0 * v[1], &[2.0, -1.0]);
        assert!((g[0] - 12.0).abs() < 1e-9, "{g:?}");
        assert!((g[1] - 2.0).abs() < 1e-9, "{g:?}");
    }

    #[test]
    fn check_finds_the_worst_component() {
        let check = check_gradient(|v| v[0] + v[1] + v[2], &[0.0; 3], &[1.0, 1.5, 1.0]);
        assert_eq!(check.worst, 1);
        assert!((check.max_error - 0.5 / 1.5).abs() < 1e-9);
        assert!(!check.passes(1e-3));
    }

    #[test]
    fn nan_fails() {
        let check = check_gradient(|v| v[0], &[1.0], &[f64::NAN]);
        assert!(!check.passes(1e300));
    }
}
