//! What the code written by `#[differentiate]` calls. Not public API: names and signatures here
//! change whenever the macro changes, and the two crates are released in lockstep.
//!
//! Everything is generic over [`Real`] (`f32` and `f64`) because the macro does not know the
//! types of the values it differentiates; rustc infers them from the call sites.

use core::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

/// The float types the derivative rules are written for.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is used as a differentiated number here, but only `f32` and `f64` can be differentiated",
    note = "an integer the macro cannot see the type of (a struct's `usize` field, say) is taken to be a float; mark it constant: `no_grad(p.n) as f64`",
    note = "a struct's own arithmetic operators, and its methods named like float methods (or like operators, `add`, on a value a call gave), are not differentiated: write the arithmetic over its fields, and call such a method in path form (`Type::exp(&s)`, `Vec2::add(&a.scale(k), &b)`)"
)]
pub trait Real:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + Dummy
    + Grad<Grad = Self>
    + AddGrad<Self>
    + crate::Differentiable
{
    /// `0`.
    const ZERO: Self;
    /// `ln 2`.
    const REAL_LN_2: Self;
    /// `ln 10`.
    const REAL_LN_10: Self;
    /// `n` converted exactly (|n| < 2^24) or rounded.
    fn real_from_i32(n: i32) -> Self;
    /// The value converted to `f64`.
    fn real_to_f64(self) -> f64;
    /// An `f64` converted, with rounding for `f32`.
    fn real_from_f64(x: f64) -> Self;
    /// `self` raised to an integer power.
    fn real_powi(self, n: i32) -> Self;
    /// Natural logarithm.
    fn real_ln(self) -> Self;
}

macro_rules! impl_real {
    ($t:ident) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const REAL_LN_2: Self = core::$t::consts::LN_2;
            const REAL_LN_10: Self = core::$t::consts::LN_10;
            #[inline(always)]
            fn real_from_i32(n: i32) -> Self {
                n as $t
            }
            #[inline(always)]
            fn real_to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn real_from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn real_powi(self, n: i32) -> Self {
                $t::powi(self, n)
            }
            #[inline(always)]
            fn real_ln(self) -> Self {
                $t::ln(self)
            }
        }
    };
}
impl_real!(f32);
impl_real!(f64);

/// Zero, in a float type that is a type parameter of the differentiated function.
#[inline(always)]
pub fn zero<T: Real>() -> T {
    T::ZERO
}

/// A constant of a rule (`2.0` in `dy / (2.0 * y)`) in a float type that is a type parameter.
#[inline(always)]
pub fn lit<T: Real>(x: f64) -> T {
    T::real_from_f64(x)
}

/// Clears a caller's gradient entry for a float of a type that is a type parameter.
#[inline(always)]
pub fn reset_zero<T: Real>(grad: &mut T) {
    *grad = T::ZERO;
}

/// `adjoint`, or zero where `dy` (the adjoint it is made from) is zero: a derivative that is
/// infinite at a point (`sqrt` at 0) times a zero adjoint adds nothing, not NaN.
#[inline(always)]
pub fn unless_zero<T: Real>(dy: T, adjoint: T) -> T {
    if dy == T::ZERO { T::ZERO } else { adjoint }
}

/// Whether an adjoint has a float that is not zero. A call whose result is not used on the path
/// taken has none, and its pullback is skipped: its terms are zero, or NaN where a factor of
/// them is not finite.
#[inline(always)]
pub fn nonzero<G: crate::Differentiable>(adjoint: &G) -> bool {
    let mut any = false;
    adjoint.for_each(&mut |x| any |= x != 0.0);
    any
}

/// `ln 2` in the type of `like` (the derivative of `exp2` and `log2`).
#[inline(always)]
pub fn ln_2<T: Real>(_like: T) -> T {
    T::REAL_LN_2
}

/// `ln 10` in the type of `like` (the derivative of `log10`).
#[inline(always)]
pub fn ln_10<T: Real>(_like: T) -> T {
    T::REAL_LN_10
}

/// `ln x` in the float type of `like`: `x` may be an unsuffixed literal (`x.log(10.0)`), whose
/// type rustc infers from `like`.
#[inline(always)]
pub fn ln_as<T: Real>(x: T, _like: T) -> T {
    x.real_ln()
}

/// `d/dx x^n = n x^(n-1)`, with `0` for `n = 0` (where `x^(n-1)` may be infinite).
#[inline(always)]
pub fn powi_deriv<T: Real>(x: T, n: i32) -> T {
    if n == 0 {
        T::ZERO
    } else {
        T::real_from_i32(n) * x.real_powi(n - 1)
    }
}

/// `d²/dx² x^n = n (n-1) x^(n-2)`, with `0` for `n = 0` and `n = 1`: the derivative of
/// [`powi_deriv`], which a Hessian differentiates.
#[inline(always)]
pub fn powi_deriv2<T: Real>(x: T, n: i32) -> T {
    if n == 0 || n == 1 {
        T::ZERO
    } else {
        T::real_from_i32(n) * T::real_from_i32(n - 1) * x.real_powi(n - 2)
    }
}

/// `value` where `cond` holds, zero elsewhere: the adjoint of `max`, `min` and `clamp`, which
/// goes to one argument.
#[inline(always)]
pub fn pick<T: Real>(cond: bool, value: T) -> T {
    if cond { value } else { T::ZERO }
}

/// The sign of `x` with `sign(0) = 0`: the derivative of `abs`, as PyTorch defines it.
#[inline(always)]
pub fn sign<T: Real>(x: T) -> T {
    if x > T::ZERO {
        T::real_from_i32(1)
    } else if x < T::ZERO {
        T::real_from_i32(-1)
    } else {
        T::ZERO
    }
}

/// `y ln x`, taken as `0` where `y = 0` so that `d(x^p)/dp` is `0` rather than NaN at `x = 0`.
#[inline(always)]
pub fn xlogy<T: Real>(y: T, x: T) -> T {
    if y == T::ZERO {
        T::ZERO
    } else {
        y * x.real_ln()
    }
}

/// `x` itself, checked to be a float: a derivative rule applied to a value whose type the macro
/// cannot see (a struct's field, a call's result) is right only for `f32` and `f64`, not for a
/// struct with arithmetic operators of its own.
#[inline(always)]
pub fn number<T: Real>(x: T) -> T {
    x
}

