//! Reverse-mode automatic differentiation for Rust, done at compile time.
//!
//! Put [`#[differentiate]`](macro@differentiate) on an ordinary function and the macro writes,
//! next to it, plain Rust that returns the value and the gradient: a forward sweep that keeps the
//! intermediates the derivative needs, then a backward sweep that applies one local rule per
//! operation. There is no runtime graph and no tape for straight-line code; `cargo expand` shows
//! the generated derivation.
//!
//! ```
//! use autodiff_core::differentiate;
//!
//! /// The seed's example: apples, mandarin oranges and tax.
//! #[differentiate]
//! fn price(apple: f64, apple_num: f64, orange: f64, orange_num: f64, tax: f64) -> f64 {
//!     let apple_price = apple * apple_num;
//!     let orange_price = orange * orange_num;
//!     let all_price = apple_price + orange_price;
//!     all_price * tax
//! }
//!
//! let (value, (d_apple, d_apple_num, d_orange, d_orange_num, d_tax)) =
//!     price_grad(100.0, 3.0, 50.0, 4.0, 1.1);
//! assert!((value - 550.0).abs() < 1e-9);
//! assert!((d_apple - 3.3).abs() < 1e-12 && (d_apple_num - 110.0).abs() < 1e-12);
//! assert!((d_orange - 4.4).abs() < 1e-12 && (d_orange_num - 55.0).abs() < 1e-12);
//! assert!((d_tax - 500.0).abs() < 1e-12);
//! ```
//!
//! The generated items and what bodies may contain are described on
//! [`differentiate`](macro@differentiate).
#![warn(missing_docs)]

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod check;
mod differentiable;
mod edition2021;
pub mod optim;

pub use check::{
    DEFAULT_STEP, GradientCheck, check_gradient, check_gradient_of, numeric_gradient,
    numeric_gradient_with_step,
};
pub use differentiable::Differentiable;

/// The float types gradients are computed in: `f32` and `f64`.
///
/// A `#[differentiate]` function generic over its float type (`fn f<T: num_traits::Float>(x: T)
/// -> T`) generates functions that also require `T: Float`; generic code that calls them names
/// this bound.
///
/// ```
/// use autodiff_core::{Float, differentiate};
///
/// #[differentiate]
/// fn cube<T: Copy + core::ops::Mul<Output = T>>(x: T) -> T
/// where
///     T: Float,
/// {
///     x * x * x
/// }
///
/// fn slope<T: Float + Copy + core::ops::Mul<Output = T>>(x: T) -> T {
///     cube_grad(x).1
/// }
/// assert_eq!(slope(2.0_f64), 12.0);
/// assert_eq!(slope(2.0_f32), 12.0);
/// ```
pub use __private::Real as Float;

/// Derives [`Differentiable`](trait@Differentiable) for a struct whose fields are floats, float
/// arrays, `Vec`s of floats, or other `Differentiable` structs. Fields marked
/// `#[differentiable(skip)]`, fields of integer, `bool`, `String`, `Option` and other non-float
/// standard types, and collections of them (`Vec<usize>`, `[u32; 3]`, `HashMap<String, usize>`)
/// are carried along and not differentiated (a gradient copies them).
/// The struct must also be `Clone`.
///
/// ```
/// use autodiff_core::{Differentiable, differentiate};
///
/// #[derive(Clone, Differentiable)]
/// struct Affine {
///     w: Vec<f64>,
///     b: f64,
///     #[differentiable(skip)]
///     frozen_scale: f64,
/// }
///
/// #[differentiate(wrt(p))]
/// fn predict(p: &Affine, x: &[f64]) -> f64 {
///     let mut s = p.b;
///     for i in 0..x.len() {
///         s += p.w[i] * x[i];
///     }
///     s * p.frozen_scale
/// }
///
/// let p = Affine { w: vec![1.0, 2.0], b: 0.5, frozen_scale: 3.0 };
/// let (_, grad) = predict_grad(&p, &[4.0, 5.0]);
/// assert_eq!((grad.w, grad.b, grad.frozen_scale), (vec![12.0, 15.0], 3.0, 3.0));
/// ```
pub use autodiff_macro::Differentiable;

