//! The extended Rosenbrock function: its Hessian-vector product (this file) and its dense
//! Hessian (`dense.rs`, which uses the functions here).

use autodiff_core::differentiate;
use num_dual::{Dual64, HyperDual64};

use super::{Case, Dn, Kind, Measure, assert_agree, assert_value, central_hvp, hide, uniform};

/// `sum_i (1 - x_i)^2 + 100 (x_{i+1} - x_i^2)^2`, the body of `benches/problems/reductions.rs`.
#[differentiate(hessian)]
pub fn rosenbrock(x: &[f64]) -> f64 {
    let mut sum = 0.0;
    for i in 0..x.len() - 1 {
        let a = 1.0 - x[i];
        let b = x[i + 1] - x[i] * x[i];
        sum += a * a + 100.0 * b * b;
    }
    sum
}

/// [`rosenbrock`] for num-dual's numbers.
pub fn rosenbrock_generic<D: Dn>(x: &[D]) -> D {
    let mut sum = D::from(0.0);
    for i in 0..x.len() - 1 {
        let a = -x[i] + 1.0;
        let b = x[i + 1] - x[i] * x[i];
        sum += a * a + b * b * 100.0;
    }
    sum
}

/// The gradient by hand, into `grad` (`x.len()` long), generic so that it also runs on
/// `Dual64` (forward over this reverse): one fused loop, each term's two partial derivatives
/// added where they belong.
#[inline]
pub fn rosenbrock_grad_hand<D: Dn>(x: &[D], grad: &mut [D]) -> D {
    let n = x.len();
    grad[0] = D::from(0.0);
    let mut sum = D::from(0.0);
    for i in 0..n - 1 {
        let a = -x[i] + 1.0;
        let b = x[i + 1] - x[i] * x[i];
        sum += a * a + b * b * 100.0;
        let t = b * 200.0;
        grad[i] -= (a + x[i] * t) * 2.0;
        grad[i + 1] = t;
    }
    sum
}

/// Value, gradient and `H v` by hand in one pass, into `grad` and `hv` (resized to fit). With
/// `t = 200 b` the gradient's terms are `-2a - 2 x_i t` and `t`; their directional derivatives
/// along `v` (`R t = 200 (v_{i+1} - 2 x_i v_i)`) are the Hessian's tridiagonal band times `v`.
#[inline]
pub fn rosenbrock_hvp_hand_into(
    x: &[f64],
    v: &[f64],
    grad: &mut Vec<f64>,
    hv: &mut Vec<f64>,
) -> f64 {
    let n = x.len();
    grad.resize(n, 0.0);
    hv.resize(n, 0.0);
    let (x, v, grad, hv) = (&x[..n], &v[..n], &mut grad[..n], &mut hv[..n]);
    grad[0] = 0.0;
    hv[0] = 0.0;
    let mut sum = 0.0;
    for i in 0..n - 1 {
        let (xi, vi) = (x[i], v[i]);
        let a = 1.0 - xi;
        let b = x[i + 1] - xi * xi;
        sum += a * a + 100.0 * b * b;
        let t = 200.0 * b;
        let rt = 200.0 * (v[i + 1] - 2.0 * xi * vi);
        grad[i] -= 2.0 * (a + xi * t);
        grad[i + 1] = t;
        hv[i] += 2.0 * (vi - vi * t - xi * rt);
        hv[i + 1] = rt;
    }
    sum
}

/// [`rosenbrock_hvp_hand_into`] with the signature of the generated `rosenbrock_hvp`.
#[inline]
pub fn rosenbrock_hvp_hand(x: &[f64], v: Vec<f64>) -> (f64, Vec<f64>, Vec<f64>) {
    let mut grad = Vec::with_capacity(x.len());
    let mut hv = Vec::with_capacity(x.len());
    let value = rosenbrock_hvp_hand_into(x, &v, &mut grad, &mut hv);
    (value, grad, hv)
}

// num-dual's two ways ---------------------------------------------------------------------------

