//! The harness of the randomized differential test: runs every generated function at several
//! random points and compares what `#[differentiate]` generated with the function itself and with
//! central finite differences.
//!
//! Each generated function `f` comes with a twin `f_t`, the same code with every discrete
//! decision (a branch condition, the side of `abs`/`max`/`min`/`clamp`, the value of
//! `floor`/`round`/`%`, ...) recorded in a [`Trace`]. A point is used only if the trace is the
//! same at the point and at every point of the finite-difference stencil around it (with a
//! margin), so the function is smooth where it is compared and a mismatch is a wrong gradient,
//! not a kink. The gradient under test is never used to choose points.
//!
//! At each point the checks are: `_grad`'s value is the function's, bit for bit;
//! `_pullback(.., 1.0)` is `_grad`'s gradient and `_pullback(.., 2.0)` twice it, exactly;
//! `_grad_into` into a gradient already filled at another point gives `_grad`'s value and
//! gradient, exactly; and the gradient agrees with central finite differences to
//! [`TOLERANCE`], as `autodiff_core::check_gradient` measures it.
//!
//! Finite differences are only a reference where they are accurate. A point is used only if the
//! estimates at the default step and at a step [`FINER`] times smaller agree to [`CONSISTENT`]
//! (where they do not, the function varies too fast for the stencil, `sin` of a large value for
//! instance); the gradient then passes if it agrees with either estimate to [`TOLERANCE`]: the
//! default step's truncation error is sometimes above the tolerance on steep functions, the
//! finer step's is `FINER^4` times smaller (and steps `FINER` and `FINER²` times smaller again
//! are tried where even that is not enough). The report counts both kinds of point.

#![allow(dead_code)] // each test target uses a part of the harness

#[path = "rng.rs"]
mod rng;

#[path = "dual.rs"]
pub mod dual;

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};

use autodiff_core::{DEFAULT_STEP, check_gradient, numeric_gradient_with_step};
use dual::D;
use rng::{Rng, hash_str};

/// Points per function.
pub const POINTS: usize = 8;
/// Tolerance of the comparison with finite differences (`GradientCheck::max_error`).
pub const TOLERANCE: f64 = 1e-6;
/// Tolerance of the comparison with the dual-number twin (both exact up to rounding), relative
/// to the larger magnitude or [`EXACT_FLOOR`].
pub const EXACT: f64 = 1e-12;
/// Below this fraction of the gradient's largest component, or of the function's magnitude (or
/// of 1, if both are smaller), the comparison with the dual twin is absolute: a component much
/// smaller than the others, or than the value, is usually a sum of larger terms that cancel,
/// and carries their rounding error (a value of 223 with a derivative of 0.057, whose two
/// computations differ by ±2.5e-13 from one point to the next, is one).
pub const EXACT_FLOOR: f64 = 1e-2;
/// Random points tried per accepted point before giving up.
const ATTEMPTS: usize = 200;
/// Points are drawn uniformly from `[-RANGE, RANGE]` in every coordinate.
const RANGE: f64 = 2.0;
/// Points where `|f|` exceeds this anywhere on the stencil are skipped: the generated functions
/// can grow fast (`exp` of a product in a loop), and finite differences lose accuracy there.
const LARGEST: f64 = 1e5;
/// The stencil is `±1, ±2` steps; the trace must also agree at `±MARGIN` steps.
const MARGIN: f64 = 3.0;
/// The finer finite-difference step is `DEFAULT_STEP / FINER`: its truncation error is
/// `FINER^4` times smaller.
const FINER: f64 = 10.0;
/// Finite differences are trusted at a point if the estimates at both steps agree to this
/// (measured as `GradientCheck::max_error` is).
const CONSISTENT: f64 = 1e-4;

/// The discrete decisions of one evaluation, hashed.
pub struct Trace {
    hash: Cell<u64>,
}

impl Trace {
    pub fn new() -> Self {
        Trace {
            hash: Cell::new(0xcbf2_9ce4_8422_2325),
        }
    }

    pub fn hash(&self) -> u64 {
        self.hash.get()
    }

    pub fn mix(&self, v: u64) {
        let h = (self.hash.get() ^ v).wrapping_mul(0x0100_0000_01b3);
        self.hash.set(h.rotate_left(5));
    }

    fn sign(&self, v: f64) {
        self.mix(if v < 0.0 {
            1
        } else if v > 0.0 {
            2
        } else {
            3
        });
    }

    fn order(&self, a: f64, b: f64) {
        self.mix(if a < b {
            4
        } else if a > b {
            5
        } else {
            6
        });
    }

    /// A branch condition.
    pub fn b(&self, c: bool) -> bool {
        self.mix(7 + c as u64);
        c
    }

    pub fn abs(&self, v: f64) -> f64 {
        self.sign(v);
        v.abs()
    }

    pub fn signum(&self, v: f64) -> f64 {
        self.sign(v);
        v.signum()
    }

    pub fn max(&self, a: f64, b: f64) -> f64 {
        self.order(a, b);
        a.max(b)
    }

