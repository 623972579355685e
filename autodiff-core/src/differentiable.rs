//! Values that can be differentiated as a whole: model parameters held in structs.

/// A value whose floats can be differentiated: `f32`, `f64`, arrays and `Vec`s of them, and
/// structs that `#[derive(Differentiable)]`.
///
/// Its gradient is a value of the same type: the same shape, holding one adjoint per
/// differentiable float, and a copy of every other field. The methods visit the differentiable
/// floats in one fixed order, which is what optimizers and gradient checks need.
///
/// ```
/// use autodiff_core::Differentiable;
///
/// #[derive(Clone, Differentiable)]
/// struct Line {
///     slope: f64,
///     intercept: f64,
///     #[differentiable(skip)]
///     name: &'static str,
/// }
///
/// let line = Line { slope: 2.0, intercept: -1.0, name: "fit" };
/// assert_eq!(line.n_params(), 2);
/// let zero = line.zero_like();
/// assert_eq!((zero.slope, zero.intercept, zero.name), (0.0, 0.0, "fit"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Differentiable`",
    label = "not `Differentiable`",
    note = "derive it with `#[derive(Clone, Differentiable)]` (a struct), or leave the parameter out of `#[differentiate(wrt(...))]`; a field of this type (an enum, a struct of data) in a `Differentiable` struct takes `#[differentiable(skip)]`"
)]
pub trait Differentiable: Clone {
    /// A value of the same shape whose differentiable floats are zero; other fields are copied.
    fn zero_like(&self) -> Self;

    /// Sets every differentiable float to zero.
    fn set_zero(&mut self) {
        self.for_each_mut(&mut |x| *x = 0.0);
    }

    /// Calls `f` with each differentiable float, as `f64`.
    fn for_each(&self, f: &mut impl FnMut(f64));

    /// Calls `f` with each differentiable float, which it may change (`f32` fields round).
    fn for_each_mut(&mut self, f: &mut impl FnMut(&mut f64));

    /// Calls `f(x, g)` with each differentiable float `x` of `self` and the matching float `g`
    /// of `other` (a gradient of the same shape).
    fn zip_mut(&mut self, other: &Self, f: &mut impl FnMut(&mut f64, f64));

    /// The number of differentiable floats.
    fn n_params(&self) -> usize {
        let mut n = 0;
        self.for_each(&mut |_| n += 1);
        n
    }

    /// `self += other`, elementwise: sums gradients, for instance over a mini-batch.
    fn add_assign(&mut self, other: &Self) {
        self.zip_mut(other, &mut |x, g| *x += g);
    }

    /// `self *= k`, elementwise.
    fn scale(&mut self, k: f64) {
        self.for_each_mut(&mut |x| *x *= k);
    }

    /// Makes `grad` equal to `self.zero_like()`, reusing its allocations: `_grad_into` calls it
    /// on the caller's buffer.
    #[doc(hidden)]
    fn __reset_like(&self, grad: &mut Self) {
        *grad = self.zero_like();
    }

    /// Copies the fields that are not differentiated from `self` into `grad`: the macro cannot
    /// tell them from the others, and may have added into them.
    #[doc(hidden)]
    fn __restore_carried(&self, grad: &mut Self) {
        let _ = grad;
    }

    /// Sets the float fields that are not differentiated (`#[differentiable(skip)] t: f64`) to
    /// zero: in a tangent, or an adjoint flowing on to the values a struct was built from, a
    /// copy of the value would be taken for a derivative.
    #[doc(hidden)]
    fn __zero_carried_floats(&mut self) {}

    /// The differentiable floats, in order, as a vector.
    fn to_flat(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.n_params());
        self.for_each(&mut |x| out.push(x));
        out
    }
}

macro_rules! impl_float {
    ($t:ty) => {
        impl Differentiable for $t {
            #[inline(always)]
            fn zero_like(&self) -> Self {
                0.0
            }
            #[inline(always)]
            fn __reset_like(&self, grad: &mut Self) {
                *grad = 0.0;
            }
            #[inline(always)]
            fn for_each(&self, f: &mut impl FnMut(f64)) {
                f(*self as f64)
            }
            #[inline(always)]
            fn for_each_mut(&mut self, f: &mut impl FnMut(&mut f64)) {
                let mut x = *self as f64;
                f(&mut x);
                *self = x as $t;
            }
            #[inline(always)]
            fn zip_mut(&mut self, other: &Self, f: &mut impl FnMut(&mut f64, f64)) {
                let mut x = *self as f64;
                f(&mut x, *other as f64);
                *self = x as $t;
            }
        }
    };
}
impl_float!(f32);
impl_float!(f64);

impl<T: Differentiable, const N: usize> Differentiable for [T; N] {
    fn zero_like(&self) -> Self {
        core::array::from_fn(|i| self[i].zero_like())
    }
    fn for_each(&self, f: &mut impl FnMut(f64)) {
        self.iter().for_each(|x| x.for_each(f));
    }
    fn for_each_mut(&mut self, f: &mut impl FnMut(&mut f64)) {
        self.iter_mut().for_each(|x| x.for_each_mut(f));
    }
    fn zip_mut(&mut self, other: &Self, f: &mut impl FnMut(&mut f64, f64)) {
        self.iter_mut()
            .zip(other)
            .for_each(|(x, g)| x.zip_mut(g, f));
    }
    fn __restore_carried(&self, grad: &mut Self) {
        self.iter()
            .zip(grad)
            .for_each(|(x, g)| x.__restore_carried(g));
    }
    fn __zero_carried_floats(&mut self) {
        self.iter_mut().for_each(T::__zero_carried_floats);
    }
    fn __reset_like(&self, grad: &mut Self) {
        self.iter().zip(grad).for_each(|(x, g)| x.__reset_like(g));
    }
}