/// `value` converted to the float type of `like`: the adjoint of an `as` cast between floats
/// flows back into the type of the cast's operand.
#[inline(always)]
pub fn cast_like<S: Real, T: Real>(value: S, _like: T) -> T {
    T::real_from_f64(value.real_to_f64())
}

/// Where a pullback adds the adjoint of one parameter: the caller's accumulator, or nothing when
/// the caller does not track that argument (the pullback then works into scratch space).
pub struct Slot<'a, T: ?Sized>(Option<&'a mut T>, Fresh);

/// Whether a slot's target was just set to zero by the caller, so that the one adjoint given
/// to it can be stored rather than added (`0.0 + x` is not `x` for `x = -0.0`, so the compiler
/// cannot drop the addition itself).
#[derive(Clone, Copy)]
struct Fresh(bool);

/// The slot of a parameter the callee does not differentiate.
#[derive(Default, Clone, Copy)]
pub struct Ignore;

impl<T: ?Sized> Default for Slot<'_, T> {
    #[inline(always)]
    fn default() -> Self {
        Slot(None, Fresh(false))
    }
}

impl<'a, T: ?Sized> Slot<'a, T> {
    /// A slot that adds into `target`.
    #[inline(always)]
    pub fn new(target: &'a mut T) -> Self {
        Slot(Some(target), Fresh(false))
    }

    /// A slot whose `target` the caller has just set to zero.
    #[inline(always)]
    pub fn zeroed(target: &'a mut T) -> Self {
        Slot(Some(target), Fresh(true))
    }
}

impl<'a, T: ?Sized> Slot<'a, T> {
    /// The caller's accumulator, or else `scratch` set to a zero shaped like `like` (the
    /// pullback then computes into space nobody reads, so callers need not track the
    /// argument).
    #[inline(always)]
    pub fn or_zero<'b, P>(self, scratch: &'b mut Option<P::Grad>, like: &P) -> &'b mut T
    where
        'a: 'b,
        P: Grad + ?Sized,
        P::Grad: core::borrow::BorrowMut<T>,
    {
        match self.0 {
            Some(target) => target,
            None => core::borrow::BorrowMut::borrow_mut(scratch.insert(like.zero_grad())),
        }
    }
}

impl<T: ?Sized> Slot<'_, T> {
    /// Adds a whole gradient (from a user-written pullback) into the caller's accumulator.
    #[inline(always)]
    pub fn add_grad<G>(self, grad: G)
    where
        T: AddGrad<G>,
    {
        if let Some(target) = self.0 {
            target.add_grad(grad);
        }
    }
}

/// Adding a gradient into an accumulator of the parameter's shape.
pub trait AddGrad<G> {
    /// `self += grad`, elementwise.
    fn add_grad(&mut self, grad: G);
}

impl<T: crate::Differentiable> AddGrad<T> for T {
    #[inline(always)]
    fn add_grad(&mut self, grad: T) {
        crate::Differentiable::add_assign(self, &grad)
    }
}

/// A count: `x.len()` of something the macro cannot see the type of is `count(x.len())`, so
/// that a struct's own `len` returning a float (a vector's norm, which has a derivative) is a
/// compile error rather than a constant.
#[diagnostic::on_unimplemented(
    message = "`.len()` is taken for a count here, and `{Self}` is not an integer",
    note = "with method syntax, `s.len()` is taken for a count; a struct's own `len` returning a float is differentiated when called in path form (`Type::len(&s)`)"
)]
pub trait Count {}

macro_rules! impl_count {
    ($($t:ty)*) => {$( impl Count for $t {} )*};
}
impl_count!(usize u8 u16 u32 u64 u128 isize i8 i16 i32 i64 i128);

/// `n` itself, checked to be an integer.
#[inline(always)]
pub fn count<T: Count>(n: T) -> T {
    n
}

/// What a search gives (`partition_point`, `position`, `binary_search_by`, and their unwraps):
/// a position, piecewise constant in the numbers its predicate reads.
#[diagnostic::on_unimplemented(
    message = "a search is taken to give a position here, and `{Self}` is not one",
    note = "`partition_point`, `position`, `rposition`, `binary_search_by` and `binary_search_by_key` with a closure (and their `unwrap`s, `map`s and integer methods such as `saturating_sub`) are taken for positions, with no derivative: to read the value at a position, bind the position first and index with it (`let i = xs.iter().position(..).unwrap_or(0); xs[i]`); a method of your own with one of these names that computes a number needs another name"
)]
pub trait Found {}

impl Found for usize {}
impl Found for Option<usize> {}
impl Found for Result<usize, usize> {}

/// `p` itself, checked to be a position.
#[inline(always)]
pub fn found<T: Found>(p: T) -> T {
    p
}

/// The order `slice.sort_by_key(key)` puts the elements of `slice` in (the slice given first,
/// so that the key's parameter has its type).
pub fn sorted_order_by_key<T, K: Ord>(slice: &[T], mut key: impl FnMut(&T) -> K) -> Vec<usize> {
    sorted_order(slice, |a, b| key(a).cmp(&key(b)))
}

/// The order `slice.sort_unstable_by_key(key)` puts the elements of `slice` in.
pub fn unstable_sorted_order_by_key<T: Clone + PartialEq, K: Ord>(
    slice: &[T],
    mut key: impl FnMut(&T) -> K,
) -> Vec<usize> {
    unstable_sorted_order(slice, |a, b| key(a).cmp(&key(b)))
}

/// The order `slice.sort_by(compare)` puts the elements of `slice` in: the position, in
/// `slice`, of each element of the sorted slice (ties keep their order, as `sort_by` does).
pub fn sorted_order<T>(
    slice: &[T],
    mut compare: impl FnMut(&T, &T) -> core::cmp::Ordering,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..slice.len()).collect();
    order.sort_by(|&i, &j| compare(&slice[i], &slice[j]));
    order
}