/// `H v` through a gradient written generic: one pass on `Dual64` with `x + ε v`. `duals` and
/// `dual_grad` are buffers reused across calls.
#[inline]
pub fn hvp_dual_over_grad(
    grad_fn: impl Fn(&[Dual64], &mut [Dual64]) -> Dual64,
    x: &[f64],
    v: &[f64],
    duals: &mut Vec<Dual64>,
    dual_grad: &mut Vec<Dual64>,
    grad: &mut [f64],
    hv: &mut [f64],
) -> f64 {
    duals.clear();
    duals.extend(x.iter().zip(v).map(|(&x, &v)| Dual64::new(x, v)));
    dual_grad.clear();
    dual_grad.resize(x.len(), Dual64::from_re(0.0));
    let y = grad_fn(duals, dual_grad);
    for ((g, h), d) in grad.iter_mut().zip(hv.iter_mut()).zip(dual_grad.iter()) {
        *g = d.re;
        *h = d.eps;
    }
    y.re
}

/// `H v` from the function alone: `n` passes on `HyperDual64`, pass `i` with `ε1` along `v` and
/// `ε2` along `e_i` (then `ε2` is `g_i` and `ε1ε2` is `(H v)_i`). `duals` is reused.
#[inline]
pub fn hvp_hyperdual(
    f: impl Fn(&[HyperDual64]) -> HyperDual64,
    x: &[f64],
    v: &[f64],
    duals: &mut Vec<HyperDual64>,
    grad: &mut [f64],
    hv: &mut [f64],
) -> f64 {
    duals.clear();
    duals.extend(
        x.iter()
            .zip(v)
            .map(|(&x, &v)| HyperDual64::new(x, v, 0.0, 0.0)),
    );
    let mut value = 0.0;
    for i in 0..x.len() {
        duals[i].eps2 = 1.0;
        let y = f(duals);
        duals[i].eps2 = 0.0;
        grad[i] = y.eps2;
        hv[i] = y.eps1eps2;
        value = y.re;
    }
    value
}

// The case ------------------------------------------------------------------------------------

/// The HVP of [`rosenbrock`] at `n` reproducible points of `[-1.5, 1.5)`, along a reproducible
/// direction in `[-1, 1)`.
pub struct HvpRosenbrock {
    x: Vec<f64>,
    v: Vec<f64>,
    generated_grad: Vec<f64>,
    hand_grad: Vec<f64>,
    grad: Vec<f64>,
    hv: Vec<f64>,
    duals: Vec<Dual64>,
    dual_grad: Vec<Dual64>,
    hyperduals: Vec<HyperDual64>,
}

impl HvpRosenbrock {
    pub fn new(n: usize) -> Self {
        Self {
            x: uniform(n as u64, n, -1.5, 1.5),
            v: uniform(n as u64 + 7, n, -1.0, 1.0),
            generated_grad: Vec::new(),
            hand_grad: vec![0.0; n],
            grad: vec![0.0; n],
            hv: vec![0.0; n],
            duals: Vec::new(),
            dual_grad: Vec::new(),
            hyperduals: Vec::new(),
        }
    }

    #[inline]
    fn generated_grad_into(&mut self) -> f64 {
        rosenbrock_grad_into(&self.x, &mut self.generated_grad)
    }
    #[inline]
    fn hand_grad_into(&mut self) -> f64 {
        rosenbrock_grad_hand(&self.x, &mut self.hand_grad)
    }
    #[inline]
    fn generated_hvp(&mut self) -> (f64, Vec<f64>, Vec<f64>) {
        rosenbrock_hvp(&self.x, self.v.clone())
    }
    #[inline]
    fn hand_hvp(&mut self) -> (f64, Vec<f64>, Vec<f64>) {
        rosenbrock_hvp_hand(&self.x, self.v.clone())
    }
    #[inline]
    fn hand_hvp_into(&mut self) -> f64 {
        rosenbrock_hvp_hand_into(&self.x, &self.v, &mut self.grad, &mut self.hv)
    }
    #[inline]
    fn num_dual_over_hand_grad(&mut self) -> f64 {
        hvp_dual_over_grad(
            rosenbrock_grad_hand,
            &self.x,
            &self.v,
            &mut self.duals,
            &mut self.dual_grad,
            &mut self.grad,
            &mut self.hv,
        )
    }
    #[inline]
    fn num_dual_hyperdual(&mut self) -> f64 {
        hvp_hyperdual(
            rosenbrock_generic,
            &self.x,
            &self.v,
            &mut self.hyperduals,
            &mut self.grad,
            &mut self.hv,
        )
    }
}

