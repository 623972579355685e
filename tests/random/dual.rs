//! The exact oracle of the randomized test: a forward-mode hyper-dual number `D` over
//! `num_dual::HyperDual64`, in which every generated program is written a second time (its `_d`
//! twin). Running the twin once per input coordinate, with that coordinate's first derivative
//! part set to 1, gives the gradient to rounding, independently of `#[differentiate]`; with the
//! second part seeded along `w` too, the mixed part is that row of the Hessian times `w`. The
//! derivatives come from `num-dual`; only the kinks (`abs`, `max`, `floor`, a comparison, ...)
//! are defined here, by the side the value is on, as the primal function takes it. Every value is
//! computed by the same `f64` operation as in the primal, so the twin's value is the function's,
//! bit for bit.
//!
//! Every discrete decision the twin takes (a comparison, the side of a kink, the value of
//! `floor`) is hashed into a per-thread trace, so the harness can tell when two points take
//! different paths and so stay away from kinks.

#![allow(dead_code)] // each test target uses a part of it

use std::cell::Cell;
use std::cmp::Ordering;
use std::iter::{Product, Sum};
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

use num_dual::{DualNum, HyperDual64};

thread_local! {
    static TRACE: Cell<u64> = const { Cell::new(0) };
}

/// Starts a new trace on this thread.
pub fn reset_trace() {
    TRACE.with(|t| t.set(0xcbf2_9ce4_8422_2325));
}

/// The hash of the decisions taken since [`reset_trace`].
pub fn trace_hash() -> u64 {
    TRACE.with(|t| t.get())
}

fn mix(v: u64) {
    TRACE.with(|t| {
        let h = (t.get() ^ v).wrapping_mul(0x0100_0000_01b3);
        t.set(h.rotate_left(5));
    });
}

fn order(a: f64, b: f64) -> Option<Ordering> {
    let o = a.partial_cmp(&b);
    mix(match o {
        Some(Ordering::Less) => 11,
        Some(Ordering::Greater) => 12,
        Some(Ordering::Equal) => 13,
        None => 14,
    });
    o
}

/// A hyper-dual number: a value, its derivatives along two directions, and the mixed second
/// derivative along both.
#[derive(Clone, Copy, Debug)]
pub struct D(pub HyperDual64);

/// A constant (derivatives 0); `const`, for the twins of typed constants (`const BIAS: [D; 2]`).
pub const fn c(v: f64) -> D {
    D(HyperDual64 {
        re: v,
        eps1: 0.0,
        eps2: 0.0,
        eps1eps2: 0.0,
    })
}

/// A variable: first derivative 1 if `seed`.
pub fn var(v: f64, seed: bool) -> D {
    seeded(v, if seed { 1.0 } else { 0.0 }, 0.0)
}

/// A variable moving by `first` along the first direction and `second` along the second.
pub fn seeded(v: f64, first: f64, second: f64) -> D {
    D(HyperDual64::new(v, first, second, 0.0))
}

/// `r`, its value replaced by `re`: the value as `f64` computes it, bit for bit (num-dual may
/// compute it another way), with num-dual's derivatives.
fn exact(re: f64, r: HyperDual64) -> D {
    D(HyperDual64 { re, ..r })
}

impl Default for D {
    fn default() -> Self {
        c(0.0)
    }
}

impl D {
    pub fn re(self) -> f64 {
        self.0.re
    }

    /// The derivative along the first direction.
    pub fn eps(self) -> f64 {
        self.0.eps1
    }

    /// The second derivative along the two directions.
    pub fn mixed(self) -> f64 {
        self.0.eps1eps2
    }

    /// `f(self)` from `f` and its first two derivatives at `self`.
    fn chain(self, f0: f64, f1: f64, f2: f64) -> D {
        let x = self.0;
        D(HyperDual64::new(
            f0,
            f1 * x.eps1,
            f1 * x.eps2,
            f1 * x.eps1eps2 + f2 * x.eps1 * x.eps2,
        ))
    }

