//! Gradient-based optimizers that update any [`Differentiable`] value from its gradient: SGD,
//! Momentum, AdaGrad and Adam, as "Deep Learning from Scratch" (chapter 6) presents them.
//!
//! An optimizer keeps its state (velocities, accumulated squares, moments) as one flat vector
//! per buffer, in the order of [`Differentiable::zip_mut`], sized on the first step; later
//! steps allocate nothing.
//!
//! ```
//! use autodiff_core::differentiate;
//! use autodiff_core::optim::{Adam, Optimizer};
//!
//! #[differentiate]
//! fn loss(w: [f64; 2]) -> f64 {
//!     (w[0] - 3.0).powi(2) + (w[1] + 1.0).powi(2)
//! }
//!
//! let mut w = [0.0, 0.0];
//! let mut adam = Adam::new(0.1);
//! for _ in 0..500 {
//!     let (_, grad) = loss_grad(w);
//!     adam.step(&mut w, &grad);
//! }
//! assert!((w[0] - 3.0).abs() < 1e-3 && (w[1] + 1.0).abs() < 1e-3);
//! ```

use crate::Differentiable;

/// Updates parameters from their gradient.
pub trait Optimizer {
    /// One update of `params` against `grad`, a gradient of the same shape.
    fn step<P: Differentiable>(&mut self, params: &mut P, grad: &P);
}

/// Stochastic gradient descent: `w -= lr * g`.
#[derive(Clone, Debug)]
pub struct Sgd {
    /// The learning rate.
    pub lr: f64,
}

impl Sgd {
    /// SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        Sgd { lr }
    }
}

impl Optimizer for Sgd {
    fn step<P: Differentiable>(&mut self, params: &mut P, grad: &P) {
        let lr = self.lr;
        params.zip_mut(grad, &mut |w, g| *w -= lr * g);
    }
}

/// Momentum: `v = momentum * v - lr * g; w += v`.
#[derive(Clone, Debug)]
pub struct Momentum {
    /// The learning rate.
    pub lr: f64,
    /// How much of the previous velocity is kept (0.9 by default).
    pub momentum: f64,
    velocity: Vec<f64>,
}

impl Momentum {
    /// Momentum with learning rate `lr` and momentum 0.9.
    pub fn new(lr: f64) -> Self {
        Momentum {
            lr,
            momentum: 0.9,
            velocity: Vec::new(),
        }
    }
}

impl Optimizer for Momentum {
    fn step<P: Differentiable>(&mut self, params: &mut P, grad: &P) {
        let (lr, momentum) = (self.lr, self.momentum);
        let mut velocity = state(&mut self.velocity, params).iter_mut();
        params.zip_mut(grad, &mut |w, g| {
            let v = velocity.next().expect("state sized to the parameters");
            *v = momentum * *v - lr * g;
            *w += *v;
        });
    }
}

/// AdaGrad: `h += g²; w -= lr * g / (√h + ε)`: the step shrinks for parameters that have moved
/// a lot.
#[derive(Clone, Debug)]
pub struct AdaGrad {
    /// The learning rate.
    pub lr: f64,
    /// Guards the division (1e-7 by default).
    pub eps: f64,
    squares: Vec<f64>,
}

impl AdaGrad {
    /// AdaGrad with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        AdaGrad {
            lr,
            eps: 1e-7,
            squares: Vec::new(),
        }
    }
}

impl Optimizer for AdaGrad {
    fn step<P: Differentiable>(&mut self, params: &mut P, grad: &P) {
        let (lr, eps) = (self.lr, self.eps);
        let mut squares = state(&mut self.squares, params).iter_mut();
        params.zip_mut(grad, &mut |w, g| {
            let h = squares.next().expect("state sized to the parameters");
            *h += g * g;
            *w -= lr * g / (h.sqrt() + eps);
        });
    }
}

/// Adam: momentum and AdaGrad-like scaling, with bias correction.
#[derive(Clone, Debug)]
pub struct Adam {
    /// The learning rate.
    pub lr: f64,
    /// Decay of the first moment (0.9 by default).
    pub beta1: f64,
    /// Decay of the second moment (0.999 by default).
    pub beta2: f64,
    /// Guards the division (1e-7 by default).
    pub eps: f64,
    t: i32,
    m: Vec<f64>,
    v: Vec<f64>,
}

impl Adam {
    /// Adam with learning rate `lr` and the usual defaults.
    pub fn new(lr: f64) -> Self {
        Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }
}

impl Optimizer for Adam {
    fn step<P: Differentiable>(&mut self, params: &mut P, grad: &P) {
        self.t += 1;
        let (beta1, beta2, eps) = (self.beta1, self.beta2, self.eps);
        let lr_t = self.lr * (1.0 - beta2.powi(self.t)).sqrt() / (1.0 - beta1.powi(self.t));
        state(&mut self.v, params);
        let mut moments = state(&mut self.m, params).iter_mut().zip(self.v.iter_mut());
        params.zip_mut(grad, &mut |w, g| {
            let (m, v) = moments.next().expect("state sized to the parameters");
            *m += (1.0 - beta1) * (g - *m);
            *v += (1.0 - beta2) * (g * g - *v);
            *w -= lr_t * *m / (v.sqrt() + eps);
        });
    }
}

/// An optimizer's buffer, sized to the parameters (zero on the first step).
fn state<'a, P: Differentiable>(buffer: &'a mut Vec<f64>, params: &P) -> &'a mut [f64] {
    let n = params.n_params();
    if buffer.len() != n {
        buffer.clear();
        buffer.resize(n, 0.0);
    }
    buffer
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f(w) = Σ (w_i - i)², minimised at w_i = i.
    fn grad(w: &[f64; 3]) -> [f64; 3] {
        core::array::from_fn(|i| 2.0 * (w[i] - i as f64))
    }

    fn converges(mut opt: impl Optimizer, steps: usize) -> [f64; 3] {
        let mut w = [5.0, -5.0, 0.5];
        for _ in 0..steps {
            let g = grad(&w);
            opt.step(&mut w, &g);
        }
        w
    }

    #[test]
    fn every_optimizer_reaches_the_minimum() {
        let close = |w: [f64; 3]| (0..3).all(|i| (w[i] - i as f64).abs() < 1e-3);
        assert!(close(converges(Sgd::new(0.1), 200)));
        assert!(close(converges(Momentum::new(0.05), 300)));
        assert!(close(converges(AdaGrad::new(1.0), 2000)));
        assert!(close(converges(Adam::new(0.1), 2000)));
    }

    #[test]
    fn sgd_is_one_step_against_the_gradient() {
        let mut w = [1.0, 2.0];
        Sgd::new(0.5).step(&mut w, &[2.0, -2.0]);
        assert_eq!(w, [0.0, 3.0]);
    }

    #[test]
    fn first_adam_step_moves_each_parameter_by_about_lr() {
        // With bias correction, the first step is lr * g / |g| up to eps.
        let mut w = [0.0_f64, 0.0];
        Adam::new(0.01).step(&mut w, &[3.0, -0.5]);
        assert!(
            (w[0] + 0.01).abs() < 1e-6 && (w[1] - 0.01).abs() < 1e-6,
            "{w:?}"
        );
    }
}
