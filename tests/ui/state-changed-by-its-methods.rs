use autodiff_core::differentiate;
use std::collections::VecDeque;

#[derive(Clone)]
pub struct Lcg {
    pub state: u64,
}

impl Lcg {
    pub fn next_f64(&mut self) -> f64 {
        self.state = self.state.wrapping_mul(6364136223846793005).wrapping_add(1);
        (self.state >> 11) as f64 / (1u64 << 53) as f64
    }
}

// State that only its own `&mut self` methods change: an error, not a copy changed instead.
#[differentiate]
fn bfs(x: &[f64]) -> f64 {
    let mut queue: VecDeque<usize> = VecDeque::new();
    queue.push_back(0);
    let mut s = 0.0;
    while let Some(u) = queue.pop_front() {
        s += x[u];
        if u + 1 < x.len() {
            queue.push_back(u + 1);
        }
    }
    s
}

#[differentiate(wrt(x))]
fn monte_carlo(x: &[f64], seed: u64) -> f64 {
    let mut rng = Lcg { state: seed };
    let mut s = 0.0;
    for k in 0..4 {
        s += x[k % x.len()] * rng.next_f64();
    }
    s
}

// Rows that are not written out.
#[differentiate]
fn buckets(x: &[f64]) -> f64 {
    let cells: Vec<Vec<usize>> = vec![Vec::new(); 2];
    x[0] * cells.len() as f64
}

fn main() {}