    pub fn min(&self, a: f64, b: f64) -> f64 {
        self.order(a, b);
        a.min(b)
    }

    pub fn clamp(&self, v: f64, lo: f64, hi: f64) -> f64 {
        self.order(v, lo);
        self.order(v, hi);
        v.clamp(lo, hi)
    }

    fn value(&self, v: f64) -> f64 {
        self.mix(v.to_bits());
        v
    }

    pub fn floor(&self, v: f64) -> f64 {
        self.value(v.floor())
    }

    pub fn ceil(&self, v: f64) -> f64 {
        self.value(v.ceil())
    }

    pub fn round(&self, v: f64) -> f64 {
        self.value(v.round())
    }

    pub fn trunc(&self, v: f64) -> f64 {
        self.value(v.trunc())
    }

    pub fn rem(&self, a: f64, b: f64) -> f64 {
        self.value((a / b).trunc());
        a % b
    }

    /// `atan2` jumps by `2π` across the negative `b` axis.
    pub fn atan2(&self, a: f64, b: f64) -> f64 {
        if b < 0.0 {
            self.sign(a);
        }
        a.atan2(b)
    }
}

/// Flattening of a gradient `G` (a float, an array, a `Vec`, or a tuple of them) into the order
/// of the point's coordinates.
/// `fill_from` is the inverse, for a tangent shaped like a gradient (so a `Vec` already has its
/// length): the entries overwritten from coordinates in the same order.
pub trait Flat {
    fn flat_into(&self, out: &mut Vec<f64>);
    fn fill_from(&mut self, src: &mut std::slice::Iter<'_, f64>);
}

impl Flat for f64 {
    fn flat_into(&self, out: &mut Vec<f64>) {
        out.push(*self);
    }
    fn fill_from(&mut self, src: &mut std::slice::Iter<'_, f64>) {
        *self = *src.next().expect("a coordinate per tangent entry");
    }
}

impl Flat for Vec<f64> {
    fn flat_into(&self, out: &mut Vec<f64>) {
        out.extend_from_slice(self);
    }
    fn fill_from(&mut self, src: &mut std::slice::Iter<'_, f64>) {
        self.iter_mut().for_each(|x| x.fill_from(src));
    }
}

impl<const N: usize> Flat for [f64; N] {
    fn flat_into(&self, out: &mut Vec<f64>) {
        out.extend_from_slice(self);
    }
    fn fill_from(&mut self, src: &mut std::slice::Iter<'_, f64>) {
        self.iter_mut().for_each(|x| x.fill_from(src));
    }
}

impl<const N: usize> Flat for Vec<[f64; N]> {
    fn flat_into(&self, out: &mut Vec<f64>) {
        for row in self {
            out.extend_from_slice(row);
        }
    }
    fn fill_from(&mut self, src: &mut std::slice::Iter<'_, f64>) {
        self.iter_mut().for_each(|row| row.fill_from(src));
    }
}

impl<const N: usize, const M: usize> Flat for [[f64; M]; N] {
    fn flat_into(&self, out: &mut Vec<f64>) {
        for row in self {
            out.extend_from_slice(row);
        }
    }
    fn fill_from(&mut self, src: &mut std::slice::Iter<'_, f64>) {
        self.iter_mut().for_each(|row| row.fill_from(src));
    }
}

macro_rules! flat_tuple {
    ($($t:ident $i:tt),*) => {
        impl<$($t: Flat),*> Flat for ($($t,)*) {
            fn flat_into(&self, out: &mut Vec<f64>) {
                $(self.$i.flat_into(out);)*
            }
            fn fill_from(&mut self, src: &mut std::slice::Iter<'_, f64>) {
                $(self.$i.fill_from(src);)*
            }
        }
    };
}

flat_tuple!(A 0, B 1);
flat_tuple!(A 0, B 1, C 2);
flat_tuple!(A 0, B 1, C 2, D 3);
flat_tuple!(A 0, B 1, C 2, D 3, E 4);
flat_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
flat_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
flat_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

pub fn flat<G: Flat>(g: &G) -> Vec<f64> {
    let mut out = Vec::new();
    g.flat_into(&mut out);
    out
}

/// A tangent shaped like the gradient `like`, with entries `u`.
pub fn tangent<G: Flat>(mut like: G, u: &[f64]) -> G {
    let mut src = u.iter();
    like.fill_from(&mut src);
    assert!(
        src.next().is_none(),
        "as many coordinates as tangent entries"
    );
    like
}

/// The array argument `[f64; N]` made of the next `N` coordinates.
pub fn arr<T: Copy, const N: usize>(p: &[T]) -> [T; N] {
    std::array::from_fn(|i| p[i])
}

/// The matrix argument `[[f64; M]; N]` made of the next `N * M` coordinates, row by row.
pub fn arr2<T: Copy, const N: usize, const M: usize>(p: &[T]) -> [[T; M]; N] {
    std::array::from_fn(|i| std::array::from_fn(|j| p[i * M + j]))
}

/// A function of the point's coordinates and the integer arguments.
type Value = fn(&[f64], &[usize]) -> f64;
/// The traced twin.
type Traced = fn(&Trace, &[f64], &[usize]) -> f64;
/// `_grad`: the value and the flattened gradient.
type Grad = fn(&[f64], &[usize]) -> (f64, Vec<f64>);
/// `_pullback` with an adjoint.
type Pullback = fn(&[f64], &[usize], f64) -> Vec<f64>;
/// `_grad_into` at a second point, after a first.
type GradInto = fn(&[f64], &[f64], &[usize]) -> (f64, Vec<f64>);
/// The dual-number twin, at the point's coordinates as dual numbers.
type Dual = fn(&[D], &[usize]) -> D;
/// `_jvp` along the flattened tangent `u`: the value and the directional derivative.
type Jvp = fn(&[f64], &[usize], &[f64]) -> (f64, f64);
/// `_hvp` along the flattened `w`: the value, the flattened gradient and `H w`.
type Hvp = fn(&[f64], &[usize], &[f64]) -> (f64, Vec<f64>, Vec<f64>);

/// One generated function and the ways to call it, taking the point's coordinates `p` and the
/// integer arguments `k`.
pub struct Case {
    pub name: &'static str,
    /// Number of coordinates: one per float, per element of an array, slice or `Vec`.
    pub n: usize,
    /// Whether each coordinate belongs to an active parameter (all but those `wrt` leaves out).
    pub active: &'static [bool],
    /// The integer arguments, one set per point (cycled).
    pub ints: &'static [&'static [usize]],
    pub value: Value,
    pub trace: Traced,
    pub grad: Grad,
    pub pullback: Pullback,
    /// `_grad_into` at the second point, into a gradient first filled at the first point.
    pub grad_into: GradInto,
    /// The dual-number twin (the exact oracle), for the shape corpus; its `trace` is this twin
    /// run on constants.
    pub dual: Option<Dual>,
    /// `_jvp`, for the programs generated with `#[differentiate(jvp)]`.
    pub jvp: Option<Jvp>,
    /// `_hvp`, for the programs generated with `#[differentiate(hessian)]`.
    pub hvp: Option<Hvp>,
}

