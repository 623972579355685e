// A `let mut` struct changed by its own `&mut self` method named like a float rule (`add`):
// taken for the rule, whose unused result would be dropped, so an error.
use autodiff_core::differentiate;

pub struct Stats {
    pub n: f64,
    pub mean: f64,
}

impl Stats {
    pub fn add(&mut self, x: f64) {
        self.n += 1.0;
        self.mean += (x - self.mean) / self.n;
    }
}

#[differentiate]
fn welford(x: &[f64]) -> f64 {
    let mut st = Stats { n: 0.0, mean: 0.0 };
    for v in x {
        st.add(*v);
    }
    st.mean * st.mean
}

// Also when the struct is assigned too: an unused result is the `&mut self` method's.
#[differentiate]
fn reassigned(x: &[f64]) -> f64 {
    let mut st = Stats { n: 0.0, mean: 0.0 };
    for v in x {
        st.add(*v);
    }
    st = Stats { n: st.n, mean: st.mean * 2.0 };
    st.mean * st.mean
}

fn main() {}