impl<T: Differentiable> Differentiable for Vec<T> {
    fn zero_like(&self) -> Self {
        self.iter().map(T::zero_like).collect()
    }
    fn for_each(&self, f: &mut impl FnMut(f64)) {
        self.iter().for_each(|x| x.for_each(f));
    }
    fn for_each_mut(&mut self, f: &mut impl FnMut(&mut f64)) {
        self.iter_mut().for_each(|x| x.for_each_mut(f));
    }
    /// # Panics
    /// If the lengths differ.
    fn zip_mut(&mut self, other: &Self, f: &mut impl FnMut(&mut f64, f64)) {
        assert_eq!(self.len(), other.len(), "gradient of another length");
        self.iter_mut()
            .zip(other)
            .for_each(|(x, g)| x.zip_mut(g, f));
    }
    fn __restore_carried(&self, grad: &mut Self) {
        self.iter()
            .zip(grad)
            .for_each(|(x, g)| x.__restore_carried(g));
    }
    fn __zero_carried_floats(&mut self) {
        self.iter_mut().for_each(T::__zero_carried_floats);
    }
    fn __reset_like(&self, grad: &mut Self) {
        grad.truncate(self.len());
        self.iter()
            .zip(grad.iter_mut())
            .for_each(|(x, g)| x.__reset_like(g));
        let kept = grad.len();
        grad.extend(self[kept..].iter().map(T::zero_like));
    }
}

/// A tuple of differentiable values, such as the gradient `_grad` returns for several
/// parameters: optimizers step a tuple of parameters with it.
macro_rules! impl_tuple {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Differentiable),+> Differentiable for ($($t,)+) {
            fn zero_like(&self) -> Self {
                ($(self.$i.zero_like(),)+)
            }
            fn for_each(&self, f: &mut impl FnMut(f64)) {
                $(self.$i.for_each(f);)+
            }
            fn for_each_mut(&mut self, f: &mut impl FnMut(&mut f64)) {
                $(self.$i.for_each_mut(f);)+
            }
            fn zip_mut(&mut self, other: &Self, f: &mut impl FnMut(&mut f64, f64)) {
                $(self.$i.zip_mut(&other.$i, f);)+
            }
            fn __restore_carried(&self, grad: &mut Self) {
                $(self.$i.__restore_carried(&mut grad.$i);)+
            }
            fn __reset_like(&self, grad: &mut Self) {
                $(self.$i.__reset_like(&mut grad.$i);)+
            }
            fn __zero_carried_floats(&mut self) {
                $(self.$i.__zero_carried_floats();)+
            }
        }
    };
}
impl_tuple!(A 0, B 1);
impl_tuple!(A 0, B 1, C 2);
impl_tuple!(A 0, B 1, C 2, D 3);
impl_tuple!(A 0, B 1, C 2, D 3, E 4);
impl_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
impl_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
impl_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_and_vectors_visit_in_order() {
        let mut v = vec![[1.0_f64, 2.0], [3.0, 4.0]];
        assert_eq!(v.to_flat(), [1.0, 2.0, 3.0, 4.0]);
        let g = vec![[0.5, 0.5], [1.0, 2.0]];
        v.zip_mut(&g, &mut |x, g| *x -= g);
        assert_eq!(v, vec![[0.5, 1.5], [2.0, 2.0]]);
        assert_eq!(v.zero_like(), vec![[0.0; 2]; 2]);
        v.scale(2.0);
        assert_eq!(v.to_flat(), [1.0, 3.0, 4.0, 4.0]);
    }

    #[test]
    fn reset_like_reshapes_and_zeroes_in_place() {
        let x = vec![vec![1.0_f64, 2.0], vec![3.0]];
        for mut grad in [
            vec![vec![5.0, 6.0, 7.0]],
            vec![vec![1.0], vec![2.0], vec![3.0]],
        ] {
            x.__reset_like(&mut grad);
            assert_eq!(grad, x.zero_like());
        }
        let mut grad = vec![vec![9.0, 9.0], vec![9.0]];
        let first = grad[0].as_ptr();
        x.__reset_like(&mut grad);
        assert_eq!((grad[0].as_ptr(), grad.clone()), (first, x.zero_like()));
    }

    #[test]
    fn tuples_visit_their_elements_in_order() {
        let mut params = (vec![1.0_f64, 2.0], 3.0_f64, [4.0_f32]);
        assert_eq!(params.to_flat(), [1.0, 2.0, 3.0, 4.0]);
        params.add_assign(&(vec![0.5, 0.5], 1.0, [1.0]));
        assert_eq!(params, (vec![1.5, 2.5], 4.0, [5.0]));
        assert_eq!(params.zero_like(), (vec![0.0; 2], 0.0, [0.0]));
    }

    #[test]
    fn f32_fields_round_through_f64() {
        let mut x = 1.5_f32;
        x.for_each_mut(&mut |v| *v += 0.25);
        assert_eq!(x, 1.75);
    }
}
