//! Forward mode on a small vector function: the forward kinematics of a planar arm of `N`
//! joints, `R^N -> R^2`.

use autodiff_core::differentiate;
use nalgebra::{SMatrix, SVector};
use num_dual::{Dual64, DualSVec64};

use super::{Case, Dn, Kind, Measure, assert_agree, hide, uniform};

/// The position of the arm's tip: link `i` (length `lengths[i]`) points at the sum of the
/// first `i + 1` joint angles.
#[differentiate(jvp, wrt(theta))]
pub fn arm<const N: usize>(theta: [f64; N], lengths: &[f64; N]) -> [f64; 2] {
    let mut angle = 0.0;
    let mut p = [0.0, 0.0];
    for i in 0..N {
        angle += theta[i];
        p[0] += lengths[i] * angle.cos();
        p[1] += lengths[i] * angle.sin();
    }
    p
}

/// [`arm`] for num-dual's numbers.
pub fn arm_generic<D: Dn, const N: usize>(theta: &[D], lengths: &[f64; N]) -> [D; 2] {
    let mut angle = D::from(0.0);
    let mut p = [D::from(0.0); 2];
    for i in 0..N {
        angle += theta[i];
        let (s, c) = angle.sin_cos();
        p[0] += c * lengths[i];
        p[1] += s * lengths[i];
    }
    p
}

/// The tip and its directional derivative along `u`, by hand: the angles' tangents are the
/// running sums of `u`, and link `i` moves by `l_i (-sin, cos) R angle_i`.
#[inline]
pub fn arm_jvp_hand<const N: usize>(
    theta: [f64; N],
    lengths: &[f64; N],
    u: [f64; N],
) -> ([f64; 2], [f64; 2]) {
    let (mut angle, mut r_angle) = (0.0, 0.0);
    let (mut p, mut t) = ([0.0; 2], [0.0; 2]);
    for i in 0..N {
        angle += theta[i];
        r_angle += u[i];
        let (s, c) = angle.sin_cos();
        let (ls, lc) = (lengths[i] * s, lengths[i] * c);
        p[0] += lc;
        p[1] += ls;
        t[0] -= ls * r_angle;
        t[1] += lc * r_angle;
    }
    (p, t)
}

/// The tip and its Jacobian by hand, in the output types of the generated `arm_jacobian`:
/// column `k` is the sum over the links from `k` on of `l_i (-sin, cos)` of their angles, a
/// suffix sum.
#[inline]
pub fn arm_jacobian_hand<const N: usize>(
    theta: [f64; N],
    lengths: &[f64; N],
) -> ([f64; 2], Vec<Vec<f64>>) {
    let mut link = [[0.0; 2]; N];
    let mut angle = 0.0;
    for i in 0..N {
        angle += theta[i];
        let (s, c) = angle.sin_cos();
        link[i] = [lengths[i] * c, lengths[i] * s];
    }
    let mut j = vec![vec![0.0; N]; 2];
    let (mut x, mut y) = (0.0, 0.0);
    for k in (0..N).rev() {
        x += link[k][0];
        y += link[k][1];
        j[0][k] = -y;
        j[1][k] = x;
    }
    ([x, y], j)
}

pub struct ArmJvp<const N: usize> {
    theta: [f64; N],
    lengths: [f64; N],
    u: [f64; N],
    theta_vector: SVector<f64, N>,
}

impl<const N: usize> ArmJvp<N> {
    /// Angles in `[-1, 1)`, lengths in `[0.5, 1.5)`, a direction in `[-1, 1)`.
    pub fn new() -> Self {
        let array = |v: Vec<f64>| -> [f64; N] { v.try_into().expect("N numbers") };
        let theta = array(uniform(N as u64 + 30, N, -1.0, 1.0));
        Self {
            theta,
            lengths: array(uniform(N as u64 + 31, N, 0.5, 1.5)),
            u: array(uniform(N as u64 + 32, N, -1.0, 1.0)),
            theta_vector: SVector::from(theta),
        }
    }

