use autodiff_core::{Differentiable, differentiate};
use std::ops::{AddAssign, Mul, Neg};

/// A complex number with its own multiplication: the rule for `*` on reals would give
/// `d_z = w * d_out` where the right adjoint is `conj(w) * d_out`.
#[derive(Clone, Copy, Differentiable)]
struct Complex {
    re: f64,
    im: f64,
}

impl Mul for Complex {
    type Output = Complex;
    fn mul(self, o: Complex) -> Complex {
        Complex {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }
}

impl Neg for Complex {
    type Output = Complex;
    fn neg(self) -> Complex {
        Complex {
            re: -self.re,
            im: -self.im,
        }
    }
}

impl AddAssign for Complex {
    fn add_assign(&mut self, o: Complex) {
        self.re += o.re;
        self.im += o.im;
    }
}

#[differentiate]
fn square_im(z: Complex) -> f64 {
    let w = z * z;
    w.im
}

fn main() {
    let _ = square_im_grad(Complex { re: 1.0, im: 2.0 });
}