    pub fn sin(self) -> D {
        exact(self.re().sin(), self.0.sin())
    }
    pub fn cos(self) -> D {
        exact(self.re().cos(), self.0.cos())
    }
    pub fn tan(self) -> D {
        exact(self.re().tan(), self.0.tan())
    }
    pub fn asin(self) -> D {
        exact(self.re().asin(), self.0.asin())
    }
    pub fn acos(self) -> D {
        exact(self.re().acos(), self.0.acos())
    }
    pub fn atan(self) -> D {
        exact(self.re().atan(), self.0.atan())
    }
    pub fn sinh(self) -> D {
        exact(self.re().sinh(), self.0.sinh())
    }
    pub fn cosh(self) -> D {
        exact(self.re().cosh(), self.0.cosh())
    }
    pub fn tanh(self) -> D {
        // num-dual's tanh is sinh / cosh, NaN once both overflow (|x| > 710); 1 - tanh² is the
        // same derivative without the overflow.
        let t = self.re().tanh();
        let f1 = 1.0 - t * t;
        self.chain(t, f1, -2.0 * t * f1)
    }
    pub fn asinh(self) -> D {
        exact(self.re().asinh(), self.0.asinh())
    }
    pub fn acosh(self) -> D {
        exact(self.re().acosh(), self.0.acosh())
    }
    pub fn atanh(self) -> D {
        exact(self.re().atanh(), self.0.atanh())
    }
    pub fn exp(self) -> D {
        exact(self.re().exp(), self.0.exp())
    }
    pub fn exp2(self) -> D {
        exact(self.re().exp2(), self.0.exp2())
    }
    pub fn exp_m1(self) -> D {
        exact(self.re().exp_m1(), self.0.exp_m1())
    }
    pub fn ln(self) -> D {
        exact(self.re().ln(), self.0.ln())
    }
    pub fn ln_1p(self) -> D {
        exact(self.re().ln_1p(), self.0.ln_1p())
    }
    pub fn log2(self) -> D {
        exact(self.re().log2(), self.0.log2())
    }
    pub fn log10(self) -> D {
        exact(self.re().log10(), self.0.log10())
    }
    pub fn log(self, base: D) -> D {
        let r = self.0.ln() / base.0.ln();
        exact(self.re().log(base.re()), r)
    }
    pub fn sqrt(self) -> D {
        exact(self.re().sqrt(), self.0.sqrt())
    }
    pub fn cbrt(self) -> D {
        exact(self.re().cbrt(), self.0.cbrt())
    }
    pub fn recip(self) -> D {
        exact(self.re().recip(), self.0.recip())
    }
    pub fn powi(self, n: i32) -> D {
        exact(self.re().powi(n), self.0.powi(n))
    }
    pub fn powf(self, e: D) -> D {
        exact(self.re().powf(e.re()), self.0.powd(e.0))
    }
    pub fn hypot(self, other: D) -> D {
        let r = (self.0 * self.0 + other.0 * other.0).sqrt();
        exact(self.re().hypot(other.re()), r)
    }
    pub fn atan2(self, other: D) -> D {
        if other.re() < 0.0 {
            // atan2 jumps by 2π across the negative axis of `other`.
            order(self.re(), 0.0);
        }
        // num-dual's atan2 differentiates atan(y / x), undefined where x = 0, and rounds
        // `atan2(a, a)`'s zero derivatives to noise; these are the angle's own partial
        // derivatives: x / r², -y / r², and the second ones over r⁴.
        let (y, x) = (self.0, other.0);
        let r2 = x.re * x.re + y.re * y.re;
        let (dy, dx) = (x.re / r2, -y.re / r2);
        let (dyy, dxy) = (
            -2.0 * x.re * y.re / (r2 * r2),
            (y.re * y.re - x.re * x.re) / (r2 * r2),
        );
        let dxx = -dyy;
        D(HyperDual64::new(
            self.re().atan2(other.re()),
            dy * y.eps1 + dx * x.eps1,
            dy * y.eps2 + dx * x.eps2,
            dy * y.eps1eps2
                + dx * x.eps1eps2
                + dyy * y.eps1 * y.eps2
                + dxx * x.eps1 * x.eps2
                + dxy * (y.eps1 * x.eps2 + x.eps1 * y.eps2),
        ))
    }
    pub fn mul_add(self, a: D, b: D) -> D {
        let r = self.0 * a.0 + b.0;
        exact(self.re().mul_add(a.re(), b.re()), r)
    }
    pub fn to_degrees(self) -> D {
        exact(
            self.re().to_degrees(),
            self.0 * (180.0 / std::f64::consts::PI),
        )
    }
    pub fn to_radians(self) -> D {
        exact(
            self.re().to_radians(),
            self.0 * (std::f64::consts::PI / 180.0),
        )
    }
    pub fn abs(self) -> D {
        if order(self.re(), 0.0) == Some(Ordering::Less) {
            -self
        } else {
            self
        }
    }
    pub fn signum(self) -> D {
        order(self.re(), 0.0);
        c(self.re().signum())
    }
    pub fn total_cmp(&self, other: &D) -> Ordering {
        let o = self.re().total_cmp(&other.re());
        mix(match o {
            Ordering::Less => 11,
            Ordering::Greater => 12,
            Ordering::Equal => 13,
        });
        o
    }
    pub fn max(self, other: D) -> D {
        if order(self.re(), other.re()) == Some(Ordering::Less) {
            other
        } else {
            self
        }
    }
    pub fn min(self, other: D) -> D {
        if order(self.re(), other.re()) == Some(Ordering::Greater) {
            other
        } else {
            self
        }
    }
    pub fn clamp(self, lo: D, hi: D) -> D {
        if order(self.re(), lo.re()) == Some(Ordering::Less) {
            lo
        } else if order(self.re(), hi.re()) == Some(Ordering::Greater) {
            hi
        } else {
            self
        }
    }
    fn piecewise_constant(v: f64) -> D {
        mix(v.to_bits());
        c(v)
    }
    pub fn floor(self) -> D {
        Self::piecewise_constant(self.re().floor())
    }
    pub fn ceil(self) -> D {
        Self::piecewise_constant(self.re().ceil())
    }
    pub fn round(self) -> D {
        Self::piecewise_constant(self.re().round())
    }
    pub fn trunc(self) -> D {
        Self::piecewise_constant(self.re().trunc())
    }
}