impl Case for HvpRosenbrock {
    fn name(&self) -> String {
        format!("hvp_rosenbrock_{}", self.x.len())
    }
    fn kind(&self) -> Kind {
        Kind::Hvp
    }
    fn dim(&self) -> usize {
        self.x.len()
    }

    /// The hand-written pass is the reference; it is itself checked against central
    /// differences of the hand-written gradient, and every other method against it.
    fn verify(&mut self) -> String {
        let name = self.name();
        let value = rosenbrock(&self.x);
        let (v_ref, g_ref, hv_ref) = self.hand_hvp();
        assert_value(&name, "hand_hvp", v_ref, value);
        let fd = central_hvp(
            |x| {
                let mut g = vec![0.0; x.len()];
                rosenbrock_grad_hand(x, &mut g);
                g
            },
            &self.x,
            &self.v,
        );
        let mut summary = format!(
            "{name}: hand H v vs central differences {:.0e}",
            assert_agree(&name, "hand H v vs central differences", &hv_ref, &fd, 1e-7)
        );
        let value_grad = self.generated_grad_into();
        assert_eq!(value_grad, value, "{name}: generated value");
        let e = assert_agree(
            &name,
            "generated gradient",
            &self.generated_grad,
            &g_ref,
            1e-14,
        );
        summary += &format!("; generated_grad_into {e:.0e}");
        assert_value(&name, "hand_grad_into", self.hand_grad_into(), value);
        assert_agree(&name, "hand gradient", &self.hand_grad, &g_ref, 1e-14);

        let (v, g, hv) = self.generated_hvp();
        assert_eq!(v, value, "{name}: generated_hvp value");
        assert_agree(&name, "generated_hvp gradient", &g, &g_ref, 1e-14);
        let e = assert_agree(&name, "generated_hvp H v", &hv, &hv_ref, 1e-14);
        summary += &format!("; generated_hvp {e:.0e}");

        type Method = fn(&mut HvpRosenbrock) -> f64;
        let buffered: [(&str, Method); 3] = [
            ("hand_hvp_into", Self::hand_hvp_into),
            ("num_dual_over_hand_grad", Self::num_dual_over_hand_grad),
            ("num_dual_hyperdual", Self::num_dual_hyperdual),
        ];
        for (method, run) in buffered {
            self.grad.fill(f64::NAN);
            self.hv.fill(f64::NAN);
            assert_value(&name, method, run(self), value);
            assert_agree(&name, method, &self.grad, &g_ref, 1e-14);
            let e = assert_agree(&name, method, &self.hv, &hv_ref, 1e-14);
            summary += &format!("; {method} {e:.0e}");
        }
        summary
    }

    fn measure(&mut self, m: &mut impl Measure) {
        m.time("generated_grad_into", || hide(self).generated_grad_into());
        m.time("hand_grad_into", || hide(self).hand_grad_into());
        m.time("generated_hvp", || hide(self).generated_hvp());
        m.time("hand_hvp", || hide(self).hand_hvp());
        m.time("hand_hvp_into", || hide(self).hand_hvp_into());
        m.time("num_dual_over_hand_grad", || {
            hide(self).num_dual_over_hand_grad()
        });
        m.time("num_dual_hyperdual", || hide(self).num_dual_hyperdual());
    }
}