/// The order `slice.sort_unstable_by(compare)` puts the elements of `slice` in. Elements the
/// comparator ties (numbers sorted by magnitude) may come out in an order of the sort's own,
/// which differs from [`sorted_order`]'s: the slice is sorted as the function sorts it, and
/// within each run of ties the positions are matched to the elements that landed there.
pub fn unstable_sorted_order<T: Clone + PartialEq>(
    slice: &[T],
    mut compare: impl FnMut(&T, &T) -> core::cmp::Ordering,
) -> Vec<usize> {
    let mut sorted = slice.to_vec();
    sorted.sort_unstable_by(&mut compare);
    let mut order = sorted_order(slice, &mut compare);
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len()
            && compare(&slice[order[start]], &slice[order[end]]) == core::cmp::Ordering::Equal
        {
            end += 1;
        }
        if end - start > 1 {
            let mut unmatched = order[start..end].to_vec();
            for (at, landed) in order[start..end].iter_mut().zip(&sorted[start..end]) {
                // Equal elements are interchangeable (NaN matches nothing: any is as good).
                let k = unmatched
                    .iter()
                    .position(|&i| slice[i] == *landed)
                    .unwrap_or(0);
                *at = unmatched.swap_remove(k);
            }
        }
        start = end;
    }
    order
}

pub trait Position: Copy + PartialOrd {
    /// `self - other`, or 0 when `other` is larger.
    fn minus(self, other: Self) -> Self;
    /// `self + k`: the item at position `k` of a range starting at `self`.
    fn offset(self, k: usize) -> Self;
    /// How many items the range `start..self` has.
    fn count_from(self, start: Self) -> usize;
}

macro_rules! impl_position {
    ($($t:ty)*) => {$(
        impl Position for $t {
            #[inline(always)]
            fn minus(self, other: Self) -> Self {
                self.saturating_sub(other)
            }
            #[inline(always)]
            fn offset(self, k: usize) -> Self {
                // Modulo the type's width, which is exact for every item of a range of it
                // (`-128i8..=127` has 256).
                self.wrapping_add(k as $t)
            }
            #[inline(always)]
            fn count_from(self, start: Self) -> usize {
                if self > start { self.abs_diff(start) as usize } else { 0 }
            }
        }
    )*};
}
impl_position!(usize u8 u16 u32 u64 u128 isize i8 i16 i32 i64 i128);

/// A number stored into a `Vec` or array of numbers: what [`element`] checks.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is stored here into a `Vec` or array of numbers, but only `f32` and `f64` can be",
    note = "a `Vec` of arrays or structs built element by element (`rows.push(f(x))`, `collect()` of them) is not supported yet: allocate the matrix first (`let mut m = vec![[0.0; 3]; n];`) and assign its rows or elements (`m[i] = f(x);`)"
)]
pub trait Element: Real {}
impl Element for f32 {}
impl Element for f64 {}

/// `x`, checked to be a number where it is stored into an array of numbers.
#[inline(always)]
pub fn element<T: Element>(x: T) -> T {
    x
}

/// The end of the sub-slice `start..end` of a slice of length `len`, after the checks that
/// slicing makes (a rewritten `&mut buf[a..b]` is never taken, so they are made here).
#[inline(always)]
#[track_caller]
pub fn sub_slice_end(start: usize, end: usize, len: usize) -> usize {
    assert!(
        start <= end,
        "slice index starts at {start} but ends at {end}"
    );
    assert!(
        end <= len,
        "range end index {end} out of range for slice of length {len}"
    );
    end
}

/// Position `j` of a sub-slice of length `len`, checked as indexing the sub-slice would.
#[inline(always)]
#[track_caller]
pub fn sub_index(j: usize, len: usize) -> usize {
    assert!(
        j < len,
        "index out of bounds: the len is {len} but the index is {j}"
    );
    j
}

/// The item at position `k` of the range `start..`: a function, so that the type of an
/// untyped `(0..3)` is decided by the items' use (`i32` unless it is an index), as in Rust.
#[inline(always)]
pub fn offset<T: Position>(start: T, k: usize) -> T {
    start.offset(k)
}

/// How many items the range `start..end` of any integer type has.
#[inline(always)]
pub fn range_len<T: Position>(start: T, end: T) -> usize {
    end.count_from(start)
}

/// How many items the range `start..=end` of any integer type has.
#[inline(always)]
pub fn range_len_inclusive<T: Position>(start: T, end: T) -> usize {
    if end < start {
        0
    } else {
        end.count_from(start) + 1
    }
}

/// `start`, typed as `end` is: the first item of `start..end`, whose other items are
/// `offset(first, k)`.
#[inline(always)]
pub fn first<T: Position>(start: T, _end: T) -> T {
    start
}

/// `a - b` or 0: a function rather than `a.saturating_sub(b)` so that the bounds of `(0..3)`
/// may stay untyped integers until their use decides (a method on `{integer}` does not compile).
#[inline(always)]
pub fn minus<T: Position>(a: T, b: T) -> T {
    a.minus(b)
}

/// The tangent of a value that does not vary, as a member of a struct literal's tangent: a
/// zero for what is differentiated, a copy of a field that is not (`#[differentiable(skip)]`).
pub trait ConstantTangent {
    /// The tangent.
    fn constant_tangent(&self) -> Self;
}

impl<T: crate::Differentiable> ConstantTangent for T {
    #[inline(always)]
    fn constant_tangent(&self) -> Self {
        let mut zero = self.zero_like();
        zero.__zero_carried_floats();
        zero
    }
}

macro_rules! impl_constant_tangent_copy {
    ($($t:ty)*) => {$(
        impl ConstantTangent for $t {
            #[inline(always)]
            fn constant_tangent(&self) -> Self {
                *self
            }
        }
    )*};
}
impl_constant_tangent_copy!(usize u8 u16 u32 u64 u128 isize i8 i16 i32 i64 i128 bool);

/// See [`ConstantTangent`].
#[inline(always)]
pub fn constant_tangent<T: ConstantTangent>(value: &T) -> T {
    value.constant_tangent()
}

/// A field of a struct's adjoint taken out, leaving the field zero (a copy for a field that is
/// not differentiated): the field was replaced (`s.v = e`), so only `e` gets its adjoint.
#[inline(always)]
pub fn take_part<T: ConstantTangent>(part: &mut T) -> T {
    let zero = part.constant_tangent();
    core::mem::replace(part, zero)
}