/// The point's coordinates as dual constants.
pub fn constants(p: &[f64]) -> Vec<D> {
    p.iter().map(|&v| dual::c(v)).collect()
}

/// Runs a dual twin, adds the decisions it took to `tr`, and gives its value.
pub fn traced_dual(tr: &Trace, f: impl FnOnce() -> D) -> f64 {
    dual::reset_trace();
    let v = f();
    tr.mix(dual::trace_hash());
    v.re()
}

/// A [`Case`] for the generated function `$f`, with its twin and generated items, the
/// coordinate count, active flags, integer argument sets, and the arguments as expressions of
/// `$p` (the coordinates) and `$k` (the integers).
#[allow(unused_macros)] // each test target uses one of the two
macro_rules! case {
    ($f:ident, $f_t:ident, $f_grad:ident, $f_pullback:ident, $f_grad_into:ident,
     n: $n:literal, active: [$($a:literal),*], ints: [$([$($i:literal),*]),*],
     |$p:ident, $k:ident| ($($arg:expr),*)) => {
        $crate::harness::Case {
            name: stringify!($f),
            n: $n,
            active: &[$($a),*],
            ints: &[$(&[$($i),*]),*],
            value: |$p, $k| $f($($arg),*),
            trace: |tr, $p, $k| $f_t(tr, $($arg),*),
            grad: |$p, $k| {
                let (value, g) = $f_grad($($arg),*);
                (value, $crate::harness::flat(&g))
            },
            pullback: |$p, $k, d_out| $crate::harness::flat(&$f_pullback($($arg,)* d_out)),
            grad_into: |first, $p, $k| {
                let mut g = Default::default();
                {
                    let $p = first;
                    $f_grad_into($($arg,)* &mut g);
                }
                let value = $f_grad_into($($arg,)* &mut g);
                (value, $crate::harness::flat(&g))
            },
            dual: None,
            jvp: None,
            hvp: None,
        }
    };
}
#[allow(unused_imports)]
pub(crate) use case;

