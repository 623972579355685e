//! Dense Hessians of two functions of `N` inputs: the extended Rosenbrock function (tridiagonal
//! Hessian) and the log-sum-exp of a linear map (a full Hessian).

use autodiff_core::differentiate;
use nalgebra::SVector;
use num_dual::Dual2SVec64;

use super::rosenbrock::{
    rosenbrock, rosenbrock_generic, rosenbrock_grad, rosenbrock_grad_hand, rosenbrock_hessian,
    rosenbrock_hvp,
};
use super::{
    Case, Dn, Kind, Measure, assert_agree, assert_value, central_hvp, hide, max_re, uniform,
};

/// The results of `_hessian`: value, gradient, Hessian rows.
pub type HessianResult = (f64, Vec<f64>, Vec<Vec<f64>>);

/// One function of the dense-Hessian cases: its point, the generated entry points, a
/// hand-written closed form, and a copy generic over num-dual's numbers.
pub trait DenseProblem {
    const NAME: &'static str;
    fn at(n: usize) -> Self;
    fn x(&self) -> &[f64];
    fn value(&self) -> f64;
    /// The generated `_grad` (for the checks).
    fn generated_grad(&self) -> Vec<f64>;
    fn generated_hvp(&self, v: Vec<f64>) -> (f64, Vec<f64>, Vec<f64>);
    fn generated_hessian(&self) -> HessianResult;
    fn hand_hessian(&self, x: &[f64]) -> HessianResult;
    fn generic<D: Dn>(&self, x: &[D]) -> D;
}

// Rosenbrock ----------------------------------------------------------------------------------

pub struct Rosenbrock {
    x: Vec<f64>,
}

/// The closed form: the gradient by hand, and each term's 2 × 2 block
/// `[[1200 x_i² - 400 x_{i+1} + 2, -400 x_i], [-400 x_i, 200]]` added on the diagonal.
pub fn rosenbrock_hessian_hand(x: &[f64]) -> HessianResult {
    let n = x.len();
    let mut grad = vec![0.0; n];
    let value = rosenbrock_grad_hand(x, &mut grad);
    let mut h = vec![vec![0.0; n]; n];
    for i in 0..n - 1 {
        let xi = x[i];
        h[i][i] += 1200.0 * xi * xi - 400.0 * x[i + 1] + 2.0;
        h[i + 1][i + 1] = 200.0;
        h[i][i + 1] = -400.0 * xi;
        h[i + 1][i] = -400.0 * xi;
    }
    (value, grad, h)
}

impl DenseProblem for Rosenbrock {
    const NAME: &'static str = "rosenbrock";
    fn at(n: usize) -> Self {
        Self {
            x: uniform(n as u64 + 3, n, -1.5, 1.5),
        }
    }
    fn x(&self) -> &[f64] {
        &self.x
    }
    fn value(&self) -> f64 {
        rosenbrock(&self.x)
    }
    fn generated_grad(&self) -> Vec<f64> {
        rosenbrock_grad(&self.x).1
    }
    #[inline]
    fn generated_hvp(&self, v: Vec<f64>) -> (f64, Vec<f64>, Vec<f64>) {
        rosenbrock_hvp(&self.x, v)
    }
    #[inline]
    fn generated_hessian(&self) -> HessianResult {
        rosenbrock_hessian(&self.x)
    }
    #[inline]
    fn hand_hessian(&self, x: &[f64]) -> HessianResult {
        rosenbrock_hessian_hand(x)
    }
    #[inline]
    fn generic<D: Dn>(&self, x: &[D]) -> D {
        rosenbrock_generic(x)
    }
}

// log-sum-exp of a linear map -----------------------------------------------------------------

/// `ln sum_r exp((A x + b)_r)` for `A` of `b.len()` rows of `x.len()` (row-major), computed
/// stably (the largest logit subtracted, as a running maximum).
#[differentiate(hessian, wrt(x))]
pub fn lse_linear(x: &[f64], a: &[f64], b: &[f64]) -> f64 {
    let n = x.len();
    let mut z = vec![0.0; b.len()];
    for r in 0..b.len() {
        let mut s = b[r];
        for k in 0..n {
            s += a[r * n + k] * x[k];
        }
        z[r] = s;
    }
    let mut m = z[0];
    for &zr in z.iter() {
        m = m.max(zr);
    }
    let mut se = 0.0;
    for &zr in z.iter() {
        se += (zr - m).exp();
    }
    m + se.ln()
}