/// A field that carries no derivative (`#[differentiable(skip)] n: usize`), copied whole into
/// a struct the function builds: nothing flows back.
macro_rules! impl_add_nothing {
    ($($t:ty)*) => {$(
        impl AddGrad<$t> for $t {
            #[inline(always)]
            fn add_grad(&mut self, _: $t) {}
        }
    )*};
}
impl_add_nothing!(usize u8 u16 u32 u64 u128 isize i8 i16 i32 i64 i128 bool);

impl<T: crate::Differentiable> AddGrad<Vec<T>> for [T] {
    fn add_grad(&mut self, grad: Vec<T>) {
        assert_eq!(self.len(), grad.len(), "a gradient of another length");
        for (t, g) in self.iter_mut().zip(&grad) {
            t.add_assign(g);
        }
    }
}

impl<T: Real> Slot<'_, T> {
    /// Adds `adjoint` into the caller's accumulator.
    #[inline(always)]
    pub fn accumulate(self, adjoint: T) {
        match self {
            Slot(Some(target), Fresh(true)) => *target = adjoint,
            Slot(Some(target), Fresh(false)) => *target += adjoint,
            Slot(None, _) => {}
        }
    }
}

/// Conversion of the caller's `&mut` accumulator into whatever the callee asks for: the types on
/// both sides are only known to rustc, which picks the impl.
pub trait FromMut<'a, T: ?Sized> {
    /// Wraps `target`.
    fn from_mut(target: &'a mut T) -> Self;
}

impl<'a, T: ?Sized> FromMut<'a, T> for Slot<'a, T> {
    #[inline(always)]
    fn from_mut(target: &'a mut T) -> Self {
        Slot::new(target)
    }
}

impl<'a, T> FromMut<'a, Vec<T>> for Slot<'a, [T]> {
    #[inline(always)]
    fn from_mut(target: &'a mut Vec<T>) -> Self {
        Slot::new(target)
    }
}

impl<'a, T, const N: usize> FromMut<'a, [T; N]> for Slot<'a, [T]> {
    #[inline(always)]
    fn from_mut(target: &'a mut [T; N]) -> Self {
        Slot::new(target)
    }
}

// A row the caller copied out of a slice (`let mut z = data[i];`) has its adjoint in a `Vec` of
// the row's length; the callee takes the array.
impl<'a, T, const N: usize> FromMut<'a, Vec<T>> for Slot<'a, [T; N]> {
    #[inline(always)]
    fn from_mut(target: &'a mut Vec<T>) -> Self {
        let row: &mut [T; N] = target
            .as_mut_slice()
            .try_into()
            .expect("the adjoint of a row has the row's length");
        Slot::new(row)
    }
}

/// The slot of a gradient entry the caller has just set to zero.
#[inline(always)]
pub fn zeroed_slot<'a, T: ?Sized, R: FromMut<'a, T> + Zeroed>(target: &'a mut T) -> R {
    R::from_mut(target).mark_zeroed()
}

/// Slots that can be told their target is zero.
pub trait Zeroed {
    /// The same slot, marked.
    fn mark_zeroed(self) -> Self;
}

impl<T: ?Sized> Zeroed for Slot<'_, T> {
    #[inline(always)]
    fn mark_zeroed(self) -> Self {
        Slot(self.0, Fresh(true))
    }
}

impl Zeroed for Ignore {
    #[inline(always)]
    fn mark_zeroed(self) -> Self {
        self
    }
}

/// Never implemented: the bound of the `_grad` and `_grad_into` that `#[differentiate]` writes
/// for a function whose output is not a scalar, so that calling them says what to use instead.
#[diagnostic::on_unimplemented(
    message = "`_grad` and `_grad_into` need a function whose return type is written `f32` or `f64`; this one returns `{Self}`",
    label = "the function's output is not written as a scalar",
    note = "call its `_pullback` with the adjoint of the output (`f_pullback(x, d_out)` gives the vector-Jacobian product), or reduce the output to a number in a function of its own; a type alias of `f64` is not seen through by the macro: write `f64` in the signature"
)]
pub trait ScalarOutput<Args> {}

/// Never implemented: the bound of `_hvp` and `_hessian` of a function returning a vector,
/// which has no Hessian of its own (`hessian` makes it callable from functions with one).
#[diagnostic::on_unimplemented(
    message = "`_hvp` and `_hessian` need a function whose return type is written `f32` or `f64`; this one returns `{Self}`",
    label = "the function's output is not a scalar",
    note = "a Hessian is of a scalar function: use `_jacobian` (or `_jvp`) for the derivative of a vector, or take the Hessian of a scalar function that calls this one"
)]
pub trait ScalarHessian<Args> {}

/// Never implemented: a caller that hands an accumulator to a parameter the callee does not
/// differentiate (`wrt(..)` leaves it out, or a custom pullback gives no gradient for it) would
/// lose that argument's derivative without a word, so it does not compile.
#[diagnostic::on_unimplemented(
    message = "an argument of this call depends on a differentiated parameter, but the function it calls does not differentiate the parameter it is passed to, so its derivative would be lost",
    label = "the derivative through this call would be incomplete",
    note = "add the parameter to the called function's `#[differentiate(wrt(..))]` (a custom pullback then returns a gradient for it too), or wrap the argument in `no_grad(..)` if its derivative should be ignored (a receiver too: `no_grad(&self.env).step(s, u)` calls a method of a skipped field)"
)]
pub trait DifferentiatedByCallee {}

impl<T: ?Sized + DifferentiatedByCallee> FromMut<'_, T> for Ignore {
    #[inline(always)]
    fn from_mut(_: &mut T) -> Self {
        Ignore
    }
}

/// The callee's slot for an argument whose adjoint the caller accumulates in `target`.
#[inline(always)]
pub fn slot<'a, T: ?Sized, R: FromMut<'a, T>>(target: &'a mut T) -> R {
    R::from_mut(target)
}

/// The callee's slot for an argument the caller treats as a constant.
#[inline(always)]
pub fn no_slot<R: Default>() -> R {
    R::default()
}