    #[inline]
    fn generated_jvp(&mut self) -> ([f64; 2], [f64; 2]) {
        arm_jvp(self.theta, &self.lengths, self.u)
    }
    #[inline]
    fn hand_jvp(&mut self) -> ([f64; 2], [f64; 2]) {
        arm_jvp_hand(self.theta, &self.lengths, self.u)
    }
    #[inline]
    fn num_dual_dual64(&mut self) -> ([f64; 2], [f64; 2]) {
        let theta: [Dual64; N] = std::array::from_fn(|i| Dual64::new(self.theta[i], self.u[i]));
        let [x, y] = arm_generic(&theta, &self.lengths);
        ([x.re, y.re], [x.eps, y.eps])
    }
    #[inline]
    fn generated_jacobian(&mut self) -> ([f64; 2], Vec<Vec<f64>>) {
        arm_jacobian(self.theta, &self.lengths)
    }
    #[inline]
    fn hand_jacobian(&mut self) -> ([f64; 2], Vec<Vec<f64>>) {
        arm_jacobian_hand(self.theta, &self.lengths)
    }
    #[inline]
    fn num_dual_jacobian(&mut self) -> (SVector<f64, 2>, SMatrix<f64, 2, N>) {
        let lengths = &self.lengths;
        num_dual::jacobian(
            |theta: SVector<DualSVec64<N>, N>| {
                SVector::from(arm_generic(theta.as_slice(), lengths))
            },
            &self.theta_vector,
        )
    }
}

impl<const N: usize> Case for ArmJvp<N> {
    fn name(&self) -> String {
        format!("jvp_arm_{N}")
    }
    fn kind(&self) -> Kind {
        Kind::Jvp
    }
    fn dim(&self) -> usize {
        N
    }

    /// The hand-written Jacobian is the reference, checked against num-dual's column by
    /// column and against central differences of the arm; every JVP against it times `u`.
    fn verify(&mut self) -> String {
        let name = self.name();
        let tip = arm(self.theta, &self.lengths);
        let (p, j_ref) = self.hand_jacobian();
        assert_agree(&name, "hand tip", &p, &tip, 1e-15);
        let j_flat = j_ref.concat();
        let h = 1e-6;
        let mut fd = vec![0.0; 2 * N];
        for k in 0..N {
            let (mut plus, mut minus) = (self.theta, self.theta);
            plus[k] += h;
            minus[k] -= h;
            let (a, b) = (arm(plus, &self.lengths), arm(minus, &self.lengths));
            fd[k] = (a[0] - b[0]) / (2.0 * h);
            fd[N + k] = (a[1] - b[1]) / (2.0 * h);
        }
        let mut summary = format!(
            "{name}: hand Jacobian vs central differences {:.0e}",
            assert_agree(
                &name,
                "hand Jacobian vs central differences",
                &j_flat,
                &fd,
                1e-8
            )
        );

        let (p, j) = self.generated_jacobian();
        assert_eq!(p, tip, "{name}: generated_jacobian value");
        let e = assert_agree(&name, "generated_jacobian", &j.concat(), &j_flat, 1e-15);
        summary += &format!("; generated_jacobian {e:.0e}");
        let (p, j) = self.num_dual_jacobian();
        assert_agree(&name, "num_dual_jacobian value", p.as_slice(), &tip, 1e-15);
        let e = assert_agree(
            &name,
            "num_dual_jacobian",
            j.transpose().as_slice(),
            &j_flat,
            1e-15,
        );
        summary += &format!("; num_dual_jacobian {e:.0e}");

        let t_ref: Vec<f64> = j_ref
            .iter()
            .map(|row| row.iter().zip(&self.u).map(|(a, b)| a * b).sum())
            .collect();
        type Method<const N: usize> = fn(&mut ArmJvp<N>) -> ([f64; 2], [f64; 2]);
        let jvps: [(&str, Method<N>); 3] = [
            ("generated_jvp", Self::generated_jvp),
            ("hand_jvp", Self::hand_jvp),
            ("num_dual_dual64", Self::num_dual_dual64),
        ];
        for (method, run) in jvps {
            let (p, t) = run(self);
            assert_agree(&name, method, &p, &tip, 1e-15);
            let e = assert_agree(&name, method, &t, &t_ref, 1e-15);
            summary += &format!("; {method} {e:.0e}");
        }
        summary
    }

    fn measure(&mut self, m: &mut impl Measure) {
        m.time("generated_jvp", || hide(self).generated_jvp());
        m.time("hand_jvp", || hide(self).hand_jvp());
        m.time("num_dual_dual64", || hide(self).num_dual_dual64());
        m.time("generated_jacobian", || hide(self).generated_jacobian());
        m.time("hand_jacobian", || hide(self).hand_jacobian());
        m.time("num_dual_jacobian", || hide(self).num_dual_jacobian());
    }
}
