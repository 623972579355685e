use autodiff_core::{Differentiable, differentiate};

#[derive(Clone, Differentiable)]
struct Q {
    mu: f64,
    log_s: f64,
}

impl Q {
    // A tuple holding a struct is not a supported output: one error, here, and none where
    // the method is called.
    #[differentiate]
    fn shrink(&self, f: f64) -> (Q, f64) {
        (
            Q {
                mu: self.mu * f,
                log_s: self.log_s,
            },
            f.ln(),
        )
    }

    #[differentiate]
    fn loss(&self) -> f64 {
        let (q2, lf) = self.shrink(0.9);
        q2.mu * q2.log_s.exp() + lf
    }
}

fn main() {
    let q = Q { mu: 0.3, log_s: -0.2 };
    let _ = q.loss_grad();
}