/// The gradient type of a parameter type, and how to make or clear one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Differentiable`",
    label = "not `Differentiable`",
    note = "derive it with `#[derive(Clone, Differentiable)]` (a struct), or leave the parameter out of `#[differentiate(wrt(...))]`; a field of this type (an enum, a struct of data) in a `Differentiable` struct takes `#[differentiable(skip)]`, and is read in differentiated code as `no_grad(&self.field)` (`for item in no_grad(&self.items)`, `no_grad(&self.env).step(x)`)"
)]
pub trait Grad {
    /// The gradient: the same shape, owned.
    type Grad;
    /// A zero gradient shaped like `self`.
    fn zero_grad(&self) -> Self::Grad;
    /// Sets `grad` to zero, reshaping it like `self` when needed.
    fn reset_grad(&self, grad: &mut Self::Grad);
    /// Copies the fields that are not differentiated (which the macro cannot tell apart from
    /// the others, and may have added into) from `self` into `grad`.
    #[inline(always)]
    fn restore_carried(&self, grad: &mut Self::Grad) {
        let _ = grad;
    }
}

/// After a backward sweep: a struct gradient's carried fields are copies of the value's.
#[inline(always)]
pub fn restore_carried<T: Grad + ?Sized>(value: &T, grad: &mut T::Grad) {
    value.restore_carried(grad)
}

macro_rules! impl_grad_scalar {
    ($t:ty) => {
        impl Grad for $t {
            type Grad = $t;
            #[inline(always)]
            fn zero_grad(&self) -> $t {
                0.0
            }
            #[inline(always)]
            fn reset_grad(&self, grad: &mut $t) {
                *grad = 0.0;
            }
        }
    };
}
impl_grad_scalar!(f32);
impl_grad_scalar!(f64);

impl<T: Grad + ?Sized> Grad for &T {
    type Grad = T::Grad;
    #[inline(always)]
    fn restore_carried(&self, grad: &mut T::Grad) {
        (**self).restore_carried(grad)
    }
    #[inline(always)]
    fn zero_grad(&self) -> T::Grad {
        (**self).zero_grad()
    }
    #[inline(always)]
    fn reset_grad(&self, grad: &mut T::Grad) {
        (**self).reset_grad(grad)
    }
}

impl<T: Grad> Grad for [T] {
    type Grad = Vec<T::Grad>;
    fn restore_carried(&self, grad: &mut Vec<T::Grad>) {
        for (x, g) in self.iter().zip(grad) {
            x.restore_carried(g);
        }
    }
    fn zero_grad(&self) -> Vec<T::Grad> {
        self.iter().map(T::zero_grad).collect()
    }
    fn reset_grad(&self, grad: &mut Vec<T::Grad>) {
        // The elements already there are reset in place: a reused gradient of rows (`Vec<f64>`
        // each) allocates nothing.
        grad.truncate(self.len());
        for (x, g) in self.iter().zip(grad.iter_mut()) {
            x.reset_grad(g);
        }
        let kept = grad.len();
        grad.extend(self[kept..].iter().map(T::zero_grad));
    }
}

impl<T: Grad> Grad for Vec<T> {
    type Grad = Vec<T::Grad>;
    fn restore_carried(&self, grad: &mut Vec<T::Grad>) {
        self.as_slice().restore_carried(grad)
    }
    fn zero_grad(&self) -> Vec<T::Grad> {
        self.as_slice().zero_grad()
    }
    fn reset_grad(&self, grad: &mut Vec<T::Grad>) {
        self.as_slice().reset_grad(grad)
    }
}

impl<T: Grad, const N: usize> Grad for [T; N] {
    type Grad = [T::Grad; N];
    fn restore_carried(&self, grad: &mut [T::Grad; N]) {
        for (x, g) in self.iter().zip(grad) {
            x.restore_carried(g);
        }
    }
    #[inline(always)]
    fn zero_grad(&self) -> [T::Grad; N] {
        core::array::from_fn(|i| self[i].zero_grad())
    }
    #[inline(always)]
    fn reset_grad(&self, grad: &mut [T::Grad; N]) {
        for (x, g) in self.iter().zip(grad) {
            x.reset_grad(g);
        }
    }
}

macro_rules! impl_grad_tuple {
    ($($t:ident $i:tt),*) => {
        impl<$($t: Grad),*> Grad for ($($t,)*) {
            type Grad = ($($t::Grad,)*);
            #[inline(always)]
            fn zero_grad(&self) -> Self::Grad {
                ($(self.$i.zero_grad(),)*)
            }
            #[inline(always)]
            fn reset_grad(&self, grad: &mut Self::Grad) {
                $(self.$i.reset_grad(&mut grad.$i);)*
            }
        }
    };
}
impl_grad_tuple!(A 0);
impl_grad_tuple!(A 0, B 1);
impl_grad_tuple!(A 0, B 1, C 2);
impl_grad_tuple!(A 0, B 1, C 2, D 3);
impl_grad_tuple!(A 0, B 1, C 2, D 3, E 4);
impl_grad_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
impl_grad_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
impl_grad_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// A skipped field of a struct (`#[differentiable(skip)]`), whose floats are zeroed in tangents
/// and in adjoints that flow on: `Differentiable` types are zeroed ([`ZeroSkipped`]), others
/// left as they are ([`KeepSkipped`], chosen by method resolution when the first does not
/// apply).
pub struct Skipped<'a, T>(pub &'a mut T);

/// See [`Skipped`].
pub trait ZeroSkipped {
    /// Sets the floats to zero.
    fn zero_skipped(&mut self);
}

impl<T: crate::Differentiable> ZeroSkipped for Skipped<'_, T> {
    #[inline(always)]
    fn zero_skipped(&mut self) {
        self.0.set_zero();
        self.0.__zero_carried_floats();
    }
}

/// See [`Skipped`].
pub trait KeepSkipped {
    /// Nothing: the field holds no float.
    fn zero_skipped(&mut self);
}

impl<T> KeepSkipped for &mut Skipped<'_, T> {
    #[inline(always)]
    fn zero_skipped(&mut self) {}
}

/// The adjoint of a struct the function built, before it flows on to the values the struct was
/// built from: a skipped float field holds a copy of the value there, not a derivative.
#[inline(always)]
pub fn zero_carried_floats<T: crate::Differentiable>(adjoint: &mut T) {
    adjoint.__zero_carried_floats()
}

