//! The generated gradients allocate nothing on the heap for straight-line code, and in loops
//! only the tape (reserved once when the trip count is known). `_grad_into` overwrites the
//! caller's buffer rather than adding into it.

#![allow(clippy::needless_range_loop)] // indexed loops, as numerical code writes them

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use autodiff_core::differentiate;

/// Counts the allocations of the current thread (tests run on several threads).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[differentiate(hessian)]
fn scalar30(a: f64, b: f64, c: f64) -> f64 {
    let t = (a * b).exp() / (1.0 + c * c);
    let u = t.ln_1p() * (b - c).sin() + a.powi(3) / (2.0 + b.cos());
    u * u + t.sqrt() - (c / (1.0 + a * a)).atan()
}

#[differentiate]
fn dot(w: &[f64], x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..w.len() {
        s += w[i] * x[i];
    }
    s
}

#[differentiate]
fn product(x: &[f64]) -> f64 {
    let mut p = 1.0;
    for i in 0..x.len() {
        p *= x[i].sin();
    }
    p
}

#[differentiate]
fn rosenbrock(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        s += 100.0 * a * a + b * b;
    }
    s
}

#[test]
fn straight_line_code_allocates_nothing() {
    let mut grad = (0.0, 0.0, 0.0);
    let n = allocations_in(|| {
        for k in 0..100 {
            let v = scalar30_grad_into(0.3 + k as f64 * 1e-3, 0.7, -0.2, &mut grad);
            std::hint::black_box(v);
        }
    });
    assert_eq!(n, 0);
    let n = allocations_in(|| {
        std::hint::black_box(scalar30_grad(0.3, 0.7, -0.2));
    });
    assert_eq!(n, 0);
}

#[test]
fn loops_that_only_accumulate_allocate_nothing_once_the_buffer_has_its_size() {
    let w = vec![0.5; 64];
    let x = vec![1.5; 64];
    let mut grad = (Vec::new(), Vec::new());
    dot_grad_into(&w, &x, &mut grad);
    let n = allocations_in(|| {
        for _ in 0..10 {
            std::hint::black_box(dot_grad_into(&w, &x, &mut grad));
        }
    });
    assert_eq!(n, 0, "no tape for an accumulation");
    assert_eq!(grad, (x.clone(), w.clone()));

    let x: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.01).cos()).collect();
    let mut g = Vec::new();
    rosenbrock_grad_into(&x, &mut g);
    let n = allocations_in(|| {
        std::hint::black_box(rosenbrock_grad_into(&x, &mut g));
    });
    assert_eq!(n, 0, "Rosenbrock's backward sweep recomputes what it needs");
}

#[test]
fn a_loop_that_overwrites_allocates_only_its_tape_once() {
    let x: Vec<f64> = (0..100).map(|i| 1.0 + i as f64 * 1e-3).collect();
    let mut g = Vec::new();
    product_grad_into(&x, &mut g);
    let n = allocations_in(|| {
        std::hint::black_box(product_grad_into(&x, &mut g));
    });
    assert_eq!(n, 1, "one tape, reserved for the 100 iterations at once");
}

#[test]
fn grad_into_overwrites_rather_than_accumulates() {
    let w = [1.0, 2.0, 3.0];
    let x = [4.0, 5.0, 6.0];
    let mut grad = (vec![100.0; 7], vec![f64::NAN]);
    dot_grad_into(&w, &x, &mut grad);
    assert_eq!(grad, (x.to_vec(), w.to_vec()));
    dot_grad_into(&w, &x, &mut grad);
    assert_eq!(grad, (x.to_vec(), w.to_vec()));
}

#[derive(Clone, Debug, PartialEq, autodiff_core::Differentiable)]
struct Model {
    w: Vec<f64>,
    layers: Vec<[f64; 2]>,
    b: f64,
    #[differentiable(skip)]
    name: String,
}

impl Model {
    #[differentiate(wrt(self))]
    fn loss(&self, x: &[f64]) -> f64 {
        let mut s = self.b;
        for i in 0..x.len() {
            s += self.w[i] * x[i] + self.layers[i][1];
        }
        s * s
    }
}