/// Differentiates a function: keeps it and writes its gradient next to it.
///
/// For `fn f(x: f64, y: f64) -> f64` it generates, with the same visibility and generics:
///
/// | item | meaning |
/// |---|---|
/// | `f_grad(x, y) -> (f64, G)` | the value and the gradient `G` |
/// | `f_pullback(x, y, d_out: f64) -> G` | the gradient scaled by `d_out` (a vector-Jacobian product) |
/// | `f_grad_into(x, y, grad: &mut G) -> f64` | the value; the gradient is written into `grad` |
/// | `f_vjp(x, y) -> (f64, impl FnOnce(f64) -> G)` | the value, and the backward sweep to run later with any seed |
///
/// `G` has one entry per active parameter in parameter order: a tuple, or the bare value when
/// only one parameter is active. Every `f32`/`f64` parameter is active unless the attribute
/// names a subset with `#[differentiate(wrt(x))]`; integer and other parameters are constants.
///
/// ```
/// use autodiff_core::differentiate;
///
/// #[differentiate(wrt(x))]
/// fn scaled_sin(x: f64, scale: f64, n: i32) -> f64 {
///     scale * x.sin().powi(n)
/// }
///
/// let (value, dx) = scaled_sin_grad(0.5, 3.0, 2);
/// assert_eq!(value, scaled_sin(0.5, 3.0, 2));
/// assert!((dx - 3.0 * 2.0 * 0.5_f64.sin() * 0.5_f64.cos()).abs() < 1e-12);
/// ```
///
/// Functions returning a tuple, an array, a `Vec` or a `Differentiable` struct get `f_pullback`
/// (whose `d_out` has the return type) and `f_vjp`, not `f_grad`.
///
/// The body may use:
/// - `let`, shadowing, reassignment and `+= -= *= /= %=`, blocks, `return` from anywhere;
/// - `+ - * / %`, float methods (`exp ln sqrt powi powf sin cos tanh atan2 hypot max min clamp
///   mul_add copysign ...`, also as `f64::exp(x)`), `as` casts, tuples, integer arithmetic,
///   constants, [`no_grad`];
/// - `if`, `match`, `if let` / `while let`, `for`, `while`, `loop`, `break`, `continue`, labels;
/// - arrays, slices, `Vec`s (`[0.0; n]`, `vec![..]`, matrix literals, `push`, sub-slices
///   `&x[a..b]`, `windows`, `chunks`, `swap`, `copy_from_slice`, array patterns);
/// - iterator chains (`x.iter().zip(y).map(|(a, b)| a * b).sum()`, `fold`, `max_by`, `filter`,
///   `enumerate`, `rev`, `collect`, ...) and closures, inlined as the loops they stand for;
/// - calls of other `#[differentiate]` functions and methods, structs that derive
///   [`Differentiable`](trait@Differentiable) (fields, literals, returned values);
/// - `assert!`-family and `panic!`-family macros; `#[cfg]` on statements;
/// - a generic float type (`T: num_traits::Float`).
///
/// On an `impl` block as well as on its methods, it differentiates methods of generic `impl`s.
/// `#[differentiate(wrt(x, y))]` names the active parameters; `#[differentiate(pullback = p)]`
/// takes the derivative from `p(params.., d_out) -> G` instead of the body.
///
/// # Forward mode and second order
///
/// `#[differentiate(jvp)]` adds forward mode, `#[differentiate(hessian)]` (which includes it)
/// second order; both combine with `wrt(..)`:
///
/// | item | meaning |
/// |---|---|
/// | `f_jvp(x, y, tangent: G) -> (R, R)` | the value and the directional derivative along `tangent`, in one forward sweep |
/// | `f_jacobian(x, y) -> (R, Vec<Vec<T>>)` | for a tuple, array or `Vec` output: the dense Jacobian, a row per output component, a column per input component |
/// | `f_hvp(x, y, v: G) -> (R, G, G)` | the value, the gradient and the exact Hessian-vector product `H v` |
/// | `f_hessian(x, y) -> (R, G, Vec<Vec<T>>)` | the value, the gradient and the dense symmetric Hessian |
///
/// ```
/// use autodiff_core::differentiate;
///
/// #[differentiate(hessian)]
/// fn rosenbrock(x: f64, y: f64) -> f64 {
///     (1.0 - x).powi(2) + 100.0 * (y - x * x).powi(2)
/// }
///
/// let (value, slope) = rosenbrock_jvp(0.5, 1.0, (1.0, 0.0));
/// assert_eq!(slope, rosenbrock_grad(0.5, 1.0).1 .0);
/// let (_, _, h) = rosenbrock_hessian(0.5, 1.0);
/// // ∂²f/∂x² = 2 - 400 (y - x²) + 800 x², ∂²f/∂x∂y = -400 x, ∂²f/∂y² = 200.
/// assert_eq!(h, vec![vec![2.0 - 400.0 * 0.75 + 200.0, -200.0], vec![-200.0, 200.0]]);
/// # let _ = value;
/// ```
///
/// A function called with active arguments needs the same mode; where it lacks it, the error at
/// the call says which option to add. A function with a custom derivative gives its forward
/// rule with `jvp = g` (`g(params.., tangent: G) -> (R, R)`).
///
/// Anything else is a compile error that points at the construct and says what to do instead.
pub use autodiff_macro::differentiate;

/// Returns `value` unchanged, but `#[differentiate]` treats it as a constant: no derivative flows
/// back through it (a "stop gradient").
///
/// ```
/// use autodiff_core::{differentiate, no_grad};
///
/// #[differentiate]
/// fn f(x: f64) -> f64 {
///     x * no_grad(x)
/// }
///
/// // d/dx (x * c) with c = x held constant is c, not 2x.
/// assert_eq!(f_grad(3.0), (9.0, 3.0));
/// ```
#[inline(always)]
pub fn no_grad<T>(value: T) -> T {
    value
}