/// `Vec`s of `zero`s as long as the rows of `like`, at most `cap`: a matrix collected from rows
/// as long as another's (`m.iter().map(|row| row.iter().map(..).collect()).collect()`, zipped
/// with a `Vec` of `cap` elements), and its adjoint.
#[inline]
pub fn zero_rows_like<R: AsRef<[U]>, U, T: Copy>(like: &[R], zero: T, cap: usize) -> Vec<Vec<T>> {
    like.iter()
        .map(|row| vec![zero; row.as_ref().len().min(cap)])
        .collect()
}

/// A zero gradient for a parameter (`0.0` for a float).
#[inline(always)]
pub fn zero_grad<T: Grad + ?Sized>(value: &T) -> T::Grad {
    value.zero_grad()
}

/// The zero adjoint of an array assigned whole, `len` long where it is a `Vec` (an array made
/// from a call's result may be either: `value` is the first it held).
pub trait ZeroOfLen {
    fn zero_of_len(&self, len: usize) -> Self;
    /// Sets every element to zero, a `Vec` made `len` long first.
    fn zero_resize(&mut self, len: usize);
}

impl<T: Real> ZeroOfLen for Vec<T> {
    #[inline(always)]
    fn zero_of_len(&self, len: usize) -> Self {
        vec![T::ZERO; len]
    }
    #[inline]
    fn zero_resize(&mut self, len: usize) {
        self.clear();
        self.resize(len, T::ZERO);
    }
}

impl<T: Real, const N: usize> ZeroOfLen for [T; N] {
    #[inline(always)]
    fn zero_of_len(&self, _: usize) -> Self {
        [T::ZERO; N]
    }
    #[inline(always)]
    fn zero_resize(&mut self, _: usize) {
        *self = [T::ZERO; N];
    }
}

/// [`ZeroOfLen::zero_of_len`].
#[inline(always)]
pub fn zero_of_len<T: ZeroOfLen>(like: &T, len: usize) -> T {
    like.zero_of_len(len)
}

/// Clears a caller's gradient buffer for a parameter.
#[inline(always)]
pub fn reset_grad<T: Grad + ?Sized>(value: &T, grad: &mut T::Grad) {
    value.reset_grad(grad)
}

/// `target += source`, elementwise: the adjoint of a copy flows back into its source.
#[inline(always)]
pub fn add_into<T: Adjoints + ?Sized>(target: &mut T, source: &T) {
    target.add_from(source);
}

/// The adjoint of a `Vec` before it was assigned whole: zeros, as long as it was then (of an
/// array made from a call's result, which may be one: zeros).
#[inline]
pub fn zero_resized<T: ZeroOfLen>(target: &mut T, len: usize) {
    target.zero_resize(len);
}

/// A zero adjoint of `len` elements in the storage of `spare`, the adjoint of the same
/// loop-local `vec!` in an earlier iteration: allocated once, not once per iteration
/// (`zero` names the element type for inference).
#[inline]
pub fn zeroed_vec<T: Real>(spare: &mut Vec<T>, zero: T, len: usize) -> Vec<T> {
    let mut adjoint = core::mem::take(spare);
    adjoint.clear();
    adjoint.resize(len, zero);
    adjoint
}

/// `vec![elem; len]` in the storage of a `Vec` that an earlier iteration of the loop has
/// finished with, when `pool` has one: a loop-local `vec!` allocated once, not once per
/// iteration.
#[inline]
pub fn reuse_vec<T: Clone>(pool: &mut Vec<Vec<T>>, elem: T, len: usize) -> Vec<T> {
    match pool.pop() {
        Some(mut storage) => {
            storage.clear();
            storage.resize(len, elem);
            storage
        }
        None => vec![elem; len],
    }
}

/// Sets every element to zero: the adjoint of an array overwritten as a whole.
#[inline(always)]
pub fn fill_zero<T: Adjoints + ?Sized>(target: &mut T) {
    target.fill_zero();
}

/// The adjoint of an array, slice or `Vec`, nested to any depth (`Vec<Vec<f64>>` too).
pub trait Adjoints {
    /// `self += source`, elementwise.
    fn add_from(&mut self, source: &Self);
    /// Every element set to zero.
    fn fill_zero(&mut self);
}

impl<T: Real> Adjoints for T {
    #[inline(always)]
    fn add_from(&mut self, source: &T) {
        *self += *source;
    }
    #[inline(always)]
    fn fill_zero(&mut self) {
        *self = T::ZERO;
    }
}

impl<T: Adjoints> Adjoints for [T] {
    #[inline]
    fn add_from(&mut self, source: &[T]) {
        // A length mismatch is a bug in the macro: never drop the extra adjoints in silence.
        assert_eq!(self.len(), source.len(), "adjoints of different lengths");
        for (t, s) in self.iter_mut().zip(source) {
            t.add_from(s);
        }
    }
    #[inline]
    fn fill_zero(&mut self) {
        for t in self {
            t.fill_zero();
        }
    }
}

impl<T: Adjoints, const N: usize> Adjoints for [T; N] {
    #[inline]
    fn add_from(&mut self, source: &[T; N]) {
        self[..].add_from(&source[..]);
    }
    #[inline]
    fn fill_zero(&mut self) {
        self[..].fill_zero();
    }
}

impl<T: Adjoints> Adjoints for Vec<T> {
    #[inline]
    fn add_from(&mut self, source: &Vec<T>) {
        self[..].add_from(&source[..]);
    }
    #[inline]
    fn fill_zero(&mut self) {
        self[..].fill_zero();
    }
}

/// An owned copy of an array, slice or vector (`let mut a = x;`, `x.to_vec()`).
#[inline(always)]
pub fn owned<M: Owned + ?Sized>(mem: &M) -> M::Owned {
    mem.owned()
}

/// Copies `source` into `target` (`a = b;` for arrays), reusing `target`'s storage.
#[inline(always)]
pub fn assign<M: Owned + ?Sized>(target: &mut M::Owned, source: &M) {
    source.assign_to(target)
}

/// Arrays, slices and vectors that can be copied into an owned array or vector.
pub trait Owned {
    /// `[T; N]` for an array, `Vec<T>` otherwise.
    type Owned;
    /// A copy.
    fn owned(&self) -> Self::Owned;
    /// Copies `self` into `target`.
    fn assign_to(&self, target: &mut Self::Owned);
}