/// A [`Case`] with a dual-number twin `$f_d` (the exact oracle, also the trace), called with the
/// argument expressions `dual: (..)` of `$p` (then the coordinates as dual numbers).
#[allow(unused_macros)]
macro_rules! dual_case {
    ($f:ident, $f_d:path, $f_grad:ident, $f_pullback:ident, $f_grad_into:ident,
     n: $n:literal, active: [$($a:literal),*], ints: [$([$($i:literal),*]),*],
     |$p:ident, $k:ident| ($($arg:expr),*), dual: ($($darg:expr),*)) => {
        $crate::harness::Case {
            name: stringify!($f),
            n: $n,
            active: &[$($a),*],
            ints: &[$(&[$($i),*]),*],
            value: |$p, $k| $f($($arg),*),
            trace: |tr, $p, $k| {
                let constants = $crate::harness::constants($p);
                let $p = &constants[..];
                $crate::harness::traced_dual(tr, || $f_d($($darg),*))
            },
            grad: |$p, $k| {
                let (value, g) = $f_grad($($arg),*);
                (value, $crate::harness::flat(&g))
            },
            pullback: |$p, $k, d_out| $crate::harness::flat(&$f_pullback($($arg,)* d_out)),
            grad_into: |first, $p, $k| {
                let mut g = Default::default();
                {
                    let $p = first;
                    $f_grad_into($($arg,)* &mut g);
                }
                let value = $f_grad_into($($arg,)* &mut g);
                (value, $crate::harness::flat(&g))
            },
            dual: Some(|$p, $k| $f_d($($darg),*)),
            jvp: None,
            hvp: None,
        }
    };
    // With `_jvp` (a program generated with `#[differentiate(jvp)]`), along a tangent shaped
    // like the gradient.
    ($f:ident, $f_d:path, $f_grad:ident, $f_pullback:ident, $f_grad_into:ident,
     n: $n:literal, active: [$($a:literal),*], ints: [$([$($i:literal),*]),*],
     |$p:ident, $k:ident| ($($arg:expr),*), dual: ($($darg:expr),*), jvp: $f_jvp:ident) => {
        $crate::harness::Case {
            jvp: Some(|$p, $k, u| {
                let (_, like) = $f_grad($($arg),*);
                $f_jvp($($arg,)* $crate::harness::tangent(like, u))
            }),
            ..$crate::harness::dual_case!($f, $f_d, $f_grad, $f_pullback, $f_grad_into,
                n: $n, active: [$($a),*], ints: [$([$($i),*]),*],
                |$p, $k| ($($arg),*), dual: ($($darg),*))
        }
    };
    // With `_jvp` and `_hvp` (`#[differentiate(hessian)]`).
    ($f:ident, $f_d:path, $f_grad:ident, $f_pullback:ident, $f_grad_into:ident,
     n: $n:literal, active: [$($a:literal),*], ints: [$([$($i:literal),*]),*],
     |$p:ident, $k:ident| ($($arg:expr),*), dual: ($($darg:expr),*), jvp: $f_jvp:ident,
     hvp: $f_hvp:ident) => {
        $crate::harness::Case {
            hvp: Some(|$p, $k, w| {
                let (_, like) = $f_grad($($arg),*);
                let (value, g, hw) = $f_hvp($($arg,)* $crate::harness::tangent(like, w));
                (value, $crate::harness::flat(&g), $crate::harness::flat(&hw))
            }),
            ..$crate::harness::dual_case!($f, $f_d, $f_grad, $f_pullback, $f_grad_into,
                n: $n, active: [$($a),*], ints: [$([$($i),*]),*],
                |$p, $k| ($($arg),*), dual: ($($darg),*), jvp: $f_jvp)
        }
    };
}
#[allow(unused_imports)]
pub(crate) use dual_case;

#[derive(Default)]
struct Report {
    functions: usize,
    points: usize,
    /// Candidate points rejected because the two finite-difference estimates disagree.
    inconsistent: usize,
    /// Points where the gradient matched only the finer finite-difference estimate.
    finer: usize,
    skipped: Vec<String>,
    mismatches: Vec<String>,
    harness_errors: Vec<String>,
    /// Points checked against the dual twin, and the largest error seen there.
    dual_points: usize,
    max_exact_error: f64,
    /// Points of dual cases where finite differences were also compared (where the two steps
    /// agree; elsewhere the dual twin alone is the reference).
    fd_points: usize,
    /// Points of dual cases where the twin's gradient has a NaN (not differentiable there):
    /// compared with the twin where it is defined, not with finite differences.
    singular_points: usize,
    /// Points where `_jvp` was compared with `_pullback` and the twin, and the largest error.
    jvp_points: usize,
    max_jvp_error: f64,
    /// Points where `_hvp` was compared with `_grad` and the twin, and the largest error.
    hvp_points: usize,
    max_hvp_error: f64,
}

