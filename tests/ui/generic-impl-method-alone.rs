use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Debug, Differentiable)]
struct Hyp<T> {
    log_ell: T,
}

impl<T: num_traits::Float> Hyp<T> {
    #[differentiate(wrt(self))]
    fn k(&self, r: T) -> T {
        (-(r / self.log_ell.exp()).powi(2)).exp()
    }
}

fn main() {
    let h = Hyp { log_ell: 0.5 };
    let _ = h.k(1.0);
}