/// [`lse_linear`] for num-dual's numbers.
pub fn lse_linear_generic<D: Dn>(x: &[D], a: &[f64], b: &[f64]) -> D {
    let n = x.len();
    let mut z = Vec::with_capacity(b.len());
    for r in 0..b.len() {
        let mut s = D::from(b[r]);
        for k in 0..n {
            s += x[k] * a[r * n + k];
        }
        z.push(s);
    }
    let mut m = z[0];
    for &zr in &z {
        m = max_re(m, zr);
    }
    let mut se = D::from(0.0);
    for &zr in &z {
        se += (zr - m).exp();
    }
    m + se.ln()
}

/// The closed form: with `p = softmax(A x + b)`, the gradient is `Aᵀ p` and the Hessian
/// `Aᵀ (diag p - p pᵀ) A = sum_r p_r a_r a_rᵀ - g gᵀ` (its upper triangle, mirrored).
pub fn lse_linear_hessian_hand(x: &[f64], a: &[f64], b: &[f64]) -> HessianResult {
    let n = x.len();
    let m = b.len();
    let mut p = Vec::with_capacity(m);
    for r in 0..m {
        let row = &a[r * n..(r + 1) * n];
        let mut s = b[r];
        for k in 0..n {
            s += row[k] * x[k];
        }
        p.push(s);
    }
    let mx = p.iter().fold(f64::NEG_INFINITY, |m, &z| m.max(z));
    let mut se = 0.0;
    for pr in p.iter_mut() {
        *pr = (*pr - mx).exp();
        se += *pr;
    }
    let value = mx + se.ln();
    let inv = 1.0 / se;
    let mut grad = vec![0.0; n];
    let mut h = vec![vec![0.0; n]; n];
    for r in 0..m {
        let pr = p[r] * inv;
        let row = &a[r * n..(r + 1) * n];
        for i in 0..n {
            let pa = pr * row[i];
            grad[i] += pa;
            let hi = &mut h[i][i..];
            for (hik, ak) in hi.iter_mut().zip(&row[i..]) {
                *hik += pa * ak;
            }
        }
    }
    for i in 0..n {
        for k in i..n {
            let hik = h[i][k] - grad[i] * grad[k];
            h[i][k] = hik;
            h[k][i] = hik;
        }
    }
    (value, grad, h)
}

pub struct Lse {
    x: Vec<f64>,
    a: Vec<f64>,
    b: Vec<f64>,
}

impl DenseProblem for Lse {
    const NAME: &'static str = "lse_linear";
    /// A square map, entries in `[-1, 1)`, at a point in `[-1, 1)`.
    fn at(n: usize) -> Self {
        Self {
            x: uniform(n as u64 + 20, n, -1.0, 1.0),
            a: uniform(n as u64 + 21, n * n, -1.0, 1.0),
            b: uniform(n as u64 + 22, n, -0.5, 0.5),
        }
    }
    fn x(&self) -> &[f64] {
        &self.x
    }
    fn value(&self) -> f64 {
        lse_linear(&self.x, &self.a, &self.b)
    }
    fn generated_grad(&self) -> Vec<f64> {
        lse_linear_grad(&self.x, &self.a, &self.b).1
    }
    #[inline]
    fn generated_hvp(&self, v: Vec<f64>) -> (f64, Vec<f64>, Vec<f64>) {
        lse_linear_hvp(&self.x, &self.a, &self.b, v)
    }
    #[inline]
    fn generated_hessian(&self) -> HessianResult {
        lse_linear_hessian(&self.x, &self.a, &self.b)
    }
    #[inline]
    fn hand_hessian(&self, x: &[f64]) -> HessianResult {
        lse_linear_hessian_hand(x, &self.a, &self.b)
    }
    #[inline]
    fn generic<D: Dn>(&self, x: &[D]) -> D {
        lse_linear_generic(x, &self.a, &self.b)
    }
}

// The case ------------------------------------------------------------------------------------

/// The dense Hessian of `P` at `N` inputs (`N` in the type for num-dual's statically sized
/// `Dual2SVec64<N>`).
pub struct DenseHessian<P, const N: usize> {
    p: P,
    xs: SVector<f64, N>,
    /// The direction of the one-column `generated_hvp` line: `e_0`.
    e0: Vec<f64>,
}