thread_local! {
    /// Where the last panic happened, recorded by the hook `run` installs.
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f`, turning a panic into an error that says where it happened.
fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| {
        format!(
            "{what} panicked: {}",
            LAST_PANIC.with(|p| p.borrow().clone())
        )
    })
}

/// The trace and value at `p`, or `None` if the value is not finite or too large.
fn traced(case: &Case, p: &[f64], ints: &[usize]) -> Option<(u64, f64)> {
    let trace = Trace::new();
    let value = (case.trace)(&trace, p, ints);
    (value.is_finite() && value.abs() <= LARGEST).then(|| (trace.hash(), value))
}

/// Whether `p` is away from every kink: the same decisions at `p` and all around the stencil.
fn smooth_around(case: &Case, p: &[f64], ints: &[usize]) -> bool {
    let Some((hash, _)) = traced(case, p, ints) else {
        return false;
    };
    let mut q = p.to_vec();
    for i in 0..p.len() {
        let h = DEFAULT_STEP * p[i].abs().max(1.0);
        for offset in [-MARGIN, -2.0, -1.0, 1.0, 2.0, MARGIN] {
            q[i] = p[i] + offset * h;
            match traced(case, &q, ints) {
                Some((other, _)) if other == hash => {}
                _ => return false,
            }
        }
        q[i] = p[i];
    }
    true
}

/// The function restricted to the active coordinates of `p`.
struct Restricted<'a> {
    case: &'a Case,
    p: &'a [f64],
    ints: &'a [usize],
    active: Vec<usize>,
}

impl Restricted<'_> {
    fn x(&self) -> Vec<f64> {
        self.active.iter().map(|&i| self.p[i]).collect()
    }

    fn f(&self) -> impl FnMut(&[f64]) -> f64 + '_ {
        let mut full = self.p.to_vec();
        move |q| {
            for (&i, &v) in self.active.iter().zip(q) {
                full[i] = v;
            }
            (self.case.value)(&full, self.ints)
        }
    }

    fn numeric(&self, step: f64) -> Vec<f64> {
        numeric_gradient_with_step(self.f(), &self.x(), step)
    }
}

/// The error measure of `GradientCheck::max_error`, for one component.
fn error(a: f64, b: f64) -> f64 {
    let e = (a - b).abs() / 1.0_f64.max(a.abs()).max(b.abs());
    if e.is_nan() { f64::INFINITY } else { e }
}

/// Whether finite differences are a good reference at `p`: the estimates at the default step
/// and at a step `FINER` times smaller agree. They do not where the function varies too fast
/// for the stencil (`sin` of a large value), even far from any kink.
fn consistent(case: &Case, p: &[f64], ints: &[usize]) -> bool {
    let r = restricted(case, p, ints);
    let coarse = r.numeric(DEFAULT_STEP);
    let fine = r.numeric(DEFAULT_STEP / FINER);
    coarse
        .iter()
        .zip(&fine)
        .all(|(&a, &b)| error(a, b) <= CONSISTENT)
}

fn restricted<'a>(case: &'a Case, p: &'a [f64], ints: &'a [usize]) -> Restricted<'a> {
    Restricted {
        case,
        p,
        ints,
        active: (0..case.n).filter(|&i| case.active[i]).collect(),
    }
}

/// A random point away from kinks (and, if `checked`, where finite differences are reliable).
fn sample(
    rng: &mut Rng,
    case: &Case,
    ints: &[usize],
    checked: bool,
    report: &mut Report,
) -> Option<Vec<f64>> {
    for _ in 0..ATTEMPTS {
        let p: Vec<f64> = (0..case.n).map(|_| rng.uniform(-RANGE, RANGE)).collect();
        if !smooth_around(case, &p, ints) {
            continue;
        }
        if checked && !consistent(case, &p, ints) {
            report.inconsistent += 1;
            continue;
        }
        return Some(p);
    }
    None
}

/// Equal, NaN included: the generated functions must agree with each other even where the
/// derivative is undefined.
fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

fn check_point(case: &Case, p: &[f64], first: &[f64], ints: &[usize], report: &mut Report) {
    let at = format!("{} at p = {p:?}, ints = {ints:?}", case.name);
    let plain = guarded("the function", || {
        let value = (case.value)(p, ints);
        (value, (case.trace)(&Trace::new(), p, ints))
    });
    let (value, traced_value) = match plain {
        Ok(v) => v,
        Err(e) => {
            report.harness_errors.push(format!("{at}: {e}"));
            return;
        }
    };
    if value.to_bits() != traced_value.to_bits() {
        report.harness_errors.push(format!(
            "{at}: the traced twin gives {traced_value:e}, the function {value:e}"
        ));
        return;
    }
    let generated = guarded("the generated code", || {
        check_generated(case, p, first, ints, value, report)
    });
    match generated {
        Ok((problems, finer)) => {
            if !problems.is_empty() {
                report
                    .mismatches
                    .push(format!("{at}:\n    {}", problems.join("\n    ")));
            }
            report.finer += finer as usize;
        }
        Err(e) => report.mismatches.push(format!("{at}: {e}")),
    }
}

/// The relative error of the comparison with the dual twin, `floor` the smallest magnitude
/// compared relatively.
fn exact_error(a: f64, b: f64, floor: f64) -> f64 {
    let e = (a - b).abs() / floor.max(a.abs()).max(b.abs());
    if e.is_nan() { f64::INFINITY } else { e }
}

/// The point as hyper-dual numbers moving along `first` and `second` (over the active
/// coordinates; an empty `second` is zero).
fn along(case: &Case, p: &[f64], first: &[f64], second: &[f64]) -> Vec<D> {
    let mut k = 0;
    p.iter()
        .enumerate()
        .map(|(i, &v)| match case.active[i] {
            true => {
                k += 1;
                dual::seeded(v, first[k - 1], second.get(k - 1).copied().unwrap_or(0.0))
            }
            false => dual::c(v),
        })
        .collect()
}

/// The dual twin's value and gradient over the active coordinates: one run per coordinate,
/// with its derivative part seeded.
fn dual_gradient(case: &Case, dual: Dual, p: &[f64], ints: &[usize]) -> (f64, Vec<f64>) {
    let mut value = dual(&constants(p), ints).re();
    let mut grad = Vec::new();
    for i in (0..case.n).filter(|&i| case.active[i]) {
        let seeded: Vec<D> = p
            .iter()
            .enumerate()
            .map(|(j, &v)| dual::var(v, j == i))
            .collect();
        let r = dual(&seeded, ints);
        value = r.re();
        grad.push(r.eps());
    }
    (value, grad)
}

/// The problems of the generated functions at `p`, and whether the gradient needed the finer
/// finite-difference reference.
fn check_generated(
    case: &Case,
    p: &[f64],
    first: &[f64],
    ints: &[usize],
    value: f64,
    report: &mut Report,
) -> (Vec<String>, bool) {
    let n_active = case.active.iter().filter(|a| **a).count();
    let (grad_value, grad) = (case.grad)(p, ints);
    let mut problems = Vec::new();
    if grad_value.to_bits() != value.to_bits() {
        problems.push(format!(
            "_grad value {grad_value:e} != function value {value:e}"
        ));
    }
    if grad.len() != n_active {
        problems.push(format!(
            "gradient has {} components, expected {n_active}",
            grad.len()
        ));
        return (problems, false);
    }
    let pullback = (case.pullback)(p, ints, 1.0);
    if !same(&pullback, &grad) {
        problems.push(format!(
            "_pullback(.., 1.0) = {pullback:?} != _grad = {grad:?}"
        ));
    }
    let pullback2 = (case.pullback)(p, ints, 2.0);
    let doubled: Vec<f64> = grad.iter().map(|g| 2.0 * g).collect();
    if !same(&pullback2, &doubled) {
        problems.push(format!(
            "_pullback(.., 2.0) = {pullback2:?} != 2 * _grad = {doubled:?}"
        ));
    }
    let (into_value, into) = (case.grad_into)(first, p, ints);
    if into_value.to_bits() != value.to_bits() || !same(&into, &grad) {
        problems.push(format!(
            "_grad_into (after a call at another point) = ({into_value:e}, {into:?}) != _grad = ({value:e}, {grad:?})"
        ));
    }
    if let Some(dual) = case.dual {
        // The exact oracle: the function's value and gradient from its dual-number twin.
        let (dual_value, dual_grad) = dual_gradient(case, dual, p, ints);
        report.dual_points += 1;
        // The twin computes every value with the same f64 operations: the same bits.
        if value.to_bits() != dual_value.to_bits() {
            problems.push(format!(
                "the function's value {value:e} != its dual twin's {dual_value:e}"
            ));
        }
        let scale = dual_grad
            .iter()
            .filter(|g| !g.is_nan())
            .fold(1.0_f64.max(dual_value.abs()), |m, g| m.max(g.abs()));
        let mut worst = (0.0, 0);
        for (i, (&a, &b)) in grad.iter().zip(&dual_grad).enumerate() {
            // A NaN from the twin marks a point where the program is not differentiable (an
            // operation at its singularity, `atan2(0, 0)`): forward mode's rule there is 0/0
            // even along directions the operation does not depend on, where reverse mode
            // rightly sends nothing. Only the components the twin defines are compared; a NaN
            // from the gradient where the twin is finite is still an error.
            if b.is_nan() {
                continue;
            }
            let e = exact_error(a, b, EXACT_FLOOR * scale);
            if e > worst.0 {
                worst = (e, i);
            }
        }
        report.max_exact_error = report.max_exact_error.max(worst.0);
        if worst.0 > EXACT {
            problems.push(format!(
                "gradient vs dual twin: error {:e} at component {}: _grad {:e}, dual {:e}\n      _grad = {grad:?}\n      dual  = {dual_grad:?}",
                worst.0, worst.1, grad[worst.1], dual_grad[worst.1]
            ));
        }
        if dual_grad.iter().any(|g| g.is_nan()) {
            report.singular_points += 1;
            return (problems, false);
        }
        if let Some(jvp) = case.jvp {
            problems.extend(check_jvp(
                case, jvp, dual, p, ints, value, &grad, &pullback2, report,
            ));
        }
        if let Some(hvp) = case.hvp {
            problems.extend(check_hvp(case, hvp, dual, p, ints, value, &grad, report));
        }
        // Finite differences as a second reference, where they are reliable.
        if !consistent(case, p, ints) {
            return (problems, false);
        }
        report.fd_points += 1;
    }
    // Finite differences over the active coordinates, the others held fixed: the default
    // step (as `check_gradient` does), or, where that estimate is limited by its truncation
    // error, the finer step (`consistent` made sure the two agree to `CONSISTENT`).
    let r = restricted(case, p, ints);
    let check = check_gradient(r.f(), &r.x(), &grad);
    let mut finer = false;
    if !check.passes(TOLERANCE) {
        let fine = r.numeric(DEFAULT_STEP / FINER);
        let worst_fine = grad
            .iter()
            .zip(&fine)
            .map(|(&a, &b)| error(a, b))
            .fold(0.0, f64::max);
        // A function steep enough near the point that the finer step's truncation error is
        // still above the tolerance: steps `FINER` and `FINER²` times smaller again (the
        // smallest, 1e-6 of the coordinate, still well above rounding).
        let worst_at = |step: f64| {
            let finest = r.numeric(step);
            grad.iter()
                .zip(&finest)
                .map(|(&a, &b)| error(a, b))
                .fold(0.0, f64::max)
        };
        let finest = [FINER * FINER, FINER * FINER * FINER];
        if worst_fine <= TOLERANCE
            || finest
                .iter()
                .any(|&k| worst_at(DEFAULT_STEP / k) <= TOLERANCE)
        {
            finer = true;
        } else {
            let worst = r.active.get(check.worst).copied().unwrap_or(0);
            // The estimate of the worst component at other steps, to tell a wrong gradient
            // (the estimates agree with each other) from a poor estimate.
            let steps: Vec<String> = [1e-2, 1e-4, 1e-5, 1e-6]
                .iter()
                .map(|&step| format!("{:e} (step {step:e})", r.numeric(step)[check.worst]))
                .collect();
            problems.push(format!(
                "gradient vs finite differences: {check} (coordinate {worst}); numeric at other steps: {}",
                steps.join(", ")
            ));
        }
    }
    (problems, finer)
}

/// Forward mode against reverse mode and the dual twin, along a random tangent `u`: the
/// value is the function's, bit for bit; `jvp(u) · w == u · vjp(w)` (with `w = 2`, the
/// `_pullback` already run); and `jvp(u)` is the twin's derivative seeded with `u`.
#[allow(clippy::too_many_arguments)]
fn check_jvp(
    case: &Case,
    jvp: Jvp,
    dual: Dual,
    p: &[f64],
    ints: &[usize],
    value: f64,
    grad: &[f64],
    pullback2: &[f64],
    report: &mut Report,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut rng = Rng::new(hash_str(case.name) ^ p[0].to_bits());
    let u: Vec<f64> = grad.iter().map(|_| rng.uniform(-1.0, 1.0)).collect();
    let (jvp_value, tangent) = jvp(p, ints, &u);
    report.jvp_points += 1;
    if jvp_value.to_bits() != value.to_bits() {
        problems.push(format!(
            "_jvp value {jvp_value:e} != function value {value:e}"
        ));
    }
    // Each side is a sum of the same products in another order: the floor is the size of
    // the terms, not of their (possibly cancelling) sum, and no smaller than the gradient
    // comparison's.
    let terms: f64 = u
        .iter()
        .zip(grad)
        .map(|(a, b)| (a * b).abs())
        .sum::<f64>()
        .max(1.0);
    let adjoint: f64 = u.iter().zip(pullback2).map(|(a, b)| a * b).sum();
    // The tangent may differ from the twin's by EXACT of `EXACT_FLOOR * terms`, and each
    // gradient component by EXACT of `EXACT_FLOOR` times the largest (or 1), as the checks
    // against the twin allow: `u · vjp` by `Σ|u_i|` times that. The two sides may differ by
    // the sum.
    let largest = grad.iter().fold(1.0_f64, |m, g| m.max(g.abs()));
    let u_size: f64 = u.iter().map(|a| a.abs()).sum();
    let floor = EXACT_FLOOR * 2.0 * (terms + u_size * largest);
    let e = exact_error(2.0 * tangent, adjoint, floor);
    report.max_jvp_error = report.max_jvp_error.max(e);
    if e > EXACT {
        problems.push(format!(
            "jvp(u) · 2 = {:e} != u · vjp(2) = {adjoint:e} (error {e:e}), u = {u:?}",
            2.0 * tangent
        ));
    }
    let directional = dual(&along(case, p, &u, &[]), ints).eps();
    let e = exact_error(tangent, directional, EXACT_FLOOR * terms);
    report.max_jvp_error = report.max_jvp_error.max(e);
    if e > EXACT {
        problems.push(format!(
            "jvp(u) = {tangent:e} != the dual twin's derivative along u {directional:e} (error {e:e})"
        ));
    }
    problems
}

/// `_hvp` along a random `w` against `_grad` and the twin: the value is the function's, bit for
/// bit; the gradient is `_grad`'s; and each component of `H w` is the twin's mixed second
/// derivative, seeded with that coordinate and `w`.
#[allow(clippy::too_many_arguments)]
fn check_hvp(
    case: &Case,
    hvp: Hvp,
    dual: Dual,
    p: &[f64],
    ints: &[usize],
    value: f64,
    grad: &[f64],
    report: &mut Report,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut rng = Rng::new(hash_str(case.name) ^ p[0].to_bits() ^ 0x4e55);
    let w: Vec<f64> = grad.iter().map(|_| rng.uniform(-1.0, 1.0)).collect();
    let (hvp_value, hvp_grad, hw) = hvp(p, ints, &w);
    report.hvp_points += 1;
    if hvp_value.to_bits() != value.to_bits() {
        problems.push(format!(
            "_hvp value {hvp_value:e} != function value {value:e}"
        ));
    }
    let largest = grad
        .iter()
        .fold(1.0_f64.max(value.abs()), |m, g| m.max(g.abs()));
    let worst_grad = hvp_grad
        .iter()
        .zip(grad)
        .map(|(&a, &b)| exact_error(a, b, EXACT_FLOOR * largest))
        .fold(0.0, f64::max);
    if hvp_grad.len() != grad.len() || worst_grad > EXACT {
        problems.push(format!(
            "_hvp gradient {hvp_grad:?} != _grad {grad:?} (error {worst_grad:e})"
        ));
    }
    let twin: Vec<f64> = (0..grad.len())
        .map(|i| {
            let unit: Vec<f64> = (0..grad.len()).map(|j| (i == j) as u8 as f64).collect();
            dual(&along(case, p, &unit, &w), ints).mixed()
        })
        .collect();
    // As for the gradient: relative to the largest component (or the gradient, or 1).
    let scale = twin
        .iter()
        .filter(|h| !h.is_nan())
        .fold(largest, |m, h| m.max(h.abs()));
    let mut worst = (0.0, 0);
    for (i, (&a, &b)) in hw.iter().zip(&twin).enumerate() {
        if b.is_nan() {
            continue;
        }
        let e = exact_error(a, b, EXACT_FLOOR * scale);
        if e > worst.0 {
            worst = (e, i);
        }
    }
    report.max_hvp_error = report.max_hvp_error.max(worst.0);
    if hw.len() != twin.len() || worst.0 > EXACT {
        problems.push(format!(
            "H w vs dual twin: error {:e} at component {}\n      _hvp = {hw:?}\n      twin = {twin:?}\n      w = {w:?}",
            worst.0, worst.1
        ));
    }
    problems
}

fn check_case(case: &Case, report: &mut Report) {
    report.functions += 1;
    let mut rng = Rng::new(hash_str(case.name) ^ 0x0d1f_f7e5_7000_0001);
    for j in 0..POINTS {
        let ints = case.ints[j % case.ints.len()];
        let mut local = Report::default();
        let points = guarded("the traced twin", || {
            let first = sample(&mut rng, case, ints, false, &mut local);
            // With a dual twin, finite differences need not be reliable at the point.
            let p = sample(&mut rng, case, ints, case.dual.is_none(), &mut local);
            (first, p)
        });
        report.inconsistent += local.inconsistent;
        let points = match points {
            Ok(points) => points,
            Err(e) => {
                report
                    .harness_errors
                    .push(format!("{} (ints {ints:?}): {e}", case.name));
                continue;
            }
        };
        let (Some(first), Some(p)) = points else {
            report.skipped.push(format!(
                "{} (ints {ints:?}): no admissible point",
                case.name
            ));
            continue;
        };
        report.points += 1;
        check_point(case, &p, &first, ints, report);
    }
}

/// Checks every case and panics with a report of every mismatch.
pub fn run(suite: &str, cases: &[Case]) {
    let mut report = Report::default();
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        LAST_PANIC.with(|p| *p.borrow_mut() = format!("{message}{location}"));
    }));
    for case in cases {
        check_case(case, &mut report);
    }
    panic::set_hook(hook);
    let mut summary = format!(
        "{suite}: {} functions, {} points checked ({POINTS} per function, tolerance {TOLERANCE:e}); \
         {} mismatches, {} harness errors; {} points matched only the finer finite differences; \
         {} candidate points rejected for inconsistent finite differences; {} points without an admissible sample; \
         {} points checked against the dual twin (tolerance {EXACT:e}, largest error {:e}), {} of them also against finite differences, \
         {} where the twin's gradient is partly NaN (not differentiable there); \
         {} points of `_jvp` against `_pullback` and the twin (largest error {:e}); \
         {} points of `_hvp` against `_grad` and the twin (largest error {:e})",
        report.functions,
        report.points,
        report.mismatches.len(),
        report.harness_errors.len(),
        report.finer,
        report.inconsistent,
        report.skipped.len(),
        report.dual_points,
        report.max_exact_error,
        report.fd_points,
        report.singular_points,
        report.jvp_points,
        report.max_jvp_error,
        report.hvp_points,
        report.max_hvp_error,
    );
    eprintln!("{summary}");
    let mut skipped: Vec<&String> = report.skipped.iter().collect();
    skipped.dedup();
    for line in skipped {
        let n = report.skipped.iter().filter(|s| *s == line).count();
        eprintln!("  {line} ({n} points)");
    }
    for line in report
        .harness_errors
        .iter()
        .chain(&report.mismatches)
        .chain(&report.skipped)
    {
        let _ = write!(summary, "\n{line}");
    }
    // A function skipped now and then is fine (an admissible point may be rare); many mean
    // the generator makes functions the test cannot check.
    let skipped_ok = report.skipped.len() * 100 <= report.functions * POINTS;
    assert!(
        report.mismatches.is_empty() && report.harness_errors.is_empty() && skipped_ok,
        "{summary}"
    );
}
