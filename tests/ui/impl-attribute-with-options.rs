// Options belong on the methods, not on the `impl` block.
use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Debug, Differentiable)]
struct Filter<const N: usize> {
    h: [f64; N],
}

#[differentiate(hessian)]
impl<const N: usize> Filter<N> {
    #[differentiate(hessian)]
    fn gain(&self) -> f64 {
        let mut s = 0.0;
        for k in 0..N {
            s += self.h[k] * self.h[k];
        }
        s
    }
}

fn main() {}