#[test]
fn struct_gradients_into_a_reused_buffer_allocate_nothing() {
    let model = Model {
        w: vec![0.5, -1.0, 2.0],
        layers: vec![[1.0, 2.0]; 3],
        b: 0.25,
        name: "m".to_owned(),
    };
    let x = [1.0, 2.0, 3.0];
    let mut grad = Model {
        w: vec![9.0; 7],
        layers: Vec::new(),
        b: 9.0,
        name: String::new(),
    };
    // The first call gives the buffer its shape (and the name its capacity).
    let value = model.loss_grad_into(&x, &mut grad);
    assert_eq!(grad, model.loss_grad(&x).1);
    let n = allocations_in(|| {
        for _ in 0..10 {
            assert_eq!(model.loss_grad_into(&x, &mut grad), value);
        }
    });
    assert_eq!(n, 0);
    assert_eq!(grad, model.loss_grad(&x).1);
}

#[test]
fn forward_mode_and_hvp_of_straight_line_code_allocate_nothing() {
    let n = allocations_in(|| {
        for k in 0..100 {
            let t = scalar30_jvp(0.3 + k as f64 * 1e-3, 0.7, -0.2, (1.0, -0.5, 0.25));
            std::hint::black_box(t);
        }
    });
    assert_eq!(n, 0);
    let n = allocations_in(|| {
        std::hint::black_box(scalar30_hvp(0.3, 0.7, -0.2, (1.0, -0.5, 0.25)));
    });
    assert_eq!(n, 0);
}

#[differentiate]
fn chains(x: &[f64], y: &[f64], m: f64) -> f64 {
    let lse = x.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    let dot: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
    let squares = x.iter().fold(0.0, |acc, v| acc + v * v);
    let steps: f64 = y.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum();
    lse + dot + squares + steps
}

#[test]
fn iterator_chains_allocate_only_what_an_index_loop_would() {
    let x: Vec<f64> = (0..50).map(|i| (i as f64 * 0.1).sin()).collect();
    let y: Vec<f64> = (0..50).map(|i| (i as f64 * 0.2).cos()).collect();
    let mut grad = (Vec::new(), Vec::new(), 0.0);
    chains_grad_into(&x, &y, 0.5, &mut grad);
    let n = allocations_in(|| {
        std::hint::black_box(chains_grad_into(&x, &y, 0.5, &mut grad));
    });
    // The sum of exponentials keeps them on a tape (an index loop writing `s += (x[i] - m).exp()`
    // does the same); the other chains keep nothing.
    assert!(n <= 1, "{n} allocations");
}

/// A buffer allocated per iteration (`vec!` inside the loop), as ADBench's GMM and code ported
/// from C++ write it, with a summing loop after it.
#[allow(clippy::useless_vec)] // a heap buffer per iteration is the point
#[differentiate]
fn per_point_buffers(x: &[f64], c: f64) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        let mut buf = vec![0.0; 3];
        for k in 0..3 {
            buf[k] = x[i] * (k as f64 + c);
        }
        let mut t = 0.0;
        for k in 0..3 {
            t += buf[k].sin();
        }
        s += t * t;
    }
    let mut prior = 0.0;
    for i in 0..x.len() {
        prior += x[i] * x[i];
    }
    s + 0.5 * prior
}

#[test]
fn a_buffer_per_iteration_allocates_once() {
    let mut g = (vec![0.0; 40], 0.0);
    let x: Vec<f64> = (0..40).map(|i| (i as f64 * 0.3).cos()).collect();
    // The primal allocates one buffer per iteration; the gradient allocates it once, with the
    // pool that keeps it between iterations and one adjoint (the loop runs interleaved with its
    // backward sweep, so nothing is taped).
    let primal = allocations_in(|| {
        std::hint::black_box(per_point_buffers(&x, 0.5));
    });
    let _ = per_point_buffers_grad_into(&x, 0.5, &mut g);
    let gradient = allocations_in(|| {
        std::hint::black_box(per_point_buffers_grad_into(&x, 0.5, &mut g));
    });
    assert_eq!(primal, 40);
    assert_eq!(gradient, 3);
    // The reused adjoint starts at zero in every iteration: the gradient is right.
    let mut flat = g.0.clone();
    flat.push(g.1);
    let check = autodiff_core::check_gradient(
        |p| per_point_buffers(&p[..40], p[40]),
        &[x.clone(), vec![0.5]].concat(),
        &flat,
    );
    assert!(check.passes(1e-8), "{check}");
}