impl<P: DenseProblem, const N: usize> DenseHessian<P, N> {
    pub fn new() -> Self {
        let p = P::at(N);
        let xs = SVector::from_column_slice(p.x());
        let mut e0 = vec![0.0; N];
        e0[0] = 1.0;
        Self { p, xs, e0 }
    }

    #[inline]
    fn generated_hvp(&mut self) -> (f64, Vec<f64>, Vec<f64>) {
        self.p.generated_hvp(self.e0.clone())
    }
    #[inline]
    fn generated_hessian(&mut self) -> HessianResult {
        self.p.generated_hessian()
    }
    #[inline]
    fn hand_hessian(&mut self) -> HessianResult {
        self.p.hand_hessian(self.p.x())
    }
    #[inline]
    fn num_dual_hessian(&mut self) -> (f64, SVector<f64, N>, nalgebra::SMatrix<f64, N, N>) {
        let p = &self.p;
        num_dual::hessian(
            |x: SVector<Dual2SVec64<N>, N>| p.generic(x.as_slice()),
            &self.xs,
        )
    }
}

impl<P: DenseProblem, const N: usize> Case for DenseHessian<P, N> {
    fn name(&self) -> String {
        format!("hessian_{}_{N}", P::NAME)
    }
    fn kind(&self) -> Kind {
        Kind::Hessian
    }
    fn dim(&self) -> usize {
        N
    }

    /// The closed form is the reference, checked column by column against central differences
    /// of its own gradient (itself checked against the generated `_grad`); the generated
    /// Hessian and num-dual's are checked against it.
    fn verify(&mut self) -> String {
        let name = self.name();
        let value = self.p.value();
        let (v, g_ref, h_ref) = self.hand_hessian();
        assert_value(&name, "hand_hessian", v, value);
        assert_agree(
            &name,
            "hand gradient vs _grad",
            &g_ref,
            &self.p.generated_grad(),
            1e-14,
        );
        let h_flat: Vec<f64> = h_ref.concat();
        let mut fd = vec![0.0; N * N];
        for k in 0..N {
            let mut e = vec![0.0; N];
            e[k] = 1.0;
            let column = central_hvp(|x| self.p.hand_hessian(x).1, self.p.x(), &e);
            for i in 0..N {
                fd[i * N + k] = column[i];
            }
        }
        let mut summary = format!(
            "{name}: hand Hessian vs central differences {:.0e}",
            assert_agree(
                &name,
                "hand Hessian vs central differences",
                &h_flat,
                &fd,
                1e-7
            )
        );

        let (v, g, h) = self.generated_hessian();
        assert_eq!(v, value, "{name}: generated_hessian value");
        assert_agree(&name, "generated_hessian gradient", &g, &g_ref, 1e-14);
        assert_eq!(h.len(), N, "{name}: generated_hessian rows");
        let e = assert_agree(&name, "generated_hessian", &h.concat(), &h_flat, 1e-14);
        summary += &format!("; generated_hessian {e:.0e}");

        let (v, g, hv) = self.generated_hvp();
        assert_eq!(v, value, "{name}: generated_hvp value");
        assert_agree(&name, "generated_hvp gradient", &g, &g_ref, 1e-14);
        let column: Vec<f64> = h_ref.iter().map(|row| row[0]).collect();
        assert_agree(&name, "generated_hvp column 0", &hv, &column, 1e-14);

        let (v, g, h) = self.num_dual_hessian();
        assert_value(&name, "num_dual_hessian", v, value);
        assert_agree(
            &name,
            "num_dual_hessian gradient",
            g.as_slice(),
            &g_ref,
            1e-14,
        );
        // nalgebra is column-major, and the Hessian symmetric: compare its transpose's storage.
        let e = assert_agree(
            &name,
            "num_dual_hessian",
            h.transpose().as_slice(),
            &h_flat,
            1e-14,
        );
        summary += &format!("; num_dual_hessian {e:.0e}");
        summary
    }

    fn measure(&mut self, m: &mut impl Measure) {
        m.time("generated_hvp", || hide(self).generated_hvp());
        m.time("generated_hessian", || hide(self).generated_hessian());
        m.time("hand_hessian", || hide(self).hand_hessian());
        m.time("num_dual_hessian", || hide(self).num_dual_hessian());
    }
}
