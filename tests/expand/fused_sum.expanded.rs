#[allow(dead_code)]
fn rosenbrock(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        s += 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2);
    }
    s
}
#[doc(hidden)]
#[inline]
#[allow(unreachable_code, unused_mut, non_snake_case, clippy::all, clippy::pedantic)]
fn __rosenbrock_vjp(
    x: &[f64],
) -> (
    f64,
    impl ::core::ops::FnOnce(
        &[f64],
        f64,
        ::autodiff_core::__private::Slot<'_, [f64]>,
    ) + use<>,
) {
    let s = 0.0;
    let t0 = x.len();
    let t1 = t0 - 1;
    let mut s_1 = s;
    if !(0..t1).is_empty() {
        let x_start = 1;
        let x_win = &x[x_start..1 + t1];
        let x_win_1 = &x[..t1];
        for i in 0..t1 {
            let t2 = i + 1;
            let t3 = x_win[t2 - x_start];
            let t4 = x_win_1[i];
            let t5 = x_win_1[i];
            let t6 = t4 * t5;
            let t7 = t3 - t6;
            let t8 = t7.powi(2);
            let t9 = 100.0 * t8;
            let t10 = x_win_1[i];
            let t11 = 1.0 - t10;
            let t12 = t11.powi(2);
            let t13 = t9 + t12;
            let s_2 = s_1 + t13;
            s_1 = s_2;
        }
    }
    (
        s_1,
        move |
            x: &[f64],
            mut d_s_1: f64,
            grad_x: ::autodiff_core::__private::Slot<'_, [f64]>|
        {
            let mut scratch_x = ::core::option::Option::None;
            let d_x = ::autodiff_core::__private::Slot::or_zero(
                grad_x,
                &mut scratch_x,
                x,
            );
            let d_x = &mut d_x[..x.len()];
            let t0 = x.len();
            let t1 = t0 - 1;
            if !(0..t1).is_empty() {
                let x_start_1 = 1;
                let x_win_2 = &x[x_start_1..1 + t1];
                let x_win_3 = &x[..t1];
                for i in (0..t1).rev() {
                    let t2 = i + 1;
                    let t3 = x_win_2[t2 - x_start_1];
                    let t4 = x_win_3[i];
                    let t5 = x_win_3[i];
                    let t6 = t4 * t5;
                    let t7 = t3 - t6;
                    let t10 = x_win_3[i];
                    let t11 = 1.0 - t10;
                    let d_s_2 = d_s_1;
                    d_s_1 = d_s_2;
                    let d_t13 = d_s_2;
                    let d_t9 = d_t13;
                    let d_t12 = d_t13;
                    let d_t11 = ::autodiff_core::__private::unless_zero(
                        d_t12,
                        d_t12 * ::autodiff_core::__private::powi_deriv(t11, 2),
                    );
                    let d_t10 = -d_t11;
                    d_x[i] += d_t10;
                    let d_t8 = 100.0 * d_t9;
                    let d_t7 = ::autodiff_core::__private::unless_zero(
                        d_t8,
                        d_t8 * ::autodiff_core::__private::powi_deriv(t7, 2),
                    );
                    let d_t3 = d_t7;
                    let d_t6 = -d_t7;
                    let d_t4 = t5 * d_t6;
                    let d_t5 = t4 * d_t6;
                    d_x[i] += d_t5;
                    d_x[i] += d_t4;
                    d_x[t2] += d_t3;
                }
            }
        },
    )
}
#[doc(hidden)]
#[inline]
#[allow(unreachable_code, unused_mut, non_snake_case, clippy::all, clippy::pedantic)]
fn __rosenbrock_fused(
    x: &[f64],
    mut d_s: f64,
    grad_x: ::autodiff_core::__private::Slot<'_, [f64]>,
) -> f64 {
    let mut scratch_x = ::core::option::Option::None;
    let d_x = ::autodiff_core::__private::Slot::or_zero(grad_x, &mut scratch_x, x);
    let d_x = &mut d_x[..x.len()];
    let s_1 = 0.0;
    let t0 = x.len();
    let t1 = t0 - 1;
    let mut s = s_1;
    if !(0..t1).is_empty() {
        let x_start = 1;
        let x_win = &x[x_start..1 + t1];
        let x_win_1 = &x[..t1];
        for i in 0..t1 {
            let t2 = i + 1;
            let t3 = x_win[t2 - x_start];
            let t4 = x_win_1[i];
            let t5 = x_win_1[i];
            let t6 = t4 * t5;
            let t7 = t3 - t6;
            let t8 = t7.powi(2);
            let t9 = 100.0 * t8;
            let t10 = x_win_1[i];
            let t11 = 1.0 - t10;
            let t12 = t11.powi(2);
            let t13 = t9 + t12;
            let s_2 = s + t13;
            let d_s_2 = d_s;
            d_s = d_s_2;
            let d_t13 = d_s_2;
            let d_t9 = d_t13;
            let d_t12 = d_t13;
            let d_t11 = ::autodiff_core::__private::unless_zero(
                d_t12,
                d_t12 * ::autodiff_core::__private::powi_deriv(t11, 2),
            );
            let d_t10 = -d_t11;
            d_x[i] += d_t10;
            let d_t8 = 100.0 * d_t9;
            let d_t7 = ::autodiff_core::__private::unless_zero(
                d_t8,
                d_t8 * ::autodiff_core::__private::powi_deriv(t7, 2),
            );
            let d_t3 = d_t7;
            let d_t6 = -d_t7;
            let d_t4 = t5 * d_t6;
            let d_t5 = t4 * d_t6;
            d_x[i] += d_t5;
            d_x[i] += d_t4;
            d_x[t2] += d_t3;
            s = s_2;
        }
    }
    s
}
/**The value of [`rosenbrock`] and its gradient with respect to `x`.

Generated by `#[differentiate]`.*/
#[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
fn rosenbrock_grad(x: &[f64]) -> (f64, ::std::vec::Vec<f64>) {
    let mut grad = ::autodiff_core::__private::zero_grad(&x);
    let value = __rosenbrock_fused(
        x,
        1.0,
        ::autodiff_core::__private::zeroed_slot(&mut grad),
    );
    (value, grad)
}
/**The gradient of [`rosenbrock`] with respect to `x`, scaled by `d_out`: the vector-Jacobian product that carries the chain rule through a call.

Generated by `#[differentiate]`.*/
#[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
fn rosenbrock_pullback(x: &[f64], d_out: f64) -> ::std::vec::Vec<f64> {
    let mut grad = ::autodiff_core::__private::zero_grad(&x);
    if ::autodiff_core::__private::nonzero(&d_out) {
        let _ = __rosenbrock_fused(
            x,
            d_out,
            ::autodiff_core::__private::zeroed_slot(&mut grad),
        );
    }
    grad
}
/**The value of [`rosenbrock`] and its backward sweep, to run later: calling it with `d_out` returns the gradient with respect to `x`, scaled by `d_out` (JAX's `vjp`).

Generated by `#[differentiate]`.*/
#[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
fn rosenbrock_vjp<'__autodiff>(
    x: &'__autodiff [f64],
) -> (f64, impl ::core::ops::FnOnce(f64) -> ::std::vec::Vec<f64> + use<'__autodiff>) {
    let mut grad = ::autodiff_core::__private::zero_grad(&x);
    let (value, pullback) = __rosenbrock_vjp(x);
    (
        value,
        move |d_out: f64| {
            if ::autodiff_core::__private::nonzero(&d_out) {
                pullback(x, d_out, ::autodiff_core::__private::zeroed_slot(&mut grad));
            }
            grad
        },
    )
}
/**The value of [`rosenbrock`]; its gradient with respect to `x` is written into `grad`, overwriting it (vectors are resized to fit, so a reused `grad` allocates nothing).

Generated by `#[differentiate]`.*/
#[allow(dead_code, non_snake_case, clippy::too_many_arguments, clippy::type_complexity)]
fn rosenbrock_grad_into(x: &[f64], grad: &mut ::std::vec::Vec<f64>) -> f64 {
    ::autodiff_core::__private::reset_grad(&x, grad);
    let value = __rosenbrock_fused(
        x,
        1.0,
        ::autodiff_core::__private::zeroed_slot(&mut *grad),
    );
    value
}
#[doc(hidden)]
#[allow(dead_code, non_snake_case, clippy::all)]
fn __rosenbrock_jvp<__A0, __A1>(_: __A0, _: __A1) -> (f64, f64)
where
    for<'__autodiff> &'__autodiff ::autodiff_core::__private::Missing: ::autodiff_core::__private::Jvp,
{
    ::core::unreachable!()
}
#[doc(hidden)]
#[allow(dead_code, non_snake_case, clippy::all)]
fn ____rosenbrock_jvp_vjp<__A0, __A1, __AutodiffPullback>(
    _: __A0,
    _: __A1,
) -> ((f64, f64), __AutodiffPullback)
where
    for<'__autodiff> &'__autodiff ::autodiff_core::__private::Missing: ::autodiff_core::__private::Hessian,
{
    ::core::unreachable!()
}