impl<T: Clone, const N: usize> Owned for [T; N] {
    type Owned = [T; N];
    #[inline(always)]
    fn owned(&self) -> [T; N] {
        self.clone()
    }
    #[inline(always)]
    fn assign_to(&self, target: &mut [T; N]) {
        target.clone_from(self);
    }
}

impl<T: Clone> Owned for [T] {
    type Owned = Vec<T>;
    fn owned(&self) -> Vec<T> {
        self.to_vec()
    }
    /// Rows of a `Vec<Vec<T>>` are copied into the storage they had.
    fn assign_to(&self, target: &mut Vec<T>) {
        target.truncate(self.len());
        let (init, tail) = self.split_at(target.len());
        target.clone_from_slice(init);
        target.extend_from_slice(tail);
    }
}

impl<T: Clone> Owned for Vec<T> {
    type Owned = Vec<T>;
    fn owned(&self) -> Vec<T> {
        self.clone()
    }
    fn assign_to(&self, target: &mut Vec<T>) {
        self.as_slice().assign_to(target)
    }
}

impl<M: Owned + ?Sized> Owned for &M {
    type Owned = M::Owned;
    #[inline(always)]
    fn owned(&self) -> M::Owned {
        (**self).owned()
    }
    #[inline(always)]
    fn assign_to(&self, target: &mut M::Owned) {
        (**self).assign_to(target)
    }
}

/// Which branch of an `if` ran, with what it saved for the backward sweep.
pub enum Branch<A, B> {
    /// The `then` branch.
    Then(A),
    /// The `else` branch.
    Else(B),
}

/// A placeholder for a variable on a path that has not assigned it; never read.
#[inline(always)]
pub fn dummy<T: Dummy>() -> T {
    T::dummy()
}

/// Types with a placeholder value.
#[diagnostic::on_unimplemented(
    message = "the generated code needs a placeholder value of `{Self}` here (for an `Option` holding it before a `Some`, or a value an early `return` gives), and `{Self}` has none",
    note = "`#[derive(Differentiable)]` gives one to a struct whose fields are numbers, arrays, `Vec`s, `String`s, `Option`s or the struct's type parameters; otherwise keep a `bool` and a struct value instead of an `Option`, or return after the loop"
)]
pub trait Dummy {
    /// Any value of the type.
    fn dummy() -> Self;
}

macro_rules! impl_dummy {
    ($($t:ty => $v:expr),* $(,)?) => {
        $(impl Dummy for $t {
            #[inline(always)]
            fn dummy() -> Self {
                $v
            }
        })*
    };
}
impl_dummy!(
    f32 => 0.0, f64 => 0.0, bool => false,
    i8 => 0, i16 => 0, i32 => 0, i64 => 0, i128 => 0, isize => 0,
    u8 => 0, u16 => 0, u32 => 0, u64 => 0, u128 => 0, usize => 0,
    char => '\0', () => (),
);

// A reference to a number (the key of `k.iter().enumerate().max_by(..)` over integers): to a
// promoted constant.
macro_rules! impl_dummy_ref {
    ($($t:ty => $v:expr),* $(,)?) => {
        $(impl Dummy for &$t {
            #[inline(always)]
            fn dummy() -> Self {
                &$v
            }
        })*
    };
}
impl_dummy_ref!(
    f32 => 0.0, f64 => 0.0, bool => false,
    i8 => 0, i16 => 0, i32 => 0, i64 => 0, i128 => 0, isize => 0,
    u8 => 0, u16 => 0, u32 => 0, u64 => 0, u128 => 0, usize => 0,
    char => '\0', str => "",
);

impl<T: Dummy, const N: usize> Dummy for [T; N] {
    #[inline(always)]
    fn dummy() -> Self {
        core::array::from_fn(|_| T::dummy())
    }
}

impl<T> Dummy for Option<T> {
    #[inline(always)]
    fn dummy() -> Self {
        None
    }
}

impl<T: ?Sized> Dummy for core::marker::PhantomData<T> {
    #[inline(always)]
    fn dummy() -> Self {
        core::marker::PhantomData
    }
}

impl Dummy for String {
    #[inline(always)]
    fn dummy() -> Self {
        String::new()
    }
}

impl<T> Dummy for Vec<T> {
    #[inline(always)]
    fn dummy() -> Self {
        Vec::new()
    }
}

macro_rules! impl_dummy_tuple {
    ($($t:ident),*) => {
        impl<$($t: Dummy),*> Dummy for ($($t,)*) {
            #[inline(always)]
            fn dummy() -> Self {
                ($($t::dummy(),)*)
            }
        }
    };
}
impl_dummy_tuple!(A);
impl_dummy_tuple!(A, B);
impl_dummy_tuple!(A, B, C);
impl_dummy_tuple!(A, B, C, D);
impl_dummy_tuple!(A, B, C, D, E);
impl_dummy_tuple!(A, B, C, D, E, F);

/// The tape of one loop: what each forward iteration saves for the matching backward
/// iteration, pushed at the end of the iteration and popped in reverse order.
pub struct Tape<T>(Vec<T>);

impl<T> Tape<T> {
    /// An empty tape; it allocates on the first push.
    #[inline(always)]
    pub fn new() -> Self {
        Tape(Vec::new())
    }

    /// Makes room for `additional` more iterations.
    #[inline(always)]
    pub fn reserve(&mut self, additional: usize) {
        self.0.reserve(additional)
    }

    /// Saves one iteration's record.
    #[inline(always)]
    pub fn push(&mut self, record: T) {
        self.0.push(record)
    }

    /// The record of the latest iteration not yet reversed.
    #[inline(always)]
    pub fn pop(&mut self) -> T {
        match self.0.pop() {
            Some(record) => record,
            None => tape_underflow(),
        }
    }
}

impl<T> Default for Tape<T> {
    fn default() -> Self {
        Tape::new()
    }
}

#[cold]
#[inline(never)]
fn tape_underflow() -> ! {
    panic!(
        "autodiff: the backward sweep read more records than the forward sweep wrote; this is a bug in autodiff"
    )
}

/// The tangent of one argument of a call in forward mode: the caller's, or `Zero` where the
/// caller's argument does not vary with its inputs.
pub enum Tangent<T> {
    Zero,
    Of(T),
}