impl PartialEq for D {
    fn eq(&self, other: &D) -> bool {
        order(self.re(), other.re()) == Some(Ordering::Equal)
    }
}

impl PartialOrd for D {
    fn partial_cmp(&self, other: &D) -> Option<Ordering> {
        order(self.re(), other.re())
    }
}

impl Neg for D {
    type Output = D;
    fn neg(self) -> D {
        D(-self.0)
    }
}

macro_rules! binop {
    ($tr:ident $f:ident, $atr:ident $af:ident) => {
        impl $tr for D {
            type Output = D;
            fn $f(self, rhs: D) -> D {
                // The value as f64 computes it, bit for bit; the derivatives from num-dual.
                exact(self.re().$f(rhs.re()), self.0.$f(rhs.0))
            }
        }
        impl $tr<f64> for D {
            type Output = D;
            fn $f(self, rhs: f64) -> D {
                self.$f(c(rhs))
            }
        }
        impl $tr<D> for f64 {
            type Output = D;
            fn $f(self, rhs: D) -> D {
                c(self).$f(rhs)
            }
        }
        impl $tr<&D> for D {
            type Output = D;
            fn $f(self, rhs: &D) -> D {
                self.$f(*rhs)
            }
        }
        // A constant the program reads by reference (a map's value, `unwrap_or(&1.5)`).
        impl $tr<&f64> for D {
            type Output = D;
            fn $f(self, rhs: &f64) -> D {
                self.$f(c(*rhs))
            }
        }
        impl $tr<D> for &f64 {
            type Output = D;
            fn $f(self, rhs: D) -> D {
                c(*self).$f(rhs)
            }
        }
        impl $tr<D> for &D {
            type Output = D;
            fn $f(self, rhs: D) -> D {
                (*self).$f(rhs)
            }
        }
        impl $tr<&D> for &D {
            type Output = D;
            fn $f(self, rhs: &D) -> D {
                (*self).$f(*rhs)
            }
        }
        impl $atr for D {
            fn $af(&mut self, rhs: D) {
                *self = (*self).$f(rhs);
            }
        }
        impl $atr<&D> for D {
            fn $af(&mut self, rhs: &D) {
                *self = (*self).$f(*rhs);
            }
        }
    };
}

binop!(Add add, AddAssign add_assign);
binop!(Sub sub, SubAssign sub_assign);
binop!(Mul mul, MulAssign mul_assign);
binop!(Div div, DivAssign div_assign);

impl Rem for D {
    type Output = D;
    fn rem(self, rhs: D) -> D {
        // a % b = a - trunc(a / b) * b, with trunc(a / b) constant.
        let q = (self.re() / rhs.re()).trunc();
        mix(q.to_bits());
        exact(self.re() % rhs.re(), self.0 - rhs.0 * q)
    }
}

impl RemAssign for D {
    fn rem_assign(&mut self, rhs: D) {
        *self = *self % rhs;
    }
}

// From `-0.0`, as `f64`'s sum starts: a sum of negative zeros stays `-0.0`, and the sign
// reaches the value through `atan2(0.0, y)`.
impl Sum for D {
    fn sum<I: Iterator<Item = D>>(iter: I) -> D {
        iter.fold(c(-0.0), |a, b| a + b)
    }
}

impl<'a> Sum<&'a D> for D {
    fn sum<I: Iterator<Item = &'a D>>(iter: I) -> D {
        iter.fold(c(-0.0), |a, b| a + *b)
    }
}

impl Product for D {
    fn product<I: Iterator<Item = D>>(iter: I) -> D {
        iter.fold(c(1.0), |a, b| a * b)
    }
}

impl<'a> Product<&'a D> for D {
    fn product<I: Iterator<Item = &'a D>>(iter: I) -> D {
        iter.fold(c(1.0), |a, b| a * *b)
    }
}