/// The type of the tangent of a parameter the callee does not differentiate. A caller whose
/// argument has a tangent there gets a type error at the call, naming this type, rather than
/// a derivative that silently drops that argument.
pub enum NotDifferentiated {}

impl<T: Real> Tangent<T> {
    /// The tangent of a float parameter.
    #[inline(always)]
    pub fn or_zero_real(self) -> T {
        match self {
            Tangent::Of(t) => t,
            Tangent::Zero => T::ZERO,
        }
    }
}

impl<T: Grad<Grad = T>> Tangent<T> {
    /// The tangent of an array, `Vec` or struct passed by value, zero shaped like `like`.
    #[inline(always)]
    pub fn or_zero(self, like: &T) -> T {
        match self {
            Tangent::Of(t) => t,
            Tangent::Zero => like.zero_grad(),
        }
    }
}

impl<'a, T: Grad + ?Sized> Tangent<&'a T>
where
    T::Grad: core::borrow::Borrow<T>,
{
    /// The tangent of a parameter passed by reference; a zero one lives in `store`.
    #[inline(always)]
    pub fn or_zero_ref<'b>(self, like: &T, store: &'b mut Option<T::Grad>) -> &'b T
    where
        'a: 'b,
    {
        match self {
            Tangent::Of(t) => t,
            Tangent::Zero => core::borrow::Borrow::borrow(&*store.insert(like.zero_grad())),
        }
    }
}

/// The type in the bounds of the hidden items of a mode a function does not have: each bound
/// (`for<'a> &'a Missing: Jvp`) is never satisfied, so the call of such an item (in another
/// function's forward mode or Hessian) fails to compile, with the message of its trait.
pub struct Missing;

#[diagnostic::on_unimplemented(
    message = "this call is differentiated in forward mode (its caller has `jvp` or `hessian`), but the function it calls has no forward mode",
    label = "called in forward mode",
    note = "add `jvp` to the called function's attribute: `#[differentiate(jvp)]` (`hessian` includes it)"
)]
pub trait Jvp {}

#[diagnostic::on_unimplemented(
    message = "this call is in a function with `hessian`, but the function it calls has no `hessian`",
    label = "differentiated twice here",
    note = "add `hessian` to the called function's attribute: `#[differentiate(hessian)]`"
)]
pub trait Hessian {}

#[diagnostic::on_unimplemented(
    message = "this call is differentiated in forward mode (its caller has `jvp` or `hessian`), but the function it calls has a custom derivative and no forward rule",
    label = "called in forward mode",
    note = "give the called function its forward rule next to its pullback: `#[differentiate(pullback = p, jvp = g)]`, with `fn g(params.., tangent: G) -> (R, R)` returning the value and the directional derivative"
)]
pub trait CustomJvp {}

#[diagnostic::on_unimplemented(
    message = "this call is in a function with `hessian`, but the function it calls has a custom derivative, which cannot be differentiated twice",
    label = "differentiated twice here",
    note = "differentiate the called function's body instead (remove its `pullback = ..` and add `hessian`), or keep this call out of the function with `hessian`"
)]
pub trait CustomHessian {}

/// The `k`-th unit vector in the flattened order of `zero` (parameters in order, arrays
/// row-major): the direction of column `k` of a Jacobian or a Hessian.
pub fn unit<G: crate::Differentiable>(zero: &G, k: usize) -> G {
    let mut unit = zero.clone();
    unit.__zero_carried_floats();
    let mut index = 0;
    unit.for_each_mut(&mut |x| {
        if index == k {
            *x = 1.0;
        }
        index += 1;
    });
    unit
}

/// The dense Jacobian from `jvp` along each unit vector of the inputs: one row per output
/// component, one column per input component.
pub fn jacobian<G, R, T>(zero: &G, mut jvp: impl FnMut(G) -> R) -> Vec<Vec<T>>
where
    G: crate::Differentiable,
    R: crate::Differentiable,
    T: Real,
{
    let n = zero.n_params();
    let mut rows: Vec<Vec<T>> = Vec::new();
    for k in 0..n {
        let column = jvp(unit(zero, k));
        if rows.is_empty() {
            rows = vec![vec![T::ZERO; n]; column.n_params()];
        }
        let mut i = 0;
        column.for_each(&mut |x| {
            rows[i][k] = T::real_from_f64(x);
            i += 1;
        });
    }
    rows
}

/// The dense Hessian from `hvp` along each unit vector, made exactly symmetric by averaging
/// it with its transpose (its two halves differ only by rounding).
pub fn hessian<G, T>(zero: &G, mut hvp: impl FnMut(G) -> G) -> Vec<Vec<T>>
where
    G: crate::Differentiable,
    T: Real,
{
    let n = zero.n_params();
    // Column `k` is stored as row `k` of `h`, then read transposed.
    let h: Vec<Vec<f64>> = (0..n).map(|k| hvp(unit(zero, k)).to_flat()).collect();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|k| T::real_from_f64(0.5 * (h[k][i] + h[i][k])))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powi_deriv_matches_formula() {
        assert_eq!(powi_deriv(3.0_f64, 2), 6.0);
        assert_eq!(powi_deriv(2.0_f64, -1), -0.25);
        assert_eq!(powi_deriv(0.0_f64, 0), 0.0);
        assert_eq!(powi_deriv(0.0_f32, 1), 1.0);
    }

    #[test]
    fn sign_is_zero_at_zero() {
        assert_eq!(sign(0.0_f64), 0.0);
        assert_eq!(sign(-0.0_f64), 0.0);
        assert_eq!(sign(-2.0_f32), -1.0);
        assert_eq!(sign(1e-300_f64), 1.0);
    }

    #[test]
    fn slots_accumulate_or_ignore() {
        let mut g = 1.0_f64;
        Slot::new(&mut g).accumulate(2.5);
        assert_eq!(g, 3.5);
        slot::<f64, Slot<f64>>(&mut g).accumulate(1.0);
        assert_eq!(g, 4.5);
        no_slot::<Slot<f64>>().accumulate(10.0);
        assert_eq!(g, 4.5);
    }

    #[test]
    fn cast_like_converts_to_the_type_of_its_second_argument() {
        let x: f32 = cast_like(0.1_f64, 0.0_f32);
        assert_eq!(x, 0.1_f32);
    }
}
